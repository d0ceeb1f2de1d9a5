"""Exact figures from the checked-in fake /proc trees (tests/fixtures/proc, t0 then t1).

Worked out by hand from the files (CPU unit = clock ticks):
- /proc/stat total 9600 -> 10400 (span 800), busy 1500 -> 1900 (400): system CPU 50.0%.
- alice (pid 100): (180+70) - (100+50) = 100 ticks -> 12.5%.
- bob: shell pid 200 own (12+8)-(6+4) = 10; its reaped-children time grew 0 -> 200, of which
  40 was child pid 201's total when last seen (pid 201 has exited): 160 never seen. 170 -> 21.25%.
- carol: pid 300 born after t0 (start 100200 > 1000 s * 100): all its 30 ticks -> 3.75%.
- dave: pid 400 was reused (start 50000 -> 100100): the new process's 20 ticks -> 2.5%,
  never 20 - 500.
- memory: MemTotal 1000000 kB, MemAvailable 600000 kB -> 40.0%; alice 25000 pages -> 10.0%.
- network: eth0 rx+tx 1.5 MB -> 4.5 MB in 4 s (lo ignored) -> 0.75 MB/s.
"""

import json
import os
import re

import pytest

from sysmedic.collect import Collector
from sysmedic.collect.accounting import Accountant, UserNames
from sysmedic.collect.procfs import ProcSource
from sysmedic.views import system_info, user_metrics

from ..conftest import FIXTURES

PROC = os.path.join(FIXTURES, "proc")
NAMES = {0: "root", 1000: "alice", 1001: "bob", 1002: "carol", 1003: "dave"}


class FakeStatvfs:
    f_blocks, f_bfree, f_bavail, f_frsize = 1000, 600, 500, 4096


class FakeTree:
    """Switches a ProcSource between the t0 and t1 trees and tells owners from owners.json."""

    def __init__(self):
        with open(os.path.join(PROC, "owners.json")) as handle:
            self.owners = json.load(handle)
        self.tree = "t0"
        self.now = 10.0

    def owner_of(self, fd):
        path = os.readlink("/proc/self/fd/%d" % fd)
        pid = re.search(r"/(\d+)/stat$", path).group(1)
        return self.owners[self.tree][pid]

    def collector(self):
        source = ProcSource(os.path.join(PROC, "t0"), owner_of=self.owner_of,
                            clock=lambda: self.now, wall=lambda: 1700000000.0 + self.now,
                            statvfs=lambda path: FakeStatvfs())
        return source, Collector(source, Accountant(UserNames(lookup=NAMES.__getitem__)))

    def advance(self, source):
        self.tree, self.now = "t1", 14.0
        source.proc_root = os.path.join(PROC, "t1")


@pytest.fixture
def samples():
    fake = FakeTree()
    source, collector = fake.collector()
    first = collector.sample()
    fake.advance(source)
    return first, collector.sample(), source


def by_name(snapshot):
    return {u.username: u for u in snapshot.users}


def test_first_sample_is_warming_up_with_no_fake_zero(samples):
    first, _, _ = samples
    assert first.warming_up
    assert first.system.cpu_usage is None and first.system.network_rate is None
    assert all(u.cpu_percent is None for u in first.users)
    assert system_info(first)["cpu_usage"] is None


def test_system_figures(samples):
    _, snap, _ = samples
    info = system_info(snap)
    assert info["cpu_usage"] == 50.0
    assert info["memory_usage"] == 40.0
    assert info["disk_usage"] == pytest.approx(100.0 * 400 / 900, abs=0.05)
    assert info["uptime"] == "16m"
    assert info["load_avg"] == "0.85, 0.92, 1.15"
    assert info["network_io"] == "0.75 MB/s"
    assert info["cpu_cores"] == 2
    assert snap.interval == 4.0 and not snap.warming_up


def test_per_user_cpu_counts_reaped_children_and_survives_pid_reuse(samples):
    _, snap, _ = samples
    users = by_name(snap)
    assert users["alice"].cpu_percent == pytest.approx(12.5)
    assert users["bob"].cpu_percent == pytest.approx(21.25)
    assert users["carol"].cpu_percent == pytest.approx(3.75)
    assert users["dave"].cpu_percent == pytest.approx(2.5)
    assert users["root"].cpu_percent == 0.0
    assert sum(u.cpu_percent for u in snap.users) <= snap.system.cpu_usage


def test_per_user_memory_processes_and_order(samples):
    _, snap, source = samples
    page = os.sysconf("SC_PAGE_SIZE")
    users = by_name(snap)
    assert users["alice"].memory_percent == pytest.approx(100.0 * 25000 * page / 1024000000)
    assert {name: u.processes for name, u in users.items()} == {
        "root": 2, "alice": 1, "bob": 1, "carol": 1, "dave": 1}
    assert [u.username for u in snap.users][:2] == ["bob", "alice"]
    metrics = user_metrics(snap.users)
    assert metrics[0] == {"username": "bob", "cpu_percent": 21.2, "memory_percent": metrics[0]["memory_percent"],
                          "processes": 1, "rss_percent": metrics[0]["memory_percent"]}  # no smaps_rollup here


