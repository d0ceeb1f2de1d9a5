"""Settings that say when they act (issue 23, item 4): ``config set`` on a running daemon either
applies the option (and the daemon's own behaviour shows it: ``/health``'s accounting method,
its threads) or says that it waits for a restart, and ``config show`` marks those options.
Before, ``config set exit_records false`` (and ``collector``) answered "Applied to the running
daemon" while ``/health`` still showed exit records on until the daemon restarted."""

import os

from .harness import cli, wait_for


def method(daemon):
    return daemon.health()["accounting"]["method"]


def test_collector_and_exit_records_apply_live_and_a_restart_option_says_so(make_daemon):
    daemon = make_daemon()
    pid = daemon.proc.pid
    started_with = method(daemon)  # exit-records as root where the kernel has taskstats

    out = cli(daemon.home, "config", "set", "collector", "psutil", check=True).stdout
    assert "Applied to the running daemon (pid %d)" % pid in out, out
    wait_for(lambda: method(daemon) == "psutil", 15, what="the psutil collector to take over")
    cli(daemon.home, "config", "set", "collector", "auto", check=True)
    wait_for(lambda: method(daemon) == started_with, 15, what="the /proc collector back")

    if started_with == "exit-records":  # as root (CI): exit records off and on again, live
        cli(daemon.home, "config", "set", "exit_records", "false", check=True)
        wait_for(lambda: method(daemon) == "reaped-children", 15, what="exit records off")
        health = daemon.health()
        assert health["status"] == "healthy" and not health["problems"], health  # a listener closed on purpose
        cli(daemon.home, "config", "set", "exit_records", "true", check=True)
        wait_for(lambda: method(daemon) == "exit-records", 15, what="exit records on again")
        assert daemon.control("status")["threads"].get("exit-records") == "running"
    else:
        assert os.geteuid() != 0, "root without exit records: %s" % started_with

    out = cli(daemon.home, "config", "set", "history_memory", "30m", check=True).stdout
    assert "Applied" not in out and "takes it when it restarts" in out, out
    shown = cli(daemon.home, "config", "show", check=True).stdout
    line = next(row for row in shown.splitlines() if row.startswith("monitoring.history_memory "))
    assert line.rstrip().endswith("(at restart)"), line
    assert not any(row.endswith("(at restart)") for row in shown.splitlines()
                   if row.startswith(("monitoring.collector ", "monitoring.exit_records "))), shown
    assert daemon.health()["status"] == "healthy"
    assert "Traceback" not in daemon.log()
