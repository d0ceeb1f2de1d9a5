"""Floods from one client cost the daemon bounded memory and delay nobody else (issue 13, High 1).

Before: simple-websocket read a client's socket as fast as it sent and queued every message
without bound (a client sending 64 KiB frames and reading nothing took the daemon from 31 to
922 MiB in 10 s), and every request over the rate limit was answered. Bounds stated here:

- RSS grows by at most FLOOD_RSS_BOUND (10 MB) per flooding client over the flood;
- a bystander client gets every system_update, no gap longer than two intervals plus 1 s;
- a request flood is answered at the rate limit (burst + rate x seconds), plus at most one
  "Rate limit exceeded" a second.
- 1100 half-open HTTP connections (reopened as they drop) against the common 1024 fd limit
  hold at most ``max_http_connections`` (64) threads and sockets; the sampler never fails,
  the bystander keeps its updates, and ``/health`` answers every probe (median under
  HEALTH_MEDIAN; a probe whose SYN the full accept queue dropped may wait for TCP's retries)
  (issue 13, Medium 5).
Floods go to 127.0.0.1 only and stop after FLOOD_SECONDS.
"""

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time

import websocket

from .harness import http_get, wait_for
from .test_hostile import close_code, handshake, read_response_head

FLOOD_SECONDS = 8.0
FLOOD_RSS_BOUND = 10 * 1024 * 1024
INTERVAL = 0.5
# A probe waits in the kernel's accept queue behind the flood's connections; when that queue is
# full its SYN is dropped and retried after 1 s, then 2 s more (measured: median 1 ms, 1 of 31
# probes 4.2 s). Before: /health timed out.
HEALTH_MEDIAN = 0.5
PROBE_TIMEOUT = 5.0
EXITING = 10
FLOODER = os.path.join(os.path.dirname(__file__), "halfopen_flood.py")


