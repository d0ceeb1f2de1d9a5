"""Server pieces without a daemon: client queues and eviction, log cleaning, header deadline."""

import socket
import threading
import time

import pytest

from sysmedic.server.clients import Broadcaster, Client, Registry, outgoing
from sysmedic.server.http import DeadlineReader, clean_log_text
from sysmedic.server.frames import text_frame
from sysmedic.server.websocket import LockedSocket, SendTimeout


class FakeConn:
    def __init__(self):
        self.wake = threading.Event()


def test_a_full_queue_drops_the_oldest_update_keeps_alerts_and_evicts():
    client = Client(FakeConn(), "peer", limit=3, evict_after=3)
    alert = outgoing('{"type":"alert"}', droppable=False)
    client.offer(alert)
    for index in range(4):
        client.offer(outgoing('{"n":%d}' % index, droppable=True))
    assert client.dropped == 2 and client.kicked is None
    assert [item.text for item in client.take()] == ['{"type":"alert"}', '{"n":2}', '{"n":3}']
    for index in range(3):
        client.offer(outgoing('{"n":%d}' % index, droppable=True))
    for index in range(3):
        client.offer(outgoing('{"m":%d}' % index, droppable=True))
    assert client.kicked == (1008, "client not reading")


def test_registry_reserves_slots_and_counts_evictions():
    registry = Registry(max_clients=2)
    assert registry.reserve() and registry.reserve() and not registry.reserve()
    registry.release()
    a = Client(FakeConn(), "a")
    registry.add(a)
    assert registry.count() == 1 and registry.reserve() is True and registry.reserve() is False
    registry.release()
    a.kick(1008, "client not reading")
    registry.remove(a)
    assert registry.count() == 0 and registry.evicted == 1 and registry.wait_empty(0.1)


def test_broadcaster_encodes_once_for_every_client():
    registry = Registry(10)
    clients = [Client(FakeConn(), str(i)) for i in range(3)]
    for client in clients:
        registry.reserve()
        registry.add(client)
    broadcaster = Broadcaster(registry, clock=lambda: 1737245322)
    broadcaster.publish("system_update", {"cpu_usage": 1.0})
    stop = threading.Event()
    thread = threading.Thread(target=broadcaster.run, args=(stop,))
    thread.start()
    assert all(client.conn.wake.wait(5) for client in clients)
    stop.set()
    broadcaster.close()
    thread.join(5)
    items = [client.take()[0] for client in clients]
    assert items[0] is items[1] is items[2]  # one object: encoded once
    assert items[0].text == '{"type":"system_update","data":{"cpu_usage":1.0},"timestamp":"2025-01-19T00:08:42Z"}'
    assert items[0].frame == text_frame(items[0].text.encode())


@pytest.mark.parametrize("size, header", [(5, b"\x81\x05"), (200, b"\x81\x7e\x00\xc8"),
                                          (70000, b"\x81\x7f" + (70000).to_bytes(8, "big"))])
def test_text_frame_lengths(size, header):
    frame = text_frame(b"a" * size)
    assert frame.startswith(header) and len(frame) == len(header) + size


def test_clean_log_text_redacts_and_escapes():
    line = clean_log_text('"GET /ws?x=1&secret=0123abcd&y=2 HTTP/1.1" 401 -\x1b[2J\r\nforged')
    assert "0123abcd" not in line and "secret=[redacted]&y=2" in line
    assert "\x1b" not in line and "\\x1b[2J\\x0d\\x0aforged" in line
    assert clean_log_text("SECRET=abc") == "SECRET=[redacted]"


@pytest.mark.parametrize("query", ["?%73ecret=S3CR3T", "?sec%72et=S3CR3T", "?x=1&%53ECRET=S3CR3T",
                                   "?secret=S3CR3T&secret=S3CR3T", "?+secret=S3CR3T", "?se%63ret=S3CR3T&y=2"])
def test_the_secret_is_redacted_however_its_key_is_encoded(query):
    """Issue 13, Low 9: parse_qs decodes keys, so these authenticate; the log matched only a
    literal "secret=" and wrote the secret out."""
    line = clean_log_text('"GET /ws%s HTTP/1.1" 101 -' % query)
    assert "S3CR3T" not in line and "[redacted]" in line


def test_deadline_reader_reads_whole_lines_only_and_times_out():
    left, right = socket.socketpair()
    reader = DeadlineReader(left)
    reader.start(5)
    right.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x81\x05hello")
    assert reader.readline(65537) == b"GET / HTTP/1.1\r\n"
    assert reader.readline(65537) == b"Host: x\r\n"
    assert reader.readline(65537) == b"\r\n"
    left.settimeout(1)
    assert left.recv(100) == b"\x81\x05hello"  # bytes after the headers stay in the socket
    reader.start(0.3)
    right.sendall(b"GET /slow")
    started = time.monotonic()
    with pytest.raises(socket.timeout):
        reader.readline(65537)
    assert time.monotonic() - started < 2
    left.close()
    right.close()


