"""The running daemon's settings: the current Config, websocket.json with the ``--port``
override and its connection caps fitted to the open-file limit, and the host name its
connection URLs carry.

``config`` is swapped whole on reload (a reference assignment readers copy; nobody mutates a
Config). The URL host may resolve names, so it is chosen once per listen address and kept
until the settings are reloaded.
"""

import dataclasses
import logging
import os
import resource
import socket

from .. import config as configuration
from . import hostaddr

log = logging.getLogger(__name__)
# File descriptors kept free of connections: the sampler's /proc reads, SQLite and its journal,
# the log, the control socket and its clients, e-mail (issue 13, Medium 5).
RESERVE_FDS = 64


def open_fds():
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 32


def raise_fd_limit(wanted):
    """Raise the soft RLIMIT_NOFILE (often 1024) toward ``wanted``, never past the hard limit
    and never lower; returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return wanted if soft == resource.RLIM_INFINITY else soft
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def fit_fd_limit(websocket, in_use):
    """``websocket`` with ``max_clients`` and ``max_http_connections`` cut, if need be, so that
    both fit under the open-file limit with :data:`RESERVE_FDS` to spare."""
    wanted = websocket.max_clients + websocket.max_http_connections
    room = raise_fd_limit(wanted + in_use + RESERVE_FDS) - in_use - RESERVE_FDS
    if wanted <= room:
        return websocket
    http = min(websocket.max_http_connections, max(4, room // 8))
    clients = max(1, min(websocket.max_clients, room - http))
    log.warning("the open file limit leaves room for %d connections: serving at most %d clients and %d HTTP "
                "connections (websocket.json asks for %d and %d)", max(room, 0), clients, http,
                websocket.max_clients, websocket.max_http_connections)
    return dataclasses.replace(websocket, max_clients=clients, max_http_connections=http)


class Settings:
    """
    :param home: the SysMedic home, holding config.json and websocket.json.
    :param port: the ``--port`` of ``daemon run``: it replaces websocket.json's port until
        :meth:`drop_port_override` (``websocket start`` saved a port).
    """

    def __init__(self, home, port=None, fqdn=socket.getfqdn):
        self.home = home
        self._port = port
        self.config = self.first_config = configuration.load_config(home)  # first: what restart-only options use
        self.hostname = fqdn()
        self._hosts = {}
        self._fds_in_use = open_fds()

    def reload_config(self):
        """Re-read config.json. :raises ConfigError: and the running Config stays."""
        self.config = configuration.load_config(self.home)

    def websocket(self):
        """websocket.json, with the ``--port`` override and caps that fit the open-file limit.

        :raises ConfigError: for a bad file.
        """
        settings = configuration.load_websocket(self.home)
        if self._port is not None:
            settings = dataclasses.replace(settings, port=self._port)
        if settings.metrics_token_file and not os.path.isabs(settings.metrics_token_file):
            # relative to the home, as the TLS files are (issue 22: it was the daemon's cwd)
            settings = dataclasses.replace(settings, metrics_token_file=os.path.join(self.home,
                                                                                     settings.metrics_token_file))
        return fit_fd_limit(settings, self._fds_in_use)

    def saved_websocket(self):
        """websocket.json as saved (no override), or ``None`` when the file is broken."""
        return configuration.load_websocket_or_none(self.home)

    def drop_port_override(self):
        self._port = None

    def forget_hosts(self):
        """Choose URL hosts afresh (after a reload: addresses and public_host may have changed)."""
        self._hosts.clear()

    def machine_name(self):
        """This machine's name in alerts and notices (:func:`sysmedic.hostaddr.machine_name`),
        as the websocket.json saved now says (a reload can set ``public_host``)."""
        saved = self.saved_websocket()
        return hostaddr.machine_name(saved.public_host if saved else "", self.hostname)

    def public_host(self, websocket):
        """The :class:`~sysmedic.hostaddr.PublicHost` for connection URLs of ``websocket``'s listener."""
        key = (websocket.public_host, websocket.host)
        found = self._hosts.get(key)
        if found is None:
            found = self._hosts[key] = hostaddr.choose(websocket.public_host, self.hostname, websocket.host)
        return found
