"""The spec's own client code and command-line tools (Testing Guide methods 1, 2 and 4)."""

import json
import os
import shutil
import subprocess
import sys
import threading

import pytest

from ..conftest import ROOT

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_MODULES = os.path.join(ROOT, "tests", "node", "node_modules")
needs_node = pytest.mark.skipif(not (shutil.which("node") and os.path.isdir(NODE_MODULES)),
                                reason="node and tests/node/node_modules (make node-deps) are needed")


def test_spec_python_client(daemon):
    result = subprocess.run([sys.executable, os.path.join(HERE, "spec_clients", "spec_client.py"), daemon.ws_url()],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    messages = [json.loads(line[len("Received: "):]) for line in result.stdout.splitlines()]
    assert messages[0]["type"] == "welcome"
    reply = messages[-1]
    assert reply["type"] == "system_info_response" and reply["request_id"].startswith("req_1_")
    assert {"cpu_usage", "memory_usage", "disk_usage", "uptime", "load_avg", "network_io"} <= set(reply["data"])


@needs_node
def test_spec_nodejs_client(daemon):
    env = dict(os.environ, NODE_PATH=NODE_MODULES)
    result = subprocess.run(["node", os.path.join(HERE, "spec_clients", "spec_client.js"), daemon.ws_url()],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    replies = [json.loads(line[6:]) for line in result.stdout.splitlines() if line.startswith("REPLY ")]
    assert [r["type"] for r in replies] == ["system_info_response", "alerts_response", "user_metrics_response",
                                           "config_response", "pong"]
    assert "Real-time update: {\n  type: 'welcome'" in result.stdout
    assert replies[3]["data"]["monitoring_interval"] == "1s"


@needs_node
def test_wscat_method_4(daemon):
    """``wscat -c "ws://localhost:8060/ws?secret=..."``, typed into as a person would."""
    wscat = os.path.join(NODE_MODULES, ".bin", "wscat")
    proc = subprocess.Popen([wscat, "--no-color", "-c", daemon.ws_url()], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killer = threading.Timer(30, proc.kill)
    killer.start()
    try:
        first = json.loads(proc.stdout.readline().lstrip("< ").strip())
        assert first["type"] == "welcome"  # connected: now type a request
        proc.stdin.write('{"type":"ping","request_id":"w1"}\n')
        proc.stdin.flush()
        while True:
            line = proc.stdout.readline()
            assert line, "wscat ended without a pong"
            message = json.loads(line.lstrip("<> ").strip())
            if message["type"] == "pong":
                break
        assert message["request_id"] == "w1"
    finally:
        proc.stdin.close()
        proc.wait(10)
        killer.cancel()
    bad = subprocess.Popen([wscat, "--no-color", "-c", daemon.ws_url("wrong")], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killer = threading.Timer(30, bad.kill)
    killer.start()
    try:
        assert "401" in bad.stdout.readline()  # "error: Unexpected server response: 401"
    finally:
        bad.stdin.close()
        bad.wait(10)
        killer.cancel()


def test_health_with_curl_method_1(daemon):
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    result = subprocess.run(["curl", "-s", daemon.url("/health")], capture_output=True, text=True, timeout=30)
    health = json.loads(result.stdout)
    assert result.stdout.startswith('{"status":"healthy","running":true,"clients":0,')
    assert health["port"] == daemon.port
