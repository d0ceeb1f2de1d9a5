"""``sysmedic users [<user>]``: the per-user table, or one user's top processes, from the
running daemon (the figures of its last sample)."""

import sys

from .. import figures
from ..daemon import control, process
from ..errors import UsageError
from ..views.processes import MAX_LIMIT, describe_ended
from ..untrusted import MAX_COMMAND, pad, terminal
from .common import parse_count, print_json


def run(args, home):
    limit = parse_count(args["--limit"], "--limit") if args["--limit"] is not None else None
    if limit is not None and limit > MAX_LIMIT:
        raise UsageError("--limit: %d is too large (at most %d)" % (limit, MAX_LIMIT))
    if process.status(home) is None:
        raise control.not_running(home)
    user = args["<user>"]
    if user is None:
        data = control.call(home, "users")
        if limit is not None:
            data = dict(data, users=data["users"][:limit])
        for sentence in data.get("unseen") or ():  # on stderr: the table stays a table for scripts
            sys.stderr.write("sysmedic: note: %s\n" % sentence)
        if args["--json"]:
            print_json(data)
            return 0
        shown = figures.FIGURES
        sys.stdout.write("%-20s %s\n" % ("USER", " ".join(figure.header() for figure in shown)))
        for row in data["users"]:
            sys.stdout.write("%s %s\n" % (pad(row["username"], 20),
                                           " ".join(figure.cell(row.get(figure.key)) for figure in shown)))
        return 0
    data = control.call(home, "user-processes", username=user, limit=limit or 10)
    if args["--json"]:
        print_json(data)
        return 0
    sys.stdout.write("%7s %6s %6s %7s %5s  %s\n" % ("PID", "CPU%", "MEM%", "THREADS", "STATE", "COMMAND"))
    for proc in data["processes"]:
        sys.stdout.write("%7d %6.1f %6.1f %7d %5s  %s\n" % (proc["pid"], proc["cpu_percent"], proc["memory_percent"],
                                                          proc["threads"], terminal(proc["state"], 5),
                                                          terminal(proc["command"], MAX_COMMAND)))
    if not data["processes"]:
        sys.stdout.write("(%s has no processes now)\n" % terminal(user, 32))
    if data.get("ended"):
        sys.stdout.write("Ended in the last interval: %s\n" % terminal(describe_ended(data["ended"]), MAX_COMMAND))
    return 0
