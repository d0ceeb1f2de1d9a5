"""Hostile input and faults: malformed HTTP and WebSocket traffic, floods, crashes mid-write."""

import json
import os
import random
import re
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time

import pytest
import websocket

from ..conftest import ROOT
from .harness import Daemon, cli, free_port, http_get, raw_get, wait_for, write_config
from .test_robustness import handshake, read_response_head


def send_raw(daemon, data, read=65536):
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        sock.sendall(data)
        try:
            return sock.recv(read)
        except (ConnectionResetError, socket.timeout):
            return b""


def status_of(reply):
    return int(reply.split()[1]) if reply.startswith(b"HTTP/") else None


def rejected(reply, codes=(400,)):
    """The server refused: nothing, a status line with one of ``codes``, or http.server's
    HTTP/0.9-style error page (no status line) for a request line it cannot parse."""
    if reply == b"" or status_of(reply) in codes:
        return True
    match = re.search(rb"Error code: (\d+)", reply)
    return bool(match) and int(match.group(1)) in codes


def still_healthy(daemon):
    started = time.monotonic()
    assert http_get(daemon.url("/health"), timeout=2)[0] == 200
    assert time.monotonic() - started < 1.0


# -- HTTP ------------------------------------------------------------------------------------------

def test_oversized_request_line_and_headers(daemon):
    assert status_of(send_raw(daemon, b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n")) == 414
    assert status_of(send_raw(daemon, b"GET /health HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n")) == 431
    many = b"".join(b"X-%d: y\r\n" % i for i in range(150))
    assert status_of(send_raw(daemon, b"GET /health HTTP/1.1\r\n" + many + b"\r\n")) == 431
    still_healthy(daemon)


def test_a_refusal_ends_cleanly_for_a_client_that_is_still_sending(daemon):
    """431 to a client still sending its oversized header, then a clean end: the close lingers
    over the bytes the server never read instead of resetting the connection (RFC 9112 9.6: a
    reset can destroy the answer before the client reads it; here it turned the end into
    ECONNRESET)."""
    import threading
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as sock:
        def keep_sending():
            try:
                sock.sendall(b"GET /health HTTP/1.1\r\nX: " + b"a" * 100000)
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        sender = threading.Thread(target=keep_sending)
        sender.start()
        reply = b""
        while True:
            chunk = sock.recv(4096)  # a reset here (ConnectionResetError) fails the test
            if not chunk:
                break
            reply += chunk
        sender.join(10)
    assert status_of(reply) == 431 and reply.endswith(b"}")
    still_healthy(daemon)


def test_tls_handshake_bytes_on_the_plain_port(daemon):
    hello = bytes.fromhex("16030100c8010000c40303") + os.urandom(32) + b"\x00" * 160
    assert rejected(send_raw(daemon, hello))
    still_healthy(daemon)


def test_post_to_ws_and_path_tricks(daemon):
    secret = daemon.secret
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        sock.sendall(b"POST /ws?secret=" + secret.encode() + b" HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
        assert status_of(sock.recv(4096)) == 405
    for path in ("/health/", "/HEALTH", "/health%00", "/./health", "/ws/../health", "/%2e%2e/health", "/health;x"):
        assert raw_get(daemon.port, path)[0] == 404, path
    # Newer CPython's http.server collapses leading slashes (CVE-2021-28861): then it is /health.
    assert raw_get(daemon.port, "//health")[0] in (200, 404)
    status, _, body = raw_get(daemon.port, "/health?secret=" + secret)
    assert status == 200 and secret.encode() not in body
    still_healthy(daemon)


def test_garbage_request_lines(daemon):
    for junk in (b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"\r\n\r\n\r\n",
                 b"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", "GËT / HTTP/1.1\r\n\r\n".encode()):
        assert rejected(send_raw(daemon, junk), (400, 404, 405, 505)), junk
    still_healthy(daemon)
    assert "Traceback" not in daemon.log()


# -- WebSocket frames --------------------------------------------------------------------------------

def masked(opcode, payload, fin=True, declared=None):
    size = len(payload) if declared is None else declared
    first = (0x80 if fin else 0) | opcode
    if size < 126:
        header = struct.pack("!BB", first, 0x80 | size)
    elif size < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, size)
    mask = os.urandom(4)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def upgraded(daemon):
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    sock.sendall(handshake(daemon))
    head, rest = read_response_head(sock)
    assert head.startswith("HTTP/1.1 101")
    return sock


def close_code(sock, timeout=10):
    """Read server frames until a close frame; its code (None if the socket just closed)."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return None
        if not chunk:
            return None
        data += chunk
        while len(data) >= 2:
            size, offset = data[1] & 0x7F, 2
            if size == 126:
                if len(data) < 4:
                    break
                size, offset = struct.unpack("!H", data[2:4])[0], 4
            elif size == 127:
                if len(data) < 10:
                    break
                size, offset = struct.unpack("!Q", data[2:10])[0], 10
            if len(data) < offset + size:
                break
            if data[0] & 0x0F == 0x8:
                return struct.unpack("!H", data[offset:offset + 2])[0] if size >= 2 else None
            data = data[offset + size:]
    return None


def test_oversize_in_fragments_and_a_huge_declared_length_close_1009(daemon):
    sock = upgraded(daemon)
    sock.sendall(masked(0x1, b"a" * 4096, fin=False))
    for _ in range(20):  # 21 x 4 KiB continuation frames: 84 KiB > 64 KiB, never finished
        sock.sendall(masked(0x0, b"a" * 4096, fin=False))
    assert close_code(sock) == 1009
    sock.close()
    sock = upgraded(daemon)
    frame = masked(0x1, b"a" * 70000, declared=1 << 62)  # claims 4 EiB; 70 KiB follow
    try:
        sock.sendall(frame)
    except OSError:
        pass
    assert close_code(sock) == 1009
    sock.close()
    wait_for(lambda: daemon.health()["clients"] == 0, 5, what="clients released")
    still_healthy(daemon)


def test_invalid_utf8_text_is_closed_with_1007(daemon):
    sock = upgraded(daemon)
    sock.sendall(masked(0x1, b'{"type": "ping", "x": "\xff\xfe"}'))
    assert close_code(sock) == 1007
    sock.close()


def test_ping_flood_is_answered_and_bounded(daemon):
    ws = websocket.create_connection(daemon.ws_url(), timeout=10)
    for _ in range(5000):
        ws.ping(b"x" * 100)
    ws.send(json.dumps({"type": "ping", "request_id": "after-flood"}))
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_TEXT and b"after-flood" in data:
            break
    still_healthy(daemon)
    assert daemon.health()["rss_bytes"] < 200 * 1024 * 1024
    ws.close()


# -- files and processes -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, text, message", [
    ("config.json", "", "empty file"),
    ("config.json", "[]", "must contain a JSON object"),
    ("config.json", '{"monitoring": {"cpu_threshold": "high"}}', "monitoring.cpu_threshold: 'high' is not a number"),
    ("config.json", "\x00\x01garbage", "invalid JSON"),
    ("websocket.json", '{"port": "eighty"}', "port: 'eighty' is not a number"),
    ("websocket.json", "[8060]", "must be a JSON object"),
    ("websocket.json", '{"port": 8060, "enabled": "maybe"}', "enabled: 'maybe' is not true or false"),
])
def test_broken_files_stop_the_start_with_one_line_and_are_kept(tmp_path, name, text, message):
    home = str(tmp_path / "home")
    write_config(home, websocket={"port": free_port(), "host": "127.0.0.1"})
    with open(os.path.join(home, name), "w") as handle:
        handle.write(text)
    result = cli(home, "daemon", "start")
    assert result.returncode == 1 and message in result.stderr and result.stderr.count("\n") == 1
    with open(os.path.join(home, name)) as handle:
        assert handle.read() == text


KEEP_SETTING = r"""
import sys
from sysmedic import config
home = sys.argv[1]
value = 10
while True:
    value = value % 90 + 10
    config.set_option(home, "cpu_threshold", str(value))
    print(value, flush=True)
"""


def test_kill_9_during_config_writes_never_leaves_a_broken_file(tmp_path):
    home = str(tmp_path / "home")
    os.makedirs(home)
    env = dict(os.environ, PYTHONPATH=ROOT)
    for _ in range(15):
        writer = subprocess.Popen([sys.executable, "-c", KEEP_SETTING, home], env=env, stdout=subprocess.PIPE)
        writer.stdout.readline()  # it is writing in a loop now
        time.sleep(random.uniform(0, 0.05))  # a random moment to crash at, not synchronisation
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        with open(os.path.join(home, "config.json")) as handle:
            threshold = json.load(handle)["monitoring"]["cpu_threshold"]
        assert 10 <= threshold <= 99
    from sysmedic.config import load_config
    assert load_config(home).monitoring.cpu_threshold == threshold


KEEP_ALERTING = r"""
import sys
from sysmedic.analysis.alerts import Condition
from sysmedic.storage import Storage
storage = Storage(sys.argv[1])
n = 0
while True:
    n += 1
    record, created = storage.open_alert(Condition("test:%d" % n, "warning", "alert %d" % n, ("u",)), "Heavy Load")
    print(record.id, flush=True)
"""


def test_kill_9_during_alert_inserts_loses_no_committed_alert(tmp_path):
    path = str(tmp_path / "sysmedic.db")
    env = dict(os.environ, PYTHONPATH=ROOT)
    acknowledged = 0
    for _ in range(10):
        writer = subprocess.Popen([sys.executable, "-c", KEEP_ALERTING, path], env=env, stdout=subprocess.PIPE)
        first = writer.stdout.readline()
        assert first
        time.sleep(random.uniform(0, 0.05))  # a random moment to crash at, not synchronisation
        writer.send_signal(signal.SIGKILL)
        out = first + writer.stdout.read()
        writer.wait()
        acknowledged = max([acknowledged] + [int(line) for line in out.split()])
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ids = {row[0] for row in db.execute("SELECT id FROM alerts")}
    assert acknowledged in ids and max(ids) >= acknowledged  # every insert reported done is there


def test_two_starts_at_once_run_one_daemon(tmp_path):
    home = str(tmp_path / "home")
    write_config(home, Daemon.FAST, {"port": free_port(), "host": "127.0.0.1"})
    env = dict(os.environ, SYSMEDIC_HOME=home, PYTHONPATH=ROOT)
    starts = [subprocess.Popen([sys.executable, "-m", "sysmedic", "daemon", "start"], env=env, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [(p.wait(60), p.stdout.read(), p.stderr.read()) for p in starts]
    try:
        assert all(code == 0 for code, _, _ in results), results
        assert sum("daemon started" in out for _, out, _ in results) == 1
        assert sum("already running" in out for _, out, _ in results) == 3
        with open(os.path.join(home, "sysmedic.pid")) as handle:
            pid = int(handle.read())
        running = [p for p in os.listdir("/proc") if p.isdigit() and _is_daemon_for(int(p), home)]
        assert running == [str(pid)]
    finally:
        cli(home, "daemon", "stop")


def _is_daemon_for(pid, home):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            cmdline = handle.read()
        with open("/proc/%d/environ" % pid, "rb") as handle:
            environ = handle.read()
    except OSError:
        return False
    return b"daemon\x00run" in cmdline and ("SYSMEDIC_HOME=%s\x00" % home).encode() in environ


def test_permissions_whatever_the_umask(tmp_path):
    home = str(tmp_path / "home")
    old = os.umask(0)
    try:
        write_config(home, None, {"port": free_port(), "host": "127.0.0.1"})
        os.chmod(home, 0o755)  # readable by others: tightened (writable by others: refused, below)
        assert cli(home, "config", "set", "cpu_threshold", "85").returncode == 0
        assert cli(home, "daemon", "start").returncode == 0
        try:
            assert oct(os.stat(home).st_mode & 0o777) == "0o700"
            for name in os.listdir(home):
                assert oct(os.stat(os.path.join(home, name)).st_mode & 0o777) == "0o600", name
        finally:
            cli(home, "daemon", "stop")
    finally:
        os.umask(old)


def test_infinity_in_a_config_file_is_one_line_and_a_reload_keeps_running(daemon):
    """Issue 13, Medium 4: {"cpu_threshold": 1e400} plus SIGHUP: OverflowError traceback and the
    daemon exited (a restart loop under systemd); the CLI printed tracebacks."""
    with open(os.path.join(daemon.home, "config.json"), "w") as handle:
        handle.write('{"monitoring": {"cpu_threshold": 1e400}}')
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in daemon.log(), 10, what="the reload to fail")
    assert "monitoring.cpu_threshold: inf is not a finite number" in daemon.log()
    assert daemon.proc.poll() is None and daemon.health()["running"] is True
    shown = cli(daemon.home, "config", "show")
    assert shown.returncode == 1 and shown.stderr.count("\n") == 1
    assert "config.json: monitoring.cpu_threshold: inf is not a finite number" in shown.stderr
    with open(os.path.join(daemon.home, "websocket.json"), "w") as handle:
        handle.write('{"port": 1e400}')
    for args in (["websocket", "start"], ["websocket", "stop"], ["config", "set", "memory_threshold", "70"]):
        result = cli(daemon.home, *args)
        assert result.returncode == 1 and "Traceback" not in result.stderr, args
        assert result.stderr.count("\n") == 1 and "is not a finite number" in result.stderr, args
    assert "Traceback" not in daemon.log()


def test_an_encoded_secret_key_never_reaches_the_log(daemon):
    """Issue 13, Low 9: ?%73ecret=S and ?sec%72et=S authenticate (the query is decoded) and the
    log redaction, which matched only a literal "secret=", wrote S out."""
    secret = daemon.secret
    for key in ("%73ecret", "sec%72et"):
        ws = websocket.create_connection("ws://127.0.0.1:%d/ws?%s=%s" % (daemon.port, key, secret), timeout=10)
        assert json.loads(ws.recv())["type"] == "welcome"
        ws.close()
    wait_for(lambda: daemon.log().count(" 101 ") >= 2, 10, what="both upgrades logged")
    assert secret not in daemon.log() and "%73ecret=[redacted]" in daemon.log()


def read_until_closed(sock, timeout=10):
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


@pytest.mark.parametrize("body_headers, body", [
    (b"Content-Length: 38\r\n", b"GET /nothere HTTP/1.1\r\nHost: x\r\n\r\n\r\n\r\n"),
    (b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\nGET /nothere HTTP/1.1\r\nHost: x\r\n\r\n"),
])
def test_a_request_body_is_never_served_as_the_next_request(daemon, body_headers, body):
    """Issue 13, Low 10: the body's bytes were read as a second request (smuggling)."""
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + body_headers + b"\r\n" + body)
        replies = read_until_closed(sock)
    assert replies.count(b"HTTP/1.1 ") == 1 and replies.startswith(b"HTTP/1.1 200"), replies[:300]
    assert b"Connection: close" in replies and b"404" not in replies.split(b"\r\n")[0]
    still_healthy(daemon)


@pytest.mark.parametrize("line", [b"(bad): 1", b"Bad Name: x", b"X\x01Y: z", b": empty", b"X-A: b\x00c",
                                  b" folded-onto-the-last-header"])
def test_an_invalid_header_gets_a_400_even_with_a_valid_secret(daemon, line):
    """Issue 13, Low 14: the library refused the upgrade and nothing at all was answered; a line
    that is not a header also hid every header after it."""
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        sock.sendall(handshake(daemon)[:-2] + line + b"\r\n\r\n")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 400 ")
    assert daemon.health()["clients"] == 0
    still_healthy(daemon)


def test_a_kept_alive_connection_is_closed_after_its_lifetime(make_daemon):
    """Issue 13, Medium 5: a /health every 8 s (under the 10 s header deadline) kept a connection
    and its thread forever. ``http_lifetime`` bounds the connection's whole life."""
    daemon = make_daemon(websocket={"http_lifetime": 3})
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as sock:
        opened = time.monotonic()
        answered = 0
        while True:
            try:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                head = sock.recv(65536)
            except OSError:
                break
            if not head:
                break
            answered += 1
            assert time.monotonic() - opened < 3 + 2, "still open"
            time.sleep(0.5)  # a probe's pace, not synchronisation
    assert answered >= 3 and 3 <= time.monotonic() - opened < 3 + 2


def one_line(result, status=1):
    return result.returncode == status and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["sysmedic.pid", "sysmedic.log", "control.sock"])
