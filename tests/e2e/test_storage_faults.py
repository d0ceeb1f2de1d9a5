"""Storage faults (issue 13, Medium 6 and 7): a full disk or a read-only database never stops
an alert from being broadcast, says so in /health and the log, and loses nothing once space
returns; a corrupt database is moved aside at start.

The full disk is a real one: a small tmpfs mounted on the home (root only, as in CI)."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess

import pytest
import websocket

from .harness import Daemon, cli, wait_for, write_config

needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"),
                                reason="needs root to mount a small file system")
ALERT_CONFIG = {"monitoring": {"update_interval": 0.2, "memory_threshold": 1}}


@pytest.fixture
def small_home(tmp_path):
    """A 0700 home on its own 8 MiB tmpfs."""
    home = tmp_path / "home"
    home.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(home)], check=True)
    yield str(home)
    subprocess.run(["umount", "-l", str(home)], check=False)  # lazy: a failed test's daemon may hold it


def fill(home):
    """Fill the file system with one file; returns its path."""
    path = os.path.join(home, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:
        pass
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    os.close(fd)
    return path


def messages_of(ws, kind, timeout=20):
    """Read ``ws`` until a message of ``kind`` comes; returns it."""
    ws.settimeout(timeout)
    while True:
        message = json.loads(ws.recv())
        if message["type"] == kind:
            return message


def stopped(daemon):
    """Stop ``daemon`` before its database is unmounted (a daemon holding it keeps it busy)."""
    if daemon.proc is not None and daemon.proc.poll() is None:
        daemon.terminate()


def storage_lines(daemon):
    return [line for line in daemon.log().splitlines() if "storage failing" in line]


@needs_root
def test_a_full_disk_still_broadcasts_the_alert_and_stores_it_when_space_returns(small_home, make_daemon):
    daemon = make_daemon(home=small_home, config=Daemon.FAST)
    ws = websocket.create_connection(daemon.ws_url(), timeout=10)
    messages_of(ws, "system_update")
    write_config(small_home, ALERT_CONFIG)  # read at the SIGHUP, once the disk is full
    filler = fill(small_home)
    daemon.proc.send_signal(signal.SIGHUP)
    alert = messages_of(ws, "alert")["data"]
    assert alert["cause"] == "system:memory" and alert["id"] is None and alert["stored"] is False
    ws.send(json.dumps({"type": "get_alerts", "request_id": "a"}))
    assert messages_of(ws, "alerts_response")["data"]["unresolved_count"] == 1
    health = daemon.health(status=503)
    assert health["status"] == "degraded" and any("storage failing" in p for p in health["problems"])
    assert "full" in " ".join(health["problems"])
    assert len(storage_lines(daemon)) == 1 and "Traceback" not in daemon.log()

    os.unlink(filler)  # space returns: the kept alert is stored, /health is healthy again
    daemon.wait_healthy(timeout=20)
    assert "storage recovered" in daemon.log() and len(storage_lines(daemon)) == 1
    listed = json.loads(cli(small_home, "alerts", "--json", check=True).stdout)
    assert [a["cause"] for a in listed if not a["resolved"]] == ["system:memory"]
    ws.close()
    daemon.terminate()


@needs_root
def test_a_read_only_database_is_one_line_and_degraded_not_tracebacks(make_daemon):
    daemon = make_daemon(config=ALERT_CONFIG)
    home = daemon.home
    daemon.terminate()
    database = os.path.join(home, "sysmedic.db")
    subprocess.run(["mount", "--bind", database, database], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", database], check=True)
        daemon.start(wait=False)
        daemon.wait_healthy(status=503)
        health = daemon.health(status=503)
        assert any("readonly" in p or "read-only" in p for p in health["problems"]), health["problems"]
        assert len(storage_lines(daemon)) == 1 and "Traceback" not in daemon.log()
    finally:
        stopped(daemon)
        subprocess.run(["umount", "-l", database], check=False)


def test_a_corrupt_database_is_moved_aside_and_a_fresh_one_started(make_daemon):
    """Medium 7: 'database disk image is malformed' tracebacks from the daemon and the CLI."""
    daemon = make_daemon(config=ALERT_CONFIG)
    home = daemon.home
    wait_for(lambda: cli(home, "alerts", "--json").stdout.count('"cause"') >= 1, 20, what="an alert stored")
    daemon.terminate()
    database = os.path.join(home, "sysmedic.db")
    with open(database, "r+b") as handle:  # keep the header, scribble over the pages after it
        handle.seek(4096)
        size = os.path.getsize(database)
        handle.write(b"\xa5" * max(size - 4096, 8192))
    for args in (("alerts",), ("reports",), ("reports", "users")):
        result = cli(home, *args)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and "sysmedic.db" in result.stderr and "corrupt" in result.stderr
    daemon.start()
    aside = [name for name in os.listdir(home) if name.startswith("sysmedic.db.corrupt-")]
    assert len(aside) == 1
    lines = [line for line in daemon.log().splitlines() if "is corrupt (" in line]
    assert len(lines) == 1 and aside[0] in lines[0] and "Traceback" not in daemon.log()
    wait_for(lambda: '"cause"' in cli(home, "alerts", "--json").stdout, 20, what="the fresh database in use")
    with sqlite3.connect(os.path.join(home, aside[0])) as kept:  # moved, not deleted
        with pytest.raises(sqlite3.DatabaseError):
            kept.execute("SELECT COUNT(*) FROM alerts").fetchone()
    daemon.terminate()


def one_line(result):
    return result.returncode == 1 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@needs_root
def test_a_full_disk_at_start_is_one_line(small_home):
    """Issue 13, Low 11: the pid write failed with ENOSPC and a traceback."""
    write_config(small_home, None, {"port": 1, "host": "127.0.0.1", "enabled": False})
    fill(small_home)
    result = cli(small_home, "daemon", "run")
    assert one_line(result) and "sysmedic.pid" in result.stderr and "no space" in result.stderr, result.stderr


@needs_root
def test_resolving_on_a_read_only_database_is_one_line(make_daemon):
    """Issue 13, Low 11: `alerts resolve --all` on a read-only database printed a traceback."""
    daemon = make_daemon(config=ALERT_CONFIG)
    home = daemon.home
    wait_for(lambda: '"cause"' in cli(home, "alerts", "--json").stdout, 20, what="an alert stored")
    daemon.terminate()
    database = os.path.join(home, "sysmedic.db")
    subprocess.run(["mount", "--bind", database, database], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", database], check=True)
        result = cli(home, "alerts", "resolve", "--all")  # no daemon: the CLI writes itself
        assert one_line(result) and "readonly" in result.stderr, result.stderr
        daemon.start(wait=False)
        daemon.wait_healthy(status=503)
        result = cli(home, "alerts", "resolve", "--all")  # through the daemon
        assert one_line(result) and "cannot write the database" in result.stderr, result.stderr
    finally:
        stopped(daemon)
        subprocess.run(["umount", "-l", database], check=False)
