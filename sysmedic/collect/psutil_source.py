"""Read a machine through psutil, for hosts without a Linux ``/proc``.

This is the only module that imports psutil (docs/architecture.md #2). It returns the same
:class:`RawSample` as :mod:`procfs`, with times in seconds and memory in bytes, so the same
accounting applies. psutil is a C extension and cannot live inside the zipapp: the import
happens when a PsutilSource is built, and fails with a clear CollectorError.
"""

import time

from ..errors import CollectorError
from .records import ProcRow, RawSample


class PsutilSource:
    def __init__(self, disk_path="/", clock=time.monotonic, wall=time.time):
        try:
            import psutil
        except ImportError:
            raise CollectorError("the psutil collector needs the psutil package (pip install psutil)")
        self._psutil = psutil
        self.disk_path = disk_path
        self._clock = clock
        self._wall = wall

    def read(self):
        ps = self._psutil
        monotonic, wall = self._clock(), self._wall()
        times = ps.cpu_times()
        total = sum(times)
        for guest in ("guest", "guest_nice"):  # already counted inside user/nice on Linux
            total -= getattr(times, guest, 0.0)
        busy = total - times.idle - getattr(times, "iowait", 0.0)
        memory = ps.virtual_memory()
        disk = ps.disk_usage(self.disk_path)
        network = {name: c.bytes_recv + c.bytes_sent
                   for name, c in ps.net_io_counters(pernic=True).items()
                   if name != "lo" and not name.startswith("lo")}
        table = {}
        for proc in ps.process_iter():
            try:
                with proc.oneshot():
                    cpu = proc.cpu_times()
                    table[proc.pid] = ProcRow(
                        proc.uids().real if hasattr(proc, "uids") else 0,  # as exit records count (issue 22)
                        proc.ppid(), proc.create_time(),
                        cpu.user + cpu.system,
                        getattr(cpu, "children_user", 0.0) + getattr(cpu, "children_system", 0.0),
                        proc.memory_info().rss)
            except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess):
                continue
        return RawSample(
            monotonic=monotonic, wall=wall, now_start_units=wall,
            cpu_total=total, cpu_busy=busy, cpu_cores=ps.cpu_count() or 1,
            memory_total=memory.total, memory_available=memory.available,
            disk_used=disk.used, disk_total=disk.used + disk.free, network=network,
            uptime=max(0.0, wall - ps.boot_time()), load_avg=tuple(ps.getloadavg()),
            processes=table, rss_unit=1, source="psutil", cpu_per_second=1.0)
