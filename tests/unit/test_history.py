"""get_history (issue 12): the in-memory timeline, SQLite's buckets, the two joined, peaks kept
through down-sampling, limits and bad arguments. Exact numbers from made-up samples and rows
in a real SQLite file."""

import math
import os
import time
import types

import pytest

from sysmedic.history.rollup import SystemRow, UserRow
from sysmedic.history.recent import Timeline
from sysmedic.history.query import MAX_POINTS, MAX_VALUES, BadArguments, History
from sysmedic.server import protocol
from sysmedic.storage import Storage, history_buckets

NOW = 1_800_000_000.0


def config(update=5.0, interval=60.0):
    return types.SimpleNamespace(monitoring=types.SimpleNamespace(update_interval=update,
                                                                  monitoring_interval=interval))


def filled(points, start, every=5.0, users=lambda i: [("alice", 10.0, 1.0)], capacity=720, max_users=50):
    timeline = Timeline(capacity, max_users=max_users)
    for i in range(points):
        timeline.add(start + i * every, 20.0 + (i % 3), 40.0, 1.5, 1000.0, users(i))
    return timeline


def no_database(*query):
    raise AssertionError("the database was read for a range in memory: %r" % (query,))


def test_an_hour_in_memory_at_the_sample_step():
    timeline = filled(720, NOW - 3600 + 5)
    data = History(timeline, no_database, config).answer({"since": 3600}, NOW)
    assert data["source"] == "memory" and data["step"] == 5.0
    assert len(data["timestamps"]) == 721 and data["timestamps"] == sorted(data["timestamps"])
    cpu = data["system"]["cpu"]["avg"]
    assert [v for v in cpu if v is not None][:3] == [20.0, 21.0, 22.0]
    assert "max" not in data["system"]["cpu"]  # one sample a bucket: each maximum is its average
    assert data["users"]["alice"]["cpu"]["avg"].count(10.0) == 720
    assert data["others"]["cpu"].count(0.0) == 720 and data["others"]["cpu"][0] is None  # no sample in it


def test_down_sampling_keeps_the_peak_and_averages_the_rest():
    def users(i):
        return [("alice", 95.0 if i == 7 else 5.0, 1.0)]
    timeline = filled(60, NOW - 300, users=users)
    data = History(timeline, no_database, config).answer({"since": 300, "step": 60}, NOW)
    alice = data["users"]["alice"]["cpu"]
    assert max(p for p in alice["max"] if p is not None) == 95.0  # one sample in 12 survives
    assert 5.0 < max(a for a in alice["avg"] if a is not None) < 95.0
    assert data["system"]["cpu"]["max"][0] == 22.0


def test_the_step_is_raised_to_keep_at_most_2000_points():
    timeline = filled(100, NOW - 500)
    data = History(timeline, no_database, config).answer({"since": 500, "step": 0.01, "metrics": ["cpu"]}, NOW)
    assert len(data["timestamps"]) <= MAX_POINTS + 1 and data["step"] == 5.0  # raised: whole samples a bucket
    long = History(filled(100, NOW - 500), lambda *q: {"system": {}, "users": {}, "others": {}, "rank": {}},
                   config).answer({"since": 400 * 86400, "metrics": ["cpu"]}, NOW)
    assert len(long["timestamps"]) <= MAX_POINTS + 1 and long["step"] % 60 == 0


def test_many_users_by_name_get_a_coarser_step_to_keep_the_answer_bounded():
    names = ["u%d" % i for i in range(50)]
    timeline = filled(720, NOW - 3600 + 5, users=lambda i: [(n, 1.0, 1.0) for n in names])
    history = History(timeline, no_database, config)
    top = history.answer({"since": 3600}, NOW)
    assert top["step"] == 5.0 and len(top["users"]) == 10  # 26 series of 721 points: within bounds
    every = history.answer({"since": 3600, "users": names}, NOW)
    values = len(every["timestamps"]) * (4 + 2 * 50) * 2  # each series an avg and a max
    assert every["step"] % 5.0 == 0 and every["step"] > 5.0 and values <= MAX_VALUES * 1.01
    assert len(every["users"]) == 50 and "max" in every["users"]["u0"]["cpu"]


