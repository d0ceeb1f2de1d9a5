"""Turn cumulative counters into rates and per-user shares (stdlib-only, pure logic).

Per-user CPU is the sum over a user's processes of their CPU time in the interval, keyed by
(pid, start time) so a reused pid never yields a bogus delta. It also counts **reaped
children**: when a short-lived process exits and its parent waits for it, its CPU moves into
the parent's ``cutime+cstime`` (docs/architecture.md: without this a fork-heavy user showed ~16% of the
core it really used). To avoid counting a child twice, a vanished child's time that was
already counted or older than the interval (its whole last seen total) is subtracted from its
parent's children-time delta; what remains is the child's time we never saw. Every share is of the
whole machine's CPU capacity (docs/protocol-decisions.md, decision 2).

With the kernel's exit records (:mod:`sysmedic.collect.exits`, as root) the children's time
is not inferred: :func:`exact_user_cpu` credits each ended process's CPU since it was last
seen to its own uid, in the window it ended (issue 9); only the part of an exit that comes
after its record is measured from the reaper's ``cutime`` (or, for children the kernel reaps
itself, from what the machine's busy time leaves unexplained).

A user's memory is PSS where it is known (:func:`user_memory`), else RSS.

The first sample has no previous one: it primes the baseline and is marked ``warming_up``
with CPU and network values of ``None``, never a fake 0.
"""

import os
import pwd
import time
from typing import NamedTuple

from .. import figures
from .pressure import shares
from .records import ProcessWindow, Snapshot, SystemMetrics, UserUsage
from .visibility import Coverage

EXIT_RECORDS, REAPED_CHILDREN, PSUTIL = "exit-records", "reaped-children", "psutil"
# The most of their records' CPU that processes the kernel reaped itself are credited for what
# their exits used after the record (measured: 5-15% of a 20 ms Python burner's run time).
TAIL_LIMIT = 0.5



class UserNames:
    """uid -> user name with a cache; unknown uids show as the number, retried after ``retry`` s.

    A user deleted and the uid given to another (``userdel``, ``useradd -u``) must not go on
    under the old name (issue 21): the cache is emptied when ``passwd`` changes (its size,
    time or inode, looked at no more than every ``check_every`` seconds), and each name is
    looked up again after ``ttl`` seconds anyway (names from NSS, e.g. LDAP, change without
    the file).
    """

    def __init__(self, lookup=None, clock=time.monotonic, retry=300.0, ttl=300.0, passwd="/etc/passwd",
                 check_every=2.0):
        self._lookup = lookup or (lambda uid: pwd.getpwuid(uid).pw_name)
        self._clock = clock
        self._retry = retry
        self._ttl = ttl
        self._passwd = passwd
        self._check_every = check_every
        self._checked = None
        self._stamp = None
        self._cache = {}  # uid -> (name, when looked up)
        self._misses = {}

    def _passwd_changed(self, now):
        if self._checked is not None and now - self._checked < self._check_every:
            return False
        self._checked = now
        try:
            info = os.stat(self._passwd)
            stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        except OSError:
            stamp = None
        changed, self._stamp = self._stamp is not None and stamp != self._stamp, stamp
        return changed

    def __call__(self, uid):
        now = self._clock()
        if self._passwd_changed(now):
            self._cache.clear()
            self._misses.clear()
        cached = self._cache.get(uid)
        if cached is not None and now - cached[1] < self._ttl:
            return cached[0]
        missed = self._misses.get(uid)
        if missed is not None and now - missed < self._retry:
            return str(uid)
        try:
            name = self._lookup(uid)
        except (KeyError, OverflowError):
            self._misses[uid] = now
            self._cache.pop(uid, None)
            return str(uid)
        self._cache[uid] = (name, now)
        self._misses.pop(uid, None)
        return name


