"""``sysmedic reports [users]``: summaries of the history the daemon records."""

import sys
import time

from .. import figures
from .. import formatting as fmt
from .common import open_storage, parse_age, parse_count, print_json


def run(args, home):
    period = parse_age(args["--period"], "--period")
    since = time.time() - period
    storage = open_storage(home)
    if args["users"]:
        top = parse_count(args["--top"], "--top")
        rows = []
        if storage is not None:
            with storage:
                rows = storage.user_report(since, top=top, username=args["--user"])
        rows = [{k: fmt.pct(v) if k.endswith(("_avg", "_max")) else v for k, v in row.items()} for row in rows]
        if args["--json"]:
            print_json({"period": args["--period"], "users": rows})
            return 0
        if not rows:
            sys.stdout.write("No user history in the last %s.\n" % args["--period"])
            return 0
        kept = figures.kept()  # each figure the history keeps: its average and its peak
        sys.stdout.write("User usage over the last %s (share of the machine)\n\n" % args["--period"])
        sys.stdout.write("  %-16s" % "USER" + "".join(" %8s %8s" % (f.name + " avg", f.name + " max") for f in kept)
                         + " %7s %8s\n" % ("PROCS", "ROWS"))
        for row in rows:
            sys.stdout.write("  %-16s" % row["username"][:16]
                             + "".join(" %8.1f %8.1f" % (row[f.history + "_avg"] or 0.0, row[f.history + "_max"] or 0.0)
                                       for f in kept)
                             + " %7.1f %8d\n" % (row["processes_avg"] or 0.0, row["samples"]))
        return 0
    report = {"samples": 0, "status_samples": {}, "alerts_opened": {}}
    counts = (0, 0)
    if storage is not None:
        with storage:
            report = storage.system_report(since)
            counts = storage.alert_counts()
    for key in list(report):
        if key.endswith(("_avg", "_max")):
            report[key] = fmt.pct(report[key])
    for key in ("first", "last"):
        if report.get(key) is not None:
            report[key] = fmt.iso_utc(report[key])
    report["period"] = args["--period"]
    report["unresolved_alerts"] = counts[0]
    if args["--json"]:
        print_json(report)
        return 0
    if not report["samples"]:
        sys.stdout.write("No history in the last %s (the daemon records it every monitoring_interval).\n"
                         % args["--period"])
        return 0
    out = ["System report for the last %s (%d samples in %d history rows, %s to %s)" % (
        args["--period"], report["samples"], report["rows"], report["first"], report["last"]),
        "(max: the highest single sample)", ""]
    for label, key in (("CPU", "cpu"), ("Memory", "memory"), ("Disk", "disk")):
        out.append("  %-7s avg %5.1f%%   max %5.1f%%" % (label, report[key + "_avg"] or 0.0, report[key + "_max"] or 0.0))
    out.append("  Load1   avg %5.2f    max %5.2f" % (report["load1_avg"] or 0.0, report["load1_max"] or 0.0))
    out.append("  Network avg %s   max %s" % (fmt.rate(report["network_avg"]) or "-", fmt.rate(report["network_max"]) or "-"))
    out.append("")
    total = sum(report["status_samples"].values()) or 1
    for status, count in sorted(report["status_samples"].items(), key=lambda kv: -kv[1]):
        out.append("  %-13s %5.1f%% of history rows (the worst status in each)" % (status, 100.0 * count / total))
    opened = report["alerts_opened"]
    out.append("")
    out.append("  Alerts opened: %d (%s); unresolved now: %d" % (
        sum(opened.values()), ", ".join("%d %s" % (n, s) for s, n in sorted(opened.items())) or "none",
        counts[0]))
    sys.stdout.write("\n".join(out) + "\n")
    return 0
