"""The metrics a user can exceed: one :class:`UserMetric` for each figure of
:data:`sysmedic.figures.FIGURES` with a :class:`~sysmedic.figures.Threshold`.

Each says where a user's figure is, which threshold applies (a field of ``config.UserLimits``,
whose default is the ``user_<metric>_threshold`` monitoring option, both made from the same
rows), how people read it, and what to recommend. Status labels, persistence tracking, alert
conditions and recommendations all loop over :data:`USER_METRICS`.
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


USER_METRICS = tuple(UserMetric(figure.threshold.metric, figure.key, figure.threshold.limit, figure.threshold.label,
                                figure.unit, figure.threshold.advice) for figure in figures.judged())
BY_NAME = {metric.name: metric for metric in USER_METRICS}