@pytest.mark.parametrize("request_, message", [
    ({"since": -5}, "since must be between"),
    ({"since": "yesterday"}, "ISO 8601"),
    ({"since": "2999-01-01T00:00:00Z"}, "in the past"),
    ({"since": True}, "since must be"),
    ({"step": 0}, "step must be"),
    ({"step": "5"}, "step must be"),
    ({"metrics": ["cpu", "disk"]}, "unknown metric disk"),
    ({"metrics": "cpu"}, "metrics must be a list"),
    ({"users": ["a"] * 51}, "at most 50"),
    ({"users": [3]}, "users must be a list"),
])
def test_bad_arguments_are_one_error(request_, message):
    with pytest.raises(BadArguments, match=message):
        History(filled(10, NOW - 50), no_database, config).answer(request_, NOW)


def test_bad_arguments_are_the_protocols_error_reply():
    timeline = filled(10, NOW - 50)
    history = History(timeline, no_database, config)
    from sysmedic.daemon.app import _answering  # how the daemon hands the history to the server
    state = types.SimpleNamespace(history=_answering(history), snapshot=types.SimpleNamespace(time=NOW))
    reply = protocol.respond('{"type": "get_history", "since": "soon", "request_id": "h"}', state, NOW)
    assert '"type":"error"' in reply and "since must be" in reply and '"request_id":"h"' in reply
    reply = protocol.respond('{"type": "get_history", "since": 40, "metrics": ["cpu"]}', state, NOW)
    assert '"type":"history_response"' in reply and '"users"' not in reply


def test_timeline_wraps_and_sums_users_past_its_limit():
    timeline = filled(10, NOW - 50, capacity=4, max_users=1,
                      users=lambda i: [("alice", 10.0, 1.0), ("bob", 3.0, 2.0), ("carol", 2.0, 1.0)])
    times, system, users, total = timeline.window(0, NOW)
    assert len(times) == 4 and times[0] == NOW - 50 + 6 * 5.0  # the oldest six are gone
    assert list(users) == ["alice"]  # bob and carol are only in the sum (tenths of a percent)
    assert list(total["cpu"]) == [150] * 4 and list(total["memory"]) == [40] * 4
    assert list(system["cpu"]) == [200, 210, 220, 200] and list(users["alice"][0]) == [100] * 4


def test_a_user_gone_for_the_whole_timeline_gives_up_their_series():
    def users(i):
        return [("alice", 10.0, 1.0)] if i < 3 else [("bob", 4.0, 1.0)]
    timeline = filled(8, NOW - 40, capacity=4, max_users=1, users=users)
    _, _, shown, total = timeline.window(0, NOW)
    # alice's last point left the ring after sample 6: bob took her arrays then, and was only
    # in the sum before
    assert list(shown) == ["bob"] and list(shown["bob"][0]) == [0, 0, 40, 40]
    assert list(total["cpu"]) == [40] * 4
    data = History(timeline, no_database, config).answer({"since": 20}, NOW)
    assert set(data["users"]) == {"bob"}
    assert [v for v in data["users"]["bob"]["cpu"]["avg"] if v is not None] == [0.0, 0.0, 4.0, 4.0]
    assert [v for v in data["others"]["cpu"] if v is not None] == [4.0, 4.0, 0.0, 0.0]


def write_rows(path, start, count, interval=60.0, users=("alice", "bob")):
    with Storage(path) as storage:
        for i in range(count):
            when = start + (i + 1) * interval
            storage.record_interval(
                SystemRow(when, 10.0 + i, 50.0 if i == 3 else 12.0 + i, 30.0, 31.0, 5.0, 1.0, 2.0, 100.0, 200.0,
                          "Light Usage", 12),
                [UserRow(when, name, 4.0 if name == "alice" else 1.0, 9.0, 2.0, 3.0, 1) for name in users])


def test_sqlite_folds_rows_into_buckets_weighted_by_samples(tmp_path):
    path = str(tmp_path / "sysmedic.db")
    write_rows(path, NOW - 7200, 10)
    found = history_buckets(path, NOW - 7200, NOW, 300.0)
    assert sorted(found["system"]) == [0, 1, 2]  # rows end their intervals: 4, 5 and 1 of them
    samples, cpu, cpu_max = found["system"][0][:3]
    assert samples == 48 and cpu == pytest.approx((10 + 11 + 12 + 13) / 4) and cpu_max == 50.0
    assert found["users"]["alice"][0][0] == pytest.approx(4.0) and found["rank"]["alice"] == 40.0
    only = history_buckets(path, NOW - 7200, NOW, 300.0, users=["bob"])
    assert list(only["users"]) == ["bob"] and only["others"] == {}


