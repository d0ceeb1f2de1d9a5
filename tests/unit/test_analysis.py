"""Status labels, persistence and alert conditions at their boundaries."""

import pytest

from sysmedic.analysis import status
from sysmedic.analysis.alerts import conditions, diff, recommendations
from sysmedic.analysis.assess import assess
from sysmedic.analysis.debounce import Gate, step
from sysmedic.analysis.persistence import Run, persistent_users, primary_cause, track
from sysmedic.collect.records import Snapshot, SystemMetrics, UserUsage
from sysmedic.config import config_from_dict

CONFIG = config_from_dict({"monitoring": {"persistent_time": "5m", "user_cpu_threshold": 50},
                           "users": {"db": {"cpu_threshold": 30}}})


def snap(cpu=10.0, memory=10.0, users=(), t=0.0):
    system = SystemMetrics(cpu, 2, memory, 1000, 500, 10.0, 100.0, (0.1, 0.2, 0.3), 0.0)
    return Snapshot(t, system, tuple(users), False, 5.0, 0.001)


def user(name, cpu=0.0, memory=0.0):
    return UserUsage(name, 1000, cpu, memory, 3)


@pytest.mark.parametrize("cpu, memory, label", [
    (80.0, 10.0, status.MEDIUM),     # exactly at the threshold is not above it
    (80.1, 10.0, status.HEAVY),
    (10.0, 80.1, status.HEAVY),
    (60.0, 10.0, status.LIGHT),      # 60 is 75% of 80: not above it
    (60.1, 10.0, status.MEDIUM),
    (10.0, 60.1, status.MEDIUM),
    (10.0, 10.0, status.LIGHT),
])
def test_status_boundaries(cpu, memory, label):
    assert status.classify(snap(cpu, memory), CONFIG) == label


def test_user_above_own_threshold_is_medium_and_persistent_user_is_heavy():
    assert status.classify(snap(users=[user("db", cpu=30.0)]), CONFIG) == status.LIGHT
    assert status.classify(snap(users=[user("db", cpu=30.1)]), CONFIG) == status.MEDIUM
    assert status.classify(snap(users=[user("web", cpu=30.1)]), CONFIG) == status.LIGHT  # default 50
    assert status.classify(snap(), CONFIG, persistent=["x"]) == status.HEAVY


def test_persistence_exactly_at_persistent_time_and_one_sample_short():
    state = {}
    for t in range(0, 300, 5):
        state = track(state, [user("db", cpu=95.2)], CONFIG, now=t)
        assert persistent_users(state, [user("db", cpu=95.2)], 300, now=t) == []
    state = track(state, [user("db", cpu=95.2)], CONFIG, now=300)
    found = persistent_users(state, [user("db", cpu=95.2)], 300, now=300)
    assert [(p.username, p.metric, p.duration) for p in found] == [("db", "cpu", 300)]
    assert primary_cause(found) == "db (cpu: 95.2% for 5m)"
    assert found[0].to_json() == {"username": "db", "metric": "cpu", "usage": 95.2, "duration": "5m"}


def test_a_dip_restarts_the_clock():
    state = track({}, [user("db", cpu=95.0)], CONFIG, now=0)
    state = track(state, [user("db", cpu=30.0)], CONFIG, now=200)  # at the threshold: a dip
    assert state == {}
    state = track(state, [user("db", cpu=95.0)], CONFIG, now=205)
    assert persistent_users(state, [user("db", cpu=95.0)], 300, now=500) == []
    assert len(persistent_users(state, [user("db", cpu=95.0)], 300, now=505)) == 1


def test_warming_up_keeps_cpu_runs_and_excluded_users_never_persist():
    state = track({}, [user("db", cpu=95.0)], CONFIG, now=0)
    state = track(state, [UserUsage("db", 1, None, 0.0, 1)], CONFIG, now=5)
    assert state == {("db", "cpu"): Run(0, 0)}
    excluded = config_from_dict({"filtering": {"excluded_users": ["db"]}})
    assert track({}, [user("db", cpu=99.0, memory=99.0)], excluded, now=0) == {}


def test_conditions_and_diff():
    users = [user("db", cpu=60.0)]
    state = track({}, users, CONFIG, now=0)
    persistent = persistent_users(state, users, 300, now=400)
    found = conditions(snap(cpu=85.0, users=users), CONFIG, persistent, {"system:cpu": Gate(True)})
    assert sorted(found) == ["system:cpu", "user:db:cpu"]
    assert sorted(conditions(snap(cpu=85.0, users=users), CONFIG, persistent, {})) == ["user:db:cpu"]
    assert found["system:cpu"].severity == "critical" and "85.0%" in found["system:cpu"].message
    assert found["user:db:cpu"].users == ("db",)
    to_open, to_resolve = diff({"system:cpu", "system:memory"}, found)
    assert [c.cause for c in to_open] == ["user:db:cpu"]
    assert to_resolve == ["system:memory"]
    advice = recommendations(snap(cpu=85.0, users=users), CONFIG, persistent)
    assert any("db" in line and "CPU" in line for line in advice)


