"""Per-user CPU against the kernel's own counters (issue 9).

Each load runs as its own throw-away user in its own cgroup (tests/loads.py); the real daemon
(as root: with the kernel's exit records, or with ``monitoring.exit_records`` off) samples every
WINDOW seconds, and each window's per-user figure (``get_user_metrics``, asked as each
``system_update`` arrives and answered before the next sample) is compared with the load's
cgroup counter interpolated to the daemon's own ``sample_time`` boundaries. Beside the load
under test runs a steady burner as another user ("the bystander"), whose figure must never
drop below its own cgroup: a process tree ending elsewhere must not scale anyone down.

Bar (exit records): within 5% of the cgroup (or 1 point when the truth is below 20%) in at
least 95% of windows, median error under 1 point, and the bystander never more than 1 point
below its cgroup. Needs root (cgroups, throw-away users, taskstats). A window's bar also
allows what the oracle itself cannot know: the load's CPU between the two counter readings
around each of the window's edges (20 ms apart when the reader thread keeps up; a busy
machine delays it: CI once missed one window by 0.02 point over the bar that way).

A parent that ignores SIGCHLD lets the kernel reap its children: no reaper's cutime shows
the part of their exits after the records (tearing down the address space), so SysMedic gives
those children's users what the machine's busy time leaves unexplained (accounting.TAIL_LIMIT).
Before that they were shown 85-100% of their cgroup, and 1% before issue 9.

The root loop starting burners as the user runs in a cgroup of its own; each burner joins the
load's group as its first act, still as root. What is true for it (issue 22, item 5): a task
forked by root that ends as the user is the user's for its whole life, as the kernel's own
exit record has it (``ac_uid`` is the last uid; BSD accounting does the same), so SysMedic
counts the forked shell's start before it joins the load's group (about 1 ms of the 35 ms
burner: why the user read 3% above the load's group in CI). That start is in no counter of
the load's group but in the root group's, with the root loop's own work. So the truth for
this load lies between the load's group and the load's group plus the root group, both
read in the same window: the bar is the same, measured from that interval (a figure that
gave the burners to root is 37 points off; one that counted them twice, as many).
"""

import os
import signal
import statistics
import time

import pytest

from sysmedic.collect import Collector
from sysmedic.collect.accounting import Accountant
from sysmedic.collect.exits import ExitListener
from sysmedic.collect.procfs import ProcSource

from ..loads import CgroupLoad, can_run_loads
from .harness import Client

pytestmark = pytest.mark.skipif(not can_run_loads(), reason="needs root, a writable cgroup and setpriv")

WINDOW = 1.5
WINDOWS = 10
BURN_20MS = "import time\nend = time.process_time() + 0.02\nwhile time.process_time() < end: pass"
PY = "/usr/bin/python3"

LOADS = {
    "steady burner": ["sh", "-c", "while :; do :; done"],
    "4-thread burner": [PY, "-c", "import threading\n"
                        "def burn():\n    while True: pass\n"
                        "for _ in range(4): threading.Thread(target=burn, daemon=True).start()\n"
                        "threading.Event().wait()"],
    "sh /bin/true loop": ["sh", "-c", "while :; do /bin/true; done"],
    "python subprocess.run loop": [PY, "-c", "import subprocess\nwhile True: subprocess.run(['/bin/true'])"],
    "loop of 20 ms burners": ["sh", "-c", "while :; do %s -c '%s'; done" % (PY, BURN_20MS)],
    "parent ignoring SIGCHLD": [PY, "-c", "import os, signal, sys\nsignal.signal(signal.SIGCHLD, signal.SIG_IGN)\n"
                                "while True:\n    pid = os.fork()\n    if pid == 0:\n"
                                "        os.execv('%s', ['%s', '-c', %r])\n"
                                "    import time; time.sleep(0.005)" % (PY, PY, BURN_20MS)],
    "chains ending in one window": ["sh", "-c", "while :; do sh -c '%s -c \"%s\"; true'; done" % (PY, BURN_20MS)],
    "root loop starting burners as the user": ["sh", "-c", "while :; do sh -c 'echo 0 > {cgroup}/cgroup.procs && "
                                              "exec setpriv --reuid={user} --regid={user} --clear-groups "
                                              "%s -c \"%s\"'; done" % (PY, BURN_20MS)],
}
AS_ROOT = {"root loop starting burners as the user"}


def error_of(shown, truth, slack=0.0):
    """How far ``shown`` is from the truth: from ``truth``, or from the interval ``truth`` to
    ``truth + slack`` (a root loop's load: what its tasks did before joining their group)."""
    return max(0.0, truth - shown, shown - truth - slack)


def allowed(truth):
    return max(0.05 * truth, 1.0) if truth < 20 else 0.05 * truth


