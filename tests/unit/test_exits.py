"""Exit records (issue 9): parsing the kernel's taskstats messages, and exact per-user CPU
from /proc plus exit records, with exact numbers on made-up samples. The real kernel and real
loads are in tests/e2e/test_accuracy.py."""

import struct

import pytest

from sysmedic.collect.accounting import Accountant
from sysmedic.collect.exits import Exit, parse_exits
from sysmedic.collect.records import ProcRow, RawSample

HZ = 100
BOOT = 1_000_000.0


def stats(pid, tgid, uid, ppid, begin, cpu_us, version=16, ticked_us=None, group=False, comm=b""):
    """A struct taskstats with the fields SysMedic reads at their kernel offsets: ``cpu_us`` is
    the exact run time (``cpu_run_virtual_total``; 0: a kernel without it), ``ticked_us`` the
    clock-tick sampled ``ac_utime + ac_stime`` (default: the same); a thread group's sum has
    no ``ac_*`` fields, only the run times."""
    ticked_us = cpu_us if ticked_us is None else ticked_us
    data = bytearray(400)
    struct.pack_into("=H", data, 0, version)
    struct.pack_into("=QQ", data, 64, ticked_us * 1000, cpu_us * 1000)
    if not group:
        struct.pack_into("=IIIII", data, 120, uid, uid, pid, ppid, begin)
        struct.pack_into("=QQ", data, 152, ticked_us - ticked_us // 4, ticked_us // 4)
        struct.pack_into("=I", data, 368, tgid)
        data[80:80 + len(comm)] = comm
    return bytes(data)


def attr(kind, payload):
    size = 4 + len(payload)
    return struct.pack("=HH", size, kind) + payload + b"\0" * (-size % 4)


def test_a_thread_groups_last_exit_carries_its_record_and_the_groups_sum():
    thread = attr(4, attr(1, struct.pack("=I", 501)) + attr(3, stats(501, 500, 1001, 42, 1234, 30000)))
    group = attr(5, attr(2, struct.pack("=I", 500)) + attr(3, stats(0, 0, 0, 0, 0, 90000, group=True)))
    found = parse_exits(struct.pack("=BBH", 2, 1, 0) + thread + group)
    assert found == [Exit(501, 500, 1001, 1234, 30000, False, 42, "", (0, 0, 0), (0, 0, 0)),
                     Exit(500, 500, 1001, 0, 90000, True, 42)]


def test_a_record_carries_its_command_name_and_a_groups_sum_its_last_threads():
    """Issue 22, item 4: what a user's ended processes were, from their records' ac_comm."""
    thread = attr(4, attr(1, struct.pack("=I", 501)) + attr(3, stats(501, 500, 1001, 42, 1234, 300, comm=b"cc1plus")))
    group = attr(5, attr(2, struct.pack("=I", 500)) + attr(3, stats(0, 0, 0, 0, 0, 900, group=True)))
    assert [r.comm for r in parse_exits(struct.pack("=BBH", 2, 1, 0) + thread + group)] == ["cc1plus", "cc1plus"]
    from sysmedic.collect.exits import ExitListener
    one = struct.pack("=BBH", 2, 1, 0) + attr(4, attr(1, struct.pack("=I", 7)) + attr(3, stats(
        7, 7, 1, 1, 1, 50, comm=b"\xff" + b"t" * 31)))
    datagram = struct.pack("=IHHII", 16 + len(one), 27, 0, 0, 0) + one
    found = []
    ExitListener._handle(None, datagram, found)  # the one-unpack path of the listener thread
    assert found == parse_exits(one) and found[0].comm == "\ufffd" + "t" * 31


def test_a_record_carries_its_own_io_and_delays_on_both_paths():
    """Issue 25's building block: read_bytes, write_bytes, cancelled_write_bytes (at 248) and
    the CPU, block I/O and swap-in delays (at 24, 40, 56), as the kernel lays them out."""
    data = bytearray(stats(7, 7, 1000, 1, 1, 50))
    struct.pack_into("=QQQ", data, 248, 4096, 20971520, 8192)
    struct.pack_into("=QQQQQQ", data, 16, 3, 1500, 2, 2500, 1, 3500)  # cpu_count/delay, blkio, swapin
    one = struct.pack("=BBH", 2, 1, 0) + attr(4, attr(1, struct.pack("=I", 7)) + attr(3, bytes(data)))
    parsed = parse_exits(one)
    assert parsed[0].io == (4096, 20971520, 8192) and parsed[0].delays_ns == (1500, 2500, 3500)
    from sysmedic.collect.exits import ExitListener
    found = []
    ExitListener._handle(None, struct.pack("=IHHII", 16 + len(one), 27, 0, 0, 0) + one, found)
    assert found == parsed
    extra = attr(4, attr(1, struct.pack("=I", 8)) + attr(3, bytes(data)))  # a datagram of two: the general path
    assert [r.io for r in parse_exits(one + extra)] == [(4096, 20971520, 8192)] * 2


def test_cpu_is_the_exact_run_time_not_the_clock_tick_sample():
    """A 1 ms /bin/true's ac_utime + ac_stime is 0 or a whole 4 ms tick; the scheduler's run
    time is exact. Where a kernel leaves it 0, the tick sample is all there is."""
    def one(cpu_us, ticked_us):
        record = attr(4, attr(1, struct.pack("=I", 7)) + attr(3, stats(7, 7, 1, 1, 1, cpu_us, ticked_us=ticked_us)))
        return parse_exits(struct.pack("=BBH", 2, 1, 0) + record)[0].cpu_us
    assert one(1100, 4000) == 1100
    assert one(1100, 0) == 1100
    assert one(0, 4000) == 4000


def test_records_older_than_version_12_have_no_thread_group_and_are_skipped():
    old = attr(4, attr(1, struct.pack("=I", 7)) + attr(3, stats(7, 7, 1, 1, 1, 5, version=10)))
    assert parse_exits(struct.pack("=BBH", 2, 1, 0) + old) == []


# -- exact accounting -----------------------------------------------------------------------------

def sample(now, processes, exits=(), busy=None):
    """A RawSample at ``now`` seconds after boot; ``processes``: pid -> (uid, ppid, start s,
    cpu s, reaped children's cpu s)."""
    rows = {pid: ProcRow(uid, ppid, start * HZ, cpu * HZ, child * HZ, 0)
            for pid, (uid, ppid, start, cpu, child) in processes.items()}
    return RawSample(monotonic=now, wall=BOOT + now, now_start_units=now * HZ, cpu_total=now * HZ * 4,
                     cpu_busy=(busy if busy is not None else now * 4) * HZ, cpu_cores=4,
                     memory_total=1, memory_available=1, disk_used=0, disk_total=1, network={}, uptime=now,
                     load_avg=(0.0, 0.0, 0.0), processes=rows, rss_unit=1, cpu_per_second=HZ,
                     boot_time=BOOT, exits=tuple(exits))


def ended(pid, uid, ppid, start, cpu, tgid=None):
    return Exit(pid, pid if tgid is None else tgid, uid, int(BOOT + start), int(cpu * 1e6), False, ppid)


def shares(accountant, *samples):
    """uid -> CPU % of the 4-core machine in the last window."""
    for raw in samples:
        snapshot = accountant.update(raw)
    return {u.uid: round(u.cpu_percent, 3) for u in snapshot.users}


def test_a_child_of_another_user_counts_for_its_own_user_and_its_exit_tail_too():
    """root's loop starts a 0.8 s burner as uid 1001 that ends in the window; root reaps it and
    its cutime shows 0.9 s (0.1 s of exit after the record was taken)."""
    before = sample(10, {1: (0, 0, 1, 5, 0)})
    after = sample(12, {1: (0, 0, 1, 5.2, 0.9)}, exits=[ended(50, 1001, 1, 10.5, 0.8)])
    got = shares(Accountant(names=str), before, after)
    assert got == {0: pytest.approx(100 * 0.2 / 8), 1001: pytest.approx(100 * 0.9 / 8)}


def test_a_parent_and_child_ending_in_one_window_are_each_counted_once():
    """Issue 9's double count: A reaps B, whose cutime held C's whole life; before, C's time was
    credited again to A's user and everyone was scaled down."""
    before = sample(10, {1: (0, 0, 1, 1, 0), 20: (1001, 1, 5, 1.0, 0), 30: (1002, 20, 6, 2.0, 0)})
    after = sample(12, {1: (0, 0, 1, 1, 1.0 + 3.5)}, exits=[
        ended(30, 1002, 20, 6, 3.5), ended(20, 1001, 1, 5, 1.0)])
    got = shares(Accountant(names=str), before, after)
    assert got == {0: 0.0, 1002: pytest.approx(100 * 1.5 / 8)}  # 1001 used nothing more, and has gone


def test_a_thread_ending_inside_a_living_process_is_not_counted_twice():
    before = sample(10, {1: (1001, 0, 1, 4, 0)})
    after = sample(12, {1: (1001, 0, 1, 5, 0)}, exits=[ended(77, 1001, 0, 3, 2.0, tgid=1)])
    assert shares(Accountant(names=str), before, after) == {1001: pytest.approx(100 * 1.0 / 8)}


def test_a_zombie_waits_until_it_is_gone_and_a_late_reap_is_matched_in_the_next_window():
    """Its record arrives while it is still in /proc; it is reaped only after the next scan."""
    accountant = Accountant(names=str)
    first = sample(10, {1: (0, 0, 1, 1, 0), 40: (1001, 1, 9, 1.0, 0)})
    second = sample(12, {1: (0, 0, 1, 1, 0), 40: (1001, 1, 9, 1.5, 0)}, exits=[ended(40, 1001, 1, 9, 1.5)])
    assert shares(accountant, first, second) == {0: 0.0, 1001: pytest.approx(100 * 0.5 / 8)}
    third = sample(14, {1: (0, 0, 1, 1, 0)})  # gone, but its reaper's cutime has not shown it yet
    assert shares(accountant, third) == {0: 0.0}
    fourth = sample(16, {1: (0, 0, 1, 1, 1.6)})  # reaped: 0.1 s of exit tail, to its user
    assert shares(accountant, fourth) == {0: 0.0, 1001: pytest.approx(100 * 0.1 / 8)}


def test_time_reaped_with_no_record_to_explain_it_stays_with_the_reaper():
    """Records lost in a fork storm: the reaped time is not dropped, it is inferred as before."""
    before = sample(10, {1: (1001, 0, 1, 1, 0)})
    after = sample(12, {1: (1001, 0, 1, 1, 0.6)}, exits=[])
    assert shares(Accountant(names=str), before, after) == {1001: pytest.approx(100 * 0.6 / 8)}


def test_children_the_kernel_reaps_get_what_the_busy_time_leaves_unexplained_up_to_a_limit():
    """A parent ignoring SIGCHLD: no cutime shows its children's exit tails. The window was
    busy 1.1 s: the parent's 0.2, the record's 0.8, and 0.1 nothing explains but such a tail."""
    def window(busy, ignores=True):
        before = sample(10, {1: (0, 0, 1, 5, 0)}, busy=10)
        after = sample(12, {1: (0, 0, 1, 5.2, 0)}, exits=[ended(50, 1001, 1, 10.5, 0.8)], busy=10 + busy)
        after = RawSample(**dict(after.__dict__, reaps_nothing=frozenset({1} if ignores else ())))
        return shares(Accountant(names=str), before, after)
    assert window(1.1) == {0: pytest.approx(100 * 0.2 / 8), 1001: pytest.approx(100 * 0.9 / 8)}
    # A parent that reaps (its cutime would show the tail): the unexplained 0.1 is nobody's.
    assert window(1.1, ignores=False) == {0: pytest.approx(100 * 0.2 / 8), 1001: pytest.approx(100 * 0.8 / 8)}
    # At most half the records' CPU: 1.0 s unexplained gives 0.4 s.
    assert window(2.0) == {0: pytest.approx(100 * 0.2 / 8), 1001: pytest.approx(100 * 1.2 / 8)}


def test_the_snapshot_says_how_it_counted():
    accountant = Accountant(names=str)
    accountant.update(sample(10, {1: (0, 0, 1, 1, 0)}))
    snapshot = accountant.update(sample(12, {1: (0, 0, 1, 1, 0)}))
    assert snapshot.accounting == "exit-records"
    raw = sample(14, {1: (0, 0, 1, 1, 0)})
    without = RawSample(**dict(raw.__dict__, exits=None))
    assert accountant.update(without).accounting == "reaped-children"


def test_a_killed_process_waiting_as_a_zombie_counts_for_its_own_user():
    """/proc shows a zombie as root's: its last partial window went to root (0.0 shown for the
    killed burner's user against 8.8 real)."""
    accountant = Accountant(names=str)
    first = sample(10, {1: (0, 0, 1, 1, 0), 40: (1001, 1, 9, 3.0, 0)})
    zombie = sample(12, {1: (0, 0, 1, 1, 0), 40: (0, 1, 9, 3.9, 0)}, exits=[ended(40, 1001, 1, 9, 3.9)])
    assert shares(accountant, first, zombie) == {0: 0.0, 1001: pytest.approx(100 * 0.9 / 8)}


def test_the_struct_version_is_read_to_refuse_kernels_without_a_thread_group_id():
    from sysmedic.collect.exits import record_version
    old = attr(4, attr(1, struct.pack("=I", 7)) + attr(3, stats(7, 7, 1, 1, 1, 5, version=10)))
    assert record_version(struct.pack("=BBH", 2, 1, 0) + old) == 10


# -- inference without exit records ----------------------------------------------------------------

def without_records(raw):
    return RawSample(**dict(raw.__dict__, exits=None))


def test_inference_counts_a_grandchild_once_when_it_and_its_parent_end_in_one_window():
    """A reaps B, whose cutime holds C's whole life (B reaped C, then ended): C's seen total
    passes up to A with B's, so only what nobody saw is inferred."""
    before = sample(10, {1: (0, 0, 1, 1, 0), 20: (1001, 1, 5, 1.0, 0), 30: (1001, 20, 6, 2.0, 0)})
    after = sample(12, {1: (0, 0, 1, 1, 1.2 + 3.4)})  # B ended at 1.2 s, C at 3.4 s
    got = shares(Accountant(names=str), without_records(before), without_records(after))
    assert got == {0: pytest.approx(100 * (0.2 + 1.4) / 8)}  # the unseen parts, to the reaper's user


def test_inference_trims_what_it_inferred_before_what_it_saw():
    """Over the machine's busy time, the reaped (inferred) part gives way first."""
    before = sample(10, {1: (0, 0, 1, 1, 0), 2: (1001, 0, 1, 1, 0)}, busy=10)
    after = sample(12, {1: (0, 0, 1, 1, 1.5), 2: (1001, 0, 1, 2.5, 0)}, busy=12)
    got = shares(Accountant(names=str), without_records(before), without_records(after))
    assert got == {1001: pytest.approx(100 * 1.5 / 8), 0: pytest.approx(100 * 0.5 / 8)}


def test_no_user_is_shown_above_the_machine_in_a_window_where_proc_stat_saw_nothing():
    """A tick a process shows in /proc before /proc/stat counts it: users must not add up to
    more than the machine (before: 2.5-5% shown for root in idle windows, system 0.0%)."""
    before = sample(10, {1: (0, 0, 1, 1.00, 0)}, busy=5)
    after = sample(12, {1: (0, 0, 1, 1.01, 0)}, busy=5)
    assert shares(Accountant(names=str), before, after) == {0: 0.0}



def datagram(payload, kind=30):
    return struct.pack("=IHHII", 16 + len(payload), kind, 0, 0, 0) + payload


@pytest.mark.parametrize("cpu_us, ticked_us, tid, tgid", [(1100, 4000, 7, 7), (0, 4000, 7, 7), (5, 5, 8, 7)])
def test_the_one_unpack_read_of_a_datagram_matches_the_general_path(cpu_us, ticked_us, tid, tgid):
    """The listener reads the usual datagram (one task's record) in one unpack; it must give
    what the general path gives, threads of a living process left out as :meth:`_keep` does."""
    from sysmedic.collect.exits import ExitListener
    payload = struct.pack("=BBH", 2, 1, 0) + attr(4, attr(1, struct.pack("=I", tid)) + attr(
        3, stats(tid, tgid, 1001, 42, 1234, cpu_us, ticked_us=ticked_us)))
    general = [r for r in parse_exits(payload) if r.group or r.tid == r.tgid]
    found = []
    ExitListener._handle(None, datagram(payload), found)
    assert found == general
    assert len(found) == (1 if tid == tgid else 0)
    group = payload + attr(5, attr(2, struct.pack("=I", 7)) + attr(3, stats(0, 0, 0, 0, 0, 9, group=True)))
    found = []
    ExitListener._handle(None, datagram(group), found)  # two records in one message: the general path
    assert found == parse_exits(group)
