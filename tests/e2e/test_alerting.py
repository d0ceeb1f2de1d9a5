"""Alerts an administrator can act on (issue 10), end to end with real parts: the daemon at a
1 s interval, a real CPU load as a throw-away user, a real SMTP server (aiosmtpd), a real HTTP
receiver on a free loopback port (it answers 500 twice before 200), and a real command.

The load's user alone gets a low threshold, so nothing else on a busy host can open an alert.
"""

import http.server
import json
import os
import sys
import threading
import time

import pytest

from ..loads import CgroupLoad, can_run_loads, make_user, remove_user
from .harness import Client, cli, free_port, wait_for

needs_root = pytest.mark.skipif(not can_run_loads(), reason="needs root, a writable cgroup and setpriv")
BURN = ["sh", "-c", "while :; do :; done"]


class Receiver:
    """An HTTP server that records the JSON POSTs it gets; the first ``fail`` answers are 500."""

    def __init__(self, fail=0):
        self.posts, self.attempts, self.fail = [], 0, fail
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.attempts += 1
                    failing = receiver.attempts <= receiver.fail
                    if not failing:
                        receiver.posts.append((dict(self.headers), json.loads(body)))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no" if failing else b"ok")

            def log_message(self, *args):
                pass
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = "http://127.0.0.1:%d/hook?token=t0k3n" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self):
        with self.lock:
            return [(body["event"], body["alert"]["id"]) for _, body in self.posts]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    started = []

    def make(fail=0):
        started.append(Receiver(fail))
        return started[-1]
    yield make
    for one in started:
        one.close()


@pytest.fixture
def smtp():
    aiosmtpd = pytest.importorskip("aiosmtpd.controller")
    messages = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            messages.append(envelope.content.decode("utf-8", "replace"))
            return "250 OK"
    port = free_port()
    controller = aiosmtpd.Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, messages
    controller.stop()


def command_script(tmp_path):
    """A program that appends its stdin and two variables to a file, one line per run."""
    out = tmp_path / "command-runs.txt"
    script = tmp_path / "notify.py"
    script.write_text("import os, sys\ndata = sys.stdin.read()\n"
                      "with open(%r, 'a') as f:\n"
                      "    f.write(os.environ['SYSMEDIC_ALERT_EVENT'] + ' ' + os.environ['SYSMEDIC_ALERT_ID'] + ' '"
                      " + data.replace('\\n', ' ') + '\\n')\n" % str(out))
    return [sys.executable, str(script)], out


def runs(out):
    if not out.exists():
        return []
    return [tuple(line.split(" ", 2)[:2]) for line in out.read_text().splitlines()]


@pytest.fixture
def user():
    name = make_user()
    yield name
    remove_user(name)


