"""The request reader that replaced http.server (issue 9, memory): what it accepts, what it
refuses and with which status, keep-alive by version, the Date header. A real loopback TCP
connection; the handler runs on its own thread as under the daemon's server."""

import email.utils
import re
import socket
import threading

import pytest

from sysmedic.server.http1 import MAX_HEADERS, RequestHandler, http_date
from sysmedic.server.sockets import linger_close


class Echo(RequestHandler):
    """Answers GET with what it understood: the path, the version and the headers."""

    seen = None

    def do_GET(self):
        Echo.seen.append((self.path, self.request_version, self.headers.items(), self.headers.get("x-ONE")))
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def exchange(data, timeout=5):
    """``(everything the handler sent until it closed, what it understood)``."""
    Echo.seen = []
    with socket.create_server(("127.0.0.1", 0)) as listener:  # TCP: a Unix pair resets on unread bytes
        ours = socket.create_connection(listener.getsockname())
        theirs, _ = listener.accept()

    def serve():  # as the daemon's server does: the handler, then a lingering close
        try:
            Echo(theirs, ("127.0.0.1", 1), None)
        finally:
            linger_close(theirs)
    worker = threading.Thread(target=serve)
    worker.start()
    try:
        ours.settimeout(timeout)
        ours.sendall(data)
        ours.shutdown(socket.SHUT_WR)  # nothing more: a kept-alive handler then sees the end
        reply = b""
        while True:
            chunk = ours.recv(65536)  # never reset: the close lingers over our unread bytes
            if not chunk:
                break
            reply += chunk
    finally:
        worker.join(timeout)
        ours.close()
    assert not worker.is_alive()
    return reply, Echo.seen


def statuses(reply):
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", reply)]


def test_a_plain_request_is_understood():
    reply, seen = exchange(b"GET /health?x=1 HTTP/1.1\r\nHost: a\r\nX-One: 1\r\nx-one: 2\r\nEmpty:\r\n\r\n")
    assert statuses(reply) == [200] and reply.endswith(b"\r\n\r\nok")
    assert seen == [("/health?x=1", "HTTP/1.1", [("Host", "a"), ("X-One", "1"), ("x-one", "2"), ("Empty", "")], "1")]
    assert b"\r\nServer: SysMedic\r\n" in reply


def test_http_1_1_keeps_the_connection_and_1_0_closes_it():
    reply, seen = exchange(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\nGET /c HTTP/1.1\r\n\r\n")
    assert [s[0] for s in seen] == ["/a", "/b"] and statuses(reply) == [200, 200]  # /c after the close: unread
    reply, seen = exchange(b"GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n")
    assert [s[0] for s in seen] == ["/a"]
    reply, seen = exchange(b"GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n")
    assert [s[0] for s in seen] == ["/a", "/b"]


@pytest.mark.parametrize("request_, status", [
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(MAX_HEADERS + 1)) + b"\r\n", 431),
    (b"GET /\r\n\r\n", 400),  # HTTP/0.9
    (b"GET / HTTP/1.1 extra\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"GET / HTTP/0.9\r\n\r\n", 505),
    (b"GET / HTTX/1.1\r\n\r\n", 400),
    (b"G(T / HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400),  # obs-fold: refused, never joined
    (b"GET / HTTP/1.1\r\nBad Name: a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nX : a\r\n\r\n", 400),  # whitespace before the colon (RFC 9112 5.1)
    (b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", 400),
    (b"BREW / HTTP/1.1\r\n\r\n", 501),
])
def test_what_is_refused_and_how(request_, status):
    reply, seen = exchange(request_)
    assert statuses(reply) == [status] and seen == []
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"\r\nConnection: close" in head and body.startswith(b'{"error":"')


def test_nothing_or_an_empty_line_is_no_request():
    assert exchange(b"") == (b"", [])
    assert exchange(b"\r\n") == (b"", [])


def test_the_date_header_is_rfc_9110_in_any_locale():
    for when in (0, 1_800_000_000, 1_799_999_999.9):
        assert http_date(when) == email.utils.formatdate(int(when), usegmt=True)
