"""Fan-out: 10, 100, 500 and 1000 WebSocket clients on one daemon.

For each client count it reports, over BROADCASTS system_update broadcasts (update_interval
1 s): latency from the sample (the message's sample_time) to the last client receiving it,
p50 and p95; the daemon's CPU per client message (its CPU in the window, less its CPU with
no clients over an equal window, divided by messages delivered); and RSS per client (RSS
with the clients connected less RSS with none, divided by the count).

All clients live in this one process on raw sockets and a selector; they share the 2 cores
with the daemon, so latencies include this client's own scheduling.
"""

import base64
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sysmedic.daemon import control  # noqa: E402

COUNTS = [int(x) for x in os.environ.get("BENCH_CLIENTS", "10,100,500,1000").split(",")]
BROADCASTS = int(os.environ.get("BENCH_BROADCASTS", "15"))
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss(pid):
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Client:
    """One raw WebSocket connection: handshake, then unmasked server frames parsed as they come
    (``context``: an ssl.SSLContext for a daemon with TLS on)."""

    def __init__(self, port, secret, context=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        if context is not None:
            self.sock = context.wrap_socket(self.sock, server_hostname="localhost")
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET /ws?secret=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (secret, key)).encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise OSError("closed during handshake")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise OSError(head.split(b"\r\n")[0].decode())
        self.sock.setblocking(False)

    def frames(self):
        """Complete text payloads received so far."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buffer += chunk
        except (BlockingIOError, ssl.SSLWantReadError):
            pass
        out = []
        while len(self.buffer) >= 2:
            size, offset = self.buffer[1] & 0x7F, 2
            if size == 126:
                if len(self.buffer) < 4:
                    break
                size, offset = struct.unpack("!H", self.buffer[2:4])[0], 4
            if len(self.buffer) < offset + size:
                break
            if self.buffer[0] & 0x0F == 0x1:
                out.append(self.buffer[offset:offset + size])
            elif self.buffer[0] & 0x0F == 0x9:  # ping: answer with a masked pong
                payload = self.buffer[offset:offset + size]
                self.sock.send(struct.pack("!BB", 0x8A, 0x80 | len(payload)) + b"\0\0\0\0" + payload)
            self.buffer = self.buffer[offset + size:]
        return out


def measure(pid, port, secret, count, context=None):
    clients = []
    for _ in range(count):
        clients.append(Client(port, secret, context))
    selector = selectors.DefaultSelector()
    for client in clients:
        selector.register(client.sock, selectors.EVENT_READ, client)
    deadline = time.time() + 30
    while time.time() < deadline and not all(any(b"system_update" in f for f in c.frames()) for c in clients):
        pass  # drain the welcome and first update of every client
    rss_with = rss(pid)
    latest = {}  # sample_time -> [arrival - sample_time]
    cpu_start, started = cpu_seconds(pid), time.time()
    messages = 0
    while len([t for t in latest if len(latest[t]) == count]) < BROADCASTS and time.time() - started < BROADCASTS * 3:
        for key, _ in selector.select(1.0):
            now = time.time()
            for payload in key.data.frames():
                message = json.loads(payload)
                if message["type"] == "system_update":
                    latest.setdefault(message["data"]["sample_time"], []).append(now - message["data"]["sample_time"])
                    messages += 1
    window, cpu_used = time.time() - started, cpu_seconds(pid) - cpu_start
    complete = [max(v) for v in latest.values() if len(v) == count]
    for client in clients:
        selector.unregister(client.sock)
        client.sock.close()
    return complete, messages, window, cpu_used, rss_with


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    home = tempfile.mkdtemp(prefix="sysmedic-fanout-")
    port = free_port()
    with open(os.path.join(home, "config.json"), "w") as handle:
        json.dump({"monitoring": {"update_interval": 1}}, handle)
    with open(os.path.join(home, "websocket.json"), "w") as handle:
        json.dump({"port": port, "host": "127.0.0.1", "max_clients": max(COUNTS) + 10}, handle)
    env = dict(os.environ, SYSMEDIC_HOME=home, PYTHONPATH=ROOT)
    daemon = subprocess.Popen([sys.executable, "-m", "sysmedic", "daemon", "run"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                secret = control.call(home, "status")["secret"]
                break
            except Exception:
                time.sleep(0.05)
        time.sleep(3)  # let start-up settle before the idle baseline
        idle_start, idle_cpu0 = time.time(), cpu_seconds(daemon.pid)
        time.sleep(10)  # the idle baseline window
        idle_rate = (cpu_seconds(daemon.pid) - idle_cpu0) / (time.time() - idle_start)
        idle_rss = rss(daemon.pid)
        print("# Fan-out, update_interval 1 s, %d broadcasts per row; daemon idle: %.2f%% of a core, RSS %.1f MB"
              % (BROADCASTS, idle_rate * 100, idle_rss / 1e6))
        print()
        print("| clients | last client p50 ms | last client p95 ms | CPU per client message us | RSS per client KB |")
        print("|---:|---:|---:|---:|---:|")
        for count in COUNTS:
            complete, messages, window, cpu_used, rss_with = measure(daemon.pid, port, secret, count)
            per_message = max(0.0, cpu_used - idle_rate * window) / max(messages, 1) * 1e6
            ordered = sorted(complete)
            p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
            print("| %d | %.1f | %.1f | %.1f | %.1f |" % (count, statistics.median(ordered) * 1000, p95 * 1000,
                                                        per_message, (rss_with - idle_rss) / count / 1024))
            sys.stdout.flush()
            deadline = time.time() + 30
            while time.time() < deadline and control.call(home, "status")["clients"]:
                time.sleep(0.1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