class Accountant:
    """Keeps the previous RawSample and turns each new one into a :class:`Snapshot`."""

    def __init__(self, names=None):
        self._names = names or UserNames()
        self._prev = None
        self._ended = {}  # tgid -> Ended: exit records of processes still in /proc (zombies)
        self._waiting = {}  # ended processes whose reaper's cutime has not shown them yet
        self._coverage = Coverage()

    def update(self, raw, collect_seconds=0.0):
        prev = self._prev
        self._prev = raw
        if prev is None:
            if raw.exits:
                remember_exits(raw, self._ended, self._waiting)
            return self._snapshot(raw, None, None, None, 0.0, collect_seconds, pressure=shares(None, raw.pressure))
        span = raw.cpu_total - prev.cpu_total
        busy = raw.cpu_busy - prev.cpu_busy
        cpu_usage = min(100.0, max(0.0, 100.0 * busy / span)) if span > 0 else 0.0
        elapsed = raw.monotonic - prev.monotonic
        moved = sum(max(0, count - prev.network[name])
                    for name, count in raw.network.items() if name in prev.network)
        network_rate = moved / elapsed if elapsed > 0 else None
        # A process's CPU time is its real run time; /proc/stat counts clock ticks, which a
        # loaded virtual machine loses (measured here: 2% fewer than the clock's). So users'
        # shares are of the machine's real capacity in the window, and the busy time they must
        # fit in is the busy fraction of that capacity.
        capacity = elapsed * raw.cpu_cores * raw.cpu_per_second
        if capacity <= 0 or span <= 0:
            capacity = span
        busy = busy * capacity / span if span > 0 else 0
        ended_by = {}
        if raw.exits is not None:
            user_ticks = exact_user_cpu(prev, raw, busy, self._ended, self._waiting, ended_by)
        else:
            user_ticks = user_cpu(prev, raw, capacity, busy)
        owned = busy - (raw.cpu_unowned - prev.cpu_unowned) * (capacity / span if span > 0 else 1.0)
        hidden = self._coverage.update(sum(user_ticks.values()), owned, capacity)
        ended = ended_of(ended_by, capacity) if ended_by else {}
        return self._snapshot(raw, cpu_usage, network_rate, user_ticks, elapsed, collect_seconds, capacity,
                              ProcessWindow(prev, raw, capacity), (hidden,) if hidden else (), ended,
                              shares(prev.pressure, raw.pressure))

    def _snapshot(self, raw, cpu_usage, network_rate, user_ticks, elapsed, collect_seconds, span=0, window=None,
                  hidden=(), ended=None, pressure=None):
        mem_total = raw.memory_total or 1
        rss, count = {}, {}
        for uid, _ppid, _start, _cpu, _child, pages in raw.processes.values():
            rss[uid] = rss.get(uid, 0) + pages
            count[uid] = count.get(uid, 0) + 1
        memory = user_memory(raw, rss)
        if user_ticks:  # users whose processes all ended in the window still used the CPU
            for uid, used in user_ticks.items():
                if used > 0 and uid not in count:
                    count[uid], rss[uid] = 0, 0
        extras = [(figure.key, None if window is None else figure.collect(window)) for figure in figures.collected()]
        users = []
        for uid, processes in count.items():
            cpu = None
            if user_ticks is not None:
                cpu = min(100.0, 100.0 * user_ticks.get(uid, 0) / span) if span > 0 else 0.0
            rss_percent = min(100.0, 100.0 * rss[uid] * raw.rss_unit / mem_total)
            share = rss_percent if memory is None else min(100.0, 100.0 * memory.get(uid, 0) / mem_total)
            extra = {key: found.get(uid) if found else None for key, found in extras} if extras else None
            users.append(UserUsage(self._names(uid), uid, cpu, share, processes, rss_percent, extra))
        users.sort(key=lambda u: (u.cpu_percent or 0.0, u.memory_percent, u.username), reverse=True)
        system = SystemMetrics(
            cpu_usage=cpu_usage, cpu_cores=raw.cpu_cores,
            memory_usage=100.0 * (raw.memory_total - raw.memory_available) / mem_total,
            memory_total=raw.memory_total, memory_available=raw.memory_available,
            disk_usage=100.0 * raw.disk_used / raw.disk_total if raw.disk_total else 0.0,
            uptime=raw.uptime, load_avg=raw.load_avg, network_rate=network_rate,
            pressure=pressure)
        method = EXIT_RECORDS if raw.exits is not None else PSUTIL if raw.source == "psutil" else REAPED_CHILDREN
        return Snapshot(time=raw.wall, system=system, users=tuple(users),
                        warming_up=user_ticks is None, interval=elapsed,
                        collect_seconds=collect_seconds, accounting=method, exits_lost=raw.exits_lost,
                        window=window, unseen=tuple(raw.unseen) + tuple(hidden), ended=ended or {})


