"""The daemon's parts without a daemon: Sampler and StorageWriter with injected clocks and fakes,
thread supervision, /health, the broadcaster's survival, mailboxes, systemd notify."""

import contextlib
import dataclasses
import logging
import math
import os
import socket
import sys
import threading
import time

import pytest

from sysmedic.analysis.alerts import Condition
from sysmedic.collect.records import Snapshot, SystemMetrics, UserUsage
from sysmedic.config import config_from_dict
from sysmedic.daemon.health import Health
from sysmedic.daemon.sampler import Sampler
from sysmedic.daemon.state import Shared
from sysmedic.daemon.systemd import SystemdNotifier
from sysmedic.daemon.threads import Threads
from sysmedic.daemon.writer import StorageWriter, summary
from sysmedic.errors import StorageError
from sysmedic.mailbox import BYPASSED, CLOSED, DROPPED, QUEUED, TIMEOUT, Mailbox, droppable_first, drop_oldest, refuse_new
from sysmedic.server.clients import Broadcaster, Client, Registry
from sysmedic.storage import Storage

NOW = 1737245322.0


def snapshot(cpu=10.0, memory=10.0, users=(), at=NOW):
    system = SystemMetrics(cpu, 2, memory, 8 * 10**9, 4 * 10**9, 30.0, 3600.0, (0.1, 0.2, 0.3), 1000.0)
    return Snapshot(at, system, tuple(users), False, 5.0, 0.002)


class Clock:
    def __init__(self, now=100.0):
        self.now = now

    def __call__(self):
        return self.now


class FakeCollector:
    def __init__(self, snapshots):
        self._snapshots = list(snapshots)
        self.calls = 0

    def sample(self):
        self.calls += 1
        item = self._snapshots.pop(0) if len(self._snapshots) > 1 else self._snapshots[0]
        if isinstance(item, Exception):
            raise item
        if callable(item):
            return item()
        return item


class FakeWriter:
    def __init__(self):
        self.calls = []

    def open_alert(self, condition, state, cooldown=0.0, details=None):
        self.calls.append(("open", condition.cause))

    def resolve_causes(self, causes):
        self.calls.append(("resolve", tuple(causes)))

    def record_history(self, system, users):
        self.calls.append(("history", system.time))
        self.rows = getattr(self, "rows", []) + [(system, users)]

    def remind(self, every):
        self.calls.append(("remind", every))

    def prune(self, before):
        self.calls.append(("prune", before))


class FakeBroadcaster:
    def __init__(self):
        self.published = []

    def publish(self, kind, data, droppable=True):
        self.published.append((kind, data))


def fast(interval):
    """A Config sampling every ``interval`` seconds, below the 0.2 s floor a user may set: these
    tests drive the loop itself, in real time."""
    config = config_from_dict({})
    return dataclasses.replace(config, monitoring=dataclasses.replace(config.monitoring, update_interval=interval))


def make_sampler(snapshots, config=None, clock=None, **options):
    if not hasattr(config, "monitoring"):
        config = config_from_dict(config or {"monitoring": {"monitoring_interval": 60, "retain_days": 30}})
    parts = dict(collector=FakeCollector(snapshots), shared=Shared(None), writer=FakeWriter(),
                 broadcaster=FakeBroadcaster(), clock=clock or Clock())
    sampler = Sampler(parts["collector"], lambda: config, parts["shared"], parts["writer"], parts["broadcaster"],
                      "Test OS", "9.9", monotonic=parts["clock"], **options)
    return sampler, parts


# -- Sampler --------------------------------------------------------------------------------------

def test_sampler_publishes_a_state_and_a_system_update_per_step():
    sampler, parts = make_sampler([snapshot(cpu=42.0, users=[UserUsage("ann", 1000, 30.0, 1.0, 3)])])
    sampler.step()
    state = parts["shared"].state()
    assert state.snapshot.system.cpu_usage == 42.0 and [u.username for u in state.users] == ["ann"]
    assert state.system_name == "Test OS" and state.version == "9.9"
    kind, data = parts["broadcaster"].published[0]
    assert kind == "system_update" and data["cpu_usage"] == 42.0 and data["status"] == "Light Usage"
    assert sampler.last_sample == 100.0 and sampler.last_collect_ms == pytest.approx(2.0)


