"""Issue 24, item 1: a Python without some of its standard library. A needed module missing is
one line naming it and where it comes from, exit 1, from every command and from `daemon run`;
an optional one missing costs its feature, which says so, and everything else runs.

Modules are made unimportable by tests/blocking/sitecustomize.py, as they are on Debian's
python3-minimal or OpenWrt's split packages (the interpreter raises the same
ModuleNotFoundError); the zipapp is tried with zlib, which a Python can lack too.
"""

import ast
import json
import os
import subprocess
import sys
import time

import pytest

from sysmedic import needs

from ..conftest import ROOT
from ..loads import CgroupLoad, can_run_loads, make_user, remove_user
from .harness import Client, cli, free_port, wait_for

BLOCKING = os.path.join(ROOT, "tests", "blocking")
BURN = ["sh", "-c", "while :; do :; done"]


def blocked(*names):
    return {"PYTHONPATH": BLOCKING + os.pathsep + ROOT, "SYSMEDIC_TEST_BLOCK": ",".join(names)}


def one_line_naming(result, name):
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("sysmedic: Python's %s module is missing; it comes with " % name), lines[0]
    return lines[0]


@pytest.mark.parametrize("name", needs.NEEDED)
def test_a_needed_module_missing_is_one_line_from_any_command(tmp_path, name):
    home = str(tmp_path / "home")
    for argv in (["config", "show"], ["alerts"], ["daemon", "status"], ["users"]):
        line = one_line_naming(cli(home, *argv, env=blocked(name)), name)
        assert "libpython%d.%d-stdlib" % sys.version_info[:2] in line
    # What works without anything: --version and --help (init scripts ask them).
    for argv, says in ((["--version"], "sysmedic "), (["--help"], "SysMedic: ")):
        result = cli(home, *argv, env=blocked(name))
        assert result.returncode == 0 and result.stdout.startswith(says) and result.stderr == ""
    assert not os.path.exists(home)


@pytest.mark.parametrize("name", needs.SERVING)
def test_a_module_the_server_needs_stops_daemon_run_before_it_binds(tmp_path, name):
    """issue 24: with ssl, hashlib (or termios, now optional) missing the daemon started, said
    healthy, and dropped every WebSocket client."""
    home = str(tmp_path / "home")
    port = free_port()
    for argv in (["daemon", "run", "--port=%d" % port], ["daemon", "start", "--no-url"]):
        line = one_line_naming(cli(home, *argv, env=blocked(name), timeout=30), name)
        assert line.endswith("'sysmedic %s' needs it" % " ".join(argv[:2]))
    assert not os.path.exists(os.path.join(home, "sysmedic.pid"))
    assert cli(home, "config", "show", env=blocked(name)).returncode == 0  # the rest still works
    secret_url = "sysmedic://s3cr3tT0ken@127.0.0.1:%d/" % port
    line = one_line_naming(cli(home, "top", "--url=" + secret_url, env=blocked(name)), name)
    assert "s3cr3tT0ken" not in line and line.endswith("'sysmedic top' needs it")


@pytest.mark.parametrize("entry", ["zipapp", "checkout"])
def test_the_zipapp_without_zlib_and_the_checkout_without_json_say_so_in_one_line(pyz, tmp_path, entry):
    command = [sys.executable, pyz] if entry == "zipapp" else [sys.executable, os.path.join(ROOT, "bin", "sysmedic")]
    name = "zlib" if entry == "zipapp" else "json"
    for argv in (["daemon", "run"], ["config", "show"]) + ((["--version"],) if entry == "zipapp" else ()):
        result = subprocess.run(command + argv, capture_output=True, text=True, timeout=30, cwd=str(tmp_path),
                                env=dict(os.environ, SYSMEDIC_HOME=str(tmp_path / "h"), **blocked(name)))
        line = one_line_naming(result, name)
        if entry == "zipapp":
            assert line.endswith("needed to read the rest of this zipapp, which is compressed")


@pytest.fixture
def user():
    name = make_user()
    yield name
    remove_user(name)


