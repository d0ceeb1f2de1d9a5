"""Recent history in memory, and history answers down-sampled without losing peaks (issue 12).

:class:`Timeline` keeps the last ``capacity`` samples as they were taken (one point per
``update_interval``) in fixed-size arrays: system CPU, memory, load and network, per user CPU
and memory for at most ``max_users`` users, and every user's sum (so "everyone else" is the
sum less the users shown). An hour at the default 5 s is 720 points; at 0.2 s it is 18,000.
Values are kept as whole numbers of what is shown (tenths of a percent, hundredths of load,
bytes a second: :data:`SCALE`), 4 bytes each (8 for network): sums are then exact, and an
answer divides once where rounding floats cost five times as much. A user with no processes
in a sample has 0 there: that is what they used; an unknown system value is :data:`UNKNOWN`.

:class:`Layout` and :func:`fold` turn a window of samples into aligned buckets of ``step``
seconds (a total, a weight and a maximum per bucket) with the loops in C: prefix sums read at
each bucket's edges, and maxima taken over the bucket's k-th samples side by side. An answer
for an hour of 50 users then costs per bucket, not per sample (an hour answered at 5 s reads
72,000 values; the first version looped over each in Python, 35 ms).

Stdlib only, no I/O; the timeline's lock guards its arrays (the sampler adds, sessions read).
"""

import threading
from array import array
from itertools import accumulate
from operator import itemgetter, sub

SYSTEM = ("cpu", "memory", "load", "network")
PER_USER = ("cpu", "memory")
SCALE = {"cpu": 10, "memory": 10, "load": 100, "network": 1}  # stored units per unit shown
UNKNOWN = -1  # a system value not measured in that sample (every value is 0 or more)
NO_PEAK = float("-inf")  # a bucket without samples: its maximum
NAN = float("nan")


def _scaled(value, scale):
    return UNKNOWN if value is None or value != value else max(0, round(value * scale))


def _share(value, scale):
    """A user's value: not measured is nothing used."""
    return 0 if value is None or value != value else max(0, round(value * scale))


class Timeline:
    """The last ``capacity`` samples.

    :param capacity: points kept (``seconds / update_interval``).
    :param max_users: users with series of their own; everyone's sum is kept beside them.
    """

    def __init__(self, capacity, max_users=50):
        self.capacity = max(1, int(capacity))
        self.max_users = max_users
        self._lock = threading.Lock()
        self._times = array("d", [NAN]) * self.capacity
        self._system = {name: array("q" if name == "network" else "i", [UNKNOWN]) * self.capacity
                        for name in SYSTEM}
        self._users = {}  # name -> (cpu array, memory array)
        self._last = {}  # name -> the number of the last sample in which the user used anything
        self._total = {name: array("i", [0]) * self.capacity for name in PER_USER}
        self._next = 0  # the slot the next point goes to
        self._added = 0  # samples added since the start
        self.count = 0

    def add(self, when, cpu, memory, load, network, users):
        """One sample: ``users`` is ``(name, cpu %, memory %)`` for each user, by CPU descending."""
        with self._lock:
            slot = self._next
            self._times[slot] = when
            for name, value in zip(SYSTEM, (cpu, memory, load, network)):
                self._system[name][slot] = _scaled(value, SCALE[name])
            for series in self._users.values():
                series[0][slot] = series[1][slot] = 0
            total_cpu = total_memory = 0
            for name, user_cpu, user_memory in users:
                user_cpu, user_memory = _share(user_cpu, SCALE["cpu"]), _share(user_memory, SCALE["memory"])
                total_cpu += user_cpu
                total_memory += user_memory
                if not (user_cpu or user_memory):
                    continue
                series = self._users.get(name) or self._admit(name)
                if series is not None:
                    series[0][slot] = user_cpu
                    series[1][slot] = user_memory
                    self._last[name] = self._added
            self._total["cpu"][slot] = total_cpu
            self._total["memory"][slot] = total_memory
            self._next = (slot + 1) % self.capacity
            self._added += 1
            self.count = min(self.count + 1, self.capacity)

    def _admit(self, name):
        """Series for a new user, reusing those of a user with nothing left in the timeline;
        None when full (the user is then only in the sum)."""
        if len(self._users) >= self.max_users:
            gone = next((old for old, last in self._last.items() if self._added - last >= self.capacity), None)
            if gone is None:
                return None
            series = self._users.pop(gone)  # all zeros by now: every slot was written since
            del self._last[gone]
        else:
            series = (array("i", [0]) * self.capacity, array("i", [0]) * self.capacity)
        self._users[name] = series
        return series

    def oldest(self):
        """The time of the oldest point kept, or None while empty."""
        with self._lock:
            if not self.count:
                return None
            return self._times[(self._next - self.count) % self.capacity]

    def window(self, since, until):
        """The points with ``since <= time < until``, oldest first, copied: ``(times, system,
        users, total)`` where ``system`` maps each of :data:`SYSTEM` to values (in :data:`SCALE`
        units, :data:`UNKNOWN` where not measured), ``users`` a name to ``(cpu values, memory
        values)`` for the users who used anything in the window, and ``total`` each of
        :data:`PER_USER` to every user's sum."""
        with self._lock:
            start = (self._next - self.count) % self.capacity

            def ordered(values):
                if start + self.count <= self.capacity:
                    return values[start:start + self.count]
                return values[start:] + values[:(start + self.count) % self.capacity]

            times = ordered(self._times).tolist()
            keep = [i for i, when in enumerate(times) if since <= when < until]
            if keep and keep[-1] - keep[0] + 1 == len(keep):  # the usual: one run of slots

                def chosen(values, first=keep[0], end=keep[-1] + 1):
                    return ordered(values)[first:end]
            else:  # none, or the clock stepped back

                def chosen(values):
                    return array(values.typecode, gather(ordered(values), keep))
            system = {name: chosen(values) for name, values in self._system.items()}
            users = {name: (chosen(cpu), chosen(memory)) for name, (cpu, memory) in self._users.items()}
            total = {name: chosen(values) for name, values in self._total.items()}
        users = {name: series for name, series in users.items() if any(series[0]) or any(series[1])}
        return [times[i] for i in keep], system, users, total