def test_sampler_opens_an_alert_once_and_resolves_it_when_the_condition_clears():
    sampler, parts = make_sampler([snapshot(memory=95.0), snapshot(memory=96.0), snapshot(memory=20.0)],
                                  config={"monitoring": {"alert_after": 0, "clear_after": 0}})
    for _ in range(3):
        sampler.step()
        parts["clock"].now += 5
    alerts = [call for call in parts["writer"].calls if call[0] in ("open", "resolve")]
    assert alerts == [("open", "system:memory"), ("resolve", ("system:memory",))]


def test_sampler_knows_the_alerts_already_open_in_the_database():
    sampler, parts = make_sampler([snapshot(memory=95.0)], active_causes={"system:memory"})
    sampler.step()
    assert [call for call in parts["writer"].calls if call[0] == "open"] == []


def test_history_every_monitoring_interval_and_pruning_every_hour():
    sampler, parts = make_sampler([snapshot()])
    for _ in range(2 * 720 + 1):  # two hours of 5 s samples
        sampler.step()
        parts["clock"].now += 5
    calls = parts["writer"].calls
    assert sum(call[0] == "history" for call in calls) == 2 * 60 + 1  # once a minute
    prunes = [call for call in calls if call[0] == "prune"]
    assert len(prunes) == 3 and prunes[0] == ("prune", NOW - 30 * 86400)


def test_sampler_run_survives_a_failed_sample_and_feeds_the_heartbeat():
    beats = []
    stop = threading.Event()
    done = threading.Event()

    def last():
        done.set()
        return snapshot()
    sampler, parts = make_sampler([snapshot(), OSError("proc vanished"), snapshot(), last],
                                  config=fast(0.01),
                                  clock=time.monotonic, heartbeat=lambda: beats.append(1))
    thread = threading.Thread(target=sampler.run, args=(stop,))
    thread.start()
    assert done.wait(10)
    stop.set()
    thread.join(10)
    assert sampler.errors == 1 and len(beats) >= 3 and parts["collector"].calls >= 4


def test_a_hung_sample_stops_the_heartbeat_and_health_reports_the_sampler_late():
    """Issue 8, defect 11: a hung sampler must get the daemon restarted (systemd's watchdog is fed
    from the heartbeat) and /health must answer 503."""
    release = threading.Event()
    hung = threading.Event()

    def hang():
        hung.set()
        release.wait(30)
        return snapshot()
    beats = []
    clock = Clock(1000.0)
    sampler, parts = make_sampler([snapshot(), hang], config=fast(0.01),
                                  heartbeat=lambda: beats.append(clock.now), heartbeat_every=0.005)
    sampler._monotonic = time.monotonic  # real time for the loop's waits
    stop = threading.Event()
    thread = threading.Thread(target=sampler.run, args=(stop,))
    thread.start()
    try:
        assert hung.wait(10)
        count = len(beats)
        assert not release.wait(0.2)  # the measuring window: 20 intervals with a hung sample
        assert len(beats) == count and count >= 1
        # What /health says while the sample hangs past the 5 s floor of lateness.
        health = make_health(sampler, Threads(threading.Event()), monotonic=lambda: sampler.last_sample + 6.2)
        code, body = health.report(make_settings())
        assert code == 503 and body["status"] == "degraded"
        assert body["problems"][0].startswith("sampler is ") and "late (interval 0.01s)" in body["problems"][0]
    finally:
        release.set()
        stop.set()
        thread.join(10)


# -- /health ------------------------------------------------------------------------------------

def make_settings():
    from sysmedic.config import WebSocketSettings
    return WebSocketSettings(port=8060)


class Quiet:
    failed = dropped = sent = 0
    name = "email"

    @staticmethod
    def problem():
        return None

    @staticmethod
    def stuck():
        return None


def make_health(sampler, threads, monotonic, interval=0.01):
    config = fast(interval)
    return Health("9.9", sampler, threads, Registry(5), Quiet(), Quiet(), [Quiet()], lambda: config,
                  lambda settings: "box.example", started=0.0, monotonic=monotonic, clock=lambda: 10.0)


