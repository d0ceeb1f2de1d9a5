"""Per-user CPU coverage on a fork-heavy load (needs root for setpriv).

A ``bash -c 'while :; do /bin/true; done'`` loop runs as ``nobody``. Over INTERVALS intervals of
SECONDS each, coverage = CPU SysMedic attributes to nobody / (system busy CPU from /proc/stat
less what it attributes to every other user). Also shows what a live-processes-only count
(no reaped-children time) would have seen, for comparison.
"""

import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sysmedic.collect import Collector  # noqa: E402
from sysmedic.collect.procfs import ProcSource  # noqa: E402

INTERVALS = int(os.environ.get("BENCH_INTERVALS", "7"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "2"))


class LiveOnly(ProcSource):
    """The same source with reaped-children time zeroed: what naive per-process tools see."""

    def _scan(self, *args):
        return {pid: row[:4] + (0,) + row[5:] for pid, row in super()._scan(*args).items()}


def main():
    if os.geteuid() != 0:
        sys.exit("fork_coverage.py needs root (setpriv to user nobody)")
    loop = subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                             "bash", "-c", "while :; do /bin/true; done"])
    ours, naive = Collector(ProcSource()), Collector(LiveOnly())
    coverage, naive_coverage = [], []
    try:
        ours.sample()
        naive.sample()
        for _ in range(INTERVALS):
            time.sleep(SECONDS)
            snap, plain = ours.sample(), naive.sample()
            users = {u.username: u.cpu_percent for u in snap.users}
            loop_share = snap.system.cpu_usage - sum(v for k, v in users.items() if k != "nobody")
            coverage.append(100.0 * users.get("nobody", 0.0) / loop_share)
            naive_coverage.append(100.0 * {u.username: u.cpu_percent for u in plain.users}.get("nobody", 0.0)
                                  / loop_share)
    finally:
        loop.kill()
        loop.wait()
    print("# Fork-loop coverage (%d intervals of %gs, median)" % (INTERVALS, SECONDS))
    print()
    print("| counting | coverage of the loop's real CPU |")
    print("|---|---:|")
    print("| SysMedic (live + reaped children) | %.1f%% |" % statistics.median(coverage))
    print("| live processes only | %.1f%% |" % statistics.median(naive_coverage))


if __name__ == "__main__":
    main()
