"""The HTTP side of the server: the routes in :data:`ROUTES` (``GET /health``, the ``/ws``
upgrade of docs/protocol-decisions.md decisions 12-14, and ``GET /``, the web dashboard).
Each handler sees the daemon only through ``self.app``, a
:class:`~sysmedic.server.context.ServerContext`; a WebSocket session runs in
:mod:`sysmedic.server.session`.

A :class:`Server` is a threading ``socketserver.TCPServer`` with the limits docs/architecture.md
asks for: a listen backlog of 128 (the default 5 adds 1 s connect stalls), a total deadline for
a request's headers (slow or trickling clients cannot hold a thread), back-off on EMFILE instead
of a busy loop, and access logs that escape control characters and redact ``secret=``. Requests
are read by :mod:`sysmedic.server.http1` (strict, no bodies; not ``http.server``, which loads
``ssl`` and ``email``).

``/ws`` checks, in order: the secret (401, constant-time, as bytes), HTTP/1.1 (400), the
upgrade headers (426), the WebSocket version (426) and key (400), free client slots (503);
only then is the connection handed to simple-websocket.
"""

import base64
import binascii
import errno
import ipaddress
import json
import logging
import os
import re
import socket
import socketserver
import threading
import time
from urllib.parse import parse_qs, unquote_plus, urlsplit

from .admission import Admission, refuse
from .prometheus import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .tokens import equal
from ..untrusted import cut
from .clients import Client
from .http1 import RequestHandler
from .sockets import linger_close
from .session import serve_client

log = logging.getLogger("sysmedic.http")
HTTP_LINGER = 1.0  # seconds a closing connection reads what its client still sends
MAX_LOGGED = 200   # characters of a request line in an access line (a path can be 64 KiB)
MAX_LOG_LINE = 400
REFUSALS_LOGGED = 20  # access lines for refused requests a minute; the rest are counted

_CONTROL = {c: "\\x%02x" % c for c in list(range(32)) + [127]}
# A query parameter: its key, then its value up to the next separator.
_PARAMETER = re.compile(r"(?:^|(?<=[?&;\s\"']))([^=&;\s\"'?]+)=([^&;\s\"']*)")


def _redact(match):
    """The ``secret`` parameter's value, however its key is spelled: parse_qs decodes the key,
    so ``%73ecret=`` and ``sec%72et=`` authenticate and must be redacted too (issue 13)."""
    if unquote_plus(match.group(1)).strip().lower() == "secret":
        return match.group(1) + "=[redacted]"
    return match.group(0)


def clean_log_text(text, limit=MAX_LOG_LINE):
    """Cut to ``limit`` characters (before anything else looks at it), escape control
    characters (no forged log lines) and redact any ``secret`` value."""
    return _PARAMETER.sub(_redact, cut(text, limit).translate(_CONTROL))


class RefusalLog:
    """Access lines for refused requests (HTTP 4xx), at most ``limit`` each ``period``: any
    client can send refused requests without a secret, and a flood of their lines would rotate
    the log away (issue 21). The rest are counted, and said in one line when the next period
    starts."""

    def __init__(self, limit=REFUSALS_LOGGED, period=60.0, clock=time.monotonic):
        self._limit, self._period, self._clock = limit, period, clock
        self._lock = threading.Lock()
        self._start = None
        self._logged = self._suppressed = 0

    def allow(self):
        """Whether to log the refusal at hand (a summary of the last period may come first)."""
        now = self._clock()
        with self._lock:
            if self._start is None or now - self._start >= self._period:
                suppressed, self._suppressed = self._suppressed, 0
                self._start, self._logged = now, 0
            else:
                suppressed = 0
            allowed = self._logged < self._limit
            if allowed:
                self._logged += 1
            else:
                self._suppressed += 1
        if suppressed:
            log.warning("%d more refused requests were not logged in the last %gs", suppressed, self._period)
        return allowed


