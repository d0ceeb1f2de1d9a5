"""What the daemon cannot see, and says (issue 22, item 3): in a pid namespace, under hidepid,
or as a user /proc shows only their own processes, `/health` said healthy with no word."""

import os
import subprocess
import shutil

import pytest

from sysmedic.collect.accounting import Accountant, UserNames
from sysmedic.collect.records import ProcRow, RawSample
from sysmedic.collect.visibility import INIT_PID_NAMESPACE, Coverage, blind_spots, mount_options
from sysmedic import views


def test_hidepid_and_a_pid_namespace_are_named():
    assert blind_spots(euid=1000, options={"hidepid": "2"}, namespace=INIT_PID_NAMESPACE)[0].startswith(
        "/proc is mounted hidepid=2: not being root")
    assert blind_spots(euid=0, options={"hidepid": "invisible"}, namespace=INIT_PID_NAMESPACE) == []
    found = blind_spots(euid=0, options={}, namespace="pid:[4026532201]")
    assert len(found) == 1 and "pid namespace (pid:[4026532201])" in found[0]
    assert blind_spots(euid=1000, options={"hidepid": "0"}, namespace=INIT_PID_NAMESPACE) == []


def test_this_machines_proc_mount_is_read():
    options = mount_options("/proc")
    assert "rw" in options or "ro" in options


def raw(t, processes, busy):
    return RawSample(monotonic=t, wall=1000.0 + t, now_start_units=t * 100, cpu_total=t * 200, cpu_busy=busy,
                     cpu_cores=2, memory_total=1000 * 4096, memory_available=500 * 4096, disk_used=1, disk_total=2,
                     network={}, uptime=t, load_avg=(0.0, 0.0, 0.0),
                     processes={pid: ProcRow(*row) for pid, row in processes.items()}, rss_unit=4096)


def test_cpu_no_visible_process_explains_is_said_after_three_windows():
    """A busy machine (60% of capacity by /proc/stat) whose one visible process uses 5%."""
    accountant = Accountant(UserNames(lookup=lambda uid: "u%d" % uid))
    said = []
    for i in range(6):
        snapshot = accountant.update(raw(i, {10: (1000, 1, 0, 10 * i, 0, 10)}, busy=120 * i))
        said.append(views.accounting(snapshot).get("unseen"))
    assert said[:3] == [None, None, None] and said[3] and said[5]
    assert "explain 8% of the machine's busy CPU" in said[5][0]
    quiet = Coverage()
    assert [quiet.update(0, 1, 100) for _ in range(5)] == [None] * 5  # too idle to judge


def test_a_fully_seen_busy_machine_says_nothing():
    accountant = Accountant(UserNames(lookup=lambda uid: "u%d" % uid))
    for i in range(6):
        snapshot = accountant.update(raw(i, {10: (1000, 1, 0, 110 * i, 0, 10)}, busy=120 * i))
    assert "unseen" not in views.accounting(snapshot)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare")
def test_a_daemon_in_a_pid_namespace_says_so():
    """The real thing: a pid namespace with its own /proc, sampled from inside."""
    code = ("import json; from sysmedic.collect.procfs import ProcSource; "
            "print(json.dumps(list(ProcSource().read().unseen)))")
    result = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "/usr/bin/python3", "-c", code],
                            capture_output=True, text=True, timeout=60,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert result.returncode == 0, result.stderr
    assert "pid namespace" in result.stdout, result.stdout


def _kernel_at_least(major, minor):
    release = os.uname().release.split(".")
    return (int(release[0]), int("".join(c for c in release[1] if c.isdigit()) or 0)) >= (major, minor)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv")
                    or not os.path.exists("/usr/bin/python3") or not _kernel_at_least(5, 8),
                    reason="needs root, unshare, setpriv, a system python3 and Linux 5.8+ (proc mounts of their own)")
def test_a_daemon_under_hidepid_as_another_user_says_so():
    """The real thing: /proc mounted hidepid=2 (in a mount namespace: since Linux 5.8 each proc
    mount has its own options, the host's is untouched), sampled as nobody."""
    import tempfile
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    place = tempfile.mkdtemp(prefix="sysmedic-hidepid-")
    try:
        os.chmod(place, 0o755)
        shutil.copytree(os.path.join(root, "sysmedic"), os.path.join(place, "sysmedic"))
        code = ("import json; from sysmedic.collect.procfs import ProcSource; "
                "print(json.dumps(list(ProcSource().read().unseen)))")
        result = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             'mount -t proc -o hidepid=2 proc /proc && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"',
             "sh", "/usr/bin/python3", "-c", code], capture_output=True, text=True, timeout=60, cwd=place,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": place, "PYTHONDONTWRITEBYTECODE": "1"})
        assert result.returncode == 0, result.stderr
        assert "/proc is mounted hidepid=invisible: not being root" in result.stdout, result.stdout  # 2, as the kernel names it
        assert mount_options("/proc").get("hidepid", "0") in ("0", "off")  # the host's /proc is as it was
    finally:
        shutil.rmtree(place)
