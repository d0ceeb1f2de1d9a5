"""SysMedic next to Glances: CPU and RSS at the same refresh interval and process count.

Both run as headless services refreshing every 5 s on a machine grown to ~1000 processes:
SysMedic as `daemon run` (with its WebSocket server), Glances as `glances -q -t 5` (quiet:
no curses UI, stats still refreshed every 5 s). Runs alternate, RUNS of WINDOW s each; the
table shows medians and the ratio Glances / SysMedic, whichever way it goes.

Usage: python bench/glances_compare.py GLANCES_EXECUTABLE
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, ROOT)

from _procs import ExtraProcesses, process_count  # noqa: E402
from daemon_overhead import start_daemon  # noqa: E402
from fanout import cpu_seconds, free_port, rss  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
WINDOW = float(os.environ.get("BENCH_WINDOW", "60"))


def measure(proc):
    time.sleep(8)  # past start-up and the first refreshes
    start, cpu0 = time.time(), cpu_seconds(proc.pid)
    time.sleep(WINDOW)  # the measuring window
    return (cpu_seconds(proc.pid) - cpu0) / (time.time() - start) * 100, rss(proc.pid) / 1e6


def main():
    glances = sys.argv[1]
    results = {"SysMedic": [], "Glances": []}
    with ExtraProcesses(1000):
        count = process_count()
        for _ in range(RUNS):
            home = tempfile.mkdtemp(prefix="sysmedic-vs-")
            proc, _ = start_daemon(home, free_port())
            try:
                results["SysMedic"].append(measure(proc))
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
                shutil.rmtree(home, ignore_errors=True)
            proc = subprocess.Popen([glances, "-q", "-t", "5"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env=dict(os.environ, HOME=tempfile.mkdtemp(prefix="glances-home-")))
            try:
                results["Glances"].append(measure(proc))
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
    version = subprocess.run([glances, "-V"], capture_output=True, text=True).stdout.split("\n")[0]
    print("# SysMedic vs %s: refresh 5 s, %d processes, %d alternating runs of %g s (medians)"
          % (version, count, RUNS, WINDOW))
    print()
    print("| | CPU, % of one core | RSS MB |")
    print("|---|---:|---:|")
    med = {}
    for name, runs in results.items():
        med[name] = (statistics.median(c for c, _ in runs), statistics.median(m for _, m in runs))
        print("| %s | %.2f | %.1f |" % (name, med[name][0], med[name][1]))
    print("| Glances / SysMedic | %.1fx | %.1fx |" % (med["Glances"][0] / med["SysMedic"][0],
                                                     med["Glances"][1] / med["SysMedic"][1]))


if __name__ == "__main__":
    main()
