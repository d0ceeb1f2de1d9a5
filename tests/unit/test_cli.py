"""The CLI through main(argv): exit codes, one-line errors, JSON output, real files."""

import json
import os
import subprocess
import sys

import pytest


from sysmedic import __version__
from sysmedic.analysis.alerts import Condition
from sysmedic.cli import main
from sysmedic.storage import Storage, database_path
from sysmedic.history.rollup import one_interval

from ..conftest import ROOT


def run(capsys, env, *argv):
    code = main(list(argv), environ=env)
    out, err = capsys.readouterr()
    return code, out, err


def test_version_help_and_usage_errors(capsys, env):
    assert run(capsys, env, "--version")[:2] == (0, "sysmedic %s\n" % __version__)
    from docopt import docopt  # the fast path answers exactly what docopt would
    from sysmedic import cli
    with pytest.raises(SystemExit):
        docopt(cli.__doc__, argv=["--version"], version="sysmedic " + __version__)
    assert capsys.readouterr().out == "sysmedic %s\n" % __version__
    code, out, _ = run(capsys, env, "--help")
    assert code == 0 and "sysmedic alerts resolve" in out
    code, _, err = run(capsys, env, "alerts", "frobnicate")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("sysmedic: usage: sysmedic alerts [list]") and "sysmedic alerts resolve" in err


@pytest.mark.parametrize("argv, message", [
    # Issue 8, defect 9: docopt's internal "Warning: found unmatched (duplicate?) arguments
    # [Argument(None, 'bogus')]", a quoted number, two lines labelled "WebSocket:".
    (["bogus"], "sysmedic: unknown command 'bogus' (commands: dashboard, daemon, websocket, config, "
                "alerts, reports, users, top; see 'sysmedic --help')\n"),
    (["websocket", "start", "99999"], "sysmedic: port 99999 is not a number from 1 to 65535\n"),
    (["websocket", "start", "80a"], "sysmedic: port 80a is not a number from 1 to 65535\n"),
    (["daemon", "run", "--port=0"], "sysmedic: port 0 is not a number from 1 to 65535\n"),
    # Issue 22, item 16: a bad option value is a usage error too (exit 2), and never ignored
    (["users", "--limit=abc"], "sysmedic: --limit: 'abc' is not a positive whole number\n"),
    (["alerts", "test", "--notifier=bogus"], "sysmedic: --notifier: 'bogus' is not one of email, webhook, command\n"),
    (["alerts", "--since=soon"], "sysmedic: --since: 'soon' is not a duration (use e.g. 30s, 5m, 1h30m, 7d)\n"),
])
def test_usage_errors_are_one_clear_line(capsys, env, argv, message):
    code, out, err = run(capsys, env, *argv)
    assert code == 2 and out == "" and err == message


def test_websocket_status_labels_each_line_once(capsys, env):
    code, out, _ = run(capsys, env, "websocket", "status")
    labels = [line.split(":")[0] for line in out.splitlines() if ":" in line]
    assert code == 0 and len(labels) == len(set(labels)) and "Configuration" in labels


def test_dashboard_json_samples_this_machine(capsys, env):
    code, out, _ = run(capsys, env, "--json")
    data = json.loads(out)
    assert code == 0 and data["source"] == "sampled now"
    assert data["status"] in ("Light Usage", "Medium Usage", "Heavy Load")
    assert 0 <= data["metrics"]["cpu_usage"] <= 100  # a real second sample, never None
    assert any(u["username"] == "root" or u["processes"] > 0 for u in data["users"])
    assert data["unresolved_alerts"] == 0
    metrics = data["metrics"]  # issue 22: numbers for scripts beside the spec's text forms
    with open("/proc/loadavg") as handle:
        now = [float(v) for v in handle.read().split()[:3]]
    assert len(metrics["load_avg_values"]) == 3 and all(isinstance(v, float) for v in metrics["load_avg_values"])
    assert abs(metrics["load_avg_values"][2] - now[2]) < 1.0 and isinstance(metrics["load_avg"], str)
    assert isinstance(metrics["network_bytes_per_second"], int) and isinstance(metrics["uptime_seconds"], int)


def test_dashboard_text_marks_persistent_users_and_counts_alerts(capsys, env, home):
    os.makedirs(home)
    with Storage(database_path(home)) as store:
        store.open_alert(Condition("system:cpu", "critical", "High CPU usage", ()), "Heavy Load")
    code, out, _ = run(capsys, env)
    assert code == 0
    assert "Status: " in out and "threshold 80%" in out and "USER" in out
    assert "(per-user CPU: inferred from reaped children (run the daemon as root for exact figures))" in out
    assert "Unresolved alerts: 1 (of 1)" in out


