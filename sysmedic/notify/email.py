"""E-mail an alert when it opens, with ``smtplib`` (STARTTLS, SSL or plain; login optional).

The alert is already stored when it reaches here: a failed send is logged and retried by
nobody, and it never loses the alert. :class:`Mailer` is a notifier (:mod:`sysmedic.notify`):
a bounded queue and a ``run(stop)`` loop for a thread the composition root starts, so a slow
SMTP server never delays the sampler.
"""

import logging
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from ..errors import SysMedicError
from ..formatting import iso_utc
from ..mailbox import Mailbox, drop_oldest

log = logging.getLogger(__name__)


class MailError(SysMedicError):
    """Sending failed; the text says which server and why (never the password)."""


def build_message(email, alert, hostname):
    """An :class:`EmailMessage` for ``alert`` (an AlertRecord) from ``email`` settings."""
    message = EmailMessage()
    message["Subject"] = "[SysMedic] %s on %s: %s" % (alert.severity.upper(), hostname, alert.message)
    message["From"] = email.sender or "sysmedic@%s" % hostname
    message["To"] = ", ".join(email.recipients)
    message["Date"] = formatdate(alert.created_at, localtime=True)
    stored = alert.id is not None
    message["Message-ID"] = make_msgid("sysmedic-alert-%s" % (alert.id if stored else "unstored"), domain=hostname)
    lines = [
        "SysMedic alert #%d on %s" % (alert.id, hostname) if stored else
        "SysMedic alert on %s (not stored: the database cannot be written)" % hostname,
        "",
        "Time:     %s" % iso_utc(alert.created_at),
        "Severity: %s" % alert.severity,
        "Status:   %s" % alert.status,
        "Cause:    %s" % alert.cause,
        "Users:    %s" % (", ".join(alert.users) or "-"),
        "",
        alert.message,
    ]
    if alert.details.get("primary_cause"):
        lines += ["", "Primary cause: %s" % alert.details["primary_cause"]]
    if alert.details.get("recommendations"):
        lines += ["", "Recommendations:"] + ["  - %s" % r for r in alert.details["recommendations"]]
    if stored:
        lines += ["", "Resolve with: sysmedic alerts resolve %d" % alert.id]
    message.set_content("\n".join(lines) + "\n")
    return message


def send(email, message):
    """Deliver ``message`` with the SMTP settings in ``email``. :raises MailError: on failure."""
    context = ssl.create_default_context(cafile=email.ca_file or None)
    where = "%s:%d" % (email.smtp_host, email.smtp_port)
    try:
        if email.security == "ssl":
            client = smtplib.SMTP_SSL(email.smtp_host, email.smtp_port, timeout=email.timeout,
                                      context=context)
        else:
            client = smtplib.SMTP(email.smtp_host, email.smtp_port, timeout=email.timeout)
        with client:
            if email.security == "starttls":
                client.starttls(context=context)
            if email.username:
                client.login(email.username, email.password)
            client.send_message(message)
    except smtplib.SMTPAuthenticationError as err:
        raise MailError("SMTP %s: login as %s refused (%s)" % (where, email.username, err.smtp_code))
    except (smtplib.SMTPException, OSError, ssl.SSLError) as err:
        raise MailError("SMTP %s: %s" % (where, err))


class Mailer:
    """The e-mail notifier (see :mod:`sysmedic.notify` for the interface): a bounded queue of
    alerts to e-mail and the loop that sends them.

    :param settings: a callable returning the current ``Email`` settings (they can be reloaded).
    :param limit: alerts held at most; when full the oldest waiting alert is dropped and logged.
    """

    name = "email"

    def __init__(self, settings, hostname=None, limit=100, sender=send):
        self._settings = settings
        self._hostname = hostname or socket.getfqdn()
        self._queue = Mailbox(limit, drop_oldest, on_drop=self._dropped)
        self._send = sender
        self.sent = 0
        self.failed = 0

    @property
    def dropped(self):
        return self._queue.dropped

    @staticmethod
    def _dropped(alert):
        log.warning("e-mail queue full: not sending alert %d", alert.id)

    def submit(self, alert):
        """Queue ``alert`` for sending; never blocks."""
        email = self._settings()
        if email.enabled and email.recipients:
            self._queue.put(alert)

    def run(self, stop):
        """Send queued alerts until :meth:`close`, then return once the queue is drained.

        Any failure, even an unexpected one, is logged and counted; the loop carries on.
        """
        self._queue.consume(self.deliver, self._failed)

    def _failed(self, alert):
        self.failed += 1
        log.exception("alert %d not e-mailed: unexpected error", alert.id)

    def deliver(self, alert):
        """Send one alert now; logs and counts failures, returns True when sent."""
        email = self._settings()
        try:
            self._send(email, build_message(email, alert, self._hostname))
        except MailError as err:
            self.failed += 1
            log.error("alert %d not e-mailed: %s", alert.id, err)
            return False
        self.sent += 1
        log.info("alert %d e-mailed to %s", alert.id, ", ".join(email.recipients))
        return True

    def close(self):
        """End :meth:`run` after what is already queued."""
        self._queue.close()
