"""The storage writer: the only thread that writes SQLite (docs/architecture.md #8).

Other threads submit operations through a bounded :class:`~sysmedic.mailbox.Mailbox` and never
block: a full queue refuses the new operation, logs it and fails its Future. Every operation
returns a Future; those that need an answer (a resolve from the CLI) wait on it.

Storage is not the gate (issue 13, Medium 6). When the database cannot be written (a full
disk, a read-only file, an I/O error), an opening alert is still broadcast and sent, marked
as not stored; the sampler's writes (alerts, resolutions, history) are kept in order, at most
:data:`KEEP_LIMIT`, and retried every :data:`RETRY_EVERY` seconds until they are stored; a
manual resolve fails at once with the reason. The log gets one line when writes start failing
and one when they are stored again, and ``/health`` says ``degraded`` in between.
"""

import logging
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

from .. import needs, views
from ..errors import StorageError, SysMedicError
from ..mailbox import CLOSED, TIMEOUT, Mailbox, refuse_new
from ..storage import AlertRecord, Storage, storage_fault
from .state import AlertSummary

log = logging.getLogger(__name__)
RECENT = 10
RETRY_EVERY = 5.0
KEEP_LIMIT = 1000


@dataclass
class Operation:
    """``op(storage)``; ``keep``: retried until stored when the database fails (the sampler's
    writes); ``unstored``: run once instead when it cannot be stored now (announce an alert)."""
    op: Callable[[Any], Any]
    future: Future
    what: str
    keep: bool = False
    unstored: Optional[Callable[[], Any]] = None


