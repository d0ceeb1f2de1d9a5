"""What every notifier shares: a bounded queue, filters, retries with backoff, counters.

A :class:`Notifier` subclass only says how to deliver one :class:`Notice` (``deliver``, which
raises :class:`NotifyError` with a one-line reason that never holds a secret). The base keeps
its own bounded queue (the oldest waiting notice is dropped and logged when it is full), runs
the thread's loop, filters by severity and event, retries a failed delivery ``retries`` times
with a doubling pause (1 s, 2 s, 4 s ... at most :data:`MAX_BACKOFF`), logs one line per
failed attempt, and counts what was sent, failed and dropped for ``/health``.
"""

import logging
import socket
import time
from typing import NamedTuple

from .. import needs
from ..errors import NotifyError
from ..formatting import iso_utc
from ..mailbox import Mailbox, drop_oldest
from ..untrusted import chat, chat_text, program

log = logging.getLogger(__name__)
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0
STUCK_GRACE = 5.0


class Notice(NamedTuple):
    """One thing to tell: ``event`` (open, resolve, reminder, test) about ``alert`` (an
    AlertRecord) on ``host``."""
    event: str
    alert: object
    host: str


def describe(notice):
    """The one-line text chat tools show: ``[SysMedic] CRITICAL on web1: High CPU usage ...``.

    Chat tools render it as markup (Slack's ``<!channel>`` and links, Markdown images and
    mentions), so a process appears in it only by its program's name in a safe alphabet
    (:func:`sysmedic.untrusted.chat`); the whole command lines are in ``alert.processes``."""
    alert = notice.alert
    head = {"open": "%s on %s" % (alert.severity.upper(), notice.host),
            "reminder": "still %s on %s" % (alert.severity.upper(), notice.host),
            "resolve": "RESOLVED on %s" % notice.host,
            "test": "TEST from %s" % notice.host}[notice.event]
    text = "[SysMedic] %s: %s" % (head, chat_text(alert.message))
    if alert.id is not None:
        text += " (alert #%d)" % alert.id
    processes = alert.details.get("processes") or []
    if processes and notice.event != "resolve":
        text += "; top processes: " + ", ".join(
            "%s (pid %d, cpu %.1f%%)" % (chat(program(p["command"]), 40), p["pid"], p["cpu_percent"])
            for p in processes[:3])
    ended = alert.details.get("ended") or []
    if ended and notice.event != "resolve":
        text += "; ended: " + ", ".join("%s (%d, cpu %.1f%%)" % (chat(row["command"], 32), row["processes"],
                                                                 row["cpu_percent"]) for row in ended[:3])
    return text


def payload(notice):
    """The notice as JSON-ready data (webhooks and commands get it)."""
    alert = notice.alert
    return {
        "text": describe(notice),
        "event": notice.event,
        "host": notice.host,
        "alert": {
            "id": alert.id, "severity": alert.severity, "status": alert.status, "cause": alert.cause,
            "message": alert.message, "users": list(alert.users),
            "created_at": iso_utc(alert.created_at),
            "opened_at": iso_utc(alert.opened_at) if alert.opened_at else iso_utc(alert.created_at),
            "resolved": alert.resolved_at is not None,
            "resolved_at": iso_utc(alert.resolved_at) if alert.resolved_at else None,
            "reopen_count": alert.reopen_count,
            "primary_cause": alert.details.get("primary_cause", ""),
            "recommendations": list(alert.details.get("recommendations", [])),
            "processes": list(alert.details.get("processes", [])),
            "ended": list(alert.details.get("ended", [])),
        },
    }


