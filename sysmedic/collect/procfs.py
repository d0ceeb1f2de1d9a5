"""Read a Linux machine straight from ``/proc`` (stdlib-only).

The per-process scan is the whole cost of a sample (docs/architecture.md: ~5-9 us/process this
way versus ~37 us through ``psutil.process_iter``), so :meth:`ProcSource._scan` does the least it can:
``os.open`` + ``os.fstat`` (the file owner is the process's effective uid) + one ``os.read`` of
``/proc/<pid>/stat`` + a split limited to the fields it needs.

The root is injectable so the tests run on a checked-in fake tree, and so is the owner lookup
(``owner_of``: fd -> uid), because a git checkout cannot record file owners.
"""

import os
import time

from .records import ProcRow, RawSample

# Field positions in /proc/<pid>/stat after the ")" that ends the command name, counted from
# the state field (field 3 in proc(5)): ppid=4, utime=14, stime=15, cutime=16, cstime=17,
# starttime=22, rss=24.
_PPID, _UTIME, _STIME, _CUTIME, _CSTIME, _START, _RSS = 1, 11, 12, 13, 14, 19, 21
_SPLITS = _RSS + 1


def _fstat_uid(fd):
    return os.fstat(fd).st_uid


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
                 clock=time.monotonic, wall=time.time, statvfs=os.statvfs, exits=None, pss_every=60.0):
        self.proc_root = proc_root
        self.disk_path = disk_path
        self._owner_of = owner_of
        self._clock = clock
        self._wall = wall
        self._statvfs = statvfs
        self._ticks = os.sysconf("SC_CLK_TCK")
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._exits = exits
        self._boot_time = None
        self._pss_every = pss_every
        self._pss = {}  # pid -> (start, bytes): refreshed every pss_every seconds
        self._pss_due = float("-inf")

    def _read(self, name):
        with open(os.path.join(self.proc_root, name), "rb") as handle:
            return handle.read()

    def read(self):
        """One RawSample. Times of processes and CPUs are in clock ticks (USER_HZ)."""
        monotonic, wall = self._clock(), self._wall()
        uptime = float(self._read("uptime").split()[0])
        total, busy, cores = self._cpu()
        mem_total, mem_available = self._memory()
        disk = self._statvfs(self.disk_path)
        disk_used = (disk.f_blocks - disk.f_bfree) * disk.f_frsize
        disk_total = disk_used + disk.f_bavail * disk.f_frsize
        load = tuple(float(x) for x in self._read("loadavg").split()[:3])
        # The per-user figures come from the scan, so the sample's time is the scan's midpoint:
        # on a loaded host the scan can start tens of ms after /proc/stat was read, and a
        # window stamped at the start would lend one window's CPU to the next.
        began = self._wall()
        processes = self._scan()
        wall = (began + self._wall()) / 2
        every = self._pss_every() if callable(self._pss_every) else self._pss_every
        if every and monotonic >= self._pss_due:
            self._pss_due = monotonic + every
            self._refresh_pss(processes)
        pss = {pid: size for pid, (start, size) in self._pss.items()
               if pid in processes and processes[pid].start == start} if every else None
        exits = self._exits
        return RawSample(
            monotonic=monotonic, wall=wall, now_start_units=uptime * self._ticks,
            cpu_total=total, cpu_busy=busy, cpu_cores=cores,
            memory_total=mem_total, memory_available=mem_available,
            disk_used=disk_used, disk_total=disk_total, network=self._network(),
            uptime=uptime, load_avg=load, processes=processes, rss_unit=self._page,
            cpu_per_second=self._ticks, boot_time=self._boot_time or wall - uptime,
            exits=None if exits is None else tuple(exits.drain()),
            exits_lost=0 if exits is None else exits.lost, pss=pss)

    def _cpu(self):
        cores, total, busy = 0, 0, 0
        for line in self._read("stat").splitlines():
            if line.startswith(b"cpu "):
                # user nice system idle iowait irq softirq steal (guest is inside user)
                ticks = [int(x) for x in line.split()[1:9]]
                total = sum(ticks)
                busy = total - ticks[3] - ticks[4]
            elif line.startswith(b"cpu"):
                cores += 1
            elif line.startswith(b"btime "):
                self._boot_time = float(line.split()[1])
        return total, busy, max(cores, 1)

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

    def _refresh_pss(self, processes):
        """Read each process's PSS from ``smaps_rollup`` (the kernel walks its page tables:
        ~50 us a process, hence its own slower cadence). Unreadable ones (another user's, when
        not root; kernel threads) keep no PSS and count by RSS."""
        found = {}
        for pid, row in processes.items():
            try:
                with open("%s/%d/smaps_rollup" % (self.proc_root, pid), "rb") as handle:
                    for line in handle:
                        if line.startswith(b"Pss:"):
                            found[pid] = (row.start, int(line.split()[1]) * 1024)
                            break
            except (OSError, ValueError, IndexError):
                continue
        self._pss = found

    def _scan(self):
        """pid -> ProcRow(uid, ppid, starttime, utime+stime, cutime+cstime, rss pages)."""
        root = self.proc_root
        new_row = tuple.__new__
        owner_of = self._owner_of
        opener, reader, closer = os.open, os.read, os.close
        flags = os.O_RDONLY
        table = {}
        for name in os.listdir(root):
            if not name.isdigit():
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
            fields = data[data.rfind(b")") + 2:].split(None, _SPLITS)
            try:
                table[int(name)] = new_row(ProcRow, (
                    uid, int(fields[_PPID]), int(fields[_START]),
                    int(fields[_UTIME]) + int(fields[_STIME]),
                    int(fields[_CUTIME]) + int(fields[_CSTIME]),
                    int(fields[_RSS])))
            except (IndexError, ValueError):  # truncated or foreign file: skip it
                continue
        return table
