"""systemd's notify protocol, stdlib only: ``READY=1``, ``WATCHDOG=1``, ``STOPPING=1``.

Under ``Type=notify`` systemd passes ``$NOTIFY_SOCKET``, an ``AF_UNIX`` datagram address (a
leading ``@`` means the abstract namespace), and with ``WatchdogSec=`` also ``$WATCHDOG_USEC``
(and ``$WATCHDOG_PID``, the process it is meant for). Each message is one datagram of
``KEY=VALUE`` lines. Without ``$NOTIFY_SOCKET`` (init scripts, a terminal) every call does
nothing. Sending never blocks and never raises: a watchdog that cannot be fed is logged once.
"""

import logging
import os
import socket

log = logging.getLogger(__name__)


class SystemdNotifier:
    """
    :param environ: where ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` are read.
    """

    def __init__(self, environ=None):
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]
        self._address = address or None
        self._sock = None
        self._warned = False
        self.watchdog_seconds = None
        usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
        if self._address and usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_seconds = int(usec) / 1e6

    def ping_every(self):
        """How often to send ``WATCHDOG=1`` (half the deadline, as sd_watchdog_enabled(3) advises),
        or ``None`` without a watchdog."""
        return None if self.watchdog_seconds is None else self.watchdog_seconds / 2

    def notify(self, text):
        """Send one message; returns True when it was sent."""
        if self._address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto(text.encode("utf-8"), self._address)
            return True
        except OSError as err:
            if not self._warned:
                self._warned = True
                log.warning("cannot notify systemd at %r: %s", self._address, err)
            return False

    def ready(self, status=""):
        return self.notify("READY=1\nMAINPID=%d%s" % (os.getpid(), "\nSTATUS=" + status if status else ""))

    def watchdog(self):
        return self.notify("WATCHDOG=1")

    def stopping(self):
        return self.notify("STOPPING=1")

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None
