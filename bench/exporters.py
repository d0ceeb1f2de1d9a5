"""SysMedic's /metrics against Prometheus' node_exporter and process-exporter (grouping by
user), side by side on a machine grown to ~1000 processes (issue 11).

Each run starts the three at once and, for WINDOW s (60), scrapes each every 5 s as
Prometheus would; per program: the scrape latency (p50, max over the run), the body size,
and the whole process's CPU over the window as a % of one core (SysMedic's includes its
sampling at the default 5 s and its serving; the exporters work only when scraped). Then
BURST back-to-back scrapes of each give the CPU per scrape (less the program's own rate in
the window before, which for SysMedic is its sampling). RUNS runs, medians.

Needs Debian's prometheus-node-exporter and prometheus-process-exporter (make bench-deps).
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from _procs import ExtraProcesses, process_count  # noqa: E402
from fanout import cpu_seconds, free_port  # noqa: E402

from sysmedic.daemon import control  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
WINDOW = float(os.environ.get("BENCH_WINDOW", "60"))
EVERY = 5.0
BURST = int(os.environ.get("BENCH_BURST", "20"))
# process-exporter: one group per user (its documented template), every process matched.
PROCESS_EXPORTER_CONFIG = """process_names:
  - name: "{{.Username}}"
    cmdline:
    - '.+'
"""


def wait_answering(url, proc, what):
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit("%s exited %s" % (what, proc.returncode))
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("%s did not answer" % what)


def start_all(work):
    """``{name: (process, metrics URL)}``, each answering."""
    started = {}
    home = os.path.join(work, "sysmedic")
    os.makedirs(home, mode=0o700)
    port = free_port()
    with open(os.path.join(home, "websocket.json"), "w") as handle:
        handle.write('{"port": %d, "host": "127.0.0.1", "metrics": true}' % port)
    env = dict(os.environ, SYSMEDIC_HOME=home, PYTHONPATH=ROOT)
    started["SysMedic (whole daemon)"] = (subprocess.Popen(
        [sys.executable, "-m", "sysmedic", "daemon", "run"], env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), "http://127.0.0.1:%d/metrics" % port)
    port = free_port()
    started["node_exporter"] = (subprocess.Popen(
        ["prometheus-node-exporter", "--web.listen-address=127.0.0.1:%d" % port],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), "http://127.0.0.1:%d/metrics" % port)
    config = os.path.join(work, "process-exporter.yml")
    with open(config, "w") as handle:
        handle.write(PROCESS_EXPORTER_CONFIG)
    port = free_port()
    started["process-exporter (by user)"] = (subprocess.Popen(
        ["prometheus-process-exporter", "-config.path", config, "-web.listen-address", "127.0.0.1:%d" % port],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), "http://127.0.0.1:%d/metrics" % port)
    for name, (proc, url) in started.items():
        wait_answering(url, proc, name)
    control.call(home, "status")
    return started


def scrape(url):
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as response:
        size = len(response.read())
    return time.perf_counter() - started, size


def one_run(work):
    programs = start_all(work)
    try:
        time.sleep(6)  # past start-up and SysMedic's first periodic sample
        results = {name: {"latency": [], "size": 0} for name in programs}
        cpu0 = {name: cpu_seconds(proc.pid) for name, (proc, _) in programs.items()}
        started = time.time()
        tick = started
        while tick < started + WINDOW:
            for name, (_, url) in programs.items():
                latency, size = scrape(url)
                results[name]["latency"].append(latency)
                results[name]["size"] = size
            tick += EVERY
            time.sleep(max(0.0, tick - time.time()))  # the scrape interval
        window = time.time() - started
        for name, (proc, url) in programs.items():
            rate = (cpu_seconds(proc.pid) - cpu0[name]) / window
            results[name]["cpu"] = rate * 100
            before, burst_start = cpu_seconds(proc.pid), time.time()
            for _ in range(BURST):
                scrape(url)
            used = cpu_seconds(proc.pid) - before
            idle = rate if name.startswith("SysMedic") else 0.0  # exporters work only when scraped
            results[name]["per_scrape"] = max(0.0, used - idle * (time.time() - burst_start)) / BURST * 1000
        return results
    finally:
        for proc, _ in programs.values():
            proc.send_signal(signal.SIGTERM)
        for proc, _ in programs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def main():
    for program in ("prometheus-node-exporter", "prometheus-process-exporter"):
        if not shutil.which(program):
            raise SystemExit("%s is not installed (make bench-deps, as root)" % program)
    runs = []
    with ExtraProcesses(1000):
        count = process_count()
        for _ in range(RUNS):
            work = tempfile.mkdtemp(prefix="sysmedic-exporters-")
            try:
                runs.append(one_run(work))
            finally:
                shutil.rmtree(work, ignore_errors=True)
    print("# /metrics beside node_exporter and process-exporter, %d processes, scraped every %g s for %g s, "
          "%d runs (medians)" % (count, EVERY, WINDOW, RUNS))
    print()
    print("| program | CPU over the window, % of a core | CPU per scrape, ms | scrape p50 ms | scrape max ms "
          "| body KB | runs (CPU %) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name in runs[0]:
        cpu = [r[name]["cpu"] for r in runs]
        per_scrape = statistics.median(r[name]["per_scrape"] for r in runs)
        p50 = statistics.median(statistics.median(r[name]["latency"]) for r in runs) * 1000
        worst = max(max(r[name]["latency"]) for r in runs) * 1000
        print("| %s | %.2f | %.2f | %.1f | %.1f | %.0f | %s |" % (
            name, statistics.median(cpu), per_scrape, p50, worst, runs[-1][name]["size"] / 1024,
            ", ".join("%.2f" % c for c in cpu)))


if __name__ == "__main__":
    main()
