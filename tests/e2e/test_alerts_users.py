"""Per-user accounting and alerts through the running daemon, with a real load as ``nobody``."""

import json
import os
import shutil
import subprocess
import threading

import pytest
import websocket

from .harness import wait_for

needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                                reason="needs root and setpriv to run a load as another user")


@pytest.fixture
def burner():
    """A busy loop using one core as user nobody; killed at the end."""
    proc = subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                             "sh", "-c", "while :; do :; done"])
    yield proc
    proc.kill()
    proc.wait()


class Client:
    """A websocket-client connection that sorts broadcasts from replies."""

    def __init__(self, url):
        self.ws = websocket.create_connection(url, timeout=15)
        self.broadcasts = []

    def next(self, kind):
        while True:
            message = json.loads(self.ws.recv())
            if message["type"] == kind:
                return message
            self.broadcasts.append(message)

    def ask(self, kind):
        self.ws.send(json.dumps({"type": kind, "request_id": kind}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("request_id") == kind:
                return message["data"]
            self.broadcasts.append(message)


@needs_root
def test_cpu_burner_as_nobody_shows_in_user_metrics(daemon, burner):
    client = Client(daemon.ws_url())
    cores = client.next("system_update")["data"]["cpu_cores"]

    def nobody_share():
        users = {u["username"]: u for u in client.ask("get_user_metrics")}
        return users.get("nobody", {}).get("cpu_percent", 0) > 0.6 * 100 / cores and users["nobody"]
    nobody = wait_for(nobody_share, 10, interval=0.2, what="nobody at most of one core")
    assert nobody["cpu_percent"] <= 100.0 / cores + 2.0  # one core's worth, never more
    assert nobody["processes"] >= 1
    info = client.ask("get_system_info")
    assert info["cpu_usage"] >= nobody["cpu_percent"] - 0.1


@needs_root
def test_persistent_user_alert_is_broadcast_stored_and_auto_resolved(make_daemon, burner):
    daemon = make_daemon(config={"monitoring": {"update_interval": 0.2, "user_cpu_threshold": 20,
                                                "persistent_time": "1s"}})
    client = Client(daemon.ws_url())
    alert = client.next("alert")
    data = alert["data"]
    assert "request_id" not in alert
    assert data["status"] == "Heavy Load" and data["cause"] == "user:nobody:cpu" and data["resolved"] is False
    assert data["persistent_users"][0]["username"] == "nobody" and data["persistent_users"][0]["metric"] == "cpu"
    assert data["primary_cause"].startswith("nobody (cpu: ") and " for " in data["primary_cause"]
    assert any("nobody" in line for line in data["recommendations"])
    assert {"cpu_usage", "memory_usage", "disk_usage", "uptime", "load_avg", "network_io"} <= set(data["system_metrics"])
    assert 1 <= len(data["user_metrics"]) <= 5 and data["user_metrics"][0]["username"] == "nobody"
    alerts = client.ask("get_alerts")
    assert alerts["unresolved_count"] == 1 and alerts["status"] == "1 unresolved alert"
    assert alerts["recent_alerts"][0].startswith("Persistent cpu usage by nobody")
    burner.kill()
    burner.wait()
    wait_for(lambda: client.ask("get_alerts")["status"] == "No unresolved alerts", 10, interval=0.2,
             what="auto-resolution")
    assert client.ask("get_alerts")["total_count"] == 1


def test_alert_opened_by_the_daemon_is_emailed(make_daemon):
    aiosmtpd = pytest.importorskip("aiosmtpd.controller")
    from .harness import free_port
    received = threading.Event()
    messages = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            messages.append(envelope.content.decode("utf-8", "replace"))
            received.set()
            return "250 OK"
    port = free_port()
    controller = aiosmtpd.Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        daemon = make_daemon(config={
            "monitoring": {"update_interval": 0.2, "memory_threshold": 1},
            "email": {"enabled": True, "smtp_host": "127.0.0.1", "smtp_port": port, "security": "none",
                      "recipients": ["ops@example.com"], "sender": "sysmedic@test.example"}})
        assert received.wait(15), daemon.log()
        assert "High memory usage" in messages[0] and "Subject: [SysMedic] CRITICAL" in messages[0]
        wait_for(lambda: "e-mailed to ops@example.com" in daemon.log(), 10, what="mail log line")
    finally:
        controller.stop()
