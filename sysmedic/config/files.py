"""Reading and writing the two files: validation of a whole file, atomic writes, ``config
set/get/show`` and what the CLI shows of a value (secrets masked)."""

import dataclasses
import json
import os
import types

from ..errors import ConfigError, SysMedicError
from ..home import atomic_write, open_in_home
from .options import SECTIONS, Config, Monitoring, UserLimits, WebSocketSettings, defaults
from .values import Duration, headers_value, names_value


CONFIG_FILE = "config.json"
WEBSOCKET_FILE = "websocket.json"
MAX_FILE_BYTES = 1 << 20


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
                       **defaults(monitoring))
        for name, limits in sections.get("users", {}).items()})
    return Config(**sections)


def _names_or_error(name, source):
    try:
        names_value([name])
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
    if converter is headers_value:
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(converter, Duration):
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
    if isinstance(f.metadata["convert"], Duration):
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
