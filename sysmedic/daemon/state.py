"""What the daemon knows now: the records the sampler publishes and every reader shares.

Leaf module (records only, no I/O). The sampler builds one frozen :class:`State` per sample
and swaps it into :class:`Shared`; the storage writer swaps in a fresh :class:`AlertSummary`
when alerts change. Readers (WebSocket sessions, ``/health``, the control socket, the
broadcaster) copy the reference and never see a half-built value (docs/architecture.md).
The wire format is built from a State in one place: ``server/protocol.py``.
"""

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple

from ..analysis.assess import Assessment
from ..collect.records import Snapshot, UserUsage
from ..config import Config


@dataclass(frozen=True)
class AlertSummary:
    """What ``get_alerts`` answers: counts and the newest one-line descriptions."""
    unresolved: int
    total: int
    recent: Tuple[str, ...]    # newest first, at most 10
    open_by_severity: Tuple[Tuple[str, int], ...] = ()  # (severity, unresolved count)
    records: Tuple[dict, ...] = ()  # the same recent alerts in full (views.alert), newest first


@dataclass(frozen=True)
class State:
    """One sample with its analysis, as published by the sampler."""
    snapshot: Snapshot
    assessment: Assessment
    users: Tuple[UserUsage, ...]   # visible users (filtering applied), by CPU descending
    config: Config                 # the configuration the sample was judged with
    alerts: Optional[AlertSummary]  # attached by Shared.state() on read
    system_name: str               # PRETTY_NAME of /etc/os-release
    version: str                   # SysMedic's version
    history: Optional[Callable[[Any, float], dict]] = None  # get_history: (request, now) -> data


class Shared:
    """The latest State and alert summary; the lock guards reference swaps only
    (docs/architecture.md #4)."""

    def __init__(self, summary):
        self._lock = threading.Lock()
        self._state = None
        self._summary = summary

    def publish(self, state):
        with self._lock:
            self._state = state

    def set_summary(self, summary):
        with self._lock:
            self._summary = summary

    def state(self):
        """The latest State with the current AlertSummary attached (``None`` before the first)."""
        with self._lock:
            state, summary = self._state, self._summary
        if state is not None and state.alerts is not summary:
            state = dataclasses.replace(state, alerts=summary)
        return state
