"""One step of analysis per Snapshot: status, persistent users, alert conditions, advice."""

from dataclasses import dataclass
from typing import Dict, Tuple

from .alerts import Condition, conditions, recommendations
from .persistence import PersistentUser, persistent_users, primary_cause, track
from .status import classify


@dataclass(frozen=True)
class Assessment:
    status: str
    persistent: Tuple[PersistentUser, ...]
    conditions: Dict[str, Condition]
    primary_cause: str
    recommendations: Tuple[str, ...]


def assess(snapshot, config, state, now):
    """``(Assessment, next_state)`` for ``snapshot``; ``state`` is the persistence tracker's."""
    state = track(state, snapshot.users, config, now)
    persistent = persistent_users(state, snapshot.users, config.monitoring.persistent_time, now)
    assessment = Assessment(
        status=classify(snapshot, config, persistent),
        persistent=tuple(persistent),
        conditions=conditions(snapshot, config, persistent),
        primary_cause=primary_cause(persistent),
        recommendations=tuple(recommendations(snapshot, config, persistent)))
    return assessment, state
