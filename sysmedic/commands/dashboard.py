"""``sysmedic [dashboard]``: from the running daemon, else from two samples taken now."""

import sys

from .. import config as configuration
from .. import dashboard
from ..analysis.assess import assess
from ..analysis.status import visible_users
from ..collect import make_collector
from ..daemon import control, process
from ..osinfo import os_name
from .common import open_storage, print_json


def run(args, home):
    if process.status(home) is not None:
        view = control.call(home, "dashboard")
        if args["--json"]:
            print_json(view["json"])
        else:
            sys.stdout.write(view["text"])
        return 0
    config = configuration.load_config(home)
    snapshot = make_collector(config.monitoring.collector).prime(1.0)
    assessment, _ = assess(snapshot, config, None, snapshot.time)
    source = "sampled now"
    users = visible_users(snapshot.users, config.filtering)
    storage = open_storage(home)
    counts = (0, 0)
    if storage is not None:
        with storage:
            counts = storage.alert_counts()
    name = os_name()
    if args["--json"]:
        print_json(dashboard.as_json(snapshot, assessment, users, counts, name, source))
    else:
        sys.stdout.write(dashboard.render(snapshot, assessment, config, users, counts, name, source))
    return 0