@needs_root
def test_a_spike_opens_nothing_a_load_opens_one_alert_sent_once_everywhere_and_a_return_continues_it(
        make_daemon, receiver, smtp, tmp_path, user):
    smtp_port, mails = smtp
    hook = receiver(fail=2)
    argv, out = command_script(tmp_path)
    # Every threshold of the harness stays out of reach but this user's CPU threshold.
    daemon = make_daemon(config={
        "monitoring": {"update_interval": 1, "persistent_time": "6s", "persistent_grace": "2s",
                       "alert_after": "6s", "clear_after": "3s", "monitoring_interval": 2},
        "users": {user: {"cpu_threshold": 5}},
        "alerts": {"cooldown": "10m", "notify_resolved": True},
        "email": {"enabled": True, "smtp_host": "127.0.0.1", "smtp_port": smtp_port, "security": "none",
                  "recipients": ["ops@example.com"], "retries": 0},
        "webhook": {"enabled": True, "url": hook.url, "headers": {"Authorization": "Bearer s3cr3t"}},
        "command": {"enabled": True, "argv": argv}})
    client = Client(daemon.ws_url())
    # A 3 s spike: the user is above the threshold, not for persistent_time.
    with CgroupLoad(BURN, user=user) as spike:
        spike.wait_running()
        started = time.time()
        while time.time() - started < 3:
            client.next("system_update")
    for _ in range(8):  # past the grace and some: still nothing
        client.next("system_update")
    assert client.ask("get_alerts")["total_count"] == 0
    assert not [m for m in client.broadcasts if m["type"] == "alert"]

    # A sustained load: exactly one alert, delivered once to each notifier.
    with CgroupLoad(BURN, user=user) as load:
        load.wait_running()
        alert = client.next("alert")["data"]
        assert alert["cause"] == "user:%s:cpu" % user and alert["stored"]
        assert alert["processes"] and "while :; do :; done" in alert["processes"][0]["command"]
        alert_id = alert["id"]
        wait_for(lambda: ("open", alert_id) in hook.events(), 20, what="the webhook POST after two 500s")
        assert hook.attempts == 3  # two failures, retried with backoff, then delivered
        headers, body = hook.posts[0]
        assert headers["Authorization"] == "Bearer s3cr3t" and body["text"].startswith("[SysMedic] WARNING")
        wait_for(lambda: ("open", str(alert_id)) in runs(out), 10, what="the command's run")
        wait_for(lambda: len(mails) == 1, 10, what="the e-mail")
        assert "Top processes:" in mails[0] and "while :; do :; done" in mails[0]
        log = daemon.log()
        assert "s3cr3t" not in log and "t0k3n" not in log  # neither the header nor the URL's token
        assert ("webhook: open notice of alert %d not delivered (attempt 1 of 4): POST http://127.0.0.1"
                % alert_id) in log
        # A history row holds the peak: never below the alert's figure.
        figure = alert["persistent_users"][0]["usage"]
        wait_for(lambda: user_peak(daemon.home, user) is not None, 15, what="a history row")
        assert user_peak(daemon.home, user) >= figure
    # The load stopped: resolved once, and the resolution sent.
    wait_for(lambda: client.ask("get_alerts")["unresolved_count"] == 0, 20, interval=0.5, what="the resolution")
    wait_for(lambda: ("resolve", alert_id) in hook.events(), 20, what="the resolution's POST")
    wait_for(lambda: ("resolve", str(alert_id)) in runs(out), 10, what="the resolution's command run")
    wait_for(lambda: len(mails) == 2 and "RESOLVED" in mails[1], 10, what="the resolution's e-mail")

    # Back within the cooldown: the same alert re-opens, and nothing new is sent.
    with CgroupLoad(BURN, user=user) as again:
        again.wait_running()
        wait_for(lambda: client.ask("get_alerts")["unresolved_count"] == 1, 30, interval=0.5, what="the re-opening")
        listed = json.loads(cli(daemon.home, "alerts", "--json").stdout)
        assert [(a["id"], a["reopen_count"]) for a in listed] == [(alert_id, 1)]
        for _ in range(5):  # a few samples for any notice to go out (none may)
            client.next("system_update")
    assert not [m for m in client.broadcasts if m["type"] == "alert" and m["data"]["id"] != alert_id]
    assert hook.events().count(("open", alert_id)) == 1 and runs(out).count(("open", str(alert_id))) == 1
    assert sum("RESOLVED" not in m for m in mails) == 1


def user_peak(home, username):
    result = cli(home, "reports", "users", "--user=%s" % username, "--period=1h", "--json")
    if result.returncode != 0:
        return None
    rows = json.loads(result.stdout)
    users = rows.get("users", rows) if isinstance(rows, dict) else rows
    for row in users:
        if row.get("username") == username and row.get("cpu_max") is not None:
            return row["cpu_max"]
    return None


