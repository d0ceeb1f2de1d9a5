"""SysMedic's WebSocket stack as an echo server, for the Autobahn test suite (kosoku).

Autobahn's fuzzing client connects to ``GET /`` without a secret and expects every message
echoed. This runs the daemon's own HTTP server, header reader, upgrade checks, locked socket
and simple-websocket/wsproto connection, with an echo session instead of the JSON protocol,
so the cases test the code the daemon really serves /ws with.

Usage: python tests/conformance/echo_server.py PORT
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from sysmedic.config import WebSocketSettings  # noqa: E402
from sysmedic.server.clients import Registry  # noqa: E402
from sysmedic.server.http import Handler, Server  # noqa: E402
from sysmedic.server.websocket import ConnectionClosed  # noqa: E402


def echo(client, app):
    conn = client.conn
    try:
        while conn.connected:
            conn.wake.wait(30)
            conn.wake.clear()
            while True:
                message = conn.receive_nowait()
                if message is None:
                    break
                conn.ws.send(message)  # str -> text frame, bytes -> binary frame
    except (ConnectionClosed, OSError):
        return


class EchoHandler(Handler):
    session = staticmethod(echo)

    def do_GET(self):
        self._upgrade()


class App:
    version = "conformance"

    def __init__(self):
        # Autobahn sends messages up to 16 MiB (case 9); everything else as the daemon has it.
        self.settings = WebSocketSettings(max_message_size=20 * 1024 * 1024, max_clients=1000, send_timeout=60)
        self.registry = Registry(self.settings.max_clients)
        self.stop_event = threading.Event()
        self.clock = time.time


def main():
    server = Server(("127.0.0.1", int(sys.argv[1])), App())
    server.RequestHandlerClass = EchoHandler
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
