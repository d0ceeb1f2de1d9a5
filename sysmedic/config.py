"""SysMedic configuration: declared once, validated once, written atomically.

Two files live in the home directory (docs/protocol-decisions.md, decision 15):

- ``config.json``     monitoring settings, per-user overrides, filtering, e-mail;
- ``websocket.json``  ``{"port": 8060, "enabled": true}`` plus optional server keys.

Every option is a field of a frozen dataclass below; the field's metadata holds its converter
and help text (and a duration's unit), so the declaration *is* the option table
(docs/architecture.md #11). A converter accepts the JSON value or the CLI's string and raises
``ValueError`` whose text completes the sentence ``"<file>: <key>: ..."``. Files keep only what
the user set; missing keys take defaults.
"""

import dataclasses
import json
import math
import os
import re
import types
from dataclasses import dataclass, field

from .errors import ConfigError, SysMedicError
from .formatting import duration_text, parse_duration
from .home import atomic_write, open_in_home

EVENTS = ("open", "resolve", "reminder")  # what a notifier can be sent (its ``events``)
SEVERITIES = ("critical", "warning")      # alert severities (a notifier's ``severities``)
CONFIG_FILE = "config.json"
WEBSOCKET_FILE = "websocket.json"
MAX_FILE_BYTES = 1 << 20


# -- converters: JSON value or CLI string -> validated Python value ----------------------------

def _number(value):
    """An int or a finite float (JSON's 1e400 parses as infinity: issue 13)."""
    if isinstance(value, bool):
        raise ValueError("%r is not a number" % (value,))
    if not isinstance(value, (int, float)):
        try:
            value = float(value) if any(c in str(value) for c in ".eEiInN") else int(value)
        except (TypeError, ValueError):
            raise ValueError("%r is not a number" % (value,))
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("%s is not a finite number" % (value,))
    return value


def _int_range(low, high):
    def convert(value):
        number = _number(value)
        if number != int(number):
            raise ValueError("%r is not a whole number" % (value,))
        if not low <= number <= high:
            raise ValueError("%s is out of range %d-%d" % (value, low, high))
        return int(number)
    return convert


def _float_range(low, high):
    def convert(value):
        number = float(_number(value))
        if number != number or not low <= number <= high:
            raise ValueError("%s is out of range %g-%g" % (value, low, high))
        return number
    return convert


class _Duration:
    """A positive duration: a bare number in this option's unit, or a string like ``5m``.

    The unit is part of the option's declaration (``persistent_time`` counts minutes,
    ``retain_days`` days), so a bare number means the same thing in the file, on the command
    line and after a reload; :meth:`text` writes a value back with its unit (``"30m"``).
    """

    LONGEST = 10 * 365 * 86400.0

    def __init__(self, unit_seconds, suffix, shortest=0.0, zero=False):
        self.unit_seconds = unit_seconds
        self.suffix = suffix
        self.shortest = shortest
        self.zero = zero

    def __call__(self, value):
        if isinstance(value, str) and value.strip() and value.strip()[-1].isalpha():
            seconds = parse_duration(value)
        else:
            seconds = float(_number(value)) * self.unit_seconds
        if self.zero and seconds == 0:
            return 0.0
        if seconds != seconds or not seconds > 0:
            raise ValueError("%s must be %s0" % (value, "at least " if self.zero else "greater than "))
        if seconds < self.shortest:
            raise ValueError("%s is too short (at least %s)" % (value, duration_text(self.shortest, 1, "s")))
        if seconds > self.LONGEST:
            raise ValueError("%s is too long (at most 10 years)" % (value,))
        return seconds

    def text(self, seconds):
        """``seconds`` in this option's unit when whole (``30m``, ``14d``), else mixed units."""
        if seconds == 0:
            return "0"
        return duration_text(seconds, self.unit_seconds, self.suffix)


