"""The SysMedic home directory and atomic, owner-only file writes (stdlib-only leaf module).

The home is ``$SYSMEDIC_HOME`` or ``~/.sysmedic``. It is kept at mode 0700 and every file
SysMedic writes in it at 0600, whatever the umask (docs/protocol-decisions.md, decision 15). Writes go
through :func:`atomic_write`: a temporary file in the same directory, fsync, rename, fsync of
the directory, so a crash leaves either the old or the new file, never half of one.
"""

import os
import stat

from .errors import SysMedicError

HOME_ENV = "SYSMEDIC_HOME"


def home_dir(environ=None):
    """Return the configured home directory path (not created)."""
    environ = os.environ if environ is None else environ
    configured = environ.get(HOME_ENV)
    if configured:
        return os.path.abspath(configured)
    return os.path.join(os.path.expanduser("~"), ".sysmedic")


def ensure_home(path):
    """Create ``path`` with mode 0700 if missing, tighten it and our files in it (0600) if looser.

    :raises SysMedicError: with one line naming the directory when it cannot be made.
    """
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.stat(path)
        if not stat.S_ISDIR(info.st_mode):
            raise SysMedicError("%s: not a directory" % path)
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(path, 0o700)
        for entry in os.scandir(path):  # e.g. a config.json written by an editor with umask 022
            entry_info = entry.stat(follow_symlinks=False)
            if (stat.S_ISREG(entry_info.st_mode) and entry_info.st_uid == os.geteuid()
                    and entry_info.st_mode & 0o077):
                os.chmod(entry.path, 0o600)
    except OSError as err:
        raise SysMedicError("%s: cannot create home directory: %s" % (path, err.strerror))
    return path


def atomic_write(path, data):
    """Replace ``path`` with ``data`` (bytes) atomically, mode 0600.

    :raises SysMedicError: naming the file when the write fails; the old file is untouched.
    """
    import tempfile  # here, not at the top: it costs the zipapp's start-up ~5 ms

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = None, None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
        os.close(fd)
        fd = None
        os.replace(tmp, path)
        tmp = None
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as err:
        raise SysMedicError("%s: cannot write: %s" % (path, err.strerror))
    finally:
        if fd is not None:
            os.close(fd)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass

