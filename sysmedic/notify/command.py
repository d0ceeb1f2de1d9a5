"""Run a configured program for each alert: argv as given (no shell), the alert as JSON on its
stdin (:func:`~sysmedic.notify.base.payload`) and in ``SYSMEDIC_ALERT_*`` variables, killed
after ``timeout``; its exit status is logged, and a non-zero one is a failure the base
retries with backoff.
"""

import json
import logging
import os
import subprocess

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
    or exits non-zero (with the start of what it printed)."""
    program = settings.argv[0]
    try:
        done = subprocess.run(list(settings.argv), input=json.dumps(data).encode("utf-8"), env=environment(data),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=settings.timeout,
                              close_fds=True, start_new_session=True)
    except subprocess.TimeoutExpired:
        raise NotifyError("%s: killed after %gs" % (program, settings.timeout))
    except OSError as err:
        raise NotifyError("%s: cannot run: %s" % (program, err.strerror or err))
    output = done.stdout[:MAX_OUTPUT_SHOWN].decode("utf-8", "replace").strip().replace("\n", " ")
    if done.returncode != 0:
        raise NotifyError("%s: exit status %d%s" % (program, done.returncode, (": " + output) if output else ""))
    log.info("command %s: exit status 0", program)
