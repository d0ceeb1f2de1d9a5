"""Real /proc: a fork-heavy user must be visible (docs/architecture.md: short-lived processes).

A bash loop spawning /bin/true as a throw-away user uses CPU almost entirely in processes that live
for a millisecond. The loop runs in its own cgroup, whose counter is the truth: over the
same window as the collector's two samples, SysMedic must attribute to that user at least
90% of what the cgroup says the loop used, and not more than it used. Nothing here assumes an
idle machine: on a busy host the loop gets less CPU, and the oracle says so too.
"""

import time

import pytest

from sysmedic.collect import Collector
from sysmedic.collect.procfs import ProcSource

from ..loads import CgroupLoad, can_run_loads

pytestmark = pytest.mark.skipif(not can_run_loads(), reason="needs root, a writable cgroup and setpriv")


WINDOWS = 5


def test_fork_loop_user_gets_at_least_90_percent_of_its_cpu():
    """Judged on the median of five 1 s windows, without exit records (the inference every
    unprivileged user gets). Before issue 9 about one window in five was scaled down for every
    user by a grandchild's CPU counted twice elsewhere (0.47-0.56 of the truth in 3 of 15);
    tests/e2e/test_accuracy.py now holds every window to 5%."""
    ratios = []
    with CgroupLoad(["bash", "-c", "while :; do /bin/true; done"]) as load:
        load.wait_running()
        collector = Collector(ProcSource())
        first = collector.sample()
        for _ in range(WINDOWS):
            time.sleep(1.0)  # the measuring window itself, not synchronisation
            second = collector.sample()
            truth = load.share(first.time, second.time, second.system.cpu_cores)
            while truth is None:  # the oracle's reading after the window's end is due any moment
                time.sleep(0.02)
                truth = load.share(first.time, second.time, second.system.cpu_cores)
            assert truth > 2, truth  # the loop did run, whatever else this machine is doing
            shown = {u.username: u for u in second.users}[load.user].cpu_percent
            ratios.append((shown / truth, shown, truth))
            first = second
    ratio = sorted(ratios)[WINDOWS // 2][0]
    assert 0.9 <= ratio <= 1.1 + 1.0 / min(truth for _, _, truth in ratios), ratios
