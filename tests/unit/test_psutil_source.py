"""The psutil backend gives the same kind of Snapshot as /proc, and is chosen by config."""

import pytest

from sysmedic.collect import make_collector
from sysmedic.collect.procfs import ProcSource
from sysmedic.collect.psutil_source import PsutilSource

pytest.importorskip("psutil")


def test_psutil_backend_agrees_with_procfs():
    collector = make_collector("psutil")
    assert isinstance(collector.source, PsutilSource)
    assert collector.sample().warming_up
    snap = collector.sample()
    assert not snap.warming_up and 0.0 <= snap.system.cpu_usage <= 100.0
    assert snap.system.network_rate is not None and snap.system.cpu_cores >= 1
    procfs = make_collector("procfs")
    assert isinstance(procfs.source, ProcSource)
    procfs.sample()
    ours = procfs.sample()
    assert snap.system.memory_usage == pytest.approx(ours.system.memory_usage, abs=2.0)
    assert snap.system.disk_usage == pytest.approx(ours.system.disk_usage, abs=1.0)
    assert snap.system.uptime == pytest.approx(ours.system.uptime, abs=5.0)
    theirs = {u.username: u.processes for u in snap.users}
    # A busy host starts and ends processes between the two scans: a user's count may differ
    # by 3, plus however much it changed across another /proc scan taken after psutil's.
    later = {u.username: u.processes for u in procfs.sample().users}
    assert set(theirs) and all(
        abs(theirs.get(u.username, 0) - u.processes) <= 3 + abs(later.get(u.username, 0) - u.processes)
        for u in ours.users)


def test_auto_picks_procfs_on_linux_and_procfs_without_proc_is_an_error(tmp_path):
    assert isinstance(make_collector("auto").source, ProcSource)
    from sysmedic.errors import CollectorError
    with pytest.raises(CollectorError, match="stat not found: the machine's counters are in Linux's /proc"):
        make_collector("procfs", proc_root=str(tmp_path))
    with pytest.raises(CollectorError, match="stat not found"):  # auto no longer falls back to psutil on Linux
        make_collector("auto", proc_root=str(tmp_path))
