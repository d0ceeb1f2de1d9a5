"""``sysmedic [dashboard]``: one screen from the running daemon, else from two samples taken
now. Either way the figures are :func:`sysmedic.views.dashboard`'s dict (what ``--json``
prints) and the text is rendered here, from that dict alone."""

import socket
import sys

from .. import config as configuration
from .. import figures, needs
from .. import views
from ..analysis.assess import assess
from ..analysis.status import visible_users
from ..collect import make_collector
from ..collect.osinfo import os_name
from ..daemon import control, process
from .common import open_storage, print_json

TOP_USERS = 10
JUDGED = tuple(figure.threshold.metric for figure in figures.judged())  # "cpu", "memory"
METHODS = {"exit-records": "exact, from the kernel's exit records",
           "reaped-children": "inferred from reaped children (run the daemon as root for exact figures)",
           "psutil": "inferred through psutil"}


def run(args, home):
    if process.status(home) is not None:
        view = control.call(home, "dashboard")["dashboard"]
    else:
        view = sampled_now(home)
    if args["--json"]:
        print_json(view)
    else:
        sys.stdout.write(render(view))
    return 0


def sampled_now(home):
    """The dashboard's dict from two samples a second apart, with no daemon running."""
    config = configuration.load_config(home)
    snapshot = make_collector(config.monitoring.collector).prime(1.0)
    assessment, _ = assess(snapshot, config, None, snapshot.time)
    users = visible_users(snapshot.users, config.filtering)
    storage = open_storage(home) if needs.available("sqlite3") else None  # no sqlite3: nothing was stored
    counts = (0, 0)
    if storage is not None:
        with storage:
            counts = storage.alert_counts()
    return views.dashboard(snapshot, assessment, users, counts, os_name(), "sampled now", config.monitoring,
                           socket.getfqdn())


def render(view):
    """The dashboard as text, from :func:`sysmedic.views.dashboard`'s dict."""
    metrics, thresholds, users = view["metrics"], view["thresholds"], view["users"]
    persistent = {(p["username"], p["metric"]) for p in view["persistent_users"]}
    lines = [
        "SysMedic  %s  |  %s  |  up %s  |  %d cores" % (view["hostname"], view["system"], metrics["uptime"],
                                                       metrics["cpu_cores"]),
        "Status: %s   (%s, %s)" % (view["status"], view["source"], view["time"]),
        "",
        "  CPU     %5.1f%%   threshold %d%%" % (metrics["cpu_usage"] or 0.0, thresholds["cpu"]),
        "  Memory  %5.1f%%   threshold %d%%   (%.1f GB total)"
        % (metrics["memory_usage"], thresholds["memory"], metrics["memory_total"] / 1e9),
        "  Disk    %5.1f%%" % metrics["disk_usage"],
        "  Load    %s" % metrics["load_avg"],
        "  Network %s" % (metrics["network_io"] or "-"),
        "",
        "  %-16s %7s %7s %6s" % ("USER", "CPU%", "MEM%", "PROCS"),
    ]
    accounting = metrics["accounting"]
    method = METHODS.get(accounting["method"], accounting["method"])
    if accounting["exit_records_lost"]:
        method += ", %d exit records lost" % accounting["exit_records_lost"]
    for user in users[:TOP_USERS]:
        marks = [m for m in JUDGED if (user["username"], m) in persistent]
        note = ("  << persistent %s" % "+".join(marks)) if marks else ""
        lines.append("  %-16s %7.1f %7.1f %6d%s" % (user["username"][:16], user.get("cpu_percent") or 0.0,
                                                    user["memory_percent"], user["processes"], note))
    if len(users) > TOP_USERS:
        lines.append("  ... %d more users" % (len(users) - TOP_USERS))
    lines.append("  (per-user CPU: %s)" % method)
    if view["primary_cause"]:
        lines += ["", "Primary cause: " + view["primary_cause"]]
    lines += ["", "Unresolved alerts: %d (of %d)" % (view["unresolved_alerts"], view["total_alerts"])]
    return "\n".join(lines) + "\n"
