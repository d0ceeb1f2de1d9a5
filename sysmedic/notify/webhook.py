"""POST each alert as JSON to an HTTP(S) URL (``http.client``; no package).

The body is :func:`~sysmedic.notify.base.payload`: its ``text`` field is what Slack,
Mattermost and Rocket.Chat incoming webhooks show as is; the rest is the alert for anything
else. Extra headers (a token) are sent but never logged; a CA file replaces the system store
for https. A user and password in the URL (``https://user:pw@host/``) are sent as HTTP Basic
authentication. A 2xx answer is delivered; anything else (a refused connection, a timeout, a
500) is a failure the base retries with backoff.

``timeout`` bounds the whole delivery, not each socket read: a receiver that drips its answer
a byte at a time is cut off when the time is up (issue 21: it held one POST for 5 minutes).
Incoming-webhook URLs carry their secret in the path (``/services/T0/B0/XXXX``) or the query,
so a log line or an error names the scheme, host and port only (:func:`where`).
"""

import base64
import io
import json
import socket
import time
from urllib.parse import unquote, urlsplit

from .. import __version__
from ..untrusted import log_text
from .base import Notifier, NotifyError, payload

MAX_BODY_SHOWN = 200


class WebhookNotifier(Notifier):
    def __init__(self, settings, hostname=None, limit=100):
        super().__init__("webhook", settings, hostname, limit)

    def configured(self, settings):
        return bool(settings.url)

    def deliver(self, settings, notice):
        post(settings, payload(notice))


def where(url):
    """``scheme://host:port`` of a URL: what a log line or an error may say of it."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "?"
    host = "[%s]" % host if ":" in host else host
    return "%s://%s:%d" % (parts.scheme, host, port or (443 if parts.scheme == "https" else 80))


def basic_auth(url):
    """The ``Authorization`` value for a URL's ``user:password@``, or None without one."""
    parts = urlsplit(url)
    if parts.username is None:
        return None
    pair = "%s:%s" % (unquote(parts.username), unquote(parts.password or ""))
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


class _Deadline:
    """A connected socket whose every read and write waits at most until ``deadline``
    (monotonic seconds) in all: what ``http.client`` reads through ``makefile``. As with a
    socket's own ``makefile``, closing it while a reader is open (``http.client`` does, for an
    answer that ends the connection) closes the socket only once the reader is closed too."""

    def __init__(self, sock, deadline):
        self._sock = sock
        self._deadline = deadline
        self._readers = 0
        self._closing = False

    def _left(self):
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no whole answer in time")
        self._sock.settimeout(left)

    def sendall(self, data):
        self._left()
        return self._sock.sendall(data)

    def recv_into(self, buffer, size=0):
        self._left()
        return self._sock.recv_into(buffer, size)

    def makefile(self, mode="rb", buffering=None):
        self._readers += 1
        return io.BufferedReader(_Reader(self))

    def reader_closed(self):
        self._readers -= 1
        if self._closing and not self._readers:
            self._sock.close()

    def close(self):
        self._closing = True
        if not self._readers:
            self._sock.close()

    def __getattr__(self, name):  # setsockopt, ...: the socket's own
        return getattr(self._sock, name)


class _Reader(io.RawIOBase):
    def __init__(self, sock):
        super().__init__()
        self._sock = sock

    def readable(self):
        return True

    def readinto(self, buffer):
        return self._sock.recv_into(buffer)

    def close(self):
        if not self.closed:
            super().close()
            self._sock.reader_closed()


def post(settings, data):
    """POST ``data`` as JSON to ``settings.url`` within ``settings.timeout`` seconds in all.
    :raises NotifyError: naming the receiver (scheme, host, port) and the reason."""
    import http.client  # with the first post: a daemon without a webhook never loads it (nor ssl)
    import ssl
    url = urlsplit(settings.url)
    shown = where(settings.url)
    deadline = time.monotonic() + settings.timeout
    body = json.dumps(data).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "SysMedic/%s" % __version__}
    authorization = basic_auth(settings.url)
    if authorization and not any(name.lower() == "authorization" for name, _ in settings.headers):
        headers["Authorization"] = authorization
    headers.update(dict(settings.headers))
    if url.scheme == "https":
        context = ssl.create_default_context(cafile=settings.ca_file or None)
        connection = http.client.HTTPSConnection(url.hostname, url.port, timeout=settings.timeout, context=context)
    else:
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=settings.timeout)
    target = (url.path or "/") + ("?" + url.query if url.query else "")
    try:
        connection.connect()
        connection.sock = _Deadline(connection.sock, deadline)
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read(MAX_BODY_SHOWN)
        response.close()
    except (OSError, http.client.HTTPException) as err:
        reason = "no whole answer within %gs" % settings.timeout if isinstance(err, socket.timeout) else \
            (err or type(err).__name__)
        raise NotifyError("POST %s: %s" % (shown, reason))
    finally:
        connection.close()
    if not 200 <= response.status < 300:
        text = log_text(answer.decode("utf-8", "replace").strip(), MAX_BODY_SHOWN)
        raise NotifyError("POST %s: HTTP %d %s%s" % (shown, response.status, response.reason,
                                                    (": " + text) if text else ""))


NOTIFIER = WebhookNotifier  # what sysmedic.notify.notifiers() makes of this module
