"""The collection layer: pick a source for this platform and sample it.

``make_collector("auto")`` reads ``/proc`` directly on Linux and falls back to psutil
elsewhere; ``"procfs"`` or ``"psutil"`` force one (config ``monitoring.collector``).
"""

import os
import sys
import time

from ..errors import CollectorError
from .accounting import Accountant, UserNames
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
    if kind == "procfs" or (kind == "auto" and sys.platform.startswith("linux")
                            and os.path.exists(os.path.join(proc_root, "stat"))):
        if not os.path.exists(os.path.join(proc_root, "stat")):
            raise CollectorError("%s/stat not found: the procfs collector needs Linux /proc" % proc_root)
        return Collector(ProcSource(proc_root, exits=exits, pss_every=pss_every))
    from .psutil_source import PsutilSource
    return Collector(PsutilSource())