class Reader:
    """Reads a websocket-client connection in a thread, handing each message to ``on_message``
    until :meth:`close` or the connection ends."""

    def __init__(self, ws, on_message):
        self.ws = ws
        self._on_message = on_message
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        self.ws.settimeout(1.0)
        while not self._stop.is_set():
            try:
                text = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError):
                return
            if not text:  # closed
                return
            self._on_message(json.loads(text))

    def wait_ended(self, timeout):
        """Wait (at most ``timeout`` s) for the connection to end: every reply sent before the
        server's close has then been read."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.ws.close()


class Bystander(Reader):
    """A well-behaved client: the arrival time of every system_update."""

    def __init__(self, daemon):
        self.arrivals = []
        super().__init__(websocket.create_connection(daemon.ws_url(), timeout=10), self._arrived)

    def _arrived(self, message):
        if message["type"] == "system_update":
            self.arrivals.append(time.monotonic())

    def longest_gap(self, start, end):
        times = [t for t in self.arrivals if start <= t <= end]
        edges = [start] + times + [end]
        return max(b - a for a, b in zip(edges, edges[1:]))


def quiet_daemon(make_daemon):
    daemon = make_daemon(config={"monitoring": {"update_interval": INTERVAL}},
                         websocket={"rate_limit": 20, "rate_burst": 40})
    bystander = Bystander(daemon)
    wait_for(lambda: len(bystander.arrivals) >= 3, 10, what="the bystander's first updates")
    return daemon, bystander


def test_a_client_that_sends_and_never_reads_is_held_back(make_daemon):
    daemon, bystander = quiet_daemon(make_daemon)
    before = daemon.health()["rss_bytes"]
    flooder = socket.socket()
    flooder.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and it never reads
    flooder.connect(("127.0.0.1", daemon.port))
    flooder.sendall(handshake(daemon))
    assert read_response_head(flooder)[0].startswith("HTTP/1.1 101")
    payload = b"a" * 65000  # under max_message_size; a zero mask key leaves it as it is
    frame = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big") + b"\0\0\0\0" + payload
    flooder.setblocking(False)
    sent, pending = 0, memoryview(frame)
    start = time.monotonic()
    while time.monotonic() - start < FLOOD_SECONDS:
        if not select.select([], [flooder], [], 0.1)[1]:
            continue  # TCP pushes back: the daemon stopped reading
        try:
            count = flooder.send(pending)
        except BlockingIOError:
            continue
        except ConnectionError:
            break  # evicted
        sent += count
        pending = pending[count:] or memoryview(frame)  # whole frames only: a valid stream
    end = time.monotonic()
    growth = daemon.health()["rss_bytes"] - before
    flooder.setblocking(True)
    code = close_code(flooder, timeout=10)
    flooder.close()
    assert growth < FLOOD_RSS_BOUND, "RSS grew %.1f MB (%.1f MB sent)" % (growth / 1e6, sent / 1e6)
    assert sent < 64 * 1024 * 1024, "the daemon read %.1f MB" % (sent / 1e6)
    assert code in (1008, None)  # evicted (None: reset while it was still sending)
    wait_for(lambda: daemon.health()["clients"] == 1, 10, what="the flooder gone")
    assert daemon.health()["evicted_clients"] == 1
    assert bystander.longest_gap(start, end) <= 2 * INTERVAL + 1.0
    bystander.close()


def test_a_request_flood_is_answered_at_the_rate_limit(make_daemon):
    daemon, bystander = quiet_daemon(make_daemon)
    before = daemon.health()["rss_bytes"]
    replies = {"pong": 0, "error": 0}

    def count(message):
        if message["type"] in replies:
            replies[message["type"]] += 1
    reader = Reader(websocket.create_connection(daemon.ws_url(), timeout=10), count)
    ws = reader.ws
    request = json.dumps({"type": "ping"})
    sent = 0
    start = time.monotonic()
    while time.monotonic() - start < FLOOD_SECONDS:
        try:
            ws.send(request)
        except (websocket.WebSocketException, OSError):
            break  # evicted
        sent += 1
    end = time.monotonic()
    growth = daemon.health()["rss_bytes"] - before
    assert reader.wait_ended(10), "the flooding client was not closed"  # evicted: every reply in flight is read
    reader.close()
    elapsed = time.monotonic() - start
    assert sent > 1000, sent  # it really was a flood: far past the limit, so it was evicted
    assert daemon.health()["evicted_clients"] == 1
    assert replies["pong"] <= 40 + 20 * elapsed + 5, (replies, sent)
    assert replies["error"] <= elapsed + 2, (replies, sent)
    assert growth < FLOOD_RSS_BOUND, "RSS grew %.1f MB" % (growth / 1e6)
    assert bystander.longest_gap(start, end) <= 2 * INTERVAL + 1.0
    bystander.close()


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def thread_count(pid):
    with open("/proc/%d/status" % pid) as handle:
        return int(next(line for line in handle if line.startswith("Threads:")).split()[1])


def test_half_open_connections_are_capped_and_delay_neither_the_sampler_nor_clients(make_daemon):
    daemon = make_daemon(start=False, config={"monitoring": {"update_interval": INTERVAL}})
    daemon.start(max_fds=1024)
    bystander = Bystander(daemon)
    wait_for(lambda: len(bystander.arrivals) >= 3, 10, what="the bystander's first updates")
    health = daemon.health()
    threads_before, errors_before = thread_count(daemon.proc.pid), health["sampler_errors"]
    fds_before = open_fds(daemon.proc.pid)
    flooder = subprocess.Popen([sys.executable, FLOODER, str(daemon.port), "1100", str(FLOOD_SECONDS)],
                               stdout=subprocess.PIPE)
    probes, threads, fds = [], [], []
    start = time.monotonic()
    while flooder.poll() is None:
        began = time.monotonic()
        try:
            status = http_get(daemon.url("/health"), timeout=PROBE_TIMEOUT)[0]
        except OSError:  # its SYNs dropped while the flood fills the accept queue (retried 1, 3, 7 s)
            status = None
        probes.append((status, time.monotonic() - began if status else float("inf")))
        threads.append(thread_count(daemon.proc.pid))  # from /proc: a probe may wait behind the flood
        fds.append(open_fds(daemon.proc.pid))
    end = time.monotonic()
    stats = json.loads(flooder.stdout.read())
    flooder.stdout.close()
    log = daemon.log()
    assert stats["opened"] >= 1100 and stats["dropped"] > 100, stats  # it was a flood, and was cut
    assert "HTTP connection limit 64 reached" in log and daemon.health()["http_connections_dropped"] > 100
    assert len(probes) >= 5 and all(status in (200, None) for status, _ in probes), probes
    # 64 connections, plus a few evicted ones whose threads are still returning (measured: +3)
    assert max(threads) <= threads_before + 64 + EXITING, (threads_before, max(threads))
    assert max(fds) <= fds_before + 64 + EXITING and max(fds) <= 1024 - 64, (fds_before, max(fds))
    assert daemon.health()["sampler_errors"] == errors_before and "Too many open files" not in log
    assert bystander.longest_gap(start, end) <= 2 * INTERVAL + 1.0
    seconds = sorted(seconds for _, seconds in probes)
    assert seconds[len(seconds) // 2] < HEALTH_MEDIAN, seconds
    bystander.close()
