"""The storage writer: the only thread that writes SQLite (STYLE.md 8).

Other threads submit operations through a bounded queue and never block: a full queue drops
the operation and logs it (history first; it is the only thing submitted often). Operations
that need an answer (a resolve from the CLI) return a Future.
"""

import logging
import queue
from concurrent.futures import Future

from ..errors import SysMedicError
from ..storage import Storage
from ..server.protocol import AlertSummary

log = logging.getLogger(__name__)
RECENT = 10


class StorageWriter:
    """Runs ``op(storage)`` callables in order on its own Storage connection.

    :param on_alert: called with ``(record, state)`` on the writer thread when an alert opens.
    :param on_summary: called with a fresh AlertSummary whenever alerts change.
    """

    def __init__(self, path, on_alert, on_summary, limit=1000):
        self.path = path
        self._queue = queue.Queue(limit)
        self._on_alert = on_alert
        self._on_summary = on_summary
        self.dropped = 0

    def submit(self, op, what="operation"):
        future = Future()
        try:
            self._queue.put_nowait((op, future))
        except queue.Full:
            self.dropped += 1
            log.error("storage queue full: dropped %s", what)
            future.set_exception(RuntimeError("storage queue full"))
        return future

    def run(self, stop):
        """Apply operations in order until :meth:`close` queues the end (it waits, never polls)."""
        with Storage(self.path) as storage:
            while True:
                op, future = self._queue.get()
                if op is None:
                    return
                try:
                    future.set_result(op(storage))
                except SysMedicError as err:  # e.g. an unknown alert id: the caller reports it
                    future.set_exception(err)
                except Exception as err:
                    log.exception("storage operation failed")
                    future.set_exception(err)

    def close(self, timeout=5.0):
        """Queue the end after what is already queued; run() returns once all of it is written."""
        try:
            self._queue.put((None, None), timeout=timeout)
        except queue.Full:
            log.error("storage queue still full at shutdown")

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
