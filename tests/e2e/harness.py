"""Run the real daemon as a subprocess for end-to-end tests, and talk to it.

Everything here synchronises on observable facts (the health endpoint answering, a process
exiting, a message arriving) with deadlines; nothing sleeps a fixed time to wait for the daemon.
"""

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from ..conftest import ROOT

SYSMEDIC = [sys.executable, "-m", "sysmedic"]


_HANDED_OUT = set()


def free_port():
    """A port free now and never handed out before in this run (a daemon given one earlier may
    not have bound it yet); a daemon that still loses it to another process is moved
    (:meth:`Daemon.start`)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %gs waiting for %s" % (timeout, what))
        time.sleep(interval)


def http_get(url, headers=None, timeout=5.0, context=None):
    """``(status, headers, body bytes)`` of a GET, errors included (``context``: for https)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def healthy(port):
    """Whether the daemon on ``port`` answers ``/health`` with 200 now."""
    try:
        return http_get("http://127.0.0.1:%d/health" % port, timeout=1)[0] == 200
    except OSError:
        return False


def answered_client(port, secret, timeout=10):
    """A websocket-client connection that got its ``welcome`` and an answer to
    ``get_user_metrics`` with users in it (the zipapp round trips)."""
    import websocket
    ws = websocket.create_connection("ws://127.0.0.1:%d/ws?secret=%s" % (port, secret), timeout=timeout)
    assert json.loads(ws.recv())["type"] == "welcome"
    ws.send('{"type":"get_user_metrics","request_id":"u"}')
    while True:
        reply = json.loads(ws.recv())
        if reply.get("request_id") == "u":
            break
    assert reply["type"] == "user_metrics_response" and reply["data"]
    return ws


