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
each bucket's edges, and maxima taken over the bucket's k-th samples side by side (an hour of
50 users is 72,000 values; the first version looped over each in Python, 35 ms). For buckets
of 2, 4 and 8 samples the timeline also keeps them folded as samples arrive
(:meth:`Timeline.folded`), so an answer at those steps reads buckets, not samples.

Stdlib only, no I/O; the timeline's lock guards its arrays (the sampler adds, sessions read).
"""

import math
import threading
from array import array
from itertools import accumulate
from operator import itemgetter, sub

from .. import figures

SYSTEM = ("cpu", "memory", "load", "network")
PER_USER = tuple(figure.history for figure in figures.kept())  # ("cpu", "memory"), and any figure row kept
SCALE = dict({"cpu": 10, "memory": 10, "load": 100, "network": 1},  # stored units per unit shown
             **{figure.history: figure.history_scale for figure in figures.kept()})
# A share (of the CPU, of memory) is at most 100% x its scale: two bytes a sample hold it, which
# halves the largest ring (issue 24: 50 users x 20,000 samples of two figures was 8 MB of 29).
TYPECODES = tuple("H" if figure.kind in (figures.CPU_SHARE, figures.MEMORY_SHARE) else "i"
                  for figure in figures.kept())
MOST = {"H": 0xFFFF, "i": 0x7FFFFFFF}
UNKNOWN = -1  # a system value not measured in that sample (every value is 0 or more)
NO_PEAK = -1  # a bucket without known values: its maximum (every value is 0 or more)
NAN = float("nan")
LEVELS = (2, 4, 8)  # samples a bucket in the folds kept as samples arrive (raised steps)
MAX_LEVELLED = 4000  # a longer timeline keeps no folds (they would cost as much again)


def _scaled(value, scale):
    return UNKNOWN if value is None or value != value else max(0, round(value * scale))


def _share(value, scale):
    """A user's value: not measured is nothing used."""
    return 0 if value is None or value != value else max(0, round(value * scale))


class _Level:
    """The samples folded into buckets of ``k`` samples' width (``k * interval`` seconds,
    aligned to the epoch as an answer's buckets are) as they arrive: per bucket its number and
    samples, and per series the total and the maximum (and for the system's, which may be
    unknown in a sample, how many were known). At the default hour of 5 s samples with 50 users
    the three folds hold 0.6 MB (the samples themselves 0.35)."""

    def __init__(self, k, interval, size):
        self.k, self.step, self.size = k, k * interval, size
        self.ids = array("q", [-1]) * size
        self.samples = array("i", [0]) * size
        self.series = {}  # key -> (totals, peaks, known or None)
        self.slot = size - 1
        self.since_sample = 0  # the number of the first sample it holds (it starts over when the clock steps back)

    def add_series(self, key, typecode="i", unknown=False):
        """A series' arrays (``typecode`` "q" for values past 2**31 / 8). A user absent from a
        sample had 0 there, so their maxima start at 0 (as in the samples kept whole); the
        system's values may be ``unknown``, so theirs start at :data:`NO_PEAK` and are counted."""
        self.series[key] = (array(typecode, [0]) * self.size, array(typecode, [NO_PEAK if unknown else 0]) * self.size,
                            array("i", [0]) * self.size if unknown else None)

    def clear(self, key):
        for values in self.series[key][:2]:
            values[:] = array(values.typecode, [0]) * self.size

    def bucket(self, when, number):
        """The slot for a sample at ``when`` (the ``number``-th since the start)."""
        b = math.floor(when / self.step)
        current = self.ids[self.slot]
        if b == current:
            return self.slot
        if b < current:  # the clock stepped back: start over from this sample
            self.ids[:] = array("q", [-1]) * self.size
            self.since_sample = number
        self.slot = (self.slot + 1) % self.size
        self.ids[self.slot] = b
        self.samples[self.slot] = 0
        for totals, peaks, known in self.series.values():
            totals[self.slot] = 0
            peaks[self.slot] = NO_PEAK
            if known is not None:
                known[self.slot] = 0
        return self.slot

    def put(self, slot, key, value):
        if value != UNKNOWN:
            totals, peaks, known = self.series[key]
            totals[slot] += value
            if known is not None:
                known[slot] += 1
            if value > peaks[slot]:
                peaks[slot] = value


