"""A real Prometheus scraping a small fleet (issue 11): two daemons, two homes, two ports, one
behind a bearer token. A CPU load as a throw-away user: what Prometheus computes from
``sysmedic_user_cpu_seconds_total`` agrees with the daemon's own ``get_user_metrics`` over the
same window; a target scraped with a wrong token is down."""

import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from ..loads import CgroupLoad, can_run_loads
from .harness import Client, free_port, wait_for

PROMETHEUS = shutil.which("prometheus")
WINDOW = 30  # seconds of rate()
UPDATE = 0.5

pytestmark = [
    pytest.mark.skipif(PROMETHEUS is None, reason="Debian's prometheus (make test installs it as root)"),
    pytest.mark.skipif(not can_run_loads(), reason="a load as a throw-away user needs root, cgroups and setpriv"),
]

CONFIG = """global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: plain
    static_configs:
      - targets: ['127.0.0.1:{plain}']
  - job_name: token
    authorization:
      credentials_file: {right}
    static_configs:
      - targets: ['127.0.0.1:{token}']
  - job_name: wrong-token
    authorization:
      credentials_file: {wrong}
    static_configs:
      - targets: ['127.0.0.1:{token}']
"""


def secret_file(path, text):
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    return str(path)


def api(port, path, **query):
    url = "http://127.0.0.1:%d/api/v1/%s?%s" % (port, path, urllib.parse.urlencode(query))
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return answer["data"]


def targets(port):
    """``{job: (health, last error)}`` of Prometheus' active targets."""
    try:
        found = api(port, "targets")["activeTargets"]
    except OSError:
        return {}
    return {t["labels"]["job"]: (t["health"], t["lastError"]) for t in found}


@pytest.fixture
def prometheus(tmp_path):
    """Start Prometheus on a free loopback port with ``config`` (text); returns its port."""
    started = []

    def start(config):
        port = free_port()
        path = tmp_path / "prometheus.yml"
        path.write_text(config)
        log = open(str(tmp_path / "prometheus.log"), "wb")
        proc = subprocess.Popen([PROMETHEUS, "--config.file=%s" % path, "--storage.tsdb.path=%s" % (tmp_path / "tsdb"),
                                 "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        started.append((proc, log))
        wait_for(lambda: proc.poll() is None and targets(port), 60, interval=0.2, what="Prometheus answering")
        return port
    yield start
    for proc, log in started:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_prometheus_rate_of_user_cpu_matches_the_daemon_and_a_wrong_token_is_down(make_daemon, prometheus, tmp_path):
    token = secrets.token_hex(16)
    fast = {"monitoring": {"update_interval": UPDATE, "monitoring_interval": 1}}
    plain = make_daemon(config=fast, websocket={"metrics": True})
    guarded = make_daemon(config=fast, websocket={
        "metrics": True, "metrics_token_file": secret_file(tmp_path / "daemon-token", token)})
    port = prometheus(CONFIG.format(plain=plain.port, token=guarded.port,
                                    right=secret_file(tmp_path / "right", token),
                                    wrong=secret_file(tmp_path / "wrong", secrets.token_hex(16))))
    with CgroupLoad([sys.executable, "-c", "while True: pass"]) as load:
        load.wait_running()
        client = Client(plain.ws_url())
        cores = client.next("system_update")["data"]["cpu_cores"]
        shown = []  # (sample_time, the load's cpu_percent) of every window of the plain daemon
        deadline = time.time() + WINDOW + 8
        while time.time() < deadline:
            sample_time = client.next("system_update")["data"]["sample_time"]
            users = {u["username"]: u["cpu_percent"] or 0.0 for u in client.ask("get_user_metrics")}
            shown.append((sample_time, users.get(load.user, 0.0)))
    state = targets(port)
    assert state["plain"][0] == "up" and state["token"][0] == "up", state
    assert state["wrong-token"][0] == "down" and "401" in state["wrong-token"][1], state

    # rate() over the 30 s before `when` against the daemon's windows inside the same 30 s.
    when = shown[-1][0] - 2 * UPDATE
    inside = [cpu for sample_time, cpu in shown if when - WINDOW + UPDATE <= sample_time <= when]
    assert len(inside) >= WINDOW / UPDATE * 0.8, shown
    daemon_says = statistics.mean(inside)
    query = 'sum by (user) (rate(sysmedic_user_cpu_seconds_total{job="%s"}[%ds]))'
    for job in ("plain", "token"):
        result = api(port, "query", query=query % (job, WINDOW), time="%.3f" % when)["result"]
        by_user = {r["metric"].get("user"): float(r["value"][1]) * 100 / cores for r in result}
        assert load.user in by_user, by_user
        if job == "plain":
            prometheus_says = by_user[load.user]
            print("load %s: Prometheus %.2f%%, daemon %.2f%% (mean of %d windows)"
                  % (load.user, prometheus_says, daemon_says, len(inside)))
            assert abs(prometheus_says - daemon_says) <= 0.10 * daemon_says, (prometheus_says, daemon_says)
            assert daemon_says > 5  # the load was seen at all
