"""get_history through the live daemon (issue 12): ~1000 processes, 50 throw-away users each
with a process, the timeline filled with 720 samples: an hour at the default 5 s, which takes
an hour (BENCH_INTERVAL=1 fills it in 12 minutes with ``history_memory`` 720 s, the sampler
then working five times as often as by default, a harsher neighbour for the request).

A WebSocket client then asks RUNS times for the whole timeline, all series: the default answer
(the top 10 users and others) and all 50 users by name; per request the round trip on
loopback (median, worst) and the message size. Root only (useradd, setpriv).
"""

import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from _procs import ExtraProcesses, process_count, start_daemon  # noqa: E402
from fanout import free_port  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "20"))
INTERVAL = float(os.environ.get("BENCH_INTERVAL", "5"))
USERS = 50
SAMPLES = 720


def main():
    if os.geteuid() != 0:
        raise SystemExit("bench/history_live.py needs root (throw-away users)")
    import websocket  # websocket-client, from requirements-test.txt
    names = ["smhist-%s" % secrets.token_hex(3) for _ in range(USERS)]
    sleepers = []
    home = tempfile.mkdtemp(prefix="sysmedic-history-")
    os.chmod(home, 0o700)
    daemon = None
    try:
        for name in names:
            subprocess.run(["useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin",
                            name], check=True, capture_output=True)
            sleepers.append(subprocess.Popen(["setpriv", "--reuid=%s" % name, "--regid=%s" % name, "--clear-groups",
                                              "sleep", "3600"]))
        with ExtraProcesses(1000):
            port = free_port()
            daemon, secret = start_daemon(home, {"port": port, "host": "127.0.0.1"},
                                          {"monitoring": {"update_interval": INTERVAL,
                                                          "history_memory": "%gs" % (SAMPLES * INTERVAL)}})
            time.sleep(SAMPLES * INTERVAL + 2 * INTERVAL)  # the timeline fills (a benchmark's wait, not a sync)
            count = process_count()
            # No UTF-8 check on our side: websocket-client does it in pure Python (19 ms for 120 KB),
            # which is the client's time, not the server's.
            ws = websocket.create_connection("ws://127.0.0.1:%d/ws?secret=%s" % (port, secret), timeout=30,
                                             skip_utf8_validation=True)
            rows = []
            for label, extra in (("default: top 10 + others", {}), ("all 50 users by name", {"users": names})):
                times, size, points, users = [], 0, 0, 0
                for run in range(RUNS):
                    request_id = "h%d" % run
                    started = time.perf_counter()
                    ws.send(json.dumps(dict(extra, type="get_history", request_id=request_id,
                                            since=SAMPLES * INTERVAL)))
                    while True:
                        text = ws.recv()
                        if '"request_id":"%s"' % request_id in text:
                            break
                    times.append(time.perf_counter() - started)
                    size = len(text.encode("utf-8"))
                    answer = json.loads(text)["data"]
                    points, users = len(answer["timestamps"]), len(answer["users"])
                    time.sleep(0.6)  # within the rate limit (get_history counts ten)
                rows.append((label, points, users, statistics.median(times) * 1000, max(times) * 1000, size / 1024))
            ws.close()
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(30)
        for proc in sleepers:
            proc.kill()
            proc.wait()
        for name in names:
            subprocess.run(["userdel", name], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
    print("# get_history through the live daemon: %d processes, %d users with a process, %d samples at %g s, "
          "%d runs" % (count, USERS, SAMPLES, INTERVAL, RUNS))
    print()
    print("| request | points | users | round trip ms, median | worst | KB |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print("| %s | %d | %d | %.1f | %.1f | %.0f |" % row)


if __name__ == "__main__":
    main()
