"""Real CPU loads as throw-away users, each in its own cgroup: the oracle per-user figures are
checked against (the kernel's own counter, never a constant).

A :class:`CgroupLoad` makes a throw-away system user (nothing else on a busy server runs as
it, unlike ``nobody``) and starts a command as that user (``setpriv``) inside a fresh cgroup (v2
``cpu.stat usage_usec`` where a unified hierarchy is mounted, else v1 ``cpuacct.usage``) and
records the counter with wall-clock times from a background thread, so the CPU it used in any
window (``used(start, end)``, interpolated) can be compared with what SysMedic reported for
the same window (the ``sample_time`` of two samples). Needs root.
"""

import bisect
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time

ROOTS = (("/sys/fs/cgroup/unified", "cpu.stat"), ("/sys/fs/cgroup", "cpu.stat"),
         ("/sys/fs/cgroup/cpuacct", "cpuacct.usage"))


def cgroup_root():
    """``(directory, counter file)`` of a cgroup hierarchy we can make groups in, or None."""
    if os.geteuid() != 0:
        return None
    for root, counter in ROOTS:
        if os.path.exists(os.path.join(root, counter)) or os.path.exists(os.path.join(root, "cgroup.procs")):
            probe = os.path.join(root, "sysmedic-probe-%d" % os.getpid())
            try:
                os.mkdir(probe)
            except OSError:
                continue
            usable = os.path.exists(os.path.join(probe, counter))
            os.rmdir(probe)
            if usable:
                return root, counter
    return None


def can_run_loads():
    return (cgroup_root() is not None and shutil.which("setpriv") is not None
            and shutil.which("useradd") is not None)


def users_with_processes(*keep):
    """The names of the users who own a process now, but ``keep``: for a daemon under test to
    exclude (``filtering.excluded_users``) where a test needs its throw-away load to be the
    busiest user shown, whatever else a busy server runs (make test-busy's own burners too)."""
    import pwd
    names = set()
    for entry in os.listdir("/proc"):
        try:
            uid = os.stat("/proc/" + entry).st_uid if entry.isdigit() else None
        except OSError:
            continue  # ended meanwhile
        if uid is not None:
            try:
                names.add(pwd.getpwuid(uid).pw_name)
            except KeyError:
                pass  # a uid with no name is shown by number; it cannot be excluded by name
    return sorted(names - set(keep))


def make_user():
    """A new system user (and group) of its own; :func:`remove_user` deletes it."""
    name = "smload-%s" % secrets.token_hex(4)
    subprocess.run(["useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin",
                    name], check=True, capture_output=True)
    return name


def remove_user(name):
    subprocess.run(["userdel", name], capture_output=True)


