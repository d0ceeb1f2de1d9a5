"""The storage writer: the only thread that writes SQLite (docs/architecture.md #8).

Other threads submit operations through a bounded :class:`~sysmedic.mailbox.Mailbox` and never
block: a full queue refuses the new operation, logs it and fails its Future. Every operation
returns a Future; those that need an answer (a resolve from the CLI) wait on it.
"""

import logging
import sys
from concurrent.futures import Future

from ..errors import SysMedicError
from ..mailbox import Mailbox, refuse_new
from ..storage import Storage
from .state import AlertSummary

log = logging.getLogger(__name__)
RECENT = 10


class StorageWriter:
    """Runs ``op(storage)`` callables in order on its own Storage connection.

    :param on_alert: called with ``(record, state)`` on the writer thread when an alert opens.
    :param on_summary: called with a fresh AlertSummary whenever alerts change.
    """

    def __init__(self, path, on_alert, on_summary, limit=1000):
        self.path = path
        self._queue = Mailbox(limit, refuse_new, on_drop=self._refused)
        self._on_alert = on_alert
        self._on_summary = on_summary

    @property
    def dropped(self):
        return self._queue.dropped

    @staticmethod
    def _refused(item):
        _op, future, what = item
        log.error("storage queue full: dropped %s", what)
        future.set_exception(RuntimeError("storage queue full"))

    def submit(self, op, what="operation"):
        """Queue ``op(storage)``; never blocks. Returns a Future of its result."""
        future = Future()
        self._queue.put((op, future, what))
        return future

    def run(self, stop):
        """Apply operations in order until :meth:`close` (it waits, never polls); a failed
        operation is logged with its traceback and the next one runs."""
        with Storage(self.path) as storage:
            self._queue.consume(lambda item: self._apply(storage, item), self._failed)

    @staticmethod
    def _apply(storage, item):
        op, future, what = item
        try:
            future.set_result(op(storage))
        except SysMedicError as err:  # e.g. an unknown alert id: the caller reports it
            future.set_exception(err)

    @staticmethod
    def _failed(item):
        _op, future, what = item
        log.exception("storage operation failed: %s", what)
        future.set_exception(sys.exc_info()[1])

    def close(self):
        """End after what is already queued; run() returns once all of it is written."""
        self._queue.close()

    # -- operations ---------------------------------------------------------------------------

    def open_alert(self, condition, state):
        def op(storage):
            record, created = storage.open_alert(condition, state.assessment.status, details={
                "primary_cause": state.assessment.primary_cause,
                "recommendations": list(state.assessment.recommendations)})
            if created:
                log.warning("alert %d opened: %s", record.id, record.message)
                # Summary first: a client that answers the broadcast with get_alerts must see it.
                self._on_summary(summary(storage))
                self._on_alert(record, state)
            return record
        return self.submit(op, "alert %s" % condition.cause)

    def resolve_causes(self, causes):
        def op(storage):
            count = storage.resolve_causes(causes)
            if count:
                log.info("auto-resolved: %s", ", ".join(causes))
                self._on_summary(summary(storage))
            return count
        return self.submit(op, "resolution of %s" % ", ".join(causes))

    def resolve(self, alert_id=None):
        def op(storage):
            result = storage.resolve_all() if alert_id is None else storage.resolve(alert_id)
            self._on_summary(summary(storage))
            return result
        return self.submit(op, "manual resolution")

    def record_history(self, snapshot, status, users):
        return self.submit(lambda storage: storage.record_history(snapshot, status, users), "history row")

    def prune(self, before):
        return self.submit(lambda storage: storage.prune(before), "prune")


def summary(storage):
    """The AlertSummary of ``storage`` now (for ``get_alerts``)."""
    unresolved, total = storage.alert_counts()
    recent = tuple(record.message for record in storage.alerts(limit=RECENT))
    return AlertSummary(unresolved, total, recent)
