"""The embedded HTTP/WebSocket server (docs/websocket-protocol.md). It sees the daemon only
through a :class:`~sysmedic.server.context.ServerContext` and never imports it.

- ``http``       the threading server and its routes (``ROUTES``): ``/``, ``/health``, ``/ws``, ``/metrics``;
- ``http1``      reading HTTP/1.1 requests (strict, no bodies) and writing answers;
- ``sockets``    waiting on sockets (poll) and lingering closes;
- ``tls``        certificates and keys, and the tunnel that serves one TLS connection;
- ``context``    what the HTTP layer may use of the daemon;
- ``session``    the loop serving one upgraded WebSocket client;
- ``protocol``   message shapes and request handling (pure, stdlib-only);
- ``clients``    connected clients, their bounded queues and the broadcaster;
- ``websocket``  the simple-websocket adapter (the only module importing simple_websocket);
- ``frames``     close codes and the pre-encoded text frame (stdlib-only).
"""
