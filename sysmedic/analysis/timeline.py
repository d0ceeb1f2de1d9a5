"""Recent history in memory, and history answers down-sampled without losing peaks (issue 12).

:class:`Timeline` keeps the last ``seconds`` of samples as they were taken (one point per
``update_interval``) in fixed-size arrays: system CPU, memory, load and network, and per user
CPU and memory for at most ``max_users`` users (the rest summed as "others" in each point).
An hour at the default 5 s is 720 points; at 0.2 s it is 18,000, and the arrays cost 4 bytes
a value (single precision: a tenth of a percent is kept exactly enough).

:func:`bucket` turns points (from the timeline) and interval rows (from SQLite, each an
average and a maximum over ``samples`` samples) into aligned buckets of ``step`` seconds: the
average weighted by samples, and the maximum of maxima, so a one-sample peak survives any step.

Stdlib only, no I/O; the timeline's lock guards its arrays (the sampler adds, sessions read).
"""

import math
import threading
from array import array

SYSTEM = ("cpu", "memory", "load", "network")
PER_USER = ("cpu", "memory")
NAN = float("nan")


def _value(value):
    return NAN if value is None else value


class Timeline:
    """The last ``capacity`` samples.

    :param capacity: points kept (``seconds / update_interval``).
    :param max_users: users with series of their own; others are summed per point.
    """

    def __init__(self, capacity, max_users=50):
        self.capacity = max(1, int(capacity))
        self.max_users = max_users
        self._lock = threading.Lock()
        self._times = array("d", [NAN]) * self.capacity
        self._system = {name: array("f", [NAN]) * self.capacity for name in SYSTEM}
        self._users = {}  # name -> (cpu array, memory array)
        self._others = {name: array("f", [0.0]) * self.capacity for name in PER_USER}
        self._next = 0  # the slot the next point goes to
        self.count = 0

    def add(self, when, cpu, memory, load, network, users):
        """One sample: ``users`` is ``(name, cpu %, memory %)`` for each user, by CPU descending."""
        with self._lock:
            slot = self._next
            self._times[slot] = when
            for name, value in zip(SYSTEM, (cpu, memory, load, network)):
                self._system[name][slot] = _value(value)
            for series in self._users.values():
                series[0][slot] = series[1][slot] = NAN
            others_cpu = others_memory = 0.0
            for name, user_cpu, user_memory in users:
                series = self._users.get(name)
                if series is None:
                    series = self._admit(name)
                if series is None:
                    others_cpu += user_cpu or 0.0
                    others_memory += user_memory or 0.0
                else:
                    series[0][slot] = _value(user_cpu)
                    series[1][slot] = _value(user_memory)
            self._others["cpu"][slot] = others_cpu
            self._others["memory"][slot] = others_memory
            self._next = (slot + 1) % self.capacity
            self.count = min(self.count + 1, self.capacity)

    def _admit(self, name):
        """Series for a new user, reusing those of a user with no point left; None when full."""
        if len(self._users) >= self.max_users:
            gone = next((old for old, (cpu, _) in self._users.items() if all(math.isnan(v) for v in cpu)), None)
            if gone is None:
                return None
            del self._users[gone]
        series = self._users[name] = (array("f", [NAN]) * self.capacity, array("f", [NAN]) * self.capacity)
        return series

    def oldest(self):
        """The time of the oldest point kept, or None while empty."""
        with self._lock:
            if not self.count:
                return None
            return self._times[(self._next - self.count) % self.capacity]

    def points(self, since, until):
        """``(times, system, users, others)`` of the points with ``since <= time < until``, oldest
        first: ``system`` maps each of :data:`SYSTEM` to values, ``users`` maps a name to
        ``(cpu values, memory values)``, ``others`` each of :data:`PER_USER` to values (NaN: unknown)."""
        with self._lock:
            order = [(self._next - self.count + i) % self.capacity for i in range(self.count)]
            chosen = [slot for slot in order if since <= self._times[slot] < until]
            times = [self._times[slot] for slot in chosen]
            system = {name: [values[slot] for slot in chosen] for name, values in self._system.items()}
            users = {name: ([cpu[slot] for slot in chosen], [memory[slot] for slot in chosen])
                     for name, (cpu, memory) in self._users.items()}
            others = {name: [values[slot] for slot in chosen] for name, values in self._others.items()}
        users = {name: series for name, series in users.items() if not all(math.isnan(v) for v in series[0])}
        return times, system, users, others


class Buckets:
    """Aligned buckets of ``step`` seconds from ``since``: ``count`` of them."""

    def __init__(self, since, step, count):
        self.since, self.step, self.count = since, step, count

    def index(self, when):
        """The bucket a time falls in, or None outside the range."""
        position = int((when - self.since) // self.step)
        return position if 0 <= position < self.count else None

    def times(self):
        return [round(self.since + i * self.step, 3) for i in range(self.count)]


def bucket(buckets, indices, averages, weights, maxima=None, digits=2):
    """``(averages, maxima)`` per bucket of values at ``indices`` (bucket numbers, None to
    skip): each average weighted by its ``weights`` (samples; NaN values skipped), each maximum
    the largest of ``maxima`` (default: the values themselves). None where a bucket has nothing."""
    total = [0.0] * buckets.count
    weight = [0.0] * buckets.count
    peak = [None] * buckets.count
    maxima = averages if maxima is None else maxima
    for index, value, count, highest in zip(indices, averages, weights, maxima):
        if index is None or value != value:  # NaN: unknown in that sample
            continue
        total[index] += value * count
        weight[index] += count
        if highest == highest and (peak[index] is None or highest > peak[index]):
            peak[index] = highest
    return ([round(t / w, digits) if w else None for t, w in zip(total, weight)],
            [None if p is None else round(p, digits) for p in peak])


__all__ = ["Timeline", "Buckets", "bucket", "SYSTEM", "PER_USER"]
