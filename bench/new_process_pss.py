"""What reading new processes' PSS at first sight costs (issue 22, item 2), on a fork-heavy
load: a shell loop of ``/bin/true`` and a loop starting short Python processes, beside this
machine's own processes. Per sample of the /proc collector: its time, with the reads of new
processes' PSS on (64 a scan, the default) and off (as before), interleaved; medians of RUNS.
"""

import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sysmedic.collect import procfs  # noqa: E402
from sysmedic.collect.procfs import ProcSource  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "200"))


def main():
    loads = [subprocess.Popen(["sh", "-c", "while :; do /bin/true; done"]),
             subprocess.Popen(["sh", "-c", "while :; do %s -c 'import time; time.sleep(0.05)'; done" % sys.executable])]
    try:
        sources = {"on": ProcSource(pss_every=60), "off": ProcSource(pss_every=60)}
        for source in sources.values():
            source.read()  # the first refresh of every process
        times = {"on": [], "off": []}
        for _ in range(RUNS):
            for label, source in sources.items():
                procfs.NEW_PSS_READS = 64 if label == "on" else 0
                started = time.perf_counter()
                source.read()
                times[label].append(time.perf_counter() - started)
            time.sleep(0.02)
        processes = sum(1 for name in os.listdir("/proc") if name.isdigit())
        on, off = statistics.median(times["on"]), statistics.median(times["off"])
        print("%d processes; a sample with new processes' PSS read: %.2f ms, without: %.2f ms (x%.2f, +%.2f ms)"
              % (processes, on * 1e3, off * 1e3, on / off, (on - off) * 1e3))
    finally:
        for load in loads:
            load.kill()
            load.wait()


if __name__ == "__main__":
    main()
