"""Waits on sockets past descriptor 1024 (select() cannot: the daemon serves up to 10,000
clients), and the lingering close that keeps a last answer from being reset away."""

import os
import resource
import select
import socket

import pytest

from sysmedic.server.sockets import linger_close, ready


@pytest.fixture
def high_pair():
    """A connected socket pair whose first end is descriptor 2000 (limit raised for the test)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 2000:
        pytest.skip("the hard descriptor limit (%d) is below 2001" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    a, b = socket.socketpair()
    os.dup2(a.fileno(), 2000)
    high = socket.socket(fileno=2000)
    a.close()
    try:
        yield high, b
    finally:
        high.close()
        b.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_ready_waits_on_descriptors_past_1024(high_pair):
    high, other = high_pair
    with pytest.raises(ValueError):
        select.select([high], [], [], 0)  # what the send path and the TLS tunnel used before
    assert ready([high], [high], 0) == ([], [high])  # writable, nothing to read yet
    other.sendall(b"x")
    assert ready([high], [], 1.0) == ([high], [])
    assert ready([high, other], [], 0)[0] == [high]


def test_a_lingering_close_lets_the_peer_read_the_last_answer():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    client.sendall(b"more than the server will ever read")
    server.sendall(b"the answer")
    linger_close(server, linger=1.0)  # a plain close here resets the connection (unread input)
    client.settimeout(5)
    assert client.recv(100) == b"the answer" and client.recv(100) == b""
    client.close()