class DeadlineReader:
    """``readline`` for request headers with a total deadline, never reading past a line.

    It peeks, then takes only up to the newline, so bytes a client sends right after its
    handshake stay in the socket for the WebSocket reader (docs/architecture.md: rbufsize = 0).
    """

    def __init__(self, sock):
        self._sock = sock
        self.deadline = float("inf")

    def start(self, seconds):
        self.deadline = time.monotonic() + seconds

    def readline(self, limit=-1):
        cap = limit if limit and limit > 0 else 65537
        line = bytearray()
        while len(line) < cap:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("request headers not received in time")
            self._sock.settimeout(remaining)
            chunk = self._sock.recv(min(4096, cap - len(line)), socket.MSG_PEEK)
            if not chunk:
                break
            end = chunk.find(b"\n")
            line += self._sock.recv(end + 1 if end >= 0 else len(chunk))
            if end >= 0:
                break
        return bytes(line)

    def read(self, size=-1):  # request bodies are never read; answer as if empty
        return b""

    def close(self):
        pass


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """The listening server; ``app`` is the listener's
    :class:`~sysmedic.server.context.ServerContext`, handed to every handler."""

    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address, app):
        self.app = app
        self.accept_failures = 0
        self._last_accept_warning = 0.0
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        self.admission = Admission(lambda: self.app.settings.max_http_connections)
        self.tls = None  # an ssl.SSLContext when TLS is on; swapped whole on reload
        self.refusals = RefusalLog()
        super().__init__(address, Handler)

    def process_request(self, request, client_address):
        """A thread per admitted connection; at the limit, a short 503 and no thread."""
        if not self.admission.admit(request):
            refuse(request)
            super().shutdown_request(request)  # at once: this is the accepting thread
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started (e.g. out of threads): the caller closes it
            self.admission.leave(request)
            raise

    def shutdown_request(self, request):
        """After a connection's last answer (on its own thread): a lingering close, so that
        bytes the client sent that were never read do not reset the answer away. It still
        counts against ``max_http_connections`` (as waiting: a newcomer at the limit ends it)."""
        try:
            linger_close(request, HTTP_LINGER, 1 << 16)
        finally:
            self.admission.leave(request)

    def get_request(self):
        """The next connection; with TLS on, the cleartext end of its :class:`~.tls.Tunnel`
        (the handshake runs in the tunnel's thread, never in the accepting one)."""
        try:
            sock, address = super().get_request()
        except OSError as err:
            if err.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                self.accept_failures += 1
                if time.monotonic() - self._last_accept_warning > 10:
                    self._last_accept_warning = time.monotonic()
                    log.warning("accept failed (%s), %d times so far: backing off",
                                os.strerror(err.errno), self.accept_failures)
                self.app.stop_event.wait(0.1)  # back off, do not spin on a readable socket
            raise
        context = self.tls
        if context is None:
            return sock, address
        from .tls import Tunnel  # ssl is loaded only with TLS on (its libraries cost ~2 MB)
        try:
            return Tunnel(sock, context, self.app.settings.header_timeout, address[0]).start(), address
        except BaseException:
            sock.close()
            raise

    def handle_error(self, request, client_address):
        log.exception("error serving %s", client_address[0] if client_address else "?")


