"""HTTP/1.1 requests without bodies, read strictly, on the stdlib's ``socketserver``.

The daemon serves four GET routes and an upgrade; it never reads a body. ``http.server`` did
this until issue 9's memory budget: it loads ``http.client`` (which loads ``ssl`` and its
libraries) and ``email`` to parse headers, 2.8 MB of the daemon's 31 for a parser that had to
be corrected anyway (a header line it could not parse became a "payload" and was dropped).
:class:`RequestHandler` reads the request line and headers itself and refuses anything
ambiguous instead of guessing:

- a request line of more than 64 KiB: 414; a header line of more than 64 KiB, or more than 100
  headers: 431; not ``METHOD target HTTP/x.y``: 400; a version other than 1.0 or 1.1: 505;
- a header name that is not a token, a line without a colon, a folded (continued) line or a
  control character in a value: 400 (RFC 9110 5.1 and 5.5, RFC 9112 5.2);
- HTTP/1.1 keeps the connection open unless ``Connection: close``; HTTP/1.0 closes it unless
  ``Connection: keep-alive``.

Errors are short JSON bodies with ``Connection: close``; access lines go to :meth:`log_message`
as http.server wrote them (``"GET /health HTTP/1.1" 200 -``).
"""

import re
import socket
import socketserver
import time
from http import HTTPStatus  # the status names only: the package itself loads nothing else

MAX_LINE = 65536
MAX_HEADERS = 100
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # control characters but tab
_VERSION = re.compile(r"HTTP/(\d)\.(\d)\Z")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class BadRequest(Exception):
    """``(status, reason)``: the request is answered with it and the connection closed."""


class Headers:
    """A request's headers in the order sent; names match case-insensitively (the first of
    repeated names wins, as ``email.message`` did)."""

    def __init__(self, pairs):
        self._pairs = pairs
        self._first = {}
        for name, value in pairs:
            self._first.setdefault(name.lower(), value)

    def get(self, name, default=None):
        return self._first.get(name.lower(), default)

    def __contains__(self, name):
        return name.lower() in self._first

    def items(self):
        return list(self._pairs)


def http_date(epoch):
    """RFC 9110 5.6.7 (``Sun, 29 Nov 2026 10:00:00 GMT``), whatever the locale."""
    t = time.gmtime(epoch)
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (_DAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year,
                                                    t.tm_hour, t.tm_min, t.tm_sec)


class RequestHandler(socketserver.StreamRequestHandler):
    """One connection: requests read from ``self.rfile`` (anything with ``readline(limit)``)
    until one closes it; a subclass answers each in ``do_<METHOD>`` and reports bad ones with
    :meth:`refuse`. Attributes as http.server had them: ``command``, ``path``,
    ``request_version``, ``requestline``, ``headers``, ``close_connection``."""

    server_version = "SysMedic"
    rbufsize = 0  # nothing is read past the headers: a client's first frames stay in the socket

    def handle(self):
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection:
            self.handle_one_request()

    def handle_one_request(self):
        self.command = self.request_version = None
        self.path = self.requestline = ""
        self.close_connection = True
        self._buffer = []
        try:
            if not self.read_request():
                return
            answer = getattr(self, "do_" + self.command, None)
            if answer is None:
                raise BadRequest(501, "Not implemented")
            answer()
            self.wfile.flush()
        except BadRequest as err:
            code, reason = err.args
            self.refuse(code, reason)
        except socket.timeout:
            self.log_error("request timed out")

    def read_request(self):
        """Parse the request line and headers into the attributes; False when the client sent
        nothing (closed, or only an empty line). :raises BadRequest: for anything else amiss."""
        raw = self.rfile.readline(MAX_LINE + 1)
        if len(raw) > MAX_LINE:
            raise BadRequest(414, "Request line too long")
        self.requestline = raw.decode("iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if not words:
            return False
        if len(words) != 3:
            raise BadRequest(400, "Bad request syntax")
        self.command, self.path, self.request_version = words
        version = _VERSION.match(self.request_version)
        if not version:
            raise BadRequest(400, "Bad request version")
        if version.groups() not in (("1", "0"), ("1", "1")):
            raise BadRequest(505, "HTTP version not supported")
        if not TOKEN.match(self.command):
            raise BadRequest(400, "Bad request method")
        self.headers = Headers(self._read_headers())
        options = {token.strip().lower() for token in self.headers.get("Connection", "").split(",")}
        if self.request_version == "HTTP/1.1":
            self.close_connection = "close" in options
        else:
            self.close_connection = "keep-alive" not in options
        return True

    def _read_headers(self):
        pairs = []
        while True:
            raw = self.rfile.readline(MAX_LINE + 1)
            if len(raw) > MAX_LINE:
                raise BadRequest(431, "Header line too long")
            line = raw.decode("iso-8859-1")
            if line in ("\r\n", "\n", ""):  # the end (or the client stopped sending: take what came)
                return pairs
            if len(pairs) >= MAX_HEADERS:
                raise BadRequest(431, "Too many headers")
            name, colon, value = line.rstrip("\r\n").partition(":")
            value = value.strip(" \t")
            if not colon or not TOKEN.match(name) or BAD_VALUE.search(value):
                raise BadRequest(400, "Invalid header")
            pairs.append((name, value))

    # -- answers ------------------------------------------------------------------------------

    def send_response(self, code, reason=None):
        """The status line, ``Server`` and ``Date``; logged as the access line."""
        self.log_request(code)
        if reason is None:
            try:
                reason = HTTPStatus(code).phrase
            except ValueError:
                reason = ""
        self._buffer = ["HTTP/1.1 %d %s\r\n" % (code, reason)]
        self.send_header("Server", self.server_version)
        self.send_header("Date", http_date(time.time()))

    def send_header(self, name, value):
        self._buffer.append("%s: %s\r\n" % (name, value))
        if name.lower() == "connection":
            if value.lower() == "close":
                self.close_connection = True
            elif value.lower() == "keep-alive":
                self.close_connection = False

    def end_headers(self):
        self._buffer.append("\r\n")
        self.wfile.write("".join(self._buffer).encode("iso-8859-1"))
        self._buffer = []

    def refuse(self, code, reason):
        """A short JSON error, and the connection closed (what came after is not trusted)."""
        body = ('{"error":"%s"}' % reason).encode("ascii")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    # -- logs ---------------------------------------------------------------------------------

    def log_request(self, code="-", size="-"):
        self.log_message('"%s" %s %s', self.requestline, code, size)

    def log_error(self, format, *args):
        self.log_message(format, *args)

    def log_message(self, format, *args):  # a subclass sends it to the log
        pass


__all__ = ["RequestHandler", "Headers", "BadRequest", "http_date", "TOKEN", "BAD_VALUE", "MAX_LINE", "MAX_HEADERS"]
