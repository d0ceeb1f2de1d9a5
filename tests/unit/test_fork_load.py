"""Real /proc: a fork-heavy user must be visible (DESIGN.md: short-lived processes).

A bash loop spawning /bin/true as ``nobody`` uses about one core, almost all of it in
processes that live for a millisecond. Measured against /proc/stat's busy time over the
same interval, SysMedic must attribute at least 90% of the CPU the loop really used.
"""

import os
import shutil
import subprocess
import time

import pytest

from sysmedic.collect import Collector
from sysmedic.collect.procfs import ProcSource

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                                reason="needs root and setpriv to run a load as another user")


def busy_ticks():
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:9]]
    return sum(fields) - fields[3] - fields[4], sum(fields)


def test_fork_loop_user_gets_at_least_90_percent_of_its_cpu():
    loop = subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                             "bash", "-c", "while :; do /bin/true; done"])
    try:
        collector = Collector(ProcSource())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait until the loop is running as nobody
            snap = collector.sample()
            if any(u.username == "nobody" for u in snap.users):
                break
        busy0, total0 = busy_ticks()
        collector.sample()
        time.sleep(2.0)  # the measuring interval itself, not synchronisation
        snap = collector.sample()
        busy1, total1 = busy_ticks()
    finally:
        loop.kill()
        loop.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and subprocess.run(["pgrep", "-u", "nobody"]).returncode == 0:
            time.sleep(0.05)  # polling with a deadline for the last /bin/true to go
    nobody = {u.username: u for u in snap.users}["nobody"]
    others = sum(u.cpu_percent for u in snap.users if u.username != "nobody")
    system_busy = 100.0 * (busy1 - busy0) / (total1 - total0)
    loop_share = system_busy - others  # what the loop really used, per /proc/stat
    assert loop_share > 20  # the loop did run (about one core of this machine)
    assert nobody.cpu_percent >= 0.9 * loop_share, (nobody.cpu_percent, loop_share)
