#!/usr/bin/env python3
"""SysMedic WebSocket client: live metrics and alerts, and every request type.

Usage:
  websocket_client.py "sysmedic://SECRET@HOST:8060/"
  websocket_client.py "ws://HOST:8060/ws" --secret SECRET
  websocket_client.py URL --command ping --command info     (scripted: print replies, then exit)

Interactive commands (type one and press Enter): info, alerts, users, config, ping, help, quit.
Needs websocket-client (pip install websocket-client). Reconnects with backoff when the
connection drops; exits with a clear message when the secret is wrong or was rotated.

Exit status: 0 normal, 2 bad URL, 3 invalid or rotated secret, 130 Ctrl-C.
"""

import argparse
import json
import queue
import sys
import threading
import time
from urllib.parse import quote, urlsplit

try:
    import websocket
except ImportError:
    sys.exit("websocket_client.py needs websocket-client: pip3 install websocket-client")

COMMANDS = {"info": "get_system_info", "alerts": "get_alerts", "users": "get_user_metrics",
            "config": "get_config", "ping": "ping"}
SECRET_ROTATED = 4001


class Fatal(Exception):
    """Stop without reconnecting: ``code`` is the exit status."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def ws_url(url, secret=None):
    """The ws:// endpoint for a ``sysmedic://secret@host:port/`` or ``ws://`` URL."""
    parts = urlsplit(url)
    if parts.scheme == "sysmedic":
        if not parts.username or not parts.hostname:
            raise ValueError("a sysmedic:// URL needs a secret and a host: sysmedic://SECRET@HOST:8060/")
        host = "[%s]" % parts.hostname if ":" in parts.hostname else parts.hostname
        return "ws://%s:%d/ws?secret=%s" % (host, parts.port or 8060, quote(parts.username, safe=""))
    if parts.scheme in ("ws", "wss"):
        if secret:
            joiner = "&" if parts.query else "?"
            path = parts.path or "/ws"
            return "%s://%s%s%s%ssecret=%s" % (parts.scheme, parts.netloc, path,
                                              "?" + parts.query if parts.query else "", joiner, quote(secret, safe=""))
        return url
    raise ValueError("unsupported URL %r: use sysmedic://SECRET@HOST:PORT/ or ws://HOST:PORT/ws" % url)


def describe(message):
    """One or more human lines for a server message."""
    kind, data = message.get("type"), message.get("data")
    stamp = message.get("timestamp", "")[11:19]
    if kind == "welcome":
        return "%s (version %s) on %s - status: %s" % (data["message"], data["version"], data["system"], data["status"])
    if kind == "system_update":
        return "[%s] CPU %5.1f%% | MEM %5.1f%% | DISK %5.1f%% | up %s | %s" % (
            stamp, data["cpu_usage"], data["memory_usage"], data["disk_usage"], data["uptime"], data.get("status", ""))
    if kind == "alert":
        lines = ["[%s] ALERT %s: %s" % (stamp, data.get("status"), data.get("message") or data.get("primary_cause"))]
        if data.get("primary_cause"):
            lines.append("  primary cause: %s" % data["primary_cause"])
        lines += ["  - %s" % r for r in data.get("recommendations", [])]
        return "\n".join(lines)
    if kind == "error":
        return "error: %s" % data.get("error")
    return "%s:\n%s" % (kind, json.dumps(data, indent=2))


class Session:
    """One connection: a reader thread prints what arrives; the caller sends requests."""

    def __init__(self, url, out):
        self.out = out
        self.replies = {}
        self.closed = threading.Event()
        self.welcomed = threading.Event()
        self.close_code = None
        self.counter = 0
        self.ws = websocket.create_connection(url, timeout=10, enable_multithread=True)
        self.ws.settimeout(None)
        self.thread = threading.Thread(target=self._read, name="reader", daemon=True)
        self.thread.start()

    def _read(self):
        try:
            while True:
                opcode, data = self.ws.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                    return
                if opcode not in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                    continue
                message = json.loads(data)
                self.out.write(describe(message) + "\n")
                self.out.flush()
                if message.get("type") == "welcome":
                    self.welcomed.set()
                if message.get("request_id"):
                    self.replies[message["request_id"]] = message
        except (websocket.WebSocketException, OSError, ValueError):
            return
        finally:
            self.closed.set()

    def request(self, kind):
        self.counter += 1
        request_id = "req_%d_%d" % (self.counter, int(time.time() * 1000))
        self.ws.send(json.dumps({"type": kind, "request_id": request_id}))
        return request_id

    def close(self):
        try:
            self.ws.close()
        except (websocket.WebSocketException, OSError):
            pass


