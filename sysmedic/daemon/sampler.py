"""The sampler thread: sample, analyse, publish, and feed alerts and history to the writer.

Every ``update_interval`` it builds one frozen :class:`~sysmedic.daemon.state.State` and
swaps it into :class:`Shared`, offers a ``system_update`` to the broadcaster, and turns alert
condition changes into writer operations. Every sample feeds the history window; every
``monitoring_interval`` its averages and maxima become a history row; once an hour it prunes
what is older than ``retain_days``.
"""

import logging
import os
import threading
import time

from .. import figures
from ..analysis.alerts import diff
from ..analysis.assess import assess
from ..history.rollup import HistoryWindow
from ..analysis.status import visible_users
from ..server.prometheus import Histogram, UserCounters
from ..views.processes import ended_processes, top_processes
from ..server import protocol
from .state import State

log = logging.getLogger(__name__)
PRUNE_EVERY = 3600.0
REMIND_CHECK = 10.0  # seconds between looks for alerts due a reminder
SAMPLER_NICE = -5  # as root, when nobody set the daemon's niceness: see Sampler.run


class Sampler:
    """
    :param config: callable returning the current Config (it changes on reload).
    :param active_causes: causes that already have an open alert (loaded from the database).
    :param heartbeat: called after every pass of the loop (the daemon feeds systemd's
        watchdog with it), so a hung sample stops the heartbeat.
    :param heartbeat_every: seconds; long waits between samples are cut to this so the
        heartbeat keeps its pace whatever ``update_interval`` is (``None``: no limit).
    """

    def __init__(self, collector, config, shared, writer, broadcaster, system_name, version,
                 active_causes=(), monotonic=time.monotonic, heartbeat=None, heartbeat_every=None, max_users=50,
                 timeline=None, history=None, after_sample=None):
        self._collector = collector
        self._next = None  # (collector, retired) to switch to at the next tick
        self._config = config
        self._shared = shared
        self._writer = writer
        self._broadcaster = broadcaster
        self._system_name = system_name
        self._version = version
        self._active = set(active_causes)
        self._tracker = None
        self._monotonic = monotonic
        self._last_history = None
        self._history = HistoryWindow()  # every sample since the last history row
        self._last_prune = None
        self._last_reminders = None
        self._heartbeat = heartbeat or (lambda: None)
        self._heartbeat_every = heartbeat_every
        self.user_cpu = UserCounters(max_users)  # per-user CPU seconds for /metrics
        self._timeline = timeline  # the recent samples get_history serves (None: not kept)
        self._answer_history = history  # get_history's (request, now) -> data
        self._after_sample = after_sample or (lambda: None)  # e.g. hand freed heap back (app.trim_heap)
        self.durations = Histogram()     # how long reading each sample took, for /metrics
        self.last_sample = None      # monotonic time of the last good sample
        self.last_snapshot = None
        self.last_collect_ms = None
        self.errors = 0

    def use(self, collector, retired=lambda: None):
        """Sample from ``collector`` from the next tick on (the daemon applies a changed
        ``collector`` or ``exit_records`` this way): that tick takes its baseline, so the one
        after has rates; ``retired()`` is then called, once the old collector is out of use."""
        pending = self._next
        if pending is not None:  # one not used yet: retired with the one in use
            retired = _both(pending[1], retired)
        self._next = (collector, retired)

    def prime(self, stop):
        """Take the baseline sample, wait briefly, publish the first real State."""
        self._collector.sample()
        stop.wait(min(1.0, self._config().monitoring.update_interval))
        self.step()

    def step(self):
        if self._next is not None:
            (self._collector, retired), self._next = self._next, None
            retired()
            self._collector.sample()  # the new collector's baseline: rates from the next tick
            return
        config = self._config()
        snapshot = self._collector.sample()
        assessment, self._tracker = assess(snapshot, config, self._tracker, snapshot.time)
        users = tuple(visible_users(snapshot.users, config.filtering))
        if self._timeline is not None:  # before the State is seen: get_history has this sample
            system, kept = snapshot.system, figures.kept()
            self._timeline.add(snapshot.time, system.cpu_usage, system.memory_usage, system.load_avg[0],
                               system.network_rate, [(u.username,) + tuple(f.of(u) for f in kept) for u in users])
        state = State(snapshot, assessment, users, config, None, self._system_name, self._version,
                      history=self._answer_history)
        self.user_cpu.add(snapshot, users)  # before the State is seen: a scrape matches get_user_metrics
        self.durations.observe(snapshot.collect_seconds)
        self._shared.publish(state)  # readers get it with the current alert summary attached
        self._broadcaster.publish("system_update", protocol.system_update(state))
        to_open, to_resolve = diff(self._active, assessment.conditions)
        for condition in to_open:
            self._writer.open_alert(condition, state, cooldown=config.alerts.cooldown,
                                    details=culprits(snapshot, condition))
            self._active.add(condition.cause)
        if to_resolve:
            self._writer.resolve_causes(to_resolve)
            self._active.difference_update(to_resolve)
        now = self._monotonic()
        if config.alerts.renotify and (self._last_reminders is None or now - self._last_reminders >= REMIND_CHECK):
            self._writer.remind(config.alerts.renotify)
            self._last_reminders = now
        self._history.add(snapshot, assessment.status, users)
        if self._last_history is None or now - self._last_history >= config.monitoring.monitoring_interval:
            self._writer.record_history(*self._history.rows(snapshot.time))
            self._history = HistoryWindow()
            self._last_history = now
        if self._last_prune is None or now - self._last_prune >= PRUNE_EVERY:
            self._writer.prune(snapshot.time - config.monitoring.retain_days)
            self._last_prune = now
        self.last_sample = now
        self.last_snapshot = snapshot
        self.last_collect_ms = snapshot.collect_seconds * 1000.0

    def run(self, stop):
        """Sample every ``update_interval`` until ``stop`` is set; errors are logged, not fatal.

        Ticks are kept on a fixed schedule; a late tick is not made up by a burst.

        As root, and when the daemon runs at the default niceness, this thread alone runs at
        :data:`SAMPLER_NICE`: a sample reads /proc/stat, every process and the exit records at
        what must be one instant, and on a host busier than its cores the thread was held off
        for 100 ms and more in the middle of a scan (measured: a steady burner shown 1.2 points
        under, then over, its cgroup). It takes ~3 ms a sample; the rest keep their turn.
        """
        raise_priority()
        due = self._monotonic()
        while True:
            due = max(due + self._config().monitoring.update_interval, self._monotonic())
            if self._wait_until(due, stop):
                return
            try:
                self.step()
            except Exception:
                self.errors += 1
                log.exception("sampling failed")
            self._after_sample()
            self._heartbeat()

    def _wait_until(self, due, stop):
        """Wait for ``due`` (monotonic), beating the heart on the way; True if stopped."""
        while True:
            remaining = due - self._monotonic()
            if remaining <= 0:
                return stop.is_set()
            if self._heartbeat_every is not None and remaining > self._heartbeat_every:
                if stop.wait(self._heartbeat_every):
                    return True
                self._heartbeat()
            elif stop.wait(remaining):
                return True


def _both(first, second):
    def both():
        first()
        second()
    return both


def raise_priority(nice=SAMPLER_NICE):
    """Give the calling thread ``nice`` if we are root and it runs at 0 (an operator's own
    choice, such as systemd's ``Nice=``, is kept); True if it did."""
    if os.geteuid() != 0 or not hasattr(threading, "get_native_id"):
        return False
    thread = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, thread) != 0:
            return False
        os.setpriority(os.PRIO_PROCESS, thread, nice)
    except OSError:
        return False
    return True


def culprits(snapshot, condition, count=3):
    """``{"processes": [...], "ended": [...]}``: the top processes of the user an alert names
    first (a user's alert: that user; the machine's: its top user), and what their processes
    that ended in the window used (when the share comes from them), for the alert, its
    notices and ``sysmedic alerts``."""
    user = next((u for u in snapshot.users if u.username == condition.users[0]), None) if condition.users else None
    if user is None:
        return {"processes": []}
    found = {"processes": top_processes(snapshot, user.uid, count)}
    ended = ended_processes(snapshot, user.uid)
    if ended:
        found["ended"] = ended
    return found
