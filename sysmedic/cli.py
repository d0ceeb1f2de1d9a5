"""SysMedic: lightweight Linux monitoring with per-user accounting.

Usage:
  sysmedic [dashboard] [--json]
  sysmedic config show [--json]
  sysmedic config set <key> <value>
  sysmedic config set-user <user> <key> <value>
  sysmedic alerts [list] [--unresolved] [--since=<age>] [--limit=<n>] [--json]
  sysmedic alerts resolve (<id> | --all)
  sysmedic reports [--period=<p>] [--json]
  sysmedic reports users [--top=<n>] [--user=<name>] [--period=<p>] [--json]
  sysmedic daemon (start | stop | status)
  sysmedic daemon run [--log-file] [--show-url]
  sysmedic websocket start [<port>]
  sysmedic websocket (stop | status | new-secret)
  sysmedic -h | --help
  sysmedic --version

Options:
  --json           Print JSON for scripts instead of text.
  --unresolved     Only alerts that are still open.
  --since=<age>    Only alerts opened within <age>, e.g. 30m, 24h, 7d.
  --limit=<n>      Show at most <n> alerts [default: 50].
  --all            Resolve every open alert.
  --period=<p>     Report over the last <p>, e.g. 1h, 24h, 7d [default: 24h].
  --top=<n>        Number of users in the report [default: 10].
  --user=<name>    Report on one user only.
  --log-file       Log to sysmedic.log in the home (rotated) instead of stderr.
  --show-url       Print the connection URL (it holds the secret) on stdout once serving.
  -h --help        Show this screen.
  --version        Show the version.

Files live in $SYSMEDIC_HOME (default ~/.sysmedic): config.json, websocket.json, sysmedic.db.
'daemon run' serves in the foreground (systemd, init scripts); 'daemon start' detaches and
returns once the daemon serves. 'daemon status' exits 0 when running, 3 when stopped.
Config keys are section.name (monitoring.cpu_threshold) or a unique name (cpu_threshold);
durations take units (30s, 5m, 1h). See 'sysmedic config show' for every key.
"""

import json
import os
import sys
import time

from docopt import DocoptExit, docopt

from . import __version__, config as configuration, dashboard
from . import formatting as fmt
from . import views
from .analysis.assess import assess
from .analysis.status import visible_users
from .collect import make_collector
from .daemon import control, process
from .errors import SysMedicError
from .home import ensure_home, home_dir
from .osinfo import os_name
from .storage import Storage, database_path

USAGE_ERROR = 2


def main(argv=None, environ=None):
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = docopt(__doc__, argv=argv, version="sysmedic " + __version__)
    except DocoptExit as err:
        sys.stderr.write("%s\n" % (str(err).strip() or __doc__.split("Options:")[0].strip()))
        return USAGE_ERROR
    except SystemExit as done:  # --help and --version print and exit 0
        return done.code or 0
    home = home_dir(environ)
    try:
        return _dispatch(args, home)
    except SysMedicError as err:
        sys.stderr.write("sysmedic: %s\n" % err)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1


def _dispatch(args, home):
    if args["daemon"]:
        return cmd_daemon(args, home)
    if args["websocket"]:
        return cmd_websocket(args, home)
    if args["config"]:
        return cmd_config(args, home)
    if args["alerts"]:
        return cmd_alerts(args, home)
    if args["reports"]:
        return cmd_reports(args, home)
    return cmd_dashboard(args, home)


def _print_json(value):
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


def _age(text, option):
    try:
        return fmt.parse_duration(text)
    except ValueError as err:
        raise SysMedicError("%s: %s" % (option, err))


def _count(text, option):
    if not str(text).isdigit() or int(text) < 1:
        raise SysMedicError("%s: %r is not a positive whole number" % (option, text))
    return int(text)


def _open_storage(home, create=False):
    """A Storage on the home's database; ``None`` when it does not exist and ``create`` is off."""
    path = database_path(home)
    if not create and not os.path.exists(path):
        return None
    ensure_home(home)
    return Storage(path)


# -- dashboard ------------------------------------------------------------------------------------