class Timeline:
    """The last ``capacity`` samples.

    :param capacity: points kept (``seconds / update_interval``).
    :param max_users: users with series of their own; everyone's sum is kept beside them.
    :param interval: the seconds between samples: given, buckets of :data:`LEVELS` samples are
        also kept folded as samples arrive, for answers at those steps (a timeline of at most
        :data:`MAX_LEVELLED` samples).
    """

    def __init__(self, capacity, max_users=50, interval=None):
        self.capacity = max(1, int(capacity))
        self.max_users = max_users
        self._lock = threading.Lock()
        self._times = array("d", [NAN]) * self.capacity
        self._system = {name: array("q" if name == "network" else "i", [UNKNOWN]) * self.capacity
                        for name in SYSTEM}
        self._users = {}  # name -> (an array per PER_USER figure)
        self._last = {}  # name -> the number of the last sample in which the user had a process
        self._total = {name: array("i", [0]) * self.capacity for name in PER_USER}
        self._next = 0  # the slot the next point goes to
        self._added = 0  # samples added since the start
        self.count = 0
        self._levels = []
        if interval and self.capacity <= MAX_LEVELLED:
            for k in LEVELS:
                level = _Level(k, interval, self.capacity // k + 2)
                for name in SYSTEM:
                    level.add_series(("system", name), "q" if name == "network" else "i", unknown=True)
                for name in PER_USER:
                    level.add_series(("total", name))
                self._levels.append(level)

    def add(self, when, cpu, memory, load, network, users):
        """One sample: ``users`` is ``(name, value of each PER_USER figure...)`` for each user
        (``(name, cpu %, memory %)`` for the built-in two), by CPU descending."""
        scales = [SCALE[name] for name in PER_USER]
        mosts = [MOST[code] for code in TYPECODES]
        with self._lock:
            slot = self._next
            self._times[slot] = when
            for name, value in zip(SYSTEM, (cpu, memory, load, network)):
                self._system[name][slot] = _scaled(value, SCALE[name])
            for series in self._users.values():
                for values in series:
                    values[slot] = 0
            totals = [0] * len(PER_USER)
            for entry in users:
                name = entry[0]
                shown = [_share(value, scale) for value, scale in zip(entry[1:], scales)]
                for index, value in enumerate(shown):
                    totals[index] += value
                series = self._users.get(name) or self._admit(name)
                if series is not None:
                    for values, value, most in zip(series, shown, mosts):
                        values[slot] = value if value <= most else most
                    self._last[name] = self._added
            for name, total in zip(PER_USER, totals):
                self._total[name][slot] = total
            for level in self._levels:
                self._fold(level, when, slot)
            self._next = (slot + 1) % self.capacity
            self._added += 1
            self.count = min(self.count + 1, self.capacity)

    def _fold(self, level, when, slot):
        """Add the sample in ``slot`` to ``level``'s bucket for it."""
        at = level.bucket(when, self._added)
        level.samples[at] += 1
        for name, values in self._system.items():
            level.put(at, ("system", name), values[slot])
        for name, values in self._total.items():
            level.put(at, ("total", name), values[slot])
        for name, series in self._users.items():
            for metric, values in zip(PER_USER, series):
                level.put(at, (name, metric), values[slot])

    def _admit(self, name):
        """Series for a new user, reusing those of a user with nothing left in the timeline;
        None when full (the user is then only in the sum)."""
        if len(self._users) >= self.max_users:
            gone = next((old for old, last in self._last.items() if self._added - last >= self.capacity), None)
            if gone is None:
                return None
            series = self._users.pop(gone)  # all zeros by now: every slot was written since
            del self._last[gone]
            for level in self._levels:  # its folds may be older than the samples: cleared
                for metric in PER_USER:
                    level.series[(name, metric)] = level.series.pop((gone, metric))
                    level.clear((name, metric))
        else:
            series = tuple(array(code, [0]) * self.capacity for code in TYPECODES)
            for level in self._levels:
                for metric in PER_USER:
                    level.add_series((name, metric))
        self._users[name] = series
        return series

    def oldest(self):
        """The time of the oldest point kept, or None while empty."""
        with self._lock:
            if not self.count:
                return None
            return self._times[(self._next - self.count) % self.capacity]

    def folded(self, step, since, count, keys):
        """Buckets ``since + i * step`` (``i < count``) read from the fold of that step, as
        :func:`fold` would give them for the samples in memory: ``(samples, {key: (totals,
        weights, peaks)})`` for each key (``("system", name)``, ``("total", name)``, ``(user,
        name)``), or None when no fold holds every sample kept (another step, the clock stepped
        back, a fold shorter than the samples)."""
        with self._lock:
            level = next((level for level in self._levels if abs(level.step - step) < 1e-9), None)
            if level is None or not self.count or self._added - self.count < level.since_sample:
                return None
            oldest_slot = (level.slot + 1) % level.size
            while level.ids[oldest_slot] < 0 and oldest_slot != level.slot:
                oldest_slot = (oldest_slot + 1) % level.size
            oldest_time = self._times[(self._next - self.count) % self.capacity]
            if level.ids[oldest_slot] > math.floor(oldest_time / level.step):
                return None  # the fold lost buckets the samples still have
            first = round(since / level.step)
            # Buckets before the oldest sample kept are left empty, as the samples have nothing
            # there; the one holding it may also hold up to k - 1 samples that just left them.
            where = {b: slot for slot, b in enumerate(level.ids)
                     if first <= b < first + count and b >= math.floor(oldest_time / level.step)}
            positions = [where.get(first + i, level.size) for i in range(count)]  # size: the sentinel past the end

            def read(values, empty):
                padded = values.tolist()
                padded.append(empty)
                return gather(padded, positions)
            samples = read(level.samples, 0)
            found = {}
            for key in keys:
                if key in level.series:
                    totals, peaks, known = level.series[key]
                    found[key] = (read(totals, 0), samples if known is None else read(known, 0),
                                  read(peaks, NO_PEAK))
        return samples, found

    def window(self, since, until):
        """The points with ``since <= time < until``, oldest first, copied: ``(times, system,
        users, total)`` where ``system`` maps each of :data:`SYSTEM` to values (in :data:`SCALE`
        units, :data:`UNKNOWN` where not measured), ``users`` a name to its values of each of
        :data:`PER_USER` for the users with a process in the window (using nothing counts), and
        ``total`` each of :data:`PER_USER` to every user's sum."""
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
            first = self._added - self.count + (keep[0] if keep else self.count)  # its number
            system = {name: chosen(values) for name, values in self._system.items()}
            users = {name: tuple(chosen(values) for values in series) for name, series in self._users.items()
                     if self._last[name] >= first}
            total = {name: chosen(values) for name, values in self._total.items()}
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
           "NO_PEAK", "LEVELS"]
