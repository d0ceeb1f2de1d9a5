"""Turn cumulative counters into rates and per-user shares (stdlib-only, pure logic).

Per-user CPU is the sum over a user's processes of their CPU time in the interval, keyed by
(pid, start time) so a reused pid never yields a bogus delta. It also counts **reaped
children**: when a short-lived process exits and its parent waits for it, its CPU moves into
the parent's ``cutime+cstime`` (docs/architecture.md: without this a fork-heavy user showed ~16% of the
core it really used). To avoid counting a child twice, a vanished child's time that was
already counted or older than the interval (its whole last seen total) is subtracted from its
parent's children-time delta; what remains is the child's time we never saw. Every share is of the
whole machine's CPU capacity (docs/protocol-decisions.md, decision 2).

The first sample has no previous one: it primes the baseline and is marked ``warming_up``
with CPU and network values of ``None``, never a fake 0.
"""

import pwd
import time

from .records import Snapshot, SystemMetrics, UserUsage


class UserNames:
    """uid -> user name with a cache; unknown uids show as the number, retried after ``retry`` s."""

    def __init__(self, lookup=None, clock=time.monotonic, retry=300.0):
        self._lookup = lookup or (lambda uid: pwd.getpwuid(uid).pw_name)
        self._clock = clock
        self._retry = retry
        self._cache = {}
        self._misses = {}

    def __call__(self, uid):
        name = self._cache.get(uid)
        if name is not None:
            return name
        missed = self._misses.get(uid)
        if missed is not None and self._clock() - missed < self._retry:
            return str(uid)
        try:
            name = self._lookup(uid)
        except (KeyError, OverflowError):
            self._misses[uid] = self._clock()
            return str(uid)
        self._cache[uid] = name
        self._misses.pop(uid, None)
        return name


class Accountant:
    """Keeps the previous RawSample and turns each new one into a :class:`Snapshot`."""

    def __init__(self, names=None):
        self._names = names or UserNames()
        self._prev = None

    def update(self, raw, collect_seconds=0.0):
        prev = self._prev
        self._prev = raw
        if prev is None:
            return self._snapshot(raw, None, None, None, 0.0, collect_seconds)
        span = raw.cpu_total - prev.cpu_total
        busy = raw.cpu_busy - prev.cpu_busy
        cpu_usage = min(100.0, max(0.0, 100.0 * busy / span)) if span > 0 else 0.0
        elapsed = raw.monotonic - prev.monotonic
        moved = sum(max(0, count - prev.network[name])
                    for name, count in raw.network.items() if name in prev.network)
        network_rate = moved / elapsed if elapsed > 0 else None
        user_ticks = user_cpu(prev, raw, span, busy)
        return self._snapshot(raw, cpu_usage, network_rate, user_ticks, elapsed, collect_seconds, span)

    def _snapshot(self, raw, cpu_usage, network_rate, user_ticks, elapsed, collect_seconds, span=0):
        mem_total = raw.memory_total or 1
        rss, count = {}, {}
        for uid, _ppid, _start, _cpu, _child, pages in raw.processes.values():
            rss[uid] = rss.get(uid, 0) + pages
            count[uid] = count.get(uid, 0) + 1
        users = []
        for uid, processes in count.items():
            cpu = None
            if user_ticks is not None:
                cpu = min(100.0, 100.0 * user_ticks.get(uid, 0) / span) if span > 0 else 0.0
            memory = min(100.0, 100.0 * rss[uid] * raw.rss_unit / mem_total)
            users.append(UserUsage(self._names(uid), uid, cpu, memory, processes))
        users.sort(key=lambda u: (u.cpu_percent or 0.0, u.memory_percent, u.username), reverse=True)
        system = SystemMetrics(
            cpu_usage=cpu_usage, cpu_cores=raw.cpu_cores,
            memory_usage=100.0 * (raw.memory_total - raw.memory_available) / mem_total,
            memory_total=raw.memory_total, memory_available=raw.memory_available,
            disk_usage=100.0 * raw.disk_used / raw.disk_total if raw.disk_total else 0.0,
            uptime=raw.uptime, load_avg=raw.load_avg, network_rate=network_rate)
        return Snapshot(time=raw.wall, system=system, users=tuple(users),
                        warming_up=user_ticks is None, interval=elapsed,
                        collect_seconds=collect_seconds)


def user_cpu(prev, raw, span, busy):
    """uid -> CPU time used between two RawSamples (CPU units), never more than ``busy`` in all.

    A live process counts its own delta (or its whole time if it was born in the interval) plus
    its reaped children's delta less what was already counted for those children: the last
    seen total of each child that vanished with this parent. That remainder is the children's
    time nobody saw, clamped to the interval's capacity ``span``.
    """
    before, now = prev.processes, raw.processes
    seen_by_parent = {}
    for pid, row in before.items():
        current = now.get(pid)
        if current is None or current.start != row.start:  # exited (or its pid was reused)
            seen_by_parent[row.ppid] = seen_by_parent.get(row.ppid, 0) + row.cpu + row.child_cpu
    born_after = prev.now_start_units
    ticks = {}
    for pid, (uid, _ppid, start, cpu, child, _rss) in now.items():
        old = before.get(pid)
        if old is not None and old.start == start:
            own, reaped = cpu - old.cpu, child - old.child_cpu
        elif start >= born_after:  # born inside the interval: all its time is new
            own, reaped = cpu, child
        else:  # missed by the previous scan: its earlier time is not ours to count
            continue
        if reaped > 0:
            reaped = min(span, reaped - seen_by_parent.get(pid, 0))
        used = max(0, own) + max(0, reaped)
        if used:
            ticks[uid] = ticks.get(uid, 0) + used
    total = sum(ticks.values())
    if total > busy > 0:  # /proc/stat and /proc/<pid>/stat are read moments apart
        scale = busy / total
        ticks = {uid: value * scale for uid, value in ticks.items()}
    return ticks
