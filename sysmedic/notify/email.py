"""E-mail an alert with ``smtplib`` (STARTTLS, SSL or plain; login optional).

The alert is already stored when it reaches here: a failed send is logged, retried with
backoff (:mod:`sysmedic.notify.base`) and never loses the alert. :class:`Mailer` is a
notifier: its own bounded queue and thread, so a slow SMTP server never delays the sampler.
"""

import logging

from ..formatting import iso_utc
from ..views.processes import describe_ended
from ..untrusted import escape
from ..errors import MailError
from .base import Notifier

log = logging.getLogger(__name__)


SUBJECTS = {"open": "%s on %s", "reminder": "still %s on %s", "resolve": "RESOLVED (%s) on %s", "test": "TEST (%s) from %s"}


def build_message(email, notice):
    """An ``EmailMessage`` for ``notice`` (its ``alert``, an AlertRecord) from ``email`` settings."""
    from email.message import EmailMessage  # with the first mail: a daemon without e-mail never loads it
    from email.utils import formatdate, make_msgid
    alert, hostname = notice.alert, notice.host
    message = EmailMessage()
    message["Subject"] = "[SysMedic] %s: %s" % (SUBJECTS[notice.event] % (alert.severity.upper(), hostname),
                                                escape(alert.message))
    message["From"] = email.sender or "sysmedic@%s" % hostname
    message["To"] = ", ".join(email.recipients)
    message["Date"] = formatdate(alert.resolved_at if notice.event == "resolve" else alert.created_at, localtime=True)
    stored = alert.id is not None
    message["Message-ID"] = make_msgid("sysmedic-alert-%s-%s" % (alert.id if stored else "unstored", notice.event),
                                       domain=hostname)
    if notice.event == "test":
        title = "SysMedic test alert from %s: e-mail works." % hostname
    elif stored:
        title = "SysMedic alert #%d on %s%s" % (alert.id, hostname, {"resolve": " is resolved",
                                                                     "reminder": " is still open"}.get(notice.event, ""))
    else:
        title = "SysMedic alert on %s (not stored: the database cannot be written)" % hostname
    lines = [
        title,
        "",
        "Time:     %s" % iso_utc(alert.created_at),
        "Severity: %s" % alert.severity,
        "Status:   %s" % alert.status,
        "Cause:    %s" % alert.cause,
        "Users:    %s" % (escape(", ".join(alert.users)) or "-"),
    ]
    if alert.resolved_at is not None:
        lines.append("Resolved: %s (%s)" % (iso_utc(alert.resolved_at), alert.resolved_by))
    if alert.reopen_count:
        lines.append("Re-opened: %d times" % alert.reopen_count)
    lines += ["", escape(alert.message)]
    if alert.details.get("processes"):
        lines += ["", "Top processes:"] + ["  %7d  %5.1f%% cpu  %5.1f%% mem  %s" % (
            p["pid"], p["cpu_percent"], p["memory_percent"], escape(p["command"])) for p in alert.details["processes"]]
    if alert.details.get("ended"):
        lines += ["", "Ended in the interval (from the kernel's exit records): %s"
                  % escape(describe_ended(alert.details["ended"]))]
    if alert.details.get("primary_cause"):
        lines += ["", "Primary cause: %s" % escape(alert.details["primary_cause"])]
    if alert.details.get("recommendations"):
        lines += ["", "Recommendations:"] + ["  - %s" % r for r in alert.details["recommendations"]]
    if stored and alert.resolved_at is None:
        lines += ["", "Resolve with: sysmedic alerts resolve %d" % alert.id]
    message.set_content("\n".join(lines) + "\n")
    return message


def send(email, message):
    """Deliver ``message`` with the SMTP settings in ``email``. :raises MailError: on failure."""
    import smtplib  # with the first mail: smtplib loads ssl and hashlib (OpenSSL, 4 MB of memory)
    import ssl
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


class Mailer(Notifier):
    """The e-mail notifier (see :mod:`sysmedic.notify`).

    :param settings: a callable returning the current ``Email`` settings (they can be reloaded).
    :param sender: ``sender(email, message)`` delivers (tests swap it).
    """

    def __init__(self, settings, hostname=None, limit=100, sender=send):
        super().__init__("email", settings, hostname, limit)
        self._send = sender

    def configured(self, settings):
        return bool(settings.recipients)

    def deliver(self, settings, notice):
        self._send(settings, build_message(settings, notice))


NOTIFIER = Mailer  # what sysmedic.notify.notifiers() makes of this module