def test_health_is_200_while_threads_run_and_samples_are_fresh(caplog):
    sampler, _ = make_sampler([snapshot()])
    sampler.step()
    stop = threading.Event()
    threads = Threads(stop)
    threads.start("waiter", lambda stop: stop.wait())
    try:
        code, body = make_health(sampler, threads, monotonic=lambda: sampler.last_sample + 1.0, interval=5).report(
            make_settings())
        assert code == 200 and body["status"] == "healthy" and body["problems"] == []
        assert body["threads"] == {"waiter": "running"} and body["sample_age_seconds"] == 1.0
        for key in ("running", "clients", "port", "hostname", "has_secret"):
            assert key in body
        late = make_health(sampler, threads, monotonic=lambda: sampler.last_sample + 15.1, interval=5)
        assert late.report(make_settings())[0] == 503  # 10.1 s late: more than two 5 s intervals
        assert make_health(sampler, threads, monotonic=lambda: sampler.last_sample + 14.9,
                           interval=5).report(make_settings())[0] == 200
    finally:
        stop.set()


def test_a_thread_that_dies_is_logged_with_its_traceback_and_makes_health_degraded(caplog):
    stop = threading.Event()
    failures = []
    threads = Threads(stop, on_failure=failures.append)

    def broken(stop):
        raise ZeroDivisionError("injected bug")
    with caplog.at_level(logging.ERROR):
        threads.start("broadcaster", broken).join(5)
        threads.start("quitter", lambda stop: None).join(5)  # returned while the daemon runs
    assert failures == ["broadcaster", "quitter"]
    assert threads.states() == {"broadcaster": "failed", "quitter": "failed"}
    assert "thread broadcaster died" in caplog.text and "ZeroDivisionError: injected bug" in caplog.text
    assert "Traceback" in caplog.text and "thread quitter ended before the daemon stopped" in caplog.text
    sampler, _ = make_sampler([snapshot()])
    sampler.step()
    code, body = make_health(sampler, threads, monotonic=lambda: sampler.last_sample, interval=5).report(
        make_settings())
    assert code == 503 and body["problems"] == ["thread broadcaster died", "thread quitter died"]


def test_threads_that_end_on_stop_are_stopped_not_failed():
    stop = threading.Event()
    threads = Threads(stop)
    threads.start("waiter", lambda stop: stop.wait())
    stop.set()
    assert threads.join("waiter", 5) and threads.states() == {"waiter": "stopped"} and threads.failed() == []


def test_a_retired_thread_ends_without_failing_and_its_name_serves_the_next():
    """Issue 23: exit records turned off live end their listener's thread on purpose."""
    stop, leave = threading.Event(), threading.Event()
    failures = []
    threads = Threads(stop, on_failure=failures.append)
    old = threads.start("exit-records", lambda stop: leave.wait())
    threads.retire("exit-records")
    new = threads.start("exit-records", lambda stop: stop.wait())
    leave.set()
    old.join(5)
    assert failures == [] and threads.states() == {"exit-records": "running"} and new.is_alive()
    stop.set()


def test_a_new_collector_takes_its_baseline_at_the_next_tick_and_the_old_ones_are_retired():
    sampler, parts = make_sampler([snapshot(cpu=1.0)])
    sampler.step()
    retired = []
    first, second = FakeCollector([snapshot(cpu=2.0)] * 3), FakeCollector([snapshot(cpu=3.0)] * 3)
    sampler.use(first, retired=lambda: retired.append("old"))
    sampler.use(second, retired=lambda: retired.append("first"))  # before a tick: the first is never used
    published = len(parts["broadcaster"].published)
    sampler.step()  # the baseline: nothing published
    assert retired == ["old", "first"] and len(parts["broadcaster"].published) == published
    sampler.step()
    assert parts["shared"].state().snapshot.system.cpu_usage == 3.0


# -- the broadcaster ------------------------------------------------------------------------------

class FakeConn:
    def __init__(self):
        self.wake = threading.Event()


