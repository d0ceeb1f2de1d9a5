"""The embedded HTTP/WebSocket server (docs/websocket-protocol.md).

- ``protocol``   message shapes and request handling (pure, stdlib-only);
- ``websocket``  the simple-websocket adapter (the only module importing simple_websocket);
- ``clients``    connected clients, their bounded queues and the broadcaster;
- ``http``       the ThreadingHTTPServer: ``/health``, ``/ws``, authentication, limits.
"""
