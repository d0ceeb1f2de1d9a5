"""The webhook notifier against real loopback receivers (issue 21): a whole delivery within its
timeout, Basic authentication from the URL, and nothing of the URL but scheme, host and port
in what is logged."""

import base64
import socket
import threading
import time
from types import SimpleNamespace

import pytest

from sysmedic.notify.base import Notifier, NotifyError
from sysmedic.notify.webhook import basic_auth, post, where


def settings(url, timeout=1.0, headers=()):
    return SimpleNamespace(url=url, timeout=timeout, headers=headers, ca_file="", retries=0, enabled=True,
                           severities=("critical", "warning"), events=("open",))


class RawReceiver:
    """A TCP server that reads one request and answers with ``answer(sock)``."""

    def __init__(self, answer):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.stop = threading.Event()
        self._answer = answer
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(data)
                try:
                    self._answer(conn, self.stop)
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        self.sock.close()


@pytest.fixture
def receivers():
    made = []
    yield lambda answer: made.append(RawReceiver(answer)) or made[-1]
    for receiver in made:
        receiver.close()


def drip(conn, stop):
    """A status line, then one header byte every 0.2 s, never ending."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    while not stop.wait(0.2):
        conn.sendall(b"X")


def ok(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def closing(conn, stop):
    """An HTTP/1.0 answer that ends the connection (http.server's default), status 500 once."""
    conn.sendall(b"HTTP/1.0 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n")
    stop.wait(0.2)  # the body apart, as http.server writes it: it is read after the headers
    conn.sendall(b"no")


def test_a_dripping_receiver_is_cut_off_at_the_timeout(receivers):
    """Before: the timeout was per socket read, and one POST was held over 5 minutes."""
    receiver = receivers(drip)
    started = time.monotonic()
    with pytest.raises(NotifyError, match="no whole answer within 1s"):
        post(settings("http://127.0.0.1:%d/services/T0/B0/SECRET" % receiver.port), {"text": "x"})
    assert time.monotonic() - started < 2.5
    assert len(receiver.requests) == 1


def test_an_answer_that_closes_the_connection_is_read_whole(receivers):
    """The deadline's reader must keep the socket open until the answer is read (http.client
    closes the connection of an HTTP/1.0 answer before reading its body: Bad file descriptor)."""
    receiver = receivers(closing)
    with pytest.raises(NotifyError) as err:
        post(settings("http://127.0.0.1:%d/hook" % receiver.port), {"text": "x"})
    assert str(err.value) == "POST http://127.0.0.1:%d: HTTP 500 Internal Server Error: no" % receiver.port


def test_userinfo_is_sent_as_basic_auth_and_never_shown(receivers):
    receiver = receivers(ok)
    post(settings("http://ann:p%%40ss@127.0.0.1:%d/hook?token=t0k" % receiver.port), {"text": "x"})
    request = receiver.requests[0].decode("latin-1")
    assert "Authorization: Basic %s" % base64.b64encode(b"ann:p@ss").decode() in request
    assert request.startswith("POST /hook?token=t0k HTTP/1.1")
    explicit = settings("http://ann:pw@127.0.0.1:%d/" % receiver.port, headers=(("Authorization", "Bearer b"),))
    post(explicit, {"text": "x"})
    assert "Authorization: Bearer b" in receiver.requests[1].decode() and "Basic" not in receiver.requests[1].decode()
    assert basic_auth("https://host/x") is None
    assert where("https://u:pw@hooks.example/services/T0/B0/XXXX?token=y") == "https://hooks.example:443"


def test_a_delivery_past_its_timeout_is_a_health_problem():
    release = threading.Event()

    class Stuck(Notifier):
        def deliver(self, settings_, notice):
            release.wait(10)
    notifier = Stuck("webhook", lambda: settings("http://x/", timeout=2.0), hostname="h")
    alert = SimpleNamespace(id=1, severity="warning", event="open")
    thread = threading.Thread(target=notifier.send, args=(SimpleNamespace(event="open", alert=alert, host="h"),))
    thread.start()
    deadline = time.monotonic() + 5
    while notifier.delivering_since is None and time.monotonic() < deadline:
        time.sleep(0.01)  # polling with a deadline for the delivery to start
    since = notifier.delivering_since
    assert notifier.stuck(now=since + 3) is None
    assert notifier.stuck(now=since + 8) == "notifier webhook stuck in one delivery for 8s (timeout 2s)"
    release.set()
    thread.join(5)
    assert notifier.stuck() is None and notifier.sent == 1
