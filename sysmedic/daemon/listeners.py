"""The HTTP/WebSocket listener: started, moved and stopped to match ``websocket.json``.

There is at most one listener. :meth:`Listeners.apply` is serialised by its own lock; the
reference to the current listener is swapped under a second, short lock that readers
(``status``, ``/health``) take, and an old listener is stopped outside it
(docs/architecture.md #4), so a slow stop never blocks a reader.

Moving to a new address on the same port (``host`` 0.0.0.0 -> 127.0.0.1, issue 8 defect 4)
cannot bind beside our own socket: the kernel refuses it even with SO_REUSEADDR. Then the old
listener is stopped first and the new address bound; if that fails, the old address is bound
again and the error is reported, so the daemon is never left without its listener.
"""

import errno
import logging
import threading
from dataclasses import dataclass
from typing import Any

from ..errors import AddressInUse, SysMedicError
from ..server.frames import GOING_AWAY

log = logging.getLogger(__name__)
JOIN_TIMEOUT = 5.0
CLIENTS_GONE_TIMEOUT = 2.0


@dataclass
class Listener:
    """A bound server, the settings it was bound with, and its serving thread once started."""
    server: Any
    settings: Any
    thread: Any = None


class Listeners:
    """
    :param make_server: ``make_server(settings)`` -> a bound, not yet serving, http.Server.
    :param registry: the connected clients (kicked when their listener stops).
    :param load_tls: ``load_tls(settings)`` -> an ssl.SSLContext, or ``None`` for plain HTTP;
        raises SysMedicError (one line) for an unusable certificate or key.
    """

    def __init__(self, make_server, registry, load_tls=lambda settings: None):
        self._make_server = make_server
        self._load_tls = load_tls
        self._registry = registry
        self._apply_lock = threading.Lock()
        self._lock = threading.Lock()
        self._current = None

    @property
    def current(self):
        """The serving Listener, or ``None`` when the WebSocket server is disabled."""
        with self._lock:
            return self._current

    def bind(self, settings):
        """Bind ``settings``' address without serving yet (the daemon binds before anything
        else, so a taken port fails the start before any alert is stored).

        :raises SysMedicError: ``port 8060 is already in use``, an unusable TLS key, and the like.
        """
        context = self._load_tls(settings)
        try:
            server = self._make_server(settings)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise AddressInUse("port %d is already in use" % settings.port)
            if err.errno == errno.EACCES:
                raise SysMedicError("port %d: permission denied (ports below 1024 need root)" % settings.port)
            raise SysMedicError("cannot listen on %s:%d: %s" % (settings.host, settings.port, err.strerror or err))
        server.tls = context
        return Listener(server, settings)

    def serve(self, listener):
        """Start serving a bound listener and make it the current one."""
        listener.thread = threading.Thread(target=listener.server.serve_forever, kwargs={"poll_interval": 0.5},
                                           name="http:%d" % listener.settings.port, daemon=True)
        listener.thread.start()
        old = self._swap(listener)
        log.info("WebSocket server listening on %s:%d%s", listener.settings.host, listener.settings.port,
                 " with TLS" if listener.server.tls is not None else "")
        return old

    def apply(self, settings, bound=None):
        """Start, stop or move the listener to match ``settings`` (``bound``: already bound).

        :raises SysMedicError: e.g. ``port 8060 is already in use``; the old listener stays.
        """
        with self._apply_lock:
            current = self.current
            self._registry.max_clients = settings.max_clients
            if not settings.enabled:
                if current is not None:
                    self._swap(None)
                    self.stop(current, GOING_AWAY, "WebSocket server disabled")
                return
            if bound is None and current is not None and self._same_address(current.settings, settings):
                # The certificate is read again (a renewed one replaces the files in place);
                # connections already open keep theirs, and a bad file changes nothing.
                context = self._load_tls(settings)
                current.settings = settings
                current.server.app.settings = settings
                if context is not None or current.server.tls is not None:
                    log.info("TLS %s for new connections", "certificate loaded" if context is not None else "off")
                current.server.tls = context
                return
            try:
                listener = bound or self.bind(settings)
            except AddressInUse:
                if current is None or current.settings.port != settings.port:
                    raise
                listener = self._rebind_same_port(current, settings)
                current = None
            old = self.serve(listener)
            if old is not None and old is current:
                self.stop(old, GOING_AWAY, "WebSocket server moved")

    def _rebind_same_port(self, current, settings):
        """Our own listener holds the port: release it, then bind the new address (or the old again)."""
        self._swap(None)
        self.stop(current, GOING_AWAY, "WebSocket server moved")
        try:
            return self.bind(settings)
        except SysMedicError:
            self.serve(self.bind(current.settings))
            raise

    @staticmethod
    def _same_address(a, b):
        return (a.host, a.port) == (b.host, b.port)

    def _swap(self, listener):
        with self._lock:
            old, self._current = self._current, listener
        return old

    def close(self, code, reason):
        """Stop the current listener (daemon shutdown)."""
        with self._apply_lock:
            listener = self._swap(None)
            if listener is not None:
                self.stop(listener, code, reason)

    def stop(self, listener, code, reason):
        """Stop accepting on ``listener`` and close its clients with ``code``."""
        if listener.thread is not None:
            listener.server.shutdown()
            listener.thread.join(JOIN_TIMEOUT)
        listener.server.server_close()
        self._registry.kick_all(code, reason)
        if not self._registry.wait_empty(CLIENTS_GONE_TIMEOUT):
            log.warning("%d clients still connected after close", self._registry.count())
