"""The browser page in headless Chromium and the Node.js example, against the real daemon."""

import json
import os
import re
import shutil
import subprocess
import sys
import threading

import pytest

from ..conftest import ROOT
from .harness import free_port, http_get, raw_get, wait_for

NODE_MODULES = os.path.join(ROOT, "tests", "node", "node_modules")
PAGE = os.path.join(ROOT, "sysmedic", "web", "dashboard.html")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
needs_node = pytest.mark.skipif(not (shutil.which("node") and os.path.isdir(NODE_MODULES)),
                                reason="node and tests/node/node_modules (make node-deps) are needed")
needs_browser = pytest.mark.skipif(not os.path.exists(CHROMIUM) or not os.path.isdir(NODE_MODULES),
                                   reason="Debian chromium and playwright-core (make test installs both)")


def sysmedic_url(daemon):
    return "sysmedic://%s@127.0.0.1:%d/" % (daemon.secret, daemon.port)


def drive_browser(page_url, daemon, tmp_path):
    shot = str(tmp_path / "browser.png")
    result = subprocess.run(["node", os.path.join(ROOT, "tests", "node", "browser_client.js"), page_url,
                             sysmedic_url(daemon), shot], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, NODE_PATH=NODE_MODULES, CHROMIUM=CHROMIUM))
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout.strip().splitlines()[-1])
    assert os.path.getsize(shot) > 10000
    return shown


def check_page(shown):
    assert re.match(r"^\d+\.\d%$", shown["cpu"]) and re.match(r"^\d+\.\d%$", shown["memory"])
    assert shown["status"] in ("Light Usage", "Medium Usage", "Heavy Load")
    assert shown["accounting"].startswith("Per-user CPU: ")
    assert shown["system"].endswith("SysMedic 1.1.0") or "SysMedic" in shown["system"]
    assert "root" in shown["users"]
    for kind in ("pong", "alerts_response", "config_response", "system_info_response", "welcome"):
        assert kind in shown["log"], kind
    assert shown["problems"] == []
    assert shown["alertSummary"] == "No unresolved alerts (0 in total)" and shown["alerts"] == []


@needs_browser
def test_method_3_page_from_python_http_server(daemon, tmp_path):
    """spec Method 3: python3 -m http.server, open /examples/websocket_client.html, connect."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        page = "http://127.0.0.1:%d/examples/websocket_client.html" % port
        wait_for(lambda: _up(page), 10, what="http.server")
        check_page(drive_browser(page, daemon, tmp_path))
    finally:
        server.kill()
        server.wait()


def _up(url):
    try:
        return http_get(url, timeout=1)[0] == 200
    except OSError:
        return False


@needs_browser
def test_page_served_by_the_daemon(daemon, tmp_path):
    check_page(drive_browser(daemon.url("/"), daemon, tmp_path))


@needs_browser
def test_alerts_panel_shows_what_get_alerts_says(make_daemon, tmp_path):
    """Issue 8, defect 10: the panel stayed "No alerts received." after a get_alerts reply with
    unresolved alerts. memory_threshold 1 opens a system:memory alert on the first sample."""
    daemon = make_daemon(config={"monitoring": {"update_interval": 0.2, "memory_threshold": 1}})
    wait_for(lambda: daemon.control("dashboard")["dashboard"]["unresolved_alerts"] == 1, 10, what="an open alert")
    shown = drive_browser(daemon.url("/"), daemon, tmp_path)
    assert shown["alertSummary"] == "1 unresolved alert (1 in total)"
    assert len(shown["alerts"]) == 1 and shown["alerts"][0].startswith("High memory usage: ")


def test_daemon_serves_the_packaged_page_with_a_strict_policy(daemon):
    status, headers, body = raw_get(daemon.port, "/")
    with open(PAGE, "rb") as handle:
        assert body == handle.read()
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in headers["Content-Security-Policy"] and headers["X-Content-Type-Options"] == "nosniff"
    with open(os.path.join(ROOT, "examples", "websocket_client.html"), "rb") as handle:
        assert handle.read() == body  # the example is the same file


def test_page_never_puts_server_data_in_as_html():
    with open(PAGE) as handle:
        script = handle.read()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
    assert "textContent" in script


@needs_node
def test_node_example_scripted_and_wrong_secret(daemon):
    env = dict(os.environ, NODE_PATH=NODE_MODULES)
    client = os.path.join(ROOT, "examples", "websocket_client.js")
    result = subprocess.run(["node", client, sysmedic_url(daemon), "-c", "ping", "-c", "config", "-c", "alerts"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Connected to SysMedic (version ")
    assert "pong:" in result.stdout and '"monitoring_interval": "1s"' in result.stdout
    assert '"status": "No unresolved alerts"' in result.stdout
    result = subprocess.run(["node", client, "ws://127.0.0.1:%d/ws" % daemon.port, "--secret", daemon.secret,
                             "-c", "users"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0 and "user_metrics_response:" in result.stdout
    bad = subprocess.run(["node", client, "sysmedic://nope@127.0.0.1:%d/" % daemon.port, "-c", "ping"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode == 3 and "Invalid secret" in bad.stderr


@needs_node
def test_node_example_interactive_and_rotation(daemon):
    from .harness import cli
    proc = subprocess.Popen(["node", os.path.join(ROOT, "examples", "websocket_client.js"), sysmedic_url(daemon)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, NODE_PATH=NODE_MODULES))
    killer = threading.Timer(60, proc.kill)
    killer.start()
    try:
        line = proc.stdout.readline()
        while not line.startswith("Connected to SysMedic"):
            line = proc.stdout.readline()
            assert line
        proc.stdin.write("ping\n")
        proc.stdin.flush()
        while line.strip() != "pong:":
            line = proc.stdout.readline()
            assert line
        cli(daemon.home, "websocket", "new-secret", check=True)
        rest = proc.stdout.read()
        assert proc.wait(15) == 3 and "The secret was rotated" in rest
    finally:
        killer.cancel()
        proc.kill()


@needs_node
def test_node_example_without_input_streams_until_a_signal(daemon):
    """Issue 22, item 15: `node websocket_client.js URL </dev/null` exited at once without
    connecting (the Python client streams in the same case)."""
    proc = subprocess.Popen(["node", os.path.join(ROOT, "examples", "websocket_client.js"), sysmedic_url(daemon)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, NODE_PATH=NODE_MODULES))
    killer = threading.Timer(60, proc.kill)
    killer.start()
    try:
        updates = 0
        for line in proc.stdout:
            updates += "| MEM " in line
            if updates >= 3:
                break
        assert updates >= 3 and proc.poll() is None
        proc.terminate()
        proc.wait(10)
    finally:
        killer.cancel()
        proc.kill()