def connect(url, out):
    """A Session, or :class:`Fatal` for errors that reconnecting cannot fix."""
    try:
        return Session(url, out)
    except websocket.WebSocketBadStatusException as err:
        if err.status_code == 401:
            raise Fatal("Invalid secret: get the current URL with 'sysmedic websocket status'", 3)
        raise


def scripted(session, commands, timeout):
    """Send each command, wait for all replies, return."""
    if not session.welcomed.wait(timeout):
        raise Fatal("no welcome from the server within %gs" % timeout, 1)
    pending = [session.request(COMMANDS[name]) for name in commands]
    deadline = time.monotonic() + timeout
    while any(rid not in session.replies for rid in pending):
        if session.closed.wait(0.05) or time.monotonic() > deadline:
            raise Fatal("connection ended before every reply arrived", 1)


def read_lines(stdin):
    """A queue fed with stdin's lines by a reader thread; ``None`` marks the end of input."""
    lines = queue.Queue()

    def pump():
        for line in stdin:
            lines.put(line)
        lines.put(None)
    threading.Thread(target=pump, name="stdin", daemon=True).start()
    return lines


def interactive(session, lines, out):
    """Run typed commands until quit or end of input (True), or until the connection ends (False)."""
    out.write("Commands: %s, help, quit\n" % ", ".join(COMMANDS))
    out.flush()
    while not session.closed.is_set():
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:
            return True
        name = line.strip().lower()
        if name in ("quit", "exit"):
            return True
        if name in COMMANDS:
            session.request(COMMANDS[name])
        elif name in ("help", "?"):
            out.write("Commands: %s, help, quit\n" % ", ".join(COMMANDS))
        elif name:
            out.write("unknown command %r (type help)\n" % name)
        out.flush()
    return False


def main(argv=None, stdin=sys.stdin, out=sys.stdout):
    parser = argparse.ArgumentParser(description="SysMedic WebSocket client")
    parser.add_argument("url", help='sysmedic://SECRET@HOST:PORT/ or ws://HOST:PORT/ws')
    parser.add_argument("--secret", help="the secret, with a ws:// URL")
    parser.add_argument("--command", "-c", action="append", choices=sorted(COMMANDS),
                        help="send this request, print the reply, exit when all are answered (repeatable)")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait in scripted mode")
    parser.add_argument("--max-backoff", type=float, default=30.0, help="longest wait between reconnects")
    args = parser.parse_args(argv)
    try:
        url = ws_url(args.url, args.secret)
    except ValueError as err:
        sys.stderr.write("websocket_client.py: %s\n" % err)
        return 2
    backoff = 1.0
    lines = None if args.command else read_lines(stdin)
    try:
        while True:
            try:
                session = connect(url, out)
            except (websocket.WebSocketException, OSError) as err:
                if args.command:
                    raise Fatal("cannot connect: %s" % err, 1)
                sys.stderr.write("connection failed (%s); retrying in %.0fs\n" % (err, backoff))
                time.sleep(backoff)  # reconnect backoff
                backoff = min(backoff * 2, args.max_backoff)
                continue
            backoff = 1.0
            try:
                if args.command:
                    scripted(session, args.command, args.timeout)
                    return 0
                if interactive(session, lines, out):
                    return 0
                session.closed.wait()
                if session.close_code == SECRET_ROTATED:
                    raise Fatal("The secret was rotated: get the new URL with 'sysmedic websocket status'", 3)
                sys.stderr.write("connection closed (%s); reconnecting\n" % (session.close_code or "no code"))
            finally:
                session.close()
    except Fatal as fatal:
        sys.stderr.write("websocket_client.py: %s\n" % fatal)
        return fatal.code
    except KeyboardInterrupt:
        sys.stderr.write("\nbye\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
