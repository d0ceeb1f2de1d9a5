"""The wire protocol without sockets: shapes, errors, request ids, rate limiting."""

import json

import pytest

from sysmedic.analysis.assess import assess
from sysmedic.collect.records import Snapshot, SystemMetrics, UserUsage
from sysmedic.config import config_from_dict
from sysmedic.server import protocol
from sysmedic.daemon.state import AlertSummary, State
from sysmedic.storage.db import AlertRecord

NOW = 1737245322  # 2025-01-19T00:08:42Z


def state(**config):
    cfg = config_from_dict(config)
    system = SystemMetrics(45.23, 4, 67.84, 8 * 10**9, 2 * 10**9, 32.11, 2 * 86400 + 4 * 3600 + 32 * 60,
                           (0.85, 0.92, 1.15), 2340000.0)
    users = (UserUsage("database_user", 1001, 85.44, 45.2, 12), UserUsage("web_server", 1002, 25.1, 30.8, 8))
    snap = Snapshot(NOW, system, users, False, 5.0, 0.01)
    assessment, _ = assess(snap, cfg, {}, NOW)
    return State(snap, assessment, users, cfg, AlertSummary(3, 15, ("High CPU usage detected",)),
                 "Ubuntu 22.04.5 LTS", "1.1.0")


def decode(text):
    return json.loads(text)


def test_system_info_response_matches_the_document():
    reply = decode(protocol.respond('{"type": "get_system_info", "request_id": "req_001"}', state(), NOW))
    assert reply == {"type": "system_info_response", "timestamp": "2025-01-19T00:08:42Z", "request_id": "req_001",
                     "data": {"cpu_usage": 45.2, "memory_usage": 67.8, "disk_usage": 32.1, "uptime": "2d 4h 32m",
                              "load_avg": "0.85, 0.92, 1.15", "network_io": "2.34 MB/s", "cpu_cores": 4,
                              "memory_total": 8 * 10**9,
                              "accounting": {"method": "reaped-children", "exit_records_lost": 0},
                              "pressure": None}}  # extension (issue 25): null without PSI figures


def test_alerts_user_metrics_config_and_ping():
    s = state(monitoring={"monitoring_interval": 60})
    alerts = decode(protocol.respond('{"type": "get_alerts"}', s, NOW))
    assert alerts["data"] == {"unresolved_count": 3, "total_count": 15, "recent_alerts": ["High CPU usage detected"],
                              "status": "3 unresolved alerts", "alerts": []}  # the spec's four, and the extension
    assert "request_id" not in alerts
    users = decode(protocol.respond('{"type": "get_user_metrics", "request_id": "r"}', s, NOW))["data"]
    assert users[0] == {"username": "database_user", "cpu_percent": 85.4, "memory_percent": 45.2, "processes": 12}
    config = decode(protocol.respond('{"type": "get_config"}', s, NOW))["data"]
    assert (config["monitoring_interval"], config["cpu_threshold"], config["memory_threshold"], config["version"]) == (
        "1m0s", 80, 80, "1.1.0")
    assert decode(protocol.respond('{"type": "ping", "request_id": "p"}', s, NOW))["data"] == {"message": "pong"}


@pytest.mark.parametrize("unresolved, text", [(0, "No unresolved alerts"), (1, "1 unresolved alert"),
                                              (2, "2 unresolved alerts")])
def test_alert_status_wording(unresolved, text):
    assert protocol.alerts_data(AlertSummary(unresolved, 5, ()))["status"] == text


def test_welcome_and_system_update():
    s = state()
    welcome = protocol.welcome(s)
    columns = welcome.pop("user_columns")  # the extension: the user table's columns, from the figure table
    assert welcome == {"message": "Connected to SysMedic", "version": "1.1.0",
                       "system": "Ubuntu 22.04.5 LTS", "status": "Medium Usage", "daemon": "Running"}
    assert columns == [{"key": "cpu_percent", "title": "CPU %", "digits": 1},
                       {"key": "memory_percent", "title": "Memory %", "digits": 1},
                       {"key": "processes", "title": "Processes", "digits": 0}]
    update = protocol.system_update(s)
    assert (update["cpu_usage"], update["memory_usage"], update["disk_usage"], update["uptime"]) == (
        45.2, 67.8, 32.1, "2d 4h 32m")
    assert update["sample_time"] == NOW
    message = decode(protocol.encode("system_update", update, NOW))
    assert set(message) == {"type", "data", "timestamp"}


def test_alert_broadcast_shape():
    s = state()
    record = AlertRecord(7, NOW, "warning", "Heavy Load", "user:database_user:cpu", "Persistent cpu usage",
                         ("database_user",), {}, None, None)
    data = protocol.alert(s, record)
    assert {"status", "system_metrics", "user_metrics", "persistent_users", "primary_cause",
            "recommendations"} <= set(data)
    assert data["id"] == 7 and data["severity"] == "warning" and data["resolved"] is False
    assert len(data["user_metrics"]) <= 5 and data["system_metrics"]["load_avg"] == "0.85, 0.92, 1.15"


@pytest.mark.parametrize("text, error", [
    ('{"type": "invalid_request"}', "Unknown request type: invalid_request"),
    ("{", "Invalid JSON"), ('{"type": "ping", "n": NaN}', "Invalid JSON"),
    ('{"type": "ping", "n": Infinity}', "Invalid JSON"), ("42", "Request must be a JSON object"),
    ("{}", "Missing request type"), ('{"type": null}', "Missing request type"),
])
def test_errors(text, error):
    reply = decode(protocol.respond(text, state(), NOW))
    assert reply["type"] == "error" and reply["data"] == {"error": error}


def test_deep_nesting_is_an_error_reply_not_a_crash():
    # Python < 3.13 raises RecursionError inside json (-> Invalid JSON); 3.13 parses the list.
    reply = decode(protocol.respond("[" * 5000 + "]" * 5000, state(), NOW))
    assert reply["type"] == "error"
    assert reply["data"]["error"] in ("Invalid JSON", "Request must be a JSON object")
    reply = decode(protocol.respond('{"type": "ping", "x": ' + "[" * 5000 + "]" * 5000 + "}", state(), NOW))
    assert reply["type"] in ("pong", "error")


def test_lone_surrogates_are_never_echoed_as_invalid_json():
    """Issue 13, Low 14: a request_id holding a lone surrogate (U+D800) was echoed as such;
    strict JSON parsers reject it."""
    text = '{"type": "ping", "request_id": "\\ud800"}'
    reply = protocol.respond(text, state(), NOW)
    assert "ud800" not in reply and decode(reply)["type"] == "pong" and "request_id" not in decode(reply)
    reply = protocol.respond('{"type": "\\udfff", "request_id": "ok"}', state(), NOW)
    reply.encode("utf-8")  # no lone surrogate left in the text
    assert decode(reply)["data"]["error"] == "Unknown request type: \\udfff" and decode(reply)["request_id"] == "ok"


def test_unknown_type_echo_is_bounded_and_request_id_rules():
    reply = decode(protocol.respond(json.dumps({"type": "x" * 1000, "request_id": "a"}), state(), NOW))
    assert len(reply["data"]["error"]) < 100 and reply["request_id"] == "a"
    for request_id, kept in (("x" * 128, True), ("x" * 129, False), (5, False), (None, False), (["a"], False)):
        reply = decode(protocol.respond(json.dumps({"type": "ping", "request_id": request_id}), state(), NOW))
        assert ("request_id" in reply) is kept


def test_rate_limiter_refills_with_time():
    now = [0.0]
    limiter = protocol.RateLimiter(rate=2, burst=3, clock=lambda: now[0])
    assert [limiter.allow() for _ in range(4)] == [True, True, True, False]
    now[0] = 0.5
    assert limiter.allow() and not limiter.allow()
    now[0] = 100
    assert sum(limiter.allow() for _ in range(10)) == 3


def test_get_history_costs_ten_requests_against_the_rate_limit():
    now = [0.0]
    limiter = protocol.RateLimiter(20, 40, lambda: now[0])
    history = '{"type": "get_history", "since": 86400}'
    assert protocol.cost_of(history) == 10 and protocol.cost_of('{"type": "ping"}') == 1
    assert [limiter.allow(protocol.cost_of(history)) for _ in range(5)] == [True, True, True, True, False]
    now[0] += 0.5  # 10 tokens back: one more
    assert limiter.allow(protocol.cost_of(history)) and not limiter.allow(protocol.cost_of(history))
    assert protocol.RateLimiter(1, 1, lambda: 0.0).allow(10)  # never more than the burst


def test_arguments_come_in_data_as_the_spec_shows_or_at_the_top_level():
    """Issue 22, item 6: a client following the spec's request format got `username is required`."""
    from sysmedic.server.protocol import arguments
    assert arguments({"type": "x", "data": {"username": "ann", "limit": 3}})["username"] == "ann"
    assert arguments({"type": "x", "username": "bob"})["username"] == "bob"
    assert arguments({"type": "x", "username": "bob", "data": {"username": "ann"}})["username"] == "ann"
    assert arguments({"type": "x", "username": "bob", "data": None})["username"] == "bob"
