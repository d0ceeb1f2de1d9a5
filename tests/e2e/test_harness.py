"""The harness itself (issue 23, item 5): a port found free is handed out once, and a daemon
that loses its port to another process before it binds is moved to another one and started
again, instead of the test failing (or talking to whatever holds the port)."""

import socket

from . import harness


def test_a_daemon_whose_port_was_taken_moves_to_another(tmp_path, monkeypatch):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    found = harness.free_port
    given = iter([port])
    monkeypatch.setattr(harness, "free_port", lambda: next(given, None) or found())
    daemon = harness.Daemon(str(tmp_path / "home"))
    assert daemon.port == port
    try:
        daemon.start()
        assert daemon.port != port and daemon.health()["status"] == "healthy"
        assert "already in use" not in daemon.log()  # the log of the run that serves
    finally:
        daemon.terminate()
        taken.close()


def test_free_ports_are_never_handed_out_twice():
    ports = [harness.free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
