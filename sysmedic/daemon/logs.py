"""Logging set-up for the daemon (stdlib-only leaf module).

``daemon run`` logs to stderr (systemd and init scripts capture it); ``daemon start`` logs to
``sysmedic.log`` in the home, rotated at 1 MiB with 3 old files, mode 0600 (the daemon's umask
is 077). Secrets never reach a log line: the HTTP access log redacts them at the source.
"""

import logging
import logging.handlers
import os
import sys

from ..home import open_in_home

LOG_FILE = "sysmedic.log"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class HomeLogHandler(logging.handlers.RotatingFileHandler):
    """The rotating log, opened without following a symbolic link planted in the home."""

    def _open(self):
        return os.fdopen(open_in_home(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "a",
                         encoding=self.encoding)


def setup(home=None, to_file=False, level=logging.INFO):
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if to_file:
        handler = HomeLogHandler(os.path.join(home, LOG_FILE), maxBytes=1 << 20, backupCount=3,
                                 encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    return handler
