"""Frozen records that flow out of the collection layer (stdlib-only leaf module).

A source (``procfs`` or ``psutil_source``) returns one :class:`RawSample` of cumulative
counters; :class:`~sysmedic.collect.accounting.Accountant` turns two of them into a
:class:`Snapshot` of rates and shares. Nobody mutates a record: the sampler builds a new
Snapshot and swaps the reference (docs/architecture.md #3).
"""

from dataclasses import dataclass, field
from typing import Dict, Mapping, NamedTuple, Optional, Tuple

class ProcRow(NamedTuple):
    """One process in a RawSample, in the source's units.

    A named tuple, not a dataclass: one is built per process per sample on the hot path
    (sources build it with ``tuple.__new__(ProcRow, ...)``, a third of the constructor's cost).
    """
    uid: int            # owner: effective uid (/proc/<pid>'s owner, psutil's uids().effective)
    ppid: int
    start: float        # start time, in the source's clock unit (with pid: the process's identity)
    cpu: float          # user+system time of the process, in the source's CPU unit
    child_cpu: float    # user+system time of its reaped children (cutime+cstime)
    rss: int            # resident set, in the source's memory unit (RawSample.rss_unit)


@dataclass(frozen=True)
class RawSample:
    """Cumulative counters read at one instant, in the source's units."""
    monotonic: float                # seconds, for rates
    wall: float                     # epoch seconds, for timestamps
    now_start_units: float          # "now" in the unit of ProcRow.start (to spot new processes)
    cpu_total: float                # all CPUs, all states, in the CPU unit
    cpu_busy: float                 # cpu_total less idle and iowait
    cpu_cores: int
    memory_total: int               # bytes
    memory_available: int           # bytes
    disk_used: int                  # bytes, as df counts them
    disk_total: int                 # used + available to unprivileged users
    network: Dict[str, int]         # interface -> rx+tx bytes, loopback excluded
    uptime: float                   # seconds since boot
    load_avg: Tuple[float, float, float]
    processes: Dict[int, ProcRow]   # pid -> ProcRow
    rss_unit: int                   # bytes per ProcRow.rss unit
    source: str = "procfs"          # "procfs" or "psutil"
    cpu_per_second: float = 100.0   # CPU units in a second (USER_HZ for procfs)
    boot_time: float = 0.0          # epoch seconds of boot (ProcRow.start counts from it)
    exits: Optional[tuple] = None   # the kernel's exit records since the last sample, or None
    exits_lost: int = 0             # exit records lost since start
    pss: Optional[Dict[int, int]] = None  # pid -> proportional set size in bytes, where known
    cpu_unowned: float = 0.0        # irq, softirq and steal in cpu_busy: perhaps in no process's time
    reaps_nothing: frozenset = frozenset()  # parents of exits that ignore SIGCHLD (the kernel reaps)
    unseen: tuple = ()              # sentences: what keeps the source from seeing every process
    pressure: Optional[tuple] = None  # (monotonic s, {resource: {kind: (avg10 %, total us)}}) of /proc/pressure; None without PSI


@dataclass(frozen=True)
class SystemMetrics:
    cpu_usage: Optional[float]      # % of the whole machine; None while warming up
    cpu_cores: int
    memory_usage: float             # % of MemTotal not available
    memory_total: int               # bytes
    memory_available: int           # bytes
    disk_usage: float               # % of / used
    uptime: float                   # seconds
    load_avg: Tuple[float, float, float]
    network_rate: Optional[float]   # bytes/s received+sent; None while warming up
    pressure: Optional[dict] = None  # {resource: {kind: {"avg10": %, "window": %, "total": s}}} (PSI), None without it


@dataclass(frozen=True)
class UserUsage:
    username: str
    uid: int
    cpu_percent: Optional[float]    # share of the whole machine (0-100); None while warming up
    memory_percent: float           # PSS (else RSS) over MemTotal
    processes: int
    rss_percent: Optional[float] = None  # RSS over MemTotal (shared pages once per process)
    extra: Optional[Mapping[str, Optional[float]]] = None  # the figures with collectors of their own (sysmedic.figures)


@dataclass(frozen=True)
class Snapshot:
    """Everything one sample knows. ``users`` is sorted by CPU, then memory, descending."""
    time: float                     # epoch seconds
    system: SystemMetrics
    users: Tuple[UserUsage, ...]
    warming_up: bool                # True on the first sample: no rates yet
    interval: float                 # seconds covered by the rates
    collect_seconds: float          # how long the reading took
    accounting: str = "reaped-children"  # how per-user CPU was counted: exit-records, reaped-children, psutil
    exits_lost: int = 0             # exit records the kernel dropped since start (exit-records only)
    window: Optional["ProcessWindow"] = None  # the two readings the rates came from (per-process figures)
    unseen: tuple = ()              # sentences: processes the daemon cannot see, and why (issue 22)
    ended: Dict[int, tuple] = field(default_factory=dict)  # uid -> ((command, processes, %), ...) ended in the window


class ProcessWindow(NamedTuple):
    """The two RawSamples a Snapshot's rates came from, and the window's CPU capacity in the
    source's CPU unit (elapsed time x cores): enough to say what each process used."""
    before: RawSample
    after: RawSample
    capacity: float
