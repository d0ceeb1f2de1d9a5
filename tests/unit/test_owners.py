"""Whose a living process is (issue 22, item 1), on the real /proc, as root with throw-away
users: its real uid, as its exit record says, whatever the owner of /proc/<pid>/stat shows.

Before: a zombie's and a non-dumpable task's stat file are root's, so another user's zombies
were root's, and any user hid a burner as root's with prctl(PR_SET_DUMPABLE, 0); a setuid
program was counted by its effective uid (root) alive and by its real uid at its exit.
"""

import os
import shutil
import subprocess
import tempfile
import time

import pytest

from sysmedic.collect.procfs import ProcSource

from ..loads import make_user, remove_user

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("useradd"),
                                reason="needs root, setpriv and useradd (throw-away users)")
PY = "/usr/bin/python3"


@pytest.fixture
def user():
    import pwd
    name = make_user()
    yield name, pwd.getpwnam(name).pw_uid
    remove_user(name)


def as_user(name, argv):
    return subprocess.Popen(["setpriv", "--reuid=%s" % name, "--regid=%s" % name, "--clear-groups"] + argv,
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)


def rows_when(source, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        table = source._scan()
        if predicate(table):
            return table
        assert time.monotonic() < deadline, "the processes did not show"
        time.sleep(0.05)  # polling with a deadline for the processes to start


def stat_owner(pid):
    return os.stat("/proc/%d/stat" % pid).st_uid


def test_a_users_zombie_and_non_dumpable_burner_are_theirs(user):
    name, uid = user
    zombies = as_user(name, [PY, "-c", "import os, sys, time\npid = os.fork()\nif pid == 0: os._exit(0)\n"
                             "print(pid, flush=True)\ntime.sleep(60)"])
    hider = as_user(name, [PY, "-c", "import ctypes\nctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\n"
                           "print('hidden', flush=True)\nwhile True: pass"])
    try:
        zombie = int(zombies.stdout.readline())
        assert hider.stdout.readline().strip() == b"hidden"
        source = ProcSource()
        table = rows_when(source, lambda t: zombie in t and hider.pid in t)
        assert stat_owner(zombie) == 0 and stat_owner(hider.pid) == 0  # what the old owner lookup saw
        assert table[zombie].uid == uid and table[hider.pid].uid == uid
        assert source._scan()[hider.pid].uid == uid  # and in the next scan, from what was kept
    finally:
        for proc in (zombies, hider):
            proc.kill()
            proc.wait()


def test_a_setuid_program_counts_for_who_ran_it_as_its_exit_record_does(user):
    name, uid = user
    place = tempfile.mkdtemp(prefix="sysmedic-setuid-")
    try:
        os.chmod(place, 0o755)
        program = os.path.join(place, "sleep")
        shutil.copy("/bin/sleep", program)
        os.chmod(program, 0o4755)  # root's, setuid
        proc = as_user(name, [program, "30"])
        try:
            source = ProcSource()
            rows_when(source, lambda t: proc.pid in t)  # seen first as setpriv, root's, perhaps
            deadline = time.monotonic() + 10
            while open("/proc/%d/comm" % proc.pid).read().strip() != "sleep":
                assert time.monotonic() < deadline, "setpriv did not exec the program"
                time.sleep(0.01)  # polling with a deadline for the exec
            if stat_owner(proc.pid) != 0:
                pytest.skip("%s is mounted nosuid: the program did not become root" % place)
            assert source._scan()[proc.pid].uid == uid  # the exec is noticed: its owner read again
        finally:
            proc.kill()
            proc.wait()
    finally:
        shutil.rmtree(place)


def test_a_steady_table_reads_no_status_file():
    reads = []

    def counting(root, name):
        reads.append(name)
        from sysmedic.collect.procfs import _status_uid
        return _status_uid(root, name)
    source = ProcSource(real_uid=counting)
    first = source._scan()
    assert len(reads) >= len(first) * 0.9
    reads.clear()
    second = source._scan()
    busy = [pid for pid in second if pid in first and second[pid].cpu != first[pid].cpu]
    assert len(reads) <= len(set(second) - set(first)) + len(busy) + 5, (len(reads), len(second))