def _duration(unit_seconds, shortest=0.0, zero=False):
    """A duration counted in ``unit_seconds``, at least ``shortest`` seconds (issue 13 Low 15:
    an interval of a microsecond made the daemon spin a whole core); ``zero``: 0 is allowed
    too (it turns a wait off)."""
    return _Duration(unit_seconds, {1: "s", 60: "m", 86400: "d"}[unit_seconds], shortest, zero)


def _boolean(value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError("%r is not true or false" % (value,))


def _choice(*choices):
    def convert(value):
        if value not in choices:
            raise ValueError("%r is not one of %s" % (value, ", ".join(choices)))
        return value
    return convert


def _text(value):
    if not isinstance(value, str):
        raise ValueError("%r is not a string" % (value,))
    if any(ord(ch) < 32 for ch in value):
        raise ValueError("contains control characters")
    return value


_NAME = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.@-]*\$?$")


def _names(value):
    """A list of user names (JSON list or comma-separated string)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ValueError("%r is not a list of names" % (value,))
    names = tuple(str(item).strip() for item in items if str(item).strip())
    for name in names:
        if not _NAME.match(name) or len(name) > 64:
            raise ValueError("%r is not a valid user name" % (name,))
    return names


def _addresses(value):
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ValueError("%r is not a list of addresses" % (value,))
    addresses = tuple(_text(str(item)).strip() for item in items if str(item).strip())
    for address in addresses:
        if "@" not in address:
            raise ValueError("%r is not an e-mail address" % (address,))
    return addresses


def _subset(*choices):
    """Some of ``choices`` (JSON list or comma-separated string), at least one."""
    def convert(value):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ValueError("%r is not a list of %s" % (value, ", ".join(choices)))
        picked = tuple(str(item).strip() for item in items if str(item).strip())
        for item in picked:
            if item not in choices:
                raise ValueError("%r is not one of %s" % (item, ", ".join(choices)))
        if not picked:
            raise ValueError("needs at least one of %s" % ", ".join(choices))
        return picked
    return convert


def _url(value):
    """An http:// or https:// URL with a host ("" for none)."""
    from urllib.parse import urlsplit
    text = _text(value).strip()
    if not text:
        return ""
    try:
        parts = urlsplit(text)
        parts.port  # raises ValueError for a bad port
    except ValueError as err:
        raise ValueError("%r is not a URL (%s)" % (text, err))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("%r is not an http:// or https:// URL" % text)
    return text


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _headers(value):
    """Extra HTTP headers (a token, say): a JSON object of name -> value, also as the text of
    one on the command line. Kept as sorted ``(name, value)`` pairs."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("must be a JSON object of header names and values")
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object of header names and values")
    headers = []
    for name, text in value.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise ValueError("%r is not a header name" % (name,))
        headers.append((name, _text(text if isinstance(text, str) else str(text))))
    return tuple(sorted(headers))


def _argv(value):
    """A program and its arguments (a JSON list, run without a shell); the program must exist
    and be executable ("" or [] for none)."""
    import shutil
    if isinstance(value, str) and value.strip().startswith("["):  # from the command line
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("must be a JSON list of strings: the program and its arguments")
    if value in ("", [], ()):
        return ()
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise ValueError("must be a list of strings: the program and its arguments")
    argv = tuple(_text(item) for item in value)
    program = argv[0]
    found = shutil.which(program) if os.sep not in program else (program if os.access(program, os.X_OK) else None)
    if not found or os.path.isdir(found):
        raise ValueError("%r is not an executable program%s" % (program, "" if os.sep in program else " on PATH"))
    return argv


def option(default, convert, help, secret=False, restart=False):
    """Declare one option: its default, converter and one-line help; ``restart``: a running
    daemon takes it only when it starts again (every other option applies live, on ``config
    set`` and on SIGHUP)."""
    return field(default=default, metadata={"convert": convert, "help": help, "secret": secret, "restart": restart})


def severities_option():
    """A notifier's ``severities``: which alerts it sends."""
    return option(SEVERITIES, _subset(*SEVERITIES), "alert severities to send: critical, warning")