def cmd_dashboard(args, home):
    if process.status(home) is not None:
        view = control.call(home, "dashboard")
        if args["--json"]:
            _print_json(view["json"])
        else:
            sys.stdout.write(view["text"])
        return 0
    config = configuration.load_config(home)
    snapshot = make_collector(config.monitoring.collector).prime(1.0)
    assessment, _ = assess(snapshot, config, {}, snapshot.time)
    source = "sampled now"
    users = visible_users(snapshot.users, config.filtering)
    storage = _open_storage(home)
    counts = (0, 0)
    if storage is not None:
        with storage:
            counts = storage.alert_counts()
    name = os_name()
    if args["--json"]:
        _print_json(dashboard.as_json(snapshot, assessment, users, counts, name, source))
    else:
        sys.stdout.write(dashboard.render(snapshot, assessment, config, users, counts, name, source))
    return 0


# -- config ---------------------------------------------------------------------------------------

def cmd_config(args, home):
    if args["show"]:
        config = configuration.load_config(home)
        rows = configuration.describe(config)
        if args["--json"]:
            _print_json({key: list(value) if isinstance(value, tuple) else value for key, value, _ in rows})
            return 0
        for key, value, help_text in rows:
            if isinstance(value, tuple):
                value = ",".join(value) or "-"
            sys.stdout.write("%-34s %-22s %s\n" % (key, value, help_text))
        return 0
    ensure_home(home)
    if args["set-user"]:
        key, value = configuration.set_user_option(home, args["<user>"], args["<key>"], args["<value>"])
    else:
        key, value = configuration.set_option(home, args["<key>"], args["<value>"])
    if isinstance(value, tuple):
        value = ",".join(value)
    sys.stdout.write("%s = %s (saved to %s)\n" % (key, "********" if key.endswith("password") else value,
                                                 os.path.join(home, configuration.CONFIG_FILE)))
    return 0


# -- alerts ---------------------------------------------------------------------------------------

def cmd_alerts(args, home):
    if args["resolve"]:
        return _resolve(args, home)
    since = time.time() - _age(args["--since"], "--since") if args["--since"] else None
    limit = _count(args["--limit"], "--limit")
    storage = _open_storage(home)
    records = []
    if storage is not None:
        with storage:
            records = storage.alerts(unresolved=args["--unresolved"], since=since, limit=limit)
    if args["--json"]:
        _print_json([views.alert(record) for record in records])
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
    if process.status(home) is not None:  # the daemon is the only writer while it runs
        alert_id = None if args["--all"] else int(args["<id>"])
        resolved = control.call(home, "resolve", id=alert_id)["resolved"]
        _report_resolved(alert_id, resolved)
        return 0
    storage = _open_storage(home)
    if storage is None:
        raise SysMedicError("no alerts yet (%s does not exist)" % database_path(home))
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


# -- reports --------------------------------------------------------------------------------------

def cmd_reports(args, home):
    period = _age(args["--period"], "--period")
    since = time.time() - period
    storage = _open_storage(home)
    if args["users"]:
        top = _count(args["--top"], "--top")
        rows = []
        if storage is not None:
            with storage:
                rows = storage.user_report(since, top=top, username=args["--user"])
        rows = [{k: fmt.pct(v) if k.endswith(("_avg", "_max")) else v for k, v in row.items()} for row in rows]
        if args["--json"]:
            _print_json({"period": args["--period"], "users": rows})
            return 0
        if not rows:
            sys.stdout.write("No user history in the last %s.\n" % args["--period"])
            return 0
        sys.stdout.write("User usage over the last %s (share of the machine)\n\n" % args["--period"])
        sys.stdout.write("  %-16s %8s %8s %8s %8s %7s %8s\n"
                         % ("USER", "CPU avg", "CPU max", "MEM avg", "MEM max", "PROCS", "SAMPLES"))
        for row in rows:
            sys.stdout.write("  %-16s %8.1f %8.1f %8.1f %8.1f %7.1f %8d\n" % (
                row["username"][:16], row["cpu_avg"] or 0.0, row["cpu_max"] or 0.0, row["memory_avg"] or 0.0,
                row["memory_max"] or 0.0, row["processes_avg"] or 0.0, row["samples"]))
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
        _print_json(report)
        return 0
    if not report["samples"]:
        sys.stdout.write("No history in the last %s (the daemon records it every monitoring_interval).\n"
                         % args["--period"])
        return 0
    out = ["System report for the last %s (%d samples, %s to %s)" % (
        args["--period"], report["samples"], report["first"], report["last"]), ""]
    for label, key in (("CPU", "cpu"), ("Memory", "memory"), ("Disk", "disk")):
        out.append("  %-7s avg %5.1f%%   max %5.1f%%" % (label, report[key + "_avg"] or 0.0, report[key + "_max"] or 0.0))
    out.append("  Load1   avg %5.2f    max %5.2f" % (report["load1_avg"] or 0.0, report["load1_max"] or 0.0))
    out.append("")
    total = sum(report["status_samples"].values()) or 1
    for status, count in sorted(report["status_samples"].items(), key=lambda kv: -kv[1]):
        out.append("  %-13s %5.1f%% of samples" % (status, 100.0 * count / total))
    opened = report["alerts_opened"]
    out.append("")
    out.append("  Alerts opened: %d (%s); unresolved now: %d" % (
        sum(opened.values()), ", ".join("%d %s" % (n, s) for s, n in sorted(opened.items())) or "none",
        counts[0]))
    sys.stdout.write("\n".join(out) + "\n")
    return 0


