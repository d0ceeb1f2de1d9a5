"""``get_history`` (issue 12, an extension: docs/protocol-decisions.md, protocol decision 17):
aligned, down-sampled series of the system and its users over a time range.

The last ``history_memory`` seconds come from the in-memory :class:`~sysmedic.analysis.timeline.Timeline`
(one point per sample); anything older from SQLite's interval rows (averages and maxima per
``monitoring_interval``), folded into buckets by SQLite itself. A range that starts before the
timeline's oldest point is served from both, the database up to that point. Every bucket holds
the average (weighted by samples) and the maximum of what fell in it: a peak survives any step.
At most :data:`MAX_POINTS` buckets, and :data:`MAX_VALUES` values in one answer (50 users by
name get a coarser step than the top 10): a smaller ``step`` is raised to fit, and the answer
says the step it used.
"""

import datetime
import math

from .analysis.timeline import PER_USER, SYSTEM, Buckets, bucket
from .errors import StorageError

MAX_POINTS = 2000
MAX_VALUES = 40000  # values in one answer at most (~150 KB): many users get a coarser step
MAX_USERS = 50
TOP_USERS = 10
METRICS = SYSTEM + tuple("user_" + name for name in PER_USER)
MAX_RANGE = 400 * 86400  # seconds: beyond any retain_days


class BadArguments(ValueError):
    """The text is the protocol's ``error`` reply."""


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
    # Raised: to whole multiples of the finest step (each bucket holds as many samples), and
    # merged buckets carry a max beside each average, so twice the values.
    needed = max(span / MAX_POINTS, 2 * span * series / MAX_VALUES)
    return math.ceil(needed / finest) * finest


