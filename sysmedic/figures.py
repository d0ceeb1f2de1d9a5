"""Every per-user figure, declared once (stdlib-only leaf module; issue 23).

A :class:`Figure` row says all that any layer needs to know of one per-user figure: its key
(the ``UserUsage`` field or, for a figure with its own collector, the key of
``UserUsage.extra``, and its name on the wire), unit and kind, how a window folds it, how it is
exposed to Prometheus, its column in ``sysmedic top`` and ``sysmedic users``, its name in the
per-minute history and ``get_history``, and its threshold option if it has one. The wire
(``get_user_metrics``, ``system_update``'s ``user_metrics``), ``/metrics``, the history rows,
``get_history``, ``top`` and ``users`` loop over :data:`FIGURES`; none of them names a figure.

Adding a figure is one row here and, unless the accountant already computes it, its collector
function: ``collect(window) -> {uid: value}``, given the :class:`~sysmedic.collect.records.
ProcessWindow` of the two readings a sample's rates came from (not called on the first
sample: the figure is unknown there). ``tests/e2e/test_figures.py`` adds one to a copy of the package,
changing this file alone, and finds it everywhere.
"""

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

# What a figure measures (the kind decides its Prometheus form and its units there).
CPU_SHARE = "cpu-share"        # percent of the machine's CPU capacity in the window
MEMORY_SHARE = "memory-share"  # percent of MemTotal
COUNT = "count"                # a number of things now (processes)
RATE = "rate"                  # per second over the window
GAUGE = "gauge"                # a level now, in its unit

# How a window (a history interval, a get_history bucket) folds a figure's samples: the
# average over the window (absent samples count 0) with the peak beside it, or the peak alone.
AVERAGE = "average"
MAXIMUM = "maximum"


@dataclass(frozen=True)
class Prometheus:
    """A figure's family in ``/metrics``: a share of the CPU or a rate is exposed as a counter of
    what it integrates to (CPU seconds, bytes), so that ``rate()`` is the figure again; a share
    of memory as bytes; anything else as the figure itself."""
    name: str
    type: str              # "counter" or "gauge"
    help: str


@dataclass(frozen=True)
class Figure:
    key: str                       # UserUsage field or extra key; the wire name
    unit: str                      # "%", "B/s", "" (a count)
    kind: str                      # one of the kinds above
    title: str                     # the column title in top and users: "CPU%"
    width: int                     # the column's width
    form: str                      # its format, printf style: "%.1f"
    prometheus: Optional[Prometheus] = None
    history: Optional[str] = None  # its name in the history (get_history's "user_<history>"); None: not kept
    fold: str = AVERAGE
    digits: int = 1                # rounding on the wire (0: an integer)
    always: bool = True            # on the wire while unknown (as null); False: left out then
    threshold: Optional[str] = None  # the UserLimits field / monitoring option of its threshold
    collect: Optional[Callable] = None  # window -> {uid: value}; None: the accountant computes it
    history_scale: int = 10        # stored units per unit in the in-memory timeline (integers there)
    sort_key: Optional[str] = None  # the key that sorts top's users by it

    def of(self, user):
        """The user's figure (None while unknown)."""
        if self.collect is None:
            return getattr(user, self.key)
        extra = user.extra
        return extra.get(self.key) if extra else None

    def wire(self, value):
        if value is None:
            return None
        return int(round(value)) if self.digits == 0 else round(float(value), self.digits)

    def cell(self, value):
        """The figure as ``top`` and ``users`` show it, ``width`` wide: ``-`` while unknown."""
        text = "-" if value is None else self.form % value
        return text.rjust(self.width)

    def header(self):
        return self.title.rjust(self.width)

    @property
    def name(self):
        """The column's name in words: "CPU", "MEM", "PROCS"."""
        return self.title.rstrip("%")


FIGURES = [
    Figure("cpu_percent", "%", CPU_SHARE, "CPU%", 6, "%.1f",
           Prometheus("sysmedic_user_cpu_seconds_total", "counter",
                      "CPU seconds used by a user's processes (the same accounting as get_user_metrics)."),
           history="cpu", threshold="cpu_threshold", sort_key="c"),
    Figure("memory_percent", "%", MEMORY_SHARE, "MEM%", 6, "%.1f",
           Prometheus("sysmedic_user_memory_bytes", "gauge", "A user's memory (PSS where readable, else RSS)."),
           history="memory", threshold="memory_threshold", sort_key="m"),
    Figure("processes", "", COUNT, "PROCS", 6, "%d",
           Prometheus("sysmedic_user_processes", "gauge", "A user's processes."),
           fold=MAXIMUM, digits=0, sort_key="p"),
    Figure("rss_percent", "%", MEMORY_SHARE, "RSS%", 6, "%.1f", always=False),
]


def by_key() -> Dict[str, Figure]:
    return {figure.key: figure for figure in FIGURES}


def kept() -> Tuple[Figure, ...]:
    """The figures kept in the history, in table order."""
    return tuple(figure for figure in FIGURES if figure.history)


def collected() -> Tuple[Figure, ...]:
    """The figures with a collector of their own."""
    return tuple(figure for figure in FIGURES if figure.collect is not None)


def sorts():
    """``{key: figure}``: the figures top sorts by, by the key that does it."""
    return {figure.sort_key: figure for figure in FIGURES if figure.sort_key}
