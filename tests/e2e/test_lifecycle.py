"""The daemon's life: CLI start/stop/status, pid file, signals, live WebSocket settings, secrets."""

import ipaddress
import json
import os
import signal
import socket
import stat
import time

import pytest
import websocket

from .harness import Daemon, cli, free_port, http_get, raw_get, wait_for, write_config


def recv(ws):
    return json.loads(ws.recv())


def close_code(ws, timeout=5.0):
    """Read until the server's close frame; returns its status code."""
    ws.settimeout(timeout)
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(data[:2], "big") if len(data) >= 2 else None


@pytest.fixture
def home(tmp_path):
    path = str(tmp_path / "home")
    write_config(path, Daemon.FAST)
    return path


def test_quick_start_as_documented(home):
    """spec Quick Start: websocket start PORT, daemon start, websocket status, curl /health."""
    port = free_port()
    try:
        result = cli(home, "websocket", "start", str(port), check=True)
        assert "daemon is not running" in result.stdout
        result = cli(home, "daemon", "start", check=True)
        assert "SysMedic daemon started" in result.stdout and "sysmedic://" in result.stdout
        status = cli(home, "websocket", "status", check=True).stdout
        assert "Daemon:         running" in status and "enabled, port %d" % port in status
        assert "Clients:        0" in status
        url = [line.split()[-1] for line in status.splitlines() if line.startswith("URL:")][0]
        assert url.startswith("sysmedic://") and url.endswith(":%d/" % port)
        health = json.loads(http_get("http://127.0.0.1:%d/health" % port)[2])
        assert health["status"] == "healthy" and health["running"] is True and health["clients"] == 0
        assert cli(home, "daemon", "status").returncode == 0
        for name in ("config.json", "websocket.json", "sysmedic.db", "sysmedic.pid", "control.sock", "sysmedic.log"):
            mode = stat.S_IMODE(os.stat(os.path.join(home, name)).st_mode)
            assert mode == 0o600, (name, oct(mode))
        assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
        secret = url[len("sysmedic://"):].split("@")[0]
        with open(os.path.join(home, "sysmedic.log")) as handle:
            assert secret not in handle.read()
    finally:
        cli(home, "daemon", "stop")
    assert cli(home, "daemon", "status").returncode == 3
    assert not os.path.exists(os.path.join(home, "sysmedic.pid"))
    assert not os.path.exists(os.path.join(home, "control.sock"))


def test_start_twice_runs_one_daemon_and_stale_pid_file_does_not_block(home):
    write_config(home, websocket={"port": free_port(), "host": "127.0.0.1"})
    with open(os.path.join(home, "sysmedic.pid"), "w") as handle:
        handle.write("999999\n")  # left by a crash: nobody holds its lock
    try:
        first = cli(home, "daemon", "start", check=True)
        pid = int(first.stdout.split("pid ")[1].split(")")[0])
        second = cli(home, "daemon", "start")
        assert second.returncode == 0 and "already running (pid %d)" % pid in second.stdout
        with open(os.path.join(home, "sysmedic.pid")) as handle:
            assert int(handle.read()) == pid
        status = cli(home, "daemon", "status")
        assert status.returncode == 0 and "running (pid %d" % pid in status.stdout
    finally:
        assert "stopped (pid" in cli(home, "daemon", "stop").stdout
    assert "not running" in cli(home, "daemon", "stop").stdout


def test_daemon_start_reports_port_in_use_and_exits_nonzero(home):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        write_config(home, websocket={"port": port, "host": "127.0.0.1"})
        result = cli(home, "daemon", "start")
        assert result.returncode == 1
        assert result.stderr.strip() == "sysmedic: daemon failed to start: port %d is already in use" % port
        assert "Traceback" not in result.stderr
    assert cli(home, "daemon", "status").returncode == 3


def test_bad_config_stops_the_start_with_one_line(home):
    with open(os.path.join(home, "config.json"), "w") as handle:
        handle.write('{"monitoring": {"cpu_threshold": 150}}')
    result = cli(home, "daemon", "start")
    assert result.returncode == 1 and "monitoring.cpu_threshold: 150 is out of range 1-100" in result.stderr
    assert result.stderr.count("\n") == 1


