"""``sysmedic daemon start | stop | status | run``."""

import sys

from .. import formatting as fmt
from ..daemon import process
from .common import parse_port, print_json


def run(args, home):
    if args["run"]:
        from ..daemon.app import Daemon
        port = parse_port(args["--port"], default=None)
        return Daemon(home, log_file=args["--log-file"], show_url=args["--show-url"], port=port,
                      user=args["--user"]).run()
    if args["start"]:
        if args["--user"]:
            from ..daemon import identity
            identity.needs_switch(args["--user"])  # a bad name or no root: said here, not by the child
        try:
            info = process.start(home, user=args["--user"])
        except process.AlreadyStarted as already:
            sys.stdout.write("SysMedic daemon is already running (pid %s).\n" % already.pid)
            return 0
        sys.stdout.write("SysMedic daemon started (pid %d).\n" % info["pid"])
        if args.get("--no-url"):  # a console and a boot log are no place for the secret (issue 22)
            sys.stdout.write("Its connection URL: sysmedic websocket status (as the daemon's user or root).\n")
        else:
            print_connection(info)
        return 0
    if args["stop"]:
        pid = process.stop(home)
        sys.stdout.write("SysMedic daemon stopped (pid %s).\n" % pid if pid is not None
                         else "SysMedic daemon is not running.\n")
        return 0
    info = process.status(home)
    if args.get("--json"):  # for scripts; the secret stays out of it (websocket status has the URL)
        shown = {"running": info is not None}
        if info is not None:
            shown.update((key, info.get(key)) for key in ("pid", "version", "uptime_seconds", "home", "listening",
                                                         "bind", "port", "tls", "clients", "problems", "warnings",
                                                         "threads"))
        print_json(shown)
        return 0 if info is not None else 3
    if info is None:
        sys.stdout.write("SysMedic daemon: stopped\n")
        return 3
    sys.stdout.write("SysMedic daemon: running (pid %d, up %s, version %s)\n"
                     % (info["pid"], fmt.uptime(info["uptime_seconds"]), info["version"]))
    if info["listening"]:
        sys.stdout.write("WebSocket: listening on %s:%d, %d client%s\n" % (
            info["bind"], info["port"], info["clients"], "" if info["clients"] == 1 else "s"))
    else:
        sys.stdout.write("WebSocket: not listening\n")
    if info.get("problems"):
        sys.stdout.write("Problems: %s\n" % "; ".join(info["problems"]))
    for warning in info.get("warnings") or ():
        sys.stdout.write("Warning: %s\n" % warning)
    return 0


def print_connection(info):
    if info.get("listening"):
        sys.stdout.write("Connection URL: %s\nWebSocket URL:  %s\n" % (info["url"], info["ws_url"]))
        if info.get("host_note"):
            sys.stdout.write("Note:           %s\n" % info["host_note"])
    else:
        sys.stdout.write("WebSocket server disabled (enable it with: sysmedic websocket start).\n")
