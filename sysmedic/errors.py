"""The SysMedic exception hierarchy (stdlib-only leaf module).

Every error a user can cause carries the one line the CLI prints for it; the CLI turns a
``SysMedicError`` into that line on stderr and its ``status`` (1; 2 for a :class:`UsageError`),
never a traceback.
"""


class SysMedicError(Exception):
    """Base class: ``str(err)`` is a complete one-line message for the user."""


class UsageError(SysMedicError):
    """A command's arguments are wrong (a bad option value): exit status 2, as for the usage
    errors docopt finds itself."""
    status = 2


class ConfigError(SysMedicError):
    """A configuration file, key or value is invalid.

    :param source: the file (or ``"command line"``) the bad value came from.
    :param key: dotted key such as ``monitoring.cpu_threshold``, or ``None`` for whole-file errors.
    :param problem: what is wrong, e.g. ``"150 is out of range 1-100"``.
    """

    def __init__(self, source, key, problem):
        self.source = str(source)
        self.key = key
        self.problem = problem
        where = "%s: %s" % (self.source, key) if key else self.source
        super().__init__("%s: %s" % (where, problem))


class StorageError(SysMedicError):
    """The SQLite database cannot be opened, migrated or written."""


class CollectorError(SysMedicError):
    """The platform cannot be sampled (e.g. no /proc and no psutil)."""


class NotFound(SysMedicError):
    """A named object (alert id, user) does not exist."""
