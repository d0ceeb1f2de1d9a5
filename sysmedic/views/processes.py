"""A user's top processes, to name the culprit (issue 10): ``get_user_processes``, the
processes in a user's alert, ``sysmedic users <user>``.

CPU and memory come from the last sample's two readings (:class:`ProcessWindow`), as shares
of the whole machine like every other figure; the command line, thread count and state are
read from ``/proc`` for the few processes shown (at most :data:`MAX_LIMIT`: ~20 us each).
A command line is another user's words: :func:`sysmedic.untrusted.command_line` cuts it before
anything else, masks what looks like a secret and escapes it.
"""

from ..untrusted import MAX_MASKED, command_line, escape

MAX_COMMAND_NAME = 32  # an exit record's command name is at most 31 bytes

DEFAULT_LIMIT = 10
MAX_LIMIT = 50


def _details(proc_root, pid):
    """``(cmdline bytes, name, threads, state)`` of a process, or None if it is gone."""
    try:
        with open("%s/%d/cmdline" % (proc_root, pid), "rb") as handle:
            cmdline = handle.read(MAX_MASKED + 1)  # only what can be shown is read
        with open("%s/%d/status" % (proc_root, pid), "rb") as handle:
            status = handle.read(4096)
    except OSError:
        return None
    fields = {}
    for line in status.split(b"\n"):
        key, _, value = line.partition(b":")
        if key in (b"Name", b"State", b"Threads"):
            fields[key] = value.strip().decode("utf-8", "replace")
    try:
        threads = int(fields.get(b"Threads", "1"))
    except ValueError:
        threads = 1
    return cmdline, fields.get(b"Name", "?"), threads, fields.get(b"State", "?").split(" ")[0]


def top_processes(snapshot, uid, limit=DEFAULT_LIMIT, proc_root="/proc"):
    """A user's processes by CPU (then memory), at most ``limit``: dicts with ``pid``,
    ``command``, ``cpu_percent``, ``memory_percent`` (shares of the machine), ``threads``,
    ``state`` and ``start_time`` (epoch seconds). Empty before the second sample."""
    window = snapshot.window
    if window is None:
        return []
    before, after = window.before.processes, window.after.processes
    hz, boot, born_after = window.after.cpu_per_second, window.after.boot_time, window.before.now_start_units
    mem_total = window.after.memory_total or 1
    pss = window.after.pss or {}
    rows = []
    for pid, row in after.items():
        if row.uid != uid:
            continue
        old = before.get(pid)
        if old is not None and old.start == row.start:
            used = row.cpu - old.cpu
        elif row.start >= born_after:
            used = row.cpu
        else:
            used = 0
        cpu = 100.0 * max(used, 0) / window.capacity if window.capacity > 0 else 0.0
        memory = 100.0 * pss.get(pid, row.rss * window.after.rss_unit) / mem_total
        rows.append((cpu, memory, pid, row))
    rows.sort(key=lambda item: (-item[0], -item[1], item[2]))
    found = []
    for cpu, memory, pid, row in rows:
        if len(found) >= limit:
            break
        details = _details(proc_root, pid) if window.after.source == "procfs" else None
        if details is None and window.after.source == "procfs":
            continue  # ended since the sample
        cmdline, name, threads, state = details or (b"", "?", 1, "?")
        found.append({"pid": pid, "command": command_line(cmdline, name), "cpu_percent": round(cpu, 1),
                      "memory_percent": round(memory, 1), "threads": threads, "state": state,
                      "start_time": round(boot + row.start / hz, 3) if hz else None})
    return found


def ended_processes(snapshot, uid):
    """What a user's processes that ended in the last window used (issue 22: a user's share
    from ended processes named no culprit): ``[{"command", "processes", "cpu_percent"}]``, the
    most first, from the kernel's exit records (their ``ac_comm``, escaped); empty without
    them."""
    return [{"command": "[%s]" % escape(command[:MAX_COMMAND_NAME]) if command == "?" else escape(command[:MAX_COMMAND_NAME]),
             "processes": count, "cpu_percent": round(share, 1)}
            for command, count, share in (snapshot.ended or {}).get(uid, ())]


def describe_ended(ended):
    """``true: 3,400 ended, 29.1%; sh: 12 ended, 0.4%`` (already escaped commands)."""
    return "; ".join("%s: %s ended, %.1f%%" % (row["command"], "{:,}".format(row["processes"]), row["cpu_percent"])
                     for row in ended)


def check_limit(value):
    """A request's ``limit``: a whole number 1-50 (default 10); ValueError with the reason."""
    if value is None:
        return DEFAULT_LIMIT
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("limit must be a whole number from 1 to %d" % MAX_LIMIT)
    if not 1 <= value <= MAX_LIMIT:
        raise ValueError("limit must be from 1 to %d" % MAX_LIMIT)
    return value

