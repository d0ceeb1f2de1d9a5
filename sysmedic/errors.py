"""Every exception a user can see, in one place (stdlib-only leaf module).

Each carries the one line the CLI prints for it and its exit ``status``; the CLI turns a
``SysMedicError`` into that line on stderr and that status, never a traceback. An error the
daemon meets answering a control request crosses the socket as its class name (``kind``) and
the CLI raises the same class again (:func:`rebuilt`), so no command decides its status by
reading the text. A new user-facing error is a class here, with its status.
"""


class SysMedicError(Exception):
    """Base class: ``str(err)`` is a complete one-line message for the user."""
    status = 1


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


class TLSError(SysMedicError):
    """The certificate or key cannot be loaded (the line names the file)."""


class NotifyError(SysMedicError):
    """A delivery failed; the text says where and why (never a password or token)."""


class MailError(NotifyError):
    """Sending mail failed; the text says which server and why (never the password)."""


class AddressInUse(SysMedicError):
    """The WebSocket port is taken by another program."""


class AlreadyRunning(SysMedicError):
    """Another daemon holds the home's pid file (seen by the daemon starting)."""

    def __init__(self, pid):
        self.pid = pid
        super().__init__("daemon already running (pid %s)" % (pid or "?"))


class AlreadyStarted(SysMedicError):
    """``daemon start`` found a daemon already running in the home."""

    def __init__(self, pid):
        self.pid = pid
        super().__init__("the daemon is already running (pid %s)" % pid)


class DaemonNotRunning(SysMedicError):
    """No daemon answers in the home (the line says what to do:
    :func:`sysmedic.daemon.control.not_running`)."""


KINDS = {cls.__name__: cls for cls in (SysMedicError, UsageError, ConfigError, StorageError, CollectorError, NotFound,
                                       TLSError, NotifyError, MailError, AddressInUse, AlreadyRunning, AlreadyStarted,
                                       DaemonNotRunning)}


def rebuilt(kind, text):
    """The error of class ``kind`` (a name in :data:`KINDS`; else SysMedicError) that says
    ``text``: what the daemon raised, raised again on the CLI's side of the control socket."""
    cls = KINDS.get(kind, SysMedicError)
    err = cls.__new__(cls)
    Exception.__init__(err, text)
    return err
