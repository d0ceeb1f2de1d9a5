"""A process's name and arguments are another user's words (issue 21): one hostile process,
run as a throw-away user whose alert names it, and every output that shows it.

The burner's arguments hold chat markup (Slack's ``<!channel>`` and links, Markdown images and
mentions), ANSI and OSC escape sequences, bidi and line-separator characters, invalid UTF-8,
150 CJK characters, a SysMedic URL with its secret as the whole userinfo, and a 120 KiB
argument. Each output must be bounded, escaped for its kind, and never hold the secret:
the WebSocket alert and ``get_user_processes``, the dashboard's DOM in Chromium, ``sysmedic
users``, ``sysmedic top`` in tmux, ``/metrics`` (promtool-clean), the webhook's JSON, the
e-mail, the command notifier, and the log. Before, the 120 KiB argument alone froze the
daemon for seconds in its secret masking (27.7 s for 100 KB).
"""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from ..conftest import ROOT
from ..loads import CgroupLoad, can_run_loads, users_with_processes
from .harness import Client, cli, http_get, wait_for
from .test_alerting import command_script, receiver, smtp, user  # noqa: F401 (fixtures)
from .test_browser_and_node import CHROMIUM, NODE_MODULES
from .test_top import TMUX, Pane

pytestmark = pytest.mark.skipif(not can_run_loads(), reason="needs root, a writable cgroup and setpriv")

SECRET = "772b59deadbeef00112233445566aa77"
MARK = "hostile-burner"
HOSTILE = ["/usr/bin/python3", "-c", "while True: pass", MARK,
           "<!channel> *URGENT* <http://evil.example/reset|Reset root password>",
           "![x](http://evil.example/p.png) @here",
           "\x1b[2J\x1b[31m\x1b]0;owned\x07\x1b]8;;http://evil.example/\x1b\\",
           "evil\u202etxt.exe\u2028line\u2029para\u200bzw",
           "\udcff\udcfe",  # bytes 0xff 0xfe: not UTF-8
           "\u4e2d" * 150,
           "sysmedic://%s@127.0.0.1:17002/" % SECRET,
           "y" * (120 * 1024)]
RAW = ("\x1b", "\x07", "\x00", "\u202e", "\u2028", "\u2029", "\u200b")
MARKUP = ("<!channel>", "<http", "![", "@here", "*URGENT*")


def clean(text, where):
    """No raw control, bidi or separator character and no secret in ``text``."""
    found = [ch for ch in RAW if ch in text]
    assert not found, "%s holds %r" % (where, found)
    assert SECRET not in text, "%s holds the secret" % where


def commands_of(processes):
    return [p["command"] for p in processes if MARK in p["command"]]


