"""Start, stop and query the daemon from the CLI (``sysmedic daemon start|stop|status``).

``start`` re-runs this same program as ``daemon run --log-file`` in a new session and returns
only once the daemon answers on its control socket, or prints the daemon's own error (it
writes it to stderr, which ``start`` reads until the daemon closes it on becoming ready).
``stop`` asks over the control socket and waits for the pid file lock to be released; only if
the socket is dead does it send SIGTERM, and only to a process whose command line is ours.
"""

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time

from ..errors import AlreadyStarted, SysMedicError
from . import control
from .pidfile import PID_FILE, running_pid

BOOT = "import sys; from sysmedic.cli import main; sys.exit(main())"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def _package_root():
    """The directory (or zipapp) that holds the ``sysmedic`` package, for the child's sys.path."""
    spec = importlib.util.find_spec("sysmedic")
    return os.path.dirname(list(spec.submodule_search_locations)[0])


def pid_of(home):
    return running_pid(os.path.join(home, PID_FILE))


def start(home, environ=None, user=None):
    """Start the daemon (as ``user``, when root gives one); returns its status dict once it
    serves. :raises SysMedicError: why not."""
    pid = pid_of(home)
    if pid is not None:
        raise AlreadyStarted(pid)
    env = dict(os.environ if environ is None else environ)
    env["SYSMEDIC_HOME"] = home
    env["PYTHONPATH"] = os.pathsep.join([_package_root()] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    try:
        child = subprocess.Popen([sys.executable, "-c", BOOT, "daemon", "run", "--log-file"]
                                 + (["--user=" + user] if user else []), env=env, cwd="/",
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 start_new_session=True)
    except OSError as err:  # e.g. this Python is not executable by the calling user
        raise SysMedicError("cannot run %s: %s" % (sys.executable, (err.strerror or str(err)).lower()))
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while time.monotonic() < deadline:
            if child.poll() is not None:
                lines = child.stderr.read().decode("utf-8", "replace").strip().splitlines()
                reason = lines[-1] if lines else "exited with status %d" % child.returncode
                racing = re.search(r"daemon already running \(pid (\d+)\)", reason)
                if racing:  # another start won the pid file lock a moment before this one
                    raise AlreadyStarted(int(racing.group(1)))
                prefix = "sysmedic: "
                raise SysMedicError("daemon failed to start: %s" % (reason[len(prefix):] if reason.startswith(prefix) else reason))
            try:
                info = control.call(home, "status", timeout=2.0)
            except control.DaemonNotRunning:
                time.sleep(0.05)  # polling with a deadline for the socket to appear
                continue
            except SysMedicError:  # a socket that reset or closed: not our child's (issue 13 Low 16);
                time.sleep(0.05)   # its own exit, with its reason, or its answer comes next
                continue
            if info["pid"] == child.pid:
                return info
            # Another start won the race and answers on the socket: ours is about to give up.
            child.wait(START_TIMEOUT)
            raise AlreadyStarted(info["pid"])
        child.terminate()
        raise SysMedicError("daemon did not become ready within %gs (see %s)" % (
            START_TIMEOUT, os.path.join(home, "sysmedic.log")))
    finally:
        child.stderr.close()


def _is_ours(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return b"sysmedic" in handle.read()
    except OSError:
        return False


def stop(home):
    """Stop the daemon and wait for it to exit; returns the pid it had, or None if not running."""
    pid = pid_of(home)
    if pid is None:
        return None
    try:
        control.call(home, "stop", timeout=5.0)
    except SysMedicError:
        if pid and _is_ours(pid):
            os.kill(pid, signal.SIGTERM)
        else:
            raise SysMedicError("the daemon does not answer and pid %s is not a SysMedic process" % pid)
    deadline = time.monotonic() + STOP_TIMEOUT
    while pid_of(home) is not None:
        if time.monotonic() > deadline:
            raise SysMedicError("the daemon (pid %s) did not stop within %gs" % (pid, STOP_TIMEOUT))
        time.sleep(0.05)  # polling with a deadline for the pid file lock to be released
    return pid


def status(home):
    """The daemon's status dict, or None when it is not running."""
    if pid_of(home) is None:
        return None
    try:
        return control.call(home, "status", timeout=5.0)
    except control.DaemonNotRunning:
        return None
