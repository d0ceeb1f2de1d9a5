"""Each simple-websocket / http.server pitfall of docs/architecture.md, with a test that fails
without its fix."""

import base64
import json
import os
import resource
import signal
import socket
import struct
import time

import websocket

from .harness import http_get, wait_for

KEY = base64.b64encode(os.urandom(16)).decode()


def handshake(daemon, extra_headers="", version="HTTP/1.1"):
    return ("GET /ws?secret=%s %s\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
            % (daemon.secret, version, KEY, extra_headers)).encode()


def masked_text(payload):
    mask = os.urandom(4)
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    size = len(payload)
    header = struct.pack("!BB", 0x81, 0x80 | size) if size < 126 else struct.pack("!BBH", 0x81, 0x80 | 126, size)
    return header + mask + data


def read_response_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.decode(), rest


def read_frames(sock, buffered, count, timeout=5):
    """Parse ``count`` unmasked server frames -> [(opcode, payload)]."""
    sock.settimeout(timeout)
    data, frames = buffered, []
    while len(frames) < count:
        while True:
            if len(data) >= 2:
                size, offset = data[1] & 0x7F, 2
                if size == 126 and len(data) >= 4:
                    size, offset = struct.unpack("!H", data[2:4])[0], 4
                elif size == 127 and len(data) >= 10:
                    size, offset = struct.unpack("!Q", data[2:10])[0], 10
                if size < 126 or offset > 2:
                    if len(data) >= offset + size:
                        frames.append((data[0] & 0x0F, data[offset:offset + size]))
                        data = data[offset + size:]
                        break
            chunk = sock.recv(65536)
            assert chunk, "connection closed after %d frames" % len(frames)
            data += chunk
    return frames


def test_bytes_sent_with_the_handshake_are_not_lost(daemon):
    """rbufsize = 0 and a header reader that never reads past the headers."""
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        sock.sendall(handshake(daemon) + masked_text(b'{"type":"ping","request_id":"early"}'))
        head, rest = read_response_head(sock)
        assert head.startswith("HTTP/1.1 101")
        messages = [json.loads(p) for _, p in read_frames(sock, rest, 3)]
        assert [m["type"] for m in messages][:2] == ["welcome", "system_update"]
        assert any(m.get("request_id") == "early" and m["type"] == "pong" for m in messages)


def test_compression_is_not_negotiated_unless_configured(make_daemon):
    offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    for compression, expected in ((False, False), (True, True)):
        daemon = make_daemon(websocket={"compression": compression})
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
            sock.sendall(handshake(daemon, offer))
            head, _ = read_response_head(sock)
        assert head.startswith("HTTP/1.1 101")
        assert ("permessage-deflate" in head.lower()) is expected, head
    ws = websocket.create_connection(daemon.ws_url(), timeout=10,
                                     header=["Sec-WebSocket-Extensions: permessage-deflate"])
    ws.close()


def test_oversized_message_is_closed_with_1009_and_logged(daemon):
    ws = websocket.create_connection(daemon.ws_url(), timeout=10)
    ws.recv()
    ws.send("x" * (64 * 1024 + 1))
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
    assert int.from_bytes(data[:2], "big") == 1009
    wait_for(lambda: "WebSocket closed (1009)" in daemon.log(), 5, what="1009 in the log")
    wait_for(lambda: daemon.health()["clients"] == 0, 5, what="client removed")


def test_replies_and_broadcasts_never_corrupt_each_other(make_daemon):
    """One writer per socket: a burst of requests while updates stream at 5 Hz (the floor) and
    pings every second."""
    daemon = make_daemon(config={"monitoring": {"update_interval": 0.2}},
                         websocket={"rate_limit": 100000, "rate_burst": 100000, "ping_interval": 1})
    ws = websocket.create_connection(daemon.ws_url(), timeout=10)
    replies, updates, sent = set(), 0, 0
    while sent < 2000 or len(replies) < sent or updates < 10:
        if sent < 2000 and len(replies) == sent:  # batches of 50, until 10 updates went by too
            for index in range(sent, sent + 50):
                ws.send(json.dumps({"type": "get_system_info", "request_id": str(index)}))
            sent += 50
        message = json.loads(ws.recv())  # a corrupted frame or interleaved bytes would raise here
        if message.get("request_id") is not None:
            replies.add(message["request_id"])
        elif message["type"] == "system_update":
            updates += 1
    assert replies == {str(i) for i in range(sent)} and updates >= 10
    ws.close()