class History:
    """Answers ``get_history`` from a timeline and the database.

    :param timeline: the in-memory :class:`~sysmedic.analysis.timeline.Timeline`.
    :param database: ``(since, until, step, users) -> dict`` of
        :func:`sysmedic.storage.db.history_buckets` for the daemon's database.
    :param config: a callable returning the current Config (for the resolutions).
    """

    def __init__(self, timeline, database, config, stored=lambda since, until: True):
        self._timeline = timeline
        self._database = database
        self._config = config
        self._stored = stored

    def answer(self, request, now):
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
        start = math.floor(since / step) * step
        buckets = Buckets(start, step, int((now - start) // step) + 1)  # the last one holds now
        boundary = start if from_memory else (now if oldest is None else oldest)
        want_users = each_user > 0
        rows, points, source = None, None, []
        if not from_memory:
            try:
                rows = self._database(start, boundary, step, users)
            except StorageError as err:
                raise BadArguments("history before %s is not readable: %s" % (_iso(boundary), err))
            source.append("database")
        if oldest is not None:
            points = self._timeline.points(boundary, now + step)
            if points[0]:
                source.insert(0, "memory")
        chosen = users if users is not None else _top(rows, points, TOP_USERS)
        columns = _Columns(buckets)
        if rows is not None:
            columns.add_rows(rows, chosen if want_users else ())
        if points is not None and points[0]:
            columns.add_points(points, chosen if want_users else (), users is None)
        data = {"since": round(start, 3), "until": round(now, 3), "step": round(step, 3),
                "source": "+".join(source) or "none", "timestamps": buckets.times()}
        data["system"] = {name: columns.series(("system", name), DIGITS[name]) for name in SYSTEM if name in metrics}
        if want_users:
            per_user = [name for name in PER_USER if "user_" + name in metrics]
            data["users"] = {user: {name: columns.series((user, name), 1) for name in per_user}
                             for user in chosen if columns.has(user)}
            if users is None:
                data["others"] = {name: columns.summed(name) for name in per_user}
        return data


DIGITS = {"cpu": 1, "memory": 1, "load": 2, "network": 0}


def _top(rows, points, count):
    """The ``count`` users with the most CPU over the range (database rows and points)."""
    rank = dict(rows["rank"]) if rows is not None else {}
    if points is not None:
        for user, (cpu, _) in points[2].items():
            rank[user] = (rank.get(user) or 0.0) + sum(v for v in cpu if v == v)
    return sorted(rank, key=lambda user: -(rank[user] or 0.0))[:count]


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Columns:
    """What falls in each bucket, per series: (bucket indices, averages, weights, maxima) from
    both sources, bucketed at the end; the others are summed per point or row as they come."""

    def __init__(self, buckets):
        self._buckets = buckets
        self._series = {}
        self._others = {name: [0.0] * buckets.count for name in PER_USER}
        self._samples = [0] * buckets.count  # samples per bucket (the others' divisor)

    def _extend(self, key, indices, values, weights, maxima):
        column = self._series.get(key)
        if column is None:
            column = self._series[key] = ([], [], [], [])
        column[0].extend(indices)
        column[1].extend(values)
        column[2].extend(weights)
        column[3].extend(maxima)

    def _add_others(self, name, indices, values, weights):
        total = self._others[name]
        for index, value, weight in zip(indices, values, weights):
            if index is not None and value == value:
                total[index] += value * weight

    def add_points(self, points, chosen, others_too):
        times, system, per_user, others = points
        indices = [self._buckets.index(t) for t in times]
        ones = [1] * len(times)
        for index in indices:
            if index is not None:
                self._samples[index] += 1
        for name, values in system.items():
            self._extend(("system", name), indices, values, ones, values)
        for user, series in per_user.items():
            if user in chosen:
                for name, values in zip(PER_USER, series):
                    self._extend((user, name), indices, values, ones, values)
            elif others_too and chosen:
                for name, values in zip(PER_USER, series):
                    self._add_others(name, indices, values, ones)
        if others_too and chosen:
            for name, values in others.items():
                self._add_others(name, indices, values, ones)

    def add_rows(self, rows, chosen):
        system = sorted(rows["system"].items())
        indices = [b for b, _ in system]
        weights = [row[0] for _, row in system]
        for index, weight in zip(indices, weights):
            self._samples[index] += weight
        for position, name in enumerate(SYSTEM):
            self._extend(("system", name), indices, [_nan(row[1 + 2 * position]) for _, row in system], weights,
                         [_nan(row[2 + 2 * position]) for _, row in system])
        if not chosen:
            return
        samples = dict(zip(indices, weights))
        for user, found in rows["users"].items():
            ordered = sorted(found.items())
            keys = [b for b, _ in ordered]
            weight = [samples.get(b, 1) for b in keys]
            for position, name in enumerate(PER_USER):
                values = [_nan(v[2 * position]) for _, v in ordered]
                if user in chosen:
                    self._extend((user, name), keys, values, weight, [_nan(v[2 * position + 1]) for _, v in ordered])
                else:
                    self._add_others(name, keys, values, weight)
        ordered = sorted(rows["others"].items())
        keys = [b for b, _ in ordered]
        for position, name in enumerate(PER_USER):
            self._add_others(name, keys, [v[position] for _, v in ordered], [samples.get(b, 1) for b in keys])

    def has(self, user):
        return (user, "cpu") in self._series

    def series(self, key, digits):
        """``{"avg": [...], "max": [...]}``; without ``max`` when no bucket holds more than one
        sample (then each maximum is its average)."""
        indices, values, weights, maxima = self._series.get(key, ([], [], [], []))
        placed = [i for i in indices if i is not None]
        if len(set(placed)) == len(placed) and all(w == 1 for w in weights):  # a sample a bucket at most
            averages = [None] * self._buckets.count
            for index, value in zip(indices, values):
                if index is not None and value == value:
                    averages[index] = round(value, digits)
            return {"avg": averages}
        averages, peaks = bucket(self._buckets, indices, values, weights, maxima, digits)
        return {"avg": averages, "max": peaks}

    def summed(self, name):
        """The others: per bucket, their sum over the samples in it, divided by those samples."""
        return [round(total / count, 1) if count else None for total, count in zip(self._others[name], self._samples)]


def _nan(value):
    return float("nan") if value is None else value