# -- daemon ---------------------------------------------------------------------------------------

def cmd_daemon(args, home):
    if args["run"]:
        from .daemon.app import Daemon
        return Daemon(home, log_file=args["--log-file"], show_url=args["--show-url"]).run()
    if args["start"]:
        try:
            info = process.start(home)
        except process.AlreadyStarted as already:
            sys.stdout.write("SysMedic daemon is already running (pid %s).\n" % already.pid)
            return 0
        sys.stdout.write("SysMedic daemon started (pid %d).\n" % info["pid"])
        _print_connection(info)
        return 0
    if args["stop"]:
        pid = process.stop(home)
        sys.stdout.write("SysMedic daemon stopped (pid %s).\n" % pid if pid is not None
                         else "SysMedic daemon is not running.\n")
        return 0
    info = process.status(home)
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
    return 0


def _print_connection(info):
    if info.get("listening"):
        sys.stdout.write("Connection URL: %s\nWebSocket URL:  %s\n" % (info["url"], info["ws_url"]))
    else:
        sys.stdout.write("WebSocket server disabled (enable it with: sysmedic websocket start).\n")


# -- websocket ------------------------------------------------------------------------------------

def _port(text):
    if text is None:
        return 8060
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise SysMedicError("port %r is not a number from 1 to 65535" % text)
    return int(text)


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


def cmd_websocket(args, home):
    if args["start"]:
        port = _port(args["<port>"])
        info = _apply_websocket(home, port=port, enabled=True)
        if info is None:
            sys.stdout.write("WebSocket server enabled on port %d. The daemon is not running: "
                             "start it with: sysmedic daemon start\n" % port)
            return 0
        sys.stdout.write("WebSocket server listening on port %d.\n" % port)
        _print_connection(info)
        return 0
    if args["stop"]:
        info = _apply_websocket(home, enabled=False)
        sys.stdout.write("WebSocket server stopped.\n" if info is not None
                         else "WebSocket server disabled (takes effect when the daemon starts).\n")
        return 0
    if args["new-secret"]:
        if process.status(home) is None:
            raise control.DaemonNotRunning()
        info = control.call(home, "new-secret")
        sys.stdout.write("New secret generated; every client was disconnected.\n")
        _print_connection(info)
        return 0
    settings = configuration.load_websocket(home)
    info = process.status(home)
    lines = ["Daemon:      %s" % ("running (pid %d)" % info["pid"] if info else "stopped"),
             "WebSocket:   %s" % ("enabled, port %d" % settings.port if settings.enabled else "disabled")]
    if info and info["listening"]:
        lines += ["Connection:  listening on %s:%d" % (info["bind"], info["port"]),
                  "Clients:     %d" % info["clients"],
                  "URL:         %s" % info["url"],
                  "WebSocket:   %s" % info["ws_url"]]
    else:
        lines += ["Connection:  not listening", "Clients:     0"]
        if not info:
            lines.append("Start the daemon with: sysmedic daemon start")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def main_exit():
    """Console-script entry point: exit with :func:`main`'s status."""
    sys.exit(main())
