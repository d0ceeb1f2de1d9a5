#!/usr/bin/env python3
"""SysMedic WebSocket client: live metrics and alerts, and every request type.

Usage:
  websocket_client.py "sysmedic://SECRET@HOST:8060/"
  websocket_client.py "sysmedics://SECRET@HOST:8060/" --cafile ca.pem   (TLS on: wss://)
  websocket_client.py "ws://HOST:8060/ws" --secret SECRET
  websocket_client.py URL --command ping --command info     (scripted: print replies, then exit)

Interactive commands (type one and press Enter): info, alerts, users, config, ping, help, quit.
Commands can also be piped in. When standard input is not a terminal, is closed, or reaches
its end, the client keeps streaming until it is killed, so `websocket_client.py URL &` runs
in the background (Ctrl-C or SIGTERM end it cleanly). Ctrl-D on a terminal quits.
Needs websocket-client (pip install websocket-client). Reconnects with backoff when the
connection drops; exits with a clear message when the secret is wrong or was rotated.

A sysmedics:// URL (the daemon has TLS on) connects with wss://; the server's certificate is
checked against the system's CAs, or the one given with --cafile.

Exit status: 0 normal, 2 bad URL, 3 invalid or rotated secret, 4 server certificate not
trusted, 130 Ctrl-C, 143 SIGTERM.
"""

import argparse
import json
import queue
import signal
import ssl
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
    """The ws:// (or wss://) endpoint for a ``sysmedic://secret@host:port/`` (``sysmedics://``
    with TLS) or ``ws://`` / ``wss://`` URL."""
    parts = urlsplit(url)
    if parts.scheme in ("sysmedic", "sysmedics"):
        if not parts.username or not parts.hostname:
            raise ValueError("a %s:// URL needs a secret and a host: %s://SECRET@HOST:8060/" % (parts.scheme, parts.scheme))
        host = "[%s]" % parts.hostname if ":" in parts.hostname else parts.hostname
        scheme = "wss" if parts.scheme == "sysmedics" else "ws"
        return "%s://%s:%d/ws?secret=%s" % (scheme, host, parts.port or 8060, quote(parts.username, safe=""))
    if parts.scheme in ("ws", "wss"):
        if secret:
            joiner = "&" if parts.query else "?"
            path = parts.path or "/ws"
            return "%s://%s%s%s%ssecret=%s" % (parts.scheme, parts.netloc, path,
                                              "?" + parts.query if parts.query else "", joiner, quote(secret, safe=""))
        return url
    raise ValueError("unsupported URL %r: use sysmedic[s]://SECRET@HOST:PORT/ or ws[s]://HOST:PORT/ws" % url)


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

    def __init__(self, url, out, sslopt=None):
        self.out = out
        self.replies = {}
        self.closed = threading.Event()
        self.welcomed = threading.Event()
        self.close_code = None
        self.counter = 0
        self.ws = websocket.create_connection(url, timeout=10, enable_multithread=True, sslopt=sslopt)
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


def connect(url, out, cafile=None):
    """A Session, or :class:`Fatal` for errors that reconnecting cannot fix."""
    try:
        return Session(url, out, {"ca_certs": cafile} if cafile else None)
    except ssl.SSLCertVerificationError as err:
        raise Fatal("the server's certificate is not trusted (%s): pass the CA that signed it with --cafile"
                    % (err.verify_message or err.reason), 4)
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


class Input:
    """Typed or piped command lines, read by a thread into a queue.

    ``ended`` is set at the end of input (or at once when there is no standard input);
    ``quit_at_end`` says whether that means "quit" (Ctrl-D on a terminal) or "keep streaming".
    """

    def __init__(self, stdin):
        self.lines = queue.Queue()
        self.ended = threading.Event()
        self.quit_at_end = bool(stdin is not None and _isatty(stdin))
        if stdin is None:
            self.ended.set()
            return
        threading.Thread(target=self._pump, args=(stdin,), name="stdin", daemon=True).start()

    def _pump(self, stdin):
        try:
            for line in stdin:
                self.lines.put(line)
        except (OSError, ValueError):  # a closed or unreadable standard input
            pass
        self.ended.set()
        self.lines.put(None)


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def interactive(session, source, out):
    """Run commands until quit (True), or until the connection ends (False). At the end of
    input it quits on a terminal, and otherwise goes on streaming what the server sends."""
    out.write("Commands: %s, help, quit\n" % ", ".join(COMMANDS))
    out.flush()
    while not session.closed.is_set():
        if source.ended.is_set() and source.lines.empty():
            if source.quit_at_end:
                return True
            session.closed.wait()  # streaming: nothing more to read from the input
            return False
        try:
            line = source.lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:
            continue
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


class Terminated(Exception):
    """SIGTERM arrived: end like Ctrl-C does."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv=None, stdin=sys.stdin, out=sys.stdout):
    parser = argparse.ArgumentParser(description="SysMedic WebSocket client")
    parser.add_argument("url", help='sysmedic[s]://SECRET@HOST:PORT/ or ws[s]://HOST:PORT/ws')
    parser.add_argument("--cafile", help="PEM file of the CA to trust for a TLS server (default: the system's)")
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
    source = None if args.command else Input(stdin)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        while True:
            try:
                session = connect(url, out, args.cafile)
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
                if interactive(session, source, out):
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
    except Terminated:
        return 143


if __name__ == "__main__":
    sys.exit(main())
