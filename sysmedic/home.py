"""The SysMedic home directory and atomic, owner-only file writes (stdlib-only leaf module).

The home is ``$SYSMEDIC_HOME`` or ``~/.sysmedic``. It is kept at mode 0700 and every file
SysMedic writes in it at 0600, whatever the umask (docs/protocol-decisions.md, decision 15); a
home others can write to is refused, and no file in it is opened through a symbolic link
(issue 13). Writes go through :func:`atomic_write`: a temporary file in the same directory,
fsync, rename, fsync of the directory, so a crash leaves either the old or the new file.
"""

import errno
import os
import stat

from .errors import SysMedicError

HOME_ENV = "SYSMEDIC_HOME"


def home_dir(environ=None):
    """Return the configured home directory's absolute path (not created).

    :raises SysMedicError: when there is none: issue 24, the CLI made a directory named ``~``
        in the current one while the daemon it started used ``/~/.sysmedic``."""
    environ = os.environ if environ is None else environ
    configured = environ.get(HOME_ENV)
    if configured:
        return os.path.abspath(configured)
    user_home = os.path.expanduser("~")
    if not os.path.isabs(user_home):  # no $HOME and no passwd entry: Python hands back "~" itself
        raise SysMedicError("no home directory: $HOME is not set and uid %d has no passwd entry; set %s "
                            "(or HOME) to an absolute path" % (os.getuid(), HOME_ENV))
    return os.path.join(user_home, ".sysmedic")


def check_home(path):
    """Refuse an existing home that others could plant files in (see :func:`ensure_home`),
    changing nothing; a home that does not exist yet passes. Every CLI command calls this.

    :raises SysMedicError: with one line naming the directory.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as err:  # e.g. a parent directory we may not enter
        raise SysMedicError("%s: %s" % (path, (err.strerror or str(err)).lower()))
    _refuse_unsafe(path, info)


def _refuse_unsafe(path, info):
    if not stat.S_ISDIR(info.st_mode):
        raise SysMedicError("%s: not a directory" % path)
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022:
        raise SysMedicError("%s: writable by other users (mode %04o), who could plant files in it; "
                            "refusing to use it (chmod 700 %s)" % (path, mode, path))
    if info.st_uid != os.geteuid() and os.geteuid() != 0:
        if not os.access(path, os.R_OK | os.X_OK):
            owner = user_name(info.st_uid)
            raise SysMedicError("%s: permission denied (owned by %s, mode %04o; run as %s)"
                                % (path, owner, mode, owner if info.st_uid == 0 else owner + " or root"))
        raise SysMedicError("%s: owned by %s, not by you (%s); refusing to use it"
                            % (path, user_name(info.st_uid), user_name(os.geteuid())))


def ensure_home(path):
    """Create ``path`` with mode 0700 if missing; refuse one that others could plant files in.

    A home writable by group or others is refused, whoever owns it: anyone could have planted
    a symbolic link in it. A home owned by another user is refused too, except for root, which
    administers the service's home (``SYSMEDIC_HOME=/var/lib/sysmedic``); files opened in it
    never follow links (:func:`open_in_home`). In our own home the directory is tightened to
    0700 and our files to 0600 (e.g. a config.json written by an editor with umask 022).

    :raises SysMedicError: with one line naming the directory and what to do.
    """
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.stat(path)
    except OSError as err:
        raise SysMedicError("%s: cannot create home directory: %s" % (path, err.strerror))
    _refuse_unsafe(path, info)
    if info.st_uid == os.geteuid():
        try:
            if stat.S_IMODE(info.st_mode) != 0o700:
                os.chmod(path, 0o700)
            for entry in os.scandir(path):
                entry_info = entry.stat(follow_symlinks=False)
                if (stat.S_ISREG(entry_info.st_mode) and entry_info.st_uid == os.geteuid()
                        and entry_info.st_mode & 0o077):
                    os.chmod(entry.path, 0o600)
        except OSError as err:
            raise SysMedicError("%s: cannot secure home directory: %s" % (path, err.strerror))
    return path


def user_name(uid):
    try:
        import pwd
        return pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        return "uid %d" % uid


def foreign_owner(directory):
    """``(uid, gid)`` of ``directory``'s owner when this process is root and the directory is
    another user's (the packaged service's home, or a user's own), else None."""
    if os.geteuid() != 0:
        return None
    try:
        info = os.stat(directory)
    except OSError:
        return None
    return None if info.st_uid == 0 else (info.st_uid, info.st_gid)


