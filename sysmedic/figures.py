"""Every per-user figure, declared once (stdlib-only leaf module; issue 23).

A :class:`Figure` row says all that any layer needs to know of one per-user figure: its key
(the ``UserUsage`` field or, for a figure with its own collector, the key of
``UserUsage.extra``, and its name on the wire), unit and kind, how a window folds it, how it is
exposed to Prometheus, its column in ``sysmedic top`` and ``sysmedic users``, its name in the
per-minute history and ``get_history``, and its threshold if users are judged on it (the
options, the status, persistence, alerts and advice follow from that). The wire
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
class Threshold:
    """A figure users are judged on: its metric name (``user:<name>:<metric>`` in alert causes,
    ``metric`` in the protocol), from which the options are named: ``monitoring.user_<metric>_
    threshold`` (the default) and ``users.<name>.<metric>_threshold`` (one user's), percent."""
    metric: str                    # "cpu"
    label: str                     # for people: "CPU"
    advice: str                    # the recommendation; fields: user, usage, duration, label, unit
    default: int = 80

    @property
    def option(self):
        """The monitoring option of the default threshold."""
        return "user_%s_threshold" % self.metric

    @property
    def limit(self):
        """The per-user option (a field of ``config.UserLimits``)."""
        return "%s_threshold" % self.metric


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
    threshold: Optional[Threshold] = None  # users are judged on it: alerts, status, persistence
    collect: Optional[Callable] = None  # window -> {uid: value}; None: the accountant computes it
    history_scale: int = 10        # stored units per unit in the in-memory timeline (integers there)
    sort_key: Optional[str] = None  # the key that sorts top's users by it
    column: Optional[str] = None   # its heading in the web dashboard's user table; None: not shown there

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
           history="cpu", sort_key="c", column="CPU %", threshold=Threshold(
               "cpu", "CPU", "Check {user}'s processes: {label} at {usage:.1f}{unit} of the machine for {duration} "
                             "(ps -u {user} -o pid,pcpu,etime,cmd --sort=-pcpu)")),
    Figure("memory_percent", "%", MEMORY_SHARE, "MEM%", 6, "%.1f",
           Prometheus("sysmedic_user_memory_bytes", "gauge", "A user's memory (PSS where readable, else RSS)."),
           history="memory", sort_key="m", column="Memory %", threshold=Threshold(
               "memory", "memory", "Check {user}'s memory: {usage:.1f}{unit} of RAM for {duration} "
                                   "(ps -u {user} -o pid,rss,cmd --sort=-rss)")),
    Figure("processes", "", COUNT, "PROCS", 6, "%d",
           Prometheus("sysmedic_user_processes", "gauge", "A user's processes."),
           fold=MAXIMUM, digits=0, sort_key="p", column="Processes"),
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


def judged() -> Tuple[Figure, ...]:
    """The figures with a threshold, in table order."""
    return tuple(figure for figure in FIGURES if figure.threshold is not None)


def columns():
    """The web dashboard's user columns (``welcome``'s ``user_columns``): key, heading, digits."""
    return [{"key": figure.key, "title": figure.column, "digits": figure.digits} for figure in FIGURES
            if figure.column]


def sorts():
    """``{key: figure}``: the figures top sorts by, by the key that does it."""
    return {figure.sort_key: figure for figure in FIGURES if figure.sort_key}
