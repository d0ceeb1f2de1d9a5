"""``get_history`` (issue 12, an extension: docs/protocol-decisions.md, protocol decision 17):
aligned, down-sampled series of the system and its users over a time range.

The last ``history_memory`` seconds come from the in-memory :class:`~sysmedic.history.recent.Timeline`
(one point per sample); anything older from SQLite's interval rows (averages and maxima per
``monitoring_interval``), folded into buckets by SQLite itself. A range that starts before the
timeline's oldest point is served from both, the database up to that point. Every bucket holds
the average (weighted by samples) and the maximum of what fell in it: a peak survives any step.
At most :data:`MAX_POINTS` buckets, and :data:`MAX_VALUES` values in one answer (50 users by
name get a coarser step than the top 10): a smaller ``step`` is raised to fit, and the answer
says the step it used. A range from the database longer than :data:`LONG_RANGE`, or a step
over half an hour, comes in buckets of whole hours, read from the hourly rollups (one row an
hour instead of sixty: 29 days of 50 users is 35,000 rows, not 2.1 million). Every database
read passes the daemon-wide :class:`Gate`.
"""

import datetime
import math
import threading
import time
from itertools import repeat
from operator import add, sub, truediv

from .recent import LEVELS, NO_PEAK, PER_USER, SCALE, SYSTEM, Buckets, Layout, fold
from ..errors import StorageError

MAX_POINTS = 2000
MAX_VALUES = 40000  # values in one answer at most (~150 KB): many users get a coarser step
MAX_USERS = 50
TOP_USERS = 10
METRICS = SYSTEM + tuple("user_" + name for name in PER_USER)
RANKED = PER_USER.index("cpu")  # users are ranked by CPU
MAX_RANGE = 400 * 86400  # seconds: beyond any retain_days
MAX_QUERY_SECONDS = 15.0  # a database read running longer is cancelled
HOUR = 3600.0
LONG_RANGE = 2 * 86400.0  # a range from the database longer than this comes in whole hours


class BadArguments(ValueError):
    """The text is the protocol's ``error`` reply."""


class Gate:
    """The daemon's bound on history reads from SQLite, over every client at once (issue 21):
    a day of rows costs ~150 ms of CPU and 29 days seconds, so at most ``running`` reads go at
    once, ``waiting`` more wait at most ``wait`` seconds for a turn (a waiting client holds a
    thread, not a query's memory), and any request beyond that is refused at once (``history
    is busy``). A read whose client went away, or that runs past
    ``limit`` seconds, is cancelled inside SQLite.

    :param clock: monotonic seconds.
    """

    def __init__(self, running=2, waiting=32, wait=10.0, limit=MAX_QUERY_SECONDS, clock=time.monotonic):
        self._running, self._waiting = 0, 0
        self._max_running, self._max_waiting = running, waiting
        self._wait, self._limit, self._clock = wait, limit, clock
        self._changed = threading.Condition()
        self.refused = 0
        self.cancelled = 0

    def run(self, read, gone=lambda: False):
        """``read(cancelled)`` in a turn; :raises BadArguments: when none comes (busy, gone)."""
        with self._changed:
            if self._running >= self._max_running:
                if self._waiting >= self._max_waiting:
                    self.refused += 1
                    raise BadArguments("history is busy (%d reads running, %d waiting): try again"
                                       % (self._running, self._waiting))
                self._waiting += 1
                try:
                    end = self._clock() + self._wait
                    while self._running >= self._max_running:
                        if gone() or self._clock() >= end:
                            self.refused += 1
                            raise BadArguments("history is busy: try again")
                        self._changed.wait(min(0.1, max(0.0, end - self._clock())))
                finally:
                    self._waiting -= 1
            self._running += 1
        deadline = self._clock() + self._limit
        try:
            return read(lambda: gone() or self._clock() > deadline)
        except StorageError:
            if gone() or self._clock() > deadline:
                self.cancelled += 1
                raise BadArguments("history read cancelled after %gs (ask for a shorter range or a larger step)"
                                   % self._limit if not gone() else "history read cancelled: the client went away")
            raise
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify()


