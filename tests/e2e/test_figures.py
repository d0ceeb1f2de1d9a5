"""A per-user figure is one row (issue 23): a copy of the package with one throw-away figure
appended to ``sysmedic/figures.py``, and nothing else changed, shows that figure in
``get_user_metrics``, ``/metrics`` (promtool-clean), the per-minute history rows in SQLite and
``get_history`` (from memory, and from the database a previous run wrote), ``sysmedic users
--json``, ``sysmedic reports users`` and ``sysmedic top --once``.

The figure counts a user's processes in the window's second reading, from the process table:
the same number the accountant gives as ``processes``, so the two must agree user by user."""

import json
import os
import pwd
import shutil
import sqlite3
import subprocess

from .harness import Client, copy_with, http_get, wait_for
from .test_history import ask

ROW = '''

def _counted_again(window):
    """Throw-away (tests/e2e/test_figures.py): each user's processes in the window's second reading."""
    found = {}
    for row in window.after.processes.values():
        found[row.uid] = found.get(row.uid, 0) + 1
    return found


FIGURES.append(Figure("counted_again", "", COUNT, "AGAIN", 6, "%d",
                      Prometheus("sysmedic_user_counted_again", "gauge", "Test: a user's processes, counted again."),
                      history="counted_again", digits=0, collect=_counted_again))
'''

FAST = {"monitoring": {"update_interval": 0.2, "monitoring_interval": 1}}


def run(command, home, *args):
    result = subprocess.run(command + list(args), env=dict(os.environ, SYSMEDIC_HOME=home), capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    return result.stdout


def figure_rows(home):
    with sqlite3.connect(os.path.join(home, "sysmedic.db")) as db:
        return db.execute("SELECT username, value, peak FROM user_figure_history WHERE figure = 'counted_again'"
                          " AND value > 0").fetchall()


def test_one_figure_row_reaches_every_layer(make_daemon, tmp_path):
    command = copy_with(str(tmp_path / "copy"), {"figures.py": ROW})  # that file alone
    me = pwd.getpwuid(os.getuid()).pw_name
    home = str(tmp_path / "home")
    first = make_daemon(home=home, config=FAST, websocket={"metrics": True}, start=False).start(
        command=command + ["daemon", "run"])
    client = Client(first.ws_url())
    client.next("system_update")
    client.next("system_update")

    # get_user_metrics: the figure beside the built-in ones, equal to processes user by user
    users = client.ask("get_user_metrics")
    assert list(users[0])[:4] == ["username", "cpu_percent", "memory_percent", "processes"]  # the spec's order
    counted = {row["username"]: row for row in users if row["processes"]}
    assert me in counted and all(row["counted_again"] == row["processes"] for row in counted.values()), users

    # /metrics: a family of its own, and promtool finds nothing wrong
    def mine_scraped(body):
        return [int(line.split()[-1]) for line in body.splitlines()
                if line.startswith('sysmedic_user_counted_again{user="%s"} ' % me)]
    wait_for(lambda: mine_scraped(http_get(first.url("/metrics"))[2].decode()), 15, what="the figure in /metrics")
    body = http_get(first.url("/metrics"))[2].decode()
    assert '# TYPE sysmedic_user_counted_again gauge' in body and mine_scraped(body)[0] >= 1, body
    if shutil.which("promtool"):
        checked = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True,
                                 timeout=30)
        assert checked.returncode == 0, checked.stdout + checked.stderr

    # get_history from memory (me by name: on a busy machine ten others may use more CPU)
    recent = ask(client, {"since": 3, "metrics": ["user_counted_again", "user_cpu"], "users": [me]})["data"]
    assert recent["source"] == "memory"
    mine = [v for v in recent["users"][me]["counted_again"]["avg"] if v is not None]
    assert mine and all(v >= 1 for v in mine), recent["users"][me]
    ranked = ask(client, {"since": 3, "metrics": ["user_counted_again", "user_cpu"]})["data"]
    assert set(ranked["others"]) == {"counted_again", "cpu"} and ranked["users"], ranked

    # the CLI: users --json and top --once
    listed = json.loads(run(command, home, "users", "--json"))["users"]
    assert all("counted_again" in row for row in listed if row["processes"]), listed
    screen = run(command, home, "top", "--once")
    header = next(line for line in screen.splitlines() if line.strip().startswith("USER"))
    assert header.split()[-1].rstrip("*") == "AGAIN", screen
    mine_line = next(line for line in screen.splitlines() if line.split()[:1] == [me] or line[2:].startswith(me + " "))
    assert mine_line.split()[-1].isdigit() and int(mine_line.split()[-1]) >= 1, screen

    # the per-minute rows in SQLite, and get_history of a later run reading them back
    # (rows over a few seconds, so that whole buckets of the answer lie before the second run)
    wait_for(lambda: sum(name == me for name, _, _ in figure_rows(home)) >= 6, 30, what="history rows of the figure")
    # sysmedic reports users: the figure's average and peak beside CPU and memory
    reported = json.loads(run(command, home, "reports", "users", "--user=" + me, "--json"))["users"]
    assert reported and reported[0]["counted_again_avg"] >= 1 and reported[0]["counted_again_max"] >= 1, reported
    assert "AGAIN avg" in run(command, home, "reports", "users", "--user=" + me), reported
    client.ws.close()
    assert first.terminate() == 0
    second = make_daemon(home=home, config=FAST, start=False).start(command=command + ["daemon", "run"])
    client = Client(second.ws_url())
    started = client.next("system_update")["data"]["sample_time"]
    answer = ask(client, {"since": 3600, "step": 1, "metrics": ["user_counted_again"], "users": [me]})["data"]
    assert "database" in answer["source"], answer["source"]
    earlier = [v for t, v in zip(answer["timestamps"], answer["users"][me]["counted_again"]["avg"])
               if t + answer["step"] <= started and v is not None]
    assert earlier and all(v > 0 for v in earlier), answer["users"][me]
    client.ws.close()


