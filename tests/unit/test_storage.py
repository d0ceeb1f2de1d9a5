"""The SQLite store on a real file: alert lifecycle, history, reports, schema versions."""

import os
import sqlite3
import stat
import threading

import pytest

from sysmedic.analysis.alerts import Condition
from sysmedic.collect.records import Snapshot, SystemMetrics, UserUsage
from sysmedic.errors import NotFound, StorageError
from sysmedic.storage import Storage
from sysmedic.storage.db import SCHEMA_VERSION
from sysmedic.history.rollup import one_interval

CPU = Condition("system:cpu", "critical", "High CPU usage: 91.0% (threshold 80%)", ("alice",))
DB_USER = Condition("user:db:memory", "warning", "Persistent memory usage by db", ("db",))


@pytest.fixture
def store(tmp_path):
    with Storage(str(tmp_path / "sysmedic.db")) as storage:
        yield storage


def test_files_are_owner_only_and_wal(tmp_path):
    os.umask(0o022)
    path = str(tmp_path / "s.db")
    with Storage(path) as storage:
        storage.open_alert(CPU, "Heavy Load", now=1)
        for name in os.listdir(tmp_path):
            assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600, name
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_one_open_alert_per_cause_then_auto_resolve_and_reopen(store):
    first, how = store.open_alert(CPU, "Heavy Load", details={"primary_cause": ""}, now=100)
    assert how == "created" and first.users == ("alice",) and not first.resolved and first.opened_at == 100
    again, how = store.open_alert(CPU, "Heavy Load", now=105)
    assert how == "open" and again.id == first.id
    assert store.alert_counts() == (1, 1)
    assert [r.id for r in store.resolve_causes(["system:cpu", "system:memory"], now=110)] == [first.id]
    closed = store.alerts()[0]
    assert closed.resolved_at == 110 and closed.resolved_by == "auto"
    reopened, how = store.open_alert(CPU, "Heavy Load", now=120)  # no cooldown: a new alert
    assert how == "created" and reopened.id != first.id
    assert store.alert_counts() == (1, 2)


def test_a_cause_back_within_the_cooldown_continues_its_alert(store):
    """Issue 10: one sample before the cooldown ends the old alert re-opens (same id, counted);
    one sample after it, a new alert opens."""
    first, _ = store.open_alert(CPU, "Heavy Load", now=100)
    store.resolve_causes(["system:cpu"], now=200)
    again, how = store.open_alert(CPU, "Heavy Load", now=799, cooldown=600)
    assert how == "reopened" and again.id == first.id and again.reopen_count == 1
    assert again.opened_at == 799 and again.created_at == 100 and not again.resolved
    store.resolve_causes(["system:cpu"], now=800)
    later, how = store.open_alert(CPU, "Heavy Load", now=1400, cooldown=600)
    assert how == "reopened" and later.reopen_count == 2  # 600 s after the resolution: still within
    store.resolve_causes(["system:cpu"], now=1500)
    new, how = store.open_alert(CPU, "Heavy Load", now=2100.01, cooldown=600)
    assert how == "created" and new.id != first.id


def test_reminders_come_due_every_interval_from_the_last_notification(store):
    alert, _ = store.open_alert(CPU, "Heavy Load", now=100)
    assert store.due_reminders(3600, now=3699) == []
    assert [r.id for r in store.due_reminders(3600, now=3700)] == [alert.id]
    store.mark_notified(alert.id, now=3700)
    assert store.due_reminders(3600, now=7299) == []
    store.resolve_causes(["system:cpu"], now=7300)
    assert store.due_reminders(3600, now=99999) == []  # resolved: no reminder


def test_manual_resolution(store):
    a, _ = store.open_alert(CPU, "Heavy Load", now=1)
    b, _ = store.open_alert(DB_USER, "Heavy Load", now=2)
    assert [r.id for r in store.resolve(a.id, now=3)] == [a.id]
    assert store.resolve(a.id, now=4) == []
    with pytest.raises(NotFound):
        store.resolve(999)
    assert [r.id for r in store.alerts(unresolved=True)] == [b.id]
    assert store.open_by_severity() == (("warning", 1),)
    assert [r.id for r in store.resolve_all(now=5)] == [b.id]
    assert store.open_by_severity() == ()
    assert store.alert_counts() == (0, 2)
    assert {r.resolved_by for r in store.alerts()} == {"manual"}


