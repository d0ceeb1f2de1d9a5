"""Waiting on sockets and closing them gently (stdlib only).

``select.select`` fails for descriptors past 1024 (FD_SETSIZE), and the daemon raises its
descriptor limit to serve up to 10,000 clients: every wait here is a ``poll``.
"""

import select
import socket
import time


def ready(reading, writing, timeout=None):
    """``(readable, writable)``: the sockets of ``reading`` and ``writing`` ready within
    ``timeout`` seconds (None: wait as long as it takes)."""
    poller = select.poll()
    events = {}
    for sock in reading:
        events[sock.fileno()] = events.get(sock.fileno(), 0) | select.POLLIN
    for sock in writing:
        events[sock.fileno()] = events.get(sock.fileno(), 0) | select.POLLOUT
    for fd, mask in events.items():
        poller.register(fd, mask)
    found = dict(poller.poll(None if timeout is None else max(0.0, timeout) * 1000))
    failed = select.POLLERR | select.POLLHUP | select.POLLNVAL  # ready too: the next call says why
    return ([s for s in reading if found.get(s.fileno(), 0) & (select.POLLIN | failed)],
            [s for s in writing if found.get(s.fileno(), 0) & (select.POLLOUT | failed)])


def linger_close(sock, linger=1.0, drain_limit=1 << 20):
    """Close without a reset: FIN after our last bytes, then read and discard what the peer
    still sends for up to ``linger`` seconds or ``drain_limit`` bytes, then close.

    Closing a socket with unread input makes the kernel send RST, and a peer that receives it
    can lose what we sent last (a 431 to a client still sending its headers, the answer before
    a ``Connection: close`` that more requests followed, a WebSocket close frame)."""
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + linger
        drained = 0
        while drained < drain_limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not ready([sock], [], remaining)[0]:
                break
            chunk = sock.recv(65536, socket.MSG_DONTWAIT)
            if not chunk:
                break
            drained += len(chunk)
    except OSError:
        pass
    sock.close()


__all__ = ["ready", "linger_close"]