def test_a_message_that_cannot_be_encoded_is_logged_and_the_broadcaster_goes_on(caplog):
    """Issue 8, defect 11: a NaN killed the broadcaster and every client stopped getting updates."""
    registry = Registry(5)
    client = Client(FakeConn(), "peer")
    registry.reserve()
    registry.add(client)
    broadcaster = Broadcaster(registry, clock=lambda: NOW)
    broadcaster.publish("system_update", {"cpu_usage": math.nan})
    broadcaster.publish("system_update", {"cpu_usage": 1.0})
    broadcaster.close()
    with caplog.at_level(logging.ERROR):
        broadcaster.run(threading.Event())
    assert broadcaster.failed == 1 and "system_update message not broadcast" in caplog.text
    assert "Out of range float values are not JSON compliant" in caplog.text
    assert [item.text for item in client.take()] == [
        '{"type":"system_update","data":{"cpu_usage":1.0},"timestamp":"2025-01-19T00:08:42Z"}']


# -- StorageWriter --------------------------------------------------------------------------------

CPU = Condition("system:cpu", "critical", "High CPU usage: 95.0% (threshold 80%); top users: ann 90.0%", ("ann",))


def writer_state():
    sampler, parts = make_sampler([snapshot(cpu=95.0)])
    sampler.step()
    return parts["shared"].state()


def test_storage_writer_applies_operations_in_order_and_reports_alerts(tmp_path):
    opened, summaries = [], []
    writer = StorageWriter(str(tmp_path / "s.db"), on_alert=lambda record, state: opened.append(record),
                           on_summary=summaries.append)
    with Storage(writer.path):
        pass
    state = writer_state()
    first = writer.open_alert(CPU, state)
    again = writer.open_alert(CPU, state)  # the same cause: no second alert, no second broadcast
    resolved = writer.resolve_causes(["system:cpu"])
    writer.close()
    writer.run(threading.Event())
    assert first.result(0).id == again.result(0).id and resolved.result(0) == 1
    assert [record.cause for record in opened] == ["system:cpu"]
    assert [(s.unresolved, s.total) for s in summaries] == [(1, 1), (0, 1)]
    assert summaries[0].recent[0].startswith("High CPU usage: 95.0%")


def test_a_full_storage_queue_refuses_new_operations_and_fails_their_future(tmp_path, caplog):
    writer = StorageWriter(str(tmp_path / "s.db"), on_alert=None, on_summary=None, limit=2)
    futures = [writer.submit(lambda storage, n=n: n, "op %d" % n) for n in range(3)]
    with pytest.raises(RuntimeError, match="storage queue full"):
        futures[2].result(0)
    assert writer.dropped == 1 and "storage queue full: dropped op 2" in caplog.text
    writer.close()
    writer.run(threading.Event())
    assert [f.result(0) for f in futures[:2]] == [0, 1]


def test_a_failing_operation_is_logged_and_the_writer_goes_on(tmp_path, caplog):
    writer = StorageWriter(str(tmp_path / "s.db"), on_alert=None, on_summary=None)

    def broken(storage):
        raise ValueError("bad row")
    bad = writer.submit(broken, "broken op")
    good = writer.submit(lambda storage: summary(storage), "summary")
    writer.close()
    with caplog.at_level(logging.ERROR):
        writer.run(threading.Event())
    with pytest.raises(ValueError):
        bad.result(0)
    assert good.result(0).total == 0 and "storage operation failed: broken op" in caplog.text


# -- Mailbox ------------------------------------------------------------------------------------

class Item:
    def __init__(self, name, droppable=True):
        self.name, self.droppable = name, droppable


def test_mailbox_policies():
    box = Mailbox(2, drop_oldest)
    assert [box.put(n) for n in (1, 2, 3)] == [QUEUED, QUEUED, QUEUED] and box.take_all() == [2, 3]
    box = Mailbox(2, refuse_new)
    assert [box.put(n) for n in (1, 2, 3)] == [QUEUED, QUEUED, DROPPED] and box.take_all() == [1, 2]
    assert box.dropped == 1
    box = Mailbox(2, droppable_first)
    alert, update = Item("alert", droppable=False), Item("update")
    box.put(alert)
    box.put(update)
    assert box.put(Item("alert2", droppable=False)) == QUEUED  # the update goes, alerts stay
    assert box.put(Item("update2")) == DROPPED                 # only alerts queued: refuse an update
    assert box.put(Item("alert3", droppable=False)) == QUEUED  # ...but not an alert: the oldest goes
    assert [item.name for item in box.take_all()] == ["alert2", "alert3"]