ENDED_SHOWN = 5  # commands of ended processes kept per user and window


def ended_of(by_command, capacity):
    """uid -> ``((command, processes, share of the machine %), ...)``, the most CPU first, at
    most :data:`ENDED_SHOWN` each: the ended processes behind a user's share."""
    per_user = {}
    for (uid, command), (count, used) in by_command.items():
        per_user.setdefault(uid, []).append((command, count, 100.0 * used / capacity if capacity > 0 else 0.0))
    return {uid: tuple(sorted(rows, key=lambda row: (-row[2], row[0]))[:ENDED_SHOWN])
            for uid, rows in per_user.items()}


def user_memory(raw, rss):
    """uid -> bytes by PSS (shared pages split among their sharers, so users add up to at most
    the machine's used memory), or None without PSS. A process whose PSS is not known yet
    (more new processes than a scan reads, or unreadable) counts its RSS scaled by its user's
    PSS/RSS ratio where that user has PSS figures, else its RSS; and all such estimates
    together are scaled down to fit in the memory the machine uses beside the known PSS."""
    if raw.pss is None:
        return None
    known_pss, known_rss = {}, {}
    for pid, row in raw.processes.items():
        size = raw.pss.get(pid)
        if size is not None:
            known_pss[row.uid] = known_pss.get(row.uid, 0) + size
            known_rss[row.uid] = known_rss.get(row.uid, 0) + row.rss * raw.rss_unit
    estimated = {}
    for uid, pages in rss.items():
        pss, seen_rss = known_pss.get(uid, 0), known_rss.get(uid, 0)
        ratio = pss / seen_rss if seen_rss else 1.0
        estimated[uid] = max(0, pages * raw.rss_unit - seen_rss) * ratio
    # What is estimated never takes users past what the machine uses (issue 22): shared pages
    # counted once per process by RSS made 40 copy-on-write children 39 times their memory.
    used = raw.memory_total - raw.memory_available
    room = max(0, used - sum(known_pss.values()))
    guessed = sum(estimated.values())
    scale = min(1.0, room / guessed) if guessed else 1.0
    return {uid: known_pss.get(uid, 0) + estimated[uid] * scale for uid in rss}


def user_cpu(prev, raw, span, busy):
    """uid -> CPU time used between two RawSamples (CPU units) without exit records, never more
    than ``busy`` in all.

    A live process counts its own delta (or its whole time if it was born in the interval) plus
    its reaped children's delta less what was already counted for them: the last seen total of
    each process that vanished and that it reaped. Who reaped a vanished process:

    - its parent, when the parent lives on;
    - when the parent vanished too, the parent's reaper took the parent's cutime, which holds
      the child: the child's seen total passes up with the parent's (issue 9: a grandchild's
      whole life was counted again);
    - an orphan (its parent gone before it) is reaped by the nearest living ancestor that
      reaped anything in the window, else by pid 1.

    What remains is the children's time nobody saw, clamped to the interval's capacity
    ``span``. When the users' total exceeds ``busy``, the inferred part is trimmed first; time
    a process was seen using is only scaled when nothing inferred is left to trim.
    """
    before, now = prev.processes, raw.processes
    vanished = {pid: row for pid, row in before.items()
                if (now.get(pid) is None or now[pid].start != row.start)}
    seen_by_reaper = {}
    for pid, row in vanished.items():
        reaper = row.ppid
        while reaper in vanished:  # its parent ended too: that parent's reaper counts it
            reaper = vanished[reaper].ppid
        if reaper not in now:
            reaper = 1
        seen_by_reaper[reaper] = seen_by_reaper.get(reaper, 0) + row.cpu + row.child_cpu
    born_after = prev.now_start_units
    direct, inferred = {}, {}
    for pid, (uid, _ppid, start, cpu, child, _rss) in now.items():
        old = before.get(pid)
        if old is not None and old.start == start:
            own, reaped = cpu - old.cpu, child - old.child_cpu
        elif start >= born_after:  # born inside the interval: all its time is new
            own, reaped = cpu, child
        else:  # missed by the previous scan: its earlier time is not ours to count
            continue
        if own > 0:
            direct[uid] = direct.get(uid, 0) + own
        if reaped > 0:
            reaped = min(span, reaped - seen_by_reaper.get(pid, 0))
            if reaped > 0:
                inferred[uid] = inferred.get(uid, 0) + reaped
    return _within(busy, inferred, direct)


def _within(busy, *tiers):
    """The sum per uid of ``tiers`` (uid -> time dicts, the surest last), trimmed to ``busy``
    tier by tier: what was inferred gives way first, what a living process was seen using last
    (only /proc/stat and /proc/<pid>/stat being read moments apart can put that over)."""
    excess = sum(sum(tier.values()) for tier in tiers) - busy
    kept = []
    for tier in tiers:
        total = sum(tier.values())
        if excess > 0 and total > 0:  # also when busy is 0: a tick seen in /proc but not yet in /proc/stat
            cut = min(excess, total)
            tier = {uid: value * (total - cut) / total for uid, value in tier.items()}
            excess -= cut
        kept.append(tier)
    ticks = {}
    for tier in kept:
        for uid, value in tier.items():
            ticks[uid] = ticks.get(uid, 0) + value
    return ticks


class Ended(NamedTuple):
    """A process's exit record, kept until the process is gone from /proc."""
    uid: int
    begin: int          # epoch seconds (0: unknown)
    cpu_us: int         # its whole life's CPU, all threads, up to its exit record
    whole: bool         # from the thread group's sum (final), not only its leader's record
    ppid: int           # its parent at exit, which reaps it
    comm: str = ""      # its command name, from the record


def _same(row, ended, boot_time, cpu_per_second):
    """Whether the /proc row and the exit record are the same process (a pid can be reused);
    a thread group's sum carries no start time, and then the pid decides."""
    return not ended.begin or abs(boot_time + row.start / cpu_per_second - ended.begin) <= 2.0


def remember_exits(raw, ended, waiting):
    """The first sample's exit records: nothing is credited without a previous scan, but a
    process that ended before it may still be reaped after it, and its record must explain
    that reap (else the reaper's user would be credited with its whole life)."""
    hz, boot = raw.cpu_per_second, raw.boot_time
    for tgid, entry in _note_exits(raw.exits, {}).items():
        row = raw.processes.get(tgid)
        if row is not None and _same(row, entry, boot, hz):
            ended[tgid] = entry
        else:
            waiting[tgid] = (entry.uid, entry.ppid, entry.cpu_us * hz / 1e6, 0)


