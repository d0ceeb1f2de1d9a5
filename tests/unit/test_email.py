"""E-mail against a real SMTP server (aiosmtpd) on a free port: plain, STARTTLS+login, SSL."""

import email
import logging
import socket
import ssl
import threading

import pytest

from sysmedic.analysis.alerts import Condition
from sysmedic.config import config_from_dict
from sysmedic.notify.base import Notice
from sysmedic.notify.email import Mailer, MailError, build_message, send
from sysmedic.storage import Storage

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
trustme = pytest.importorskip("trustme")
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402


class Inbox:
    def __init__(self):
        self.messages = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content), session.authenticated))
        self.arrived.set()
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"alerts", b"s3cret")
    return AuthResult(success=ok, handled=False)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def smtp(ca, tmp_path):
    """Start servers on demand: smtp("plain" | "starttls" | "ssl") -> (inbox, port, ca_file)."""
    started = []
    ca_file = str(tmp_path / "ca.pem")
    ca.cert_pem.write_to_path(ca_file)

    def start(kind):
        inbox, port = Inbox(), free_port()
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_ctx)
        options = dict(hostname="127.0.0.1", port=port)
        if kind == "starttls":
            options.update(tls_context=server_ctx, require_starttls=True, authenticator=authenticator,
                           auth_required=True)
        elif kind == "ssl":
            options.update(ssl_context=server_ctx, authenticator=authenticator, auth_require_tls=False)
        controller = aiosmtpd_controller.Controller(inbox, **options)
        controller.start()
        started.append(controller)
        return inbox, port, ca_file
    yield start
    for controller in started:
        controller.stop()


def settings(port, **extra):
    values = {"enabled": True, "smtp_host": "localhost", "smtp_port": port, "security": "none",
              "recipients": ["ops@example.com", "oncall@example.com"], "sender": "sysmedic@box.example"}
    values.update(extra)
    return config_from_dict({"email": values}).email


@pytest.fixture
def alert(tmp_path):
    with Storage(str(tmp_path / "db.sqlite")) as store:
        record, _ = store.open_alert(
            Condition("user:db:cpu", "warning", "Persistent cpu usage by db: 95.2% for 5m (threshold 80%)", ("db",)),
            "Heavy Load", details={"primary_cause": "db (cpu: 95.2% for 5m)",
                                   "recommendations": ["Check db's processes"]})
        yield record


def test_plain_smtp_with_proper_headers_and_several_recipients(smtp, alert):
    inbox, port, _ = smtp("plain")
    email_settings = settings(port)
    send(email_settings, build_message(email_settings, Notice("open", alert, "box.example")))
    assert inbox.arrived.wait(10)
    rcpts, message, _ = inbox.messages[0]
    assert rcpts == ["ops@example.com", "oncall@example.com"]
    assert message["From"] == "sysmedic@box.example"
    assert message["Date"] and message["Message-ID"].endswith("@box.example>")
    assert "WARNING" in message["Subject"] and "box.example" in message["Subject"]
    body = message.get_payload(decode=True).decode()
    assert "db (cpu: 95.2% for 5m)" in body and "sysmedic alerts resolve %d" % alert.id in body


def test_starttls_with_login(smtp, alert):
    inbox, port, ca_file = smtp("starttls")
    email_settings = settings(port, security="starttls", username="alerts", password="s3cret", ca_file=ca_file)
    send(email_settings, build_message(email_settings, Notice("open", alert, "box.example")))
    assert inbox.arrived.wait(10)
    assert inbox.messages[0][2] is True  # authenticated


def test_ssl_with_login(smtp, alert):
    inbox, port, ca_file = smtp("ssl")
    email_settings = settings(port, security="ssl", username="alerts", password="s3cret", ca_file=ca_file)
    send(email_settings, build_message(email_settings, Notice("open", alert, "box.example")))
    assert inbox.arrived.wait(10)


