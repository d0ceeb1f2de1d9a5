"""A WebSocket client of a SysMedic daemon, for the commands that connect to one
(``sysmedic top --url``): the one module that imports simple_websocket's client.

:class:`Connection` takes a ``sysmedic[s]://SECRET@HOST:PORT/`` or ``ws[s]://`` URL, asks
requests one at a time and returns their ``data``; broadcasts that arrive meanwhile go to a
callback. Every failure is a SysMedicError whose line never shows the secret.
"""

import json
import time
from urllib.parse import quote, urlsplit

from ..errors import SysMedicError


class Connection:
    """
    :param cafile: the CA that signed a TLS daemon's certificate (``--cafile``).
    :param timeout: seconds to wait for an answer.
    :param broadcast: ``broadcast(message)`` for each message that answers no request.
    """

    def __init__(self, url, cafile=None, timeout=10.0, broadcast=lambda message: None):
        import ssl
        import simple_websocket
        self._timeout = timeout
        self._broadcast = broadcast
        endpoint = websocket_url(url)
        context = ssl.create_default_context(cafile=cafile) if endpoint.startswith("wss:") else None
        try:
            self._ws = simple_websocket.Client.connect(endpoint, ssl_context=context, max_message_size=1 << 24)
        except ssl.SSLCertVerificationError as err:
            raise SysMedicError("%s: the server's certificate is not trusted (%s); give its CA with --cafile"
                                % (shown(url), err.verify_message or err.reason))
        except (OSError, simple_websocket.ConnectionError) as err:
            raise SysMedicError("cannot connect to %s: %s" % (shown(url), getattr(err, "status_code", None) == 401
                                                                 and "invalid secret" or err))
        self._counter = 0

    def ask(self, kind, **arguments):
        """Send a ``kind`` request and return its reply's data.

        :raises SysMedicError: an ``error`` reply, no answer within the timeout, or the
            connection closed."""
        import simple_websocket
        self._counter += 1
        request_id = "cli-%d" % self._counter
        self._ws.send(json.dumps(dict(arguments, type=kind, request_id=request_id)))
        deadline = time.monotonic() + self._timeout
        try:
            while True:
                text = self._ws.receive(timeout=max(0.01, deadline - time.monotonic()))
                if text is None:
                    raise SysMedicError("no answer to %s within %gs" % (kind, self._timeout))
                message = json.loads(text)
                if message.get("request_id") != request_id:
                    self._broadcast(message)
                    continue
                if message["type"] == "error":
                    raise SysMedicError("%s: %s" % (kind, message["data"]["error"]))
                return message["data"]
        except simple_websocket.ConnectionClosed as err:
            raise SysMedicError("the daemon closed the connection (%s)" % (err.reason or "no reason"))

    def close(self):
        try:
            self._ws.close()
        except Exception:  # already closed: nothing to do
            pass


def websocket_url(url):
    """The ws(s):// endpoint of a ``sysmedic[s]://secret@host:port/`` or ``ws[s]://`` URL."""
    parts = urlsplit(url)
    if parts.scheme in ("sysmedic", "sysmedics") and parts.username and parts.hostname:
        host = "[%s]" % parts.hostname if ":" in parts.hostname else parts.hostname
        return "%s://%s:%d/ws?secret=%s" % ("wss" if parts.scheme == "sysmedics" else "ws", host, parts.port or 8060,
                                          quote(parts.username, safe=""))
    if parts.scheme in ("ws", "wss") and parts.hostname:
        return url
    raise SysMedicError("--url: use sysmedic[s]://SECRET@HOST:PORT/ or ws[s]://HOST:PORT/ws?secret=SECRET")


def shown(url):
    """``url`` without its secret, for messages."""
    parts = urlsplit(url)
    return "%s://%s:%s" % (parts.scheme, parts.hostname, parts.port or 8060)
