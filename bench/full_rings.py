"""What the daemon needs when every in-memory ring is full (issue 24, item 3): history_memory
at its most (20,000 samples), 1 s updates, 10 WebSocket clients, 1000 processes of 50 users.

The rings are filled fast rather than waited for: the timeline's arrays are allocated whole
when the daemon starts (20,000 slots per system series) and per user the first time the user
is seen (20,000 slots per figure, for at most 50 users), so a sample more never costs memory
once 50 users have been seen; writing 20,000 samples would only overwrite slots. Here 50 uids
(without passwd entries, shown as their numbers) each run 20 sleeping processes, so the daemon sees all
50 at its first sample. Then it runs ``BENCH_SECONDS`` (120) with 10 clients reading every
update, two of them asking ``get_history`` over the whole ring and ``get_user_processes``
meanwhile.

The daemon runs in a cgroup v1 ``memory`` group (or v2 with ``memory.max``) whose peak charge
is read at the end: anonymous memory, page cache of its files and kernel memory, what a
``memory.limit_in_bytes`` of 32 MB must hold. ``BENCH_LIMIT_MB`` sets a limit (default none,
to see the need). Prints one table row per run. Root only.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

USERS = int(os.environ.get("BENCH_USERS", "50"))
PROCESSES = int(os.environ.get("BENCH_PROCESSES", "1000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "10"))
HISTORY = os.environ.get("BENCH_HISTORY", "400m")  # history_memory: 400 minutes at 1 s is the 20,000 cap
FIRST_UID = 61000


class MemoryGroup:
    """A fresh memory cgroup (v1 memory controller, else v2 with the memory controller)."""

    def __init__(self, limit_bytes=None):
        name = "sysmedic-rings-%d" % os.getpid()
        if os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
            self.path, self.v2 = os.path.join("/sys/fs/cgroup/memory", name), False
        elif "memory" in open("/sys/fs/cgroup/cgroup.controllers").read().split():
            self.path, self.v2 = os.path.join("/sys/fs/cgroup", name), True
        else:
            raise SystemExit("no memory cgroup controller here")
        os.mkdir(self.path)
        if limit_bytes:
            self.write("memory.max" if self.v2 else "memory.limit_in_bytes", str(limit_bytes))
            if not self.v2 and os.path.exists(os.path.join(self.path, "memory.memsw.limit_in_bytes")):
                self.write("memory.memsw.limit_in_bytes", str(limit_bytes))  # no escape into swap

    def write(self, name, text):
        with open(os.path.join(self.path, name), "w") as handle:
            handle.write(text)

    def read(self, name):
        with open(os.path.join(self.path, name)) as handle:
            return handle.read()

    def peak(self):
        return int(self.read("memory.peak" if self.v2 else "memory.max_usage_in_bytes"))

    def ooms(self):
        """OOM kills in the group (v1's oom_control has oom_kill on kernels since 4.13)."""
        text = self.read("memory.events" if self.v2 else "memory.oom_control")
        fields = dict(line.split() for line in text.splitlines() if len(line.split()) == 2)
        return int(fields.get("oom_kill", 0))

    def stat(self, key):
        fields = dict(line.split() for line in self.read("memory.stat").splitlines())
        return int(fields.get(key, 0))

    def remove(self):
        deadline = time.monotonic() + 10
        while True:
            try:
                os.rmdir(self.path)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # polling with a deadline: the killed daemon is still leaving


def start_sleepers(users=USERS, processes=PROCESSES):
    """``processes`` sleeping processes spread over ``users`` uids; returns the Popens (one
    shell per uid, its sleeps its children)."""
    uids = [FIRST_UID + index for index in range(users)] or [0]  # none: root's
    each = processes // len(uids)
    shells = []
    for uid in uids:
        shells.append(subprocess.Popen(
            ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups", "sh", "-c",
             "i=1; while [ $i -lt %d ]; do sleep 3600 & i=$((i+1)); done; exec sleep 3600" % each],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True))
    return shells


def stop_sleepers(shells):
    for shell in shells:
        try:
            os.killpg(shell.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for shell in shells:
        shell.wait()


def start_daemon_in(group, home, port, update_interval=1.0, env=None):
    config = {"monitoring": {"update_interval": update_interval, "history_memory": HISTORY,
                             "cpu_threshold": 100, "memory_threshold": 100,
                             "user_cpu_threshold": 100, "user_memory_threshold": 100}}
    os.makedirs(home, mode=0o700, exist_ok=True)
    with open(os.path.join(home, "config.json"), "w") as handle:
        json.dump(config, handle)
    with open(os.path.join(home, "websocket.json"), "w") as handle:
        json.dump({"port": port, "host": "127.0.0.1", "max_clients": 20}, handle)
    procs = os.path.join(group.path, "cgroup.procs")
    return subprocess.Popen(["sh", "-c", 'echo $$ > "$0" && exec "$@"', procs, sys.executable, "-m", "sysmedic",
                             "daemon", "run"], env=dict(os.environ, SYSMEDIC_HOME=home, PYTHONPATH=ROOT, **(env or {})),
                            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(home, "stderr.log"), "wb"))


