"""Per-process cost of a sample: SysMedic's /proc scan vs a bare read loop vs psutil.

For each process-table size (~100, 1000, 5000) it times, in the same run and interleaved:
- ``bare``:    listdir + os.open/os.fstat/os.read/os.close of every /proc/<pid>/stat (the floor);
- ``sysmedic``: ProcSource._scan (the same reads plus parsing into the process table);
- ``sample``:  a whole Collector.sample() (system metrics + scan + accounting);
- ``psutil``:  psutil.process_iter with the same facts (uids, ppid, create_time, cpu_times, rss).
Prints medians of REPEATS runs in microseconds per process, and ratios to the floor.
"""

import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _procs import ExtraProcesses, process_count  # noqa: E402

from sysmedic.collect import Collector  # noqa: E402
from sysmedic.collect.procfs import ProcSource  # noqa: E402

REPEATS = int(os.environ.get("BENCH_REPEATS", "15"))
SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "100,1000,5000").split(",")]


def bare():
    count = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fd = os.open("/proc/%s/stat" % name, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fstat(fd)
            os.read(fd, 1024)
        finally:
            os.close(fd)
        count += 1
    return count


def with_psutil(psutil):
    count = 0
    for proc in psutil.process_iter():
        try:
            with proc.oneshot():
                proc.uids(), proc.ppid(), proc.create_time(), proc.cpu_times(), proc.memory_info()
            count += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return count


def timed(func):
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def main():
    import psutil
    source = ProcSource()
    collector = Collector(ProcSource())
    collector.sample()
    print("# Collector cost per process (median of %d runs), %s, Python %s, %d cores"
          % (REPEATS, platform.platform(terse=True), platform.python_version(), os.cpu_count()))
    print()
    print("| processes | bare floor us | sysmedic scan us | whole sample us | psutil us | scan / floor | psutil / scan |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for size in SIZES:
        with ExtraProcesses(size):
            count = process_count()
            runs = {"bare": [], "scan": [], "sample": [], "psutil": []}
            for _ in range(REPEATS):  # interleaved so machine noise hits every variant alike
                runs["bare"].append(timed(bare))
                runs["scan"].append(timed(source._scan))
                runs["sample"].append(timed(collector.sample))
                runs["psutil"].append(timed(lambda: with_psutil(psutil)))
            med = {k: statistics.median(v) / count * 1e6 for k, v in runs.items()}
            print("| %d | %.2f | %.2f | %.2f | %.2f | %.2fx | %.1fx |" % (
                count, med["bare"], med["scan"], med["sample"], med["psutil"],
                med["scan"] / med["bare"], med["psutil"] / med["scan"]))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
