"""Persistent users: above a threshold for ``persistent_time``, dips shorter than
``persistent_grace`` forgiven.

The tracker state is a plain mapping ``(username, metric) -> Run``: when the current run above
the threshold began, and when the user was last seen above it. :func:`track` returns the next
state; a run survives samples at or below the threshold until they have lasted
``persistent_grace`` (then it ends, and the clock restarts at the next sample above it), so
one low sample no longer resets a user who is loading the machine. While warming up (CPU
unknown) CPU runs are left as they are.
"""

from dataclasses import dataclass
from typing import NamedTuple

from ..formatting import pct, short_duration
from .thresholds import USER_METRICS


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


class Run(NamedTuple):
    since: float        # epoch seconds of the first sample above the threshold
    last_above: float   # epoch seconds of the latest sample above it


def track(state, users, config, now):
    """The next tracker state after a sample of ``users`` taken at ``now``."""
    excluded = set(config.filtering.excluded_users)
    grace = config.monitoring.persistent_grace
    seen = {}
    for user in users:
        if user.username in excluded:
            continue
        limits = config.user_limits(user.username)
        for metric in USER_METRICS:
            key = (user.username, metric.name)
            run = state.get(key)
            if metric.usage(user) is None:  # unknown (warming up): the run neither grows nor ends
                if run is not None:
                    seen[key] = run
            elif metric.above(user, limits):
                seen[key] = Run(run.since if run is not None else now, now)
            elif run is not None and now - run.last_above < grace:
                seen[key] = run  # a dip shorter than the grace: the run goes on
    return seen


def persistent_users(state, users, persistent_time, now):
    """The runs in ``state`` that have lasted at least ``persistent_time`` seconds at ``now``."""
    usage = {(user.username, metric.name): metric.usage(user) or 0.0
             for user in users for metric in USER_METRICS}
    found = [PersistentUser(name, metric, usage.get((name, metric), 0.0), run.since, now - run.since)
             for (name, metric), run in state.items() if now - run.since >= persistent_time]
    found.sort(key=lambda p: (-p.duration, -p.usage, p.username, p.metric))
    return found


def primary_cause(persistent):
    """The longest-running persistent user described, or ``""`` when there is none."""
    return persistent[0].describe() if persistent else ""
