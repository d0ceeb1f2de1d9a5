"""What an option's value may be: the converters (a JSON value or the CLI's string in, a checked
Python value out, or ``ValueError`` whose text completes ``"<file>: <key>: ..."``) and
:func:`option`, which declares one."""

import json
import math
import os
import re
from dataclasses import field

from ..formatting import duration_text, parse_duration


EVENTS = ("open", "resolve", "reminder")  # what a notifier can be sent (its ``events``)
SEVERITIES = ("critical", "warning")      # alert severities (a notifier's ``severities``)


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


def int_range(low, high):
    def convert(value):
        number = _number(value)
        if number != int(number):
            raise ValueError("%r is not a whole number" % (value,))
        if not low <= number <= high:
            raise ValueError("%s is out of range %d-%d" % (value, low, high))
        return int(number)
    return convert


def float_range(low, high):
    def convert(value):
        number = float(_number(value))
        if number != number or not low <= number <= high:
            raise ValueError("%s is out of range %g-%g" % (value, low, high))
        return number
    return convert


class Duration:
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


def duration_in(unit_seconds, shortest=0.0, zero=False):
    """A duration counted in ``unit_seconds``, at least ``shortest`` seconds (issue 13 Low 15:
    an interval of a microsecond made the daemon spin a whole core); ``zero``: 0 is allowed
    too (it turns a wait off)."""
    return Duration(unit_seconds, {1: "s", 60: "m", 86400: "d"}[unit_seconds], shortest, zero)


def boolean_value(value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError("%r is not true or false" % (value,))


def one_of(*choices):
    def convert(value):
        if value not in choices:
            raise ValueError("%r is not one of %s" % (value, ", ".join(choices)))
        return value
    return convert


def text_value(value):
    if not isinstance(value, str):
        raise ValueError("%r is not a string" % (value,))
    if any(ord(ch) < 32 for ch in value):
        raise ValueError("contains control characters")
    return value


_NAME = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.@-]*\$?$")


def names_value(value):
    """A list of user names (JSON list or comma-separated string)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ValueError("%r is not a list of names" % (value,))
    names = tuple(str(item).strip() for item in items if str(item).strip())
    for name in names:
        if not _NAME.match(name) or len(name) > 64:
            raise ValueError("%r is not a valid user name" % (name,))
    return names


def addresses_value(value):
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ValueError("%r is not a list of addresses" % (value,))
    addresses = tuple(text_value(str(item)).strip() for item in items if str(item).strip())
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


def url_value(value):
    """An http:// or https:// URL with a host ("" for none)."""
    from urllib.parse import urlsplit
    text = text_value(value).strip()
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


def headers_value(value):
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
        headers.append((name, text_value(text if isinstance(text, str) else str(text))))
    return tuple(sorted(headers))


def argv_value(value):
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
    argv = tuple(text_value(item) for item in value)
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