def gather(values, positions):
    """``[values[p] for p in positions]``, looped in C."""
    if len(positions) > 1:
        return list(itemgetter(*positions)(values))
    return [values[p] for p in positions]


class Buckets:
    """Aligned buckets of ``step`` seconds from ``since``: ``count`` of them."""

    def __init__(self, since, step, count):
        self.since, self.step, self.count = since, step, count

    @property
    def end(self):
        return self.since + self.count * self.step

    def index(self, when):
        """The bucket a time falls in, or None outside the range."""
        position = int((when - self.since) // self.step)
        return position if 0 <= position < self.count else None

    def times(self):
        return [round(self.since + i * self.step, 3) for i in range(self.count)]


class Layout:
    """Where a window's samples fall among the buckets, worked out once for all its series.

    ``first`` is the bucket of the first sample and ``counts`` the samples in each bucket from
    there on. When the samples are in bucket order (always, unless the clock stepped back),
    each bucket's samples are one run ``lows[b]:highs[b]``, and ``columns[k][b]`` is the
    position of the bucket's k-th sample (its first again when it has fewer, the sentinel past
    the end when it has none), so that a maximum is ``map(max, *columns)``.
    """

    def __init__(self, buckets, times):
        self.indices = [buckets.index(when) for when in times]
        placed = [b for b in self.indices if b is not None]
        self.first = min(placed) if placed else 0
        self.counts = [0] * ((max(placed) - self.first + 1) if placed else 0)
        for b in placed:
            self.counts[b - self.first] += 1
        self.ordered = len(placed) == len(times) and all(a <= b for a, b in zip(placed, placed[1:]))
        self.columns = None
        if self.ordered:
            self.highs = list(accumulate(self.counts))
            self.lows = list(map(sub, self.highs, self.counts))
            width = max(self.counts, default=0)
            if width * len(self.counts) <= 4 * len(times) + 1024:  # else a bucket at a time
                sentinel = len(times)
                self.columns = [[low + k if k < count else (low if count else sentinel)
                                 for low, count in zip(self.lows, self.counts)] for k in range(width)]


def fold(layout, values):
    """``(totals, weights, peaks)`` per bucket from ``layout.first`` on, for one series of the
    window: the sum of the known values, how many there were, their maximum (:data:`NO_PEAK`
    where none). :data:`UNKNOWN` values are left out."""
    if not layout.counts:  # no sample in any bucket
        return [], [], []
    if layout.ordered and UNKNOWN not in values:  # every sample counts: all in C
        sums = list(accumulate(values, initial=0))
        totals = list(map(sub, gather(sums, layout.highs), gather(sums, layout.lows)))
        padded = values.tolist() if isinstance(values, array) else list(values)
        padded.append(NO_PEAK)
        if layout.columns is None:
            peaks = [max(padded[low:high], default=NO_PEAK) for low, high in zip(layout.lows, layout.highs)]
        elif len(layout.columns) == 1:
            peaks = gather(padded, layout.columns[0])
        else:
            peaks = list(map(max, *(gather(padded, column) for column in layout.columns)))
        return totals, layout.counts, peaks
    size = len(layout.counts)
    totals, weights, peaks = [0] * size, [0] * size, [NO_PEAK] * size
    for index, value in zip(layout.indices, values):
        if index is not None and value != UNKNOWN:
            index -= layout.first
            totals[index] += value
            weights[index] += 1
            if value > peaks[index]:
                peaks[index] = value
    return totals, weights, peaks


__all__ = ["Timeline", "Buckets", "Layout", "fold", "gather", "SYSTEM", "PER_USER", "SCALE", "UNKNOWN",
           "NO_PEAK"]