def parse_since(value, now):
    """Epoch seconds for ``since``: seconds before ``now`` (a number), or an ISO 8601 time."""
    if value is None:
        return now - 3600
    if isinstance(value, bool):
        raise BadArguments("since must be seconds (a number) or an ISO 8601 time")
    if isinstance(value, (int, float)):
        if not (0 < value <= MAX_RANGE) or value != value:
            raise BadArguments("since must be between 1 second and %d days" % (MAX_RANGE // 86400))
        return now - value
    if isinstance(value, str) and len(value) <= 40:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.timezone.utc)
            when = moment.timestamp()
            if not now - MAX_RANGE <= when < now:
                raise BadArguments("since must be in the past (at most %d days ago)" % (MAX_RANGE // 86400))
            return when
    raise BadArguments("since must be seconds (a number) or an ISO 8601 time such as 2026-11-29T10:00:00Z")


def parse_names(value, name, allowed=None, limit=MAX_USERS):
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > limit or not all(isinstance(v, str) and v for v in value):
        raise BadArguments("%s must be a list of at most %d names" % (name, limit))
    if allowed is not None:
        unknown = [v for v in value if v not in allowed]
        if unknown:
            shown = unknown[0][:64].encode("utf-8", "backslashreplace").decode("utf-8")
            raise BadArguments("%s: unknown metric %s (known: %s)" % (name, shown, ", ".join(allowed)))
    return list(dict.fromkeys(value))


def parse_step(value, span, finest, series=1):
    """The bucket width: ``value`` (seconds) or the finest the source has, raised until the
    range fits in :data:`MAX_POINTS` buckets and the answer's ``series`` hold at most
    :data:`MAX_VALUES` values in all."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not 0 < value <= MAX_RANGE or value != value):
        raise BadArguments("step must be a number of seconds above 0")
    step = float(value) if value is not None else finest
    if step >= span / MAX_POINTS and step * MAX_VALUES >= span * series:
        return step
    # Raised: to whole multiples of the finest step (each bucket holds as many samples; up to
    # 8, one of the timeline's folds), and merged buckets carry a max beside each average, so
    # twice the values.
    needed = max(span / MAX_POINTS, 2 * span * series / MAX_VALUES)
    k = math.ceil(needed / finest)
    return (next((level for level in LEVELS if level >= k), k) if k > 1 else k) * finest


class History:
    """Answers ``get_history`` from a timeline and the database.

    :param timeline: the in-memory :class:`~sysmedic.history.recent.Timeline`.
    :param database: ``(since, until, step, users, cancelled) -> dict`` of
        :func:`sysmedic.storage.db.history_buckets` for the daemon's database.
    :param config: a callable returning the current Config (for the resolutions).
    :param gate: the :class:`Gate` every database read passes.
    """

    def __init__(self, timeline, database, config, stored=lambda since, until: True, gate=None):
        self._timeline = timeline
        self._database = database
        self._config = config
        self._stored = stored
        self.gate = gate or Gate()

    def answer(self, request, now, gone=lambda: False):
        """The ``get_history`` data for ``request`` at ``now``; ``gone()`` says whether the asking
        client has gone away (then a database read is cancelled)."""
        metrics = parse_names(request.get("metrics"), "metrics", METRICS, limit=len(METRICS)) or list(METRICS)
        users = parse_names(request.get("users"), "users")
        since = parse_since(request.get("since"), now)
        monitoring = self._config().monitoring
        oldest = self._timeline.oldest()
        from_memory = oldest is not None and (since >= oldest - monitoring.update_interval
                                              or not self._stored(since, oldest))  # a young daemon's first run
        finest = monitoring.update_interval if from_memory else monitoring.monitoring_interval
        each_user = sum(1 for name in metrics if name.startswith("user_"))
        series = sum(1 for name in metrics if name in SYSTEM) + each_user * (
            (len(users) if users is not None else TOP_USERS + 1))
        step = parse_step(request.get("step"), now - since, finest, series)
        if not from_memory and (now - since > LONG_RANGE or step > HOUR / 2):
            step = math.ceil(step / HOUR) * HOUR  # whole hours: read from the hourly rollups
        start = math.floor(since / step) * step
        buckets = Buckets(start, step, int((now - start) // step) + 1)  # the last one holds now
        boundary = start if from_memory else (now if oldest is None else oldest)
        want_users = each_user > 0
        rows, points, source = None, None, []
        if not from_memory:
            try:
                rows = self.gate.run(lambda cancelled: self._database(start, boundary, step, users, cancelled), gone)
            except StorageError as err:
                raise BadArguments("history before %s is not readable: %s" % (_iso(boundary), err))
            source.append("database")
        if oldest is not None:
            points = self._timeline.window(boundary, buckets.end)
            if points[0]:
                source.insert(0, "memory")
        chosen = users if users is not None else _top(rows, points, TOP_USERS)
        columns = _Columns(buckets)
        if rows is not None:
            columns.add_rows(rows, chosen if want_users else ())
        if points is not None and points[0]:
            shown = chosen if want_users else ()
            if not (from_memory and columns.add_folded(self._timeline, points, shown, users is None)):
                columns.add_points(points, shown, users is None)
        data = {"since": round(start, 3), "until": round(now, 3), "step": round(step, 3),
                "source": "+".join(source) or "none", "timestamps": buckets.times()}
        data["system"] = {name: columns.series(("system", name), SCALE[name]) for name in SYSTEM if name in metrics}
        if want_users:
            per_user = [name for name in PER_USER if "user_" + name in metrics]
            data["users"] = {user: {name: columns.series((user, name), SCALE[name]) for name in per_user}
                             for user in chosen if columns.has(user)}
            if users is None:
                data["others"] = {name: columns.summed(name) for name in per_user}
        return data


def _top(rows, points, count):
    """The ``count`` users with the most CPU over the range (database rows and points)."""
    rank = dict(rows["rank"]) if rows is not None else {}
    if points is not None:
        for user, series in points[2].items():
            rank[user] = (rank.get(user) or 0.0) + sum(series[RANKED]) / SCALE["cpu"]
    return sorted(rank, key=lambda user: (-(rank[user] or 0.0), user))[:count]  # ties: by name


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Columns:
    """Per series and bucket, from both sources: the total of what fell in it, its weight
    (samples) and its maximum (:data:`NO_PEAK` for none). Lists as long as the buckets, merged
    a source at a time with the loops in C; the others (everyone not shown) are one more series
    divided by every sample in the bucket."""

    def __init__(self, buckets):
        self._buckets = buckets
        self._count = buckets.count
        self._series = {}
        self._samples = [0] * buckets.count  # samples per bucket (the others' divisor)
        self._placed = {}  # id(source weights) -> (them, them placed among all the buckets)
        self._divisors = {}  # id(weights) -> (them, each at least 1)

    def _column(self, key):
        column = self._series.get(key)
        if column is None:
            column = self._series[key] = ([0] * self._count, [0] * self._count, [NO_PEAK] * self._count)
        return column

    def _merge(self, key, first, totals, weights, peaks):
        """Add a source's buckets ``first, first + 1, ...`` to a series."""
        end = first + len(totals)
        column = self._series.get(key)
        if column is None:  # the usual: one source, placed whole
            before, after = [0] * first, [0] * (self._count - end)
            placed = self._placed.get(id(weights))
            if placed is None:  # the same for every series where each sample counted: made once
                placed = self._placed[id(weights)] = (weights, before + list(weights) + after)
            self._series[key] = (before + totals + after, placed[1],
                                 [NO_PEAK] * first + peaks + [NO_PEAK] * (self._count - end))
            return
        if column[1] is self._placed.get(id(weights), (None, None))[1]:
            column = self._series[key] = (column[0], list(column[1]), column[2])  # its own from here on
        column[0][first:end] = map(add, column[0][first:end], totals)
        column[1][first:end] = map(add, column[1][first:end], weights)
        column[2][first:end] = map(max, column[2][first:end], peaks)

    def add_points(self, points, chosen, others_too):
        times, system, per_user, total = points
        layout = Layout(self._buckets, times)
        first = layout.first
        self._samples[first:first + len(layout.counts)] = map(add, self._samples[first:first + len(layout.counts)],
                                                              layout.counts)
        for name, values in system.items():
            self._merge(("system", name), first, *fold(layout, values))
        for user in chosen:
            for name, values in zip(PER_USER, per_user.get(user, ())):
                self._merge((user, name), first, *fold(layout, values))
        if others_too and chosen:
            for position, name in enumerate(PER_USER):
                others = total[name].tolist()
                for user in chosen:
                    if user in per_user:
                        others = map(sub, others, per_user[user][position])
                others = list(others)
                self._merge(("others", name), first, *fold(layout, others))

    def add_folded(self, timeline, points, chosen, others_too):
        """The buckets from the timeline's fold of this step (kept as samples arrived), when it
        has one: what :meth:`add_points` would add, without reading every sample. False if not."""
        present = [user for user in chosen if user in points[2]]
        keys = [("system", name) for name in SYSTEM] + [(user, name) for user in present for name in PER_USER]
        if others_too and chosen:
            keys += [("total", name) for name in PER_USER]
        found = timeline.folded(self._buckets.step, self._buckets.since, self._count, keys)
        if found is None:
            return False
        samples, series = found
        self._samples = list(map(add, self._samples, samples))
        for key in keys[:len(SYSTEM) + len(PER_USER) * len(present)]:
            self._merge(key, 0, *series[key])
        if others_too and chosen:
            for name in PER_USER:
                others = series[("total", name)][0]
                for user in present:
                    others = map(sub, others, series[(user, name)][0])
                self._merge(("others", name), 0, list(others), samples, [NO_PEAK] * self._count)
        return True

    def add_rows(self, rows, chosen):
        """SQLite's buckets (averages in the units shown) in :data:`SCALE` units: a bucket's total
        is its average times its samples."""
        system = rows["system"]
        for b, row in system.items():
            self._samples[b] += row[0]
        for position, name in enumerate(SYSTEM):
            scale = SCALE[name]
            column = self._column(("system", name))
            for b, row in system.items():
                average, peak = row[1 + 2 * position], row[2 + 2 * position]
                if average is not None:
                    column[0][b] += round(average * row[0] * scale)
                    column[1][b] += row[0]
                if peak is not None:
                    column[2][b] = max(column[2][b], round(peak * scale))
        if not chosen:
            return
        for user, found in rows["users"].items():
            for position, name in enumerate(PER_USER):
                scale = SCALE[name]
                column = self._column((user if user in chosen else "others", name))
                for b, values in found.items():
                    average, peak = values[2 * position], values[2 * position + 1]
                    samples = system[b][0] if b in system else 1
                    if average is not None:
                        column[0][b] += round(average * samples * scale)
                        column[1][b] += samples
                    if user in chosen and peak is not None:
                        column[2][b] = max(column[2][b], round(peak * scale))
        for position, name in enumerate(PER_USER):
            column = self._column(("others", name))
            for b, values in rows["others"].items():
                column[0][b] += round(values[position] * (system[b][0] if b in system else 1) * SCALE[name])

    def has(self, user):
        return (user, "cpu") in self._series

    def series(self, key, scale):
        """``{"avg": [...], "max": [...]}`` in the units shown (``scale`` stored units each), null
        where a bucket holds nothing; without ``max`` when no bucket holds more than one sample
        (then each maximum is its average)."""
        totals, weights, peaks = self._series.get(key) or self._column(key)
        if max(weights, default=0) <= 1:
            averages = list(map(truediv, totals, repeat(scale)))  # whole numbers: nothing to round
            _blank(averages, weights, 0)
            return {"avg": averages}
        averages = self._averaged(totals, weights, scale)
        highest = list(map(truediv, map(max, peaks, repeat(0)), repeat(scale)))
        _blank(highest, peaks, NO_PEAK)
        return {"avg": averages, "max": highest}

    def summed(self, name):
        """The others: per bucket, their total over the samples in it, divided by those samples."""
        totals = self._series.get(("others", name), ([0] * self._count,))[0]
        return self._averaged(totals, self._samples, SCALE[name])

    def _averaged(self, totals, weights, scale):
        """``round(total / weight) / scale`` per bucket (None where the weight is 0), in C; a
        whole number divided by the scale is the shortest decimal there is (123 / 10 is 12.3)."""
        divisors = self._divisors.get(id(weights))
        if divisors is None:
            divisors = self._divisors[id(weights)] = (weights, list(map(max, weights, repeat(1))))
        averages = list(map(truediv, map(round, map(truediv, totals, divisors[1])), repeat(scale)))
        _blank(averages, weights, 0)
        return averages


def _blank(values, where, empty):
    """None in ``values`` wherever ``where`` holds ``empty`` (found in C, a few places usually)."""
    position = -1
    try:
        while True:
            position = where.index(empty, position + 1)
            values[position] = None
    except ValueError:
        pass
