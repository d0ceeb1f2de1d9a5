"""The simple-websocket adapter: the only module that imports simple_websocket
(docs/architecture.md #2).

It fixes what docs/architecture.md found unsafe in the library under ``http.server``:

- the library writes with ``sock.send`` and ignores the count, and its reader thread writes
  pongs and close replies concurrently: :class:`LockedSocket` makes every send a locked,
  complete write, with a deadline (non-blocking sends + ``poll``) instead of a socket timeout,
  which would corrupt frames;
- compression is offered whenever the client asks: the ``Sec-WebSocket-Extensions`` header is
  dropped unless compression is configured;
- no size limit by default: ``max_message_size`` is set;
- its pings judge a client at once after the daemon was paused (SIGSTOP longer than the
  interval closed every client with 1008): SysMedic pings itself instead (:class:`~sysmedic.server.frames.Keepalive`,
  :meth:`Connection.keep_alive`), and the library only records the pongs;
- closes the library makes itself (1009) surface as 1005: :meth:`Connection.closed_by_us`
  tells them apart;
- the library closes the socket with unread input, so the kernel resets the connection and the
  peer can lose the close frame: :meth:`LockedSocket.close` lingers instead;
- the library's reader thread reads the socket as fast as the peer sends and queues every
  message in an unbounded list (one client took the daemon from 31 to 922 MiB in 10 s, issue 13):
  it reads through :meth:`LockedSocket.recv`, which waits while the connection has more than
  ``max_pending_messages`` or ``max_pending_bytes`` unread, so TCP pushes back on the peer.

One handler thread serves both directions: the library's receive event is a
:class:`threading.Event` that also sets the connection's ``wake`` event, which the broadcaster
sets too, so the thread sleeps on one event.
"""

import fcntl
import importlib
import importlib.util
import socket
import struct
import sys
try:
    from termios import TIOCOUTQ
except ImportError:  # optional (sysmedic.needs): the send-queue size is then unknown (-1)
    TIOCOUTQ = None
import threading
import time

from .frames import MESSAGE_TOO_BIG, PING_FRAME, POLICY_VIOLATION, Keepalive
from .sockets import linger_close, ready


def _load_library():
    """simple-websocket without its asyncio flavour. The package's ``__init__`` imports
    ``aiows`` too, and with it asyncio: 40 modules and 2.2 MB of memory in a daemon that has no
    event loop (issue 9 budgets 30 MB). Its threaded ``ws`` and ``errors`` modules are loaded
    under the package without running that ``__init__``; the package then has the names it
    would have had but the Aio ones. Anything unexpected (another layout, a package loaded
    already) falls back to the plain import."""
    if "simple_websocket" not in sys.modules:
        spec = importlib.util.find_spec("simple_websocket")
        if spec is not None and spec.submodule_search_locations is not None:
            package = importlib.util.module_from_spec(spec)
            sys.modules["simple_websocket"] = package
            try:
                ws = importlib.import_module("simple_websocket.ws")
                errors = importlib.import_module("simple_websocket.errors")
                package.Server, package.Client = ws.Server, ws.Client
                package.ConnectionError, package.ConnectionClosed = errors.ConnectionError, errors.ConnectionClosed
                return package
            except Exception:
                for name in [n for n in sys.modules if n == "simple_websocket" or n.startswith("simple_websocket.")]:
                    del sys.modules[name]
    return importlib.import_module("simple_websocket")


simple_websocket = _load_library()
ConnectionClosed = simple_websocket.ConnectionClosed

class SendTimeout(OSError):
    """A send could not complete before its deadline: the peer is not reading."""


def _unsent(sock):
    """Bytes in the kernel send queue not yet acknowledged (Linux TIOCOUTQ; -1 if unknown)."""
    if TIOCOUTQ is None:
        return -1
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), TIOCOUTQ, b"\0\0\0\0"))[0]
    except (OSError, AttributeError):
        return -1


