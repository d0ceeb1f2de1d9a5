"""The option table: every option of ``config.json`` and ``websocket.json`` is a field of a frozen
dataclass here, its metadata its converter, help text, whether it is secret and whether a
running daemon takes it only at restart (:func:`~sysmedic.config.values.option`)."""

import dataclasses
import types
from dataclasses import dataclass, field

from .. import figures

from .values import (addresses_value, argv_value, boolean_value, duration_in, events_option, float_range,
                     headers_value, int_range, names_value, one_of, option, severities_option, text_value, url_value)


# -- the option table ---------------------------------------------------------------------------

PERCENT = int_range(1, 100)


@dataclass(frozen=True)
class Monitoring:
    update_interval: float = option(5.0, duration_in(1, shortest=0.2), "seconds between samples and system_update messages")
    monitoring_interval: float = option(60.0, duration_in(1, shortest=1.0), "seconds between history rows in the database")
    cpu_threshold: int = option(80, PERCENT, "system CPU % above which the machine is under Heavy Load")
    memory_threshold: int = option(80, PERCENT, "system memory % above which the machine is under Heavy Load")
    persistent_time: float = option(3600.0, duration_in(60), "minutes a user must stay above a threshold to be persistent")
    persistent_grace: float = option(15.0, duration_in(1, zero=True), "seconds a user may dip below a threshold without ending the run")
    alert_after: float = option(60.0, duration_in(1, zero=True), "seconds the machine must stay above a threshold before an alert opens")
    clear_after: float = option(60.0, duration_in(1, zero=True), "seconds it must stay below threshold - clear_margin before it resolves")
    clear_margin: float = option(5.0, float_range(0, 100), "points below the threshold that count as clear (hysteresis)")
    retain_days: float = option(30 * 86400.0, duration_in(86400), "days of history and resolved alerts to keep")
    collector: str = option("auto", one_of("auto", "procfs", "psutil"), "metrics backend: auto, procfs or psutil")
    exit_records: bool = option(True, boolean_value, "as root, count per-user CPU exactly from the kernel's exit records")
    pss_interval: float = option(60.0, duration_in(1, shortest=1.0), "seconds between reads of each process's PSS (memory shared pages split)")
    history_memory: float = option(3600.0, duration_in(60, shortest=60.0), "minutes of samples kept in memory for get_history (20,000 at most)",
                                   restart=True)


def _thresholds(fields):
    """``(name, type, field)`` of a threshold option for each figure users are judged on
    (:func:`sysmedic.figures.judged`): ``fields(threshold) -> (name, help)``."""
    found = []
    for figure in figures.judged():
        name, help_text = fields(figure.threshold)
        found.append((name, int, option(figure.threshold.default, PERCENT, help_text)))
    return found


def _made(name, fields, doc, bases=()):
    """A frozen dataclass made from the figure table (its options named by the rows)."""
    return dataclasses.make_dataclass(name, fields, bases=bases, frozen=True,
                                      namespace={"__doc__": doc, "__module__": __name__})


# The default threshold of each judged figure: monitoring.user_cpu_threshold, ...
Monitoring = _made("Monitoring", _thresholds(lambda t: (t.option, "default per-user %s %% threshold" % t.label)),
                   "The ``monitoring`` section.", bases=(Monitoring,))


@dataclass(frozen=True)
class Filtering:
    excluded_users: tuple = option((), names_value, "users never shown nor alerted on")
    min_cpu_percent: float = option(0.0, float_range(0, 100), "hide users below this CPU % ...")
    min_memory_percent: float = option(0.0, float_range(0, 100), "... and below this memory %")
    exclude_system_users: bool = option(False, boolean_value, "hide users with uid below 1000 (except root)")


@dataclass(frozen=True)
class Email:
    enabled: bool = option(False, boolean_value, "send an e-mail when an alert opens")
    smtp_host: str = option("localhost", text_value, "SMTP server host name")
    smtp_port: int = option(587, int_range(1, 65535), "SMTP server port")
    security: str = option("starttls", one_of("starttls", "ssl", "none"), "starttls, ssl or none")
    username: str = option("", text_value, "SMTP login (empty: no authentication)")
    password: str = option("", text_value, "SMTP password", secret=True)
    sender: str = option("", text_value, "From address (default sysmedic@<fqdn>)")
    recipients: tuple = option((), addresses_value, "To addresses, comma-separated")
    timeout: float = option(10.0, duration_in(1, shortest=1.0), "seconds to wait for the SMTP server")
    ca_file: str = option("", text_value, "PEM file of CAs to trust instead of the system store")
    retries: int = option(2, int_range(0, 10), "attempts after a failed send (1 s, 2 s, 4 s ... apart)")
    severities: tuple = severities_option()
    events: tuple = events_option()


@dataclass(frozen=True)
class Webhook:
    enabled: bool = option(False, boolean_value, "POST each alert as JSON to url (Slack, Mattermost, Rocket.Chat show its text)")
    url: str = option("", url_value, "http:// or https:// URL to POST to (user:password@ is sent as Basic auth)",
                      secret="url")
    headers: tuple = option((), headers_value, "extra headers, a JSON object: {\"Authorization\": \"Bearer ...\"}",
                            secret=True)
    ca_file: str = option("", text_value, "PEM file of CAs to trust for https instead of the system store")
    timeout: float = option(10.0, duration_in(1, shortest=1.0), "seconds to wait for the receiver")
    retries: int = option(3, int_range(0, 10), "attempts after a failed POST (1 s, 2 s, 4 s ... apart)")
    severities: tuple = severities_option()
    events: tuple = events_option()