class Handler(RequestHandler):
    # What runs on an upgraded connection (the conformance harness swaps in an echo session).
    session = staticmethod(serve_client)

    def setup(self):
        super().setup()
        self.accepted = time.monotonic()
        self.rfile = DeadlineReader(self.connection)
        self.app = self.server.app
        self.server_version = "SysMedic/" + self.app.version
        self.has_body = False
        self.upgraded = False

    def finish(self):
        try:
            super().finish()
        finally:
            if not self.upgraded:  # lingering next: counted, and the first evicted when full
                self.server.admission.waiting(self.connection)

    def handle_one_request(self):
        """One request, within the header deadline and the connection's total ``http_lifetime``
        (a kept-alive connection cannot live forever by asking every few seconds)."""
        settings = self.app.settings
        remaining = self.accepted + settings.http_lifetime - time.monotonic()
        if remaining <= 0:
            self.close_connection = True
            return
        self.server.admission.waiting(self.connection)
        self.has_body = False
        self.rfile.start(min(settings.header_timeout, remaining))
        try:
            super().handle_one_request()
        except OSError:  # reset, broken pipe, headers timed out mid-way
            self.close_connection = True

    def read_request(self):
        """The request line and headers; a request that carries a body is answered and the
        connection closed, since bodies are never read: its bytes must not be taken for the
        next request (request smuggling behind a keep-alive proxy, issue 13 Low 10)."""
        if not super().read_request():
            return False
        self.server.admission.busy(self.connection)
        length = self.headers.get("Content-Length", "").strip()
        self.has_body = length not in ("", "0") or "Transfer-Encoding" in self.headers
        return True

    def end_headers(self):
        if self.has_body and not self.close_connection:
            self.send_header("Connection", "close")
        super().end_headers()

    def __getattr__(self, name):
        if name.startswith("do_"):  # every method but GET: 405, with Allow
            return self._method_not_allowed
        raise AttributeError(name)

    def _method_not_allowed(self):
        self._json(405, {"error": "Method not allowed"}, headers={"Allow": "GET"})

    def log_request(self, code="-", size="-"):
        """One access line, the request line cut to :data:`MAX_LOGGED` characters; refused
        requests within :class:`RefusalLog`'s rate."""
        if isinstance(code, int) and code >= 400 and not self.server.refusals.allow():
            return
        self.log_message('"%s" %s %s', cut(self.requestline or "", MAX_LOGGED), code, size)

    def log_message(self, format, *args):
        log.info("%s %s", self.client_address[0], clean_log_text(format % args))

    def _json(self, code, body, headers=None, close=False):
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        url = urlsplit(self.path)
        route = ROUTES.get(url.path)
        if route is None:
            self._json(404, {"error": "Not found"})
        else:
            route(self, url)

    def _health(self, url):
        """``/health``: 200 when healthy, 503 when degraded (a thread died, the sampler is late)."""
        code, body = self.app.health()
        admission = self.server.admission
        body.update(http_connections=admission.count(), http_connections_dropped=admission.evicted + admission.refused)
        self._json(code, body)

    def _metrics(self, url):
        """``/metrics`` (Prometheus text 0.0.4) when ``metrics`` is on in websocket.json. With a
        ``metrics_token_file`` a bearer token is required (compared in constant time); without
        one it answers only on a loopback listener, or when ``metrics_public`` says so."""
        settings = self.app.settings
        if not settings.metrics:
            return self._json(404, {"error": "Not found"})
        if settings.metrics_token_file:
            try:
                token = read_token(settings.metrics_token_file)
            except OSError as err:
                log.error("/metrics refused: %s", err)
                return self._json(500, {"error": "metrics token file unusable (see the daemon's log)"})
            scheme, _, given = self.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not equal(given.strip().encode("utf-8", "replace"), token):
                return self._json(401, {"error": "Invalid token"}, headers={"WWW-Authenticate": "Bearer"})
        elif not (settings.metrics_public or is_loopback(settings.host)):
            return self._json(403, {"error": "metrics on a public address need metrics_token_file or metrics_public"})
        text = self.app.metrics()
        if text is None:
            return self._json(503, {"error": "no sample yet"})
        payload = text.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", METRICS_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)

    def _dashboard(self, url):
        """The web dashboard (package data; it holds no data and needs no secret)."""
        payload = self.app.dashboard()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy",
                         "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                         "connect-src ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
        self.end_headers()
        self.wfile.write(payload)

    def _secret_given(self, url):
        values = parse_qs(url.query, keep_blank_values=True).get("secret")
        if values:
            return values[0]
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None

    def _websocket(self, url):
        app = self.app
        given = self._secret_given(url)
        if given is None or not equal(given.encode("utf-8", "replace"), app.secret()):
            return self._json(401, {"error": "Invalid secret"}, close=True)
        self._upgrade()

    def _upgrade(self):
        """Check the upgrade request (400/426/503), hand the socket over, run the session."""
        app = self.app
        if self.request_version != "HTTP/1.1":
            return self._json(400, {"error": "WebSocket needs HTTP/1.1"}, close=True)
        upgrade = {t.strip().lower() for t in self.headers.get("Upgrade", "").split(",")}
        connection = {t.strip().lower() for t in self.headers.get("Connection", "").split(",")}
        if "websocket" not in upgrade or "upgrade" not in connection:
            return self._json(426, {"error": "WebSocket upgrade required"},
                              headers={"Upgrade": "websocket", "Connection": "Upgrade"}, close=True)
        if self.headers.get("Sec-WebSocket-Version", "").strip() != "13":
            return self._json(426, {"error": "Unsupported WebSocket version"},
                              headers={"Sec-WebSocket-Version": "13"}, close=True)
        try:
            valid_key = len(base64.b64decode(self.headers.get("Sec-WebSocket-Key", ""), validate=True)) == 16
        except (binascii.Error, ValueError):
            valid_key = False
        if not valid_key:
            return self._json(400, {"error": "Invalid Sec-WebSocket-Key"}, close=True)
        if not app.registry.reserve():
            return self._json(503, {"error": "Too many clients"}, headers={"Retry-After": "10"}, close=True)
        self.close_connection = True
        self.upgraded = True
        self.server.admission.leave(self.connection)  # a client now, counted by the registry
        settings = app.settings
        from .websocket import Connection  # the WebSocket stack loads with the first client
        try:
            self.connection.settimeout(None)  # a timeout would corrupt frames (docs/architecture.md)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, settings.send_buffer)
            conn = Connection(self.connection, self.headers.items(), settings.compression,
                              settings.max_message_size, settings.ping_interval, settings.send_timeout,
                              settings.max_pending_messages, settings.max_pending_bytes)
        except Exception as err:  # the library refused the handshake (it has sent nothing)
            app.registry.release()
            log.info("%s WebSocket handshake failed: %s", self.client_address[0], clean_log_text(str(err)))
            return self._json(400, {"error": "Invalid WebSocket handshake"}, close=True)
        self.log_request(101)
        client = Client(conn, self.client_address[0], settings.queue_limit, settings.evict_after)
        app.registry.add(client)
        try:
            self.session(client, app)
        finally:
            app.registry.remove(client)
            conn.finish()
            log.info("%s WebSocket closed (%s)", client.address,
                     conn.close_code or conn.closed_by_us() or conn.ws.close_reason)


def is_loopback(host):
    """Whether a listener bound to ``host`` is reachable from this machine only."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def read_token(path):
    """The bearer token in ``path`` (its first line, stripped), as bytes. :raises OSError:
    naming the file when it cannot be read, is empty, or others may read it."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        mode = os.fstat(fd).st_mode
        if mode & 0o077:
            raise OSError("%s: others may read it (mode %o; make it 0600)" % (path, mode & 0o777))
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    token = data.split(b"\n", 1)[0].strip()
    if not token:
        raise OSError("%s: empty" % path)
    return token


# GET path -> handler method: adding an HTTP route is a method above and one entry here.
ROUTES = {
    "/": Handler._dashboard,
    "/health": Handler._health,
    "/metrics": Handler._metrics,
    "/ws": Handler._websocket,
}


__all__ = ["Server", "Handler", "ROUTES", "clean_log_text"]
