"""When a machine-wide alert opens and when it resolves: debounce and hysteresis.

The status label follows the spec's instantaneous rule; an alert does not. A system cause
(``system:cpu``, ``system:memory``) opens only after the figure has stayed above its threshold
for ``alert_after`` seconds, and an open one resolves only after the figure has stayed below
``threshold - clear_margin`` for ``clear_after`` seconds; in between (the hysteresis band) it
stays as it is. So a 5 s spike opens nothing, and a load hovering at the threshold opens one
alert instead of one a minute (README, "Alerts").

A :class:`Gate` per cause is all the state: whether it is open, and since when the figure has
been on the other side (``None`` while it is on the same side).
"""

from typing import NamedTuple, Optional


class Gate(NamedTuple):
    open: bool = False
    since: Optional[float] = None   # epoch seconds the figure crossed to the other side


def step(gate, value, threshold, now, monitoring):
    """The next Gate after a sample of ``value`` (percent; ``None`` while warming up: nothing
    changes) at ``now``. "Above" is strict, as for the status label."""
    if value is None:
        return gate
    if not gate.open:
        if value <= threshold:
            return Gate(False, None)
        since = now if gate.since is None else gate.since
        return Gate(True, None) if now - since >= monitoring.alert_after else Gate(False, since)
    if value >= threshold - monitoring.clear_margin:
        return Gate(True, None)
    since = now if gate.since is None else gate.since
    return Gate(False, None) if now - since >= monitoring.clear_after else Gate(True, since)