def test_a_range_older_than_memory_is_joined_from_both(tmp_path):
    path = str(tmp_path / "sysmedic.db")
    write_rows(path, NOW - 7200, 60)  # an hour of rows, 2 h ago to 1 h ago
    timeline = filled(720, NOW - 3600 + 5)  # the last hour in memory
    history = History(timeline, lambda *q: history_buckets(path, *q), config)
    data = history.answer({"since": 7200, "step": 600}, NOW)
    assert data["source"] == "memory+database" and len(data["timestamps"]) == 13
    cpu = data["system"]["cpu"]
    assert cpu["max"][0] == 50.0  # the database's peak, in the first 10 minutes
    assert all(a is not None for a in cpu["avg"][:6]) and all(a is not None for a in cpu["avg"][7:])
    assert 20.0 <= cpu["avg"][-2] <= 22.0  # memory: samples of 20, 21 and 22
    assert data["users"]["alice"]["cpu"]["avg"][0] == pytest.approx(4.0)
    assert data["others"]["cpu"][0] == 0.0  # both users have series of their own
    assert set(data["users"]) == {"alice", "bob"}


def test_an_unreadable_database_is_an_error_not_a_traceback(tmp_path):
    history = History(filled(10, NOW - 50), lambda *q: history_buckets(str(tmp_path / "absent.db"), *q), config)
    with pytest.raises(BadArguments, match="not readable"):
        history.answer({"since": 86400}, NOW)
    assert not os.path.exists(str(tmp_path / "absent.db"))


def test_nothing_known_yet_gives_empty_buckets():
    data = History(Timeline(10), lambda *q: {"system": {}, "users": {}, "others": {}, "rank": {}},
                   config).answer({"since": 60}, NOW)
    assert data["source"] == "database" and all(v is None for v in data["system"]["cpu"]["avg"])
    assert not any(math.isnan(v) for v in data["timestamps"])


def test_a_young_daemon_with_nothing_stored_serves_its_samples_at_their_own_step(tmp_path):
    path = str(tmp_path / "sysmedic.db")
    Storage(path).close()  # an empty database: the daemon's first run
    from sysmedic.storage import history_stored
    timeline = filled(12, NOW - 60)  # a minute of samples at 5 s
    history = History(timeline, no_database, config, stored=lambda since, until: history_stored(path, since, until))
    data = history.answer({"since": 3600}, NOW)
    assert data["source"] == "memory" and data["step"] == 5.0
    assert len([v for v in data["system"]["cpu"]["avg"] if v is not None]) == 12
    write_rows(path, NOW - 7200, 3)  # an earlier run's rows: they are read, at the rows' step
    history = History(timeline, lambda *q: history_buckets(path, *q), config,
                      stored=lambda since, until: history_stored(path, since, until))
    assert history.answer({"since": 7200}, NOW)["source"] == "memory+database"