def test_assess_ties_it_together():
    users = [user("db", memory=95.0)]
    state = {}
    for t in (0, 150, 300):
        result, state = assess(snap(users=users, t=t), CONFIG, state, now=t)
    assert result.status == status.HEAVY
    assert result.primary_cause == "db (memory: 95.0% for 5m)"
    assert list(result.conditions) == ["user:db:memory"]
    assert any("memory" in line and "db" in line for line in result.recommendations)


def test_visible_users_filtering():
    users = [user("root", cpu=0.0, memory=0.05), user("alice", cpu=5.0), UserUsage("daemon", 1, 0.0, 0.0, 1)]
    default = config_from_dict({}).filtering
    assert [u.username for u in status.visible_users(users, default)] == ["root", "alice", "daemon"]
    strict = config_from_dict({"filtering": {"min_cpu_percent": 1, "excluded_users": ["root"],
                                             "exclude_system_users": True}}).filtering
    assert [u.username for u in status.visible_users(users, strict)] == ["alice"]


# -- debounce, hysteresis, grace (issue 10) ---------------------------------------------------

GATED = config_from_dict({"monitoring": {"cpu_threshold": 80, "alert_after": "60s", "clear_after": "60s",
                                         "clear_margin": 5, "persistent_time": "5m", "persistent_grace": "15s",
                                         "user_cpu_threshold": 50}})


def gate_through(samples, monitoring=GATED.monitoring):
    """The gate after ``[(t, cpu)]``, and whether it was open after each sample."""
    gate, opened = Gate(), []
    for t, cpu in samples:
        gate = step(gate, cpu, 80, t, monitoring)
        opened.append(gate.open)
    return gate, opened


def test_an_alert_opens_only_after_alert_after_above_the_threshold():
    _, opened = gate_through([(0, 90), (55, 90), (59, 90), (60, 90)])
    assert opened == [False, False, False, True]  # one sample before: closed; at 60 s: open
    _, opened = gate_through([(0, 90), (30, 80), (31, 90), (90, 90), (91, 90)])  # 80 is not above
    assert opened == [False, False, False, False, True]  # the clock restarted at 31 s


def test_a_spike_opens_nothing_and_zero_means_at_once():
    assert not any(gate_through([(0, 99), (1, 99), (2, 99), (3, 50)])[1])
    at_once = config_from_dict({"monitoring": {"alert_after": 0}}).monitoring
    assert gate_through([(0, 80.1)], at_once)[1] == [True]


def test_an_open_alert_resolves_after_clear_after_below_the_margin():
    opened = [(0, 90), (60, 90)]
    # 76 is in the hysteresis band (above 80 - 5): it stays open however long
    assert gate_through(opened + [(100, 76), (500, 75)])[1][-2:] == [True, True]
    # 74.9 is clear: open until it has been clear for 60 s
    assert gate_through(opened + [(100, 74.9), (159, 74.9), (160, 74.9)])[1][-3:] == [True, True, False]
    # a return to the band restarts the clearing clock
    gate, opened_after = gate_through(opened + [(100, 74), (150, 78), (151, 74), (210, 74), (211, 74)])
    assert opened_after[-3:] == [True, True, False]


def test_warming_up_changes_no_gate():
    gate = Gate(False, 10.0)
    assert step(gate, None, 80, 100, GATED.monitoring) is gate


def test_a_dip_shorter_than_the_grace_keeps_the_run():
    high, low = [user("db", cpu=95.0)], [user("db", cpu=10.0)]
    state = track({}, high, GATED, now=0)
    state = track(state, low, GATED, now=10)
    state = track(state, low, GATED, now=14.9)  # 14.9 s after the last sample above: kept
    assert state == {("db", "cpu"): Run(0, 0)}
    assert persistent_users(track(state, high, GATED, now=300), high, 300, now=300)[0].duration == 300
    assert track(state, low, GATED, now=15) == {}  # 15 s: the run ends


def test_assess_debounces_the_system_and_keeps_the_status_instantaneous():
    state = None
    for t, cpu in ((0, 90), (30, 90)):
        result, state = assess(snap(cpu=cpu, t=t), GATED, state, now=t)
    assert result.status == status.HEAVY and result.conditions == {}
    result, state = assess(snap(cpu=90, t=60), GATED, state, now=60)
    assert list(result.conditions) == ["system:cpu"]
    result, state = assess(snap(cpu=70, t=70), GATED, state, now=70)
    assert result.status == status.MEDIUM and list(result.conditions) == ["system:cpu"]


def test_a_history_row_keeps_the_average_and_the_peak_of_every_sample():
    from sysmedic.history.rollup import HistoryWindow
    window = HistoryWindow()
    for cpu, label in ((10.0, status.LIGHT), (87.6, status.HEAVY), (12.0, status.LIGHT)):
        window.add(snap(cpu=cpu, users=[user("ann", cpu=cpu / 2)]), label, [user("ann", cpu=cpu / 2)])
    window.add(snap(cpu=11.0, users=[]), status.LIGHT, [])  # ann had no process then: 0 for her
    system, users = window.rows(1000.0)
    assert system.cpu == pytest.approx((10 + 87.6 + 12 + 11) / 4) and system.cpu_max == 87.6
    assert system.status == status.HEAVY and system.samples == 4
    assert users[0].username == "ann" and users[0].cpu == pytest.approx((5 + 43.8 + 6) / 4)
    assert users[0].cpu_max == pytest.approx(43.8)
    assert HistoryWindow().rows(0) is None
