"""One WebSocket session: the loop a handler thread runs for an upgraded client.

The thread sleeps on the connection's ``wake`` event, set by the library when a message
arrives or the peer closes, and by the broadcaster when something is queued. It is the only
thread that sends on the socket, except for the broadcaster's direct writes to an idle client
(docs/architecture.md, "one writer per socket" and its one exception). Requests are answered
from the latest State through :func:`sysmedic.server.protocol.respond`.
"""

import time

from . import protocol


def drain(client):
    """Send everything queued for ``client``, until its queue stays empty."""
    while True:
        items = client.take()
        if not items:
            return
        for item in items:
            client.conn.send_text(item.text, item.frame)


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
            conn.wake.wait(app.settings.ping_interval or 30.0)
            conn.wake.clear()
            if client.kicked:
                conn.close(*client.kicked)
                return
            while True:
                message = conn.receive_nowait()
                if message is None:
                    break
                if not limiter.allow():
                    reply = protocol.error_message(protocol.RATE_LIMITED, app.clock())
                elif isinstance(message, bytes):
                    reply = protocol.error_message(protocol.BINARY, app.clock())
                else:
                    reply = protocol.respond(message, app.state(), app.clock())
                conn.send_text(reply)
            drain(client)
            if not conn.connected:
                return
    except ConnectionClosed:
        return
    except SendTimeout:
        client.kick(1008, "client not reading")
        conn.sock.shutdown()
    except OSError:
        return