def test_mailbox_bypass_get_and_close():
    box = Mailbox(3)
    assert box.put("direct", bypass=lambda item: item == "direct") == BYPASSED and len(box) == 0
    box.put("a")
    assert box.put("b", bypass=lambda item: True) == QUEUED  # something waits: order is kept
    got = []
    thread = threading.Thread(target=lambda: got.extend([box.get(), box.get(), box.get()]))
    thread.start()
    box.close()
    thread.join(5)
    assert got == ["a", "b", CLOSED]


def test_mailbox_consume_handles_every_item_and_survives_a_failing_one():
    box = Mailbox(5)
    handled, failed = [], []

    def handle(item):
        if item == "bad":
            raise ValueError(item)
        handled.append(item)

    def on_error(item):
        failed.append((item, repr(sys.exc_info()[1])))
    for item in ("a", "bad", "b"):
        box.put(item)
    box.close()
    box.consume(handle, on_error)  # returns once closed and drained
    assert handled == ["a", "b"] and failed == [("bad", "ValueError('bad')")]


# -- systemd notify -------------------------------------------------------------------------------

@pytest.mark.parametrize("abstract", [False, True])
def test_systemd_notifier_sends_datagrams_to_notify_socket(tmp_path, abstract):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = "\0sysmedic-test-%d" % os.getpid() if abstract else str(tmp_path / "notify")
    server.bind(name)
    server.settimeout(5)
    try:
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "@" + name[1:] if abstract else name,
                                    "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())})
        assert notifier.ping_every() == 2.0
        assert notifier.ready("serving") and notifier.watchdog() and notifier.stopping()
        received = [server.recv(4096).decode() for _ in range(3)]
        assert received == ["READY=1\nMAINPID=%d\nSTATUS=serving" % os.getpid(), "WATCHDOG=1", "STOPPING=1"]
        notifier.close()
    finally:
        server.close()