def events_option():
    """A notifier's ``events``: which of an alert's events it sends."""
    return option(EVENTS, _subset(*EVENTS), "what to send: open, resolve, reminder")


# -- the option table ---------------------------------------------------------------------------

PERCENT = _int_range(1, 100)


@dataclass(frozen=True)
class Monitoring:
    update_interval: float = option(5.0, _duration(1, shortest=0.2), "seconds between samples and system_update messages")
    monitoring_interval: float = option(60.0, _duration(1, shortest=1.0), "seconds between history rows in the database")
    cpu_threshold: int = option(80, PERCENT, "system CPU % above which the machine is under Heavy Load")
    memory_threshold: int = option(80, PERCENT, "system memory % above which the machine is under Heavy Load")
    user_cpu_threshold: int = option(80, PERCENT, "default per-user CPU % threshold (share of the machine)")
    user_memory_threshold: int = option(80, PERCENT, "default per-user memory % threshold")
    persistent_time: float = option(3600.0, _duration(60), "minutes a user must stay above a threshold to be persistent")
    persistent_grace: float = option(15.0, _duration(1, zero=True), "seconds a user may dip below a threshold without ending the run")
    alert_after: float = option(60.0, _duration(1, zero=True), "seconds the machine must stay above a threshold before an alert opens")
    clear_after: float = option(60.0, _duration(1, zero=True), "seconds it must stay below threshold - clear_margin before it resolves")
    clear_margin: float = option(5.0, _float_range(0, 100), "points below the threshold that count as clear (hysteresis)")
    retain_days: float = option(30 * 86400.0, _duration(86400), "days of history and resolved alerts to keep")
    collector: str = option("auto", _choice("auto", "procfs", "psutil"), "metrics backend: auto, procfs or psutil")
    exit_records: bool = option(True, _boolean, "as root, count per-user CPU exactly from the kernel's exit records")
    pss_interval: float = option(60.0, _duration(1, shortest=1.0), "seconds between reads of each process's PSS (memory shared pages split)")
    history_memory: float = option(3600.0, _duration(60, shortest=60.0), "minutes of samples kept in memory for get_history (20,000 at most)",
                                   restart=True)


@dataclass(frozen=True)
class Filtering:
    excluded_users: tuple = option((), _names, "users never shown nor alerted on")
    min_cpu_percent: float = option(0.0, _float_range(0, 100), "hide users below this CPU % ...")
    min_memory_percent: float = option(0.0, _float_range(0, 100), "... and below this memory %")
    exclude_system_users: bool = option(False, _boolean, "hide users with uid below 1000 (except root)")


@dataclass(frozen=True)
class Email:
    enabled: bool = option(False, _boolean, "send an e-mail when an alert opens")
    smtp_host: str = option("localhost", _text, "SMTP server host name")
    smtp_port: int = option(587, _int_range(1, 65535), "SMTP server port")
    security: str = option("starttls", _choice("starttls", "ssl", "none"), "starttls, ssl or none")
    username: str = option("", _text, "SMTP login (empty: no authentication)")
    password: str = option("", _text, "SMTP password", secret=True)
    sender: str = option("", _text, "From address (default sysmedic@<fqdn>)")
    recipients: tuple = option((), _addresses, "To addresses, comma-separated")
    timeout: float = option(10.0, _duration(1, shortest=1.0), "seconds to wait for the SMTP server")
    ca_file: str = option("", _text, "PEM file of CAs to trust instead of the system store")
    retries: int = option(2, _int_range(0, 10), "attempts after a failed send (1 s, 2 s, 4 s ... apart)")
    severities: tuple = severities_option()
    events: tuple = events_option()


