"""``sysmedic top`` in a real terminal (tmux): the header, a loaded throw-away user at the top of
the table, the sort keys, drill-down to the user's processes, a resize, and ``q`` leaving the
shell as it was. Also ``--once`` and the one line without a daemon."""

import os
import shutil
import subprocess
import sys

import pytest

from ..conftest import ROOT
from ..loads import CgroupLoad, can_run_loads, users_with_processes
from .harness import cli, wait_for

TMUX = shutil.which("tmux")


class Pane:
    """A detached tmux session running ``sh`` at a given size."""

    def __init__(self, name, width, height, env):
        self.name = name
        exports = " ".join("%s=%s" % item for item in env.items())
        subprocess.run([TMUX, "new-session", "-d", "-s", name, "-x", str(width), "-y", str(height),
                        "env %s TERM=xterm-256color LANG=C.UTF-8 sh" % exports], check=True, timeout=30)

    def keys(self, *keys):
        subprocess.run([TMUX, "send-keys", "-t", self.name] + list(keys), check=True, timeout=30)

    def text(self):
        return subprocess.run([TMUX, "capture-pane", "-p", "-t", self.name], capture_output=True, text=True,
                              check=True, timeout=30).stdout

    def lines(self):
        return self.text().splitlines()

    def wait(self, predicate, what, timeout=30):
        return wait_for(lambda: predicate(self.text()), timeout, interval=0.1, what="%s in:\n%s" % (what, self.text()))

    def close(self):
        subprocess.run([TMUX, "kill-session", "-t", self.name], capture_output=True, timeout=30)


def first_user(text):
    """The user on the first row of the table (the one after the column titles)."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip().startswith("USER"):
            row = lines[index + 1].split() if index + 1 < len(lines) else []
            return row[1] if row and row[0] == ">" else (row[0] if row else None)
    return None


@pytest.mark.skipif(TMUX is None, reason="tmux (make test installs it as root)")
@pytest.mark.skipif(not can_run_loads(), reason="a load as a throw-away user needs root, cgroups and setpriv")
def test_top_in_tmux_follows_a_loaded_user(make_daemon):
    with CgroupLoad(["sh", "-c", "yes >/dev/null & yes >/dev/null & wait"]) as load:
        load.wait_running()
        # Everyone else busy now (a busy server's users, root with this test) is left out of
        # the table: the load must be on top beside any load, not only on an idle machine.
        daemon = make_daemon(config={"monitoring": {"update_interval": 0.5, "monitoring_interval": 5},
                                     "filtering": {"excluded_users": users_with_processes(load.user)}})
        env = {"SYSMEDIC_HOME": daemon.home, "PYTHONPATH": ROOT}
        pane = Pane("sysmedic-top-%d" % os.getpid(), 80, 24, env)
        try:
            pane.keys("%s -m sysmedic top; echo TOP-EXIT=$?" % sys.executable, "Enter")
            pane.wait(lambda t: "SysMedic top - " in t and "Users (" in t, "the header and the table")
            text = pane.text()
            assert "CPU " in text and "MEM " in text and "LOAD " in text
            assert all(len(line) <= 80 for line in text.splitlines()) and len(text.splitlines()[0]) == 79
            pane.wait(lambda t: first_user(t) == load.user, "the loaded user on top")
            pane.keys("m")
            pane.wait(lambda t: "sorted by MEM" in t, "sorting by memory")
            pane.keys("p")
            pane.wait(lambda t: "sorted by PROCS" in t, "sorting by processes")
            pane.keys("c")
            pane.wait(lambda t: "sorted by CPU" in t and first_user(t) == load.user, "CPU order again")
            pane.keys("Enter")
            pane.wait(lambda t: "Processes of %s" % load.user in t and " yes" in t, "the user's processes")
            pane.keys("Escape")
            pane.wait(lambda t: "Users (" in t, "back to the users")
            subprocess.run([TMUX, "resize-window", "-t", pane.name, "-x", "110", "-y", "30"], check=True, timeout=30)
            pane.wait(lambda t: len(t.splitlines()[0].rstrip()) == 109 and "Users (" in t,
                      "the header across the wider window (its clock at the right edge)")
            subprocess.run([TMUX, "resize-window", "-t", pane.name, "-x", "60", "-y", "20"], check=True, timeout=30)
            pane.wait(lambda t: "SysMedic top" in t and all(len(line) <= 60 for line in t.splitlines()),
                      "a narrower frame")
            pane.keys("q")
            pane.wait(lambda t: "TOP-EXIT=0" in t, "top ending with status 0")
            assert "Users (" not in pane.text()  # the shell's screen is back, not a curses leftover
        finally:
            pane.close()


def test_once_prints_one_frame_and_no_daemon_is_one_line(make_daemon, tmp_path):
    daemon = make_daemon()
    result = cli(daemon.home, "top", "--once")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("SysMedic top - ") and "root" in result.stdout
    assert any(line.startswith("CPU ") for line in lines) and any(line.startswith("MEM ") for line in lines)
    remote = cli(str(tmp_path / "elsewhere"), "top", "--once", "--url",
                 "sysmedic://%s@127.0.0.1:%d/" % (daemon.secret, daemon.port))
    assert remote.returncode == 0 and remote.stdout.splitlines()[0].startswith("SysMedic top - "), remote.stderr
    wrong = cli(str(tmp_path / "elsewhere"), "top", "--once", "--url", "sysmedic://nope@127.0.0.1:%d/" % daemon.port)
    assert wrong.returncode == 1 and wrong.stderr.count("\n") == 1 and "invalid secret" in wrong.stderr
    nothing = cli(str(tmp_path / "empty"), "top", "--once")
    assert nothing.returncode == 1
    assert nothing.stderr == "sysmedic: the daemon is not running (start it with: sysmedic daemon start)\n"
