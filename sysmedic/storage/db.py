"""The SQLite alert and history store.

Design (docs/architecture.md): WAL journal, ``BEGIN IMMEDIATE`` for writes, a busy timeout of 5 s, short
read transactions, one connection per thread (a :class:`Storage` belongs to the thread that
made it). In the daemon one writer thread owns the writing Storage.

The schema is versioned with ``PRAGMA user_version``; :data:`MIGRATIONS` maps each version to
the SQL resource that brings the previous one to it, so later releases add a file and a line.
"""

import functools
import json
import os
try:
    import sqlite3
except ImportError:  # optional (sysmedic.needs): the daemon runs without a database, the commands say so
    sqlite3 = None
import time
from dataclasses import dataclass
from typing import Optional, Tuple

from .. import figures, needs
from ..errors import NotFound, StorageError
from ..home import not_a_link, open_in_home
from ..resources import read_text

DATABASE_FILE = "sysmedic.db"
MAX_ALERT_ID = (1 << 63) - 1  # SQLite's largest rowid: a larger id cannot exist (nor be bound)
MIGRATIONS = {1: "schema_v1.sql", 2: "schema_v2.sql", 3: "schema_v3.sql", 4: "schema_v4.sql"}
SCHEMA_VERSION = max(MIGRATIONS)


CORRUPT_HINT = "the database is corrupt; the daemon sets it aside and starts a fresh one at its next start"


def _faults(err):
    """SQLite errors that say the database cannot be used now (full disk, read-only file, I/O
    error, lock, corruption), as opposed to a bug in a statement (IntegrityError and the like)."""
    return isinstance(err, sqlite3.OperationalError) or type(err) is sqlite3.DatabaseError


def require_sqlite(path):
    """:raises StorageError: this Python has no sqlite3 module (one line saying so)."""
    if sqlite3 is None:
        raise StorageError("%s: cannot be read or written: %s" % (path, needs.absent("sqlite3")))


def refuse_links(path):
    """SQLite follows links for the database and its -wal/-shm journal: a planted one is an
    error instead (SysMedicError naming it)."""
    for name in (path, path + "-wal", path + "-shm"):
        not_a_link(name)


def storage_fault(err):
    """True when ``err`` says the database cannot be written now, as opposed to a bug."""
    return isinstance(err, StorageError) or _faults(err)


