"""History rows that keep the peaks: every sample feeds the interval's averages and maxima.

Before issue 10 a history row was the one sample taken when the row was due (once a minute),
so an alert could say 87.6% CPU while ``reports`` showed 17.0% at most for that hour. Now the
sampler adds every sample to a :class:`HistoryWindow`, and each row holds the average and the
maximum over its interval: a peak is never below an alert raised in the same interval.

A user absent from some samples (no process then) counts as 0 in them: the average is over
the interval, the maximum is their highest sample. Every figure of :data:`sysmedic.figures.FIGURES`
with a ``history`` name is kept: CPU and memory in the row's own columns (schema v1), any
other in ``UserRow.figures`` (schema v4's ``user_figure_history``).
"""

from typing import NamedTuple, Optional

from .. import figures
from ..analysis.status import HEAVY, LIGHT, MEDIUM

SEVERITY = {LIGHT: 0, MEDIUM: 1, HEAVY: 2}


class SystemRow(NamedTuple):
    time: float
    cpu: Optional[float]        # averages over the interval (None: no sample knew it)
    cpu_max: Optional[float]
    memory: float
    memory_max: float
    disk: float                 # the last sample's
    load1: float
    load1_max: float
    network: Optional[float]
    network_max: Optional[float]
    status: str                 # the worst status of the interval
    samples: int


class UserRow(NamedTuple):
    time: float
    username: str
    cpu: Optional[float]
    cpu_max: Optional[float]
    memory: float
    memory_max: float
    processes: int              # the most at once
    figures: tuple = ()         # (history name, average, maximum) of every other figure kept (sysmedic.figures)


class _Series:
    """Sum, count and maximum of the known values of one figure."""
    __slots__ = ("total", "count", "peak")

    def __init__(self):
        self.total, self.count, self.peak = 0.0, 0, None

    def add(self, value):
        if value is not None:
            self.total += value
            self.count += 1
            self.peak = value if self.peak is None or value > self.peak else self.peak

    def average(self, over=None):
        count = self.count if over is None else over
        return self.total / count if count else None


class HistoryWindow:
    def __init__(self):
        self.samples = 0
        self._system = {name: _Series() for name in ("cpu", "memory", "load1", "network")}
        self._users = {}  # name -> [[_Series of each figure kept], most processes at once]
        self._kept = figures.kept()
        self._disk = 0.0
        self._status = LIGHT

    def add(self, snapshot, status, users):
        """Fold in one sample (its Snapshot, status label and the users to keep)."""
        self.samples += 1
        system = snapshot.system
        for name, value in (("cpu", system.cpu_usage), ("memory", system.memory_usage),
                            ("load1", system.load_avg[0]), ("network", system.network_rate)):
            self._system[name].add(value)
        self._disk = system.disk_usage
        if SEVERITY.get(status, 0) >= SEVERITY.get(self._status, 0):
            self._status = status
        kept = self._kept
        for user in users:
            entry = self._users.get(user.username)
            if entry is None:
                entry = self._users[user.username] = [[_Series() for _ in kept], 0]
            for series, figure in zip(entry[0], kept):
                series.add(figure.of(user))
            entry[1] = max(entry[1], user.processes)

    def rows(self, time):
        """``(SystemRow, [UserRow])`` for the samples so far, stamped ``time``; None if none."""
        if not self.samples:
            return None
        series, n = self._system, self.samples
        system = SystemRow(time, series["cpu"].average(), series["cpu"].peak, series["memory"].average(),
                           series["memory"].peak, self._disk, series["load1"].average(), series["load1"].peak,
                           series["network"].average(), series["network"].peak, self._status, n)
        users = []
        for name, (series, processes) in sorted(self._users.items()):
            found = {figure.history: (kept.average(n) if kept.count else None, kept.peak)
                     for figure, kept in zip(self._kept, series)}
            (cpu, cpu_max), (memory, memory_max) = found.pop("cpu"), found.pop("memory")
            users.append(UserRow(time, name, cpu, cpu_max, memory or 0.0, memory_max or 0.0, processes,
                                 tuple((key, average, peak) for key, (average, peak) in found.items())))
        return system, users


def one_interval(snapshot, status, users):
    """The rows of an interval of one sample at ``snapshot.time`` (its averages are its values),
    for :meth:`sysmedic.storage.Storage.record_interval`."""
    window = HistoryWindow()
    window.add(snapshot, status, users)
    return window.rows(snapshot.time)