def naive(samples, capacity, since, step, now, top=10, folded=False):
    """get_history's memory answer worked out the plain way, sample by sample: the oracle for
    the bucketing done in C (values in tenths of a percent as the timeline keeps them). With
    ``folded`` (the answer came from a fold kept as samples arrived) the bucket holding the
    oldest sample kept also holds the samples before it in that bucket."""
    kept = samples[-capacity:]
    if folded:
        edge = math.floor(kept[0][0] / step)
        kept = [s for s in samples[:-capacity] if math.floor(s[0] / step) == edge] + kept
    start = math.floor(since / step) * step
    count = int((now - start) // step) + 1
    scale = {"cpu": 10, "memory": 10, "load": 100, "network": 1}
    inside = [[s for s in kept if start + b * step <= s[0] < start + (b + 1) * step] for b in range(count)]

    def series(values_of, scale, with_max=True):
        avg, peak, merged = [], [], False
        for bucket in inside:
            values = [v for v in map(values_of, bucket) if v is not None]
            avg.append(round(sum(values) / len(values)) / scale if values else None)
            peak.append(max(values) / scale if values else None)
            merged = merged or len(values) > 1  # a max only where some bucket merged samples
        return {"avg": avg, "max": peak} if with_max and merged else {"avg": avg}

    system = {}
    for position, name in enumerate(("cpu", "memory", "load", "network")):
        system[name] = series(lambda s: None if s[1 + position] is None else round(s[1 + position] * scale[name]),
                              scale[name])
    rank = {}
    for s in kept:
        if start <= s[0]:
            for name, cpu, _ in s[5]:
                rank[name] = rank.get(name, 0) + round(cpu * 10)
    chosen = sorted(rank, key=lambda n: (-rank[n], n))[:top]
    users = {}
    for name in chosen:
        users[name] = {metric: series(lambda s: sum(round(u[1 + i] * 10) for u in s[5] if u[0] == name), 10)
                       for i, metric in enumerate(("cpu", "memory"))}
    others = {metric: series(lambda s: sum(round(u[1 + i] * 10) for u in s[5] if u[0] not in chosen), 10,
                             False)["avg"] for i, metric in enumerate(("cpu", "memory"))}
    return {"timestamps": [round(start + b * step, 3) for b in range(count)], "system": system, "users": users,
            "others": others}


@pytest.mark.parametrize("seed", range(60))
def test_buckets_match_the_plain_sum_sample_by_sample(seed):
    import random
    rng = random.Random(seed)
    capacity = rng.choice([7, 50, 200])
    names = ["u%d" % i for i in range(rng.randint(0, 14))]
    samples, when = [], NOW - 1200
    for i in range(rng.randint(1, 260)):
        when += rng.choice([5.0, 5.0, 5.0, 4.7, 5.3, 15.0]) if rng.random() > 0.01 else -7.0  # jitter, gaps, a step back
        users = [(n, rng.choice([0.0, rng.uniform(0, 100)]), rng.uniform(0, 5)) for n in names if rng.random() < 0.8]
        samples.append((when, None if rng.random() < 0.05 else rng.uniform(0, 100), rng.uniform(0, 100),
                        rng.uniform(0, 8), None if i == 0 else rng.uniform(0, 1e9), users))
    now = when + rng.uniform(0, 5)
    timeline = Timeline(capacity, max_users=50, interval=5.0)
    for sample in samples:
        timeline.add(*sample)
    oldest = samples[-capacity:][0][0]
    since = now - rng.uniform(max(1.0, now - oldest - 4.0), now - oldest + 4.0)
    step = rng.choice([None, 5, 10, 15, 20, 40, 60, 7.5])
    request = {"since": now - since} if step is None else {"since": now - since, "step": step}
    data = History(timeline, no_database, config).answer(request, now)
    start = data["since"]
    folded = timeline.folded(data["step"], start, len(data["timestamps"]), []) is not None
    expected = naive(samples, capacity, since, data["step"], now, folded=folded)
    assert data["timestamps"] == expected["timestamps"]
    assert data["system"] == expected["system"]
    assert data["users"] == expected["users"]  # every user with a process in the range, using nothing too
    assert data["others"] == expected["others"]


def test_a_crowded_bucket_is_folded_a_bucket_at_a_time_with_the_same_result():
    from sysmedic.history.recent import NO_PEAK, Buckets, Layout, fold
    times = [0.001 * i for i in range(1500)] + [10.0 * b + 1 for b in range(1, 1001)]  # 1500 in the first
    values = [(i * 7919) % 1000 for i in range(len(times))]
    layout = Layout(Buckets(0.0, 10.0, 1001), times)
    assert layout.ordered and layout.columns is None  # 1500 columns of 1001 would be 1.5 million reads
    totals, weights, peaks = fold(layout, values)
    assert weights == [1500] + [1] * 1000
    assert totals[0] == sum(values[:1500]) and peaks[0] == max(values[:1500]) and peaks[1:] == values[1500:]
    empty = Layout(Buckets(0.0, 10.0, 5), [1.0, 41.0])  # buckets 1 to 3 have no sample
    assert fold(empty, [3, 4]) == ([3, 0, 0, 0, 4], [1, 0, 0, 0, 1], [3, NO_PEAK, NO_PEAK, NO_PEAK, 4])


def test_a_user_with_a_process_that_uses_nothing_is_still_in_the_answer():
    timeline = filled(12, NOW - 60, users=lambda i: [("alice", 10.0, 1.0), ("idle", 0.0, 0.01)])
    data = History(timeline, no_database, config).answer({"since": 60, "users": ["idle", "gone"]}, NOW)
    assert list(data["users"]) == ["idle"]  # "gone" had no process in the range
    assert set(v for v in data["users"]["idle"]["cpu"]["avg"] if v is not None) == {0.0}


def test_the_gate_bounds_reads_over_every_client_and_refuses_beyond_its_queue():
    """Issue 21: 60 clients each with one get_history over 29 days ran 60 reads at once (89 s
    each, 435 MB). Now at most two run, four wait, the rest are refused at once."""
    import threading
    from sysmedic.history.query import Gate
    gate = Gate(running=2, waiting=2, wait=10.0)
    release, started, results = threading.Event(), [], []

    def read(cancelled):
        started.append(1)
        release.wait(10)
        return "rows"

    def ask():
        try:
            results.append(gate.run(read))
        except BadArguments as err:
            results.append(str(err))
    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while (len(started) < 2 or gate._waiting < 2) and time.monotonic() < deadline:
        time.sleep(0.01)  # polling with a deadline for two reads to run and two to wait
    assert len(started) == 2
    with pytest.raises(BadArguments, match="history is busy"):
        gate.run(read)
    release.set()
    for thread in threads:
        thread.join(10)
    assert results == ["rows"] * 4 and gate.refused == 1


def test_a_read_whose_client_went_away_stops_inside_sqlite(tmp_path):
    path = str(tmp_path / "sysmedic.db")
    write_rows(path, NOW - 30 * 86400, 500, interval=3600.0, users=["u%d" % i for i in range(40)])
    polls = []

    def gone():
        polls.append(1)
        return len(polls) > 3  # the client leaves while the read runs
    history = History(Timeline(10), lambda *q: history_buckets(path, *q), config)
    with pytest.raises(BadArguments, match="cancelled: the client went away"):
        history.answer({"since": 29 * 86400}, NOW, gone)
    assert history.gate.cancelled == 1
    assert history.answer({"since": 29 * 86400}, NOW)["source"] == "database"  # and the next read runs


def same(a, b):
    """Equal but for the last bits of float sums taken in another order."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def test_hourly_rollups_answer_exactly_what_the_minute_rows_would(tmp_path):
    """Issue 21: 29 days of 50 users took 2.6 s and 72% of a core from the minute rows."""
    import random
    import sqlite3
    rng = random.Random(21)
    path = str(tmp_path / "sysmedic.db")
    start = 1700000000.0 - 1700000000.0 % 3600 - 7200 + 60
    with Storage(path) as storage:
        for i in range(6 * 60 + 17):  # six hours and a bit, rolled up as the rows arrive
            when = start + i * 60 + rng.choice((0, 0, 0, 0.5))
            users = [UserRow(when, name, None if rng.random() < 0.05 else rng.uniform(0, 50), rng.uniform(0, 90),
                             rng.uniform(0, 20), rng.uniform(0, 30), rng.randint(1, 9))
                     for name in ("ann", "bob", "cy", "dee") if rng.random() < 0.8]
            storage.record_interval(SystemRow(when, None if rng.random() < 0.05 else rng.uniform(0, 80), 90.0,
                                              rng.uniform(0, 60), 70.0, 5.0, rng.uniform(0, 4), 5.0,
                                              rng.uniform(0, 1e6), 2e6, "Light Usage", rng.randint(1, 12)), users)
    hours = sqlite3.connect(path).execute("SELECT COUNT(*) FROM system_history_hourly").fetchone()[0]
    assert hours == 6  # every whole hour but the one still filling
    since, until = start - 60 - 3600, start + 6 * 3600 + 3000
    from sysmedic.storage.db import _hourly_range
    for step, users in ((3600.0, None), (7200.0, ["bob", "cy"]), (3600.0, ["ann"])):
        lo, hi = _hourly_range(sqlite3.connect(path), since, until, step)
        assert hi - lo == 7 * 3600  # the hour before the rows, and six of theirs, from the rollups
        rolled = history_buckets(path, since, until, step, users)
        db = sqlite3.connect(path)
        db.executescript("DELETE FROM system_history_hourly; DELETE FROM user_history_hourly;")
        db.commit()
        plain = history_buckets(path, since, until, step, users)
        assert same(rolled, plain), (step, users)
        with Storage(path) as storage:  # the next row rolls them up again
            storage.record_interval(SystemRow(start + 9 * 3600, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
                                              "Light Usage", 1), [])