def test_sigterm_with_clients_connected(make_daemon):
    daemon = make_daemon()
    clients = [websocket.create_connection(daemon.ws_url(), timeout=10) for _ in range(3)]
    for ws in clients:
        assert recv(ws)["type"] == "welcome"
    started = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    codes = [close_code(ws) for ws in clients]
    assert daemon.proc.wait(5) == 0 and time.monotonic() - started < 5
    assert codes == [1001, 1001, 1001]
    assert not os.path.exists(os.path.join(daemon.home, "sysmedic.pid"))
    assert not os.path.exists(os.path.join(daemon.home, "control.sock"))


def test_new_secret_disconnects_everyone_with_4001_and_old_secret_gets_401(make_daemon):
    daemon = make_daemon()
    old = daemon.secret
    clients = [websocket.create_connection(daemon.ws_url(old), timeout=10) for _ in range(2)]
    for ws in clients:
        recv(ws)
    started = time.monotonic()
    result = cli(daemon.home, "websocket", "new-secret", check=True)
    assert [close_code(ws) for ws in clients] == [4001, 4001]
    assert time.monotonic() - started < 2 + 1.5  # CLI start-up included
    new = daemon.secret
    assert new != old and len(new) == 32 and int(new, 16) >= 0
    assert "sysmedic://%s@" % new in result.stdout
    assert raw_get(daemon.port, "/ws?secret=" + old, {"Connection": "Upgrade", "Upgrade": "websocket"})[0] == 401
    ws = websocket.create_connection(daemon.ws_url(new), timeout=10)
    assert recv(ws)["type"] == "welcome"
    ws.close()
    wait_for(lambda: daemon.health()["clients"] == 0, 5, what="clients gone")


def test_websocket_start_stop_apply_live(make_daemon):
    daemon = make_daemon()
    new_port = free_port()
    ws = websocket.create_connection(daemon.ws_url(), timeout=10)
    recv(ws)
    result = cli(daemon.home, "websocket", "start", str(new_port), check=True)
    assert "listening on port %d" % new_port in result.stdout and ":%d/" % new_port in result.stdout
    assert close_code(ws) == 1001
    old_port, daemon.port = daemon.port, new_port
    assert daemon.health()["port"] == new_port
    with pytest.raises(OSError):
        http_get("http://127.0.0.1:%d/health" % old_port, timeout=2)
    with open(os.path.join(daemon.home, "websocket.json")) as handle:
        assert json.load(handle)["port"] == new_port
    assert "WebSocket server stopped." in cli(daemon.home, "websocket", "stop", check=True).stdout
    with pytest.raises(OSError):
        http_get(daemon.url("/health"), timeout=2)
    status = cli(daemon.home, "websocket", "status", check=True).stdout
    assert "disabled" in status and "not listening" in status
    cli(daemon.home, "websocket", "start", str(new_port), check=True)
    assert daemon.health()["running"] is True
    # Issue 22, item 7: without a port it keeps the configured one (it moved to 8060)
    result = cli(daemon.home, "websocket", "start", check=True)
    assert "listening on port %d" % new_port in result.stdout and daemon.health()["port"] == new_port
    with open(os.path.join(daemon.home, "websocket.json")) as handle:
        assert json.load(handle)["port"] == new_port


def listening_on(port):
    """The local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp)."""
    found = set()
    with open("/proc/net/tcp") as handle:
        for line in handle.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


@pytest.mark.parametrize("how", ["sighup", "websocket start"])
def test_a_new_address_on_the_same_port_rebinds(make_daemon, how):
    """Issue 8, defect 4: changing only ``host`` failed with "port N is already in use": the
    daemon collided with its own listener."""
    daemon = make_daemon(websocket={"host": "0.0.0.0"})
    assert listening_on(daemon.port) == {"0.0.0.0"}
    ws = websocket.create_connection(daemon.ws_url(), timeout=10)
    recv(ws)
    path = os.path.join(daemon.home, "websocket.json")
    with open(path) as handle:
        settings = json.load(handle)
    settings["host"] = "127.0.0.1"
    with open(path, "w") as handle:
        json.dump(settings, handle)
    if how == "sighup":
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in daemon.log() or "reload failed" in daemon.log(), 10,
                 what="reload")
    else:
        result = cli(daemon.home, "websocket", "start", str(daemon.port))
        assert result.returncode == 0, result.stderr
        assert "listening on port %d" % daemon.port in result.stdout
    assert "already in use" not in daemon.log() and "reload failed" not in daemon.log()
    assert listening_on(daemon.port) == {"127.0.0.1"}
    assert close_code(ws) == 1001  # its listener moved
    assert daemon.health()["port"] == daemon.port