def test_without_sqlite3_the_daemon_serves_says_so_and_keeps_history_in_memory(make_daemon):
    daemon = make_daemon(start=False)
    daemon.start(env=blocked("sqlite3"))
    health = daemon.health()
    assert health["status"] == "healthy" and health["problems"] == []
    assert [w for w in health["warnings"] if w.startswith("Python's sqlite3 module is missing")], health["warnings"]
    assert "no database" in daemon.log()
    client = Client(daemon.ws_url())
    client.next("system_update")
    history = client.ask("get_history")
    assert history["source"] == "memory" and any(value is not None for value in history["system"]["cpu"]["avg"])
    assert client.ask("get_alerts")["unresolved_count"] == 0
    assert not os.path.exists(os.path.join(daemon.home, "sysmedic.db"))
    # The commands that read the database say that they need it; the others work.
    for argv in (["alerts"], ["reports"], ["reports", "users"]):
        result = cli(daemon.home, *argv, env=blocked("sqlite3"))
        assert result.returncode == 1 and len(result.stderr.splitlines()) == 1, (argv, result.stderr)
        assert "sysmedic.db: cannot be read or written: Python's sqlite3 module is missing" in result.stderr
    assert cli(daemon.home, "daemon", "status", env=blocked("sqlite3")).returncode == 0
    assert "Unresolved alerts: 0" in cli(daemon.home, "dashboard", env=blocked("sqlite3")).stdout  # the daemon's count
    assert cli(daemon.home, "top", "--once", env=blocked("sqlite3")).returncode == 0


@pytest.mark.skipif(not can_run_loads(), reason="needs root, a writable cgroup and setpriv")
def test_without_sqlite3_an_alert_still_opens_is_broadcast_and_counted(make_daemon, user):
    daemon = make_daemon(start=False, config={
        "monitoring": {"update_interval": 0.5, "persistent_time": "2s", "monitoring_interval": 1},
        "users": {user: {"cpu_threshold": 5}}})
    daemon.start(env=blocked("sqlite3"))
    client = Client(daemon.ws_url())
    with CgroupLoad(BURN, user=user) as load:
        load.wait_running()
        deadline = time.monotonic() + 30
        while True:
            alert = json.loads(client.ws.recv())
            if alert["type"] == "alert":
                break
            assert time.monotonic() < deadline, "no alert within 30 s"
    assert user in json.dumps(alert["data"])
    assert wait_for(lambda: client.ask("get_alerts")["unresolved_count"] >= 1, 10, what="the alert counted")
    assert "alert opened (not stored)" in daemon.log() and "Traceback" not in daemon.log()


def test_optional_modules_cost_only_their_feature(make_daemon, tmp_path):
    daemon = make_daemon(start=False)
    daemon.start(env=blocked("ctypes", "termios"))
    warnings = daemon.health()["warnings"]
    for name in ("ctypes", "termios"):
        assert [w for w in warnings if w.startswith("Python's %s module is missing" % name)], warnings
    client = Client(daemon.ws_url())
    assert client.next("system_update")["type"] == "system_update"
    assert "Traceback" not in daemon.log()
    # curses: the full-screen top says what to use instead; --once works.
    result = cli(daemon.home, "top", env=blocked("curses"))
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
    assert "curses module is missing" in result.stderr and "sysmedic top --once" in result.stderr
    assert cli(daemon.home, "top", "--once", env=blocked("curses")).stdout.startswith("SysMedic top")


def test_a_notifier_whose_module_is_missing_fails_its_delivery_in_one_line(tmp_path):
    home = str(tmp_path / "home")
    os.makedirs(home, mode=0o700)
    with open(os.path.join(home, "config.json"), "w") as handle:
        json.dump({"email": {"enabled": True, "smtp_host": "127.0.0.1", "smtp_port": free_port(),
                             "security": "none", "recipients": ["ops@example.com"], "retries": 0}}, handle)
    result = cli(home, "alerts", "test", "--notifier=email", env=blocked("smtplib"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Python's smtplib module is missing" in result.stdout + result.stderr


def imported_stdlib_modules():
    """Every standard-library module some file of the package imports (by name, dotted)."""
    found = set()
    for directory, _, files in os.walk(os.path.join(ROOT, "sysmedic")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(directory, name)) as handle:
                    tree = ast.parse(handle.read())
                for node in ast.walk(tree):
                    if isinstance(node, ast.Import):
                        found.update(alias.name for alias in node.names)
                    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                        found.add(node.module)
    return {name for name in found if name.split(".")[0] in sys.stdlib_module_names}


@pytest.mark.skipif(sys.version_info < (3, 10), reason="sys.stdlib_module_names is new in 3.10")
def test_every_standard_module_the_package_imports_is_declared_needed_or_optional():
    declared = set(needs.NEEDED) | set(needs.SERVING) | set(needs.OPTIONAL)
    always_there = {"sys", "os", "io", "abc", "types", "functools", "itertools", "operator", "codecs",
                    "_operator", "__future__", "importlib", "posixpath", "genericpath", "contextlib", "enum", "warnings"}
    undeclared = {name for name in imported_stdlib_modules()
                  if name.split(".")[0] not in always_there and name not in declared and name.split(".")[0] not in declared}
    assert not undeclared, "declare these in sysmedic/needs.py: %s" % sorted(undeclared)
