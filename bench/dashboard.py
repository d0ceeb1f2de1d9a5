"""The dashboard's page load to its first chart (issue 12): headless Chromium on this machine,
a daemon at its defaults that has been sampling for a while, RUNS fresh pages (median, worst).

Per page: navigation to DOMContentLoaded (the baseline: what any page costs), to the WebSocket
connected, and to the CPU chart drawn with the history get_history returned. Needs Debian's
chromium and tests/node/node_modules (make node-deps).
"""

import json
import os
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

from _procs import start_daemon  # noqa: E402
from fanout import free_port  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "15"))
WARM = float(os.environ.get("BENCH_WARM", "60"))


def main():
    home = tempfile.mkdtemp(prefix="sysmedic-dashboard-")
    port = free_port()
    daemon, secret = start_daemon(home, {"port": port, "host": "127.0.0.1"})
    try:
        time.sleep(WARM)  # samples for the history to hold (12 at the default 5 s)
        node = os.path.join(ROOT, "tests", "node", "node_modules")
        out = subprocess.run(["node", os.path.join(ROOT, "bench", "dashboard_load.js"),
                              "http://127.0.0.1:%d/#secret=%s" % (port, secret), str(RUNS)],
                             capture_output=True, text=True, check=True, timeout=600,
                             env=dict(os.environ, NODE_PATH=node, CHROMIUM=os.environ.get("CHROMIUM", "/usr/bin/chromium")))
        rows = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        shutil.rmtree(home, ignore_errors=True)
    print("# Dashboard page load, Chromium headless, local daemon at its defaults after %g s, %d pages" % (WARM, RUNS))
    print()
    print("| from navigation to | median ms | worst ms | ratio to DOMContentLoaded |")
    print("|---|---:|---:|---:|")
    base = statistics.median(r["loaded"] for r in rows)
    for key, label in (("loaded", "DOMContentLoaded"), ("connected", "WebSocket connected"),
                       ("chart", "CPU chart drawn with history")):
        values = [r[key] for r in rows]
        print("| %s | %.0f | %.0f | %.2f |" % (label, statistics.median(values), max(values),
                                               statistics.median(values) / base if base else float("nan")))
    print()
    print("History points in the first chart: %d" % rows[-1]["points"])


if __name__ == "__main__":
    main()