def test_config_set_show_and_errors(capsys, env, home):
    code, out, _ = run(capsys, env, "config", "set", "cpu_threshold", "90")
    assert code == 0 and "monitoring.cpu_threshold = 90" in out
    assert "The daemon is not running; it will use this when it starts." in out
    # A user every system has (set-user refuses unknown users): the host's postgres was assumed.
    assert run(capsys, env, "config", "set-user", "root", "memory_threshold", "50")[0] == 0
    code, out, _ = run(capsys, env, "config", "show", "--json")
    shown = json.loads(out)
    assert shown["monitoring.cpu_threshold"] == 90 and shown["users.root.memory_threshold"] == 50
    code, _, err = run(capsys, env, "config", "set", "memory_threshold", "abc")
    assert code == 1 and err == "sysmedic: command line: monitoring.memory_threshold: 'abc' is not a number\n"
    code, _, err = run(capsys, env, "config", "set", "email.password", "hunter2")
    assert code == 0
    code, out, _ = run(capsys, env, "config", "show")
    assert "hunter2" not in out and "********" in out


@pytest.mark.parametrize("key, typed, saved, shown, seconds", [
    # Issue 8, defects 1-2: a bare number is in the option's own unit, everywhere.
    ("persistent_time", "30", "30m", "30m", 1800),
    ("retain_days", "14", "14d", "14d", 14 * 86400),
    ("update_interval", "2.5", "2.5s", "2.5s", 2.5),
    ("persistent_time", "1h30m", "1h30m", "90m", 5400),
    ("retain_days", "36h", "36h", "1d12h", 36 * 3600),
])
def test_durations_keep_their_unit_on_set_show_and_reread(capsys, env, home, key, typed, saved, shown, seconds):
    code, out, err = run(capsys, env, "config", "set", key, typed)
    assert code == 0, err
    assert out.startswith("monitoring.%s = %s (saved to " % (key, shown))
    with open(os.path.join(home, "config.json")) as handle:
        assert json.load(handle)["monitoring"][key] == saved
    from sysmedic.config import load_config
    assert getattr(load_config(home).monitoring, key) == seconds  # what the daemon reads back
    code, out, _ = run(capsys, env, "config", "show")
    assert [line.split()[1] for line in out.splitlines() if line.startswith("monitoring.%s " % key)] == [shown]
    assert json.loads(run(capsys, env, "config", "show", "--json")[1])["monitoring.%s" % key] == shown


def test_a_bad_duration_on_the_command_line_blames_the_command_line(capsys, env, home):
    code, _, err = run(capsys, env, "config", "set", "retain_days", "99999")
    assert code == 1 and err == "sysmedic: command line: monitoring.retain_days: 99999 is too long (at most 10 years)\n"
    code, _, err = run(capsys, env, "config", "set", "persistent_time", "0")
    assert code == 1 and err == "sysmedic: command line: monitoring.persistent_time: 0 must be greater than 0\n"
    assert not os.path.exists(os.path.join(home, "config.json"))


def test_corrupt_config_is_one_line_and_left_alone(capsys, env, home):
    os.makedirs(home)
    path = os.path.join(home, "config.json")
    with open(path, "w") as handle:
        handle.write("{not json")
    for argv in (["config", "show"], ["config", "set", "cpu_threshold", "50"], ["--json"]):
        code, _, err = run(capsys, env, *argv)
        assert code == 1 and err.count("\n") == 1 and path in err and "invalid JSON" in err
    assert open(path).read() == "{not json"


def test_alerts_list_resolve_and_json(capsys, env, home):
    assert run(capsys, env, "alerts")[1] == "No alerts.\n"
    os.makedirs(home)
    with Storage(database_path(home)) as store:
        a, _ = store.open_alert(Condition("system:cpu", "critical", "High CPU usage: 91.0%", ()), "Heavy Load")
        b, _ = store.open_alert(Condition("user:db:cpu", "warning", "Persistent cpu usage by db", ("db",)),
                                "Heavy Load")
    code, out, _ = run(capsys, env, "alerts", "list", "--unresolved")
    assert code == 0 and "High CPU usage: 91.0%" in out and "OPEN" in out
    assert run(capsys, env, "alerts", "resolve", str(a.id))[1] == "Resolved alert %d.\n" % a.id
    assert run(capsys, env, "alerts", "resolve", str(a.id))[1] == "Alert %d was already resolved.\n" % a.id
    code, _, err = run(capsys, env, "alerts", "resolve", "999")
    assert code == 1 and err == "sysmedic: alert 999 does not exist\n"
    code, _, err = run(capsys, env, "alerts", "resolve", "abc")
    assert code == 2 and "not a number" in err  # a usage error
    data = json.loads(run(capsys, env, "alerts", "--json", "--unresolved")[1])
    assert [item["id"] for item in data] == [b.id] and data[0]["users"] == ["db"]
    assert json.loads(run(capsys, env, "alerts", "--json", "--since=1h")[1])[0]["id"] == b.id
    code, _, err = run(capsys, env, "alerts", "--since=yesterday")
    assert code == 2 and "--since" in err  # a usage error
    assert run(capsys, env, "alerts", "resolve", "--all")[1] == "Resolved 1 alert.\n"


