"""One WebSocket session: the loop a handler thread runs for an upgraded client.

The thread sleeps on the connection's ``wake`` event, set by the library when a message
arrives or the peer closes, and by the broadcaster when something is queued. It is the only
thread that sends on the socket, except for the broadcaster's direct writes to an idle client
(docs/architecture.md, "one writer per socket" and its one exception). Requests are answered
from the latest State through :func:`sysmedic.server.protocol.respond`.
"""

import time

from . import protocol
from .frames import POLICY_VIOLATION

BATCH = 16  # client messages answered per wake-up before queued broadcasts are sent


def drain(client):
    """Send everything queued for ``client``, until its queue stays empty."""
    while True:
        items = client.take()
        if not items:
            return
        for item in items:
            client.conn.send_text(item.text, item.frame)


def answer(message, limiter, app, gone=lambda: False):
    """The reply to one client message, or None when the rate limit drops it unanswered."""
    if not limiter.allow(protocol.cost_of(message)):
        if not limiter.warn():
            return None
        return protocol.error_message(protocol.RATE_LIMITED, app.clock(), protocol.request_id_of(message))
    if isinstance(message, bytes):
        return protocol.error_message(protocol.BINARY, app.clock())
    return protocol.respond(message, app.state(), app.clock(), gone)


def serve_client(client, app):
    """Serve one WebSocket client on the calling thread until it goes away.

    The thread sleeps on the connection's ``wake`` event, set by the library when a message
    arrives or the peer closes, and by the broadcaster when something is queued.
    """
    from .websocket import ConnectionClosed, SendTimeout
    conn = client.conn
    limiter = protocol.RateLimiter(app.settings.rate_limit, app.settings.rate_burst, time.monotonic)
    state = app.state()
    now = app.clock()
    try:
        conn.send_text(protocol.encode("welcome", protocol.welcome(state), now))
        conn.send_text(protocol.encode("system_update", protocol.system_update(state), now))
        drain(client)  # what queued meanwhile; then the broadcaster may write directly
        while True:
            conn.wake.wait(conn.keepalive.wait())
            conn.wake.clear()
            if client.kicked:
                conn.close(*client.kicked)
                return
            if not conn.keep_alive():
                return
            for _ in range(BATCH):  # then broadcasts get their turn, and the loop comes back
                message = conn.receive_nowait()
                if message is None:
                    break
                reply = answer(message, limiter, app, lambda: not conn.connected)
                if reply is not None:
                    conn.send_text(reply)
                elif limiter.flooding():
                    client.kick(POLICY_VIOLATION, "rate limit exceeded")
                    break
            else:
                conn.wake.set()
            drain(client)
            if not conn.connected:
                return
    except ConnectionClosed:
        return
    except SendTimeout:
        client.kick(POLICY_VIOLATION, "client not reading")
        conn.sock.shutdown()
    except OSError:
        return