def give_to_owner(fd, path):
    """Root creating a file in another user's home leaves it that user's, as if they had made
    it (issue 21: the owner's own daemon then could not open the log, pid file or database)."""
    owner = foreign_owner(os.path.dirname(os.path.abspath(path)))
    if owner is not None:
        os.fchown(fd, *owner)


def open_in_home(path, flags, mode=0o600):
    """``os.open`` of a file in the home that never follows a symbolic link (``O_NOFOLLOW``):
    a link planted in the home is an error, not a write through it. As root in another user's
    home, a file it creates (or finds root's) is given to the home's owner.

    :raises FileNotFoundError: when it does not exist (and ``O_CREAT`` is not given).
    :raises SysMedicError: for anything else, one line naming the file: a link, a directory
        in its place (``sysmedic.pid`` made a directory), no permission, a full disk.
    """
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except FileNotFoundError:
        raise
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise SysMedicError("%s: is a symbolic link; refusing to follow it" % path)
        raise SysMedicError("%s: %s" % (path, (err.strerror or str(err)).lower()))
    if flags & os.O_CREAT:
        try:
            give_to_owner(fd, path)
        except OSError as err:
            os.close(fd)
            raise SysMedicError("%s: cannot give it to the home's owner: %s" % (path, err.strerror))
    return fd


MAX_READ_AS = 1 << 20


def read_as_owner(home, path, limit=MAX_READ_AS):
    """``(bytes, mode)`` of the file at ``path`` (at most ``limit`` bytes), read with the
    rights of ``home``'s owner when this process is root and the home is another user's: a
    file a home's settings name (a TLS key) must be one its owner could read, or any user
    with a home could make a root daemon serve another service's private key (issue 21).
    Otherwise read as this process. Only a regular file is read (a planted FIFO would block).

    :raises OSError: as opening or reading it would (EACCES for a file the owner may not read).
    """
    owner = foreign_owner(home)
    if owner is None:
        return _read_regular(path, limit)
    uid, gid = owner
    try:
        import pwd
        groups = os.getgrouplist(pwd.getpwuid(uid).pw_name, gid)
    except (KeyError, ImportError):
        groups = [gid]
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only system calls, then _exit (the parent's threads are not here)
        code = 1
        try:
            os.close(reader)
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            try:
                data, mode = _read_regular(path, limit)
                reply = b"ok %d\n" % mode + data
            except OSError as err:
                reply = b"error %d\n" % (err.errno or 0)
            view = memoryview(reply)
            while view:
                view = view[os.write(writer, view):]
            code = 0
        finally:
            os._exit(code)
    os.close(writer)
    chunks = []
    try:
        while True:
            chunk = os.read(reader, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(reader)
        os.waitpid(pid, 0)
    head, _, data = b"".join(chunks).partition(b"\n")
    words = head.split()
    if len(words) != 2 or words[0] not in (b"ok", b"error"):
        raise OSError(errno.EIO, "could not be read as the home's owner")
    if words[0] == b"error":
        number = int(words[1])
        raise OSError(number, os.strerror(number))
    return data, int(words[1])


def _read_regular(path, limit):
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks), info.st_mode
    finally:
        os.close(fd)


def not_a_link(path):
    """Raise SysMedicError if ``path`` is a symbolic link (for files opened by a library that
    cannot be told O_NOFOLLOW, such as SQLite); ``path`` need not exist."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise SysMedicError("%s: is a symbolic link; refusing to follow it" % path)
    except FileNotFoundError:
        pass


def atomic_write(path, data):
    """Replace ``path`` with ``data`` (bytes) atomically, mode 0600, owned by the directory's
    owner (root writing into the service's home must not leave files the service cannot read).
    The rename replaces a symbolic link at ``path`` itself, never what it points to.

    :raises SysMedicError: naming the file when the write fails; the old file is untouched.
    """
    import tempfile  # here, not at the top: it costs the zipapp's start-up ~5 ms

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = None, None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)  # O_EXCL: never a planted link
        os.fchmod(fd, 0o600)
        owner = os.stat(directory)
        if os.geteuid() == 0 and owner.st_uid != 0:  # root in the service's home: keep it theirs
            os.fchown(fd, owner.st_uid, owner.st_gid)
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

