"""Persistent users: above a threshold continuously for ``persistent_time``.

The tracker state is a plain mapping ``(username, metric) -> since`` (epoch seconds of the
first sample of the current run above the threshold). :func:`track` returns the next state;
a sample at or below the threshold ends the run, so the clock restarts from the next sample
above it. While warming up (CPU unknown) CPU runs are left as they are.
"""

from dataclasses import dataclass

from ..formatting import pct, short_duration
from .metrics import USER_METRICS


@dataclass(frozen=True)
class PersistentUser:
    username: str
    metric: str        # a UserMetric name: "cpu" or "memory"
    usage: float       # current percent
    since: float       # epoch seconds
    duration: float    # seconds above the threshold so far

    def describe(self):
        """``user123 (cpu: 95.2% for 5m)`` (docs/protocol-decisions.md, decision 9)."""
        return "%s (%s: %.1f%% for %s)" % (self.username, self.metric, self.usage,
                                           short_duration(self.duration))

    def to_json(self):
        return {"username": self.username, "metric": self.metric, "usage": pct(self.usage),
                "duration": short_duration(self.duration)}


def track(state, users, config, now):
    """The next tracker state after a sample of ``users`` taken at ``now``."""
    excluded = set(config.filtering.excluded_users)
    seen = {}
    for user in users:
        if user.username in excluded:
            continue
        limits = config.user_limits(user.username)
        for metric in USER_METRICS:
            key = (user.username, metric.name)
            if metric.usage(user) is None:  # unknown (warming up): the run neither grows nor ends
                if key in state:
                    seen[key] = state[key]
            elif metric.above(user, limits):
                seen[key] = state.get(key, now)
    return seen


def persistent_users(state, users, persistent_time, now):
    """The runs in ``state`` that have lasted at least ``persistent_time`` seconds at ``now``."""
    usage = {(user.username, metric.name): metric.usage(user) or 0.0
             for user in users for metric in USER_METRICS}
    found = [PersistentUser(name, metric, usage.get((name, metric), 0.0), since, now - since)
             for (name, metric), since in state.items() if now - since >= persistent_time]
    found.sort(key=lambda p: (-p.duration, -p.usage, p.username, p.metric))
    return found


def primary_cause(persistent):
    """The longest-running persistent user described, or ``""`` when there is none."""
    return persistent[0].describe() if persistent else ""