@dataclass(frozen=True)
class Webhook:
    enabled: bool = option(False, _boolean, "POST each alert as JSON to url (Slack, Mattermost, Rocket.Chat show its text)")
    url: str = option("", _url, "http:// or https:// URL to POST to (user:password@ is sent as Basic auth)",
                      secret="url")
    headers: tuple = option((), _headers, "extra headers, a JSON object: {\"Authorization\": \"Bearer ...\"}",
                            secret=True)
    ca_file: str = option("", _text, "PEM file of CAs to trust for https instead of the system store")
    timeout: float = option(10.0, _duration(1, shortest=1.0), "seconds to wait for the receiver")
    retries: int = option(3, _int_range(0, 10), "attempts after a failed POST (1 s, 2 s, 4 s ... apart)")
    severities: tuple = severities_option()
    events: tuple = events_option()


@dataclass(frozen=True)
class Command:
    enabled: bool = option(False, _boolean, "run a program for each alert (JSON on stdin, SYSMEDIC_ALERT_* variables)")
    argv: tuple = option((), _argv, "the program and its arguments, a JSON list (no shell)")
    timeout: float = option(10.0, _duration(1, shortest=1.0), "seconds the program may run before it is killed")
    retries: int = option(0, _int_range(0, 10), "runs after a failed one (1 s, 2 s, 4 s ... apart)")
    severities: tuple = severities_option()
    events: tuple = events_option()


@dataclass(frozen=True)
class Alerts:
    cooldown: float = option(600.0, _duration(1, zero=True), "seconds after a resolution in which a re-opening continues the old alert, unsent")
    renotify: float = option(0.0, _duration(1, zero=True), "seconds between reminders about an alert still open (0: none)")
    notify_resolved: bool = option(True, _boolean, "tell the notifiers when an alert resolves")


@dataclass(frozen=True)
class UserLimits:
    cpu_threshold: int = option(80, PERCENT, "this user's CPU % threshold")
    memory_threshold: int = option(80, PERCENT, "this user's memory % threshold")


@dataclass(frozen=True)
class Config:
    """The validated ``config.json``. ``users`` maps a user name to its :class:`UserLimits`."""
    monitoring: Monitoring = field(default_factory=Monitoring)
    filtering: Filtering = field(default_factory=Filtering)
    email: Email = field(default_factory=Email)
    alerts: Alerts = field(default_factory=Alerts)
    webhook: Webhook = field(default_factory=Webhook)
    command: Command = field(default_factory=Command)
    users: types.MappingProxyType = field(default_factory=lambda: types.MappingProxyType({}))

    def user_limits(self, username):
        """The thresholds that apply to ``username`` (its overrides, else the defaults)."""
        limits = self.users.get(username)
        if limits is not None:
            return limits
        return UserLimits(self.monitoring.user_cpu_threshold, self.monitoring.user_memory_threshold)