class LockedSocket:
    """A socket whose ``send`` writes everything, under a lock, within ``send_timeout`` seconds.

    :param before_recv: called by ``recv`` before it reads (on the library's reader thread):
        the connection's back-pressure gate.
    """

    def __init__(self, sock, send_timeout, before_recv=None):
        self._sock = sock
        self._lock = threading.Lock()
        self._timeout = send_timeout
        self._before_recv = before_recv
        self.bytes_sent = 0

    def send(self, data):
        view = memoryview(data)
        deadline = time.monotonic() + self._timeout
        with self._lock:
            while view:
                try:
                    sent = self._sock.send(view, socket.MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise SendTimeout("peer not reading for %gs" % self._timeout)
                    ready([], [self._sock], min(remaining, 1.0))
                    continue
                view = view[sent:]
                self.bytes_sent += sent
        return len(data)

    sendall = send

    def try_send(self, data, limit=4096):
        """Send ``data`` now, from any thread, only if that cannot wait or split a frame.

        It goes only when the lock is free, ``data`` is at most ``limit`` bytes and the kernel
        send queue is empty (TIOCOUTQ): then the whole frame fits in the send buffer (4 KiB at
        the least). Otherwise it returns False, having sent nothing, and the caller queues. If
        the kernel took only part of it anyway, the stream is broken and is shut down at once:
        the caller must never wait on a peer.
        """
        if len(data) > limit or not self._lock.acquire(blocking=False):
            return False
        try:
            try:
                if _unsent(self._sock) != 0:
                    return False
                sent = self._sock.send(data, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                return False  # the connection's own thread will see the error
            self.bytes_sent += sent
            if sent < len(data):
                self.shutdown()
            return True
        finally:
            self._lock.release()

    def recv(self, size):
        if self._before_recv is not None:
            self._before_recv()
        return self._sock.recv(size)

    def fileno(self):
        return self._sock.fileno()

    def shutdown(self, how=socket.SHUT_RDWR):
        try:
            self._sock.shutdown(how)
        except OSError:
            pass

    def close(self, linger=1.0, drain_limit=1 << 20):
        """Close without a reset, so the peer does not lose our close frame (1009, 1008):
        :func:`~sysmedic.server.http1.linger_close`."""
        linger_close(self._sock, linger, drain_limit)


class Connection:
    """An upgraded WebSocket connection served by the calling (handler) thread.

    :param max_pending_messages: messages received and not yet taken by :meth:`receive_nowait`
        at most; past this (or ``max_pending_bytes``) the reader stops reading the socket.
    """

    def __init__(self, sock, headers, compression, max_message_size, ping_interval, send_timeout,
                 max_pending_messages=16, max_pending_bytes=256 * 1024):
        self.wake = threading.Event()
        self.sock = LockedSocket(sock, send_timeout, before_recv=self._wait_for_room)
        self.compression = compression
        self.max_message_size = max_message_size
        self.close_code = None
        self._max_pending = (max_pending_messages, max_pending_bytes)
        self._room = threading.Condition()
        self._finishing = False
        wake = self.wake

        class WakingEvent(threading.Event):
            def set(self):
                super().set()
                wake.set()

        environ = {"werkzeug.socket": self.sock}
        for name, value in headers:
            key = "HTTP_" + name.upper().replace("-", "_")
            if key == "HTTP_SEC_WEBSOCKET_EXTENSIONS" and not compression:
                continue
            environ[key] = "%s, %s" % (environ[key], value) if key in environ else value
        self.keepalive = Keepalive(ping_interval, time.monotonic)
        self.ws = simple_websocket.Server(environ, ping_interval=None,
                                          max_message_size=max_message_size, event_class=WakingEvent)
        self.ws.thread.name = "ws-reader"

    @property
    def connected(self):
        return self.ws.connected

    def receive_nowait(self):
        """The next message (str or bytes), or ``None``. :raises ConnectionClosed: when closed."""
        message = self.ws.receive(timeout=0)
        if message is not None:
            with self._room:
                self._room.notify()
        return message

    def _input_full(self):
        ws = getattr(self, "ws", None)  # the reader may run before __init__ has stored it
        if ws is None:
            return False
        waiting = list(ws.input_buffer)
        count, size = self._max_pending
        return len(waiting) >= count or sum(len(m) for m in waiting) >= size

    def _wait_for_room(self):
        """Before the reader thread reads more: wait while too much is unread (back-pressure).
        Once the session has ended, nothing more will be taken: what arrives is discarded while
        the reader looks for the peer's close reply, except from a client evicted for breaking
        the rules (1008), who is not waited for: the reader stops and the socket closes (the
        lingering close drains at most 1 MiB)."""
        with self._room:
            if self._finishing:
                del self.ws.input_buffer[:]
                if self.close_code == POLICY_VIOLATION:
                    raise OSError("evicted: not reading any more")
                return
            while self._input_full() and not self._finishing and self.ws.connected:
                self._room.wait(1.0)
            if self._finishing:
                del self.ws.input_buffer[:]

    def send_text(self, text, frame=None):
        """Send a text message; ``frame`` is its pre-encoded frame, used when not compressing."""
        if not self.ws.connected:
            raise ConnectionClosed(self.ws.close_reason, self.ws.close_message)
        if frame is not None and not self.compression:
            self.sock.send(frame)
        else:
            self.ws.send(text)

    def keep_alive(self):
        """Ping when due; False when the client did not answer the last ping (closed 1008)."""
        verdict = self.keepalive.check(lambda: self.ws.pong_received)
        if verdict == "ping":
            self.ws.pong_received = False  # the library sets it again when the pong arrives
            self.sock.send(PING_FRAME)
        elif verdict == "timeout":
            self.close(POLICY_VIOLATION, "Ping/Pong timeout")
            return False
        return True

    def try_send_frame(self, frame):
        """Send a pre-encoded frame from another thread without waiting (see LockedSocket.try_send).
        Never used with compression, whose frames depend on the connection's state."""
        if self.compression or not self.ws.connected:
            return False
        return self.sock.try_send(frame)

    def close(self, code, reason):
        """Send a close frame (best effort) and remember the code."""
        if self.close_code is None:
            self.close_code = code
        try:
            if self.ws.connected:
                self.ws.close(code, reason)
        except (ConnectionClosed, OSError):
            pass

    def closed_by_us(self):
        """The close code the library sent on its own (1009 too big), or None."""
        if self.ws.incoming_message_len > (self.max_message_size or float("inf")):
            return MESSAGE_TOO_BIG
        return None

    def finish(self, timeout=1.0):
        """Let the close handshake finish, then make sure the reader thread ends."""
        with self._room:  # a reader held back by unread input must not wait for a reader
            self._finishing = True
            self._room.notify_all()
        self.ws.thread.join(timeout)
        if self.ws.thread.is_alive():
            self.sock.shutdown()
            self.ws.thread.join(timeout)