def test_systemd_notifier_is_silent_without_systemd_and_ignores_another_pids_watchdog():
    assert not SystemdNotifier({}).ready() and SystemdNotifier({}).ping_every() is None
    other = SystemdNotifier({"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert other.ping_every() is None and other.watchdog() is False  # the socket is gone: logged once


def test_connection_caps_are_cut_to_fit_the_open_file_limit(monkeypatch, caplog):
    """Issue 13, Medium 5: connections must leave fds for the sampler and storage."""
    from sysmedic.config import WebSocketSettings
    from sysmedic.daemon import settings as module
    monkeypatch.setattr(module, "raise_fd_limit", lambda wanted: 256)
    wide = WebSocketSettings(max_clients=500, max_http_connections=64)
    fitted = module.fit_fd_limit(wide, in_use=32)
    room = 256 - 32 - module.RESERVE_FDS
    assert fitted.max_http_connections == room // 8 and fitted.max_clients == room - room // 8
    assert "serving at most 140 clients and 20 HTTP connections" in caplog.text
    narrow = WebSocketSettings(max_clients=100, max_http_connections=64)
    assert module.fit_fd_limit(narrow, in_use=16) == narrow  # 164 fit in 256 - 16 - 64: unchanged


def test_alerts_are_announced_when_storage_fails_and_stored_once_it_works(tmp_path, monkeypatch, caplog):
    """Issue 13, Medium 6 (the real full disk is in tests/e2e/test_storage_faults.py): storage is
    not the gate; one log line each way; kept writes are stored in order on the retry."""
    import sqlite3
    from sysmedic.daemon import writer as module
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(module, "RETRY_EVERY", 0.05)
    full = threading.Event()
    full.set()
    real_write = Storage._write

    def write(storage, statements):
        if full.is_set():
            raise sqlite3.OperationalError("database or disk is full")
        return real_write(storage, statements)
    monkeypatch.setattr(Storage, "_write", write)
    opened, summaries = [], []
    now = [1000.0]
    writer = StorageWriter(str(tmp_path / "s.db"), on_alert=lambda record, state: opened.append(record),
                           on_summary=summaries.append, clock=lambda: now[0])
    full.clear()
    with Storage(writer.path):  # created while there is room
        pass
    full.set()
    thread = threading.Thread(target=writer.run, args=(threading.Event(),))
    thread.start()
    try:
        state = writer_state()
        first = writer.open_alert(CPU, state)
        now[0] = 1005.0
        resolved = writer.resolve_causes(["system:cpu"])
        now[0] = 1027.0  # the disk has room again 27 s later (issue 21: stored as opened then)
        manual = writer.resolve(None)
        with pytest.raises(StorageError, match="cannot write the database: database or disk is full"):
            manual.result(5)
        assert [record.id for record in opened] == [None] and opened[0].cause == "system:cpu"
        assert [(s.unresolved, s.total) for s in summaries] == [(1, 1), (0, 1)]
        assert "storage failing since" in writer.problem() and writer.waiting == 2
        full.clear()
        assert first.result(5).id == 1 and resolved.result(5) == 1
        assert opened[0].created_at == 1000.0
        with Storage(writer.path) as storage:
            stored = storage.alerts()[0]
        assert (stored.created_at, stored.opened_at, stored.resolved_at) == (1000.0, 1000.0, 1005.0)
        wait = time.monotonic() + 5
        while writer.problem() is not None and time.monotonic() < wait:
            time.sleep(0.01)
        assert writer.problem() is None and len(opened) == 1  # stored, not announced again
        assert summaries[-1].total == 1 and summaries[-1].unresolved == 0
    finally:
        writer.close()
        thread.join(5)
    assert caplog.text.count("storage failing") == 1 and "storage recovered: 2 kept writes stored" in caplog.text
    assert "Traceback" not in caplog.text


def test_mailbox_get_waits_at_most_its_timeout():
    box = Mailbox(2)
    started = time.monotonic()
    assert box.get(timeout=0.05) is TIMEOUT and time.monotonic() - started >= 0.05
    box.put("x")
    assert box.get(timeout=0.05) == "x"
    box.close()
    assert box.get(timeout=5) is CLOSED


@contextlib.contextmanager
def control_server(home, handlers):
    """A ControlServer in ``home`` answering with ``handlers``, on its own thread, for the block."""
    from sysmedic.daemon import control
    server = control.ControlServer(str(home / control.SOCKET_FILE), handlers)
    stop = threading.Event()
    thread = threading.Thread(target=server.run, args=(stop,))
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        server.stop_accepting()
        thread.join(5)
        server.close()


def test_a_control_handler_that_fails_still_answers_one_line(tmp_path, caplog):
    """Issue 13, Low 11: a handler raising anything but SysMedicError left the CLI with "the daemon
    closed the control connection"."""
    from sysmedic.daemon import control
    from sysmedic.errors import SysMedicError

    def boom(request):
        raise OverflowError("Python int too large to convert to SQLite INTEGER")
    with control_server(tmp_path, {"boom": boom}):
        with pytest.raises(SysMedicError, match=r"^the daemon failed to boom: OverflowError \(see its log\)$"):
            control.call(str(tmp_path), "boom")
    assert "control command boom failed" in caplog.text and "OverflowError" in caplog.text


def test_an_error_crosses_the_control_socket_as_its_own_class(tmp_path):
    """Issue 23, item 3: the daemon's error reaches the CLI as the same class, and so with its
    exit status (a UsageError exits 2 on either side of the socket), not as text to match."""
    from sysmedic.daemon import control
    from sysmedic.errors import KINDS, NotFound, SysMedicError, UsageError

    def bad(request):
        raise UsageError("--limit: 0 is not a number of processes above 0")

    def missing(request):
        raise NotFound("no alert 99")
    with control_server(tmp_path, {"bad": bad, "missing": missing}):
        with pytest.raises(UsageError, match=r"^--limit: 0 is not a number") as raised:
            control.call(str(tmp_path), "bad")
        assert raised.value.status == 2
        with pytest.raises(NotFound, match=r"^no alert 99$"):
            control.call(str(tmp_path), "missing")
    assert all(issubclass(cls, SysMedicError) and isinstance(cls.status, int) for cls in KINDS.values())


def test_a_caller_that_gives_up_is_one_log_line_not_a_traceback(tmp_path, caplog):
    """Issue 22, item 9: a CLI that gave up on a slow answer left a BrokenPipeError traceback."""
    import socket
    from sysmedic.daemon import control
    caplog.set_level(logging.INFO)
    answered = threading.Event()

    def slow(request):
        answered.wait(5)
        return {"big": "x" * (4 << 20)}  # more than the socket takes once its reader is gone
    with control_server(tmp_path, {"slow": slow}):
        client = socket.socket(socket.AF_UNIX)
        client.connect(str(tmp_path / control.SOCKET_FILE))
        client.sendall(b'{"command": "slow"}\n')
        client.close()  # gives up
        answered.set()
        deadline = time.monotonic() + 5
        while "left before its answer" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)  # polling with a deadline for the daemon's line
    assert "control command slow: the caller left before its answer" in caplog.text
    assert "Traceback" not in caplog.text and "BrokenPipe" not in caplog.text


def test_every_sample_feeds_the_history_row_so_a_peak_between_rows_is_kept():
    """Issue 10: a row was the one sample taken when it was due; a spike between rows vanished."""
    cpus = [10.0] * 5 + [87.6] + [10.0] * 6
    sampler, parts = make_sampler([snapshot(cpu=cpu) for cpu in cpus])
    for _ in cpus + [10.0]:
        sampler.step()
        parts["clock"].now += 5
    rows = parts["writer"].rows
    assert rows[0][0].samples == 1 and rows[1][0].samples == 12  # the first row at start, then a minute
    assert rows[1][0].cpu_max == 87.6 and rows[1][0].cpu == pytest.approx((10.0 * 11 + 87.6) / 12)


def test_reminders_are_looked_for_only_when_renotify_is_set_and_not_every_sample():
    sampler, parts = make_sampler([snapshot()], config={"alerts": {"renotify": "1h"}})
    for _ in range(5):  # 20 s of 5 s samples: looked for at 0 s and 10 s and 20 s
        sampler.step()
        parts["clock"].now += 5
    assert [call for call in parts["writer"].calls if call[0] == "remind"] == [("remind", 3600.0)] * 3
    quiet, parts = make_sampler([snapshot()])
    quiet.step()
    assert not [call for call in parts["writer"].calls if call[0] == "remind"]


def test_glibc_heap_controls_are_taken_where_the_c_library_has_them():
    """Two arenas and a trim after each sample (BENCHMARKS sections 9: 32.7 -> 29.4 MB at
    start, 32.2 -> 31.1 MB at 1000 processes); elsewhere nothing, and no error."""
    import platform
    from sysmedic.daemon.app import heap_trimmer, limit_malloc_arenas
    trim = heap_trimmer()
    if platform.libc_ver()[0] != "glibc":
        assert trim is None and limit_malloc_arenas() is False
        return
    assert limit_malloc_arenas() is True
    assert trim() in (0, 1)


def test_no_daemon_here_names_the_packaged_services_home_when_it_runs_there(tmp_path):
    """Issue 22, item 10: `sudo sysmedic users` beside the packaged service said to start a
    daemon, which would have been a second root daemon on its port."""
    import socket
    from sysmedic.daemon.control import SOCKET_FILE, not_running, service_home
    service = tmp_path / "service"
    service.mkdir()
    mine = str(tmp_path / "mine")
    assert str(not_running(mine, service=str(service))) == (
        "the daemon is not running (start it with: sysmedic daemon start)")
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(service / SOCKET_FILE))
    try:
        assert str(not_running(mine, service=str(service))) == (
            "no daemon runs in %s; the packaged service's runs in %s: use SYSMEDIC_HOME=%s sysmedic ..."
            % (mine, service, service))
    finally:
        listening.close()
    defaults = tmp_path / "defaults"
    defaults.write_text("SYSMEDIC_USER=sysmedic\nSYSMEDIC_HOME='/srv/sysmedic'\n")
    assert service_home((str(defaults),)) == "/srv/sysmedic"
    assert service_home((str(tmp_path / "none"),)) == "/var/lib/sysmedic"
