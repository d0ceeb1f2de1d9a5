"""The host name put in connection URLs (stdlib-only leaf module; decision 18, issue 8 defect 8).

Nothing here contacts anything: names resolve through the system resolver (``/etc/hosts``
first on most hosts) and the machine's own addresses come from the kernel (``SIOCGIFADDR``
for IPv4, ``/proc/net/if_inet6`` for IPv6).

Order: ``public_host`` from websocket.json; else the FQDN when it resolves to an address a
remote client can use; else, for a listener on one specific address, that address; else the
first non-loopback address of an interface that is up. Whenever the FQDN was not usable the
choice carries a note telling the operator to set ``public_host``.
"""

import fcntl
import ipaddress
import socket
import struct
from typing import NamedTuple, Optional

SIOCGIFFLAGS = 0x8913
SIOCGIFADDR = 0x8915
IFF_UP = 0x1
WILDCARDS = ("", "0.0.0.0", "::")


class PublicHost(NamedTuple):
    host: str
    note: Optional[str]     # one sentence for ``status`` when public_host should be set


def _usable(address):
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def resolve(name):
    """Every address ``name`` resolves to (empty when it does not)."""
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)})
    except (OSError, UnicodeError):
        return []


def interface_addresses(proc_root="/proc"):
    """Usable (non-loopback, non-link-local) addresses of interfaces that are up: IPv4 first."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _index, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                flags = struct.unpack_from("H", fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request), 16)[0]
                if not flags & IFF_UP:
                    continue
                address = socket.inet_ntoa(fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)[20:24])
            except OSError:  # no IPv4 address on this interface
                continue
            if _usable(address):
                found.append(address)
    try:
        with open(proc_root + "/net/if_inet6") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) >= 6 and fields[3] == "00":  # global scope
                    address = str(ipaddress.ip_address(bytes.fromhex(fields[0])))
                    if _usable(address):
                        found.append(address)
    except (OSError, ValueError):
        pass
    return found


def choose(public_host, fqdn, bind_host, resolve=resolve, addresses=interface_addresses):
    """The :class:`PublicHost` for connection URLs (the lookups are injectable for tests)."""
    if public_host:
        return PublicHost(public_host, None)
    resolved = resolve(fqdn)
    wildcard = bind_host in WILDCARDS
    if any(_usable(a) and (wildcard or a == bind_host) for a in resolved):
        return PublicHost(fqdn, None)
    why = ("the host name %r resolves to %s" % (fqdn, ", ".join(resolved)) if resolved
           else "the host name %r does not resolve" % fqdn)
    if not wildcard:
        if _usable(bind_host):
            return PublicHost(bind_host, "%s; using the listen address. Set public_host in websocket.json "
                                         "to the name clients should use." % why)
        return PublicHost(bind_host, "listening on %s only: remote clients cannot connect (set host and "
                                     "public_host in websocket.json)" % bind_host)
    mine = addresses()
    if mine:
        return PublicHost(mine[0], "%s; using this machine's address %s. Set public_host in websocket.json "
                                   "to the name clients should use." % (why, mine[0]))
    return PublicHost(fqdn, "%s and this machine has no other address: set public_host in websocket.json "
                            "to a name remote clients can reach." % why)


def machine_name(public_host, fqdn, nodename=socket.gethostname):
    """What alerts, e-mails and webhooks call this machine (issue 22: every one said
    ``localhost``): ``public_host`` when the operator set one, else the FQDN, unless it is a
    ``localhost`` name (``/etc/hosts`` often maps the host name so), then the kernel's own
    host name (``uname -n``)."""
    if public_host:
        return public_host
    if fqdn and fqdn.split(".")[0] != "localhost":
        return fqdn
    return nodename() or fqdn or "localhost"
