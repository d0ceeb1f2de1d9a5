"""Status labels and user filtering (docs/protocol-decisions.md, decision 5).

``Heavy Load``   system CPU > cpu_threshold, memory > memory_threshold, or any persistent user;
``Medium Usage`` CPU or memory > 75% of its threshold, or any user above their own threshold;
``Light Usage``  otherwise. "Above" is strict: a value exactly at a threshold is not above it.
"""

from .thresholds import USER_METRICS

HEAVY = "Heavy Load"
MEDIUM = "Medium Usage"
LIGHT = "Light Usage"
MEDIUM_FRACTION = 0.75


def over_limits(user, limits):
    """The names of the metrics (``"cpu"``, ``"memory"``) on which ``user`` is above ``limits``."""
    return [metric.name for metric in USER_METRICS if metric.above(user, limits)]


def classify(snapshot, config, persistent=()):
    """The status label of ``snapshot`` under ``config`` given the persistent users."""
    system, monitoring = snapshot.system, config.monitoring
    cpu = system.cpu_usage or 0.0
    memory = system.memory_usage
    if cpu > monitoring.cpu_threshold or memory > monitoring.memory_threshold or persistent:
        return HEAVY
    if (cpu > MEDIUM_FRACTION * monitoring.cpu_threshold
            or memory > MEDIUM_FRACTION * monitoring.memory_threshold):
        return MEDIUM
    excluded = set(config.filtering.excluded_users)
    for user in snapshot.users:
        if user.username not in excluded and over_limits(user, config.user_limits(user.username)):
            return MEDIUM
    return LIGHT


def visible_users(users, filtering):
    """The users to show, per the ``filtering`` settings (default: everyone with a process)."""
    shown = []
    excluded = set(filtering.excluded_users)
    for user in users:
        if user.username in excluded:
            continue
        if filtering.exclude_system_users and 0 < user.uid < 1000:
            continue
        cpu = user.cpu_percent or 0.0
        if (filtering.min_cpu_percent or filtering.min_memory_percent) and not (
                (filtering.min_cpu_percent and cpu >= filtering.min_cpu_percent)
                or (filtering.min_memory_percent and user.memory_percent >= filtering.min_memory_percent)):
            continue
        shown.append(user)
    return shown
