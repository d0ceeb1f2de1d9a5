"""``sysmedic alerts [list] | resolve``: through the daemon while it runs (the only writer)."""

import sys
import time

from .. import formatting as fmt
from .. import views
from ..daemon import control, process
from ..errors import SysMedicError
from .common import open_storage, parse_age, parse_count, print_json


def run(args, home):
    if args["resolve"]:
        return _resolve(args, home)
    since = time.time() - parse_age(args["--since"], "--since") if args["--since"] else None
    limit = parse_count(args["--limit"], "--limit")
    storage = open_storage(home)
    records = []
    if storage is not None:
        with storage:
            records = storage.alerts(unresolved=args["--unresolved"], since=since, limit=limit)
    if args["--json"]:
        print_json([views.alert(record) for record in records])
        return 0
    if not records:
        sys.stdout.write("No alerts.\n")
        return 0
    sys.stdout.write("%5s  %-20s  %-8s  %-8s  %s\n" % ("ID", "OPENED (UTC)", "SEVERITY", "STATE", "MESSAGE"))
    for record in records:
        state = ("resolved" if record.resolved_by == "auto" else "closed") if record.resolved else "OPEN"
        sys.stdout.write("%5d  %-20s  %-8s  %-8s  %s\n" % (record.id, fmt.iso_utc(record.created_at),
                                                          record.severity, state, record.message))
    return 0


def _resolve(args, home):
    if not args["--all"] and not args["<id>"].isdigit():
        raise SysMedicError("alert id %r is not a number" % args["<id>"])
    from ..storage import MAX_ALERT_ID
    if not args["--all"] and int(args["<id>"]) > MAX_ALERT_ID:
        raise SysMedicError("alert %s does not exist" % args["<id>"])
    if process.status(home) is not None:  # the daemon is the only writer while it runs
        alert_id = None if args["--all"] else int(args["<id>"])
        resolved = control.call(home, "resolve", id=alert_id)["resolved"]
        _report_resolved(alert_id, resolved)
        return 0
    storage = open_storage(home)
    if storage is None:
        raise SysMedicError("no alerts yet (the database in %s does not exist)" % home)
    with storage:
        alert_id = None if args["--all"] else int(args["<id>"])
        _report_resolved(alert_id, storage.resolve_all() if alert_id is None else storage.resolve(alert_id))
    return 0


def _report_resolved(alert_id, result):
    if alert_id is None:
        sys.stdout.write("Resolved %d alert%s.\n" % (result, "" if result == 1 else "s"))
    elif result:
        sys.stdout.write("Resolved alert %d.\n" % alert_id)
    else:
        sys.stdout.write("Alert %d was already resolved.\n" % alert_id)
