"""``sysmedic websocket start [port] | stop | status | new-secret`` (spec decision 17)."""

import os
import sys

from .. import config as configuration
from ..daemon import control, process
from ..errors import SysMedicError
from ..home import ensure_home
from .common import parse_port, print_json
from .daemon import print_connection


def _apply_websocket(home, **changes):
    """Save websocket.json; if the daemon runs, apply it now (restoring the file if that fails)."""
    ensure_home(home)
    path = os.path.join(home, configuration.WEBSOCKET_FILE)
    before = configuration.read_json(path) if os.path.exists(path) else None
    configuration.update_websocket(home, **changes)
    if process.status(home) is None:
        return None
    try:
        return control.call(home, "websocket-apply")
    except SysMedicError:
        if before is None:
            os.unlink(path)
        else:
            configuration.write_json(path, before)
        raise


def run(args, home):
    if args["start"]:
        if args["<port>"] is None:  # the configured port (8060 if none): a renewed certificate
            port = configuration.load_websocket(home).port  # is picked up without moving (issue 22)
            info = _apply_websocket(home, enabled=True)
        else:
            port = parse_port(args["<port>"])
            info = _apply_websocket(home, port=port, enabled=True)
        if info is None:
            sys.stdout.write("WebSocket server enabled on port %d. The daemon is not running: "
                             "start it with: sysmedic daemon start\n" % port)
            return 0
        sys.stdout.write("WebSocket server listening on port %d.\n" % port)
        print_connection(info)
        return 0
    if args["stop"]:
        info = _apply_websocket(home, enabled=False)
        sys.stdout.write("WebSocket server stopped.\n" if info is not None
                         else "WebSocket server disabled (takes effect when the daemon starts).\n")
        return 0
    if args["new-secret"]:
        if process.status(home) is None:
            raise control.not_running(home)
        info = control.call(home, "new-secret")
        sys.stdout.write("New secret generated; every client was disconnected.\n")
        print_connection(info)
        return 0
    settings = configuration.load_websocket(home)
    info = process.status(home)
    if args.get("--json"):  # the items of the text below, for scripts (the URL holds the secret, as there)
        listening = bool(info and info["listening"])
        print_json({"daemon": "running" if info else "stopped", "pid": info["pid"] if info else None,
                    "enabled": settings.enabled, "port": info["port"] if listening else settings.port,
                    "listening": listening, "bind": info["bind"] if listening else None,
                    "tls": bool(listening and info.get("tls")), "clients": info["clients"] if info else 0,
                    "url": info["url"] if listening else None, "ws_url": info["ws_url"] if listening else None,
                    "note": info.get("host_note") if listening else None,
                    "problems": info.get("problems", []) if info else []})
        return 0
    lines = ["Daemon:         %s" % ("running (pid %d)" % info["pid"] if info else "stopped"),
             "Configuration:  %s" % ("enabled, port %d" % settings.port if settings.enabled else "disabled")]
    if info and info["listening"]:
        lines += ["Connection:     listening on %s:%d%s" % (info["bind"], info["port"],
                                                          " (TLS)" if info.get("tls") else ""),
                  "Clients:        %d" % info["clients"],
                  "URL:            %s" % info["url"],
                  "WebSocket URL:  %s" % info["ws_url"]]
        if info.get("host_note"):
            lines.append("Note:           %s" % info["host_note"])
    else:
        lines += ["Connection:     not listening", "Clients:        0"]
        if not info:
            lines.append("Start the daemon with: sysmedic daemon start")
    if info and info.get("problems"):
        lines.append("Problems:       %s" % "; ".join(info["problems"]))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