def test_a_directory_in_place_of_a_home_file_is_one_line(tmp_path, name):
    """Issue 13, Low 11: a traceback from `daemon run` and from `daemon start`."""
    home = str(tmp_path / "home")
    write_config(home, None, {"port": free_port(), "host": "127.0.0.1"})
    os.mkdir(os.path.join(home, name))
    for args in (("daemon", "run", "--log-file"), ("daemon", "start")):
        result = cli(home, *args)
        assert one_line(result) and name in result.stderr and "is a directory" in result.stderr, result.stderr


def test_huge_counts_and_ids_are_one_line(daemon):
    """Issue 13, Low 11: --limit/--top past SQLite's integers, and `alerts resolve <huge id>`
    answered "the daemon closed the control connection"."""
    huge = "99999999999999999999999"
    for args in (("alerts", "--limit=" + huge), ("reports", "users", "--top=" + huge)):
        result = cli(daemon.home, *args)
        assert one_line(result, 2) and "too large" in result.stderr, result.stderr  # a usage error (issue 22)
    result = cli(daemon.home, "alerts", "resolve", huge)
    assert one_line(result) and "alert %s does not exist" % huge in result.stderr, result.stderr
    with pytest.raises(Exception, match="alert %s does not exist" % huge):
        daemon.control("resolve", id=int(huge))
    assert "Traceback" not in daemon.log()


