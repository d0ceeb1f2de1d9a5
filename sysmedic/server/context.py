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
``dashboard()``    the web dashboard's bytes, for ``GET /``
``metrics()``      the ``/metrics`` text, or None before the first sample
=================  ==========================================================================

:class:`DaemonFigures` is the daemon's record of its own figures, read once per answer: the
daemon renders ``/health`` from it and :func:`sysmedic.server.prometheus.render` renders the
same record for ``/metrics``, so the two never disagree on a count.
"""

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple


class NotifierFigures(NamedTuple):
    name: str
    sent: int
    failed: int
    dropped: int


class DaemonFigures(NamedTuple):
    threads: Dict[str, str]          # thread name -> running, failed, ...
    sample_age: Optional[float]      # seconds since the last sample (None before the first)
    collect_ms: Optional[float]      # how long the last sample took to read
    clients: int                     # WebSocket clients connected
    messages_dropped: int            # system updates dropped for clients that did not read
    clients_evicted: int
    sampler_errors: int
    broadcast_failures: int
    storage_dropped: int             # history and alert writes the writer gave up
    notifiers: Tuple[NotifierFigures, ...]
    sample_durations: Any            # the sampler's Histogram of read times
    user_counters: Any               # UserCounters.view: per figure, the users named and the rest
    rss_bytes: int
    uptime_seconds: float
    thread_count: int


@dataclass
class ServerContext:
    settings: Any
    version: str
    registry: Any
    stop_event: Any
    secret: Callable[[], bytes]
    state: Callable[[], Any]
    health_of: Callable[[Any], Tuple[int, dict]]
    dashboard: Callable[[], bytes]
    clock: Callable[[], float] = field(default=time.time)
    metrics: Callable[[], Optional[str]] = field(default=lambda: None)

    def health(self):
        """``(status, body)`` of ``/health`` for this listener's settings."""
        return self.health_of(self.settings)
