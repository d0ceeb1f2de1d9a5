"""The running daemon's settings: the current Config, websocket.json with the ``--port``
override, and the host name its connection URLs carry.

``config`` is swapped whole on reload (a reference assignment readers copy; nobody mutates a
Config). The URL host may resolve names, so it is chosen once per listen address and kept
until the settings are reloaded.
"""

import dataclasses
import socket

from .. import config as configuration
from .. import hostaddr


class Settings:
    """
    :param home: the SysMedic home, holding config.json and websocket.json.
    :param port: the ``--port`` of ``daemon run``: it replaces websocket.json's port until
        :meth:`drop_port_override` (``websocket start`` saved a port).
    """

    def __init__(self, home, port=None, fqdn=socket.getfqdn):
        self.home = home
        self._port = port
        self.config = configuration.load_config(home)
        self.hostname = fqdn()
        self._hosts = {}

    def reload_config(self):
        """Re-read config.json. :raises ConfigError: and the running Config stays."""
        self.config = configuration.load_config(self.home)

    def websocket(self):
        """websocket.json, with the ``--port`` override. :raises ConfigError: for a bad file."""
        settings = configuration.load_websocket(self.home)
        if self._port is not None:
            settings = dataclasses.replace(settings, port=self._port)
        return settings

    def saved_websocket(self):
        """websocket.json as saved (no override), or ``None`` when the file is broken."""
        return configuration.load_websocket_or_none(self.home)

    def drop_port_override(self):
        self._port = None

    def forget_hosts(self):
        """Choose URL hosts afresh (after a reload: addresses and public_host may have changed)."""
        self._hosts.clear()

    def public_host(self, websocket):
        """The :class:`~sysmedic.hostaddr.PublicHost` for connection URLs of ``websocket``'s listener."""
        key = (websocket.public_host, websocket.host)
        found = self._hosts.get(key)
        if found is None:
            found = self._hosts[key] = hostaddr.choose(websocket.public_host, self.hostname, websocket.host)
        return found
