"""TLS against plain: two daemons side by side (the same settings, one with a certificate from
a throw-away CA), measured in turns, RUNS times (medians).

- Handshake: CONNECTIONS sequential new connections each asking ``GET /health`` (TLS: a full
  handshake each, no session reuse): the client's connect-to-answer time, p50, and the daemon's
  CPU per connection (its CPU over the batch, less its idle rate, per connection).
- 100 clients: ``update_interval`` 1 s, BROADCASTS broadcasts to CLIENTS raw WebSocket clients
  (bench/fanout.py), the daemon's CPU per client message (less its idle rate) and the last
  client's latency, p50.
"""

import os
import shutil
import signal
import socket
import ssl
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from _procs import start_daemon  # noqa: E402
from fanout import cpu_seconds, free_port, measure  # noqa: E402

from sysmedic.daemon import control  # noqa: E402
from tests.e2e.pki import make_pki  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "200"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "100"))
BROADCASTS = int(os.environ.get("BENCH_BROADCASTS", "15"))


def start(home, port, tls):
    settings = {"port": port, "host": "127.0.0.1", "max_clients": CLIENTS + 10}
    if tls:
        settings.update(tls_cert_file=tls[0], tls_key_file=tls[1])
    return start_daemon(home, settings, {"monitoring": {"update_interval": 1}})


def idle_rate(pid, seconds=5.0):
    started, cpu = time.time(), cpu_seconds(pid)
    time.sleep(seconds)  # the idle baseline window
    return (cpu_seconds(pid) - cpu) / (time.time() - started)


def health_once(port, context):
    started = time.perf_counter()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if context is not None:
        sock = context.wrap_socket(sock, server_hostname="localhost")
    with sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        while sock.recv(65536):
            pass
    return time.perf_counter() - started


def handshakes(pid, port, context, rate):
    cpu0, started = cpu_seconds(pid), time.time()
    times = [health_once(port, context) for _ in range(CONNECTIONS)]
    used = cpu_seconds(pid) - cpu0 - rate * (time.time() - started)
    return statistics.median(times) * 1000, max(0.0, used) / CONNECTIONS * 1000


def fan_out(pid, port, secret, context, rate):
    complete, messages, window, used, _ = measure(pid, port, secret, CLIENTS, context)
    return (max(0.0, used - rate * window) / max(messages, 1) * 1e6,
            statistics.median(complete) * 1000 if complete else float("nan"))


def main():
    work = tempfile.mkdtemp(prefix="sysmedic-tls-bench-")
    pki = make_pki(os.path.join(work, "pki"))
    context = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))
    daemons = {}
    try:
        daemons["plain"] = start(os.path.join(work, "plain"), free_port(), None) + (None,)
        daemons["tls"] = start(os.path.join(work, "tls"), free_port(),
                               (os.path.join(pki, "server.pem"), os.path.join(pki, "server.key"))) + (context,)
        ports = {name: control.call(os.path.join(work, name), "status")["port"] for name in daemons}
        time.sleep(3)  # past start-up
        rows = {name: [] for name in daemons}
        for _ in range(RUNS):
            for name, (proc, secret, ctx) in daemons.items():  # in turns: the same minutes for both
                rate = idle_rate(proc.pid)
                rows[name].append(handshakes(proc.pid, ports[name], ctx, rate) +
                                  fan_out(proc.pid, ports[name], secret, ctx, rate))
                deadline = time.time() + 30
                while time.time() < deadline and control.call(os.path.join(work, name), "status")["clients"]:
                    time.sleep(0.1)
        print("# TLS against plain, %d runs: %d sequential /health connections, then %d clients x %d broadcasts"
              % (RUNS, CONNECTIONS, CLIENTS, BROADCASTS))
        print()
        print("| | plain | TLS | ratio | runs (plain / TLS) |")
        print("|---|---:|---:|---:|---|")
        labels = ("connect to /health answer, p50 ms", "daemon CPU per connection, ms",
                  "daemon CPU per client message, us", "last client latency, p50 ms")
        for index, label in enumerate(labels):
            plain = statistics.median(r[index] for r in rows["plain"])
            tls = statistics.median(r[index] for r in rows["tls"])
            print("| %s | %.2f | %.2f | %.2f | %s / %s |" % (
                label, plain, tls, tls / plain if plain else float("nan"),
                ", ".join("%.2f" % r[index] for r in rows["plain"]), ", ".join("%.2f" % r[index] for r in rows["tls"])))
    finally:
        for proc, _, _ in daemons.values():
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