@dataclass(frozen=True)
class Command:
    enabled: bool = option(False, boolean_value, "run a program for each alert (JSON on stdin, SYSMEDIC_ALERT_* variables)")
    argv: tuple = option((), argv_value, "the program and its arguments, a JSON list (no shell)")
    timeout: float = option(10.0, duration_in(1, shortest=1.0), "seconds the program may run before it is killed")
    retries: int = option(0, int_range(0, 10), "runs after a failed one (1 s, 2 s, 4 s ... apart)")
    severities: tuple = severities_option()
    events: tuple = events_option()


@dataclass(frozen=True)
class Alerts:
    cooldown: float = option(600.0, duration_in(1, zero=True), "seconds after a resolution in which a re-opening continues the old alert, unsent")
    renotify: float = option(0.0, duration_in(1, zero=True), "seconds between reminders about an alert still open (0: none)")
    notify_resolved: bool = option(True, boolean_value, "tell the notifiers when an alert resolves")


# One user's thresholds (users.<name>.cpu_threshold, ...), defaulting to the monitoring ones
UserLimits = _made("UserLimits", _thresholds(lambda t: (t.limit, "this user's %s %% threshold" % t.label)),
                   "A user's thresholds: one field per figure users are judged on.")


class _ConfigMethods:
    def user_limits(self, username):
        """The thresholds that apply to ``username`` (its overrides, else the defaults)."""
        limits = self.users.get(username)
        if limits is not None:
            return limits
        return UserLimits(**defaults(self.monitoring))


@dataclass(frozen=True)
class WebSocketSettings:
    """The validated ``websocket.json`` (spec: ``{"port": 8060, "enabled": true}``)."""
    port: int = option(8060, int_range(1, 65535), "TCP port of the HTTP/WebSocket server")
    enabled: bool = option(True, boolean_value, "run the WebSocket server with the daemon")
    host: str = option("0.0.0.0", text_value, "address to listen on")
    public_host: str = option("", text_value, "host name put in connection URLs (default: the FQDN)")
    max_clients: int = option(100, int_range(1, 10000), "WebSocket clients served at once (more get 503)")
    compression: bool = option(False, boolean_value, "accept permessage-deflate")
    max_message_size: int = option(65536, int_range(125, 1 << 24), "largest client message in bytes (close 1009)")
    ping_interval: float = option(25.0, duration_in(1, shortest=1.0), "seconds between server pings")
    header_timeout: float = option(10.0, duration_in(1, shortest=1.0), "seconds a client has to send its request headers")
    max_http_connections: int = option(64, int_range(4, 10000), "connections not (yet) WebSocket clients, at most")
    http_lifetime: float = option(30.0, duration_in(1, shortest=1.0), "seconds a non-WebSocket connection may stay open")
    send_timeout: float = option(10.0, duration_in(1, shortest=1.0), "seconds a send may wait for a client to read")
    send_buffer: int = option(65536, int_range(4096, 1 << 24), "kernel send buffer per client in bytes")
    queue_limit: int = option(32, int_range(1, 10000), "messages queued per client at most")
    evict_after: int = option(8, int_range(1, 10000), "drops in a row after which a client is evicted (1008)")
    max_pending_messages: int = option(16, int_range(1, 10000), "client messages read and not yet answered, at most ...")
    max_pending_bytes: int = option(262144, int_range(4096, 1 << 28), "... and their bytes: past either, TCP pushes back")
    rate_limit: float = option(20.0, float_range(0.1, 100000), "requests per second per client ...")
    rate_burst: int = option(40, int_range(1, 100000), "... with bursts of this many")
    metrics: bool = option(False, boolean_value, "serve GET /metrics (Prometheus text format)")
    metrics_token_file: str = option("", text_value, "file (0600) holding the bearer token /metrics requires")
    metrics_public: bool = option(False, boolean_value, "serve /metrics without a token on a non-loopback address")
    metrics_max_users: int = option(50, int_range(1, 10000), "users named in /metrics at most (the rest: user=\"other\")")
    tls_cert_file: str = option("", text_value, "PEM certificate (chain): with tls_key_file, serve HTTPS and WSS")
    tls_key_file: str = option("", text_value, "PEM private key of tls_cert_file (not encrypted; 0600)")

    @property
    def tls(self):
        return bool(self.tls_cert_file)


# The sections of config.json, in the order config show lists them; a notifier's section is
# also its registration (NOTIFIERS): sysmedic.notify.<name> is its module.
SECTIONS = {"monitoring": Monitoring, "filtering": Filtering, "alerts": Alerts, "email": Email,
            "webhook": Webhook, "command": Command}
NOTIFIERS = ("email", "webhook", "command")

# The validated config.json: one field per section, and ``users`` (a user name -> UserLimits).
Config = _made("Config", [(name, section, field(default_factory=section)) for name, section in SECTIONS.items()]
               + [("users", types.MappingProxyType, field(default_factory=lambda: types.MappingProxyType({})))],
               "The validated ``config.json``: a field per section of :data:`SECTIONS`; ``users`` maps a user "
               "name to its :class:`UserLimits`.", bases=(_ConfigMethods,))


def defaults(monitoring):
    """``{UserLimits field: the monitoring option's value}``: a user's thresholds when none of
    their own are set."""
    return {figure.threshold.limit: getattr(monitoring, figure.threshold.option) for figure in figures.judged()}
