"""Helpers shared by the command modules (stdlib-only apart from storage, imported on use)."""

import json
import os
import sys

from .. import formatting as fmt
from ..errors import SysMedicError, UsageError
from ..home import ensure_home


def print_json(value):
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


def parse_age(text, option):
    try:
        return fmt.parse_duration(text)
    except ValueError as err:
        raise UsageError("%s: %s" % (option, err))


MAX_COUNT = 1000000


def parse_count(text, option):
    """A positive whole number of at most :data:`MAX_COUNT` (a limit or a top-N)."""
    if not str(text).isdigit() or int(text) < 1:
        raise UsageError("%s: %r is not a positive whole number" % (option, text))
    if int(text) > MAX_COUNT:
        raise UsageError("%s: %s is too large (at most %d)" % (option, text, MAX_COUNT))
    return int(text)


def parse_port(text, default=8060):
    """A TCP port from the command line (``None``: ``default``)."""
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise UsageError("port %s is not a number from 1 to 65535" % text)
    return int(text)


def open_storage(home, create=False):
    """A Storage on the home's database; ``None`` when it does not exist and ``create`` is off."""
    from ..storage import Storage, database_path, require_sqlite
    path = database_path(home)
    require_sqlite(path)  # a Python without sqlite3: say so, not "No alerts." (issue 24)
    if not create and not os.path.exists(path):
        return None
    ensure_home(home)
    return Storage(path)
