"""Connections in the HTTP phase (not yet a WebSocket client): at most ``limit`` per listener.

Issue 13, Medium 5: 1100 half-open ``GET /health`` requests held ~1000 threads and every file
descriptor, so the sampler failed with EMFILE and ``/health`` itself timed out. Now a listener
serves at most ``max_http_connections`` connections that have not upgraded; when a new one
arrives at the limit, the connection that has waited longest for its request headers is closed
to make room (a probe that sends its request at once is served; a flood only evicts itself).
Only when every slot is busy answering is the newcomer refused with a short 503.

WebSocket clients leave this count when they upgrade: they are bounded by ``max_clients``.
"""

import logging
import socket
import threading
import time
from collections import OrderedDict

log = logging.getLogger("sysmedic.http")
WARN_EVERY = 10.0
_REFUSED = b'{"error":"Too many connections"}\n'
REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
           b"Retry-After: 1\r\nConnection: close\r\n\r\n" % len(_REFUSED)) + _REFUSED


class Admission:
    """
    :param limit: callable returning the current limit (the settings change on reload).
    """

    def __init__(self, limit, monotonic=time.monotonic):
        self._limit = limit
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._waiting = OrderedDict()  # socket -> None, the longest waiting first
        self._busy = set()
        self.evicted = 0
        self.refused = 0
        self._warned = float("-inf")

    def count(self):
        with self._lock:
            return len(self._waiting) + len(self._busy)

    def admit(self, sock):
        """Count ``sock`` in; False when it must be refused (every slot is answering a request)."""
        victim = None
        with self._lock:
            if len(self._waiting) + len(self._busy) >= self._limit():
                if not self._waiting:
                    self.refused += 1
                    self._warn()
                    return False
                victim, _ = self._waiting.popitem(last=False)
                self.evicted += 1
                self._warn()
            self._waiting[sock] = None
        if victim is not None:
            close_reading(victim)  # its handler's recv returns at once and the thread ends
        return True

    def waiting(self, sock):
        """``sock`` waits for request headers (again, on a kept-alive connection)."""
        with self._lock:
            self._busy.discard(sock)
            self._waiting[sock] = None

    def busy(self, sock):
        """``sock``'s headers are in: it is being answered and is not evicted."""
        with self._lock:
            if self._waiting.pop(sock, False) is None:
                self._busy.add(sock)

    def leave(self, sock):
        """``sock`` upgraded to a WebSocket or closed."""
        with self._lock:
            self._waiting.pop(sock, None)
            self._busy.discard(sock)

    def _warn(self):
        now = self._monotonic()
        if now - self._warned >= WARN_EVERY:
            self._warned = now
            log.warning("HTTP connection limit %d reached: %d waiting connections closed, %d refused so far",
                        self._limit(), self.evicted, self.refused)


def close_reading(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def refuse(sock):
    """A short 503 without blocking, then close (no thread is spent on it)."""
    try:
        sock.send(REFUSAL, socket.MSG_DONTWAIT)
    except OSError:
        pass