def test_wrong_password_and_untrusted_certificate_are_clear_errors(smtp, alert):
    _, port, ca_file = smtp("starttls")
    bad = settings(port, security="starttls", username="alerts", password="wrong", ca_file=ca_file)
    with pytest.raises(MailError, match="login as alerts refused") as caught:
        send(bad, build_message(bad, Notice("open", alert, "box.example")))
    assert "wrong" not in str(caught.value)
    untrusted = settings(port, security="starttls", username="alerts", password="s3cret")
    with pytest.raises(MailError, match="CERTIFICATE_VERIFY_FAILED"):
        send(untrusted, build_message(untrusted, Notice("open", alert, "box.example")))


def test_mailer_logs_a_failure_and_the_alert_stays_stored(tmp_path, alert, caplog):
    dead_port = free_port()  # nothing listens here
    mailer = Mailer(lambda: settings(dead_port, timeout=2, retries=1), hostname="box.example")
    with caplog.at_level(logging.ERROR):
        assert mailer.send(Notice("open", alert, "box.example")) is False
    assert mailer.failed == 1
    assert "email: open notice of alert %d not delivered (attempt 1 of 2)" % alert.id in caplog.text
    assert "(attempt 2 of 2)" in caplog.text
    with Storage(str(tmp_path / "db.sqlite")) as store:
        assert [r.id for r in store.alerts(unresolved=True)] == [alert.id]


def test_mailer_queue_is_bounded_and_drains_on_stop(smtp, alert):
    inbox, port, _ = smtp("plain")
    mailer = Mailer(lambda: settings(port), hostname="box.example", limit=2)
    for _ in range(3):
        mailer.submit(alert)
    assert mailer.dropped == 1
    mailer.close()
    mailer.run(threading.Event())  # drains what is queued, then returns
    assert mailer.sent == 2 and len(inbox.messages) == 2


def test_disabled_email_queues_nothing(alert):
    mailer = Mailer(lambda: config_from_dict({}).email)
    mailer.submit(alert)
    mailer.close()
    mailer.run(threading.Event())
    assert mailer.sent == mailer.failed == 0


def test_an_unexpected_error_is_logged_and_the_mailer_carries_on(alert, caplog):
    """Issue 8, defect 11: Mailer.run had no catch-all, so one bug killed the thread silently."""
    sent = []

    def sender(email, message):
        if not sent:
            sent.append(None)
            raise KeyError("a bug in a sender")
        sent.append(message)
    email = config_from_dict({"email": {"enabled": True, "recipients": ["ops@example.com"]}}).email
    mailer = Mailer(lambda: email, hostname="box.example", sender=sender)
    mailer.submit(alert)
    mailer.submit(alert)
    mailer.close()
    with caplog.at_level(logging.ERROR):
        mailer.run(threading.Event())
    assert mailer.failed == 1 and mailer.sent == 1 and len(sent) == 2
    assert "unexpected error" in caplog.text and "KeyError: 'a bug in a sender'" in caplog.text


def test_a_resolution_is_mailed_as_resolved_and_filters_apply(smtp, alert, tmp_path):
    inbox, port, _ = smtp("plain")
    with Storage(str(tmp_path / "db.sqlite")) as store:
        resolved = store.resolve_causes([alert.cause], now=alert.created_at + 90)[0]
    mailer = Mailer(lambda: settings(port), hostname="box.example")
    assert mailer.send(Notice("resolve", resolved, "box.example"))
    assert inbox.arrived.wait(10)
    message = inbox.messages[0][1]
    assert "RESOLVED" in message["Subject"]
    body = message.get_payload(decode=True).decode()
    assert "is resolved" in body and "Resolved:" in body and "sysmedic alerts resolve" not in body
    picky = Mailer(lambda: settings(port, severities=["critical"], events=["open"]), hostname="box.example")
    picky.submit(alert, "open")  # a warning: not for this notifier
    picky.submit(resolved, "resolve")
    assert picky._queue.take_all() == []
