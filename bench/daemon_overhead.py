"""Daemon overhead at the default update interval, and an RSS soak with clients coming and going.

Part 1 (RUNS runs of WINDOW s each, median): the daemon with its defaults (5 s updates) on a
machine grown to ~1000 processes: CPU as a % of one core, and RSS.
Part 2 (SOAK s, default 600; BENCH_SOAK=0 skips it): clients connect, ask, and leave all the
time (10 connections per second in bursts); RSS is sampled every 30 s, and the table shows it
from start to end.

BENCH_CONFIG: a JSON object written as each daemon's config.json (e.g. a notifier configured).
BENCH_COMPARE: the path of another checkout (say, the release before a change): each run then
measures its daemon too, one after the other, and the table has both columns and their ratio.
BENCH_CLIENT=1: one WebSocket client stays connected through each window (a dashboard open:
the WebSocket stack is loaded with the first client).
"""

import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import _procs  # noqa: E402
from _procs import ExtraProcesses, process_count  # noqa: E402
from fanout import cpu_seconds, free_port, rss  # noqa: E402


RUNS = int(os.environ.get("BENCH_RUNS", "3"))
WINDOW = float(os.environ.get("BENCH_WINDOW", "60"))
SOAK = float(os.environ.get("BENCH_SOAK", "600"))


CONFIG = os.environ.get("BENCH_CONFIG")
COMPARE = os.environ.get("BENCH_COMPARE")
CLIENT = os.environ.get("BENCH_CLIENT") == "1"


def start_daemon(home, port, root=ROOT):
    """The daemon of the checkout at ``root`` with BENCH_CONFIG as its config.json."""
    return _procs.start_daemon(home, {"port": port, "host": "127.0.0.1"}, json.loads(CONFIG) if CONFIG else None,
                               root)


def measure(root):
    """``(CPU % of a core, RSS MB)`` of one daemon run from the checkout at ``root``."""
    home = tempfile.mkdtemp(prefix="sysmedic-overhead-")
    os.chmod(home, 0o700)
    port = free_port()
    proc, secret = start_daemon(home, port, root)
    client = None
    try:
        if CLIENT:
            from fanout import Client
            client = Client(port, secret)
        time.sleep(6)  # past start-up and the first periodic sample
        start, cpu0 = time.time(), cpu_seconds(proc.pid)
        time.sleep(WINDOW)  # the measuring window
        return (cpu_seconds(proc.pid) - cpu0) / (time.time() - start) * 100, rss(proc.pid) / 1e6
    finally:
        if client is not None:
            client.sock.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        shutil.rmtree(home, ignore_errors=True)


def overhead():
    roots = [ROOT] + ([os.path.abspath(COMPARE)] if COMPARE else [])
    results = {root: [] for root in roots}
    with ExtraProcesses(1000):
        count = process_count()
        for _ in range(RUNS):
            for root in roots:  # interleaved: the same minutes for both
                results[root].append(measure(root))
    print("# Daemon overhead, defaults (update_interval 5 s)%s%s, %d processes, %d runs of %g s"
          % (" + " + CONFIG if CONFIG else "", ", one WebSocket client" if CLIENT else "", count, RUNS, WINDOW))
    print()

    def column(root, index, form):
        values = [run[index] for run in results[root]]
        return form % statistics.median(values), ", ".join(form % v for v in values)
    if not COMPARE:
        print("| | median | runs |")
        print("|---|---:|---|")
        for label, index, form in (("CPU, % of one core", 0, "%.2f"), ("RSS, MB", 1, "%.1f")):
            print("| %s | %s | %s |" % ((label,) + column(ROOT, index, form)))
    else:
        print("| | this tree | %s | ratio | runs (this / other) |" % COMPARE)
        print("|---|---:|---:|---:|---|")
        for label, index, form in (("CPU, % of one core", 0, "%.2f"), ("RSS, MB", 1, "%.1f")):
            mine, theirs = column(ROOT, index, form), column(roots[1], index, form)
            ratio = (statistics.median(r[index] for r in results[ROOT])
                     / max(1e-9, statistics.median(r[index] for r in results[roots[1]])))
            print("| %s | %s | %s | %.2f | %s / %s |" % (label, mine[0], theirs[0], ratio, mine[1], theirs[1]))
    sys.stdout.flush()


def churn_once(port, secret):
    from fanout import Client
    client = Client(port, secret)
    client.sock.setblocking(True)
    client.sock.settimeout(5)
    mask = b"\0\0\0\0"
    payload = b'{"type":"get_user_metrics","request_id":"s"}'
    client.sock.sendall(struct_header(len(payload)) + mask + payload)
    client.sock.recv(65536)
    client.sock.close()


def struct_header(size):
    import struct
    return struct.pack("!BB", 0x81, 0x80 | size)


def soak():
    home = tempfile.mkdtemp(prefix="sysmedic-soak-")
    port = free_port()
    proc, secret = start_daemon(home, port)
    samples = []
    try:
        started = time.time()
        next_sample = started
        connections = 0
        while time.time() - started < SOAK:
            if time.time() >= next_sample:
                samples.append((time.time() - started, rss(proc.pid) / 1e6))
                next_sample += 30
            for _ in range(10):
                churn_once(port, secret)
                connections += 1
            time.sleep(1)  # the churn's pace: ten connections a second
        samples.append((time.time() - started, rss(proc.pid) / 1e6))
        threads = json.loads(urlopen_text("http://127.0.0.1:%d/health" % port))["threads"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        shutil.rmtree(home, ignore_errors=True)
    print()
    print("# RSS soak: %g s, %d connections opened, used and closed; daemon threads at the end: %d"
          % (SOAK, connections, threads))
    print()
    print("| minute | RSS MB |")
    print("|---:|---:|")
    for at, value in samples:
        print("| %.1f | %.1f |" % (at / 60, value))
    first = statistics.median(v for _, v in samples[1:4]) if len(samples) > 4 else samples[0][1]
    last = statistics.median(v for _, v in samples[-3:])
    print()
    print("RSS after warm-up %.1f MB, at the end %.1f MB (%+.1f MB)" % (first, last, last - first))


def urlopen_text(url):
    import urllib.request
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


if __name__ == "__main__":
    overhead()
    if SOAK > 0:
        soak()
