"""Read a Linux machine straight from ``/proc`` (stdlib-only).

The per-process scan is the whole cost of a sample (docs/architecture.md: ~5-9 us/process this
way versus ~37 us through ``psutil.process_iter``), so :meth:`ProcSource._scan` does the least it can:
``os.open`` + ``os.fstat`` + one ``os.read`` of ``/proc/<pid>/stat`` + a split limited to the
fields it needs.

**Whose a process is** (issue 22): its *real* uid, the one its exit record carries, so a living
process and its record count for the same user. The owner of ``/proc/<pid>/stat`` is not it:
the kernel shows that file as root's for zombies and for every non-dumpable task (any user can
hide a burner behind ``prctl(PR_SET_DUMPABLE, 0)``), and it is the effective uid (a setuid
program's is root's). So the real uid is read from ``/proc/<pid>/status`` when a process is
first seen, and again only when the file's owner or the command name changes (an exec), or
when it looks root's and its CPU moved (a non-dumpable task's file stays root's through a
``setuid``): a steady table reads no ``status`` at all.

The root is injectable so the tests run on a checked-in fake tree, and so are the owner lookups
(``owner_of``: fd -> uid; ``real_uid``: (root, pid) -> uid or None), because a git checkout
cannot record file owners.
"""

import os
import signal
import time

from .pressure import read_pressure
from .records import ProcRow, RawSample
from .visibility import blind_spots

# Field positions in /proc/<pid>/stat after the ")" that ends the command name, counted from
# the state field (field 3 in proc(5)): ppid=4, utime=14, stime=15, cutime=16, cstime=17,
# starttime=22, rss=24.
_PPID, _UTIME, _STIME, _CUTIME, _CSTIME, _START, _RSS = 1, 11, 12, 13, 14, 19, 21
_SPLITS = _RSS + 1
SIGCHLD = int(signal.SIGCHLD)
PSS_REUSE = 5  # a process whose RSS is unchanged keeps its PSS for this many PSS intervals
NEW_PSS_READS = 64  # PSS reads of processes new since the last scan, at most, per scan


def _fstat_uid(fd):
    return os.fstat(fd).st_uid