def _reported(method):
    """A Storage method whose database faults are one-line StorageErrors naming the file."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as err:
            if not _faults(err):
                raise
            raise StorageError(describe(self.path, err)) from None
    return wrapper


def describe(path, err):
    text = "%s: %s" % (path, err)
    if type(err) is sqlite3.DatabaseError:  # SQLITE_CORRUPT, SQLITE_NOTADB
        text += " (%s)" % CORRUPT_HINT
    return text


def set_aside_if_corrupt(path, clock=time.time):
    """``PRAGMA quick_check`` the database at ``path``; a corrupt one (and its journal) is
    renamed ``sysmedic.db.corrupt-<UTC time>`` so a fresh one can start. Returns
    ``(new name, reason)`` or ``None`` when the database is sound or absent. A database that
    is merely busy or unreadable is left alone (that is not corruption)."""
    if not os.path.exists(path):
        return None
    try:
        refuse_links(path)
        db = sqlite3.connect(path, timeout=5.0)
        try:
            rows = db.execute("PRAGMA quick_check").fetchall()
        finally:
            db.close()
        if rows == [("ok",)]:
            return None
        reason = "; ".join(str(row[0]) for row in rows[:3])
    except OSError:
        return None
    except sqlite3.DatabaseError as err:
        if isinstance(err, sqlite3.OperationalError):
            return None
        reason = str(err)
    aside = "%s.corrupt-%s" % (path, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(clock())))
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.rename(path + suffix, aside + suffix)
    return aside, reason


def database_path(home):
    return os.path.join(home, DATABASE_FILE)


@dataclass(frozen=True)
class AlertRecord:
    id: int
    created_at: float
    severity: str
    status: str
    cause: str
    message: str
    users: Tuple[str, ...]
    details: dict
    resolved_at: Optional[float]
    resolved_by: Optional[str]
    opened_at: Optional[float] = None    # the latest opening (created_at is the first)
    reopen_count: int = 0                # times it came back within the cooldown
    notified_at: Optional[float] = None  # when a notifier was last told of it

    @property
    def resolved(self):
        return self.resolved_at is not None


def _alert(row):
    return AlertRecord(row[0], row[1], row[2], row[3], row[4], row[5], tuple(json.loads(row[6])),
                       json.loads(row[7]), row[8], row[9], row[10], row[11], row[12])


_ALERT_COLUMNS = ("id, created_at, severity, status, cause, message, users, details, resolved_at, resolved_by,"
                  " opened_at, reopen_count, notified_at")


class Storage:
    """One connection to the database at ``path``, creating and migrating it as needed.

    :param path: the database file; created 0600 (SQLite gives its -wal/-shm files the same mode).
    :param clock: epoch seconds, for resolution times.
    """

    def __init__(self, path, clock=time.time, busy_timeout=5.0):
        self.path = path
        self._clock = clock
        require_sqlite(path)
        try:
            refuse_links(path)
            if not os.path.exists(path):
                os.close(open_in_home(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            self._db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as err:
            raise StorageError(describe(path, err))
        except OSError as err:
            raise StorageError("%s: cannot open: %s" % (path, err.strerror))

    def close(self):
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _write(self, statements):
        """Run ``statements(cursor)`` in one ``BEGIN IMMEDIATE`` transaction."""
        cursor = self._db.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            result = statements(cursor)
            cursor.execute("COMMIT")
            return result
        except BaseException:
            if self._db.in_transaction:
                cursor.execute("ROLLBACK")
            raise

    def _migrate(self):
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StorageError("%s: schema version %d is newer than this SysMedic understands (%d)"
                               % (self.path, version, SCHEMA_VERSION))
        for target in range(version + 1, SCHEMA_VERSION + 1):
            script = read_text(__package__, MIGRATIONS[target])

            def apply(cursor, script=script, target=target):
                for statement in script.split(";"):
                    if statement.strip():
                        cursor.execute(statement)
                cursor.execute("PRAGMA user_version=%d" % target)
            self._write(apply)

    @_reported
    def check_writable(self):
        """Write the schema version back (a page in the journal): raises when the database
        cannot be written (read-only file, full disk, I/O error)."""
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        self._write(lambda cursor: cursor.execute("PRAGMA user_version=%d" % version))

    # -- alerts ----------------------------------------------------------------------------------

    @_reported
    def open_alert(self, condition, status, details=None, now=None, cooldown=0.0):
        """Open an alert for ``condition`` unless its cause already has an open one; one of the
        cause resolved less than ``cooldown`` seconds ago is re-opened instead (same id, its
        ``reopen_count`` one higher).

        :returns: ``(record, how)``: ``how`` is ``"created"``, ``"reopened"`` or ``"open"``
            (it already was).
        """
        now = self._clock() if now is None else now

        def insert(cursor):
            select = "SELECT %s FROM alerts WHERE cause = ? " % _ALERT_COLUMNS
            row = cursor.execute(select + "AND resolved_at IS NULL", (condition.cause,)).fetchone()
            if row is not None:
                return _alert(row), "open"
            if cooldown > 0:
                row = cursor.execute(select + "AND resolved_at >= ? ORDER BY resolved_at DESC, id DESC LIMIT 1",
                                     (condition.cause, now - cooldown)).fetchone()
                if row is not None:
                    cursor.execute("UPDATE alerts SET resolved_at = NULL, resolved_by = NULL, opened_at = ?,"
                                   " reopen_count = reopen_count + 1 WHERE id = ?", (now, row[0]))
                    return self._one(cursor, row[0]), "reopened"
            cursor.execute(
                "INSERT INTO alerts (created_at, severity, status, cause, message, users, details, opened_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (now, condition.severity, status, condition.cause, condition.message,
                 json.dumps(list(condition.users)), json.dumps(details or {}), now))
            return self._one(cursor, cursor.lastrowid), "created"
        return self._write(insert)

    @staticmethod
    def _one(cursor, alert_id):
        return _alert(cursor.execute("SELECT %s FROM alerts WHERE id = ?" % _ALERT_COLUMNS, (alert_id,)).fetchone())

    @_reported
    def resolve_causes(self, causes, now=None):
        """Auto-resolve the open alerts of ``causes``; returns the resolved AlertRecords."""
        now = self._clock() if now is None else now

        def update(cursor):
            resolved = []
            for cause in causes:
                row = cursor.execute("SELECT id FROM alerts WHERE cause = ? AND resolved_at IS NULL", (cause,)).fetchone()
                if row is not None:
                    cursor.execute("UPDATE alerts SET resolved_at = ?, resolved_by = 'auto' WHERE id = ?", (now, row[0]))
                    resolved.append(self._one(cursor, row[0]))
            return resolved
        return self._write(update)

    @_reported
    def mark_notified(self, alert_id, now=None):
        now = self._clock() if now is None else now
        self._write(lambda cursor: cursor.execute("UPDATE alerts SET notified_at = ? WHERE id = ?", (now, alert_id)))

    @_reported
    def due_reminders(self, every, now=None):
        """Open alerts last notified ``every`` seconds ago or more."""
        now = self._clock() if now is None else now
        return [_alert(row) for row in self._db.execute(
            "SELECT %s FROM alerts WHERE resolved_at IS NULL AND COALESCE(notified_at, opened_at, created_at) <= ?"
            " ORDER BY id" % _ALERT_COLUMNS, (now - every,))]

    @_reported
    def resolve(self, alert_id, now=None):
        """Resolve one alert by hand. :raises NotFound: for an unknown id. Returns the resolved
        AlertRecords (none if it was resolved already)."""
        now = self._clock() if now is None else now

        def update(cursor):
            if cursor.execute("SELECT 1 FROM alerts WHERE id = ?", (alert_id,)).fetchone() is None:
                raise NotFound("alert %s does not exist" % alert_id)
            if cursor.execute("UPDATE alerts SET resolved_at = ?, resolved_by = 'manual'"
                              " WHERE id = ? AND resolved_at IS NULL", (now, alert_id)).rowcount != 1:
                return []
            return [self._one(cursor, alert_id)]
        return self._write(update)

    @_reported
    def resolve_all(self, now=None):
        """Resolve every open alert by hand; returns the resolved AlertRecords."""
        now = self._clock() if now is None else now

        def update(cursor):
            ids = [row[0] for row in cursor.execute("SELECT id FROM alerts WHERE resolved_at IS NULL")]
            cursor.execute("UPDATE alerts SET resolved_at = ?, resolved_by = 'manual' WHERE resolved_at IS NULL", (now,))
            return [self._one(cursor, alert_id) for alert_id in ids]
        return self._write(update)

    @_reported
    def alerts(self, unresolved=False, since=None, limit=None):
        """Alerts, newest first."""
        query = "SELECT %s FROM alerts WHERE 1=1" % _ALERT_COLUMNS
        args = []
        if unresolved:
            query += " AND resolved_at IS NULL"
        if since is not None:
            query += " AND created_at >= ?"
            args.append(since)
        query += " ORDER BY created_at DESC, id DESC"
        if limit is not None:
            query += " LIMIT ?"
            args.append(int(limit))
        return [_alert(row) for row in self._db.execute(query, args)]

    @_reported
    def open_by_severity(self):
        """``((severity, open alerts), ...)`` sorted by severity."""
        return tuple(self._db.execute("SELECT severity, COUNT(*) FROM alerts WHERE resolved_at IS NULL"
                                      " GROUP BY severity ORDER BY severity"))

    @_reported
    def alert_counts(self):
        """``(unresolved, total)``."""
        row = self._db.execute("SELECT COUNT(*) - COUNT(resolved_at), COUNT(*) FROM alerts").fetchone()
        return row[0], row[1]

    # -- history ---------------------------------------------------------------------------------

    @_reported
    def record_interval(self, system, users):
        """One system row (a :class:`~sysmedic.history.rollup.SystemRow`) and its UserRows."""
        def insert(cursor):
            cursor.execute("INSERT OR REPLACE INTO system_history (time, cpu, cpu_max, memory, memory_max, disk,"
                           " load1, load1_max, network, network_max, status, samples)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", tuple(system))
            cursor.executemany("INSERT OR REPLACE INTO user_history (time, username, cpu, cpu_max, memory,"
                               " memory_max, processes) VALUES (?, ?, ?, ?, ?, ?, ?)", [tuple(u)[:7] for u in users])
            others = [(u.time, u.username) + found for u in users for found in u.figures]
            if others:
                cursor.executemany("INSERT OR REPLACE INTO user_figure_history (time, username, figure, value, peak)"
                                   " VALUES (?, ?, ?, ?, ?)", others)
            _roll_up(cursor, system[0])
        self._write(insert)

    @_reported
    def prune(self, before):
        """Delete history and resolved alerts older than ``before``; returns rows deleted."""
        def delete(cursor):
            deleted = cursor.execute("DELETE FROM system_history WHERE time < ?", (before,)).rowcount
            deleted += cursor.execute("DELETE FROM user_history WHERE time < ?", (before,)).rowcount
            deleted += cursor.execute("DELETE FROM user_figure_history WHERE time < ?", (before,)).rowcount
            cursor.execute("DELETE FROM user_figure_history_hourly WHERE time < ?", (before,))
            cursor.execute("DELETE FROM system_history_hourly WHERE time < ?", (before,))
            cursor.execute("DELETE FROM user_history_hourly WHERE time < ?", (before,))
            deleted += cursor.execute("DELETE FROM alerts WHERE resolved_at IS NOT NULL AND resolved_at < ?",
                                      (before,)).rowcount
            return deleted
        deleted = self._write(delete)
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted

    @_reported
    def system_report(self, since):
        """Summary of the system history since ``since`` (epoch seconds): averages of the rows'
        averages, maxima of their maxima; ``samples`` fed ``rows`` rows; ``status_samples``
        counts rows by the worst status in each."""
        row = self._db.execute(
            "SELECT COALESCE(SUM(samples), 0), COUNT(*), AVG(cpu), MAX(cpu_max), AVG(memory), MAX(memory_max),"
            " AVG(disk), MAX(disk), AVG(load1), MAX(load1_max), AVG(network), MAX(network_max), MIN(time), MAX(time)"
            " FROM system_history WHERE time >= ?", (since,)).fetchone()
        statuses = dict(self._db.execute(
            "SELECT status, COUNT(*) FROM system_history WHERE time >= ? GROUP BY status", (since,)))
        severities = dict(self._db.execute(
            "SELECT severity, COUNT(*) FROM alerts WHERE created_at >= ? GROUP BY severity", (since,)))
        keys = ("samples", "rows", "cpu_avg", "cpu_max", "memory_avg", "memory_max", "disk_avg", "disk_max",
                "load1_avg", "load1_max", "network_avg", "network_max", "first", "last")
        report = dict(zip(keys, row))
        report["status_samples"] = statuses
        report["alerts_opened"] = severities
        return report

    @_reported
    def user_report(self, since, top=10, username=None):
        """Per-user averages and peaks since ``since``, highest average CPU first."""
        query = ("SELECT username, COUNT(*), AVG(cpu), MAX(cpu_max), AVG(memory), MAX(memory_max), AVG(processes)"
                 " FROM user_history WHERE time >= ?")
        args = [since]
        if username is not None:
            query += " AND username = ?"
            args.append(username)
        query += " GROUP BY username ORDER BY AVG(cpu) DESC, AVG(memory) DESC LIMIT ?"
        args.append(int(top))
        keys = ("username", "samples", "cpu_avg", "cpu_max", "memory_avg", "memory_max", "processes_avg")
        rows = [dict(zip(keys, row)) for row in self._db.execute(query, args)]
        extra = [figure.history for figure in figures.kept() if figure.history not in COLUMNED]
        if rows and extra:  # the figures kept beyond the v1 columns, from their own rows, in table order
            named = [row["username"] for row in rows]
            found = {(name, figure): (average, peak) for name, figure, average, peak in self._db.execute(
                "SELECT username, figure, AVG(value), MAX(peak) FROM user_figure_history WHERE time >= ?"
                " AND username IN (%s) AND figure IN (%s) GROUP BY username, figure"
                % (",".join("?" * len(named)), ",".join("?" * len(extra))), [since] + named + extra)}
            for row in rows:
                for figure in extra:
                    row[figure + "_avg"], row[figure + "_max"] = found.get((row["username"], figure), (None, None))
        return rows


PROGRESS_EVERY = 20000  # SQLite VM instructions between two looks at a query's cancellation (~1 ms)


def _roll_up(cursor, time_):
    """Sum into the hourly rollups every hour before the one ``time_`` is in that has rows and
    is not summed yet, and the row's own hour again if it was summed already (a clock that
    stepped back): one indexed look per row, the sums once an hour."""
    hour = (time_ // HOUR) * HOUR
    last = cursor.execute("SELECT MAX(time) FROM system_history_hourly").fetchone()[0]
    hours = [] if last is None or hour > last else [hour]
    first = None if last is None else last + HOUR
    hours += [row[0] for row in cursor.execute(
        "SELECT DISTINCT CAST(time / 3600 AS INTEGER) * 3600 FROM system_history WHERE time >= ? AND time < ?",
        (first if first is not None else 0.0, hour))]
    for start in hours:
        end = start + HOUR
        cursor.execute(
            "INSERT OR REPLACE INTO system_history_hourly SELECT ?, SUM(samples), COUNT(*), SUM(cpu * samples),"
            " SUM(CASE WHEN cpu IS NULL THEN 0 ELSE samples END), MAX(cpu_max), SUM(memory * samples), MAX(memory_max),"
            " SUM(load1 * samples), MAX(load1_max), SUM(network * samples),"
            " SUM(CASE WHEN network IS NULL THEN 0 ELSE samples END), MAX(network_max)"
            " FROM system_history WHERE time >= ? AND time < ?", (start, start, end))
        cursor.execute("DELETE FROM user_history_hourly WHERE time = ?", (start,))
        cursor.execute(
            "INSERT INTO user_history_hourly SELECT ?, username, SUM(cpu), MAX(cpu_max), SUM(memory), MAX(memory_max)"
            " FROM user_history WHERE time >= ? AND time < ? GROUP BY username", (start, start, end))
        cursor.execute("DELETE FROM user_figure_history_hourly WHERE time = ?", (start,))
        cursor.execute(
            "INSERT INTO user_figure_history_hourly SELECT ?, username, figure, SUM(value), MAX(peak)"
            " FROM user_figure_history WHERE time >= ? AND time < ? GROUP BY username, figure", (start, start, end))


def _reader(path):
    """A read-only connection to the database at ``path`` (any thread may open one).

    :raises StorageError: when it cannot be opened.
    """
    from urllib.parse import quote
    require_sqlite(path)
    try:
        refuse_links(path)
        return sqlite3.connect("file:%s?mode=ro" % quote(path), uri=True, timeout=2.0)
    except sqlite3.DatabaseError as err:
        raise StorageError(describe(path, err))
    except OSError as err:
        raise StorageError("%s: cannot open: %s" % (path, err))


def history_stored(path, since, until):
    """Whether any history row has ``since <= time < until`` (False when none can be read)."""
    try:
        db = _reader(path)
    except StorageError:
        return False
    try:
        return db.execute("SELECT 1 FROM system_history WHERE time >= ? AND time < ? LIMIT 1",
                          (since, until)).fetchone() is not None
    except sqlite3.DatabaseError:
        return False
    finally:
        db.close()


HOUR = 3600.0
# The history rows as sums: from the per-minute tables outside [:lo, :hi) and from the hourly
# rollups inside it, folded alike (without rollups in range, the minute rows alone: the union
# and the OR cost 30% more over a long range of them).
_SYSTEM_MINUTES = (
    "SELECT time, samples, 1 AS intervals, cpu * samples AS cpu_sum,"
    " CASE WHEN cpu IS NULL THEN 0 ELSE samples END AS cpu_weight, cpu_max, memory * samples AS memory_sum,"
    " memory_max, load1 * samples AS load1_sum, load1_max, network * samples AS network_sum,"
    " CASE WHEN network IS NULL THEN 0 ELSE samples END AS network_weight, network_max FROM system_history")
_SYSTEM_HOURS = (
    "SELECT time, samples, intervals, cpu_sum, cpu_weight, cpu_max, memory_sum, memory_max, load1_sum,"
    " load1_max, network_sum, network_weight, network_max FROM system_history_hourly WHERE time >= :lo AND time < :hi")
_USER_MINUTES = "SELECT time, username, cpu, cpu_max, memory, memory_max FROM user_history"
_USER_HOURS = ("SELECT time, username, cpu, cpu_max, memory, memory_max FROM user_history_hourly"
               " WHERE time >= :lo AND time < :hi")
_FIGURE_MINUTES = "SELECT time, username, figure, value, peak FROM user_figure_history"
_FIGURE_HOURS = ("SELECT time, username, figure, value, peak FROM user_figure_history_hourly"
                 " WHERE time >= :lo AND time < :hi")
COLUMNED = ("cpu", "memory")  # the figures with columns of their own in user_history (schema v1)


def _rows(minutes, hours, hourly):
    if not hourly:
        return minutes + " WHERE time >= :since AND time < :until"
    return (minutes + " WHERE (time >= :since AND time < :lo) OR (time >= :hi AND time < :until) UNION ALL "
            + hours)


_BUCKET = "CAST((time - :since) / :step AS INTEGER)"


def _hourly_range(db, since, until, step):
    """``(lo, hi)``: the whole hours of ``[since, until)`` the rollups hold, when buckets of
    ``step`` seconds from ``since`` are whole hours; else an empty range at ``since``."""
    if step < HOUR or step % HOUR or since % HOUR:
        return since, since
    rolled = db.execute("SELECT MAX(time) FROM system_history_hourly").fetchone()[0]
    if rolled is None:
        return since, since
    hi = min((until // HOUR) * HOUR, rolled + HOUR)
    return since, max(since, hi)


def _add_figures(db, kept, rows, args, names, intervals, per_user, others):
    """Widen ``per_user``'s and ``others``' tuples (the two figures of :data:`COLUMNED`) to
    every figure ``kept``, in its order, from ``user_figure_history``: a bucket's average is over
    its intervals, as for the columns."""
    extra = [name for name in kept if name not in COLUMNED]
    args = dict(args, **{"f%d" % index: name for index, name in enumerate(extra)})
    wanted = ",".join(":f%d" % index for index in range(len(extra)))
    found, found_others = {}, {}
    for b, name, figure, value, peak in db.execute(
            "SELECT %s AS b, username, figure, SUM(value), MAX(peak) FROM (%s) WHERE username IN (%s)"
            " AND figure IN (%s) GROUP BY b, username, figure" % (_BUCKET, rows, names, wanted), args):
        count = intervals.get(b)
        if count:
            found[(name, b, figure)] = (None if value is None else value / count, peak)
    if others is not None:
        for b, figure, value in db.execute(
                "SELECT %s AS b, figure, SUM(value) FROM (%s) WHERE username NOT IN (%s) AND figure IN (%s)"
                " GROUP BY b, figure" % (_BUCKET, rows, names, wanted), args):
            count = intervals.get(b)
            if count:
                found_others[(b, figure)] = (value or 0.0) / count
    for name, buckets in per_user.items():
        for b, columns in buckets.items():
            known = {"cpu": columns[0:2], "memory": columns[2:4]}
            buckets[b] = sum((known.get(figure) or found.get((name, b, figure), (None, None)) for figure in kept), ())
    if others is not None:
        for b, columns in others.items():
            known = {"cpu": columns[0], "memory": columns[1]}
            others[b] = tuple(known[figure] if figure in known else found_others.get((b, figure), 0.0)
                              for figure in kept)


def history_buckets(path, since, until, step, users=None, cancelled=None, top=10):
    """History rows with ``since <= time < until`` folded into buckets of ``step`` seconds by
    SQLite itself (the answer is at most one row per bucket and user, however long the range),
    read over a read-only connection of its own (any thread may call this). Buckets of whole
    hours read the hourly rollups for every hour they hold (one row an hour, not sixty).

    Returns ``{"system": {bucket: (samples, cpu, cpu_max, memory, memory_max, load, load_max,
    network, network_max)}, "users": {name: {bucket: (cpu, cpu_max, memory, memory_max)}},
    "others": {bucket: (cpu, memory)}, "rank": {name: cpu total}}``: averages are weighted by
    samples; a user's average is over the bucket's intervals (absent ones count 0, as in the
    rows); ``users`` are the names asked for, else the ``top`` by CPU, the rest summed in
    ``others``.

    :param cancelled: polled every few thousand SQLite instructions; when it returns True the
        query stops (its client went away, or it ran past its deadline).
    :raises StorageError: when the database cannot be read or the query was cancelled.
    """
    db = _reader(path)
    if cancelled is not None:
        db.set_progress_handler(lambda: 1 if cancelled() else 0, PROGRESS_EVERY)
    try:
        lo, hi = _hourly_range(db, since, until, step)
        args = {"since": since, "until": until, "step": step, "lo": lo, "hi": hi}
        system_rows = _rows(_SYSTEM_MINUTES, _SYSTEM_HOURS, hi > lo)
        user_rows = _rows(_USER_MINUTES, _USER_HOURS, hi > lo)
        system = {}
        intervals = {}
        for row in db.execute(
                "SELECT %s AS b, SUM(samples), SUM(intervals), SUM(cpu_sum) / SUM(cpu_weight), MAX(cpu_max),"
                " SUM(memory_sum) / SUM(samples), MAX(memory_max), SUM(load1_sum) / SUM(samples), MAX(load1_max),"
                " SUM(network_sum) / SUM(network_weight), MAX(network_max) FROM (%s) GROUP BY b"
                % (_BUCKET, system_rows), args):
            system[row[0]] = (row[1],) + tuple(row[3:])
            intervals[row[0]] = row[2]
        rank = dict(db.execute("SELECT username, SUM(cpu) FROM (%s) GROUP BY username" % user_rows,
                               args).fetchall())
        chosen = list(users) if users is not None else sorted(rank, key=lambda n: (-(rank[n] or 0.0), n))[:top]
        per_user = {name: {} for name in chosen if name in rank}
        args.update(("u%d" % index, name) for index, name in enumerate(per_user))
        names = ",".join(":u%d" % index for index in range(len(per_user)))
        for b, name, cpu, cpu_max, memory, memory_max in db.execute(
                "SELECT %s AS b, username, SUM(cpu), MAX(cpu_max), SUM(memory), MAX(memory_max) FROM (%s)"
                " WHERE username IN (%s) GROUP BY b, username" % (_BUCKET, user_rows, names), args):
            count = intervals.get(b)
            if count:
                per_user[name][b] = (None if cpu is None else cpu / count, cpu_max, (memory or 0.0) / count,
                                     memory_max)
        others = {}
        if users is None:
            for b, cpu, memory in db.execute(
                    "SELECT %s AS b, SUM(cpu), SUM(memory) FROM (%s) WHERE username NOT IN (%s) GROUP BY b"
                    % (_BUCKET, user_rows, names), args):
                count = intervals.get(b)
                if count:
                    others[b] = ((cpu or 0.0) / count, (memory or 0.0) / count)
        kept = [figure.history for figure in figures.kept()]
        if kept != list(COLUMNED):
            _add_figures(db, kept, _rows(_FIGURE_MINUTES, _FIGURE_HOURS, hi > lo), args, names, intervals,
                         per_user, others if users is None else None)
        return {"system": system, "users": per_user, "others": others, "rank": rank}
    except sqlite3.OperationalError as err:
        if cancelled is not None and cancelled():
            raise StorageError("query cancelled")
        raise StorageError(describe(path, err))
    except sqlite3.DatabaseError as err:
        raise StorageError(describe(path, err))
    finally:
        db.close()
