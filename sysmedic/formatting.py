"""Text formats shared by the CLI and the wire protocol (stdlib-only leaf module).

Each format is fixed by docs/protocol-decisions.md: timestamps (1), percentages (2), uptime, load and
network rate (4), Go-style durations for ``get_config`` (7) and persistence durations (9).
"""

import re
import time


def iso_utc(epoch):
    """``2025-01-19T00:08:42Z``: UTC, second precision (decision 1)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def pct(value):
    """A percentage rounded to one decimal, or ``None`` when unknown (decision 2)."""
    return None if value is None else round(float(value), 1)


def uptime(seconds):
    """``2d 4h 32m``, ``4h 32m`` or ``32m`` (decision 4)."""
    minutes = int(seconds) // 60
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    if days:
        return "%dd %dh %dm" % (days, hours, minutes)
    if hours:
        return "%dh %dm" % (hours, minutes)
    return "%dm" % minutes


def load_avg(loads):
    """``0.85, 0.92, 1.15`` (decision 4)."""
    return ", ".join("%.2f" % value for value in loads)


def rate(bytes_per_second):
    """``2.34 MB/s`` with MB = 10**6 bytes (decision 4); ``None`` while unknown."""
    if bytes_per_second is None:
        return None
    return "%.2f MB/s" % (bytes_per_second / 1e6)


def go_duration(seconds):
    """Go's ``time.Duration.String()`` for whole seconds: ``30s``, ``1m0s``, ``1h0m0s`` (decision 7).

    Fractions of a second are kept the way Go prints them (``2.5s``, ``500ms``).
    """
    if seconds < 1:
        millis = seconds * 1000
        return ("%g" % millis) + "ms" if millis else "0s"
    whole = int(seconds)
    frac = seconds - whole
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    sec_text = ("%g" % (secs + frac)) + "s"
    if hours:
        return "%dh%dm%s" % (hours, minutes, sec_text)
    if minutes:
        return "%dm%s" % (minutes, sec_text)
    return sec_text


def short_duration(seconds):
    """Compact duration for people: ``45s``, ``5m``, ``1h5m``, ``2d3h`` (decision 9)."""
    seconds = int(seconds)
    if seconds < 60:
        return "%ds" % seconds
    minutes = seconds // 60
    if minutes < 60:
        return "%dm" % minutes
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return "%dh%dm" % (hours, minutes)
    days, hours = divmod(hours, 24)
    return "%dd%dh" % (days, hours)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text):
    """Seconds in a duration such as ``90s``, ``5m``, ``1h30m``, ``7d``.

    :raises ValueError: with a message naming the text when it is not a duration.
    """
    text = str(text).strip().lower()
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError("%r is not a duration (use e.g. 30s, 5m, 1h30m, 7d)" % text)
    return total


def duration_text(seconds, unit_seconds=1, suffix="s"):
    """A duration that :func:`parse_duration` reads back: ``30m`` and ``14d`` when ``seconds``
    is a whole number of the unit, else mixed units (``1d12h``, ``90.5s``)."""
    count = seconds / unit_seconds
    if count == int(count):
        return "%d%s" % (count, suffix)
    parts = []
    rest = seconds
    for unit, name in ((86400, "d"), (3600, "h"), (60, "m")):
        if rest >= unit:
            whole = int(rest // unit)
            parts.append("%d%s" % (whole, name))
            rest -= whole * unit
    if rest or not parts:
        parts.append("%gs" % round(rest, 3))
    return "".join(parts)