class StorageWriter:
    """Runs ``op(storage)`` callables in order on its own Storage connection.

    :param on_alert: called with ``(record, state)`` on the writer thread when an alert opens
        (``record.id`` is ``None`` when it could not be stored); not when one re-opens within
        the cooldown (it continues the old alert: nothing new is sent).
    :param on_summary: called with a fresh AlertSummary whenever alerts change.
    :param on_notice: called with ``(event, record)`` for ``"resolve"`` and ``"reminder"`` events.
    :param summary: the AlertSummary at start (adjusted while the database cannot be written).
    """

    def __init__(self, path, on_alert, on_summary, limit=1000, summary=None, clock=time.time, on_notice=None):
        self.path = path  # None: no database (Python without sqlite3); alerts still go out
        self._queue = Mailbox(limit, refuse_new, on_drop=self._refused)
        self._on_alert = on_alert
        self._on_notice = on_notice or (lambda event, record: None)
        self._on_summary = on_summary
        self._summary = summary or AlertSummary(0, 0, ())
        self._clock = clock
        self._kept = deque()
        self.kept_dropped = 0
        self.failure = None  # (reason, since epoch seconds) while writes fail

    @property
    def dropped(self):
        return self._queue.dropped + self.kept_dropped

    @property
    def waiting(self):
        """Writes kept for a retry."""
        return len(self._kept)

    def problem(self):
        """A sentence for ``/health`` while the database cannot be written, else None."""
        failure = self.failure
        if failure is None:
            return None
        return "storage failing since %s: %s (%d writes kept, retried every %gs)" % (
            time.strftime("%H:%M:%S", time.localtime(failure[1])), failure[0], len(self._kept), RETRY_EVERY)

    @staticmethod
    def _refused(item):
        log.error("storage queue full: dropped %s", item.what)
        item.future.set_exception(RuntimeError("storage queue full"))

    def submit(self, op, what="operation", keep=False, unstored=None):
        """Queue ``op(storage)``; never blocks. Returns a Future of its result."""
        future = Future()
        self._queue.put(Operation(op, future, what, keep, unstored))
        return future

    def run(self, stop):
        """Apply operations in order until :meth:`close` (it waits, and only wakes on a timer
        while the database cannot be written)."""
        storage = None
        try:
            while True:
                item = self._queue.get(timeout=RETRY_EVERY if self.failure is not None else None)
                if storage is None:
                    storage = self._open()
                if self.failure is not None and storage is not None:
                    self._recover(storage)
                if item is CLOSED:
                    break
                if item is not TIMEOUT:
                    self._handle(storage, item)
        finally:
            if self._kept:
                log.error("storage: %d writes could not be stored before the daemon stopped", len(self._kept))
            if storage is not None:
                storage.close()

    def _open(self):
        if self.path is None:
            return None
        try:
            storage = Storage(self.path)
        except StorageError as err:
            self._failing(err)
            return None
        try:
            storage.check_writable()
        except Exception as err:
            if not storage_fault(err):
                raise
            self._failing(err)
        return storage

    def _handle(self, storage, item):
        if self.path is None:  # nothing can be stored: what must be announced still is
            if item.unstored is not None:
                item.unstored()
            item.future.set_exception(StorageError(needs.optional_line("sqlite3")))
            return
        if self.failure is not None:  # still failing: keep the order behind what is kept
            self._fault(item, None)
            return
        try:
            item.future.set_result(item.op(storage))
        except Exception as err:
            if storage_fault(err):
                self._fault(item, err)
            elif isinstance(err, SysMedicError):  # e.g. an unknown alert id: the caller reports it
                item.future.set_exception(err)
            else:
                log.exception("storage operation failed: %s", item.what)
                item.future.set_exception(err)

    def _fault(self, item, err):
        """``item`` cannot be stored now: keep it (and announce it) or fail it with the reason."""
        if err is not None:
            self._failing(err)
        if not item.keep:
            item.future.set_exception(StorageError("cannot write the database: %s" % self.failure[0]))
            return
        if item.unstored is not None:
            item.unstored()
            item.unstored = None
        if len(self._kept) >= KEEP_LIMIT:
            oldest = self._kept.popleft()
            oldest.future.set_exception(StorageError("dropped while the database could not be written"))
            self.kept_dropped += 1
        self._kept.append(item)

    def _failing(self, err):
        if self.failure is None:
            reason = str(err).split(": ", 1)[-1] if isinstance(err, StorageError) else str(err)
            self.failure = (reason, self._clock())
            log.error("storage failing: %s: %s; alerts are still broadcast and sent, writes are kept "
                      "and retried every %gs", self.path, reason, RETRY_EVERY)

    def _recover(self, storage):
        """Store kept writes, oldest first, until one fails again; when all are stored (or none
        was kept and a probe write works), the failure is over."""
        stored = 0
        while self._kept:
            item = self._kept[0]
            try:
                result = item.op(storage)
            except Exception as err:
                if storage_fault(err):
                    return
                log.exception("storage operation failed: %s", item.what)
                self._kept.popleft()
                item.future.set_exception(err)
                continue
            self._kept.popleft()
            item.future.set_result(result)
            stored += 1
        if not stored:
            try:
                storage.check_writable()
            except Exception as err:
                if storage_fault(err):
                    return
                raise
        log.info("storage recovered: %d kept writes stored", stored)
        self.failure = None
        self._set_summary(summary(storage))

    def close(self):
        """End after what is already queued; run() returns once all of it is handled."""
        self._queue.close()

    def _set_summary(self, value):
        self._summary = value
        self._on_summary(value)

    # -- operations ---------------------------------------------------------------------------

    def open_alert(self, condition, state, cooldown=0.0, details=None):
        """Store an alert that opened now: with this time, however late a full disk lets it be
        written (issue 21: it was stored with the retry's time)."""
        opened = self._clock()

        def op(storage):
            record, how = storage.open_alert(condition, state.assessment.status, details=details, now=opened,
                                             cooldown=cooldown)
            if how == "created" and not announced:
                log.warning("alert %d opened: %s", record.id, record.message)
                # Summary first: a client that answers the broadcast with get_alerts must see it.
                self._set_summary(summary(storage))
                self._on_alert(record, state)
            elif how == "reopened":
                log.warning("alert %d re-opened (%d times; within the cooldown, not sent again): %s",
                            record.id, record.reopen_count, record.message)
                self._set_summary(summary(storage))
            elif announced:
                log.info("alert %d stored: %s", record.id, record.message)
            return record

        def unstored():
            announced.append(True)
            record = AlertRecord(None, opened, condition.severity, state.assessment.status, condition.cause,
                                 condition.message, tuple(condition.users), details, None, None, opened)
            log.warning("alert opened (not stored): %s", record.message)
            old = self._summary
            self._set_summary(AlertSummary(old.unresolved + 1, old.total + 1, ((record.message,) + old.recent)[:RECENT],
                                           old.open_by_severity, ((views.alert(record),) + old.records)[:RECENT]))
            self._on_alert(record, state)
        announced = []
        details = dict(details or {}, primary_cause=state.assessment.primary_cause,
                       recommendations=list(state.assessment.recommendations))
        return self.submit(op, "alert %s" % condition.cause, keep=True, unstored=unstored)

    def resolve_causes(self, causes):
        resolved_at = self._clock()

        def op(storage):
            resolved = storage.resolve_causes(causes, now=resolved_at)
            if resolved:
                log.info("auto-resolved: %s", ", ".join(causes))
                self._set_summary(summary(storage))
            for record in resolved:
                self._on_notice("resolve", record)
            return len(resolved)

        def unstored():
            old = self._summary
            self._set_summary(replace(old, unresolved=max(0, old.unresolved - len(causes))))
        return self.submit(op, "resolution of %s" % ", ".join(causes), keep=True, unstored=unstored)

    def resolve(self, alert_id=None):
        """Resolve one alert (or all of them) by hand: the number resolved (all), or whether it
        was open (one)."""
        def op(storage):
            resolved = storage.resolve_all() if alert_id is None else storage.resolve(alert_id)
            self._set_summary(summary(storage))
            for record in resolved:
                self._on_notice("resolve", record)
            return len(resolved) if alert_id is None else bool(resolved)
        return self.submit(op, "manual resolution")

    def notified(self, alert_id):
        """Remember that a notifier was told of ``alert_id`` now (reminders count from it)."""
        return self.submit(lambda storage: storage.mark_notified(alert_id, self._clock()), "notified %s" % alert_id)

    def remind(self, every):
        """Send a reminder for each alert open and untold for ``every`` seconds."""
        def op(storage):
            due = storage.due_reminders(every, self._clock())
            for record in due:
                storage.mark_notified(record.id, self._clock())
                self._on_notice("reminder", record)
            return len(due)
        return self.submit(op, "reminders")

    def record_history(self, system, users):
        """Store one history interval (:meth:`HistoryWindow.rows <sysmedic.history.rollup.HistoryWindow.rows>`)."""
        return self.submit(lambda storage: storage.record_interval(system, users), "history row", keep=True)

    def prune(self, before):
        return self.submit(lambda storage: storage.prune(before), "prune")


def summary(storage):
    """The AlertSummary of ``storage`` now (for ``get_alerts``)."""
    unresolved, total = storage.alert_counts()
    records = storage.alerts(limit=RECENT)
    return AlertSummary(unresolved, total, tuple(record.message for record in records), storage.open_by_severity(),
                        tuple(views.alert(record) for record in records))
