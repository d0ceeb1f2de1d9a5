"""``daemon run --user=NAME``: a daemon started by root drops to the service user itself, after
opening what needs root (issue 24: init scripts used util-linux's ``setpriv --reuid``, which
busybox's ``setpriv`` does not have, so on a busybox-only system every action failed).

What needs root is only the kernel's exit-record socket (CAP_NET_ADMIN to register it; once
registered, records keep arriving after the drop). Everything the daemon writes is written
after it, so the pid file, log, database and secret belong to the service user.
"""

import os
import pwd

from ..errors import UsageError


def resolve(name):
    """The passwd entry of ``name`` (or of a numeric uid).

    :raises UsageError: no such user."""
    try:
        return pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except (KeyError, OverflowError):
        raise UsageError("--user=%s: no such user" % name)


def needs_switch(name):
    """Whether running as ``name`` means leaving root (False: already that user).

    :raises UsageError: another user was asked for by a process that is not root."""
    entry = resolve(name)
    if entry.pw_uid == os.geteuid():
        return False
    if os.geteuid() != 0:
        raise UsageError("--user=%s needs root (this is %s)" % (name, _name(os.geteuid())))
    return True


def become(name, home):
    """Switch this process, for good, to user ``name`` (its group and supplementary groups).
    The home is created for that user when missing; an existing one must already be theirs
    (the usual checks refuse it otherwise, as that user)."""
    entry = resolve(name)
    if not os.path.isdir(home):
        os.makedirs(home, mode=0o700, exist_ok=True)
        os.chown(home, entry.pw_uid, entry.pw_gid)
    os.initgroups(entry.pw_name, entry.pw_gid)
    os.setresgid(entry.pw_gid, entry.pw_gid, entry.pw_gid)
    os.setresuid(entry.pw_uid, entry.pw_uid, entry.pw_uid)
    os.environ["HOME"] = entry.pw_dir or "/"


def _name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "uid %d" % uid