def test_every_output_bounds_and_escapes_a_hostile_process(make_daemon, receiver, smtp, tmp_path, user):  # noqa: F811
    smtp_port, mails = smtp
    hook = receiver()
    argv, out = command_script(tmp_path)
    with CgroupLoad(HOSTILE, user=user) as load:
        load.wait_running()
        daemon = make_daemon(config={
            "monitoring": {"update_interval": 1, "persistent_time": "4s", "persistent_grace": "2s",
                           "alert_after": "4s", "clear_after": "3s", "monitoring_interval": 2},
            "users": {user: {"cpu_threshold": 5}},
            "filtering": {"excluded_users": users_with_processes(user)},
            "email": {"enabled": True, "smtp_host": "127.0.0.1", "smtp_port": smtp_port, "security": "none",
                      "recipients": ["ops@example.com"], "retries": 0},
            "webhook": {"enabled": True, "url": hook.url},
            "command": {"enabled": True, "argv": argv}}, websocket={"metrics": True})
        client = Client(daemon.ws_url())
        alert = client.next("alert")["data"]
        shown = commands_of(alert["processes"])
        assert shown, alert["processes"]
        for command in shown:
            clean(command, "the alert")
            assert len(command) <= 200 and "sysmedic://****@127.0.0.1" in command or command.endswith("..."), command

        # get_user_processes answers at once, though the burner's arguments are 120 KiB
        started = time.monotonic()
        client.ws.send(json.dumps({"type": "get_user_processes", "request_id": "p", "data": {}, "username": user}))
        listed = commands_of(client.next("user_processes_response")["data"]["processes"])
        assert listed and time.monotonic() - started < 2.0
        for command in listed:
            clean(command, "get_user_processes")
        status, _, _ = http_get(daemon.url("/health"), timeout=2)
        assert status == 200

        # sysmedic users USER, and sysmedic top's processes view in a real terminal
        result = cli(daemon.home, "users", user)
        assert result.returncode == 0, result.stderr
        clean(result.stdout, "sysmedic users")
        assert MARK in result.stdout and all(len(line) <= 260 for line in result.stdout.splitlines())
        if TMUX is not None:
            pane = Pane("sysmedic-hostile-%d" % os.getpid(), 80, 24, {"SYSMEDIC_HOME": daemon.home, "PYTHONPATH": ROOT})
            try:
                pane.keys("%s -m sysmedic top; echo TOP-EXIT=$?" % sys.executable, "Enter")
                pane.wait(lambda t: "Users (" in t and user in t, "the table with the user")
                pane.keys("Enter")
                pane.wait(lambda t: "Processes of %s" % user in t and "python3 -c while True" in t, "the hostile process")
                for _ in range(3):  # it stays up through a few refreshes of that view
                    client.next("system_update")
                text = pane.text()
                clean(text, "top")
                assert all(len(line) <= 80 for line in text.splitlines()), text
                pane.keys("q")
                pane.wait(lambda t: "TOP-EXIT=0" in t, "top ending with status 0")
            finally:
                pane.close()

        # /metrics: promtool-clean
        status, _, body = http_get(daemon.url("/metrics"), timeout=5)
        assert status == 200
        if shutil.which("promtool"):
            checked = subprocess.run(["promtool", "check", "metrics"], input=body.decode(), capture_output=True,
                                     text=True, timeout=30)
            assert "error" not in (checked.stdout + checked.stderr).lower(), checked.stdout + checked.stderr

        # the webhook's JSON: no markup from a process in its text; commands only as fields
        wait_for(lambda: hook.posts, 20, what="the webhook POST")
        _, posted = hook.posts[0]
        text = posted["text"]
        clean(text, "the webhook text")
        assert not [m for m in MARKUP if m in text] and "<" not in text and "@" not in text, text
        for command in commands_of(posted["alert"]["processes"]):
            clean(command, "the webhook's processes")

        # the e-mail and the command notifier
        wait_for(lambda: mails, 20, what="the e-mail")
        import email
        import email.policy
        mail = email.message_from_string(mails[0], policy=email.policy.default)
        body = mail.get_body().get_content()  # decoded: the wire form is quoted-printable
        clean(body + str(mail["Subject"]), "the e-mail")
        assert MARK in body
        wait_for(lambda: out.exists() and out.read_text(), 20, what="the command's run")
        clean(out.read_text(), "the command notifier's input")

        # the dashboard's DOM in Chromium
        if os.path.exists(CHROMIUM) and os.path.isdir(NODE_MODULES):  # make test installs both as root
            page = subprocess.run(["node", os.path.join(ROOT, "tests", "node", "hostile_dom.js"),
                                   "%s#secret=%s" % (daemon.url("/"), daemon.secret), user, MARK],
                                  capture_output=True, text=True, timeout=240,
                                  env=dict(os.environ, NODE_PATH=NODE_MODULES, CHROMIUM=CHROMIUM))
            assert page.returncode == 0, page.stderr
            dom = json.loads(page.stdout.strip().splitlines()[-1])
            clean(dom["processes"], "the dashboard's processes")
            clean(dom["alerts"], "the dashboard's alerts")
            assert set(dom["processTags"]) <= {"tr", "td"} and not dom["dialogs"], dom
            assert not {"a", "img", "script", "iframe"} & set(dom["alertTags"]), dom

    log = daemon.log()
    clean(log, "the log")
    assert "Traceback" not in log
