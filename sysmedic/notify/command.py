"""Run a configured program for each alert: argv as given (no shell), the alert as JSON on its
stdin (:func:`~sysmedic.notify.base.payload`) and in ``SYSMEDIC_ALERT_*`` variables, killed
after ``timeout``; its exit status is logged, and a non-zero one is a failure the base
retries with backoff.
"""

import json
import logging
import os
import selectors
import subprocess
import time

from .base import Notifier, NotifyError, payload

log = logging.getLogger(__name__)
MAX_OUTPUT_SHOWN = 200


class CommandNotifier(Notifier):
    def __init__(self, settings, hostname=None, limit=100):
        super().__init__("command", settings, hostname, limit)

    def configured(self, settings):
        return bool(settings.argv)

    def deliver(self, settings, notice):
        run(settings, payload(notice))


def environment(data):
    alert = data["alert"]
    values = {"EVENT": data["event"], "HOST": data["host"], "ID": "" if alert["id"] is None else str(alert["id"]),
              "SEVERITY": alert["severity"], "STATUS": alert["status"], "CAUSE": alert["cause"],
              "MESSAGE": alert["message"], "USERS": ",".join(alert["users"]), "TEXT": data["text"],
              "RESOLVED": "1" if alert["resolved"] else "0", "REOPEN_COUNT": str(alert["reopen_count"])}
    env = {key: value for key, value in os.environ.items() if not key.startswith("SYSMEDIC_ALERT_")}
    env.update(("SYSMEDIC_ALERT_" + key, value.replace("\0", "")) for key, value in values.items())
    return env


def run(settings, data):
    """Run ``settings.argv`` for ``data``. :raises NotifyError: when it cannot start, times out
    or exits non-zero (with the start of what it printed). Its output is read as it comes and
    all but the first :data:`MAX_OUTPUT_SHOWN` bytes dropped: a chatty program cannot grow the
    daemon."""
    program = settings.argv[0]
    deadline = time.monotonic() + settings.timeout
    try:
        proc = subprocess.Popen(list(settings.argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=environment(data), close_fds=True,
                                start_new_session=True)
    except OSError as err:
        raise NotifyError("%s: cannot run: %s" % (program, err.strerror or err))
    kept = b""
    try:
        try:
            proc.stdin.write(json.dumps(data).encode("utf-8"))
            proc.stdin.close()
        except BrokenPipeError:  # it did not read its input: its exit status says the rest
            pass
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise NotifyError("%s: killed after %gs" % (program, settings.timeout))
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                kept = (kept + chunk)[:MAX_OUTPUT_SHOWN]
        status = proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise NotifyError("%s: killed after %gs" % (program, settings.timeout))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    output = kept.decode("utf-8", "replace").strip().replace("\n", " ")
    if status != 0:
        raise NotifyError("%s: exit status %d%s" % (program, status, (": " + output) if output else ""))
    log.info("command %s: exit status 0", program)


NOTIFIER = CommandNotifier  # what sysmedic.notify.notifiers() makes of this module
