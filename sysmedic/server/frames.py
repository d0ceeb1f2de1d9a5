"""WebSocket close codes and the one frame SysMedic encodes itself (stdlib-only leaf module).

Kept apart from the simple-websocket adapter so the daemon can run, broadcast to nobody and
answer /health without importing simple-websocket, wsproto and h11 (~4.6 MB of RSS) until the
first client upgrades.
"""

import struct

GOING_AWAY = 1001          # daemon shutdown (spec decision 13)
POLICY_VIOLATION = 1008    # client evicted for not reading
MESSAGE_TOO_BIG = 1009
SECRET_ROTATED = 4001


def text_frame(payload):
    """An unmasked, final text frame (RFC 6455 section 5.2) for ``payload`` bytes: encode once,
    send to every client that did not negotiate compression."""
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", 0x81, size) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload
