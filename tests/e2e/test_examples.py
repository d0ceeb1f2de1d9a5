"""The example client and `make run`, run the way the README tells people to run them."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading

import pytest

from ..conftest import ROOT
from .harness import Daemon, cli, free_port, wait_for, write_config

CLIENT = os.path.join(ROOT, "examples", "websocket_client.py")


def run_client(*args, timeout=60):
    return subprocess.run([sys.executable, CLIENT] + list(args), capture_output=True, text=True, timeout=timeout)


class Interactive:
    """The example client with a stdin pipe; lines are read as they come, with a deadline."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, "-u", CLIENT] + list(args), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self._new = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            with self._new:
                self.lines.append(line.rstrip("\n"))
                self._new.notify_all()

    def wait_line(self, predicate, timeout=15):
        with self._new:
            if not self._new.wait_for(lambda: any(predicate(line) for line in self.lines), timeout):
                raise AssertionError("no matching line in:\n" + "\n".join(self.lines))

    def type(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()


def sysmedic_url(daemon):
    return "sysmedic://%s@127.0.0.1:%d/" % (daemon.secret, daemon.port)


def test_scripted_with_a_sysmedic_url(daemon):
    result = run_client(sysmedic_url(daemon), "--command", "ping", "-c", "users", "-c", "alerts")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Connected to SysMedic (version ")
    assert "pong:" in out and "user_metrics_response:" in out and '"status": "No unresolved alerts"' in out
    assert "CPU " in out and "| MEM " in out


def test_ws_url_with_secret_option(daemon):
    result = run_client("ws://127.0.0.1:%d/ws" % daemon.port, "--secret", daemon.secret, "-c", "config")
    assert result.returncode == 0 and '"monitoring_interval": "1s"' in result.stdout


def test_wrong_secret_and_bad_url_are_clear(daemon):
    result = run_client("sysmedic://nope@127.0.0.1:%d/" % daemon.port, "-c", "ping")
    assert result.returncode == 3
    assert result.stderr == ("websocket_client.py: Invalid secret: get the current URL with "
                             "'sysmedic websocket status'\n")
    bad = run_client("http://example/", "-c", "ping")
    assert bad.returncode == 2 and "unsupported URL" in bad.stderr


def test_interactive_commands_reconnect_and_rotation(make_daemon):
    daemon = make_daemon()
    client = Interactive(sysmedic_url(daemon))
    try:
        client.wait_line(lambda line: line.startswith("Connected to SysMedic"))
        client.type("ping")
        client.wait_line(lambda line: line == "pong:")
        client.type("bogus")
        client.wait_line(lambda line: "unknown command 'bogus'" in line)
        # the daemon restarts on the same port with a new secret: the client reconnects and
        # then learns the secret is wrong, which it reports instead of retrying forever
        assert daemon.terminate() == 0
        client.wait_line(lambda line: "reconnecting" in line or "retrying" in line)
        daemon.start()
        client.wait_line(lambda line: "Invalid secret" in line)
        assert client.proc.wait(15) == 3
    finally:
        client.proc.kill()


def test_rotation_ends_the_client_with_a_clear_message(make_daemon):
    daemon = make_daemon()
    client = Interactive(sysmedic_url(daemon))
    try:
        client.wait_line(lambda line: line.startswith("Connected to SysMedic"))
        cli(daemon.home, "websocket", "new-secret", check=True)
        client.wait_line(lambda line: "The secret was rotated" in line)
        assert client.proc.wait(15) == 3
    finally:
        client.proc.kill()


def test_ctrl_c_exits_cleanly(daemon):
    client = Interactive(sysmedic_url(daemon))
    try:
        client.wait_line(lambda line: line.startswith("Connected to SysMedic"))
        client.proc.send_signal(signal.SIGINT)
        assert client.proc.wait(15) == 130
        assert not any("Traceback" in line for line in client.lines)
    finally:
        client.proc.kill()


def test_testing_guide_background_clients_keep_streaming(daemon):
    """The spec's "Test with Multiple Clients": two `websocket_client.py URL &` from a shell
    (whose background jobs read /dev/null) stay connected and streaming until killed (issue 8,
    defect 6: they quit at once and /health showed 0 clients)."""
    url = sysmedic_url(daemon)
    shell = subprocess.Popen(["sh", "-c", '"$0" -u "$1" "$2" & "$0" -u "$1" "$2" & wait', sys.executable, CLIENT, url],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    try:
        for line in shell.stdout:  # each client prints a line per system_update
            lines.append(line)
            if sum(line.startswith("[") and "| MEM " in line for line in lines) >= 6:
                break
        assert daemon.health()["clients"] == 2, "".join(lines)
    finally:
        os.killpg(shell.pid, signal.SIGTERM)
        rest = shell.communicate(timeout=15)[0]
    assert "Traceback" not in "".join(lines) + rest
    wait_for(lambda: daemon.health()["clients"] == 0, 5, what="clients gone after SIGTERM")


@pytest.mark.parametrize("how, signum, status", [("devnull", signal.SIGTERM, 143), ("closed", signal.SIGTERM, 143),
                                                 ("devnull", signal.SIGINT, 130)])
def test_a_client_without_input_streams_until_a_signal_ends_it(daemon, how, signum, status):
    preexec = (lambda: os.close(0)) if how == "closed" else None
    proc = subprocess.Popen([sys.executable, "-u", CLIENT, sysmedic_url(daemon)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec)
    try:
        updates = 0
        for line in proc.stdout:
            updates += line.startswith("[") and "| MEM " in line
            if updates == 3:
                break
        assert updates == 3 and proc.poll() is None and daemon.health()["clients"] == 1
        proc.send_signal(signum)
        assert proc.wait(10) == status
    finally:
        proc.kill()
    assert "Traceback" not in proc.stderr.read()
    wait_for(lambda: daemon.health()["clients"] == 0, 5, what="client gone")


def make_run(home, *variables):
    env = dict(os.environ, SYSMEDIC_HOME=home)
    env.pop("MAKEFLAGS", None)
    return subprocess.Popen(["make", "-s", "run"] + list(variables), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.mark.parametrize("override", [False, True])
def test_make_run_serves_and_prints_the_url(tmp_path, override):
    """`make run` serves websocket.json's port; `make run PORT=N` serves N instead and saves
    nothing (issue 8, defect 5: PORT was defined and never used)."""
    home = str(tmp_path / "home")
    saved, port = free_port(), free_port()
    write_config(home, Daemon.FAST, {"port": saved, "host": "127.0.0.1", "public_host": "127.0.0.1"})
    proc = make_run(home, *(["PORT=%d" % port] if override else []))
    killer = threading.Timer(120, lambda: os.killpg(proc.pid, signal.SIGKILL))
    killer.start()
    try:
        line = proc.stdout.readline()
        while line and not line.startswith("Connection URL:"):
            line = proc.stdout.readline()
        url = line.split()[-1]
        assert url.startswith("sysmedic://") and url.endswith("@127.0.0.1:%d/" % (port if override else saved))
        result = run_client(url, "-c", "ping")
        assert result.returncode == 0 and "pong:" in result.stdout
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        killer.cancel()
    with open(os.path.join(home, "websocket.json")) as handle:
        assert json.load(handle)["port"] == saved


def test_a_make_run_that_cannot_listen_stores_nothing(tmp_path):
    """Issue 8, defect 5: a failed `make run` opened and stored an alert before exiting. Here
    memory_threshold 1 would open a system:memory alert on the very first sample."""
    home = str(tmp_path / "home")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        write_config(home, {"monitoring": {"update_interval": 0.2, "memory_threshold": 1}},
                     {"port": free_port(), "host": "127.0.0.1"})
        proc = make_run(home, "PORT=%d" % port)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "sysmedic: port %d is already in use" % port in err
    database = os.path.join(home, "sysmedic.db")
    if os.path.exists(database):
        with sqlite3.connect(database) as db:
            assert db.execute("SELECT COUNT(*) FROM alerts").fetchone() == (0,)


def test_advanced_testing_multiple_clients_and_secret_rotation(daemon):
    """spec "Advanced Testing": two clients in the background, the count in /health, then
    new-secret disconnects them and the new URL from `websocket status` connects."""
    clients = [Interactive(sysmedic_url(daemon)) for _ in range(2)]
    try:
        for client in clients:
            client.wait_line(lambda line: line.startswith("Connected to SysMedic"))
        assert daemon.health()["clients"] == 2
        cli(daemon.home, "websocket", "new-secret", check=True)
        for client in clients:
            assert client.proc.wait(15) == 3
        wait_for(lambda: daemon.health()["clients"] == 0, 5, what="clients gone")
        status = cli(daemon.home, "websocket", "status", check=True).stdout
        new_url = [line.split()[-1] for line in status.splitlines() if line.startswith("URL:")][0]
        host = new_url.split("@")[1].split(":")[0]
        result = run_client(new_url.replace("@%s:" % host, "@127.0.0.1:"), "-c", "ping")
        assert result.returncode == 0 and "pong:" in result.stdout
    finally:
        for client in clients:
            client.proc.kill()
