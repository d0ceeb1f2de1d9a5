"""SysMedic: lightweight Linux monitoring with per-user accounting.

Usage:
  sysmedic [dashboard] [--json]
  sysmedic config show [--running] [--json]
  sysmedic config get <key> [--json]
  sysmedic config set <key> <value>
  sysmedic config set-user <user> <key> <value>
  sysmedic alerts [list] [--unresolved] [--since=<age>] [--limit=<n>] [--json]
  sysmedic alerts resolve (<id> | --all)
  sysmedic alerts test [--notifier=<name>]
  sysmedic users [<user>] [--limit=<n>] [--json]
  sysmedic top [--once] [--url=<url>] [--cafile=<file>]
  sysmedic reports [--period=<p>] [--json]
  sysmedic reports users [--top=<n>] [--user=<name>] [--period=<p>] [--json]
  sysmedic daemon start [--no-url] [--user=<name>]
  sysmedic daemon stop
  sysmedic daemon status [--json]
  sysmedic daemon run [--log-file] [--show-url] [--port=<port>] [--user=<name>]
  sysmedic websocket start [<port>]
  sysmedic websocket status [--json]
  sysmedic websocket (stop | new-secret)
  sysmedic -h | --help
  sysmedic --version

Options:
  --json           Print JSON for scripts instead of text.
  --unresolved     Only alerts that are still open.
  --since=<age>    Only alerts opened within <age>, e.g. 30m, 24h, 7d.
  --limit=<n>      Show at most <n> alerts (50), users (all), or a user's processes (10).
  --notifier=<name>  Test only this notifier: email, webhook or command.
  --once           Print one frame and exit (for scripts).
  --running        The values the running daemon uses now (not the file's).
  --url=<url>      Watch a remote daemon: its sysmedic[s]://SECRET@HOST:PORT/ URL.
  --cafile=<file>  The CA that signed a TLS daemon's certificate (with --url).
  --all            Resolve every open alert.
  --period=<p>     Report over the last <p>, e.g. 1h, 24h, 7d [default: 24h].
  --top=<n>        Number of users in the report [default: 10].
  --user=<name>    Report on one user only; 'daemon': started as root, run as this user.
  --log-file       Log to sysmedic.log in the home (rotated) instead of stderr.
  --show-url       Print the connection URL (it holds the secret) on stdout once serving.
  --no-url         Do not print the connection URL (init scripts: it holds the secret).
  --port=<port>    Listen on this port instead of websocket.json's (not saved).
  -h --help        Show this screen.
  --version        Show the version.

Files live in $SYSMEDIC_HOME (default ~/.sysmedic): config.json, websocket.json, sysmedic.db.
'daemon run' serves in the foreground (systemd, init scripts); 'daemon start' detaches and
returns once the daemon serves. 'daemon status' exits 0 when running, 3 when stopped,
4 when it cannot tell (the home cannot be read).
Config keys are section.name (monitoring.cpu_threshold) or a unique name (cpu_threshold);
durations take units (30s, 5m, 1h). See 'sysmedic config show' for every key.
"""

import importlib
import sys

from . import __version__

USAGE_ERROR = 2
STATUS_UNKNOWN = 4  # LSB: "daemon status" when it cannot tell (e.g. the home cannot be read)
COMMANDS = ("daemon", "websocket", "config", "alerts", "reports", "users", "top")
MODULES = {"config": "configure"}


def main(argv=None, environ=None):
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    words = [word for word in argv if not word.startswith("-")]
    if words and words[0] in COMMANDS and ("-h" in argv or "--help" in argv):
        sys.stdout.write(command_help(words[0]))  # `sysmedic users --help`: that command's own
        return 0
    if list(argv) == ["--version"]:  # init scripts and packaging ask this: answer before docopt
        sys.stdout.write("sysmedic %s\n" % __version__)  # loads (~25 ms uncached in a zipapp)
        return 0
    if list(argv) in (["-h"], ["--help"]):
        sys.stdout.write(__doc__.strip("\n") + "\n")
        return 0
    from . import needs
    absent = needs.missing(needs.NEEDED, load=False)  # before the first import that may need one (issue 24)
    if absent is not None:
        sys.stderr.write(needs.missing_line(absent) + "\n")
        return 1
    try:
        return _run(argv, environ)
    except ImportError as err:  # a module the checks did not foresee: still one line
        if needs.module_of(err) is None:
            raise
        sys.stderr.write(needs.missing_line(needs.module_of(err)) + "\n")
        return 1


def _run(argv, environ):
    from docopt import DocoptExit, docopt

    from . import needs
    from .errors import SysMedicError
    from .home import check_home, home_dir
    try:
        args = docopt(__doc__, argv=argv, version="sysmedic " + __version__)
    except DocoptExit:
        sys.stderr.write("sysmedic: %s\n" % usage_error(argv))
        return USAGE_ERROR
    except SystemExit as done:  # --help and --version print and exit 0
        return done.code or 0
    command = next((name for name in COMMANDS if args[name]), "dashboard")
    absent = needs.missing(needs.SERVING, load=False) if serves(command, args) else None
    if absent is not None:  # the WebSocket server and client need them: refuse before starting
        words = " ".join([word for word in argv if not word.startswith("-")][:2])  # never --url's secret
        sys.stderr.write("%s; 'sysmedic %s' needs it\n" % (needs.missing_line(absent), words))
        return 1
    try:
        home = home_dir(environ)
        check_home(home)  # before any file in it is read (issue 13)
        module = importlib.import_module("sysmedic.commands." + MODULES.get(command, command))
        return module.run(args, home)
    except SysMedicError as err:
        sys.stderr.write("sysmedic: %s\n" % err)
        return STATUS_UNKNOWN if command == "daemon" and args["status"] else err.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1


def serves(command, args):
    """Whether the command serves or connects over WebSocket (it needs :data:`needs.SERVING`)."""
    return ((command == "daemon" and (args["run"] or args["start"])) or (command == "websocket" and args["start"])
            or (command == "top" and bool(args["--url"])))


def _forms(command):
    usage = __doc__.split("Usage:")[1].split("Options:")[0]
    return [line.strip() for line in usage.splitlines()
            if line.strip().startswith("sysmedic %s" % command)
            or (command == "dashboard" and line.strip().startswith("sysmedic [dashboard]"))]


def command_help(command):
    """The usage lines of ``command`` and the options they take (``sysmedic X --help``)."""
    forms = _forms(command)
    options = [line for line in __doc__.split("Options:")[1].split("\n\n")[0].splitlines()
               if line.strip().startswith("-") and any(line.split()[0].split("=")[0] in form for form in forms)]
    return "Usage:\n%s\n%s" % ("\n".join("  " + form for form in forms),
                                ("\nOptions:\n%s\n" % "\n".join(options)) if options else "")


def usage_error(argv):
    """One line for arguments docopt rejected: the unknown command, or how to use the one given."""
    words = [word for word in argv if not word.startswith("-")]
    if words and words[0] not in COMMANDS + ("dashboard",):
        return "unknown command %r (commands: %s; see 'sysmedic --help')" % (
            words[0], ", ".join(("dashboard",) + COMMANDS))
    command = words[0] if words else "dashboard"
    return "usage: %s (see 'sysmedic %s--help')" % (" | ".join(_forms(command)),
                                                   command + " " if command != "dashboard" else "")


def main_exit():
    """Console-script entry point: exit with :func:`main`'s status."""
    sys.exit(main())
