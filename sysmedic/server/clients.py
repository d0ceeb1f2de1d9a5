"""Connected clients, their bounded outgoing queues, and the broadcaster (docs/architecture.md,
"Threads and data flow").

The broadcaster encodes each message once and offers it to every client without blocking.
When a client is idle (empty queue, its thread not sending, its socket free) the broadcaster
writes the pre-encoded frame itself with a non-blocking send: no thread wake-up per client per
message, which dominated the cost at hundreds of clients (BENCHMARKS.md, fan-out). Otherwise
the message goes to the client's queue, served by the client's own thread: the queue holds at
most ``limit`` messages; when full the oldest ``system_update`` is dropped and counted, and a
client that drops ``evict_after`` in a row without catching up is evicted with close 1008. A
stalled client's socket is never waited on by the broadcaster, so it delays nobody else.
"""

import logging
import threading
import time
from dataclasses import dataclass

from ..mailbox import BYPASSED, Mailbox, droppable_first
from . import protocol
from .frames import POLICY_VIOLATION, text_frame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    text: str
    frame: bytes          # the pre-encoded WebSocket frame of ``text``
    droppable: bool       # system updates may be dropped for a slow client; alerts may not


@dataclass(frozen=True)
class Pending:
    kind: str
    data: object          # JSON-ready data, encoded by the broadcaster thread
    droppable: bool


def outgoing(text, droppable):
    return Outgoing(text, text_frame(text.encode("utf-8")), droppable)


class Client:
    """One connected client: its connection, bounded outgoing queue and counters."""

    def __init__(self, conn, address, limit=32, evict_after=8):
        self.conn = conn
        self.address = address
        self._evict_after = evict_after
        self._drops_in_a_row = 0
        self._sending = True  # its thread owns the stream until welcome and first update are out
        self._queue = Mailbox(limit, droppable_first, on_drop=self._dropped)
        self.direct = 0       # messages the broadcaster wrote itself
        self.kicked = None    # (close code, reason) once the server wants it gone

    @property
    def dropped(self):
        return self._queue.dropped

    def _dropped(self, item):
        self._drops_in_a_row += 1
        if self._drops_in_a_row >= self._evict_after and self.kicked is None:
            self.kicked = (POLICY_VIOLATION, "client not reading")

    def _send_now(self, item):
        if not self._sending and self.kicked is None and self.conn.try_send_frame(item.frame):
            self.direct += 1
            return True
        return False

    def offer(self, item):
        """Queue ``item``, or write it at once when the client is idle; never blocks.

        Called by the broadcaster. When the queue is full the oldest droppable update goes
        (mailbox policy :func:`droppable_first`) and the drop is counted; ``evict_after``
        drops in a row without the client catching up ask for eviction (1008).
        """
        if self._queue.put(item, self._send_now) is not BYPASSED:
            self.conn.wake.set()

    def take(self):
        """Everything queued, oldest first (called by the client's own thread).

        While it returns items the thread is sending and the broadcaster queues behind it, so
        messages keep their order; an empty result hands direct sending back to the broadcaster.
        """
        return self._queue.take_all(then=self._took)

    def _took(self, items):
        self._sending = bool(items)
        if items:
            self._drops_in_a_row = 0

    def kick(self, code, reason):
        """Ask the client's thread to close with ``code``; the first reason wins."""
        if self.kicked is None:
            self.kicked = (code, reason)
        self.conn.wake.set()


class Registry:
    """The set of connected clients, with a hard maximum (slots are reserved before upgrade)."""

    def __init__(self, max_clients):
        self.max_clients = max_clients
        self._clients = set()
        self._reserved = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.evicted = 0
        self._dropped_gone = 0  # messages dropped for clients that have left

    def reserve(self):
        """Take a slot for a connection about to upgrade; False when the server is full."""
        with self._lock:
            if len(self._clients) + self._reserved >= self.max_clients:
                return False
            self._reserved += 1
            return True

    def release(self):
        with self._lock:
            self._reserved -= 1

    def add(self, client):
        with self._lock:
            self._reserved -= 1
            self._clients.add(client)
            self._changed.notify_all()

    def remove(self, client):
        with self._lock:
            if client in self._clients:
                self._clients.discard(client)
                self._dropped_gone += client.dropped
            if client.kicked and client.kicked[0] == POLICY_VIOLATION:
                self.evicted += 1
            self._changed.notify_all()

    def dropped(self):
        """Messages dropped since start for clients that did not read (left or connected)."""
        with self._lock:
            return self._dropped_gone + sum(client.dropped for client in self._clients)

    def count(self):
        with self._lock:
            return len(self._clients)

    def clients(self):
        with self._lock:
            return list(self._clients)

    def kick_all(self, code, reason):
        for client in self.clients():
            client.kick(code, reason)

    def wait_empty(self, timeout):
        """Wait until no client is connected; True if that happened within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._clients:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True


class Broadcaster:
    """Encodes published messages once and offers them to every client.

    A message that fails (one that cannot be encoded, such as a NaN in the figures) is logged
    with its traceback and skipped; the thread goes on with the next one (issue 8, defect 11).

    :param limit: messages waiting to be encoded at most (the oldest update is dropped first).
    :param clock: epoch seconds, for timestamps.
    """

    def __init__(self, registry, clock=time.time, limit=64):
        self._registry = registry
        self._clock = clock
        self._pending = Mailbox(limit, droppable_first)
        self.failed = 0

    def publish(self, kind, data, droppable=True):
        """Queue a broadcast of ``{"type": kind, "data": data}``; never blocks."""
        self._pending.put(Pending(kind, data, droppable))

    def run(self, stop):
        """Broadcast until :meth:`close` (it waits, never polls)."""
        self._pending.consume(self._broadcast, self._failed)

    def _broadcast(self, pending):
        self._fan_out(outgoing(protocol.encode(pending.kind, pending.data, self._clock()), pending.droppable))

    def _failed(self, pending):
        self.failed += 1
        log.exception("%s message not broadcast", pending.kind)

    def _fan_out(self, item):
        for client in self._registry.clients():
            client.offer(item)

    def close(self):
        """End :meth:`run` after what is already queued."""
        self._pending.close()
