"""``get_history`` (issue 12, an extension: docs/protocol-decisions.md, protocol decision 17):
aligned, down-sampled series of the system and its users over a time range.

The last ``history_memory`` seconds come from the in-memory :class:`~sysmedic.analysis.timeline.Timeline`
(one point per sample); anything older from SQLite's interval rows (averages and maxima per
``monitoring_interval``), folded into buckets by SQLite itself. A range that starts before the
timeline's oldest point is served from both, the database up to that point. Every bucket holds
the average (weighted by samples) and the maximum of what fell in it: a peak survives any step.
At most :data:`MAX_POINTS` buckets: a smaller ``step`` is raised to fit, and the answer says the
step it used.
"""

import datetime
import math

from .analysis.timeline import PER_USER, SYSTEM, Buckets, bucket
from .errors import StorageError

MAX_POINTS = 2000
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


def parse_step(value, span, finest):
    """The bucket width: ``value`` (seconds) or the finest the source has, raised until the
    range fits in :data:`MAX_POINTS` buckets."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not 0 < value <= MAX_RANGE or value != value):
        raise BadArguments("step must be a number of seconds above 0")
    step = float(value) if value is not None else finest
    return max(step, span / MAX_POINTS)


class History:
    """Answers ``get_history`` from a timeline and the database.

    :param timeline: the in-memory :class:`~sysmedic.analysis.timeline.Timeline`.
    :param database: ``(since, until, step, users) -> dict`` of
        :func:`sysmedic.storage.db.history_buckets` for the daemon's database.
    :param config: a callable returning the current Config (for the resolutions).
    """

    def __init__(self, timeline, database, config):
        self._timeline = timeline
        self._database = database
        self._config = config

    def answer(self, request, now):
        metrics = parse_names(request.get("metrics"), "metrics", METRICS, limit=len(METRICS)) or list(METRICS)
        users = parse_names(request.get("users"), "users")
        since = parse_since(request.get("since"), now)
        monitoring = self._config().monitoring
        oldest = self._timeline.oldest()
        from_memory = oldest is not None and since >= oldest - monitoring.update_interval
        finest = monitoring.update_interval if from_memory else monitoring.monitoring_interval
        step = parse_step(request.get("step"), now - since, finest)
        start = math.floor(since / step) * step
        buckets = Buckets(start, step, int((now - start) // step) + 1)  # the last one holds now
        boundary = start if from_memory else (now if oldest is None else oldest)
        want_users = any(m.startswith("user_") for m in metrics)
        columns = _Columns(buckets)
        source = []
        if not from_memory:
            try:
                rows = self._database(start, boundary, step, users)
            except StorageError as err:
                raise BadArguments("history before %s is not readable: %s" % (_iso(boundary), err))
            columns.add_rows(rows, want_users)
            source.append("database")
        if oldest is not None and boundary < now + step:
            times, system, per_user, others = self._timeline.points(boundary, now + step)
            if times:
                columns.add_points(times, system, per_user, others, want_users, users)
                source.insert(0, "memory")
        data = {"since": round(start, 3), "until": round(now, 3), "step": round(step, 3),
                "source": "+".join(source) or "none", "timestamps": buckets.times()}
        data["system"] = {name: columns.series(("system", name)) for name in SYSTEM if name in metrics}
        if want_users:
            chosen = users if users is not None else columns.top(TOP_USERS)
            per_user_metrics = [name for name in PER_USER if "user_" + name in metrics]
            data["users"] = {user: {name: columns.series((user, name)) for name in per_user_metrics}
                             for user in chosen if columns.has(user)}
            if users is None:
                for user in columns.users():
                    if user not in chosen:
                        columns.fold_into_others(user, per_user_metrics)
                data["others"] = {name: columns.series(("others", name), with_max=False)
                                  for name in per_user_metrics}
        return data


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Columns:
    """Values gathered per series before bucketing: (bucket indices, averages, weights, maxima)."""

    def __init__(self, buckets):
        self._buckets = buckets
        self._series = {}
        self._rank = {}

    def _column(self, key):
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = ([], [], [], [])
        return found

    def _extend(self, key, indices, values, weights, maxima):
        column = self._column(key)
        column[0].extend(indices)
        column[1].extend(values)
        column[2].extend(weights)
        column[3].extend(maxima)

    def add_points(self, times, system, per_user, others, want_users, users):
        indices = [self._buckets.index(t) for t in times]
        ones = [1] * len(times)
        for name, values in system.items():
            self._extend(("system", name), indices, values, ones, values)
        if not want_users:
            return
        for user, (cpu, memory) in per_user.items():
            if users is not None and user not in users:
                continue
            self._rank[user] = self._rank.get(user, 0.0) + sum(v for v in cpu if v == v)
            self._extend((user, "cpu"), indices, cpu, ones, cpu)
            self._extend((user, "memory"), indices, memory, ones, memory)
        if users is None:
            for name, values in others.items():
                self._extend(("others", name), indices, values, ones, values)

    def add_rows(self, rows, want_users):
        system = sorted(rows["system"].items())
        indices = [b for b, _ in system]
        weights = [row[0] for _, row in system]
        for position, name in enumerate(SYSTEM):
            averages = [_nan(row[1 + 2 * position]) for _, row in system]
            maxima = [_nan(row[2 + 2 * position]) for _, row in system]
            self._extend(("system", name), indices, averages, weights, maxima)
        if not want_users:
            return
        samples = dict(zip(indices, weights))
        for user, found in rows["users"].items():
            self._rank[user] = self._rank.get(user, 0.0) + (rows["rank"].get(user) or 0.0)
            ordered = sorted(found.items())
            keys = [b for b, _ in ordered]
            weight = [samples.get(b, 1) for b in keys]
            for position, name in enumerate(PER_USER):
                self._extend((user, name), keys, [_nan(v[2 * position]) for _, v in ordered], weight,
                             [_nan(v[2 * position + 1]) for _, v in ordered])
        ordered = sorted(rows["others"].items())
        keys = [b for b, _ in ordered]
        for position, name in enumerate(PER_USER):
            values = [v[position] for _, v in ordered]
            self._extend(("others", name), keys, values, [samples.get(b, 1) for b in keys], values)

    def has(self, user):
        return (user, "cpu") in self._series

    def users(self):
        return [key[0] for key in self._series if key[1] == "cpu" and key[0] not in ("system", "others")]

    def top(self, count):
        return sorted(self._rank, key=lambda user: -self._rank[user])[:count]

    def fold_into_others(self, user, names):
        for name in names:
            indices, values, weights, _ = self._series.pop((user, name), ([], [], [], []))
            # A user's absence is 0 in the sum: only its known values are added to the others.
            known = [(i, v, w) for i, v, w in zip(indices, values, weights) if v == v]
            self._extend(("others", name), [k[0] for k in known], [k[1] for k in known], [k[2] for k in known],
                         [k[1] for k in known])

    def series(self, key, with_max=True):
        indices, values, weights, maxima = self._series.get(key, ([], [], [], []))
        if key[0] == "others":
            return self._summed(indices, values, weights)
        averages, peaks = bucket(self._buckets, indices, values, weights, maxima)
        return {"avg": averages, "max": peaks} if with_max else averages

    def _summed(self, indices, values, weights):
        """The others: a sum of users, so per bucket the sum of values over the samples in it
        divided by those samples (users absent from a sample add nothing)."""
        buckets = self._buckets
        total = [0.0] * buckets.count
        samples = {}
        for index, value, weight in zip(indices, values, weights):
            if index is None or value != value:
                continue
            total[index] += value * weight
        seen = self._samples_per_bucket()
        for index in range(buckets.count):
            samples[index] = seen.get(index, 0)
        return [round(total[i] / samples[i], 2) if samples[i] else None for i in range(buckets.count)]

    def _samples_per_bucket(self):
        indices, _, weights, _ = self._series.get(("system", "memory"), ([], [], [], []))
        seen = {}
        for index, weight in zip(indices, weights):
            if index is not None:
                seen[index] = seen.get(index, 0) + weight
        return seen


def _nan(value):
    return float("nan") if value is None else value
