"""``sysmedic config show | get | set | set-user``.

``set`` and ``set-user`` validate and save ``config.json``, then apply it to a running daemon
over the control socket, and say which of the two happened (issue 8, defect 3).
"""

import os
import sys

from .. import config as configuration
from ..daemon import control, process
from ..errors import SysMedicError
from ..home import ensure_home
from .common import print_json


def run(args, home):
    if args["show"]:
        if args["--running"]:  # the daemon's values now, which a restart-only option set since may not be
            rows = [(key, tuple(value) if isinstance(value, list) else value, help_text)
                    for key, value, help_text in control.call(home, "config-show")["options"]]
        else:
            rows = configuration.describe(configuration.load_config(home))
        if args["--json"]:
            print_json({key: list(value) if isinstance(value, tuple) else value for key, value, _ in rows})
            return 0
        for key, value, help_text in rows:
            if isinstance(value, tuple):
                value = ",".join(value) or "-"
            sys.stdout.write("%-34s %-22s %s\n" % (key, value, help_text))
        return 0
    if args["get"]:
        key, value = configuration.get_option(configuration.load_config(home), args["<key>"])
        if args["--json"]:
            print_json({key: list(value) if isinstance(value, tuple) else value})
        else:
            sys.stdout.write("%s\n" % (",".join(value) if isinstance(value, tuple) else value))
        return 0
    ensure_home(home)
    if args["set-user"]:
        _known_user(args["<user>"])
        key, value = configuration.set_user_option(home, args["<user>"], args["<key>"], args["<value>"])
    else:
        key, value = configuration.set_option(home, args["<key>"], args["<value>"])
    sys.stdout.write("%s = %s (saved to %s)\n" % (key, configuration.show(key, value),
                                                 os.path.join(home, configuration.CONFIG_FILE)))
    return apply_to_daemon(home, configuration.at_restart(key))


def _known_user(name):
    """A per-user threshold for a user the machine does not know would never act (issue 22)."""
    try:
        import pwd
        pwd.getpwnam(name)
    except ImportError:
        return
    except KeyError:
        raise SysMedicError("no user %r on this machine (getent passwd %s finds nothing); nothing saved"
                            % (name, name))


def apply_to_daemon(home, at_restart=False):
    """Tell a running daemon to re-read config.json; print what happened (``at_restart``: the
    option set is one a running daemon takes only when it starts again); the exit status."""
    if process.status(home) is None:
        sys.stdout.write("The daemon is not running; it will use this when it starts.\n")
        return 0
    try:
        info = control.call(home, "config-apply")
    except SysMedicError as err:
        sys.stderr.write("sysmedic: saved, but the running daemon did not apply it: %s\n"
                         "Restart it with: sysmedic daemon stop && sysmedic daemon start\n" % err)
        return 1
    if at_restart:
        sys.stdout.write("Saved; the running daemon (pid %d) takes it when it restarts: "
                         "sysmedic daemon stop && sysmedic daemon start\n" % info["pid"])
    else:
        sys.stdout.write("Applied to the running daemon (pid %d).\n" % info["pid"])
    return 0