def _status_uid(root, name):
    """The real uid in ``/proc/<pid>/status`` (its ``Uid:`` line's first field), or None."""
    try:
        with open("%s/%s/status" % (root, name), "rb") as handle:
            for line in handle:
                if line.startswith(b"Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class ProcSource:
    """Reads :class:`RawSample` s from a ``/proc`` tree.

    :param proc_root: the procfs mount, default ``/proc``.
    :param disk_path: the filesystem whose usage is reported, default ``/``.
    :param owner_of: ``fd -> uid`` of an open ``/proc/<pid>/stat``; default ``os.fstat``.
    :param clock: monotonic seconds; ``wall``: epoch seconds; ``statvfs``: for the disk figure.
    :param pss_every: seconds between PSS reads (a number, or a callable returning one; 0: RSS only).
    :param exits: an :class:`~sysmedic.collect.exits.ExitListener` (or anything with ``drain()``
        and ``lost``): its records are drained right after each scan, so every process missing
        from a scan has its exit record in the same sample.
    """

    def __init__(self, proc_root="/proc", disk_path="/", owner_of=_fstat_uid,
                 clock=time.monotonic, wall=time.time, statvfs=os.statvfs, exits=None, pss_every=60.0,
                 real_uid=_status_uid):
        self.proc_root = proc_root
        self.disk_path = disk_path
        self._owner_of = owner_of
        self._real_uid = real_uid
        self._owners = {}  # pid -> (start, stat file's owner, cpu, real uid, command) from the last scan
        self._clock = clock
        self._wall = wall
        self._statvfs = statvfs
        self._ticks = os.sysconf("SC_CLK_TCK")
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._exits = exits
        self._boot_time = None
        self._known = set()  # the pids of the last scan, read first in the next
        self._pss_every = pss_every
        self._unseen = tuple(blind_spots(proc_root))
        self._pss = {}  # pid -> (start, bytes, rss pages then, monotonic then): see _refresh_pss
        self._pss_due = float("-inf")

    def _read(self, name):
        with open(os.path.join(self.proc_root, name), "rb") as handle:
            return handle.read()

    def read(self):
        """One RawSample. Times of processes and CPUs are in clock ticks (USER_HZ)."""
        uptime = float(self._read("uptime").split()[0])
        mem_total, mem_available = self._memory()
        disk = self._statvfs(self.disk_path)
        disk_used = (disk.f_blocks - disk.f_bfree) * disk.f_frsize
        disk_total = disk_used + disk.f_bavail * disk.f_frsize
        load = tuple(float(x) for x in self._read("loadavg").split()[:3])
        # The per-user figures come from the scan, so the sample's time is the midpoint of the
        # scan of the processes the last scan saw, and the machine's CPU counters are read on
        # both sides of it and averaged. Processes new since then are read after that: reading
        # the stat of a child in the middle of its exec waits until it gets a CPU again (measured
        # 94 and 144 ms on a busy host), and a steady burner read after such a wait was shown
        # 1.75 points off its cgroup, then as much the other way.
        first, began = self._clock(), self._wall()
        before = self._cpu()
        ends = []

        def known_read():
            ends.append((self._clock(), self._wall(), self._cpu()))
        processes = self._scan(self._known, known_read)
        self._known = set(processes)
        last, ended, after = ends[0]
        monotonic, wall = (first + last) / 2, (began + ended) / 2
        total, busy, unowned = ((a + b) / 2 for a, b in zip(before[:3], after[:3]))
        cores = after[3]
        every = self._pss_every() if callable(self._pss_every) else self._pss_every
        if every and monotonic >= self._pss_due:
            self._pss_due = monotonic + every
            self._refresh_pss(processes, monotonic, every * PSS_REUSE)
        elif every:
            self._pss_of_new(processes, monotonic)
        pss = {pid: size for pid, (start, size, _rss, _when) in self._pss.items()
               if pid in processes and processes[pid].start == start} if every else None
        exits = None if self._exits is None else tuple(self._exits.drain())
        if exits:
            self._settle_reaps(exits, processes)
        return RawSample(
            monotonic=monotonic, wall=wall, now_start_units=uptime * self._ticks,
            cpu_total=total, cpu_busy=busy, cpu_cores=cores,
            memory_total=mem_total, memory_available=mem_available,
            disk_used=disk_used, disk_total=disk_total, network=self._network(),
            uptime=uptime, load_avg=load, processes=processes, rss_unit=self._page,
            cpu_per_second=self._ticks, boot_time=self._boot_time or wall - uptime,
            exits=exits, exits_lost=0 if exits is None else self._exits.lost, pss=pss,
            cpu_unowned=unowned, reaps_nothing=self._reaping_nothing(exits, processes) if exits else frozenset(),
            unseen=self._unseen, pressure=self._pressure())

    def _pressure(self):
        """``(monotonic seconds, read_pressure())`` now, or None without PSI: the window's share
        of stalled time is measured between two such readings, by their own clock."""
        lines = read_pressure(self.proc_root)
        return None if lines is None else (self._clock(), lines)

    def _cpu(self):
        cores, total, busy, unowned = 0, 0, 0, 0
        for line in self._read("stat").splitlines():
            if line.startswith(b"cpu "):
                # user nice system idle iowait irq softirq steal (guest is inside user)
                ticks = [int(x) for x in line.split()[1:9]]
                total = sum(ticks)
                busy = total - ticks[3] - ticks[4]
                unowned = ticks[5] + ticks[6] + ticks[7]
            elif line.startswith(b"cpu"):
                cores += 1
            elif line.startswith(b"btime "):
                self._boot_time = float(line.split()[1])
        return total, busy, unowned, max(cores, 1)

    def _memory(self):
        values = {}
        for line in self._read("meminfo").splitlines():
            key, _, rest = line.partition(b":")
            if key in (b"MemTotal", b"MemAvailable", b"MemFree", b"Buffers", b"Cached"):
                values[key] = int(rest.split()[0]) * 1024
        total = values[b"MemTotal"]
        available = values.get(b"MemAvailable")
        if available is None:  # kernels before 3.14
            available = values.get(b"MemFree", 0) + values.get(b"Buffers", 0) + values.get(b"Cached", 0)
        return total, available

    def _network(self):
        counters = {}
        for line in self._read("net/dev").splitlines()[2:]:
            name, _, rest = line.partition(b":")
            name = name.strip().decode("ascii", "replace")
            fields = rest.split()
            if name == "lo" or len(fields) < 9:
                continue
            counters[name] = int(fields[0]) + int(fields[8])
        return counters

    def _reaping_nothing(self, exits, processes):
        """The living parents in ``exits`` that ignore SIGCHLD: the kernel reaps their children
        itself, so no ``cutime`` ever shows what those children used after their exit record.
        One ``status`` read per such parent and sample."""
        found = set()
        for pid in {record.ppid for record in exits} & processes.keys():
            try:
                with open("%s/%d/status" % (self.proc_root, pid), "rb") as handle:
                    for line in handle:
                        if line.startswith(b"SigIgn:"):
                            if int(line.split()[1], 16) >> (SIGCHLD - 1) & 1:
                                found.add(pid)
                            break
            except (OSError, ValueError, IndexError):
                continue
        return frozenset(found)

    def _refresh_pss(self, processes, now, reuse_for):
        """Read each process's PSS from ``smaps_rollup`` (the kernel walks its page tables:
        ~50 us a process, hence its own slower cadence). A process whose resident size has not
        changed since its last read keeps that figure for up to ``reuse_for`` seconds (its PSS
        moves then only as its sharers come and go): most processes of a server sleep, and 1000
        of them cost 50 ms a read. Unreadable ones (another user's, when not root; kernel
        threads) keep no PSS and count by RSS."""
        found, known = {}, self._pss
        for pid, row in processes.items():
            last = known.get(pid)
            if last is not None and last[0] == row.start and last[2] == row.rss and now - last[3] < reuse_for:
                found[pid] = last
                continue
            size = self._read_pss(pid)
            if size is not None:
                found[pid] = (row.start, size, row.rss, now)
        self._pss = found

    def _read_pss(self, pid):
        """A process's PSS in bytes from ``smaps_rollup``, or None (gone, unreadable)."""
        try:
            with open("%s/%d/smaps_rollup" % (self.proc_root, pid), "rb") as handle:
                for line in handle:
                    if line.startswith(b"Pss:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        return None

    def _pss_of_new(self, processes, now):
        """PSS of the processes new since the last read, the largest first, at most
        :data:`NEW_PSS_READS` a scan (issue 22: 40 copy-on-write children of a 200 MB parent,
        counted by RSS until the next refresh, showed their user 8.2 GB for up to a minute
        against 210 MB). A fork loop has few processes alive at any scan; what is left unread
        is estimated, and bounded, by the accountant."""
        known = self._pss
        new = [(row.rss, pid) for pid, row in processes.items()
               if row.rss and (pid not in known or known[pid][0] != row.start)]
        for rss, pid in sorted(new, reverse=True)[:NEW_PSS_READS]:
            size = self._read_pss(pid)
            if size is not None:
                known[pid] = (processes[pid].start, size, rss, now)

    def _scan(self, known=(), between=None):
        """pid -> ProcRow(uid, ppid, starttime, utime+stime, cutime+cstime, rss pages).

        The pids in ``known`` are read first, then ``between()`` is called, then the rest."""
        root = self.proc_root
        owner_of, real_uid = self._owner_of, self._real_uid
        opener, reader, closer = os.open, os.read, os.close
        flags = os.O_RDONLY
        table = {}
        owners, seen = self._owners, {}
        first, rest = [], []
        for name in os.listdir(root):
            if name.isdigit():
                (first if int(name) in known else rest).append(name)
        first.append(None)
        for name in first + rest:
            if name is None:
                if between is not None:
                    between()
                continue
            try:
                fd = opener("%s/%s/stat" % (root, name), flags)
            except OSError:  # the process exited since listdir
                continue
            try:
                uid = owner_of(fd)
                data = reader(fd, 1024)
            except OSError:
                continue
            finally:
                closer(fd)
            row = _parse_stat(uid, data)
            if row is None:
                continue
            pid = int(name)
            known = owners.get(pid)
            command = data[data.find(b"(") + 1:data.rfind(b")")]  # an exec (su, cron, setpriv) changes it
            if (known is not None and known[0] == row.start and known[1] == uid and known[4] == command
                    and (uid or known[2] == row.cpu)):
                real = known[3]
            else:
                real = real_uid(root, name)
                if real is None:  # unreadable (gone, or a tree without status files)
                    real = uid
            seen[pid] = (row.start, uid, row.cpu, real, command)
            if real != uid:
                row = tuple.__new__(ProcRow, (real,) + tuple(row[1:]))
            table[pid] = row
        self._owners = seen
        return table

    def _settle_reaps(self, exits, processes):
        """Make the table agree with its reapers' ``cutime`` (in place).

        A parent is read early in the scan; a child it reaps before the scan reaches the
        child's pid is missing from the table while the parent's ``cutime`` does not hold it
        yet (on a fork loop: one in a few hundred children, but whole windows off when their
        records are tick-sampled). So, once the records are drained, each living parent of an
        ended process is read again, and then each of its children that has a record and is
        in the table is looked for: one reaped by now is taken out, as if the scan had missed
        it. Reading the parent first means every child taken out is in its ``cutime``.
        """
        parents = {record.ppid for record in exits} & processes.keys()
        if not parents:
            return
        for pid in parents:
            row = self._read_row(pid, processes[pid].uid)
            if row is not None and row.start == processes[pid].start:
                processes[pid] = row
        for record in exits:
            row = processes.get(record.tgid)
            if row is not None and record.ppid in parents:
                again = self._read_row(record.tgid, row.uid)
                if again is None or again.start != row.start:
                    del processes[record.tgid]

    def _read_row(self, pid, uid):
        """One process's ProcRow now, with the owner given; None if it is gone."""
        try:
            with open("%s/%d/stat" % (self.proc_root, pid), "rb") as handle:
                return _parse_stat(uid, handle.read(1024))
        except OSError:
            return None


def _parse_stat(uid, data):
    """A ProcRow from the bytes of ``/proc/<pid>/stat``; None if truncated or foreign."""
    fields = data[data.rfind(b")") + 2:].split(None, _SPLITS)
    try:
        return tuple.__new__(ProcRow, (
            uid, int(fields[_PPID]), int(fields[_START]),
            int(fields[_UTIME]) + int(fields[_STIME]),
            int(fields[_CUTIME]) + int(fields[_CSTIME]),
            int(fields[_RSS])))
    except (IndexError, ValueError):
        return None