JUDGED = ROW.replace('history="counted_again", digits=0, collect=_counted_again))', '''history="counted_again", digits=0, collect=_counted_again,
                      threshold=Threshold("again", "processes", "Check {user}'s {usage:.0f} processes ({duration})")))''')


def test_a_figure_row_with_a_threshold_is_judged_and_alerted_on(make_daemon, tmp_path):
    """The same row with a Threshold: its options exist (the default in ``monitoring``, one
    user's in ``users``), ``get_config`` has it, and a user above it opens an alert on it, with
    the row's advice, and ``/metrics`` marks the user persistent on it. Still one file."""
    assert JUDGED != ROW
    command = copy_with(str(tmp_path / "copy"), {"figures.py": JUDGED})
    me = pwd.getpwuid(os.getuid()).pw_name
    home = str(tmp_path / "home")
    # Everyone's threshold unreachable (100 processes is the most a percent option allows: a
    # busy root may pass it, so root is held at 100 by name too), mine at 1: I run at least two.
    daemon = make_daemon(home=home, websocket={"metrics": True}, start=False, config={
        "monitoring": {"update_interval": 0.2, "persistent_time": "1s", "user_again_threshold": 100},
        "users": {me: {"again_threshold": 1}}})
    daemon.start(command=command + ["daemon", "run"])
    shown = json.loads(run(command, home, "config", "show", "--json"))
    assert shown["monitoring.user_again_threshold"] == 100 and shown["users.%s.again_threshold" % me] == 1, shown
    client = Client(daemon.ws_url())
    assert client.ask("get_config")["user_again_threshold"] == 100
    alert = client.next("alert")["data"]
    assert alert["cause"] == "user:%s:again" % me, alert
    assert any(line.startswith("Check %s's " % me) and " processes (" in line for line in alert["recommendations"]), alert
    wait_for(lambda: 'sysmedic_user_persistent{user="%s",metric="again"} 1' % me in http_get(daemon.url("/metrics"))[2].decode(),
             15, what="the user persistent on the figure in /metrics")
    client.ws.close()
