"""The machine's pressure stall information (PSI, Linux 4.20+): ``/proc/pressure/{cpu,memory,io}``
(stdlib-only leaf; issue 25).

Each file has a ``some`` line (the share of time at least one runnable task was stalled on the
resource) and, for memory and io (and cpu since Linux 5.13, where it reads all zeros at the
machine level), a ``full`` line (every non-idle task stalled at once)::

    some avg10=0.31 avg60=0.39 avg300=0.32 total=16310448
    full avg10=0.30 avg60=0.35 avg300=0.27 total=13445001

``avg10`` is the kernel's own running average over 10 s, in percent; ``total`` the stalled
microseconds since boot, from which a window's share is exact. A kernel without PSI has no
``/proc/pressure``; one booted with ``psi=0`` answers EOPNOTSUPP: both are None, with the
reason (:func:`unavailable`).
"""

import errno
import os

RESOURCES = ("cpu", "memory", "io")


def read_pressure(proc_root="/proc"):
    """``{resource: {kind: (avg10 percent, total microseconds)}}`` now, or None without PSI."""
    found = {}
    for resource in RESOURCES:
        try:
            with open(os.path.join(proc_root, "pressure", resource), "rb") as handle:
                text = handle.read(4096).decode("ascii", "replace")  # two short lines
        except OSError:
            return None
        lines = {}
        for line in text.splitlines():
            kind, _, rest = line.partition(" ")
            fields = dict(part.split("=", 1) for part in rest.split() if "=" in part)
            try:
                lines[kind] = (float(fields["avg10"]), int(fields["total"]))
            except (KeyError, ValueError):
                continue
        if "some" not in lines:
            return None
        found[resource] = lines
    return found


def unavailable(proc_root="/proc"):
    """Why there is no pressure information here (one sentence), or None when there is."""
    try:
        with open(os.path.join(proc_root, "pressure", "cpu"), "rb") as handle:
            handle.read(4096)
    except FileNotFoundError:
        return "no /proc/pressure: this kernel has no pressure stall information (CONFIG_PSI, Linux 4.20+)"
    except OSError as err:
        if err.errno == errno.EOPNOTSUPP:
            return "pressure stall information is off (the kernel was booted with psi=0; psi=1 turns it on)"
        return "/proc/pressure cannot be read: %s" % (err.strerror or err)
    return None


def shares(before, after):
    """``{resource: {kind: {"avg10": percent, "window": percent, "total": seconds}}}`` from two
    ``(monotonic seconds, read_pressure())`` readings (``window`` None without one before; ``total``
    the stalled seconds since boot), or None."""
    if after is None:
        return None
    at, lines_now = after
    earlier_at, lines_then = before if before is not None else (None, {})
    seconds = at - earlier_at if earlier_at is not None else 0.0
    found = {}
    for resource, lines in lines_now.items():
        found[resource] = {}
        for kind, (avg10, total) in lines.items():
            earlier = lines_then.get(resource, {}).get(kind)
            window = None
            if earlier is not None and seconds > 0 and total >= earlier[1]:
                window = min(100.0, (total - earlier[1]) / (seconds * 1e6) * 100.0)
            found[resource][kind] = {"avg10": avg10, "window": window, "total": total / 1e6}
    return found