@dataclass(frozen=True)
class WebSocketSettings:
    """The validated ``websocket.json`` (spec: ``{"port": 8060, "enabled": true}``)."""
    port: int = option(8060, _int_range(1, 65535), "TCP port of the HTTP/WebSocket server")
    enabled: bool = option(True, _boolean, "run the WebSocket server with the daemon")
    host: str = option("0.0.0.0", _text, "address to listen on")
    public_host: str = option("", _text, "host name put in connection URLs (default: the FQDN)")
    max_clients: int = option(100, _int_range(1, 10000), "WebSocket clients served at once (more get 503)")
    compression: bool = option(False, _boolean, "accept permessage-deflate")
    max_message_size: int = option(65536, _int_range(125, 1 << 24), "largest client message in bytes (close 1009)")
    ping_interval: float = option(25.0, _duration(1, shortest=1.0), "seconds between server pings")
    header_timeout: float = option(10.0, _duration(1, shortest=1.0), "seconds a client has to send its request headers")
    max_http_connections: int = option(64, _int_range(4, 10000), "connections not (yet) WebSocket clients, at most")
    http_lifetime: float = option(30.0, _duration(1, shortest=1.0), "seconds a non-WebSocket connection may stay open")
    send_timeout: float = option(10.0, _duration(1, shortest=1.0), "seconds a send may wait for a client to read")
    send_buffer: int = option(65536, _int_range(4096, 1 << 24), "kernel send buffer per client in bytes")
    queue_limit: int = option(32, _int_range(1, 10000), "messages queued per client at most")
    evict_after: int = option(8, _int_range(1, 10000), "drops in a row after which a client is evicted (1008)")
    max_pending_messages: int = option(16, _int_range(1, 10000), "client messages read and not yet answered, at most ...")
    max_pending_bytes: int = option(262144, _int_range(4096, 1 << 28), "... and their bytes: past either, TCP pushes back")
    rate_limit: float = option(20.0, _float_range(0.1, 100000), "requests per second per client ...")
    rate_burst: int = option(40, _int_range(1, 100000), "... with bursts of this many")
    metrics: bool = option(False, _boolean, "serve GET /metrics (Prometheus text format)")
    metrics_token_file: str = option("", _text, "file (0600) holding the bearer token /metrics requires")
    metrics_public: bool = option(False, _boolean, "serve /metrics without a token on a non-loopback address")
    metrics_max_users: int = option(50, _int_range(1, 10000), "users named in /metrics at most (the rest: user=\"other\")")
    tls_cert_file: str = option("", _text, "PEM certificate (chain): with tls_key_file, serve HTTPS and WSS")
    tls_key_file: str = option("", _text, "PEM private key of tls_cert_file (not encrypted; 0600)")

    @property
    def tls(self):
        return bool(self.tls_cert_file)


SECTIONS = {"monitoring": Monitoring, "filtering": Filtering, "alerts": Alerts, "email": Email,
            "webhook": Webhook, "command": Command}