def test_locked_socket_sends_everything_or_times_out():
    left, right = socket.socketpair()
    left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    locked = LockedSocket(left, send_timeout=0.5)
    assert locked.send(b"x" * 1000) == 1000 and right.recv(2000) == b"x" * 1000
    with pytest.raises(SendTimeout):
        locked.send(b"y" * 10_000_000)  # nobody reads
    left.close()
    right.close()


class DirectConn(FakeConn):
    """A connection whose socket takes frames while ``accepting`` is True."""

    def __init__(self):
        super().__init__()
        self.accepting = True
        self.sent = []

    def try_send_frame(self, frame):
        if self.accepting:
            self.sent.append(frame)
        return self.accepting


def test_idle_clients_get_frames_directly_and_order_is_kept():
    conn = DirectConn()
    client = Client(conn, "peer", limit=8)
    first = outgoing('{"n":1}', droppable=True)
    client.offer(first)  # its thread has not sent the welcome yet: queued, not direct
    assert conn.sent == [] and [i.text for i in client.take()] == ['{"n":1}']
    client.offer(outgoing('{"n":2}', droppable=True))  # the thread is still sending the batch
    assert conn.sent == []
    assert [i.text for i in client.take()] == ['{"n":2}'] and client.take() == []  # now idle
    third = outgoing('{"n":3}', droppable=True)
    client.offer(third)
    assert conn.sent == [third.frame] and client.direct == 1
    conn.accepting = False  # socket buffer full: falls back to the queue, in order
    client.offer(outgoing('{"n":4}', droppable=True))
    conn.accepting = True
    client.offer(outgoing('{"n":5}', droppable=True))  # queue not empty: must queue behind n=4
    assert [i.text for i in client.take()] == ['{"n":4}', '{"n":5}'] and client.direct == 1
    client.take()
    client.kick(1001, "bye")
    client.offer(outgoing('{"n":6}', droppable=True))  # a kicked client gets nothing more directly
    assert client.direct == 1


def test_the_websocket_stack_loads_only_when_a_client_upgrades():
    """An idle daemon saves ~4.6 MB of RSS (BENCHMARKS.md, overhead) by not importing these."""
    import subprocess
    import sys
    code = ("import sys, sysmedic.daemon.app, sysmedic.cli, sysmedic.server.http; "
            "print(sorted(m for m in ('simple_websocket', 'wsproto', 'h11') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


# -- HTTP-phase admission (issue 13, Medium 5) ----------------------------------------------------

def test_admission_evicts_the_longest_waiting_connection_and_refuses_only_when_all_are_busy():
    from sysmedic.server.admission import Admission
    pairs = [socket.socketpair() for _ in range(4)]
    try:
        ours = [a for a, _ in pairs]
        admission = Admission(lambda: 2)
        assert admission.admit(ours[0]) and admission.admit(ours[1])
        admission.busy(ours[1])  # answering: never evicted
        assert admission.admit(ours[2])  # at the limit: ours[0] waited longest and is closed
        assert pairs[0][0].recv(1) == b"" and admission.evicted == 1 and admission.count() == 2
        admission.busy(ours[2])
        assert not admission.admit(ours[3]) and admission.refused == 1  # every slot is answering
        admission.busy(ours[0])  # an evicted socket's handler does not come back as busy
        admission.leave(ours[1])
        assert admission.count() == 1 and admission.admit(ours[3])
    finally:
        for a, b in pairs:
            a.close()
            b.close()


# -- keepalive (issue 13, Low 8) ---------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_keepalive_pings_each_interval_and_closes_a_client_that_does_not_answer():
    from sysmedic.server.frames import Keepalive
    clock = Clock()
    keepalive = Keepalive(25, clock)
    assert keepalive.wait() == 25 and keepalive.check(lambda: False) is None
    clock.now += 25
    assert keepalive.check(lambda: False) == "ping" and keepalive.wait() == 25
    clock.now += 25.5  # answered in time: the next ping
    assert keepalive.check(lambda: True) == "ping"
    clock.now += 25
    assert keepalive.check(lambda: False) == "timeout"


def test_keepalive_gives_a_fresh_interval_after_the_process_was_stopped():
    """SIGSTOP for 55 s with pings every 25 s: the answer may be waiting unread, so no verdict."""
    from sysmedic.server.frames import Keepalive
    clock = Clock()
    keepalive = Keepalive(25, clock)
    clock.now += 25
    assert keepalive.check(lambda: False) == "ping"
    clock.now += 55  # stopped: the check comes 30 s late
    assert keepalive.check(lambda: False) is None and keepalive.wait() == 25
    clock.now += 25  # by now the reader has read the pong
    assert keepalive.check(lambda: True) == "ping"


def test_refused_requests_are_logged_at_a_bounded_rate(caplog):
    """Issue 21: 80 refused requests with 60 KB paths rotated the whole log away in a second."""
    import logging
    from sysmedic.server.http import RefusalLog
    now = [0.0]
    refusals = RefusalLog(limit=3, period=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="sysmedic.http"):
        assert [refusals.allow() for _ in range(10)] == [True] * 3 + [False] * 7
        now[0] = 61.0
        assert refusals.allow()
    assert "7 more refused requests were not logged in the last 60s" in caplog.text
    line = clean_log_text('"GET /' + "a" * 60000 + ' HTTP/1.1" 404 -')
    assert len(line) <= 400
