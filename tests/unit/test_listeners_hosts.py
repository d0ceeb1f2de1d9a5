"""Moving the listener (same port, new address; rollback when that fails) and choosing the
host name put in connection URLs, without a daemon."""

import errno
import shutil
import subprocess

import pytest

from sysmedic.daemon import hostaddr
from sysmedic.config import WebSocketSettings
from sysmedic.daemon.listeners import Listeners
from sysmedic.errors import SysMedicError
from sysmedic.server.clients import Registry


class FakeServer:
    """Stands for http.Server: records its address and whether it was closed."""

    def __init__(self, address, ports):
        self.address, self._ports, self.closed = address, ports, False
        self.app = type("App", (), {"settings": None})()

    def serve_forever(self, poll_interval):
        pass

    def shutdown(self):
        pass

    def server_close(self):
        self.closed = True
        self._ports.pop(self.address[1], None)


def make_listeners(refuse=None):
    """Listeners whose servers bind like the kernel: one address per port, wildcard or not,
    and ``refuse(address)`` may return an errno to fail a bind with."""
    ports, made = {}, []

    def make_server(settings):
        address = (settings.host, settings.port)
        if settings.port in ports:  # the kernel checks this first
            raise OSError(errno.EADDRINUSE, "Address already in use")
        if refuse and refuse(address):
            raise OSError(refuse(address), "refused")
        server = ports[settings.port] = FakeServer(address, ports)
        made.append(server)
        return server
    return Listeners(make_server, Registry(5)), made


def test_a_new_host_on_the_same_port_releases_our_socket_first():
    listeners, made = make_listeners()
    listeners.apply(WebSocketSettings(host="0.0.0.0", port=8060))
    listeners.apply(WebSocketSettings(host="127.0.0.1", port=8060))
    assert listeners.current.server.address == ("127.0.0.1", 8060)
    assert [server.closed for server in made] == [True, False]


def test_when_the_new_address_fails_the_old_one_is_bound_again():
    listeners, made = make_listeners(refuse=lambda address: errno.EACCES if address[0] == "10.9.9.9" else 0)
    listeners.apply(WebSocketSettings(host="0.0.0.0", port=8060))
    with pytest.raises(SysMedicError, match="permission denied"):
        listeners.apply(WebSocketSettings(host="10.9.9.9", port=8060))
    assert listeners.current.server.address == ("0.0.0.0", 8060) and not listeners.current.server.closed
    assert len(made) == 2 and made[0].closed  # ours was released, then bound again


def test_a_port_taken_by_someone_else_keeps_the_old_listener():
    listeners, made = make_listeners(refuse=lambda address: errno.EADDRINUSE if address[1] == 9090 else 0)
    listeners.apply(WebSocketSettings(host="0.0.0.0", port=8060))
    with pytest.raises(SysMedicError, match="port 9090 is already in use"):
        listeners.apply(WebSocketSettings(host="0.0.0.0", port=9090))
    assert listeners.current.server.address == ("0.0.0.0", 8060) and len(made) == 1


def resolver(table):
    return lambda name: table.get(name, [])


@pytest.mark.parametrize("public, fqdn, bind, table, mine, host, note", [
    ("sm.example", "box", "0.0.0.0", {}, [], "sm.example", None),
    ("", "box.example", "0.0.0.0", {"box.example": ["198.51.100.7"]}, [], "box.example", None),
    # Issue 8, defect 8: the FQDN resolves to loopback: a real address of the machine instead.
    ("", "vm", "0.0.0.0", {"vm": ["127.0.0.1"]}, ["192.0.2.2", "fd00::2"], "192.0.2.2",
     "the host name 'vm' resolves to 127.0.0.1; using this machine's address 192.0.2.2"),
    ("", "vm", "0.0.0.0", {}, ["192.0.2.2"], "192.0.2.2", "the host name 'vm' does not resolve"),
    ("", "vm", "0.0.0.0", {"vm": ["127.0.1.1"]}, [], "vm", "this machine has no other address: set public_host"),
    ("", "box.example", "192.0.2.2", {"box.example": ["198.51.100.7"]}, [], "192.0.2.2", "using the listen address"),
    ("", "box.example", "127.0.0.1", {"box.example": ["198.51.100.7"]}, [], "127.0.0.1",
     "listening on 127.0.0.1 only: remote clients cannot connect"),
])
def test_the_url_host_is_never_a_loopback_name_without_saying_so(public, fqdn, bind, table, mine, host, note):
    chosen = hostaddr.choose(public, fqdn, bind, resolve=resolver(table), addresses=lambda: mine)
    assert chosen.host == host
    if note is None:
        assert chosen.note is None
    else:
        assert note in chosen.note and (chosen.note.startswith("listening") or "public_host" in chosen.note)


@pytest.mark.skipif(not shutil.which("ip"), reason="needs iproute2's ip to cross-check")
def test_interface_addresses_match_what_ip_reports():
    shown = subprocess.run(["ip", "-o", "addr", "show", "up"], capture_output=True, text=True).stdout
    expected = []
    for line in shown.splitlines():
        address = line.split()[3].split("/")[0]
        if " scope global" in line and (":" not in address or not address.startswith("fe80")):
            expected.append(address)
    found = hostaddr.interface_addresses()
    assert sorted(found) == sorted(expected)
    assert found == [a for a in found if ":" not in a] + [a for a in found if ":" in a]  # IPv4 first


def test_the_machines_name_in_notices_is_never_a_localhost_alias():
    """Issue 22, item 11: every alert, e-mail and webhook named the machine `localhost`."""
    from sysmedic.daemon.hostaddr import machine_name
    assert machine_name("web1.example.org", "localhost", lambda: "vm") == "web1.example.org"
    assert machine_name("", "build3.lab.example", lambda: "build3") == "build3.lab.example"
    assert machine_name("", "localhost", lambda: "vm") == "vm"
    assert machine_name("", "localhost.localdomain", lambda: "") == "localhost.localdomain"
