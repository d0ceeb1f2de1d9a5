"""Accounting rules on hand-made RawSamples: clamps, scaling, missed processes."""

import pytest

from sysmedic.collect.accounting import Accountant, UserNames
from sysmedic.collect.records import ProcRow, RawSample


def raw(t, total, busy, processes, now_start=None):
    """A sample at ``t`` seconds; the clock ticks 200 times a second, so two samples a second
    apart span 400 ticks of the 2 cores."""
    return RawSample(monotonic=t, wall=1000.0 + t, now_start_units=t * 100 if now_start is None else now_start,
                     cpu_total=total, cpu_busy=busy, cpu_cores=2, memory_total=1000, memory_available=500,
                     disk_used=1, disk_total=2, network={"eth0": 0}, uptime=t, load_avg=(0.0, 0.0, 0.0),
                     processes={pid: ProcRow(*row) for pid, row in processes.items()}, rss_unit=1,
                     cpu_per_second=200.0)


def account(first, second):
    accountant = Accountant(UserNames(lookup=lambda uid: "u%d" % uid))
    accountant.update(first)
    return {u.username: u.cpu_percent for u in accountant.update(second).users}


def test_users_never_add_up_to_more_than_the_system():
    # Process table says 300 ticks were used, /proc/stat says 200 busy out of 400: scale to 200.
    before = raw(1, 1000, 500, {10: (1, 1, 5, 100, 0, 0), 11: (2, 1, 5, 100, 0, 0)})
    after = raw(2, 1400, 700, {10: (1, 1, 5, 250, 0, 0), 11: (2, 1, 5, 250, 0, 0)})
    shares = account(before, after)
    assert shares["u1"] == pytest.approx(25.0) and shares["u2"] == pytest.approx(25.0)


def test_shares_are_of_the_real_capacity_when_proc_stat_loses_ticks():
    # A loaded virtual machine's /proc/stat counted 380 of the window's 400 ticks (190 busy);
    # a process ran 150 of the real 400: it is shown at 37.5%, not 150/380; and one that ran
    # 200 fits in the busy fraction of the real capacity (190/380 of 400), so is not trimmed.
    before = raw(1, 1000, 500, {10: (1, 1, 5, 100, 0, 0), 11: (2, 1, 5, 0, 0, 0)})
    after = raw(2, 1380, 690, {10: (1, 1, 5, 250, 0, 0), 11: (2, 1, 5, 0, 0, 0)})
    assert account(before, after)["u1"] == pytest.approx(37.5)
    after = raw(2, 1380, 690, {10: (1, 1, 5, 300, 0, 0)})
    assert account(before, after)["u1"] == pytest.approx(50.0)


def test_reaped_time_is_clamped_to_the_interval():
    # A long-lived child we never saw (e.g. a daemonised grandchild) is reaped with 10000 ticks.
    before = raw(1, 1000, 100, {10: (1, 1, 5, 0, 0, 0)})
    after = raw(2, 1400, 500, {10: (1, 1, 5, 0, 10000, 0)})
    assert account(before, after)["u1"] == pytest.approx(100.0)


def test_process_missed_by_the_previous_scan_is_not_counted_with_its_whole_life():
    before = raw(1, 1000, 100, {10: (1, 1, 5, 0, 0, 0)})
    after = raw(2, 1400, 500, {10: (1, 1, 5, 0, 0, 0), 11: (2, 1, 50, 9999, 0, 0)})  # started long ago
    assert account(before, after)["u2"] == 0.0


def test_exited_child_already_counted_is_not_counted_twice():
    # Child 11 used 80 ticks we saw at t1; it exits after 20 more; the parent reaps 100.
    before = raw(1, 1000, 100, {10: (1, 1, 5, 0, 0, 0), 11: (1, 10, 150, 80, 0, 0)}, now_start=100)
    after = raw(2, 1400, 500, {10: (1, 1, 5, 0, 100, 0)}, now_start=200)
    assert account(before, after)["u1"] == pytest.approx(100.0 * 20 / 400)


def test_user_names_cache_and_retry_unknown_uids():
    calls = []
    now = [0.0]

    def lookup(uid):
        calls.append(uid)
        if uid == 5:
            raise KeyError(uid)
        return "alice"
    names = UserNames(lookup=lookup, clock=lambda: now[0], retry=60)
    assert names(1) == "alice" and names(1) == "alice"
    assert names(5) == "5" and names(5) == "5"
    assert calls == [1, 5]
    now[0] = 61
    assert names(5) == "5" and calls == [1, 5, 5]


def test_a_reused_uid_is_shown_under_its_new_name(tmp_path):
    """Issue 21: userdel, then useradd -u 1900 for someone else, and the old name stayed forever."""
    import os
    passwd = tmp_path / "passwd"
    passwd.write_text("old:x:1900:1900::/:/bin/sh\n")
    owners = {1900: "old"}
    now = [0.0]
    names = UserNames(lookup=lambda uid: owners[uid], clock=lambda: now[0], passwd=str(passwd), ttl=300)
    assert names(1900) == "old"
    owners[1900] = "new"
    passwd.write_text("new:x:1900:1900::/:/bin/sh\n")
    os.utime(str(passwd), ns=(10 ** 9, 10 ** 9))
    now[0] = 1.0
    assert names(1900) == "old"  # the file is looked at every 2 s at most
    now[0] = 3.0
    assert names(1900) == "new"
    owners[1900] = "ldap"  # a name from NSS changes without the file: at most ttl later
    now[0] = 200.0
    assert names(1900) == "new"
    now[0] = 304.0
    assert names(1900) == "ldap"