def test_parser_handles_parentheses_in_command_names():
    source = ProcSource(os.path.join(PROC, "t0"), owner_of=lambda fd: 0, statvfs=lambda p: FakeStatvfs())
    table = source.read().processes
    assert table[201][1:] == (200, 99000, 40, 0, 2000)  # comm is "make (x) )"
    assert sorted(table) == [1, 2, 100, 200, 201, 400]   # "self" is not a pid


def test_reads_the_real_proc_like_psutil():
    """The live /proc collector agrees with psutil (the oracle) on processes per user and memory."""
    psutil = pytest.importorskip("psutil")
    collector = Collector(ProcSource())
    collector.sample()
    snap = collector.sample()
    ours = {u.uid: u.processes for u in snap.users}
    theirs = {}
    for proc in psutil.process_iter(["uids"]):
        theirs[proc.info["uids"].effective] = theirs.get(proc.info["uids"].effective, 0) + 1
    for uid in set(ours) | set(theirs):  # processes come and go between the two scans
        assert abs(ours.get(uid, 0) - theirs.get(uid, 0)) <= 3, uid
    assert snap.system.memory_usage == pytest.approx(
        100.0 * (1 - psutil.virtual_memory().available / psutil.virtual_memory().total), abs=2.0)


def test_user_memory_is_pss_where_smaps_rollup_is_readable(tmp_path):
    """Issue 9, part 4: RSS counts a shared page once per process (1000 `sleep`s showed 7.6% of
    memory on a machine using 2.7%); PSS splits it among its sharers. A process without a
    readable smaps_rollup counts its RSS scaled by its user's PSS/RSS ratio."""
    import shutil
    for tree in ("t0", "t1"):
        shutil.copytree(os.path.join(PROC, tree), str(tmp_path / tree), symlinks=True)
    page = os.sysconf("SC_PAGE_SIZE")
    (tmp_path / "t1" / "100" / "smaps_rollup").write_text("Rss: %d kB\nPss: 25000 kB\n" % (25000 * page // 1024))
    fake = FakeTree()
    source = ProcSource(str(tmp_path / "t0"), owner_of=fake.owner_of, clock=lambda: fake.now,
                        wall=lambda: 1700000000.0 + fake.now, statvfs=lambda path: FakeStatvfs(), pss_every=1)
    collector = Collector(source, Accountant(UserNames(lookup=NAMES.__getitem__)))
    collector.sample()
    fake.advance(source)
    source.proc_root = str(tmp_path / "t1")
    alice = by_name(collector.sample())["alice"]
    assert alice.memory_percent == pytest.approx(100.0 * 25000 * 1024 / 1024000000)
    assert alice.rss_percent == pytest.approx(100.0 * 25000 * page / 1024000000)


def test_parents_of_exits_that_ignore_sigchld_are_found_in_their_status(tmp_path):
    """Children of a parent ignoring SIGCHLD are reaped by the kernel: no cutime ever shows
    their exit tails, so the sample names such parents (``SigIgn`` bit 17)."""
    import shutil
    from sysmedic.collect.exits import Exit
    shutil.copytree(os.path.join(PROC, "t1"), str(tmp_path / "t1"), symlinks=True)
    (tmp_path / "t1" / "100" / "status").write_text("Name:\tpy\nSigIgn:\t0000000000010000\n")
    (tmp_path / "t1" / "200" / "status").write_text("Name:\tsh\nSigIgn:\t0000000000000004\n")

    class Exits:
        lost = 0

        def drain(self):
            return [Exit(pid, pid, 1000, 0, 5000, False, ppid) for pid, ppid in ((900, 100), (901, 200), (902, 999))]
    fake = FakeTree()
    fake.tree = "t1"
    source = ProcSource(str(tmp_path / "t1"), owner_of=fake.owner_of, statvfs=lambda path: FakeStatvfs(),
                        exits=Exits())
    raw = source.read()
    assert raw.reaps_nothing == frozenset({100}) and len(raw.exits) == 3


def test_pss_is_read_again_when_rss_changes_or_the_figure_is_old(tmp_path):
    """smaps_rollup costs the kernel a page-table walk: a process whose RSS is unchanged keeps
    its PSS for PSS_REUSE intervals, then it is read again; a changed RSS is read at once."""
    from sysmedic.collect.procfs import PSS_REUSE
    from sysmedic.collect.records import ProcRow
    (tmp_path / "7").mkdir()
    rollup = tmp_path / "7" / "smaps_rollup"
    source = ProcSource(str(tmp_path))

    def pss_at(now, rss):
        rollup.write_text("Pss: %d kB\n" % (now + 1))  # a new figure at every read
        source._refresh_pss({7: ProcRow(0, 1, 50, 0, 0, rss)}, now, 60 * PSS_REUSE)
        return source._pss[7][1] // 1024
    assert pss_at(0, 100) == 1
    assert pss_at(60, 100) == 1  # unchanged RSS: kept
    assert pss_at(120, 101) == 121  # RSS moved: read
    assert pss_at(120 + 60 * PSS_REUSE, 101) == 120 + 60 * PSS_REUSE + 1  # too old: read
