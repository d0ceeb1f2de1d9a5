"""``GET /health``: the spec's six keys, and whether the daemon is really working.

``status`` is ``healthy`` (HTTP 200) or ``degraded`` (HTTP 503, so a load balancer or a
monitoring probe notices) when any named thread has died, or when the sampler is late by
more than two intervals (issue 8, defect 11). ``problems`` says why, in words. The lateness
bound has a floor of :data:`MIN_LATE` seconds so that a sub-second ``update_interval`` on a
busy host is not reported degraded for one slow scan.
"""

import os
import resource
import sys
import threading
import time

from .. import needs, views
from ..collect.pressure import unavailable
from ..server.context import DaemonFigures, NotifierFigures
from .threads import FAILED

MIN_LATE = 5.0


def rss_bytes():
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def lateness_problem(age, interval):
    """A sentence when a sample ``age`` seconds old is more than two intervals late, else None."""
    if age is None:
        return "no sample taken yet"
    late = age - interval
    if late > max(2 * interval, MIN_LATE):
        return "sampler is %.1fs late (interval %gs)" % (late, interval)
    return None


class Health:
    """Builds the ``/health`` answer from the daemon's parts (all read, nothing changed).

    :param monotonic: the clock the sampler's ``last_sample`` is measured with.
    """

    def __init__(self, version, sampler, threads, registry, broadcaster, writer, notifiers, config,
                 public_host, started, monotonic=time.monotonic, clock=time.time, home_problem=lambda: None):
        self._version = version
        self._sampler = sampler
        self._threads = threads
        self._registry = registry
        self._broadcaster = broadcaster
        self._writer = writer
        self._notifiers = notifiers
        self._config = config
        self._public_host = public_host
        self._started = started
        self._monotonic = monotonic
        self._clock = clock
        self._home_problem = home_problem
        self._gaps = needs.daemon_gaps()
        self._no_pressure = "no pressure figures: %s" % (unavailable() or "the collector does not read them")

    def figures(self):
        """The daemon's own figures now (:class:`~sysmedic.server.context.DaemonFigures`), each
        part read once: ``/health`` and ``/metrics`` both render this record."""
        sampled, sampler, registry = self._sampler.last_sample, self._sampler, self._registry
        return DaemonFigures(
            threads=self._threads.states(), sample_age=None if sampled is None else self._monotonic() - sampled,
            collect_ms=sampler.last_collect_ms, clients=registry.count(), messages_dropped=registry.dropped(),
            clients_evicted=registry.evicted, sampler_errors=sampler.errors,
            broadcast_failures=self._broadcaster.failed, storage_dropped=self._writer.dropped,
            notifiers=tuple(NotifierFigures(n.name, n.sent, n.failed, n.dropped) for n in self._notifiers),
            sample_durations=sampler.durations, user_counters=sampler.user_cpu.view, rss_bytes=rss_bytes(),
            uptime_seconds=self._clock() - self._started, thread_count=threading.active_count())

    def problems(self, figures=None):
        """Why the daemon is degraded: a list of sentences, empty when healthy."""
        figures = figures or self.figures()
        found = ["thread %s died" % name for name, state in figures.threads.items() if state == FAILED]
        late = lateness_problem(figures.sample_age, self._config().monitoring.update_interval)
        if late:
            found.append(late)
        for problem in [self._writer.problem(), self._home_problem()] + [n.stuck() for n in self._notifiers]:
            if problem:
                found.append(problem)
        return found

    def _accounting(self):
        snapshot = getattr(self._sampler, "last_snapshot", None)
        return None if snapshot is None else views.accounting(snapshot)

    def _pressure(self):
        snapshot = getattr(self._sampler, "last_snapshot", None)
        return None if snapshot is None else views.pressure(snapshot)

    def warnings(self):
        """What the administrator should know that does not stop the daemon working: the
        processes it cannot see (a pid namespace, hidepid, CPU no visible process explains),
        and figures that are estimates (issue 22: the packaged service ran unprivileged
        without a word)."""
        snapshot = getattr(self._sampler, "last_snapshot", None)
        if snapshot is None:
            return []
        found = list(snapshot.unseen) + list(self._gaps)
        if snapshot.accounting != "exit-records" and sys.platform.startswith("linux"):
            found.append("per-user CPU is inferred from reaped children, not exact: the kernel's exit records need "
                         "root or CAP_NET_ADMIN (README, \"Per-user CPU\")")
        if snapshot.system.pressure is None and sys.platform.startswith("linux"):
            found.append(self._no_pressure)
        if os.geteuid() != 0 and sys.platform.startswith("linux"):
            found.append("other users' memory is estimated from their RSS: reading their PSS needs root "
                         "(or CAP_SYS_PTRACE)")
        return found

    def report(self, settings):
        """``(http_status, body)`` for a listener with ``settings``."""
        figures = self.figures()
        problems = self.problems(figures)
        age, collect_ms = figures.sample_age, figures.collect_ms
        body = {
            "status": "degraded" if problems else "healthy",
            "running": True,
            "clients": figures.clients,
            "port": settings.port,
            "hostname": self._public_host(settings),
            "has_secret": True,
            "version": self._version,
            "problems": problems,
            "threads": figures.threads,
            "sample_age_seconds": None if age is None else round(age, 2),
            "collect_ms": None if collect_ms is None else round(collect_ms, 2),
            "sampler_errors": figures.sampler_errors,
            "broadcast_failures": figures.broadcast_failures,
            "storage_dropped": figures.storage_dropped,
            "notifiers": {n.name: {"sent": n.sent, "failed": n.failed, "dropped": n.dropped}
                          for n in figures.notifiers},
            "accounting": self._accounting(),
            "pressure": self._pressure(),
            "warnings": self.warnings(),
            "rss_bytes": figures.rss_bytes,
            "uptime_seconds": round(figures.uptime_seconds, 1),
            "evicted_clients": figures.clients_evicted,
            "thread_count": figures.thread_count,
        }
        return (503 if problems else 200), body
