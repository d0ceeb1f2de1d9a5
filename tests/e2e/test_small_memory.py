"""Issue 24, item 3: the daemon with every in-memory ring full (history_memory at its most, 1 s
updates), 10 clients connected and 1000 processes of 50 users, inside a 32 MB memory cgroup:
no OOM kill, every client served, /health healthy. The setup is bench/full_rings.py's (its
docstring says how the rings are filled fast); BENCHMARKS.md section 16 has its numbers."""

import os
import shutil
import sys

import pytest

from ..conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "bench"))
import full_rings  # noqa: E402  (bench/full_rings.py)

LIMIT = 32 * 2**20


def memory_controller():
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return False
    if os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        return True
    try:
        with open("/sys/fs/cgroup/cgroup.controllers") as handle:
            return "memory" in handle.read().split()
    except OSError:
        return False


@pytest.mark.skipif(not memory_controller(), reason="needs root, setpriv and a memory cgroup controller")
def test_full_rings_ten_clients_and_a_thousand_processes_fit_in_32_mb():
    found = full_rings.run(seconds=45, limit_bytes=LIMIT)
    print("32 MB run: %s" % found)  # the numbers, in the test log
    assert found["alive"] and found["healthy"], found
    assert found["ooms"] == 0, found
    assert found["updates"] >= 30, found  # every client got its updates at 1 s
    assert found["answers"] >= 8 and not found["failures"], found  # get_history of the whole ring answered
