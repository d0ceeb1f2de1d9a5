"""JSON shapes of SysMedic's records, shared by the CLI's ``--json`` and the wire protocol.

This is the JSON boundary (docs/architecture.md #3): records go in, plain dicts come out, with
the formats of docs/protocol-decisions.md (percentages to one decimal, uptime, load and rate
strings).
"""

from .. import figures
from .. import formatting as fmt


def system_info(snapshot):
    """The ``get_system_info`` fields, plus ``cpu_cores``, ``memory_total`` and ``accounting``
    (how per-user CPU was counted, and exit records lost)."""
    system = snapshot.system
    return {
        "cpu_usage": fmt.pct(system.cpu_usage),
        "memory_usage": fmt.pct(system.memory_usage),
        "disk_usage": fmt.pct(system.disk_usage),
        "uptime": fmt.uptime(system.uptime),
        "load_avg": fmt.load_avg(system.load_avg),
        "network_io": fmt.rate(system.network_rate),
        "cpu_cores": system.cpu_cores,
        "memory_total": system.memory_total,
        "accounting": accounting(snapshot),
        "pressure": pressure(snapshot),
    }


def pressure(snapshot):
    """The machine's pressure stall information (extension, issue 25): ``{"cpu"|"memory"|"io":
    {"some"|"full": {"avg10": %, "window": %}}}``: the kernel's 10 s average and the share of this
    sample's window that tasks were stalled, both percent with two decimals (``window`` null on
    the first sample); null where the kernel has no PSI."""
    found = snapshot.system.pressure
    if found is None:
        return None
    return {resource: {kind: {"avg10": round(line["avg10"], 2),
                              "window": None if line["window"] is None else round(line["window"], 2)}
                       for kind, line in lines.items()}
            for resource, lines in found.items()}


def accounting(snapshot):
    """``{"method": "exit-records"|"reaped-children"|"psutil", "exit_records_lost": N}``, and
    ``"unseen": [sentences]`` when the daemon cannot see every process (issue 22)."""
    found = {"method": snapshot.accounting, "exit_records_lost": snapshot.exits_lost}
    if snapshot.unseen:
        found["unseen"] = list(snapshot.unseen)
    return found


def user_metrics(users):
    """The ``get_user_metrics`` list (decision 2: shares of the whole machine): the user's name,
    then every figure of :data:`~sysmedic.figures.FIGURES` in its order (one left out while
    unknown where its row says so)."""
    table = figures.FIGURES
    rows = []
    for user in users:
        row = {"username": user.username}
        for figure in table:
            value = figure.of(user)
            if value is not None or figure.always:
                row[figure.key] = figure.wire(value)
        rows.append(row)
    return rows


def numbers(snapshot):
    """The figures ``get_system_info`` gives as text (``"0.85, 0.92, 1.15"``, ``"2.34 MB/s"``,
    ``"2d 4h"``, the spec's forms), as numbers for scripts (issue 22): beside them, not instead."""
    system = snapshot.system
    rate = system.network_rate
    return {"load_avg_values": [round(value, 2) for value in system.load_avg],
            "network_bytes_per_second": None if rate is None else round(rate),
            "uptime_seconds": round(system.uptime)}


def dashboard(snapshot, assessment, users, alert_counts, os_name, source, monitoring, hostname):
    """What ``sysmedic [dashboard]`` shows, as a JSON-ready dict (``--json`` prints it; the CLI
    renders the text from it, whether the daemon or the command itself sampled).

    :param users: the users to show (already filtered), most active first.
    :param alert_counts: ``(unresolved, total)``.
    :param source: where the data came from, e.g. ``"daemon"`` or ``"sampled now"``.
    :param monitoring: the Monitoring settings the assessment used (their thresholds are shown).
    """
    return {
        "time": fmt.iso_utc(snapshot.time),
        "system": os_name,
        "hostname": hostname,
        "status": assessment.status,
        "source": source,
        "metrics": dict(system_info(snapshot), **numbers(snapshot)),
        "thresholds": {"cpu": monitoring.cpu_threshold, "memory": monitoring.memory_threshold},
        "users": user_metrics(users),
        "persistent_users": [p.to_json() for p in assessment.persistent],
        "primary_cause": assessment.primary_cause,
        "recommendations": list(assessment.recommendations),
        "unresolved_alerts": alert_counts[0],
        "total_alerts": alert_counts[1],
    }


def alert(record):
    """An AlertRecord as JSON (used by ``alerts --json``)."""
    return {
        "id": record.id,
        "time": fmt.iso_utc(record.created_at),
        "severity": record.severity,
        "status": record.status,
        "cause": record.cause,
        "message": record.message,
        "users": list(record.users),
        "resolved": record.resolved,
        "resolved_at": fmt.iso_utc(record.resolved_at) if record.resolved else None,
        "resolved_by": record.resolved_by,
        "opened_at": fmt.iso_utc(record.opened_at or record.created_at),
        "reopen_count": record.reopen_count,
        "processes": list(record.details.get("processes", [])),
        "ended": list(record.details.get("ended", [])),
    }

