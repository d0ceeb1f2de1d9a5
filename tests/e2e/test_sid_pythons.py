"""Issue 24, item 4: Python 3.14 and 3.15 supported. The zipapp round trip on Debian sid's
python3.14 and python3.15, in the minbase root tests/sid-root.sh makes (`make test` builds it
as root, before the suite; tests/run-sid.sh runs the fast suite there): --version, the daemon
under ``-X dev`` in the root with /proc, /sys and /dev from the host, /health, three
clients, an alert from a throw-away user's load, a stop, and not one warning."""

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from ..loads import CgroupLoad, can_run_loads, make_user, remove_user
from .harness import free_port, http_get, wait_for, write_config

ROOT = os.path.join(os.environ.get("SYSMEDIC_TEST_ROOTS", "/var/cache/sysmedic-test"), "sid")
PYTHONS = ("python3.14", "python3.15")
BURN = ["sh", "-c", "while :; do :; done"]
# The host's /proc, /sys and /dev in the root, in a mount namespace of the daemon's own.
ENTER = '''mount --bind "$0" "$0" && mount -t proc proc "$0/proc" && mount --rbind /sys "$0/sys" &&
mount --rbind /dev "$0/dev" && exec chroot "$0" "$@"'''

pytestmark = pytest.mark.skipif(not (os.path.isdir(ROOT) and can_run_loads() and shutil.which("unshare")),
                                reason="no sid root (make test builds it as root: tests/sid-root.sh)")


@pytest.fixture
def place(pyz):
    """A directory inside the root holding the zipapp and a home: ``(path in the root, path here)``."""
    here = tempfile.mkdtemp(prefix="sysmedic-sid-", dir=os.path.join(ROOT, "var", "tmp"))
    shutil.copy(pyz, os.path.join(here, "sysmedic.pyz"))
    yield "/" + os.path.relpath(here, ROOT), here
    shutil.rmtree(here, ignore_errors=True)


@pytest.fixture
def user():
    name = make_user()
    yield name
    remove_user(name)


def in_root(*argv, env=None):
    environment = ["env", "-i", "PATH=/usr/bin:/bin", "LANG=C.UTF-8"] + ["%s=%s" % item for item in (env or {}).items()]
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", ENTER, ROOT] + environment + list(argv)


@pytest.mark.parametrize("python", PYTHONS)
def test_the_zipapp_round_trip_on_debian_sid(place, user, python):
    import websocket
    inside, here = place
    version = subprocess.run(in_root(python, inside + "/sysmedic.pyz", "--version"), capture_output=True, text=True,
                             timeout=60)
    from sysmedic import __version__
    assert (version.returncode, version.stdout, version.stderr) == (0, "sysmedic %s\n" % __version__, "")
    port = free_port()
    uid = str(pwd.getpwnam(user).pw_uid)  # the root has no entry for the user: it is shown as its uid
    write_config(os.path.join(here, "home"), {
        "monitoring": {"update_interval": 0.5, "persistent_time": "2s", "monitoring_interval": 1},
        "users": {uid: {"cpu_threshold": 5}}}, {"port": port, "host": "127.0.0.1"})
    log = open(os.path.join(here, "daemon.log"), "wb")
    proc = subprocess.Popen(in_root(python, "-X", "dev", inside + "/sysmedic.pyz", "daemon", "run",
                                    env={"SYSMEDIC_HOME": inside + "/home"}), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: proc.poll() is None and _healthy(port), 30, what="health on %s" % python)
        from sysmedic.daemon import control
        secret = control.call(os.path.join(here, "home"), "status")["secret"]
        clients = [websocket.create_connection("ws://127.0.0.1:%d/ws?secret=%s" % (port, secret), timeout=30)
                   for _ in range(3)]
        for ws in clients:
            assert json.loads(ws.recv())["type"] == "welcome"
            ws.send('{"type":"get_user_metrics","request_id":"u"}')
            while True:
                reply = json.loads(ws.recv())
                if reply.get("request_id") == "u":
                    break
            assert reply["type"] == "user_metrics_response"
        with CgroupLoad(BURN, user=user) as load:
            load.wait_running()
            deadline = time.monotonic() + 30
            while True:  # every message until the alert (the load is over its 5% at once)
                message = json.loads(clients[0].recv())
                if message["type"] == "alert":
                    break
                assert time.monotonic() < deadline, "no alert within 30 s"
        assert uid in json.dumps(message["data"])
        for ws in clients:
            ws.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    with open(os.path.join(here, "daemon.log")) as handle:
        output = handle.read()
    assert "Traceback" not in output and "Warning" not in output and "alert" in output, output


def _healthy(port):
    try:
        return http_get("http://127.0.0.1:%d/health" % port, timeout=1)[0] == 200
    except OSError:
        return False
