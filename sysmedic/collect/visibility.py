"""What the daemon cannot see, and says so (issue 22, item 3; stdlib-only).

In a pid namespace, under ``hidepid``, or as a user ``/proc`` shows only its own processes,
the daemon sees a few processes while ``/proc/stat`` (never namespaced) counts the whole
machine's CPU: per-user figures that silently miss most of the machine. Two checks:

- :func:`blind_spots`, once at start: the ``/proc`` mount's ``hidepid``/``subset`` options for
  a daemon that is not root, and a pid namespace other than the machine's first one (whose
  ``/proc/self/ns/pid`` is ``pid:[4026531836]``, ``PROC_PID_INIT_INO``).
- :class:`Coverage`, every window: the share of the machine's busy CPU (``/proc/stat``, less
  interrupts and steal) that the processes and exit records seen explain. Below
  :data:`LOW_COVERAGE` for :data:`WINDOWS` windows in a row, while the machine is busy enough to
  judge, it is a sentence saying how much is unseen.
"""

import os

INIT_PID_NAMESPACE = "pid:[4026531836]"
LOW_COVERAGE = 0.5     # seen / busy below this is blind
MIN_BUSY = 0.05        # of the window's capacity: below this, too little to judge
WINDOWS = 3            # low windows in a row before it is said


def mount_options(proc_root="/proc", mountinfo="/proc/self/mountinfo"):
    """The options of the filesystem mounted at ``proc_root`` (``{"hidepid": "2", ...}``), or
    ``{}`` when it cannot be told."""
    target = os.path.realpath(proc_root)
    found = {}
    try:
        with open(mountinfo) as handle:
            for line in handle:
                fields = line.split()
                if len(fields) < 10 or fields[4] != target or " - " not in line:
                    continue
                after = line.split(" - ", 1)[1].split()
                options = fields[5].split(",") + (after[2].split(",") if len(after) > 2 else [])
                found = dict(option.partition("=")[::2] for option in options)
    except OSError:
        return {}
    return found


def blind_spots(proc_root="/proc", euid=None, options=None, namespace=None):
    """Sentences naming what keeps this daemon from seeing every process (empty when none)."""
    euid = os.geteuid() if euid is None else euid
    options = mount_options(proc_root) if options is None else options
    found = []
    hidepid = options.get("hidepid", "0")
    if euid != 0 and hidepid not in ("0", "off", ""):
        found.append("/proc is mounted hidepid=%s: not being root, the daemon sees only its own user's "
                     "processes (run it as root, or in the group named by the mount's gid=)" % hidepid)
    if namespace is None:
        try:
            namespace = os.readlink(os.path.join(proc_root, "self", "ns", "pid"))
        except OSError:
            namespace = INIT_PID_NAMESPACE
    if namespace != INIT_PID_NAMESPACE:
        found.append("the daemon runs in a pid namespace (%s): it sees only that namespace's processes, while "
                     "the machine's CPU and memory are the whole machine's" % namespace)
    return found


class Coverage:
    """How much of the machine's busy CPU the processes seen explain, window after window."""

    def __init__(self):
        self._low = 0
        self.share = None  # the last window's seen / busy, when judged

    def update(self, seen, busy, capacity):
        """A sentence when the last :data:`WINDOWS` judged windows each explained less than
        :data:`LOW_COVERAGE` of the busy CPU, else None. Units: any, the same for all three."""
        if capacity <= 0 or busy < MIN_BUSY * capacity:
            return self.sentence() if self._low >= WINDOWS else None
        self.share = min(1.0, max(0.0, seen / busy))
        self._low = self._low + 1 if self.share < LOW_COVERAGE else 0
        return self.sentence() if self._low >= WINDOWS else None

    def sentence(self):
        return ("the processes the daemon can see explain %.0f%% of the machine's busy CPU (/proc/stat): "
                "the rest is in processes hidden from it" % (100 * (self.share or 0.0)))
