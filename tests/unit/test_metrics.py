"""The Prometheus exposition: format, units, bounded users, counters that only grow."""

import re
from types import SimpleNamespace

from sysmedic.analysis.persistence import PersistentUser
from sysmedic.collect.records import Snapshot, SystemMetrics, UserUsage
from sysmedic.server.context import DaemonFigures, NotifierFigures
from sysmedic.server.prometheus import Histogram, UserCounters, render


def snap(users, interval=5.0):
    system = SystemMetrics(50.0, 2, 40.0, 1000, 600, 25.0, 3600.0, (1.5, 1.0, 0.5), 1000.0)
    return Snapshot(1000.0, system, tuple(users), False, interval, 0.001, exits_lost=2)


def test_user_cpu_seconds_only_grow_and_the_named_set_is_bounded_and_sticky():
    counters = UserCounters(max_users=2)
    counters.add(snap([UserUsage("a", 1, 50.0, 1.0, 1), UserUsage("b", 2, 10.0, 1.0, 1),
                       UserUsage("c", 3, 5.0, 1.0, 1)]))
    named, other = counters.view["cpu_percent"]
    assert named == (("a", 5.0), ("b", 1.0)) and other == 0.5  # 50% of 2 cores for 5 s = 5 s
    counters.add(snap([UserUsage("c", 3, 90.0, 1.0, 1)]))  # c is busiest now, but the set is full
    named, other = counters.view["cpu_percent"]
    assert named == (("a", 5.0), ("b", 1.0)) and other == 0.5 + 9.0


def test_the_exposition_has_help_type_base_units_and_escaped_labels():
    users = [UserUsage('we"ird\\name', 1001, 25.0, 10.0, 3)]
    counters = UserCounters()
    counters.add(snap(users))
    histogram = Histogram()
    histogram.observe(0.003)
    state = SimpleNamespace(snapshot=snap(users), assessment=SimpleNamespace(
        status="Heavy Load", persistent=(PersistentUser('we"ird\\name', "cpu", 25.0, 0.0, 60.0),)),
        alerts=SimpleNamespace(open_by_severity={"warning": 1}))
    text = render(state, DaemonFigures(
        threads={}, sample_age=1.25, collect_ms=3.0, clients=3, messages_dropped=0, clients_evicted=1,
        sampler_errors=0, broadcast_failures=0, storage_dropped=0, notifiers=(NotifierFigures("email", 4, 1, 0),),
        sample_durations=histogram, user_counters=counters.view, rss_bytes=1, uptime_seconds=1.0, thread_count=1))
    lines = text.splitlines()
    families = [line.split()[2] for line in lines if line.startswith("# TYPE")]
    assert len(families) == len(set(families)) and all(re.match(r"^sysmedic_[a-z0-9_]+$", f) for f in families)
    for line in lines:
        if not line.startswith("#"):
            assert re.match(r'^[a-z_0-9]+(\{[a-z_]+="([^"\\]|\\.)*"(,[a-z_]+="([^"\\]|\\.)*")*\})? [-+0-9.eEaNIf]+$', line), line
    assert "sysmedic_cpu_usage_ratio 0.5" in lines and "sysmedic_memory_usage_ratio 0.4" in lines
    assert 'sysmedic_user_cpu_seconds_total{user="we\\"ird\\\\name"} 2.5' in lines
    assert 'sysmedic_user_memory_bytes{user="we\\"ird\\\\name"} 100' in lines
    assert 'sysmedic_status{status="Heavy Load"} 1' in lines and 'sysmedic_status{status="Light Usage"} 0' in lines
    assert 'sysmedic_user_persistent{user="we\\"ird\\\\name",metric="cpu"} 1' in lines
    assert 'sysmedic_sample_duration_seconds_bucket{le="0.005"} 1' in lines
    assert 'sysmedic_sample_duration_seconds_bucket{le="0.0025"} 0' in lines
    assert 'sysmedic_sample_duration_seconds_count 1' in lines and "sysmedic_exit_records_lost_total 2" in lines
    assert 'sysmedic_notifications_failed_total{notifier="email"} 1' in lines
    assert 'sysmedic_alerts_open{severity="critical"} 0' in lines and text.endswith("\n")
    assert 'sysmedic_alerts_open{severity="warning"} 1' in lines and "sysmedic_websocket_clients 3" in lines
