"""GET /metrics (issue 11, part 1): off by default, loopback or a token, the exposition format,
and a per-user CPU counter that grows with what get_user_metrics shows."""

import os
import pwd
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from .harness import Client, wait_for


def scrape(daemon, token=None, host="127.0.0.1"):
    request = urllib.request.Request("http://%s:%d/metrics" % (host, daemon.port))
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read().decode()


def value(text, series):
    match = re.search(r"^%s (\S+)$" % re.escape(series), text, re.MULTILINE)
    return None if match is None else float(match.group(1))


def test_metrics_are_off_unless_enabled(make_daemon):
    assert scrape(make_daemon())[0] == 404


def test_a_loopback_listener_serves_the_exposition_and_the_cpu_counter_grows(make_daemon):
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        daemon = make_daemon(websocket={"metrics": True})
        me = pwd.getpwuid(os.getuid()).pw_name
        series = 'sysmedic_user_cpu_seconds_total{user="%s"}' % me
        wait_for(lambda: value(scrape(daemon)[2], series) is not None, 20, interval=0.2, what="the user's counter")
        status, kind, text = scrape(daemon)
        assert status == 200 and kind == "text/plain; version=0.0.4; charset=utf-8"
        first = value(text, series)
        wait_for(lambda: value(scrape(daemon)[2], series) > first + 0.5, 20, interval=0.2,
                 what="the counter to grow by the burner's CPU")
        assert 'sysmedic_status{status="' in text and "# TYPE sysmedic_user_cpu_seconds_total counter" in text
        assert value(text, "sysmedic_cpu_cores") >= 1 and 0 <= value(text, "sysmedic_memory_usage_ratio") <= 1
        assert value(text, 'sysmedic_sample_duration_seconds_bucket{le="+Inf"}') >= 1
        client = Client(daemon.ws_url())  # a connected client is counted
        client.next("system_update")
        assert value(scrape(daemon)[2], "sysmedic_websocket_clients") == 1
        assert daemon.control("status")["secret"] not in scrape(daemon)[2]
    finally:
        burner.kill()
        burner.wait()


def test_a_token_file_is_required_when_configured_and_must_be_private(make_daemon, tmp_path):
    token_file = tmp_path / "metrics.token"
    token_file.write_text("t0ken-value\n")
    os.chmod(token_file, 0o600)
    daemon = make_daemon(websocket={"metrics": True, "metrics_token_file": str(token_file)})
    wait_for(lambda: scrape(daemon, "t0ken-value")[0] == 200, 20, interval=0.2, what="a sample")
    assert scrape(daemon)[0] == 401
    assert scrape(daemon, "wrong")[0] == 401
    assert scrape(daemon, daemon.secret)[0] == 401  # the WebSocket secret is not the metrics token
    os.chmod(token_file, 0o644)
    status, _, body = scrape(daemon, "t0ken-value")
    assert status == 500 and "t0ken" not in body
    assert "others may read it" in daemon.log() and "t0ken-value" not in daemon.log()


def test_a_relative_token_file_is_the_homes_and_a_reload_checks_it(make_daemon):
    """Issue 22, item 8: a relative metrics_token_file was the daemon's cwd's; the reload said
    `configuration reloaded` and every scrape then answered 500."""
    import json
    import signal
    daemon = make_daemon(start=False, websocket={"metrics": True, "metrics_token_file": "metrics.token"})
    token_file = os.path.join(daemon.home, "metrics.token")
    with open(token_file, "w") as handle:
        handle.write("t0ken-value\n")
    os.chmod(token_file, 0o600)
    daemon.start()
    wait_for(lambda: scrape(daemon, "t0ken-value")[0] == 200, 20, interval=0.2, what="a sample")
    path = os.path.join(daemon.home, "websocket.json")
    with open(path) as handle:
        saved = json.load(handle)
    saved["metrics_token_file"] = "absent.token"
    with open(path, "w") as handle:
        json.dump(saved, handle)
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload failed, keeping the running configuration: metrics_token_file" in daemon.log(), 10,
             what="the failed reload's line")
    assert "absent.token: No such file or directory" in daemon.log()
    assert scrape(daemon, "t0ken-value")[0] == 200  # the running settings stayed


def test_a_public_listener_without_a_token_refuses_unless_told(make_daemon):
    daemon = make_daemon(websocket={"metrics": True, "host": "0.0.0.0"})
    assert scrape(daemon)[0] == 403
    assert scrape(daemon, daemon.secret)[0] == 403  # nor does the WebSocket secret open it
    public = make_daemon(websocket={"metrics": True, "host": "0.0.0.0", "metrics_public": True})
    wait_for(lambda: scrape(public)[0] == 200, 20, interval=0.2, what="a sample")


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (Debian's prometheus; make system-deps as root)")
def test_promtool_accepts_a_live_scrape(make_daemon):
    daemon = make_daemon(websocket={"metrics": True})
    wait_for(lambda: scrape(daemon)[0] == 200, 20, interval=0.2, what="a sample")
    text = scrape(daemon)[2]
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0 and not checked.stdout.strip() and not checked.stderr.strip(), (
        checked.stdout + checked.stderr)


def test_every_metric_the_grafana_dashboard_queries_is_in_a_live_scrape(make_daemon):
    """packaging/grafana/sysmedic-dashboard.json names only metrics /metrics really exports."""
    import json
    from ..conftest import ROOT
    with open(os.path.join(ROOT, "packaging", "grafana", "sysmedic-dashboard.json")) as handle:
        dashboard = json.load(handle)
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    expressions += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    names = {name for expr in expressions for name in re.findall(r"\bsysmedic_[a-z0-9_]+", expr)}
    assert len(names) >= 15, names
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # a user with CPU to name
    try:
        daemon = make_daemon(websocket={"metrics": True})

        def exported():
            return {line.split("{")[0].split(" ")[0] for line in scrape(daemon)[2].splitlines()
                    if not line.startswith("#")}
        wait_for(lambda: "sysmedic_user_memory_bytes" in exported(), 20, interval=0.2, what="a named user")
        assert names <= exported(), sorted(names - exported())
    finally:
        burner.kill()
        burner.wait()
    with open(os.path.join(ROOT, "packaging", "prometheus", "sysmedic-scrape.yml")) as handle:
        assert "metrics_path: /metrics" in handle.read()
