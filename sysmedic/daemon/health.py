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

from .. import views
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

    def _now(self):
        """``(thread states, sample age in seconds or None)``, read once per answer."""
        sampled = self._sampler.last_sample
        return self._threads.states(), None if sampled is None else self._monotonic() - sampled

    def problems(self, now=None):
        """Why the daemon is degraded: a list of sentences, empty when healthy."""
        states, age = now or self._now()
        found = ["thread %s died" % name for name, state in states.items() if state == FAILED]
        late = lateness_problem(age, self._config().monitoring.update_interval)
        if late:
            found.append(late)
        for problem in [self._writer.problem(), self._home_problem()] + [n.stuck() for n in self._notifiers]:
            if problem:
                found.append(problem)
        return found

    def _accounting(self):
        snapshot = getattr(self._sampler, "last_snapshot", None)
        return None if snapshot is None else views.accounting(snapshot)

    def warnings(self):
        """What the administrator should know that does not stop the daemon working: the
        processes it cannot see (a pid namespace, hidepid, CPU no visible process explains),
        and figures that are estimates (issue 22: the packaged service ran unprivileged
        without a word)."""
        snapshot = getattr(self._sampler, "last_snapshot", None)
        if snapshot is None:
            return []
        found = list(snapshot.unseen)
        if snapshot.accounting != "exit-records" and sys.platform.startswith("linux"):
            found.append("per-user CPU is inferred from reaped children, not exact: the kernel's exit records need "
                         "root or CAP_NET_ADMIN (README, \"Per-user CPU\")")
        if os.geteuid() != 0 and sys.platform.startswith("linux"):
            found.append("other users' memory is estimated from their RSS: reading their PSS needs root "
                         "(or CAP_SYS_PTRACE)")
        return found

    def report(self, settings):
        """``(http_status, body)`` for a listener with ``settings``."""
        now = states, age = self._now()
        problems = self.problems(now)
        collect_ms = self._sampler.last_collect_ms
        body = {
            "status": "degraded" if problems else "healthy",
            "running": True,
            "clients": self._registry.count(),
            "port": settings.port,
            "hostname": self._public_host(settings),
            "has_secret": True,
            "version": self._version,
            "problems": problems,
            "threads": states,
            "sample_age_seconds": None if age is None else round(age, 2),
            "collect_ms": None if collect_ms is None else round(collect_ms, 2),
            "sampler_errors": self._sampler.errors,
            "broadcast_failures": self._broadcaster.failed,
            "storage_dropped": self._writer.dropped,
            "notifiers": {n.name: {"sent": n.sent, "failed": n.failed, "dropped": n.dropped}
                          for n in self._notifiers},
            "accounting": self._accounting(),
            "warnings": self.warnings(),
            "rss_bytes": rss_bytes(),
            "uptime_seconds": round(self._clock() - self._started, 1),
            "evicted_clients": self._registry.evicted,
            "thread_count": threading.active_count(),
        }
        return (503 if problems else 200), body
