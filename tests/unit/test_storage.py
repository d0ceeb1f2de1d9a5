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
    first, created = store.open_alert(CPU, "Heavy Load", details={"primary_cause": ""}, now=100)
    assert created and first.users == ("alice",) and not first.resolved
    again, created = store.open_alert(CPU, "Heavy Load", now=105)
    assert not created and again.id == first.id
    assert store.alert_counts() == (1, 1)
    assert store.resolve_causes(["system:cpu", "system:memory"], now=110) == 1
    closed = store.alerts()[0]
    assert closed.resolved_at == 110 and closed.resolved_by == "auto"
    reopened, created = store.open_alert(CPU, "Heavy Load", now=120)
    assert created and reopened.id != first.id
    assert store.alert_counts() == (1, 2)


def test_manual_resolution(store):
    a, _ = store.open_alert(CPU, "Heavy Load", now=1)
    b, _ = store.open_alert(DB_USER, "Heavy Load", now=2)
    assert store.resolve(a.id, now=3) is True
    assert store.resolve(a.id, now=4) is False
    with pytest.raises(NotFound):
        store.resolve(999)
    assert [r.id for r in store.alerts(unresolved=True)] == [b.id]
    assert store.resolve_all(now=5) == 1
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
        store.record_history(snap, "Light Usage" if cpu < 40 else "Medium Usage", snap.users)
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
