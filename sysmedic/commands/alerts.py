"""``sysmedic alerts [list] | resolve | test``: resolving goes through the daemon while it runs (the
only writer); ``test`` sends a test alert through each configured notifier from here."""

import sys
import time

from .. import formatting as fmt
from .. import views
from ..daemon import control, process
from ..errors import SysMedicError, UsageError
from ..views.processes import describe_ended
from ..untrusted import terminal
from .common import open_storage, parse_age, parse_count, print_json


def run(args, home):
    if args["resolve"]:
        return _resolve(args, home)
    if args["test"]:
        return _test(args, home)
    since = time.time() - parse_age(args["--since"], "--since") if args["--since"] else None
    limit = parse_count(args["--limit"] or "50", "--limit")
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
        reopened = " (re-opened %dx)" % record.reopen_count if record.reopen_count else ""
        sys.stdout.write("%5d  %-20s  %-8s  %-8s  %s%s\n" % (record.id, fmt.iso_utc(record.created_at),
                                                            record.severity, state, record.message, reopened))
        for proc in record.details.get("processes", []):
            sys.stdout.write("       pid %-7d %5.1f%% cpu %5.1f%% mem  %s\n" % (
                proc["pid"], proc["cpu_percent"], proc["memory_percent"], terminal(proc["command"], 200)))
        if record.details.get("ended"):
            sys.stdout.write("       ended: %s\n" % terminal(describe_ended(record.details["ended"]), 200))
    return 0


def _test(args, home):
    """Send a test alert through each configured notifier (or the one named) and say, per
    notifier, delivered or the exact error; exit 1 if any failed."""
    import socket

    from .. import config as configuration
    from ..notify import notifiers
    from ..notify.base import test_alert
    from ..daemon.hostaddr import machine_name
    config = configuration.load_config(home)
    saved = configuration.load_websocket_or_none(home)
    hostname = machine_name(saved.public_host if saved else "", socket.getfqdn())
    chosen = [n for n in notifiers(lambda: config, hostname)]
    names = [n.name for n in chosen]
    if args["--notifier"]:
        if args["--notifier"] not in names:
            raise UsageError("--notifier: %r is not one of %s" % (args["--notifier"], ", ".join(names)))
        chosen = [n for n in chosen if n.name == args["--notifier"]]
    enabled = [n for n in chosen if n.enabled()]
    if not enabled:
        raise SysMedicError("no notifier is configured (%s: see 'sysmedic config show')" % (
            args["--notifier"] or ", ".join(configuration.NOTIFIERS)))
    failed = 0
    alert = test_alert(hostname)
    for notifier in enabled:
        error = notifier.test(alert)
        sys.stdout.write("%-8s %s\n" % (notifier.name + ":", "delivered" if error is None else "FAILED: " + error))
        failed += error is not None
    return 1 if failed else 0


def _resolve(args, home):
    if not args["--all"] and not args["<id>"].isdigit():
        raise UsageError("alert id %r is not a number" % args["<id>"])
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
        resolved = storage.resolve_all() if alert_id is None else storage.resolve(alert_id)
        _report_resolved(alert_id, len(resolved) if alert_id is None else bool(resolved))
    return 0


def _report_resolved(alert_id, result):
    if alert_id is None:
        sys.stdout.write("Resolved %d alert%s.\n" % (result, "" if result == 1 else "s"))
    elif result:
        sys.stdout.write("Resolved alert %d.\n" % alert_id)
    else:
        sys.stdout.write("Alert %d was already resolved.\n" % alert_id)