def test_a_start_that_fails_reports_the_daemons_reason_not_a_stale_socket(tmp_path):
    """Issue 13, Low 16: 1 start in 30 printed "cannot talk to the daemon: Connection reset by
    peer" instead of the daemon's own error. Here a stale control.sock that accepts and hangs
    up is left in the home while the daemon fails on a taken port."""
    home = str(tmp_path / "home")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    write_config(home, None, {"port": taken.getsockname()[1], "host": "127.0.0.1"})
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(os.path.join(home, "control.sock"))
    stale.listen(16)
    stale.settimeout(0.2)
    hangups = []

    def hang_up():
        while True:
            try:
                conn, _ = stale.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            hangups.append(1)
            conn.close()
    import threading
    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        for _ in range(3):
            result = cli(home, "daemon", "start")
            assert result.returncode == 1 and result.stderr == "sysmedic: daemon failed to start: port %d is " \
                "already in use\n" % taken.getsockname()[1], result.stderr
    finally:
        stale.close()
        taken.close()
        thread.join(5)
    assert hangups  # the stale socket was really asked


def test_a_home_deleted_under_the_daemon_degrades_health_and_is_logged_once(make_daemon):
    """Issue 13, Low 12: the daemon went on writing an unlinked database, /health said healthy
    and the CLI said stopped."""
    import shutil
    daemon = make_daemon()
    shutil.rmtree(daemon.home)
    daemon.wait_healthy(status=503)
    problems = daemon.health(status=503)["problems"]
    assert any("sysmedic.pid is gone (was the home deleted?)" in p for p in problems), problems
    wait_for(lambda: "is gone" in daemon.log(), 5, what="the log line")
    seen = daemon.health(status=503)["uptime_seconds"]
    wait_for(lambda: daemon.health(status=503)["uptime_seconds"] > seen + 1, 10, what="more samples")
    assert daemon.log().count("is gone") == 1 and "kill %d" % daemon.proc.pid in daemon.log()