def test_alerts_test_says_per_notifier_delivered_or_the_exact_error(tmp_path, receiver):
    from .harness import write_config
    home = str(tmp_path / "home")
    good, bad = receiver(), receiver(fail=100)
    argv, out = command_script(tmp_path)
    write_config(home, {"webhook": {"enabled": True, "url": good.url}, "command": {"enabled": True, "argv": argv}},
                 {"public_host": "web1.example.org"})
    result = cli(home, "alerts", "test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["webhook: delivered", "command: delivered"]
    assert good.events() == [("test", None)] and runs(out) == [("test", "")]
    assert good.posts[0][1]["host"] == "web1.example.org"  # issue 22: the operator's name, not localhost
    write_config(home, {"webhook": {"enabled": True, "url": bad.url, "retries": 5}})
    result = cli(home, "alerts", "test", "--notifier=webhook")
    assert result.returncode == 1 and bad.attempts == 1  # a test is one attempt, no retries
    assert result.stdout.startswith("webhook: FAILED: POST http://127.0.0.1:%d: HTTP 500" % bad.server.server_address[1])
    assert "t0k3n" not in result.stdout and "/hook" not in result.stdout  # a webhook's path can be its secret
    result = cli(home, "alerts", "test", "--notifier=pager")
    assert result.returncode == 2 and "is not one of email, webhook, command" in result.stderr
    write_config(home, {})
    result = cli(home, "alerts", "test")
    assert result.returncode == 1 and "no notifier is configured" in result.stderr


@pytest.mark.parametrize("key, value, says", [
    ("webhook.url", "ftp://example.com/x", "config.json: webhook.url: 'ftp://example.com/x' is not an http:// or https:// URL"),
    ("command.argv", '["/no/such/program"]', "command.argv: '/no/such/program' is not an executable program"),
    ("alerts.cooldown", "0.5x", "alerts.cooldown:"),
])
def test_bad_alerting_configuration_is_one_clear_line_and_never_written(tmp_path, key, value, says):
    home = str(tmp_path / "home")
    assert cli(home, "config", "set", "cooldown", "5m").returncode == 0
    before = open(os.path.join(home, "config.json")).read()
    result = cli(home, "config", "set", key, value)
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1, result.stderr
    assert says.split(": ", 1)[-1] in result.stderr and "Traceback" not in result.stderr
    assert open(os.path.join(home, "config.json")).read() == before


def test_user_processes_name_the_burner_and_mask_its_password(make_daemon):
    import subprocess
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass", "--password=hunter2", "--db", "x"])
    try:
        daemon = make_daemon()
        name = __import__("pwd").getpwuid(os.getuid()).pw_name
        client = Client(daemon.ws_url())

        def burner_listed():
            client.ws.send(json.dumps({"type": "get_user_processes", "username": name, "limit": 50}))
            reply = client.next("user_processes_response")["data"]
            return next((p for p in reply["processes"] if p["pid"] == burner.pid), None)
        wait_for(lambda: (burner_listed() or {}).get("cpu_percent", 0) > 1, 20, interval=0.5, what="the burner")
        listed = burner_listed()
        assert listed["command"].endswith("-c while True: pass --password=**** --db x")
        assert "hunter2" not in json.dumps(listed) and listed["state"] in "RS" and listed["threads"] == 1
        client.ws.send(json.dumps({"type": "get_user_processes", "username": "nosuchuser"}))
        assert client.next("error")["data"]["error"] == "Unknown user: nosuchuser"
        result = cli(daemon.home, "users", name, "--limit=50")
        assert result.returncode == 0 and "--password=****" in result.stdout and "hunter2" not in result.stdout
        result = cli(daemon.home, "users", "--json")
        assert name in [u["username"] for u in json.loads(result.stdout)["users"]]
        result = cli(daemon.home, "users", "nosuchuser")
        assert result.returncode == 1 and result.stderr.strip() == "sysmedic: Unknown user: nosuchuser"
    finally:
        burner.kill()
        burner.wait()


@pytest.mark.parametrize("config, says", [
    ({"alerts": {"cooldown": -5}}, "alerts.cooldown: -5 must be at least 0"),
    ({"monitoring": {"alert_after": "-1m"}}, "monitoring.alert_after: '-1m' is not a duration (use e.g. 30s, 5m, 1h30m, 7d)"),
    ({"monitoring": {"clear_after": -0.5}}, "monitoring.clear_after: -0.5 must be at least 0"),
    ({"webhook": {"headers": {"bad header": "x"}}}, "webhook.headers: 'bad header' is not a header name"),
])
def test_a_negative_duration_or_bad_header_in_the_file_is_one_line_naming_it(tmp_path, config, says):
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "config.json").write_text(json.dumps(config))
    result = cli(str(home), "config", "show")
    assert result.returncode == 1 and result.stderr.strip() == "sysmedic: %s: %s" % (home / "config.json", says)