def secret_of(home, proc, timeout=30):
    from sysmedic.daemon import control
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the daemon exited %s" % proc.returncode)
        try:
            return control.call(home, "status")["secret"]
        except Exception:
            time.sleep(0.1)  # polling with a deadline for the control socket
    raise SystemExit("the daemon did not start")


class Clients:
    """``count`` websocket-client connections, each read by a thread; two also ask."""

    def __init__(self, port, secret, count=CLIENTS):
        import websocket
        self.stop = threading.Event()
        self.updates = [0] * count
        self.answers = [0] * count
        self.failures = []
        url = "ws://127.0.0.1:%d/ws?secret=%s" % (port, secret)
        self.sockets = [websocket.create_connection(url, timeout=30) for _ in range(count)]
        self.threads = [threading.Thread(target=self._read, args=(i,), daemon=True) for i in range(count)]
        for thread in self.threads:
            thread.start()

    def _read(self, index):
        ws = self.sockets[index]
        asked = 0.0
        try:
            while not self.stop.is_set():
                if index < 2 and time.monotonic() - asked > 5:
                    asked = time.monotonic()
                    kind = "get_history" if index == 0 else "get_user_processes"
                    request = {"type": kind, "request_id": "r"}
                    if kind == "get_history":
                        request["since"] = 24000  # seconds back: the whole ring
                    else:
                        request["username"] = str(FIRST_UID)  # a uid without a name is shown as its number
                    ws.send(json.dumps(request))
                message = json.loads(ws.recv())
                if message["type"] == "system_update":
                    self.updates[index] += 1
                elif message.get("request_id") == "r":
                    if message["type"] == "error":
                        self.failures.append(message["data"])
                    self.answers[index] += 1
        except Exception as err:  # the daemon went away: the run reports it
            if not self.stop.is_set():
                self.failures.append(repr(err))

    def close(self):
        self.stop.set()
        for ws in self.sockets:
            try:
                ws.close()
            except Exception:
                pass


def health_of(port):
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=5) as answer:
        return json.load(answer)


def status_of(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def run(seconds, limit_bytes=None):
    from fanout import free_port  # bench/fanout.py
    group = MemoryGroup(limit_bytes)
    home = tempfile.mkdtemp(prefix="sysmedic-rings-")
    shells = start_sleepers()
    proc = None
    try:
        port = free_port()
        proc = start_daemon_in(group, home, port)
        secret = secret_of(home, proc)
        clients = Clients(port, secret)
        started = time.monotonic()
        while time.monotonic() - started < seconds and proc.poll() is None:
            time.sleep(1)  # the run's length: a measurement window, not a synchronisation
        alive = proc.poll() is None
        health = health_of(port) if alive else {}
        status = status_of(proc.pid) if alive else {}
        clients.close()
        return {"alive": alive, "healthy": health.get("status") == "healthy", "ooms": group.ooms(),
                "peak_mb": group.peak() / 2**20, "rss_mb": int(status.get("VmRSS", "0 kB").split()[0]) / 1024,
                "hwm_mb": int(status.get("VmHWM", "0 kB").split()[0]) / 1024,
                "anon_mb": int(status.get("RssAnon", "0 kB").split()[0]) / 1024,
                "cache_mb": group.stat("cache" if not group.v2 else "file") / 2**20,
                "updates": min(clients.updates, default=0), "answers": sum(clients.answers), "failures": clients.failures}
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stop_sleepers(shells)
        group.remove()
        shutil.rmtree(home, ignore_errors=True)


def main():
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        raise SystemExit("bench/full_rings.py needs root and setpriv")
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    seconds = float(os.environ.get("BENCH_SECONDS", "120"))
    limit = int(float(os.environ.get("BENCH_LIMIT_MB", "0")) * 2**20) or None
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    print("| run | limit | alive, healthy | OOM kills | cgroup peak | RSS (peak) | anonymous | page cache | "
          "updates per client | answers |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for number in range(1, runs + 1):
        found = run(seconds, limit)
        print("| %d | %s | %s, %s | %d | %.1f MB | %.1f (%.1f) MB | %.1f MB | %.1f MB | %d | %d |" % (
            number, "%d MB" % (limit // 2**20) if limit else "none", found["alive"], found["healthy"], found["ooms"],
            found["peak_mb"], found["rss_mb"], found["hwm_mb"], found["anon_mb"], found["cache_mb"],
            found["updates"], found["answers"]))
        if found["failures"]:
            print("    failures: %s" % found["failures"][:3])


if __name__ == "__main__":
    main()