def _convert(cls, raw, source, prefix, **defaults):
    """Build ``cls`` from a JSON object, converting and checking each known key."""
    if not isinstance(raw, dict):
        raise ConfigError(source, prefix.rstrip(".") or None, "must be a JSON object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in raw.items():
        if key not in fields:
            raise ConfigError(source, prefix + key, "unknown key")
        try:
            values[key] = fields[key].metadata["convert"](value)
        except ValueError as err:
            raise ConfigError(source, prefix + key, str(err))
    defaults.update(values)
    return cls(**defaults)


def config_from_dict(raw, source=CONFIG_FILE):
    """Validate a parsed ``config.json`` into a :class:`Config`."""
    if not isinstance(raw, dict):
        raise ConfigError(source, None, "must contain a JSON object")
    sections = {}
    for key, value in raw.items():
        if key in SECTIONS:
            sections[key] = _convert(SECTIONS[key], value, source, key + ".")
        elif key == "users":
            if not isinstance(value, dict):
                raise ConfigError(source, "users", "must be a JSON object of user names")
            for name in value:
                _names_or_error(name, source)
            sections["users"] = value
        else:
            raise ConfigError(source, key, "unknown section")
    monitoring = sections.get("monitoring", Monitoring())
    sections["users"] = types.MappingProxyType({
        name: _convert(UserLimits, limits, source, "users.%s." % name,
                       cpu_threshold=monitoring.user_cpu_threshold,
                       memory_threshold=monitoring.user_memory_threshold)
        for name, limits in sections.get("users", {}).items()})
    return Config(**sections)


def _names_or_error(name, source):
    try:
        _names([name])
    except ValueError as err:
        raise ConfigError(source, "users", str(err))


def websocket_from_dict(raw, source=WEBSOCKET_FILE):
    settings = _convert(WebSocketSettings, raw, source, "")
    if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
        missing = "tls_key_file" if settings.tls_cert_file else "tls_cert_file"
        raise ConfigError(source, missing, "needed too: TLS takes both tls_cert_file and tls_key_file")
    return settings


def read_json(path):
    """The parsed JSON in ``path``, ``{}`` when it does not exist.

    :raises ConfigError: naming the file for unreadable, oversized or invalid JSON.
    """
    try:
        with os.fdopen(open_in_home(path, os.O_RDONLY), "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return {}
    except SysMedicError as err:  # a planted symbolic link, a directory, no permission
        raise ConfigError(path, None, str(err).split(": ", 1)[-1]) from None
    except OSError as err:
        raise ConfigError(path, None, "cannot read: %s" % err.strerror)
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(path, None, "larger than %d bytes" % MAX_FILE_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(path, None, "not UTF-8 text")
    if not text.strip():
        raise ConfigError(path, None, "empty file (delete it to use the defaults)")
    try:
        return json.loads(text)
    except ValueError as err:
        raise ConfigError(path, None, "invalid JSON: %s" % err)
    except RecursionError:
        raise ConfigError(path, None, "invalid JSON: nested too deeply")


def load_config(home):
    path = os.path.join(home, CONFIG_FILE)
    return config_from_dict(read_json(path), path)


def load_websocket(home):
    path = os.path.join(home, WEBSOCKET_FILE)
    return websocket_from_dict(read_json(path), path)


def load_websocket_or_none(home):
    """The current websocket.json settings, or ``None`` when the file is broken."""
    try:
        return load_websocket(home)
    except ConfigError:
        return None


def write_json(path, raw):
    atomic_write(path, (json.dumps(raw, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def _resolve_key(key):
    """``section.name`` for a dotted key or a bare option name that is unique."""
    if "." in key:
        section, _, name = key.partition(".")
        cls = SECTIONS.get(section)
        if cls is None or name not in {f.name for f in dataclasses.fields(cls)}:
            raise ConfigError("command line", key, "unknown key (see 'sysmedic config show')")
        return section, name
    matches = [(s, key) for s, cls in SECTIONS.items() if key in {f.name for f in dataclasses.fields(cls)}]
    if len(matches) != 1:
        raise ConfigError("command line", key, "unknown key (see 'sysmedic config show')")
    return matches[0]


def set_option(home, key, text):
    """Set one option from CLI text, validate the whole file, write it atomically.

    Durations are saved with their unit (``config set persistent_time 30`` saves ``"30m"``),
    so the file says what the user meant whatever reads it. The file on disk is left
    untouched when it, the key or the value is invalid.
    :returns: ``(dotted_key, converted_value)``.
    """
    path = os.path.join(home, CONFIG_FILE)
    raw = read_json(path)
    config_from_dict(raw, path)  # refuse to rewrite a file that is already broken
    section, name = _resolve_key(key)
    converter = {f.name: f for f in dataclasses.fields(SECTIONS[section])}[name].metadata["convert"]
    try:
        value = converter(text)
    except ValueError as err:
        raise ConfigError("command line", "%s.%s" % (section, name), str(err))
    raw.setdefault(section, {})[name] = stored_value(converter, text, value)
    config_from_dict(raw, path)
    write_json(path, raw)
    return "%s.%s" % (section, name), value


def get_option(config, key):
    """``(dotted key, value as config show prints it)`` of one option of ``config``: a dotted
    key, a unique name, or ``users.<name>.<key>``; secrets masked as there.

    :raises ConfigError: for an unknown key."""
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "users":
        limits = config.users.get(parts[1])
        if limits is None or parts[2] not in {f.name for f in dataclasses.fields(UserLimits)}:
            raise ConfigError("command line", key, "no such per-user setting")
        return key, getattr(limits, parts[2])
    section, name = _resolve_key(key)
    dotted = "%s.%s" % (section, name)
    return dotted, show(dotted, getattr(getattr(config, section), name))


def stored_value(converter, text, value):
    """What ``config set`` writes: lists as lists, durations with their unit, the rest converted."""
    if converter is _headers:
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(converter, _Duration):
        stripped = str(text).strip()
        return stripped if stripped[-1:].isalpha() else converter.text(value)
    return value


def shown_url(url):
    """A URL with what may be a secret masked: the userinfo's password, every query value,
    and the path after its first part (incoming-webhook URLs carry their token there:
    ``https://hooks.example/services/****``)."""
    from urllib.parse import urlsplit, urlunsplit
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = "%s@%s" % (user.split(":", 1)[0] + (":********" if ":" in user else ""), host)
    first, _, rest = parts.path.lstrip("/").partition("/")
    path = ("/" + first if first else parts.path) + ("/****" if rest else "")
    query = "&".join(pair.split("=", 1)[0] + ("=****" if "=" in pair else "") for pair in parts.query.split("&")) \
        if parts.query else ""
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def shown_value(f, value):
    """An option's value as ``config show`` prints it: durations in their own unit, secrets masked."""
    if f.metadata["secret"] == "url" and value:
        return shown_url(value)
    if f.metadata["secret"] and value:
        return "********"
    if isinstance(f.metadata["convert"], _Duration):
        return f.metadata["convert"].text(value)
    return value


def set_user_option(home, username, key, text):
    """Set a per-user threshold override (``cpu_threshold`` or ``memory_threshold``)."""
    path = os.path.join(home, CONFIG_FILE)
    raw = read_json(path)
    config_from_dict(raw, path)
    _names_or_error(username, "command line")
    fields = {f.name: f for f in dataclasses.fields(UserLimits)}
    if key not in fields:
        raise ConfigError("command line", key, "unknown user key (use cpu_threshold or memory_threshold)")
    try:
        value = fields[key].metadata["convert"](text)
    except ValueError as err:
        raise ConfigError("command line", "users.%s.%s" % (username, key), str(err))
    raw.setdefault("users", {}).setdefault(username, {})[key] = value
    config_from_dict(raw, path)
    write_json(path, raw)
    return "users.%s.%s" % (username, key), value


def update_websocket(home, **changes):
    """Merge ``changes`` into ``websocket.json`` after validating them; returns the settings."""
    path = os.path.join(home, WEBSOCKET_FILE)
    raw = read_json(path)
    websocket_from_dict(raw, path)
    raw.update(changes)
    settings = websocket_from_dict(raw, path)
    write_json(path, raw)
    return settings


def at_restart(dotted_key):
    """Whether a running daemon takes the option ``section.name`` only when it starts again."""
    section, _, name = dotted_key.rpartition(".")
    cls = SECTIONS.get(section)
    if cls is None:
        return False
    return {f.name: f for f in dataclasses.fields(cls)}[name].metadata["restart"]


RESTART_NOTE = " (at restart)"


def show(dotted_key, value):
    """``value`` of ``section.name`` (or ``users.<name>.<key>``) as ``config show`` prints it."""
    section, _, name = dotted_key.rpartition(".")
    cls = SECTIONS.get(section, UserLimits)
    value = shown_value({f.name: f for f in dataclasses.fields(cls)}[name], value)
    return ",".join(value) if isinstance(value, tuple) else value


def describe(obj):
    """Rows of ``(dotted key, value, help)`` for ``config show``: durations in their own unit
    (``30m``, ``14d``, strings that ``config set`` accepts back), secrets masked."""
    rows = []
    for section in SECTIONS:
        values = getattr(obj, section)
        for f in dataclasses.fields(values):
            rows.append(("%s.%s" % (section, f.name), shown_value(f, getattr(values, f.name)),
                         f.metadata["help"] + (RESTART_NOTE if f.metadata["restart"] else "")))
    for name, limits in sorted(obj.users.items()):
        for f in dataclasses.fields(limits):
            rows.append(("users.%s.%s" % (name, f.name), getattr(limits, f.name), f.metadata["help"]))
    return rows
