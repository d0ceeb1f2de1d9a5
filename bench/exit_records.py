"""Issue 9: what exit records cost, and how right each way of counting per-user CPU is.

Part 1, cost (root): the daemon at its defaults, with and without exit records
(``monitoring.exit_records``), on an idle machine and beside a fork storm of 500, 1000 and
2000 exits a second (a paced fork loop whose children exit at once). RUNS interleaved runs of
WINDOW seconds each; the daemon's CPU as a % of one core, medians.

Part 2, accuracy (root, cgroups): each load of tests/e2e/test_accuracy.py as its own user in
its own cgroup, beside a steady burner as another user; WINDOWS windows of WINDOW_ACC seconds.
Per window, the load's share by: SysMedic with exit records, SysMedic inferring, a psutil
per-process sum (live processes' own CPU deltas, what most tools show), and the cgroup (truth).
Prints the median of |shown - truth| and the worst window, in points of the machine.

Usage: sudo python bench/exit_records.py [cost|accuracy]
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from fanout import cpu_seconds, free_port  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
WINDOW = float(os.environ.get("BENCH_WINDOW", "20"))
WINDOWS = int(os.environ.get("BENCH_WINDOWS", "10"))
WINDOW_ACC = float(os.environ.get("BENCH_WINDOW_ACC", "1.5"))
RATES = (0, 500, 1000, 2000)

STORM = """
import os, sys, time
rate = float(sys.argv[1])
start = time.monotonic()
done = 0
while True:
    due = start + done / rate
    pause = due - time.monotonic()
    if pause > 0:
        time.sleep(pause)
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    done += 1
"""


def start_daemon(home, port, exit_records):
    with open(os.path.join(home, "websocket.json"), "w") as handle:
        json.dump({"port": port, "host": "127.0.0.1"}, handle)
    with open(os.path.join(home, "config.json"), "w") as handle:
        json.dump({"monitoring": {"exit_records": exit_records}}, handle)
    env = dict(os.environ, SYSMEDIC_HOME=home, PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "sysmedic", "daemon", "run"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(6)  # past start-up and the first periodic sample
    return proc


def cost():
    results = {(rate, mode): [] for rate in RATES for mode in (True, False)}
    for _ in range(RUNS):
        for rate in RATES:
            for mode in (True, False):  # interleaved: the same minutes for both
                storm = subprocess.Popen([sys.executable, "-c", STORM, str(rate)]) if rate else None
                home = tempfile.mkdtemp(prefix="sysmedic-exits-")
                os.chmod(home, 0o700)
                proc = start_daemon(home, free_port(), mode)
                try:
                    start, cpu0 = time.time(), cpu_seconds(proc.pid)
                    time.sleep(WINDOW)  # the measuring window
                    results[(rate, mode)].append((cpu_seconds(proc.pid) - cpu0) / (time.time() - start) * 100)
                finally:
                    proc.terminate()
                    proc.wait(10)
                    if storm is not None:
                        storm.kill()
                        storm.wait()
    print("| exits/s | with exit records, % of a core | without | difference | runs (with / without) |")
    print("|---:|---:|---:|---:|---|")
    for rate in RATES:
        with_, without = results[(rate, True)], results[(rate, False)]
        print("| %d | %.2f | %.2f | %+.2f | %s / %s |" % (
            rate, statistics.median(with_), statistics.median(without),
            statistics.median(with_) - statistics.median(without),
            ", ".join("%.2f" % x for x in with_), ", ".join("%.2f" % x for x in without)))


def psutil_shares(previous, now, uid, cores, elapsed):
    """A psutil per-process sum: the user's live processes' own CPU deltas (no reaped children,
    no ended processes), as a share of the machine."""
    used = sum(now[key] - previous[key] for key in now if key in previous and key[2] == uid)
    return 100.0 * used / (elapsed * cores)


def psutil_table():
    import psutil
    table = {}
    for proc in psutil.process_iter(["pid", "create_time", "uids", "cpu_times"]):
        info = proc.info
        if info["uids"] is None or info["cpu_times"] is None:
            continue
        table[(info["pid"], info["create_time"], info["uids"].real)] = info["cpu_times"].user + info["cpu_times"].system
    return table


def accuracy():
    import pwd

    from sysmedic.collect import Collector
    from sysmedic.collect.exits import ExitListener
    from sysmedic.collect.procfs import ProcSource
    from tests.e2e.test_accuracy import AS_ROOT, LOADS
    from tests.loads import CgroupLoad
    listener = ExitListener()
    stop = threading.Event()
    threading.Thread(target=listener.run, args=(stop,), daemon=True).start()
    print("| load | exit records: median / worst error | inference | psutil per-process sum | truth (median share) |")
    print("|---|---:|---:|---:|---:|")
    for name, command in LOADS.items():
        with CgroupLoad(LOADS["steady burner"]), CgroupLoad(command, as_root=name in AS_ROOT) as load:
            load.wait_running()
            uid = pwd.getpwnam(load.user).pw_uid
            exact, inferred = Collector(ProcSource(exits=listener)), Collector(ProcSource())
            exact.sample(), inferred.sample()
            time.sleep(WINDOW_ACC)  # settle, as the tests do
            first = [exact.sample(), inferred.sample()]
            table, at = psutil_table(), time.time()
            errors = {"exact": [], "inferred": [], "psutil": []}
            truths = []
            for _ in range(WINDOWS):
                time.sleep(WINDOW_ACC)  # the measuring window
                second = [exact.sample(), inferred.sample()]
                table2, at2 = psutil_table(), time.time()
                cores = second[0].system.cpu_cores
                time.sleep(0.1)  # the oracle's next reading
                for label, before, after in (("exact", first[0], second[0]), ("inferred", first[1], second[1])):
                    truth = load.share(before.time, after.time, cores)
                    shown = {u.uid: u.cpu_percent or 0.0 for u in after.users}.get(uid, 0.0)
                    errors[label].append(abs(shown - truth))
                    if label == "exact":
                        truths.append(truth)
                truth = load.share(at, at2, cores)
                errors["psutil"].append(abs(psutil_shares(table, table2, uid, cores, at2 - at) - truth))
                first, table, at = second, table2, at2

        def cell(values):
            return "%.2f / %.2f" % (statistics.median(values), max(values))
        print("| %s | %s | %s | %s | %.1f |" % (name, cell(errors["exact"]), cell(errors["inferred"]),
                                               cell(errors["psutil"]), statistics.median(truths)))
    stop.set()
    listener.close()


if __name__ == "__main__":
    parts = sys.argv[1:] or ["cost", "accuracy"]
    if "accuracy" in parts:
        accuracy()
    if "cost" in parts:
        cost()
