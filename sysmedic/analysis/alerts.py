"""Alert conditions and their transitions.

A *condition* is a cause that should have an open alert while it lasts:

- ``system:cpu`` / ``system:memory``: the machine has been above its threshold for
  ``alert_after`` and not yet below ``threshold - clear_margin`` for ``clear_after``
  (:mod:`.debounce`: its gate is open);
- ``user:<name>:cpu`` / ``user:<name>:memory``: a user is persistent (above their threshold for
  ``persistent_time``, dips shorter than ``persistent_grace`` forgiven).

The status label is instantaneous and can say Heavy Load for a spike that opens nothing; one
cause never has two open alerts. :func:`diff` compares the causes that have open alerts with
the conditions now and says which to open and which to auto-resolve.
"""

from dataclasses import dataclass
from typing import Tuple

from ..formatting import short_duration
from .debounce import Gate
from .thresholds import BY_NAME

CLOSED = Gate()


@dataclass(frozen=True)
class Condition:
    cause: str
    severity: str              # "critical" for the machine, "warning" for one user
    message: str               # one line
    users: Tuple[str, ...]     # the users involved


def conditions(snapshot, config, persistent, gates):
    """cause -> :class:`Condition` for everything wrong in ``snapshot``; ``gates``: cause ->
    :class:`~.debounce.Gate` of the system causes."""
    found = {}
    system, monitoring = snapshot.system, config.monitoring
    top = ", ".join("%s %.1f%%" % (u.username, u.cpu_percent or 0.0) for u in snapshot.users[:3])
    if gates.get("system:cpu", CLOSED).open:
        found["system:cpu"] = Condition(
            "system:cpu", "critical",
            "High CPU usage: %.1f%% (threshold %d%%); top users: %s"
            % (system.cpu_usage or 0.0, monitoring.cpu_threshold, top),
            tuple(u.username for u in snapshot.users[:3]))
    if gates.get("system:memory", CLOSED).open:
        by_memory = sorted(snapshot.users, key=lambda u: -u.memory_percent)[:3]
        found["system:memory"] = Condition(
            "system:memory", "critical",
            "High memory usage: %.1f%% (threshold %d%%); top users: %s"
            % (system.memory_usage, monitoring.memory_threshold,
               ", ".join("%s %.1f%%" % (u.username, u.memory_percent) for u in by_memory)),
            tuple(u.username for u in by_memory))
    for user in persistent:
        cause = "user:%s:%s" % (user.username, user.metric)
        metric = BY_NAME[user.metric]
        limit = metric.limit(config.user_limits(user.username))
        found[cause] = Condition(
            cause, "warning",
            "Persistent %s usage by %s: %.1f%s for %s (threshold %d%s)"
            % (metric.name, user.username, user.usage, metric.unit, short_duration(user.duration),
               limit, metric.unit),
            (user.username,))
    return found


def diff(open_causes, current):
    """``(to_open, to_resolve)``: Conditions without an open alert, open causes now clear."""
    to_open = [cond for cause, cond in sorted(current.items()) if cause not in open_causes]
    to_resolve = sorted(cause for cause in open_causes if cause not in current)
    return to_open, to_resolve


def recommendations(snapshot, config, persistent):
    """Actionable one-liners naming the user and the metric."""
    advice = []
    for user in persistent:
        metric = BY_NAME[user.metric]
        advice.append(metric.recommend(user.username, user.usage, short_duration(user.duration)))
    system, monitoring = snapshot.system, config.monitoring
    if system.cpu_usage is not None and system.cpu_usage > monitoring.cpu_threshold and snapshot.users:
        top = snapshot.users[0]
        advice.append("System CPU %.1f%% exceeds %d%%: largest consumer is %s (cpu %.1f%%)"
                      % (system.cpu_usage, monitoring.cpu_threshold, top.username, top.cpu_percent or 0.0))
    if system.memory_usage > monitoring.memory_threshold and snapshot.users:
        top = max(snapshot.users, key=lambda u: u.memory_percent)
        advice.append("System memory %.1f%% exceeds %d%%: largest consumer is %s (memory %.1f%%)"
                      % (system.memory_usage, monitoring.memory_threshold, top.username, top.memory_percent))
    return advice