class CgroupLoad:
    """``command`` (argv) run as a throw-away user (``self.user``) in its own cgroup, until
    :meth:`stop`, which also deletes the user.

    :param period: seconds between readings of the cgroup's CPU counter.
    :param user: an existing user to run as (kept at the end), instead of a new one.
    :param as_root: run ``command`` as root, in a cgroup of its own beside the load's (root's
        CPU is not the user's); ``{user}`` in its arguments is replaced by the throw-away user's
        name and ``{cgroup}`` by the load's cgroup, so the work it starts as that user can join
        the group first (``echo 0 > {cgroup}/cgroup.procs``) and be measured alone.
    """

    def __init__(self, command, period=0.02, as_root=False, user=None):
        self._own_user = user is None
        self.user = user = group = make_user() if user is None else user
        root, self._counter = cgroup_root()
        self.path = os.path.join(root, "sysmedic-load-%d-%d" % (os.getpid(), id(self)))
        os.mkdir(self.path)
        self._groups = [self.path]
        if as_root:
            self._groups.append(self.path + "-root")
            os.mkdir(self._groups[-1])
        self._times, self._usage = [], []
        self._stopped = threading.Event()
        # The shell joins the cgroup, then becomes the load: nothing runs outside the group.
        join = 'echo $$ > "%s/cgroup.procs" && exec "$@"' % self._groups[-1]
        become = [] if as_root else ["setpriv", "--reuid=%s" % user, "--regid=%s" % group, "--clear-groups"]
        argv = [part.replace("{user}", user).replace("{cgroup}", self.path) for part in command]
        self.proc = subprocess.Popen(["sh", "-c", join, "load"] + become + argv, start_new_session=True)
        self._reader = threading.Thread(target=self._record, args=(period,), daemon=True)
        self._reader.start()

    def usage_seconds(self, group=None):
        """CPU seconds used by everything that ever ran in the group (or ``group``), now."""
        with open(os.path.join(group or self.path, self._counter)) as handle:
            text = handle.read()
        if self._counter == "cpuacct.usage":
            return int(text) / 1e9
        return int(dict(line.split() for line in text.splitlines())["usage_usec"]) / 1e6

    def _record(self, period):
        while not self._stopped.is_set():
            before = time.time()
            usage = tuple(self.usage_seconds(group) for group in self._groups)
            after = time.time()
            self._times.append((before + after) / 2)
            self._usage.append(usage)
            self._stopped.wait(period)

    def at(self, when, group=0):
        """The counter at wall time ``when``, interpolated between readings (None if outside);
        ``group`` 1 is an ``as_root`` load's root group."""
        times, usage = self._times[:], self._usage[:len(self._times)]
        index = bisect.bisect_left(times, when)
        if index == 0 or index >= len(times):
            return None
        t0, t1 = times[index - 1], times[index]
        u0, u1 = usage[index - 1][group], usage[index][group]
        return u0 + (u1 - u0) * (when - t0) / (t1 - t0) if t1 > t0 else u1

    def bracket(self, when):
        """CPU seconds the group used between the two readings around wall time ``when``: how
        far the interpolated counter can be from the truth there (None if outside)."""
        times, usage = self._times[:], self._usage[:len(self._times)]
        index = bisect.bisect_left(times, when)
        if index == 0 or index >= len(times):
            return None
        return usage[index][0] - usage[index - 1][0]

    def uncertainty(self, start, end, cores):
        """The oracle's own error bound for ``share(start, end)``, in points: what the group
        used inside the readings around each edge (a reader thread delayed by a busy machine
        brackets an edge more loosely). None if outside the readings."""
        first, last = self.bracket(start), self.bracket(end)
        if first is None or last is None or end <= start:
            return None
        return 100.0 * (first + last) / ((end - start) * cores)

    def share(self, start, end, cores, group=0):
        """The load's share of the whole machine (0-100) between two wall times, or None;
        ``group`` 1: its root group's (an ``as_root`` load)."""
        first, last = self.at(start, group), self.at(end, group)
        if first is None or last is None or end <= start:
            return None
        return 100.0 * (last - first) / ((end - start) * cores)

    @property
    def has_root_group(self):
        return len(self._groups) > 1

    def wait_running(self, timeout=10.0):
        """Wait until the load has used some CPU inside its group."""
        deadline = time.monotonic() + timeout
        while self.usage_seconds() < 0.05:
            if time.monotonic() > deadline:
                raise AssertionError("the load did not start")
            time.sleep(0.02)  # polling with a deadline

    def stop(self, timeout=10.0):
        """Kill everything in the group, wait for it to empty, remove it (once; later calls
        do nothing)."""
        if not os.path.isdir(self.path):
            return
        self._stopped.set()
        deadline = time.monotonic() + timeout
        while True:
            pids = []
            for group in self._groups:
                with open(os.path.join(group, "cgroup.procs")) as handle:
                    pids.extend(int(pid) for pid in handle.read().split())
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise AssertionError("cgroup %s did not empty" % self.path)
            time.sleep(0.02)  # polling with a deadline for the kills to land
        if self.proc.poll() is None:
            self.proc.wait(timeout)
        self._reader.join(timeout)
        for group in self._groups:
            os.rmdir(group)
        if self._own_user:
            remove_user(self.user)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