class Notifier:
    """The notifier interface of :mod:`sysmedic.notify`, with its plumbing.

    :param name: in thread names, logs, ``/health`` and ``alerts test --notifier``.
    :param settings: callable returning the current settings section (reloads swap it); it has
        ``enabled``, ``severities``, ``events``, ``retries``.
    :param limit: notices held at most.
    :param wait: ``wait(seconds)`` between retries; True means stop (the thread's stop event).
    """

    def __init__(self, name, settings, hostname=None, limit=100):
        self.name = name
        self._settings = settings
        self._hostname = hostname or socket.getfqdn()  # the name, or a callable giving it now
        self._queue = Mailbox(limit, drop_oldest, on_drop=self._dropped)
        self._stop = None
        self.sent = 0
        self.failed = 0
        self.delivering_since = None  # monotonic start of the delivery under way, if any

    @property
    def dropped(self):
        return self._queue.dropped

    def _dropped(self, notice):
        log.warning("%s: queue full, not sending the %s notice of alert %s", self.name, notice.event, notice.alert.id)

    def enabled(self):
        return bool(self._settings().enabled) and self.configured(self._settings())

    def configured(self, settings):
        """Whether ``settings`` say where to deliver (a subclass checks its own keys)."""
        return True

    def wants(self, alert, event):
        settings = self._settings()
        return (self.enabled() and alert.severity in settings.severities and event in settings.events)

    def submit(self, alert, event="open"):
        """Queue a notice of ``event`` about ``alert`` if this notifier wants it; never blocks."""
        if self.wants(alert, event):
            self._queue.put(Notice(event, alert, self.host()))

    def run(self, stop):
        """Deliver queued notices until :meth:`close`, then return once the queue is drained.
        Any failure, even an unexpected one, is logged and counted; the loop carries on."""
        self._stop = stop
        self._queue.consume(self.send, self._unexpected)

    def _unexpected(self, notice):
        self.failed += 1
        log.exception("%s: alert %s not delivered: unexpected error", self.name, notice.alert.id)

    def send(self, notice):
        """Deliver ``notice`` with retries; True when delivered."""
        settings = self._settings()
        attempts = settings.retries + 1
        pause = FIRST_BACKOFF
        for attempt in range(1, attempts + 1):
            self.delivering_since = time.monotonic()
            try:
                self._deliver(settings, notice)
            except NotifyError as err:
                self.delivering_since = None
                log.error("%s: %s notice of alert %s not delivered (attempt %d of %d): %s",
                          self.name, notice.event, notice.alert.id, attempt, attempts, err)
                if attempt == attempts or self._pause(pause):
                    self.failed += 1
                    return False
                pause = min(pause * 2, MAX_BACKOFF)
                continue
            finally:
                self.delivering_since = None
            self.sent += 1
            log.info("%s: %s notice of alert %s delivered%s", self.name, notice.event, notice.alert.id,
                     " (attempt %d)" % attempt if attempt > 1 else "")
            return True
        return False

    def stuck(self, now=None):
        """A sentence when one delivery has run past its ``timeout`` (plus a grace of
        :data:`STUCK_GRACE` s), else None: for ``/health``'s problems."""
        since = self.delivering_since
        if since is None:
            return None
        busy = (time.monotonic() if now is None else now) - since
        timeout = getattr(self._settings(), "timeout", None) or 0.0
        if busy <= timeout + STUCK_GRACE:
            return None
        return "notifier %s stuck in one delivery for %.0fs (timeout %gs)" % (self.name, busy, timeout)

    def _pause(self, seconds):
        """Wait before a retry; True if the daemon is stopping (then the notice is given up)."""
        if self._stop is not None:
            return self._stop.wait(seconds)
        time.sleep(seconds)  # a test delivery from the CLI: nothing else to wait for
        return False

    def host(self):
        """The machine's name in notices now."""
        return self._hostname() if callable(self._hostname) else self._hostname

    def test(self, alert):
        """Deliver a test notice of ``alert`` now, once: ``None`` when delivered, else the error."""
        try:
            self._deliver(self._settings(), Notice("test", alert, self.host()))
        except NotifyError as err:
            return str(err)
        return None

    def _deliver(self, settings, notice):
        """:meth:`deliver`, with a module this Python lacks (``smtplib`` on a minimal one) as a
        failed delivery that says which (issue 24)."""
        try:
            self.deliver(settings, notice)
        except ImportError as err:
            if needs.module_of(err) is None:
                raise
            raise NotifyError(needs.absent(needs.module_of(err)))

    def deliver(self, settings, notice):
        raise NotImplementedError

    def close(self):
        """End :meth:`run` after what is already queued."""
        self._queue.close()


def test_alert(hostname, now=None, process=None):
    """An AlertRecord for ``alerts test``: clearly a test, never stored."""
    from ..storage import AlertRecord
    now = time.time() if now is None else now
    details = {"primary_cause": "", "recommendations": ["This is a test: nothing needs doing."],
               "processes": [process] if process else []}
    return AlertRecord(None, now, "warning", "Light Usage", "test", "SysMedic test alert from %s" % hostname,
                       (), details, None, None, now)

