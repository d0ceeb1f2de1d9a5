"""The example client and `make run`, run the way the README tells people to run them."""

import os
import signal
import subprocess
import sys
import threading


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


def test_make_run_serves_and_prints_the_url(tmp_path):
    home = str(tmp_path / "home")
    port = free_port()
    write_config(home, Daemon.FAST, {"port": port, "host": "127.0.0.1", "public_host": "127.0.0.1"})
    env = dict(os.environ, SYSMEDIC_HOME=home)
    env.pop("MAKEFLAGS", None)
    proc = subprocess.Popen(["make", "-s", "run"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    killer = threading.Timer(120, lambda: os.killpg(proc.pid, signal.SIGKILL))
    killer.start()
    try:
        line = proc.stdout.readline()
        while line and not line.startswith("Connection URL:"):
            line = proc.stdout.readline()
        url = line.split()[-1]
        assert url.startswith("sysmedic://") and url.endswith("@127.0.0.1:%d/" % port)
        result = run_client(url, "-c", "ping")
        assert result.returncode == 0 and "pong:" in result.stdout
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        killer.cancel()


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