def _note_exits(records, ended):
    """Add the process-level exit records to ``ended`` (tgid -> Ended) and return it: a thread
    group's sum replaces its leader's record (keeping the leader's start time, which the sum
    lacks); other threads' records are skipped (their time is in their process's /proc entry)."""
    for record in records:
        if record.group:
            leader = ended.get(record.tgid)
            ended[record.tgid] = Ended(record.uid, leader.begin if leader else 0, record.cpu_us, True, record.ppid,
                                       record.comm or (leader.comm if leader else ""))
        elif record.tid == record.tgid and not getattr(ended.get(record.tgid), "whole", False):
            ended[record.tgid] = Ended(record.uid, record.begin, record.cpu_us, False, record.ppid, record.comm)
    return ended


def exact_user_cpu(prev, raw, busy, ended, waiting, by_command=None):
    """uid -> CPU time between two RawSamples (CPU units), from /proc for living processes and
    from the kernel's exit records for ended ones (``ended`` and ``waiting`` are kept between
    calls).

    - A living process counts its own delta only: what its children used is in their own exit
      records, so no CPU is inferred.
    - A process that ended counts its whole life's CPU (its thread group's sum) less what the
      last scan already saw, to the real uid in its record. A thread that ends inside a living
      process is in that process's /proc figure already and is skipped. A record for a process
      still in /proc (a zombie, a leader that ended before its threads) waits in ``ended``.
    - The record is taken early in the kernel's exit path: tearing down the address space comes
      after it (measured: 10-15% of a fork loop's CPU). The reaper's ``cutime`` does include
      it, so what a living process reaped beyond the records of the processes it reaped (and
      theirs, down the tree) is credited to those processes' users, one share per process.
      With no record to explain it (records lost), it goes to the reaper, as inference would.
    - Over the machine's busy time (the scan and /proc/stat are read moments apart), those
      tails give way first, then the ended processes' time; a living process's is trimmed last.
    - A parent that ignores SIGCHLD lets the kernel reap its children: no cutime shows their
      tails. What the machine was busy with in the window that no process and no record
      explains then goes to those children's users, in proportion to their recorded CPU and
      at most :data:`TAIL_LIMIT` of it (the first tier to give way to the busy time). It can
      only be such tails or the moment between reading /proc/stat and each process; measured,
      it is the tails (it comes in lumps, window by window, as these children end: averaging
      it over windows was tried and missed by 4 points where this is exact).

    ``by_command``, when given, is filled with ``(uid, command) -> [processes, CPU]`` of the
    processes that ended in the window (their records' time since last seen): what a user's
    share came from when no living process explains it (issue 22).
    """
    before, now = prev.processes, raw.processes
    per_us = raw.cpu_per_second / 1e6
    boot, hz = raw.boot_time, raw.cpu_per_second
    born_after = prev.now_start_units
    ticks = {}
    reaped = {}  # living pid -> its children's time reaped in this window (cutime delta)
    _note_exits(raw.exits, ended)
    for pid, row in now.items():
        old = before.get(pid)
        if old is not None and old.start == row.start:
            own, children = row.cpu - old.cpu, row.child_cpu - old.child_cpu
        elif row.start >= born_after:
            own, children = row.cpu, row.child_cpu
        else:
            continue
        uid = row.uid
        record = ended.get(pid)
        if record is not None and _same(row, record, boot, hz):
            uid = record.uid  # a zombie's /proc entry belongs to root: its record knows whose it is
        if own > 0:
            ticks[uid] = ticks.get(uid, 0) + own
        if children > 0:
            reaped[pid] = children
    gone = {}  # pid -> (uid, ppid, its total as its reaper's cutime will count it, credited now)
    recorded = {}  # uid -> the ended processes' time since last seen
    for tgid, record in list(ended.items()):
        row = now.get(tgid)
        if row is not None and _same(row, record, boot, hz):
            continue  # still in /proc: counted from there until it is gone
        old = before.get(tgid)
        seen = old is not None and _same(old, record, boot, hz)
        total = record.cpu_us * per_us
        used = total - (old.cpu if seen else 0)
        if used > 0:
            recorded[record.uid] = recorded.get(record.uid, 0) + used
        if by_command is not None:
            entry = by_command.setdefault((record.uid, getattr(record, "comm", "") or "?"), [0, 0.0])
            entry[0] += 1
            entry[1] += max(used, 0)
        gone[tgid] = (record.uid, record.ppid, total + (old.child_cpu if seen else 0), max(used, 0))
        del ended[tgid]
    unreaped = {}  # uid -> whole-life CPU of the processes the kernel reaped itself
    for tgid in [tgid for tgid, entry in gone.items() if entry[1] in raw.reaps_nothing]:
        uid, _ppid, total, _used = gone.pop(tgid)
        unreaped[uid] = unreaped.get(uid, 0) + total
    tails = {}
    _credit_exit_tails(tails, recorded, reaped, gone, now, waiting)
    credited = _within(busy, tails, recorded, ticks)
    if not unreaped:
        return credited
    unowned = raw.cpu_unowned - prev.cpu_unowned
    spent = raw.cpu_busy - prev.cpu_busy
    unexplained = busy * (1 - unowned / spent if spent > 0 else 0) - sum(credited.values())
    weight = sum(unreaped.values())
    share = max(0.0, min(unexplained, TAIL_LIMIT * weight)) / weight if weight > 0 else 0.0
    estimated = {uid: total * share for uid, total in unreaped.items()}
    return _within(busy, estimated, tails, recorded, ticks)