def test_the_url_never_names_a_loopback_host_without_saying_so(make_daemon):
    """Issue 8, defect 8: when the FQDN resolves to loopback (on these machines ``vm`` is
    127.0.0.1 in /etc/hosts), the URL was useless to a remote client and nothing said so."""
    daemon = make_daemon(websocket={"host": "0.0.0.0"})
    status = cli(daemon.home, "websocket", "status", check=True).stdout
    url = [line.split()[-1] for line in status.splitlines() if line.startswith("URL:")][0]
    host = url.split("@")[1].rsplit(":", 1)[0].strip("[]")
    addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    if all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        assert "Note:" in status and "public_host" in status, status
    else:
        assert host == daemon.health()["hostname"]
    fqdn = socket.getfqdn()
    if all(ipaddress.ip_address(a[4][0].split("%")[0]).is_loopback for a in socket.getaddrinfo(fqdn, None)):
        assert host != fqdn and "resolves to" in status  # a real address of this machine instead


def test_websocket_start_to_a_busy_port_fails_and_keeps_the_old_one(make_daemon):
    daemon = make_daemon()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = busy.getsockname()[1]
        result = cli(daemon.home, "websocket", "start", str(taken))
    assert result.returncode == 1 and result.stderr.strip() == "sysmedic: port %d is already in use" % taken
    assert daemon.health()["port"] == daemon.port
    with open(os.path.join(daemon.home, "websocket.json")) as handle:
        assert json.load(handle)["port"] == daemon.port  # the file was restored


@pytest.mark.parametrize("port", ["0", "65536", "http", "-1"])
def test_invalid_port_is_one_line(home, port):
    result = cli(home, "websocket", "start", port)
    assert result.returncode in (1, 2) and result.stderr.count("\n") <= 12 and "Traceback" not in result.stderr
    if result.returncode == 1:
        assert result.stderr.startswith("sysmedic: port ")


def test_new_secret_without_a_daemon(home):
    result = cli(home, "websocket", "new-secret")
    assert result.returncode == 1
    assert result.stderr == "sysmedic: the daemon is not running (start it with: sysmedic daemon start)\n"
    status = cli(home, "websocket", "status")
    assert status.returncode == 0 and "Daemon:         stopped" in status.stdout


def get_config(ws):
    """Ask for get_config on ``ws`` and return its data (broadcasts in between are skipped)."""
    ws.send(json.dumps({"type": "get_config", "request_id": "c"}))
    while True:
        message = recv(ws)
        if message["type"] == "config_response":
            return message["data"]


def test_sighup_reloads_config_and_keeps_running(make_daemon):
    daemon = make_daemon()
    ws = websocket.create_connection(daemon.ws_url(), timeout=10)
    recv(ws)
    assert get_config(ws)["cpu_threshold"] == 100  # the harness's quiet threshold
    path = os.path.join(daemon.home, "config.json")
    with open(path) as handle:
        saved = json.load(handle)
    saved["monitoring"]["cpu_threshold"] = 91
    with open(path, "w") as handle:  # edited by hand: only SIGHUP tells the daemon
        json.dump(saved, handle)
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: get_config(ws)["cpu_threshold"] == 91, 5, what="reloaded threshold")
    with open(path, "w") as handle:
        handle.write("{broken")
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload failed, keeping the running configuration" in daemon.log(), 5, what="reload error")
    assert get_config(ws)["cpu_threshold"] == 91 and daemon.proc.poll() is None
    ws.close()


