"""No thread dies unseen (issue 8, defect 11): the real daemon tells systemd READY/WATCHDOG/
STOPPING over $NOTIFY_SOCKET, and a dead thread or a hung sampler is logged, turns /health
into 503 "degraded" and stops feeding the watchdog, so systemd restarts the daemon. Also the
start-up order that `daemon start` relies on, with a listener slow to start."""

import json
import os
import select
import signal
import socket
import sys

import pytest

from ..conftest import ROOT
from sysmedic.daemon import control

from .harness import cli, http_get, wait_for

FAULTS = os.path.join(ROOT, "tests", "e2e", "fault_daemon.py")
WATCHDOG_USEC = 400000   # systemd would expect WATCHDOG=1 at least every 0.4 s; we ping every 0.2 s


@pytest.fixture
def notify_socket(tmp_path):
    """A datagram socket standing where systemd's notify socket would."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    yield sock, {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    sock.close()


def next_message(sock, timeout):
    """The next datagram's text, or None if none arrives within ``timeout`` seconds."""
    if not select.select([sock], [], [], timeout)[0]:
        return None
    return sock.recv(4096).decode()


def drain(sock):
    while next_message(sock, 0) is not None:
        pass


def test_ready_after_serving_then_watchdog_then_stopping(make_daemon, notify_socket):
    sock, env = notify_socket
    daemon = make_daemon(start=False)
    daemon.start(wait=False, env=env)
    ready = next_message(sock, 30)
    assert ready is not None and ready.startswith("READY=1\nMAINPID=%d" % daemon.proc.pid)
    assert http_get(daemon.url("/health"))[0] == 200  # READY means serving, not "about to"
    pings = [next_message(sock, 5) for _ in range(5)]
    assert pings == ["WATCHDOG=1"] * 5
    daemon.proc.send_signal(signal.SIGTERM)
    seen = []
    while "STOPPING=1" not in seen:
        message = next_message(sock, 10)
        assert message is not None, seen
        seen.append(message)
    assert daemon.proc.wait(10) == 0


def fault_daemon(make_daemon, env, fault):
    daemon = make_daemon(start=False)
    daemon.start(wait=False, env=env, command=[sys.executable, FAULTS, fault])
    return daemon


def assert_watchdog_silent(sock):
    """After the fault is visible, no WATCHDOG=1 arrives for 2.5 deadlines."""
    drain(sock)
    message = next_message(sock, 2.5 * WATCHDOG_USEC / 1e6)
    assert message is None, message


def test_a_dead_thread_is_logged_degrades_health_and_starves_the_watchdog(make_daemon, notify_socket):
    sock, env = notify_socket
    daemon = fault_daemon(make_daemon, env, "broadcaster-dies")
    daemon.wait_healthy(status=503)
    body = daemon.health(status=503)
    assert body["status"] == "degraded" and body["problems"] == ["thread broadcaster died"]
    assert body["threads"]["broadcaster"] == "failed" and body["threads"]["sampler"] == "running"
    log = daemon.log()
    assert "thread broadcaster died; the daemon is degraded" in log
    assert "Traceback" in log and "RuntimeError: injected fault: the broadcaster loop crashed" in log
    assert_watchdog_silent(sock)
    status = cli(daemon.home, "daemon", "status")
    assert status.returncode == 0 and "Problems: thread broadcaster died" in status.stdout
    assert daemon.proc.poll() is None  # degraded, not gone: systemd's watchdog decides


def test_a_hung_sampler_degrades_health_and_starves_the_watchdog(make_daemon, notify_socket):
    sock, env = notify_socket
    daemon = fault_daemon(make_daemon, env, "sampler-hangs")
    assert next_message(sock, 30).startswith("READY=1")
    # update_interval 0.2 s: late once the last sample is older than 0.2 + max(0.4, 5) s.
    wait_for(lambda: http_get(daemon.url("/health"))[0] == 503, 20, interval=0.2, what="503 degraded")
    body = json.loads(http_get(daemon.url("/health"))[2])
    assert len(body["problems"]) == 1 and body["problems"][0].startswith("sampler is ")
    assert body["problems"][0].endswith("late (interval 0.2s)") and body["threads"]["sampler"] == "running"
    assert body["sample_age_seconds"] > 5.2
    assert_watchdog_silent(sock)


def test_the_control_socket_answers_only_once_the_listener_serves(make_daemon):
    """`daemon start` returns on the control socket's first answer and prints the URL from it.
    On a busy host that answer came before the listener served: "WebSocket server disabled"."""
    daemon = fault_daemon(make_daemon, {}, "slow-listener")

    def first_answer():
        try:
            return control.call(daemon.home, "status", timeout=5)
        except control.DaemonNotRunning:
            assert daemon.proc.poll() is None, daemon.log()
            return None
    status = wait_for(first_answer, 30, what="the control socket's first answer")
    assert status["listening"] is True and status["port"] == daemon.port
    assert http_get(daemon.url("/health"))[0] == 200
