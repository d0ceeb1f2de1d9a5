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
PING_FRAME = b"\x89\x00"  # an unmasked, final, empty ping


class Keepalive:
    """When to ping a client, and when it has failed to answer (RFC 6455 5.5.2).

    A ping goes out every ``interval`` seconds; a client that has not answered one by the time
    the next is due is closed (1008). A check that comes far past its time means this process
    did not run meanwhile (SIGSTOP, a stalled host): the client gets a fresh interval instead
    of a verdict, since its answer may be waiting unread. simple-websocket's own pings judged
    at once after such a pause and closed every client (issue 13, Low 8).
    """

    STALL = 2.0  # seconds past due that count as "we were not running"

    def __init__(self, interval, monotonic):
        self.interval = interval
        self._monotonic = monotonic
        self.due = monotonic() + interval
        self.awaiting = False

    def wait(self):
        """Seconds until the next check."""
        return max(0.0, self.due - self._monotonic())

    def check(self, answered):
        """``"ping"`` (send one now), ``"timeout"`` (close the client) or ``None``.

        :param answered: callable, true when the client answered the last ping.
        """
        now = self._monotonic()
        if now < self.due:
            return None
        if now > self.due + self.STALL:
            self.due = now + self.interval
            return None
        if self.awaiting and not answered():
            return "timeout"
        self.awaiting = True
        self.due = now + self.interval
        return "ping"


def text_frame(payload):
    """An unmasked, final text frame (RFC 6455 section 5.2) for ``payload`` bytes: encode once,
    send to every client that did not negotiate compression."""
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", 0x81, size) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload
