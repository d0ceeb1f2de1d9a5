"""The metrics a user can exceed, declared once (stdlib-only leaf module).

Each :class:`UserMetric` says where a user's figure is (a field of ``UserUsage``), which
threshold applies (a field of ``config.UserLimits``, whose default is the ``user_<name>_threshold``
monitoring option), how people read it, and what to recommend. Status labels, persistence
tracking, alert conditions and recommendations all loop over :data:`USER_METRICS`; adding a
metric is one entry here plus the figure (collector, ``UserUsage``) and its threshold option.
"""

from dataclasses import dataclass
from typing import Optional

from .. import figures


_FIGURE = {}  # usage_field -> its Figure


@dataclass(frozen=True)
class UserMetric:
    name: str               # in alert causes (``user:<name>:cpu``) and the protocol (``metric``)
    usage_field: str        # the key of its figure (sysmedic.figures; percent of the machine)
    threshold_key: str      # the UserLimits field holding the user's threshold (percent)
    label: str              # for people: "CPU"
    unit: str               # "%"
    advice: str             # recommendation; fields: user, usage, duration, label, unit

    def usage(self, user) -> Optional[float]:
        """The user's figure, or ``None`` while it is unknown (CPU while warming up)."""
        figure = _FIGURE.get(self.usage_field)
        if figure is None:  # once: the table is complete when the first sample is judged
            figure = _FIGURE[self.usage_field] = figures.by_key()[self.usage_field]
        return figure.of(user)

    def limit(self, limits) -> int:
        return getattr(limits, self.threshold_key)

    def above(self, user, limits) -> bool:
        """Strictly above the threshold ("above" excludes equal, decision 5)."""
        value = self.usage(user)
        return value is not None and value > self.limit(limits)

    def recommend(self, user, usage, duration):
        return self.advice.format(user=user, usage=usage, duration=duration, label=self.label, unit=self.unit)


CPU = UserMetric(
    "cpu", "cpu_percent", "cpu_threshold", "CPU", "%",
    "Check {user}'s processes: {label} at {usage:.1f}{unit} of the machine for {duration} "
    "(ps -u {user} -o pid,pcpu,etime,cmd --sort=-pcpu)")
MEMORY = UserMetric(
    "memory", "memory_percent", "memory_threshold", "memory", "%",
    "Check {user}'s memory: {usage:.1f}{unit} of RAM for {duration} (ps -u {user} -o pid,rss,cmd --sort=-rss)")

USER_METRICS = (CPU, MEMORY)
BY_NAME = {metric.name: metric for metric in USER_METRICS}
