"""The one-screen dashboard printed by plain ``sysmedic``."""

import socket

from . import formatting as fmt
from .views import system_info, user_metrics

TOP_USERS = 10


def _system_line(os_name, hostname, snapshot):
    return "%s  |  %s  |  up %s  |  %d cores" % (hostname, os_name, fmt.uptime(snapshot.system.uptime),
                                                 snapshot.system.cpu_cores)


METHODS = {"exit-records": "exact, from the kernel's exit records",
           "reaped-children": "inferred from reaped children (run the daemon as root for exact figures)",
           "psutil": "inferred through psutil"}


def render(snapshot, assessment, config, users, alert_counts, os_name, source, hostname=None):
    """The dashboard as text.

    :param users: the users to show (already filtered), most active first.
    :param alert_counts: ``(unresolved, total)``.
    :param source: where the data came from, e.g. ``"daemon"`` or ``"sampled now"``.
    """
    hostname = hostname or socket.getfqdn()
    system, monitoring = snapshot.system, config.monitoring
    persistent = {(p.username, p.metric): p for p in assessment.persistent}
    lines = [
        "SysMedic  " + _system_line(os_name, hostname, snapshot),
        "Status: %s   (%s, %s)" % (assessment.status, source, fmt.iso_utc(snapshot.time)),
        "",
        "  CPU     %5.1f%%   threshold %d%%" % (system.cpu_usage or 0.0, monitoring.cpu_threshold),
        "  Memory  %5.1f%%   threshold %d%%   (%.1f GB total)"
        % (system.memory_usage, monitoring.memory_threshold, system.memory_total / 1e9),
        "  Disk    %5.1f%%" % system.disk_usage,
        "  Load    %s" % fmt.load_avg(system.load_avg),
        "  Network %s" % (fmt.rate(system.network_rate) or "-"),
        "",
        "  %-16s %7s %7s %6s" % ("USER", "CPU%", "MEM%", "PROCS"),
    ]
    method = METHODS.get(snapshot.accounting, snapshot.accounting)
    if snapshot.exits_lost:
        method += ", %d exit records lost" % snapshot.exits_lost
    for user in users[:TOP_USERS]:
        marks = [m for m in ("cpu", "memory") if (user.username, m) in persistent]
        note = ("  << persistent %s" % "+".join(marks)) if marks else ""
        lines.append("  %-16s %7.1f %7.1f %6d%s" % (user.username[:16], user.cpu_percent or 0.0,
                                                    user.memory_percent, user.processes, note))
    if len(users) > TOP_USERS:
        lines.append("  ... %d more users" % (len(users) - TOP_USERS))
    lines.append("  (per-user CPU: %s)" % method)
    if assessment.primary_cause:
        lines += ["", "Primary cause: " + assessment.primary_cause]
    lines += ["", "Unresolved alerts: %d (of %d)" % alert_counts]
    return "\n".join(lines) + "\n"


def numbers(snapshot):
    """The figures ``get_system_info`` gives as text (``"0.85, 0.92, 1.15"``, ``"2.34 MB/s"``,
    ``"2d 4h"``, the spec's forms), as numbers for scripts (issue 22): beside them, not instead."""
    system = snapshot.system
    rate = system.network_rate
    return {"load_avg_values": [round(value, 2) for value in system.load_avg],
            "network_bytes_per_second": None if rate is None else round(rate),
            "uptime_seconds": round(system.uptime)}


def as_json(snapshot, assessment, users, alert_counts, os_name, source):
    """The dashboard as a JSON-ready dict."""
    return {
        "time": fmt.iso_utc(snapshot.time),
        "system": os_name,
        "status": assessment.status,
        "source": source,
        "metrics": dict(system_info(snapshot), **numbers(snapshot)),
        "users": user_metrics(users),
        "persistent_users": [p.to_json() for p in assessment.persistent],
        "primary_cause": assessment.primary_cause,
        "recommendations": list(assessment.recommendations),
        "unresolved_alerts": alert_counts[0],
        "total_alerts": alert_counts[1],
    }
