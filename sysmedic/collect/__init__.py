"""The collection layer: pick a source for this platform and sample it.

``make_collector("auto")`` reads ``/proc`` directly on Linux and falls back to psutil
elsewhere; ``"procfs"`` or ``"psutil"`` force one (config ``monitoring.collector``).
"""

import os
import sys
import time

from ..errors import CollectorError
from .accounting import Accountant, UserNames
from .visibility import mount_options
from .procfs import ProcSource
from .records import RawSample, Snapshot, SystemMetrics, UserUsage

__all__ = ["Collector", "make_collector", "Snapshot", "SystemMetrics", "UserUsage", "RawSample",
           "UserNames"]


class Collector:
    """A source plus the accounting that turns its counters into Snapshots.

    The first :meth:`sample` is a baseline (``warming_up``); call :meth:`prime` at start so
    the first published Snapshot already has rates.
    """

    def __init__(self, source, accountant=None, timer=time.perf_counter):
        self.source = source
        self._accountant = accountant or Accountant()
        self._timer = timer

    def sample(self):
        started = self._timer()
        raw = self.source.read()
        return self._accountant.update(raw, self._timer() - started)

    def prime(self, wait, sleep=time.sleep):
        """Take the baseline sample, wait ``wait`` seconds, and return the first real Snapshot."""
        self.sample()
        sleep(wait)
        return self.sample()


def make_collector(kind="auto", proc_root="/proc", exits=None, pss_every=60.0):
    """A Collector for ``kind`` (``auto``, ``procfs`` or ``psutil``); ``exits``: an
    ExitListener whose records the procfs source uses (ignored by psutil)."""
    if kind == "procfs" or (kind == "auto" and sys.platform.startswith("linux")):
        if not os.path.exists(os.path.join(proc_root, "stat")):
            # psutil reads the same files on Linux: falling back to it only said it was missing
            subset = mount_options(proc_root).get("subset")
            raise CollectorError("%s/stat not found: %s" % (proc_root, (
                "%s is mounted with subset=%s, which shows processes only; SysMedic also needs the "
                "machine's counters (stat, meminfo, loadavg): mount it without subset" % (proc_root, subset))
                if subset else "the machine's counters are in Linux's /proc: is it mounted?"))
        return Collector(ProcSource(proc_root, exits=exits, pss_every=pss_every))
    from .psutil_source import PsutilSource
    return Collector(PsutilSource())