def test_listing_newest_first_with_since_and_limit(store):
    for t in range(5):
        store.open_alert(Condition("c%d" % t, "warning", "m%d" % t, ()), "Heavy Load", now=t * 10)
    assert [r.message for r in store.alerts(limit=2)] == ["m4", "m3"]
    assert [r.message for r in store.alerts(since=25)] == ["m4", "m3"]


def snapshot(t, cpu, users):
    system = SystemMetrics(cpu, 2, 50.0, 1000, 500, 30.0, 100.0, (1.0, 1.0, 1.0), 10.0)
    return Snapshot(t, system, tuple(UserUsage(n, 1, c, m, 2) for n, c, m in users), False, 60.0, 0.0)


def test_history_reports_and_prune(store):
    for t, cpu in ((100, 10.0), (160, 30.0), (220, 50.0)):
        snap = snapshot(t, cpu, [("alice", cpu / 2, 5.0), ("bob", 1.0, 20.0)])
        store.record_interval(*one_interval(snap, "Light Usage" if cpu < 40 else "Medium Usage", snap.users))
    report = store.system_report(since=0)
    assert report["samples"] == 3 and report["cpu_avg"] == pytest.approx(30.0) and report["cpu_max"] == 50.0
    assert report["status_samples"] == {"Light Usage": 2, "Medium Usage": 1}
    users = store.user_report(since=0, top=10)
    assert [u["username"] for u in users] == ["alice", "bob"]
    assert users[0]["cpu_avg"] == pytest.approx(15.0) and users[0]["cpu_max"] == 25.0
    assert store.user_report(since=0, username="bob")[0]["memory_avg"] == 20.0
    assert store.system_report(since=150)["samples"] == 2
    store.open_alert(CPU, "Heavy Load", now=100)
    store.resolve_causes(["system:cpu"], now=120)
    store.open_alert(DB_USER, "Heavy Load", now=100)  # open: never pruned
    assert store.prune(before=200) == 2 + 4 + 1
    assert store.system_report(since=0)["samples"] == 1
    assert [r.cause for r in store.alerts()] == ["user:db:memory"]


def test_newer_schema_is_refused_with_one_line(tmp_path):
    path = str(tmp_path / "future.db")
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=%d" % (SCHEMA_VERSION + 1))
    db.close()
    with pytest.raises(StorageError, match="schema version %d is newer" % (SCHEMA_VERSION + 1)):
        Storage(path)


def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="junk.db"):
        Storage(str(path))


def test_a_reader_on_another_connection_sees_the_writer(tmp_path):
    path = str(tmp_path / "s.db")
    writer = Storage(path)
    seen = []

    def read():
        with Storage(path) as reader:
            seen.append(reader.alert_counts())
    writer.open_alert(CPU, "Heavy Load", now=1)
    thread = threading.Thread(target=read)
    thread.start()
    thread.join(10)
    assert seen == [(1, 1)]
    writer.close()


def test_a_database_made_by_the_first_release_migrates_in_place(tmp_path):
    """tests/fixtures/sysmedic-v1.db was written by the release before issue 10 (schema 1):
    its alerts and history stay, a v1 history row (one sample) is its own peak, and the old
    alerts can re-open and remind."""
    import shutil
    path = str(tmp_path / "sysmedic.db")
    shutil.copy(os.path.join(os.path.dirname(__file__), "..", "fixtures", "sysmedic-v1.db"), path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 1
    with Storage(path) as store:
        assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        alerts = {a.cause: a for a in store.alerts()}
        assert set(alerts) == {"system:cpu", "user:alice:cpu"}
        cpu = alerts["system:cpu"]
        assert cpu.resolved_at == 1700000120.0 and cpu.opened_at == cpu.created_at and cpu.reopen_count == 0
        report = store.system_report(0)
        assert report["samples"] == 3 and report["cpu_max"] == 91.0 and report["cpu_avg"] == pytest.approx(48.5)
        assert store.user_report(0)[0]["cpu_max"] == 45.5
        again, how = store.open_alert(Condition("system:cpu", "critical", "again", ()), "Heavy Load",
                                      now=1700000200.0, cooldown=600)
        assert how == "reopened" and again.id == cpu.id
    with Storage(path) as store:  # opening again changes nothing
        assert len(store.alerts()) == 2