def test_a_stalled_client_is_evicted_and_delays_nobody(make_daemon):
    daemon = make_daemon(config={"monitoring": {"update_interval": 0.2}},
                         websocket={"send_buffer": 4096, "send_timeout": 1, "queue_limit": 4, "evict_after": 3})
    stalled = websocket.create_connection(daemon.ws_url(), timeout=10,
                                          sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    reader = websocket.create_connection(daemon.ws_url(), timeout=10)
    reader.recv()
    gaps, last = [], time.monotonic()
    deadline = time.monotonic() + 20
    while daemon.health()["evicted_clients"] == 0:
        assert time.monotonic() < deadline, "stalled client never evicted"
        for _ in range(10):
            if json.loads(reader.recv())["type"] == "system_update":
                now = time.monotonic()
                gaps.append(now - last)
                last = now
    wait_for(lambda: daemon.health()["clients"] == 1, 5, what="stalled client removed")
    for _ in range(20):  # still on time after the eviction
        if json.loads(reader.recv())["type"] == "system_update":
            now = time.monotonic()
            gaps.append(now - last)
            last = now
    assert len(gaps) > 25
    assert max(gaps[1:]) < 1.0, max(gaps[1:])  # 200 ms updates: nothing stalled the reader
    stalled.sock.close()
    reader.close()


def test_slow_headers_are_dropped_within_the_deadline_and_health_stays_fast(make_daemon):
    daemon = make_daemon(websocket={"header_timeout": 1})
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as slow:
        slow.sendall(b"GET /health HTTP/1.1\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 5:
            try:
                slow.sendall(b"X")  # a byte per 0.2 s: each recv alone would never time out
                if slow.recv(1, socket.MSG_DONTWAIT) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed = True
                break
            t0 = time.monotonic()
            assert http_get(daemon.url("/health"), timeout=2)[0] == 200
            assert time.monotonic() - t0 < 0.5
            time.sleep(0.2)  # the trickle's pace, not synchronisation
        assert closed and time.monotonic() - started < 2.5


def test_access_log_redacts_the_secret_and_escapes_control_characters(daemon):
    secret = daemon.secret
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        sock.sendall(("GET /ws?secret=%s&x=\x1b[31mred HTTP/1.1\r\nHost: x\r\n\r\n" % secret).encode())
        assert read_response_head(sock)[0].startswith("HTTP/1.1 426")
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        sock.sendall(("GARBAGE /ws?secret=%s\r\n\r\n" % secret).encode())  # logged by log_error
        sock.recv(4096)
    wait_for(lambda: daemon.log().count("secret=[redacted]") >= 2, 5, what="redacted log lines")
    log = daemon.log()
    assert secret not in log and "\x1b" not in log and "\\x1b[31mred" in log


def test_a_burst_of_connections_is_served_without_stalls(make_daemon):
    daemon = make_daemon(websocket={"max_http_connections": 128})  # room for the whole burst
    socks = [socket.create_connection(("127.0.0.1", daemon.port), timeout=5) for _ in range(100)]
    started = time.monotonic()
    assert http_get(daemon.url("/health"), timeout=5)[0] == 200
    assert time.monotonic() - started < 1.0  # the default backlog of 5 adds 1 s stalls
    for sock in socks:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    for sock in socks:
        assert sock.recv(12).startswith(b"HTTP/1.1 200")
        sock.close()


def test_server_pings_keep_idle_connections_alive(make_daemon):
    daemon = make_daemon(config={"monitoring": {"update_interval": 60}}, websocket={"ping_interval": 1})
    ws = websocket.create_connection(daemon.ws_url(), timeout=5)
    opcodes = set()
    while websocket.ABNF.OPCODE_PING not in opcodes:
        opcode, _ = ws.recv_data(control_frame=True)  # websocket-client answers with a pong
        opcodes.add(opcode)
    ws.close()


def test_a_pause_longer_than_the_ping_interval_closes_nobody(make_daemon):
    """Issue 13, Low 8: SIGSTOP past the ping interval, then SIGCONT, closed every client with
    1008 "Ping/Pong timeout" although each had answered every ping."""
    daemon = make_daemon(config={"monitoring": {"update_interval": 60}}, websocket={"ping_interval": 1})
    clients = [websocket.create_connection(daemon.ws_url(), timeout=10) for _ in range(3)]

    def next_ping(ws):
        while True:
            opcode, data = ws.recv_data(control_frame=True)  # websocket-client answers pings
            assert opcode != websocket.ABNF.OPCODE_CLOSE, data
            if opcode == websocket.ABNF.OPCODE_PING:
                return
    for ws in clients:
        next_ping(ws)
    os.kill(daemon.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(4.0)  # the pause under test: four ping intervals
    finally:
        os.kill(daemon.proc.pid, signal.SIGCONT)
    for _ in range(3):  # three more pings each, answered, and nobody is closed
        for ws in clients:
            next_ping(ws)
    assert daemon.health()["clients"] == 3 and "1008" not in daemon.log()
    for ws in clients:
        ws.close()


def test_a_client_that_never_answers_pings_is_closed_with_1008(make_daemon):
    daemon = make_daemon(config={"monitoring": {"update_interval": 60}}, websocket={"ping_interval": 1})
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    sock.sendall(handshake(daemon))
    assert read_response_head(sock)[0].startswith("HTTP/1.1 101")
    started = time.monotonic()
    data = b""
    while b"\x88" not in data:  # a close frame, after pings (0x89) this client never answers
        chunk = sock.recv(4096)
        assert chunk, "closed without a close frame"
        data += chunk
    assert b"\x89\x00" in data and 1.5 < time.monotonic() - started < 6
    assert int.from_bytes(data[data.index(b"\x88") + 2:data.index(b"\x88") + 4], "big") == 1008
    sock.close()
    wait_for(lambda: "WebSocket closed (1008)" in daemon.log(), 5, what="1008 in the log")


def test_abrupt_disconnects_mid_frame_return_clients_and_threads_to_baseline(daemon):
    baseline = daemon.health()["thread_count"]
    for _ in range(10):
        sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
        sock.sendall(handshake(daemon))
        read_response_head(sock)
        sock.sendall(b"\x81\xfe\x10")  # the first bytes of a 4 KiB frame, then gone
        sock.close()
    wait_for(lambda: daemon.health()["clients"] == 0, 5, what="clients back to 0")
    wait_for(lambda: daemon.health()["thread_count"] <= baseline, 5, what="threads back to baseline")


def test_http_10_upgrade_is_refused(daemon):
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        sock.sendall(handshake(daemon, version="HTTP/1.0"))
        assert read_response_head(sock)[0].split()[1] == "400"


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_fd_exhaustion_backs_off_instead_of_spinning_and_recovers(daemon):
    """Connections alone cannot exhaust fds any more (max_http_connections and a reserve, see
    test_flood.py), so the limit is cut under the running daemon to just above what it holds."""
    held = len(os.listdir("/proc/%d/fd" % daemon.proc.pid))
    soft, hard = resource.prlimit(daemon.proc.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(daemon.proc.pid, resource.RLIMIT_NOFILE, (held + 2, hard))
    hogs = [socket.create_connection(("127.0.0.1", daemon.port), timeout=5)  # each holds a daemon fd
            for _ in range(8)]
    wait_for(lambda: "backing off" in daemon.log(), 10, what="EMFILE back-off in the log")
    before = cpu_seconds(daemon.proc.pid)
    time.sleep(1.0)  # the measuring window itself
    used = cpu_seconds(daemon.proc.pid) - before
    assert used < 0.3, "daemon used %.2f s of CPU in 1 s while out of fds" % used
    assert daemon.log().count("backing off") == 1  # rate-limited warning
    for sock in hogs:
        sock.close()
    resource.prlimit(daemon.proc.pid, resource.RLIMIT_NOFILE, (soft, hard))
    wait_for(lambda: http_get(daemon.url("/health"), timeout=2)[0] == 200, 15, what="recovery")
