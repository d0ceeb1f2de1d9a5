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
from .harness import answered_client, free_port, healthy, http_get, wait_for, write_config

SID_ROOT = os.path.join(os.environ.get("SYSMEDIC_TEST_ROOTS", "/var/cache/sysmedic-test"), "sid")
PYTHONS = ("python3.14", "python3.15")
BURN = ["sh", "-c", "while :; do :; done"]
# The host's /proc, /sys and /dev in the root, in a mount namespace of the daemon's own.
ENTER = '''mount --bind "$0" "$0" && mount -t proc proc "$0/proc" && mount --rbind /sys "$0/sys" &&
mount --rbind /dev "$0/dev" && exec chroot "$0" "$@"'''

pytestmark = pytest.mark.skipif(not (os.path.isdir(SID_ROOT) and can_run_loads() and shutil.which("unshare")),
                                reason="no sid root (make test builds it as root: tests/sid-root.sh)")


@pytest.fixture
def place(pyz):
    """A directory inside the root holding the zipapp and a home: ``(path in the root, path here)``."""
    here = tempfile.mkdtemp(prefix="sysmedic-sid-", dir=os.path.join(SID_ROOT, "var", "tmp"))
    shutil.copy(pyz, os.path.join(here, "sysmedic.pyz"))
    yield "/" + os.path.relpath(here, SID_ROOT), here
    shutil.rmtree(here, ignore_errors=True)


@pytest.fixture
def user():
    name = make_user()
    yield name
    remove_user(name)


def in_root(*argv, env=None):
    """The command that runs ``argv`` in the root, with only ``env`` (and PATH, LANG) set."""
    environment = ["env", "-i", "PATH=/usr/bin:/bin", "LANG=C.UTF-8"] + ["%s=%s" % item for item in (env or {}).items()]
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", ENTER, SID_ROOT] + environment + list(argv)


@pytest.mark.parametrize("python", PYTHONS)
def test_the_zipapp_round_trip_on_debian_sid(place, user, python):
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
        wait_for(lambda: proc.poll() is None and healthy(port), 30, what="health on %s" % python)
        from sysmedic.daemon import control
        secret = control.call(os.path.join(here, "home"), "status")["secret"]
        clients = [answered_client(port, secret, timeout=30) for _ in range(3)]
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
    finally:
        stopped(proc)
        log.close()
    with open(os.path.join(here, "daemon.log")) as handle:
        output = handle.read()
    assert "Traceback" not in output and "Warning" not in output and "alert" in output, output


def stopped(proc):
    """SIGTERM the daemon and require a clean exit (a kill if it does not go)."""
    try:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stdlib_package_modules(version):
    """The modules Debian ships in libpython3.X-stdlib (what python3.X-minimal lacks), as
    dotted names: read from the root's dpkg file list."""
    listing = os.path.join(SID_ROOT, "var", "lib", "dpkg", "info", "libpython%s-stdlib:amd64.list" % version)
    prefix = "/usr/lib/python%s/" % version
    names = set()
    with open(listing) as handle:
        for path in handle.read().split():
            if not path.startswith(prefix) or "-packages/" in path:
                continue
            relative = path[len(prefix):]
            if relative.startswith("lib-dynload/") and relative.endswith(".so"):
                names.add(relative.split("/", 1)[1].split(".", 1)[0])
            elif relative.endswith(".py"):
                dotted = relative[:-3].replace("/", ".")
                names.add(dotted[:-len(".__init__")] if dotted.endswith(".__init__") else dotted)
    return sorted(names)


def first_missing(names, missing):
    return next((name for name in names if name in missing or name.split(".")[0] in missing), None)


@pytest.mark.parametrize("python", PYTHONS)
def test_on_python3_minimal_as_debian_splits_it_each_command_runs_or_says_what_it_lacks(place, python):
    """issue 24: on bookworm's python3-minimal every command but --version died with an 18-line
    traceback. Here the modules of Debian's own libpython3.X-stdlib are made unimportable (its
    file list, in the root), so the interpreter is what python3.X-minimal alone installs. In
    sid that has json and dataclasses but not ntpath, which 3.15's logging needs through
    traceback and pathlib: whatever a command lacks, it says which module in one line."""
    import re
    inside, here = place
    version = python[len("python"):]
    missing = set(stdlib_package_modules(version))
    assert {"sqlite3", "http", "socketserver"} <= missing, sorted(missing)  # the split as the field saw it
    shutil.copy(os.path.join(os.path.dirname(os.path.dirname(__file__)), "blocking", "sitecustomize.py"), here)
    env = {"PYTHONPATH": inside, "SYSMEDIC_TEST_BLOCK": ",".join(sorted(missing)), "SYSMEDIC_HOME": inside + "/home"}
    line = re.compile(r"sysmedic: (?:.*: )?Python's (\S+) module is missing; it comes with Python's standard library: "
                      r"on Debian libpython%s-stdlib \(apt install python3\), on OpenWrt \S+" % re.escape(version))
    assert subprocess.run(in_root(python, inside + "/sysmedic.pyz", "--version", env=env), capture_output=True,
                          text=True, timeout=60).stdout.startswith("sysmedic ")
    said = {}
    for argv in (["config", "get", "cpu_threshold"], ["alerts"], ["daemon", "status"], ["daemon", "run"],
                 ["daemon", "start"]):
        result = subprocess.run(in_root(python, inside + "/sysmedic.pyz", *argv, env=env), capture_output=True,
                                text=True, timeout=60)
        if result.returncode in (0, 3):  # 3: daemon status says stopped
            said[" ".join(argv[:2])] = "runs"
            continue
        assert result.returncode == 1 and result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
        named = line.match(result.stderr)
        assert named and named.group(1).split(".")[0] in {name.split(".")[0] for name in missing}, result.stderr
        said[" ".join(argv[:2])] = named.group(1)
    print("python%s-minimal: %s" % (version, said))
    assert said["daemon run"] != "runs" and said["daemon start"] != "runs"  # http.server is not in minimal
    assert not os.path.exists(os.path.join(here, "home", "sysmedic.pid"))


def test_a_read_only_root_with_a_tmpfs_home_serves(place):
    """The root mounted read-only, the home on a tmpfs (/run): the daemon serves, stores, and
    says nothing is wrong."""
    inside, here = place
    port = free_port()
    enter_read_only = ('mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && mount -t tmpfs -o mode=0755 tmpfs '
                       '"$0/run" && mount -t proc proc "$0/proc" && mount --rbind /dev "$0/dev" && exec chroot "$0" "$@"')
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", enter_read_only, SID_ROOT, "env", "-i",
               "PATH=/usr/bin:/bin", "SYSMEDIC_HOME=/run/sysmedic", "python3", inside + "/sysmedic.pyz", "daemon",
               "run", "--port=%d" % port]
    log_path = os.path.join(here, "read-only.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: proc.poll() is None and healthy(port), 30, what="health with a read-only root")
        _, _, body = http_get("http://127.0.0.1:%d/health" % port, timeout=5)
        health = json.loads(body)
        assert health["status"] == "healthy" and health["problems"] == [], health
        assert not [w for w in health["warnings"] if "sqlite3" in w or "read-only" in w], health["warnings"]
    finally:
        stopped(proc)
    with open(log_path) as handle:
        output = handle.read()
    assert "Traceback" not in output and "storage failing" not in output, output