def oracle(load, start, end, cores, group=0):
    """The load's share between two sample times, once the oracle has read past ``end``
    (``group`` 1: its root group's)."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        share = load.share(start, end, cores, group)
        if share is not None:
            return share
        time.sleep(0.02)  # the oracle's next reading is due any moment
    raise AssertionError("the cgroup oracle has no reading after %s" % end)


def measure(daemon, load, bystander):
    """``[(shown, truth, bystander shown, bystander truth, slack, oracle error)]`` for WINDOWS
    consecutive windows of the daemon (``slack``: a root loop's root group share, else 0;
    ``oracle error``: how far the cgroup's interpolated reading can be off). Each window's
    figures are asked for as its ``system_update`` arrives; a reply answered after the next
    sample was taken may come from that one, and its window is skipped."""
    client = Client(daemon.ws_url())
    cores = client.next("system_update")["data"]["cpu_cores"]
    client.next("system_update")  # one window to settle what the previous test's loads left ending
    start = client.next("system_update")["data"]["sample_time"]
    end = client.next("system_update")["data"]["sample_time"]
    rows = []
    for _ in range(WINDOWS * 2):
        users = {u["username"]: u["cpu_percent"] or 0.0 for u in client.ask("get_user_metrics")}
        answered = time.time()
        following = client.next("system_update")["data"]["sample_time"]
        if answered < following:
            rows.append((users.get(load.user, 0.0), oracle(load, start, end, cores),
                         users.get(bystander.user, 0.0), oracle(bystander, start, end, cores),
                         oracle(load, start, end, cores, 1) if load.has_root_group else 0.0,
                         load.uncertainty(start, end, cores) or 0.0))
            if len(rows) == WINDOWS:
                return rows
        start, end = end, following
    raise AssertionError("the daemon's replies kept arriving after its next sample")


def judge(name, rows):
    table = "\n".join("shown %6.2f truth %6.2f (+%.2f, oracle +-%.2f) | bystander %6.2f truth %6.2f"
                      % (row[0], row[1], row[4], row[5], row[2], row[3]) for row in rows)
    print("%s:\n%s" % (name, table))
    assert not [row for row in rows if row[3] - row[2] > 1.0], "the bystander was scaled down:\n%s" % table
    # A window misses when it is off by more than the bar plus what the oracle itself cannot
    # know (its readings around the window's edges); the median has no such allowance.
    misses = [row for row in rows if error_of(row[0], row[1], row[4]) > allowed(row[1]) + row[5]]
    median = statistics.median(error_of(shown, truth, slack) for shown, truth, _, _, slack, _ in rows)
    assert len(misses) <= len(rows) * 0.05 and median < 1.0, "%s:\n%s" % (name, table)


def accounting_daemon(make_daemon, exit_records):
    daemon = make_daemon(config={"monitoring": {"update_interval": WINDOW, "exit_records": exit_records}})
    method = daemon.health()["accounting"]["method"]
    if exit_records and method != "exit-records":
        pytest.skip("no exit records here: the daemon counts by %s" % method)
    assert method == ("exit-records" if exit_records else "reaped-children")
    return daemon


@pytest.mark.parametrize("name", list(LOADS))
def test_exit_records_match_each_loads_cgroup(make_daemon, name):
    with CgroupLoad(LOADS["steady burner"]) as bystander, \
            CgroupLoad(LOADS[name], as_root=name in AS_ROOT) as load:
        load.wait_running()
        bystander.wait_running()
        rows = measure(accounting_daemon(make_daemon, True), load, bystander)
    judge(name, rows)


BLIND_WITHOUT_RECORDS = {"parent ignoring SIGCHLD", "root loop starting burners as the user"}


@pytest.mark.parametrize("name", [name for name in LOADS if name not in BLIND_WITHOUT_RECORDS])
def test_inference_without_exit_records_matches_each_loads_cgroup(make_daemon, name):
    """Unprivileged (reaped-children) counting: the same bar, except for its two documented
    blind spots (README, "Per-user CPU")."""
    with CgroupLoad(LOADS["steady burner"]) as bystander, CgroupLoad(LOADS[name]) as load:
        load.wait_running()
        bystander.wait_running()
        rows = measure(accounting_daemon(make_daemon, False), load, bystander)
    judge(name + " (inferred)", rows)


def test_a_burner_killed_mid_window_counts_for_its_own_user(make_daemon):
    """Before issue 9 a process's last partial window went to its parent's user (0.0 shown
    against 8.8 real for the killed burner)."""
    daemon = accounting_daemon(make_daemon, True)
    client = Client(daemon.ws_url())
    cores = client.next("system_update")["data"]["cpu_cores"]
    for _ in range(3):  # again if the reply came from the sample after the kill's
        with CgroupLoad(LOADS["steady burner"]) as load:
            load.wait_running()
            client.next("system_update")  # a whole window of burning first
            start = client.next("system_update")["data"]["sample_time"]
            while time.time() < start + WINDOW / 2:  # half a window of burning, then the kill
                time.sleep(0.01)
            with open(os.path.join(load.path, "cgroup.procs")) as handle:
                for pid in handle.read().split():
                    os.kill(int(pid), signal.SIGKILL)
            end = client.next("system_update")["data"]["sample_time"]
            users = {u["username"]: u["cpu_percent"] or 0.0 for u in client.ask("get_user_metrics")}
            answered = time.time()
            if answered < client.next("system_update")["data"]["sample_time"]:
                truth, shown = oracle(load, start, end, cores), users.get(load.user, 0.0)
                break
    else:
        raise AssertionError("the daemon's replies kept arriving after its next sample")
    assert truth > 5 and error_of(shown, truth) <= allowed(truth), (shown, truth)


def test_records_lost_in_a_fork_storm_are_counted_and_logged(caplog):
    """A socket buffer too small for a storm of exits: the kernel drops records (ENOBUFS);
    SysMedic counts the losses and logs them, never silently."""
    import subprocess
    import threading
    listener = ExitListener(receive_buffer=8192)
    subprocess.run(["sh", "-c", "i=0; while [ $i -lt 400 ]; do /bin/true; i=$((i+1)); done"], check=True)
    stop = threading.Event()
    thread = threading.Thread(target=listener.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while listener.lost == 0 and time.monotonic() < deadline:
        time.sleep(0.02)  # polling with a deadline for the listener to meet the overflow
    stop.set()
    listener.close()
    assert listener.lost > 0 and "exit records lost" in caplog.text
    assert listener.received < 400  # most of the storm did not fit


def test_users_memory_adds_up_to_at_most_the_machines_with_1000_sleeps():
    """Issue 9, part 4: by RSS, 1000 `sleep`s of one user showed 7.6% of memory on a machine
    using 2.7% (each shared page counted once per process). By PSS the users add up."""
    spawn = "i=0; while [ $i -lt 1000 ]; do sleep 600 & i=$((i+1)); done; wait"
    with CgroupLoad(["sh", "-c", spawn]) as load:
        source, accountant = ProcSource(pss_every=1), Accountant()
        deadline = time.monotonic() + 60
        while True:  # until the sleeps run and the PSS of every process of the load is read
            raw = source.read()
            snapshot = accountant.update(raw)
            user = {u.username: u for u in snapshot.users}.get(load.user)
            theirs = [pid for pid, row in raw.processes.items() if user is not None and row.uid == user.uid]
            if len(theirs) >= 1001 and raw.pss is not None and all(pid in raw.pss for pid in theirs):
                break
            assert time.monotonic() < deadline, "the sleeps did not start, or their PSS was not read"
            time.sleep(0.2)  # polling with a deadline
    users = {u.username: u for u in snapshot.users}
    total = sum(u.memory_percent for u in snapshot.users)
    by_rss = sum(u.rss_percent for u in snapshot.users)
    assert total <= snapshot.system.memory_usage + 1.0, (total, snapshot.system.memory_usage, by_rss)
    assert users[load.user].rss_percent > 2 * users[load.user].memory_percent  # RSS would overstate it


def test_the_daemon_says_at_start_and_in_health_how_it_counts(make_daemon):
    daemon = make_daemon()
    assert daemon.health()["accounting"] == {"method": "exit-records", "exit_records_lost": 0}
    assert "per-user CPU: exact, from the kernel's exit records (taskstats)" in daemon.log()
    off = make_daemon(config=dict(daemon.FAST, monitoring=dict(daemon.FAST["monitoring"], exit_records=False)))
    assert off.health()["accounting"]["method"] == "reaped-children"
    assert "exit_records is off in config.json" in off.log()


def test_new_copy_on_write_children_never_count_as_their_rss():
    """Issue 22, item 2: 40 copy-on-write children of a 200 MB parent showed their user 8.2 GB
    (their cgroup: 210 MB) for up to a minute, until the next PSS refresh: each new process
    counted by RSS. Now a new process's PSS is read when it is first seen (the largest first,
    64 a scan), and estimates never take users past what the machine uses. At the default
    PSS interval (60 s), so no refresh comes within the test."""
    spawn = [PY, "-c", "import os, time\nblock = bytearray(200 << 20)\nfor i in range(0, len(block), 4096): block[i] = 1\n"
             "for _ in range(40):\n    if os.fork() == 0:\n        time.sleep(600)\n        os._exit(0)\n"
             "time.sleep(600)"]
    collector = Collector(ProcSource(pss_every=60))
    collector.sample()  # the first PSS refresh, before the load
    with CgroupLoad(spawn) as load:
        deadline = time.monotonic() + 60
        while True:
            snapshot = collector.sample()
            users = {u.username: u for u in snapshot.users}
            user = users.get(load.user)
            total = sum(u.memory_percent for u in snapshot.users)
            assert total <= snapshot.system.memory_usage + 1.0, (total, snapshot.system.memory_usage)
            if user is not None and user.processes >= 41:
                break
            assert time.monotonic() < deadline, "the children did not start"
            time.sleep(0.2)  # polling with a deadline for the children to start
        parent = 100.0 * (210 << 20) / snapshot.system.memory_total
        assert user.memory_percent <= 1.5 * parent, (user.memory_percent, parent, user.rss_percent)
        assert user.rss_percent > 20 * parent  # what RSS alone says: 41 times the parent
