"""One step of analysis per Snapshot: status, persistent users, alert conditions, advice."""

from dataclasses import dataclass, field
from typing import Dict, Tuple

from .alerts import Condition, conditions, recommendations
from .debounce import Gate, step
from .persistence import PersistentUser, persistent_users, primary_cause, track
from .status import classify


@dataclass(frozen=True)
class Assessment:
    status: str
    persistent: Tuple[PersistentUser, ...]
    conditions: Dict[str, Condition]
    primary_cause: str
    recommendations: Tuple[str, ...]


@dataclass(frozen=True)
class Tracking:
    """What analysis carries from one sample to the next: users' runs above their thresholds
    (:func:`~.persistence.track`) and the system causes' gates (:mod:`.debounce`)."""
    runs: dict = field(default_factory=dict)
    gates: dict = field(default_factory=dict)


def assess(snapshot, config, state, now):
    """``(Assessment, next_state)`` for ``snapshot``; ``state`` is a :class:`Tracking` (or None)."""
    state = state or Tracking()
    runs = track(state.runs, snapshot.users, config, now)
    persistent = persistent_users(runs, snapshot.users, config.monitoring.persistent_time, now)
    system, monitoring = snapshot.system, config.monitoring
    gates = {
        "system:cpu": step(state.gates.get("system:cpu", Gate()), system.cpu_usage,
                           monitoring.cpu_threshold, now, monitoring),
        "system:memory": step(state.gates.get("system:memory", Gate()), system.memory_usage,
                              monitoring.memory_threshold, now, monitoring),
    }
    assessment = Assessment(
        status=classify(snapshot, config, persistent),
        persistent=tuple(persistent),
        conditions=conditions(snapshot, config, persistent, gates),
        primary_cause=primary_cause(persistent),
        recommendations=tuple(recommendations(snapshot, config, persistent)))
    return assessment, Tracking(runs, gates)
