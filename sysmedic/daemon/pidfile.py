"""A pid file held with ``flock`` for the daemon's life (stdlib-only).

The lock, not the file's existence, says whether a daemon runs: a stale file left by a crash
never blocks a start, and two starts can never both hold it.
"""

import fcntl
import os

from ..errors import AlreadyRunning, SysMedicError
from ..home import open_in_home

PID_FILE = "sysmedic.pid"


def _read_pid(fd):
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 64).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


class PidFile:
    def __init__(self, path):
        self.path = path
        self._fd = None
        self._identity = None

    def acquire(self):
        """Lock the file and write our pid. :raises AlreadyRunning: when another daemon holds it."""
        fd = open_in_home(self.path, os.O_RDWR | os.O_CREAT)  # a planted link: an error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid = _read_pid(fd)
            os.close(fd)
            raise AlreadyRunning(pid)
        try:
            os.fchmod(fd, 0o600)
            os.ftruncate(fd, 0)
            os.write(fd, b"%d\n" % os.getpid())
            os.fsync(fd)
        except OSError as err:  # a full disk (ENOSPC), a read-only file system
            os.close(fd)
            raise SysMedicError("%s: cannot write the pid: %s" % (self.path, (err.strerror or str(err)).lower()))
        self._fd = fd
        info = os.fstat(fd)
        self._identity = (info.st_dev, info.st_ino)

    def lost(self):
        """A sentence when the file we hold is no longer at its path (the home was deleted or
        the file replaced: the CLI can no longer find this daemon), else None."""
        if self._fd is None:
            return None
        try:
            info = os.stat(self.path)
        except OSError:
            return "%s is gone (was the home deleted?)" % self.path
        if (info.st_dev, info.st_ino) != self._identity:
            return "%s was replaced by another file" % self.path
        return None

    def release(self):
        if self._fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None


def running_pid(path):
    """The pid of the daemon holding ``path``'s lock, or ``None`` when no daemon holds it.

    :raises SysMedicError: when the file cannot be read (permission denied, a planted link):
        then nobody can say whether a daemon runs, and "stopped" would be a guess.
    """
    try:
        fd = open_in_home(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _read_pid(fd) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