def test_config_set_applies_to_the_running_daemon_and_says_so(daemon):
    """Issue 8, defect 3: `config set` saved the file and said nothing about the daemon."""
    ws = websocket.create_connection(daemon.ws_url(), timeout=10)
    recv(ws)
    result = cli(daemon.home, "config", "set", "persistent_time", "30", check=True)
    assert result.stdout.splitlines() == [
        "monitoring.persistent_time = 30m (saved to %s)" % os.path.join(daemon.home, "config.json"),
        "Applied to the running daemon (pid %d)." % daemon.proc.pid]
    # No SIGHUP, no restart: the next sample (0.2 s here) is judged with it.
    wait_for(lambda: get_config(ws)["persistent_time"] == "30m0s", 5, what="the new persistent_time")
    ws.close()


def test_dashboard_and_resolve_go_through_the_running_daemon(make_daemon):
    daemon = make_daemon(config={"monitoring": {"update_interval": 0.2, "memory_threshold": 1}})
    wait_for(lambda: daemon.control("dashboard")["dashboard"]["unresolved_alerts"] == 1, 10, what="alert")
    data = json.loads(cli(daemon.home, "--json", check=True).stdout)
    assert data["source"] == "daemon" and data["status"] == "Heavy Load" and data["unresolved_alerts"] == 1
    text = cli(daemon.home, check=True).stdout
    assert "Status: Heavy Load" in text and "(daemon," in text
    alerts = json.loads(cli(daemon.home, "alerts", "--json", check=True).stdout)
    assert alerts[0]["cause"] == "system:memory" and not alerts[0]["resolved"]
    assert cli(daemon.home, "alerts", "resolve", str(alerts[0]["id"]), check=True).stdout == \
        "Resolved alert %d.\n" % alerts[0]["id"]
    result = cli(daemon.home, "alerts", "resolve", "12345")
    assert result.returncode == 1 and result.stderr == "sysmedic: alert 12345 does not exist\n"
    # the cause persists but was acknowledged: no duplicate alert opens while it lasts
    ws = websocket.create_connection(daemon.ws_url(), timeout=10)
    seen = [recv(ws)["type"] for _ in range(5)]  # welcome + 4 updates: at least 3 new samples
    assert seen.count("system_update") == 4 and "alert" not in seen
    ws.close()
    assert json.loads(cli(daemon.home, "alerts", "--json", "--unresolved", check=True).stdout) == []
    assert len(json.loads(cli(daemon.home, "alerts", "--json", check=True).stdout)) == 1


def test_signal_bursts_never_deadlock(make_daemon):
    """Ctrl-C twice, or make and a test both forwarding SIGTERM: handlers must not take locks."""
    daemon = make_daemon()
    for _ in range(3):
        for _ in range(30):
            daemon.proc.send_signal(signal.SIGHUP)
        assert daemon.health()["running"] is True
    wait_for(lambda: daemon.log().count("configuration reloaded") >= 1, 5, what="reloads")
    started = time.monotonic()
    for _ in range(30):
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.proc.send_signal(signal.SIGINT)
    assert daemon.proc.wait(5) == 0 and time.monotonic() - started < 5


def test_status_as_json_for_scripts(make_daemon):
    """Issue 22, item 16: no --json for daemon status and websocket status."""
    daemon = make_daemon()
    result = cli(daemon.home, "daemon", "status", "--json", check=True)
    shown = json.loads(result.stdout)
    assert shown["running"] is True and shown["port"] == daemon.port and shown["listening"] is True
    assert daemon.secret not in result.stdout  # the secret is only in websocket status, as in its text
    shown = json.loads(cli(daemon.home, "websocket", "status", "--json", check=True).stdout)
    assert shown["daemon"] == "running" and shown["listening"] and shown["clients"] == 0
    assert shown["url"] == "sysmedic://%s@%s:%d/" % (daemon.secret, shown["url"].split("@")[1].split(":")[0],
                                                     daemon.port)


def test_a_notifier_runs_a_thread_only_once_it_is_enabled(make_daemon):
    """Issue 22, item 19: `notify:email running` with email.enabled false."""
    daemon = make_daemon()
    assert not [name for name in daemon.health()["threads"] if name.startswith("notify:")]
    cli(daemon.home, "config", "set", "webhook.url", "http://127.0.0.1:9/hook", check=True)
    cli(daemon.home, "config", "set", "webhook.enabled", "true", check=True)
    threads = daemon.health()["threads"]
    assert threads.get("notify:webhook") == "running" and "notify:email" not in threads