def raw_get(port, path, headers=None, timeout=5.0):
    """``(status, headers, body)`` of a GET sent exactly as given (urllib forces Connection: close)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def world_readable_copy(pyz, name):
    """``(directory, path)``: a fresh 0755 temp directory holding an executable copy of ``pyz``
    (pytest's own temp directories are 0700, closed to other users)."""
    import shutil
    import tempfile
    place = tempfile.mkdtemp(prefix="sysmedic-")
    os.chmod(place, 0o755)
    path = os.path.join(place, name)
    shutil.copy(pyz, path)
    os.chmod(path, 0o755)
    return place, path


# Thresholds no machine can exceed ("above" is strict; CPU and memory top out at 100%): a daemon
# under test opens an alert only when the test asks for one, however busy the host is.
QUIET = {"cpu_threshold": 100, "memory_threshold": 100, "user_cpu_threshold": 100, "user_memory_threshold": 100}
# Tests that lower a threshold want its alert at once: no debounce, unless they set one (issue 10's own do).
PROMPT = {"alert_after": 0, "clear_after": 0, "persistent_grace": 0}


def quiet(config):
    """``config`` with :data:`QUIET` thresholds and :data:`PROMPT` alerts for every monitoring
    key it does not set."""
    config = json.loads(json.dumps(config or {}))
    config["monitoring"] = dict(QUIET, **dict(PROMPT, **config.get("monitoring", {})))
    return config


def write_config(home, config=None, websocket=None):
    """config.json (always, with :func:`quiet` thresholds) and websocket.json (if given)."""
    os.makedirs(home, mode=0o700, exist_ok=True)
    with open(os.path.join(home, "config.json"), "w") as handle:
        json.dump(quiet(config), handle)
    if websocket is not None:
        with open(os.path.join(home, "websocket.json"), "w") as handle:
            json.dump(websocket, handle)


def cli(home, *args, timeout=60, check=False, command=None, env=None):
    """``sysmedic ARGS`` in ``home`` (``command``: another checkout's, e.g. from :func:`copy_with`;
    ``env``: variables to add)."""
    env = dict(dict(os.environ, SYSMEDIC_HOME=home) if command else dict(os.environ, SYSMEDIC_HOME=home, PYTHONPATH=ROOT),
               **(env or {}))
    result = subprocess.run((command or SYSMEDIC) + list(args), env=env, capture_output=True, text=True,
                            timeout=timeout, cwd=ROOT, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError("sysmedic %s failed (%d): %s" % (" ".join(args), result.returncode, result.stderr))
    return result


class Daemon:
    """``sysmedic daemon run`` in a subprocess (foreground, logs on stderr to a file)."""

    FAST = {"monitoring": {"update_interval": 0.2, "monitoring_interval": 1}}

    def __init__(self, home, port=None, config=None, websocket=None):
        self.home = home
        self._chosen_port = port is None  # ours to change when another process takes it first
        self.port = port or free_port()
        ws = {"port": self.port, "enabled": True, "host": "127.0.0.1"}
        ws.update(websocket or {})
        write_config(home, config if config is not None else self.FAST, ws)
        self.scheme = "https" if ws.get("tls_cert_file") else "http"
        self.context = None  # an ssl.SSLContext trusting the daemon's CA, for https
        self.log_path = os.path.join(os.path.dirname(home.rstrip("/")), "daemon-%d.log" % self.port)
        self.proc = None

    def start(self, wait=True, max_fds=None, env=None, command=None):
        """Run the daemon; ``max_fds`` sets its RLIMIT_NOFILE (to test fd exhaustion), ``env``
        adds variables, ``command`` replaces ``sysmedic daemon run``."""
        env = dict(dict(os.environ, SYSMEDIC_HOME=self.home, PYTHONPATH=ROOT), **(env or {}))
        self._log = open(self.log_path, "wb")

        def limit():
            if max_fds is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (max_fds, max_fds))
        for attempt in range(5):
            self.proc = subprocess.Popen(command or SYSMEDIC + ["daemon", "run"], env=env, cwd=ROOT,
                                         stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                         preexec_fn=limit)
            if not wait:
                return self
            try:
                self.wait_healthy()
            except AssertionError:
                # free_port() only found a port free a moment ago: another test's daemon (or
                # anything else) may have bound it since. Then another port, and again.
                if not (self._chosen_port and self.proc.poll() is not None and "already in use" in self.log()):
                    raise
                self._move_to(free_port())
                continue
            return self
        raise AssertionError("no free port after 5 attempts")

    def _move_to(self, port):
        path = os.path.join(self.home, "websocket.json")
        with open(path) as handle:
            ws = json.load(handle)
        ws["port"] = self.port = port
        with open(path, "w") as handle:
            json.dump(ws, handle)
        self._log.close()
        self.log_path = os.path.join(os.path.dirname(self.home.rstrip("/")), "daemon-%d.log" % port)
        self._log = open(self.log_path, "wb")

    def wait_healthy(self, timeout=20.0, status=200):
        """Wait until ``/health`` answers ``status`` (200 healthy, 503 degraded)."""
        def up():
            if self.proc.poll() is not None:
                raise AssertionError("daemon exited %s:\n%s" % (self.proc.returncode, self.log()))
            try:
                return http_get(self.url("/health"), timeout=1.0, context=self.context)[0] == status
            except OSError:
                return False
        wait_for(up, timeout, what="/health answering %d" % status)

    def url(self, path):
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.port, path)

    def health(self, status=200):
        code, _, body = http_get(self.url("/health"), context=self.context)
        assert code == status, body
        return json.loads(body)

    def control(self, command, **arguments):
        from sysmedic.daemon import control
        return control.call(self.home, command, **arguments)

    @property
    def secret(self):
        return self.control("status")["secret"]

    def ws_url(self, secret=None):
        scheme = "wss" if self.scheme == "https" else "ws"
        return "%s://127.0.0.1:%d/ws?secret=%s" % (scheme, self.port, secret or self.secret)

    def log(self):
        with open(self.log_path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")

    def terminate(self, timeout=10.0):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Client:
    """A websocket-client connection that sorts broadcasts from replies."""

    def __init__(self, url, cafile=None):
        import websocket  # websocket-client; imported here, where write_config's argument is not in the way
        self.ws = websocket.create_connection(url, timeout=15, sslopt={"ca_certs": cafile} if cafile else None)
        self.broadcasts = []

    def next(self, kind):
        while True:
            message = json.loads(self.ws.recv())
            if message["type"] == kind:
                return message
            self.broadcasts.append(message)

    def ask(self, kind):
        self.ws.send(json.dumps({"type": kind, "request_id": kind}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("request_id") == kind:
                return message["data"]
            self.broadcasts.append(message)


def copy_with(where, changes):
    """The package and bin/ copied to ``where`` with ``{path in sysmedic/: change}`` made to
    it, and nothing else changed (checked): a string is appended to the file (made if it is
    new), a function takes the file's text and returns the new one. Returns the command that
    runs the copy (docs/architecture.md's "Extending" table, held true by
    tests/e2e/test_extending.py and tests/e2e/test_figures.py)."""
    import filecmp
    import shutil
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(os.path.join(ROOT, "sysmedic"), os.path.join(where, "sysmedic"), ignore=ignore)
    shutil.copytree(os.path.join(ROOT, "bin"), os.path.join(where, "bin"), ignore=ignore)
    for path, change in changes.items():
        target = os.path.join(where, "sysmedic", path)
        if callable(change):
            with open(target) as handle:
                text = change(handle.read())
            with open(target, "w") as handle:
                handle.write(text)
        else:
            with open(target, "a") as handle:
                handle.write(change)
    changed = []

    def compare(found):
        changed.extend(os.path.relpath(os.path.join(found.left, name), os.path.join(where, "sysmedic"))
                       for name in found.diff_files + found.left_only)
        for sub in found.subdirs.values():
            compare(sub)
    compare(filecmp.dircmp(os.path.join(where, "sysmedic"), os.path.join(ROOT, "sysmedic"), ignore=["__pycache__"]))
    assert sorted(changed) == sorted(changes), changed
    return [sys.executable, os.path.join(where, "bin", "sysmedic")]
