"""Helpers for the benchmarks: grow the process table to a target size, then clean up."""

import os
import signal
import subprocess
import time


def process_count():
    return sum(1 for name in os.listdir("/proc") if name.isdigit())


class ExtraProcesses:
    """Context manager: start ``sleep`` processes until the machine has about ``target``."""

    def __init__(self, target):
        self.target = target
        self.children = []

    def __enter__(self):
        missing = self.target - process_count()
        for _ in range(max(0, missing)):
            self.children.append(subprocess.Popen(["sleep", "3600"], stdin=subprocess.DEVNULL,
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 30
        while process_count() < self.target - 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        for child in self.children:
            child.send_signal(signal.SIGKILL)
        for child in self.children:
            child.wait()


def start_daemon(home, websocket, config=None, root=None):
    """``sysmedic daemon run`` (from the checkout at ``root``, default this one) for ``home``
    (made 0700 if missing) with these websocket.json and config.json; returns ``(process,
    secret)`` once its control socket answers."""
    import json
    import sys
    from sysmedic.daemon import control
    root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.makedirs(home, mode=0o700, exist_ok=True)
    for name, content in (("websocket.json", websocket), ("config.json", config)):
        if content is not None:
            with open(os.path.join(home, name), "w") as handle:
                json.dump(content, handle)
    env = dict(os.environ, SYSMEDIC_HOME=home, PYTHONPATH=root)
    proc = subprocess.Popen([sys.executable, "-m", "sysmedic", "daemon", "run"], env=env, cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(400):
        try:
            return proc, control.call(home, "status")["secret"]
        except Exception:
            time.sleep(0.05)  # polling with a deadline for the control socket
    proc.kill()
    raise SystemExit("the daemon in %s did not start" % home)
