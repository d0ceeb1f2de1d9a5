"""get_history floods over the retained range (issue 21): a database of 29 days x 50 users at
the default 60 s rows (~2.1 million user rows), and N clients each with one request in flight
for the whole 29 days, through the live daemon.

Per flood: the requests' round trips (median, worst), what the daemon's CPU did over the
flood (seconds used, and the share of one core over the flood's wall time), its RSS before,
at its peak and a few seconds after, and how many requests were refused ``history is busy``.
BENCH_BEFORE=/path/to/an/older/checkout runs the same floods against that checkout first
(its own copy of the database), for a before/after table from one run.
"""

import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from _procs import start_daemon  # noqa: E402
from fanout import free_port  # noqa: E402

DAYS = int(os.environ.get("BENCH_DAYS", "29"))
USERS = 50
FLOODS = [int(n) for n in os.environ.get("BENCH_FLOODS", "1,20,60").split(",")]
NOW = time.time()


def build(path):
    """The database a daemon 29 days old with 50 users leaves (schema of this checkout)."""
    from sysmedic.storage import Storage
    Storage(path).close()
    db = sqlite3.connect(path)
    first = NOW - DAYS * 86400
    rows = int(DAYS * 86400 // 60)
    db.execute("BEGIN")
    db.executemany("INSERT INTO system_history (time, cpu, cpu_max, memory, memory_max, disk, load1, load1_max,"
                   " network, network_max, status, samples) VALUES (?, 30, 60, 40, 45, 20, 1, 2, 1e5, 2e5,"
                   " 'Light Usage', 12)", ((first + i * 60,) for i in range(rows)))
    db.executemany("INSERT INTO user_history (time, username, cpu, cpu_max, memory, memory_max, processes)"
                   " VALUES (?, ?, ?, ?, 1.5, 2, 3)",
                   ((first + i * 60, "user%02d" % u, (u % 7) * 0.5, (u % 7)) for i in range(rows) for u in range(USERS)))
    db.execute("COMMIT")
    try:  # a checkout with hourly rollups sums the hours, as its writer does while rows come in
        from sysmedic.storage.db import _roll_up
    except ImportError:
        _roll_up = None
    if _roll_up is not None:
        db.execute("BEGIN")
        _roll_up(db.cursor(), NOW)
        db.execute("COMMIT")
    db.close()
    return os.path.getsize(path)


def usage(pid):
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss(pid):
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def flood(port, secret, clients):
    import websocket
    sockets = []
    for _ in range(clients):
        ws = websocket.create_connection("ws://127.0.0.1:%d/ws?secret=%s" % (port, secret), timeout=300,
                                         skip_utf8_validation=True)
        ws.recv()
        ws.recv()  # welcome, the first system_update
        sockets.append(ws)
    times, refused, errors = [], [0], []

    def ask(ws):
        started = time.monotonic()
        ws.send(json.dumps({"type": "get_history", "request_id": "f", "since": DAYS * 86400 - 3600}))
        while True:
            message = json.loads(ws.recv())
            if message.get("request_id") == "f":
                break
        if message["type"] == "error":
            if "busy" in message["data"]["error"]:
                refused[0] += 1
            else:
                errors.append(message["data"]["error"])
        else:
            times.append(time.monotonic() - started)
    threads = [threading.Thread(target=ask, args=(ws,)) for ws in sockets]
    for thread in threads:
        thread.start()
    return threads, sockets, times, refused, errors


def run(checkout, label, template):
    home = tempfile.mkdtemp(prefix="sysmedic-flood-")
    try:
        shutil.copy(template, os.path.join(home, "sysmedic.db"))
        os.chmod(os.path.join(home, "sysmedic.db"), 0o600)
        port = free_port()
        proc, secret = start_daemon(home, {"port": port, "enabled": True, "host": "127.0.0.1", "max_clients": 200},
                                    {"monitoring": {"retain_days": DAYS + 2}}, root=checkout)
        try:
            time.sleep(2)  # one sample or two: the daemon settled
            for clients in FLOODS:
                before_cpu, before_rss = usage(proc.pid), rss(proc.pid)
                started = time.monotonic()
                threads, sockets, times, refused, errors = flood(port, secret, clients)
                peak = before_rss
                while any(t.is_alive() for t in threads):
                    peak = max(peak, rss(proc.pid))
                    time.sleep(0.05)
                wall = time.monotonic() - started
                cpu = usage(proc.pid) - before_cpu
                for ws in sockets:
                    ws.close()
                time.sleep(5)
                print("%-7s %3d clients: answered %2d, round trip median %6.2f s, worst %6.2f s; refused %2d%s;"
                      " daemon CPU %6.1f s (%3.0f%% of a core over %5.1f s); RSS %5.1f -> peak %5.1f -> %5.1f MB" % (
                          label, clients, len(times), statistics.median(times) if times else float("nan"),
                          max(times, default=float("nan")), refused[0],
                          (", errors: %s" % sorted(set(errors))) if errors else "", cpu, 100 * cpu / wall, wall,
                          before_rss, peak, rss(proc.pid)), flush=True)
        finally:
            proc.terminate()
            proc.wait(30)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main():
    work = tempfile.mkdtemp(prefix="sysmedic-flood-db-")
    try:
        before = os.environ.get("BENCH_BEFORE")
        if before:
            old = os.path.join(work, "before.db")
            sys.path.insert(0, before)
            import importlib
            for name in [n for n in sys.modules if n == "sysmedic" or n.startswith("sysmedic.")]:
                del sys.modules[name]
            importlib.invalidate_caches()
            print("database (%s): %.0f MB" % (before, build(old) / 1e6), flush=True)
            sys.path.remove(before)
            for name in [n for n in sys.modules if n == "sysmedic" or n.startswith("sysmedic.")]:
                del sys.modules[name]
            run(before, "before", old)
            os.unlink(old)
        new = os.path.join(work, "after.db")
        print("database (this checkout): %.0f MB" % (build(new) / 1e6), flush=True)
        run(ROOT, "after", new)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
