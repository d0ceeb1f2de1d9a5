"""Logging set-up for the daemon (stdlib-only leaf module).

``daemon run`` logs to stderr (systemd and init scripts capture it); ``daemon start`` logs to
``sysmedic.log`` in the home, rotated at 1 MiB with 3 old files, mode 0600 (the daemon's umask
is 077). Secrets never reach a log line: the HTTP access log redacts them at the source.
"""

import logging
import logging.handlers
import os
import sys

LOG_FILE = "sysmedic.log"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup(home=None, to_file=False, level=logging.INFO):
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if to_file:
        handler = logging.handlers.RotatingFileHandler(os.path.join(home, LOG_FILE), maxBytes=1 << 20,
                                                       backupCount=3, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    return handler