def test_reports_from_history(capsys, env, home):
    assert "No history" in run(capsys, env, "reports")[1]
    os.makedirs(home)
    from sysmedic.collect.records import Snapshot, SystemMetrics, UserUsage
    import time
    with Storage(database_path(home)) as store:
        for i, cpu in enumerate((20.0, 40.0)):
            users = (UserUsage("alice", 1000, cpu, 10.0, 4), UserUsage("bob", 1001, 1.0, 2.0, 1))
            system = SystemMetrics(cpu, 2, 30.0, 1000, 700, 40.0, 100.0, (0.5, 0.5, 0.5), 1.0)
            snap = Snapshot(time.time() - 60 * i, system, users, False, 60.0, 0.0)
            store.record_interval(*one_interval(snap, "Light Usage", users))
    data = json.loads(run(capsys, env, "reports", "--json")[1])
    assert data["samples"] == 2 and data["cpu_avg"] == 30.0 and data["cpu_max"] == 40.0
    data = json.loads(run(capsys, env, "reports", "users", "--top=1", "--json")[1])
    assert [u["username"] for u in data["users"]] == ["alice"] and data["users"][0]["cpu_avg"] == 30.0
    code, out, _ = run(capsys, env, "reports", "users", "--user=bob")
    assert code == 0 and "bob" in out and "alice" not in out
    code, out, _ = run(capsys, env, "reports", "--period=1h")
    assert "2 samples" in out and "Light Usage" in out
    assert run(capsys, env, "reports", "users", "--top=0")[0] == 2  # a usage error


def test_bin_script_runs_from_a_checkout_without_tracebacks(env, home):
    os.makedirs(home)
    with open(os.path.join(home, "config.json"), "w") as handle:
        handle.write('{"monitoring": {"cpu_threshold": 500}}')
    result = subprocess.run([sys.executable, os.path.join(ROOT, "bin", "sysmedic"), "alerts"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0  # alerts do not need the config
    result = subprocess.run([sys.executable, os.path.join(ROOT, "bin", "sysmedic")],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().endswith("monitoring.cpu_threshold: 500 is out of range 1-100")


def test_each_command_has_its_own_help_and_config_get(capsys, env):
    """Issue 22, item 16: every `sysmedic X --help` printed the global text; no `config get`."""
    code, out, _ = run(capsys, env, "users", "--help")
    assert code == 0 and out.startswith("Usage:\n  sysmedic users [<user>]") and "--limit=<n>" in out
    assert "sysmedic alerts" not in out and "--cafile" not in out
    code, out, _ = run(capsys, env, "config", "set", "cpu_threshold", "70")
    assert code == 0
    assert run(capsys, env, "config", "get", "cpu_threshold")[:2] == (0, "70\n")
    code, out, _ = run(capsys, env, "config", "get", "monitoring.persistent_time", "--json")
    assert code == 0 and json.loads(out) == {"monitoring.persistent_time": "60m"}
    code, _, err = run(capsys, env, "config", "get", "nosuchkey")
    assert code == 1 and err.count("\n") == 1 and "nosuchkey" in err


def test_set_user_refuses_a_user_the_machine_does_not_know(capsys, env):
    code, out, err = run(capsys, env, "config", "set-user", "nosuchuser-42", "cpu_threshold", "50")
    assert code == 1 and out == "" and err == ("sysmedic: no user 'nosuchuser-42' on this machine (getent passwd "
                                               "nosuchuser-42 finds nothing); nothing saved\n")
    assert run(capsys, env, "config", "set-user", "root", "cpu_threshold", "50")[0] == 0


def test_status_commands_speak_json_without_a_daemon(capsys, env):
    code, out, _ = run(capsys, env, "daemon", "status", "--json")
    assert code == 3 and json.loads(out) == {"running": False}
    code, out, _ = run(capsys, env, "websocket", "status", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["daemon"] == "stopped" and shown["port"] == 8060 and shown["url"] is None
