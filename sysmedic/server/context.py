"""What the HTTP and WebSocket layer may use of the daemon: this object, and nothing else.

The daemon builds one :class:`ServerContext` per listener and the HTTP server hands it to
every request handler and WebSocket session (``handler.app``). It holds plain values and
callables, so the server package never imports the daemon and can be run against a small
stand-in (the conformance echo server does).

=================  ==========================================================================
``settings``       the listener's WebSocketSettings (limits, timeouts); replaced on reload
``version``        SysMedic's version, for the ``Server`` header
``registry``       the connected clients (:class:`~sysmedic.server.clients.Registry`)
``stop_event``     set when the daemon stops; waits in the server use it to end early
``clock()``        epoch seconds, for message timestamps
``secret()``       the current connection secret as bytes (constant-time compared)
``state()``        the latest published :class:`~sysmedic.daemon.state.State`
``health(settings)``  ``(http_status, json_body)`` for ``GET /health``
``page()``         the browser client's bytes, for ``GET /``
=================  ==========================================================================
"""

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Tuple


@dataclass
class ServerContext:
    settings: Any
    version: str
    registry: Any
    stop_event: Any
    secret: Callable[[], bytes]
    state: Callable[[], Any]
    health_of: Callable[[Any], Tuple[int, dict]]
    page: Callable[[], bytes]
    clock: Callable[[], float] = field(default=time.time)
    metrics: Callable[[], Optional[str]] = field(default=lambda: None)

    def health(self):
        """``(status, body)`` of ``/health`` for this listener's settings."""
        return self.health_of(self.settings)
