"""``sysmedic config show | set | set-user``."""

import os
import sys

from .. import config as configuration
from ..home import ensure_home
from .common import print_json


def run(args, home):
    if args["show"]:
        config = configuration.load_config(home)
        rows = configuration.describe(config)
        if args["--json"]:
            print_json({key: list(value) if isinstance(value, tuple) else value for key, value, _ in rows})
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
