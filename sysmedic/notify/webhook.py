"""POST each alert as JSON to an HTTP(S) URL (``http.client``; no package).

The body is :func:`~sysmedic.notify.base.payload`: its ``text`` field is what Slack,
Mattermost and Rocket.Chat incoming webhooks show as is; the rest is the alert for anything
else. Extra headers (a token) are sent but never logged; a CA file replaces the system store
for https. A 2xx answer is delivered; anything else (a refused connection, a timeout, a 500)
is a failure the base retries with backoff.
"""

import json
from urllib.parse import urlsplit

from .. import __version__
from .base import Notifier, NotifyError, payload

MAX_BODY_SHOWN = 200


class WebhookNotifier(Notifier):
    def __init__(self, settings, hostname=None, limit=100):
        super().__init__("webhook", settings, hostname, limit)

    def configured(self, settings):
        return bool(settings.url)

    def deliver(self, settings, notice):
        post(settings, payload(notice))


def post(settings, data):
    """POST ``data`` as JSON to ``settings.url``. :raises NotifyError: naming the URL (without
    its query, which may hold a token) and the reason."""
    import http.client  # with the first post: a daemon without a webhook never loads it (nor ssl)
    import ssl
    url = urlsplit(settings.url)
    where = "%s://%s%s" % (url.scheme, url.netloc.rpartition("@")[2], url.path or "/")
    body = json.dumps(data).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "SysMedic/%s" % __version__}
    headers.update(dict(settings.headers))
    if url.scheme == "https":
        context = ssl.create_default_context(cafile=settings.ca_file or None)
        connection = http.client.HTTPSConnection(url.hostname, url.port, timeout=settings.timeout, context=context)
    else:
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=settings.timeout)
    target = (url.path or "/") + ("?" + url.query if url.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read(MAX_BODY_SHOWN)
    except (OSError, http.client.HTTPException) as err:
        raise NotifyError("POST %s: %s" % (where, err or type(err).__name__))
    finally:
        connection.close()
    if not 200 <= response.status < 300:
        text = answer.decode("utf-8", "replace").strip().replace("\n", " ")
        raise NotifyError("POST %s: HTTP %d %s%s" % (where, response.status, response.reason,
                                                    (": " + text) if text else ""))