def _credit_exit_tails(tails, recorded, reaped, gone, now, waiting):
    """Settle the processes each living reaper reaped (and theirs, down the tree) against what
    its ``cutime`` grew by: the kernel's exact run time of their whole lives, tails included.

    Their records were credited (``recorded``) with their time since last seen; the growth less
    their totals as ``cutime`` counts them is the part of their exits after the records, added
    to their users (``tails``, one share per process). It can be negative too: a record is
    sampled at the clock tick (a ``/bin/true``'s is 0 or a whole 4 ms tick, and measured on a
    busy host a fork loop's records were 50-118% of its real time), so then their records'
    credit is cut to match, in proportion. Either way the users of a reaper's children get
    exactly what the scans had not yet seen of them. The scan has been made to agree with the
    reapers (:meth:`~sysmedic.collect.procfs.ProcSource._settle_reaps`): a process missing
    from it is in its reaper's ``cutime``.

    A reaper whose ``cutime`` did not grow has not reaped yet: its ended children wait one
    window (``waiting``). Growth with no record to explain it (records lost, or ended before
    we listened) goes to the reaper's user, as inference would.
    """
    candidates = dict(waiting)
    candidates.update(gone)
    waiting.clear()
    children = {}
    for pid, entry in candidates.items():
        children.setdefault(entry[1], []).append(pid)

    def subtree(pid):
        total, below, stack = 0.0, [], [pid]
        while stack:
            current = stack.pop()
            uid, _ppid, need, used = candidates[current]
            total += need
            below.append((uid, used))
            stack.extend(children.get(current, ()))
        return total, below

    for reaper, grown in reaped.items():
        need, below = 0.0, []
        for child in children.pop(reaper, ()):
            more, under = subtree(child)
            need += more
            below.extend(under)
        rest = grown - need
        if not below:  # no record explains it: records were lost, or it ended before we listened
            uid = now[reaper].uid
            tails[uid] = tails.get(uid, 0) + rest
        elif rest >= 0:
            share = rest / len(below)
            for uid, _used in below:
                tails[uid] = tails.get(uid, 0) + share
        else:
            credited = sum(used for _uid, used in below)
            keep = max(0.0, (credited + rest) / credited) if credited > 0 else 1.0
            for uid, used in below:
                recorded[uid] = recorded.get(uid, 0) - used * (1 - keep)
    for ppid, pids in children.items():  # a living parent that reaped nothing yet: next window
        if ppid in now:
            for pid in pids:
                if pid in gone:
                    waiting[pid] = gone[pid]
