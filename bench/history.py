"""get_history's server side (issue 12): the time to build and encode a ``history_response``
and its size, for an hour in memory and for a day from SQLite, with 50 users.

The daemon's own code path (History.answer, then the protocol's JSON encoding) on a timeline
filled as an hour of samples at the default 5 s would fill it (720 points, 50 users with CPU
and memory), and on a database holding a day of rows at the default 60 s for the same 50
users. RUNS repetitions, median and worst. Also the memory the full timeline holds
(tracemalloc), against the issue's 5 MB budget for the daemon's RSS.
"""

import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sysmedic.history.rollup import SystemRow, UserRow  # noqa: E402
from sysmedic.history.recent import Timeline  # noqa: E402
from sysmedic.history.query import History  # noqa: E402
from sysmedic.server import protocol  # noqa: E402
from sysmedic.storage import Storage, history_buckets  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "30"))
USERS = ["user%02d" % i for i in range(50)]
NOW = time.time()


def config():
    return types.SimpleNamespace(monitoring=types.SimpleNamespace(update_interval=5.0, monitoring_interval=60.0))


def full_timeline(rng):
    timeline = Timeline(720, max_users=50, interval=5.0)
    for i in range(720):
        users = sorted(((name, rng.uniform(0, 10), rng.uniform(0, 2)) for name in USERS), key=lambda u: -u[1])
        timeline.add(NOW - 3600 + 5 * (i + 1), rng.uniform(0, 100), rng.uniform(20, 80), rng.uniform(0, 4),
                     rng.uniform(0, 1e6), users)
    return timeline


def day_of_rows(path, rng):
    with Storage(path) as storage:
        for i in range(1440):
            when = NOW - 86400 + 60 * (i + 1)
            storage.record_interval(
                SystemRow(when, rng.uniform(0, 100), 100.0, 50.0, 60.0, 40.0, 1.0, 2.0, 1e5, 2e5, "Light Usage", 12),
                [UserRow(when, name, rng.uniform(0, 10), 12.0, 1.0, 2.0, 3) for name in USERS])


def timed(history, request):
    times, size = [], 0
    for _ in range(RUNS):
        started = time.perf_counter()
        text = protocol.encode("history_response", history.answer(request, NOW), NOW, "r")
        times.append(time.perf_counter() - started)
        size = len(text.encode("utf-8"))
    return statistics.median(times) * 1000, max(times) * 1000, size / 1024


def main():
    rng = random.Random(12)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    timeline = full_timeline(rng)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "sysmedic.db")
        day_of_rows(path, rng)
        history = History(timeline, lambda *q: history_buckets(path, *q), config)
        rows = [
            ("1 h, all series, top 10 + others (memory)", {"since": 3600}),
            ("1 h, all series, all 50 users (memory)", {"since": 3600, "users": USERS}),
            ("24 h, all series, top 10 + others (memory + SQLite)", {"since": 86400}),
            ("24 h, all series, all 50 users (memory + SQLite)", {"since": 86400, "users": USERS}),
        ]
        print("# get_history server side, 50 users, %d runs each (median and worst)" % RUNS)
        print()
        print("| request | points | ms, median | ms, worst | KB |")
        print("|---|---:|---:|---:|---:|")
        for label, request in rows:
            points = len(history.answer(request, NOW)["timestamps"])
            median, worst, size = timed(history, request)
            print("| %s | %d | %.1f | %.1f | %.0f |" % (label, points, median, worst, size))
    print()
    print("Timeline of an hour at 5 s with 50 users: %.2f MB held (tracemalloc)" % (held / 1e6))


if __name__ == "__main__":
    main()
