"""The kernel's per-task exit records (taskstats over generic netlink; stdlib only).

Registered for every CPU (``TASKSTATS_CMD_ATTR_REGISTER_CPUMASK``), the kernel sends one
``struct taskstats`` for each task (thread) that exits: its thread id, thread group id, real
uid, start time and exact CPU time in microseconds; when the last thread of a multi-threaded
process exits, a second one sums the whole thread group. Listening needs CAP_NET_ADMIN.

:class:`ExitListener` runs one named thread that blocks in ``poll`` (nothing to do while
nothing exits), parses each record into an :class:`Exit` and keeps them, at most
``limit``, until the sampler :meth:`~ExitListener.drain` s them. A fork storm can overflow the
socket (``ENOBUFS``): each overflow is counted in :attr:`~ExitListener.lost` and logged once a
minute, never silently.

Layout facts (include/uapi/linux/taskstats.h): ``ac_uid``, ``ac_gid``, ``ac_pid``, ``ac_ppid``,
``ac_btime`` are u32 at offset 120; ``cpu_run_real_total`` and ``cpu_run_virtual_total`` u64 at
64 (nanoseconds); ``ac_utime`` and ``ac_stime`` u64 at 152 (microseconds); ``read_bytes``,
``write_bytes`` and ``cancelled_write_bytes`` u64 at 248 (the task's own, rounded down to KB);
``cpu_delay_total``, ``blkio_delay_total`` and ``swapin_delay_total`` u64 at 24, 40 and 56;
``ac_tgid`` (u32) at 368 from struct version 12 on (Linux 5.19); older kernels lack it and
SysMedic does not use exit records there.
"""

import errno
import logging
import os
import select
import socket
import struct
import sys
import threading
import time
from collections import deque
from typing import NamedTuple

log = logging.getLogger(__name__)

NETLINK_GENERIC = 16
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
TASKSTATS_CMD_GET = 1
TASKSTATS_CMD_NEW = 2
TASKSTATS_TYPE_PID = 1
TASKSTATS_TYPE_TGID = 2
TASKSTATS_TYPE_STATS = 3
TASKSTATS_TYPE_AGGR_PID = 4
TASKSTATS_TYPE_AGGR_TGID = 5
TASKSTATS_CMD_ATTR_REGISTER_CPUMASK = 3
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
MIN_VERSION = 12          # the first struct with ac_tgid
RECEIVE_BUFFER = 8 << 20  # a fork storm's records wait here (SO_RCVBUFFORCE as root)
WARN_EVERY = 60.0
BATCH_DELAY = 0.05        # seconds records gather before one batch is read (the socket holds them)

_HEADER = struct.Struct("=IHHII")     # nlmsghdr
_GENL = struct.Struct("=BBH")         # genlmsghdr
_ATTR = struct.Struct("=HH")          # nlattr
_IDS = struct.Struct("=IIIII")        # ac_uid, ac_gid, ac_pid, ac_ppid, ac_btime at 120
_TIMES = struct.Struct("=QQ")         # ac_utime, ac_stime at 152 (microseconds, clock-tick sampled)
_RUN = struct.Struct("=QQ")           # cpu_run_real_total, cpu_run_virtual_total at 64 (nanoseconds)
_TGID = struct.Struct("=I")           # ac_tgid at 368
COMM_AT, COMM_LEN = 80, 32            # ac_comm: char[TS_COMM_LEN], NUL-padded
_IO = struct.Struct("=QQQ")           # read_bytes, write_bytes, cancelled_write_bytes at 248
_DELAYS = struct.Struct("=Q8xQ8xQ")   # cpu_delay_total at 24, blkio_delay_total at 40, swapin_delay_total at 56


def _comm(data, at):
    """The record's command name, decoded once and interned (a fork storm repeats a few names)."""
    raw = bytes(data[at + COMM_AT:at + COMM_AT + COMM_LEN]).split(b"\0", 1)[0]
    return sys.intern(raw.decode("utf-8", "replace"))


class Exit(NamedTuple):
    """One exited task. ``group`` is True for the sum over a whole thread group (sent with
    the last thread's record); then ``tid`` is the thread group id, ``uid`` the last thread's
    and ``begin`` 0 (the kernel fills only the times in a group's sum)."""
    tid: int
    tgid: int
    uid: int
    begin: int         # start time, epoch seconds
    cpu_us: int        # user + system time over the task's (or group's) life
    group: bool
    ppid: int = 0      # the parent at exit: who reaps it
    comm: str = ""     # its command name (ac_comm, up to 31 bytes; a group's sum: its last thread's)
    io: tuple = ()     # the task's own storage I/O: (read_bytes, write_bytes, cancelled_write_bytes),
                       # in whole KB (the kernel rounds them down); () in a thread group's sum
    delays_ns: tuple = ()  # delay accounting: (waiting for a CPU, for block I/O, for swap-in), in ns;
                           # the last two stay 0 while kernel.task_delayacct is off


class Unavailable(Exception):
    """Exit records cannot be had here; the message says why (for the start-up log line)."""


def _attr(kind, data):
    size = _ATTR.size + len(data)
    return _ATTR.pack(size, kind) + data + b"\0" * (-size % 4)


def _message(family, command, attributes, seq):
    payload = _GENL.pack(command, 1, 0) + attributes
    return _HEADER.pack(_HEADER.size + len(payload), family, NLM_F_REQUEST | NLM_F_ACK, seq, 0) + payload


def attributes(data):
    """``[(type, payload)]`` of a run of netlink attributes."""
    found = []
    offset = 0
    while offset + _ATTR.size <= len(data):
        size, kind = _ATTR.unpack_from(data, offset)
        if size < _ATTR.size:
            break
        found.append((kind & 0x7fff, data[offset + _ATTR.size:offset + size]))
        offset += (size + 3) & ~3
    return found


def messages(data):
    """``[(type, payload)]`` of the netlink messages in one datagram."""
    found = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        size, kind = _HEADER.unpack_from(data, offset)[:2]
        if size < _HEADER.size:
            break
        found.append((kind, data[offset + _HEADER.size:offset + size]))
        offset += (size + 3) & ~3
    return found


_SINGLE = struct.Struct("=HHHHIHH")  # the usual message: AGGR_PID, its PID, its STATS header
_STATS_AT = _GENL.size + _SINGLE.size
# The usual datagram in one read: nlmsghdr, genlmsghdr, the three attribute headers and PID,
# then from the stats: version, cpu_run_real/virtual_total (64), ac_uid ... ac_btime (120),
# ac_utime/ac_stime (152), ac_tgid (368). Checked against the general path in the unit tests.
_WHOLE = struct.Struct("=IHHII" "BBH" "HHHHIHH" "H22x" "Q8xQ8xQ" "QQ40x" "IIIII12x" "QQ80x" "QQQ96x" "I")


def parse_exits(payload):
    """The Exit records in one TASKSTATS_CMD_NEW message (after its nlmsghdr).

    A fork storm sends thousands a second, so the usual message (one task's record) is read
    at fixed offsets; anything else takes the general path.
    """
    if len(payload) >= _STATS_AT + 372:
        aggr_size, aggr, pid_size, pid_kind, ident, stats_size, stats_kind = _SINGLE.unpack_from(payload, _GENL.size)
        if (aggr == TASKSTATS_TYPE_AGGR_PID and pid_kind == TASKSTATS_TYPE_PID and stats_kind == TASKSTATS_TYPE_STATS
                and _GENL.size + aggr_size >= len(payload) - 3 and struct.unpack_from("=H", payload, _STATS_AT)[0] >= MIN_VERSION):
            uid, _gid, _pid, ppid, begin = _IDS.unpack_from(payload, _STATS_AT + 120)
            return [Exit(ident, _TGID.unpack_from(payload, _STATS_AT + 368)[0], uid, begin,
                         _cpu_us(payload, _STATS_AT, False), False, ppid, _comm(payload, _STATS_AT),
                         _IO.unpack_from(payload, _STATS_AT + 248), _DELAYS.unpack_from(payload, _STATS_AT + 24))]
    return _parse_exits(payload)


def _cpu_us(data, at, group):
    """A record's CPU time in microseconds: the scheduler's exact run time
    (``cpu_run_virtual_total``, filled since Linux 5.14 whether delay accounting is on or not),
    else ``ac_utime + ac_stime``. Those are sampled at the clock tick: a 1 ms ``/bin/true`` has
    0 or a whole tick, and on a busy host a fork loop's added up to 50-118% of its real time
    from one window to the next. A thread group's sum has only the first two."""
    real, run = _RUN.unpack_from(data, at + 64)
    if run:
        return run // 1000
    if group:
        return real // 1000
    utime, stime = _TIMES.unpack_from(data, at + 152)
    return utime + stime


def _parse_exits(payload):
    found = []
    for kind, nested in attributes(payload[_GENL.size:]):
        if kind not in (TASKSTATS_TYPE_AGGR_PID, TASKSTATS_TYPE_AGGR_TGID):
            continue
        ident, stats = None, None
        for inner, value in attributes(nested):
            if inner in (TASKSTATS_TYPE_PID, TASKSTATS_TYPE_TGID) and len(value) >= 4:
                ident = struct.unpack_from("=I", value)[0]
            elif inner == TASKSTATS_TYPE_STATS:
                stats = value
        if ident is None or stats is None or len(stats) < _TGID.size + 368:
            continue
        version = struct.unpack_from("=H", stats)[0]
        if version < MIN_VERSION:
            continue
        uid, _gid, pid, ppid, begin = _IDS.unpack_from(stats, 120)
        group = kind == TASKSTATS_TYPE_AGGR_TGID
        cpu = _cpu_us(stats, 0, group)
        if group:
            last = found[-1] if found else None
            found.append(Exit(ident, ident, last.uid if last else uid, 0, cpu, True, last.ppid if last else 0,
                              last.comm if last else ""))
        else:
            found.append(Exit(ident, _TGID.unpack_from(stats, 368)[0], uid, begin, cpu, False, ppid, _comm(stats, 0),
                              _IO.unpack_from(stats, 248), _DELAYS.unpack_from(stats, 24)))
    return found


def record_version(payload):
    """The struct version of the first record in one TASKSTATS_CMD_NEW message, or None."""
    for kind, nested in attributes(payload[_GENL.size:]):
        if kind in (TASKSTATS_TYPE_AGGR_PID, TASKSTATS_TYPE_AGGR_TGID):
            for inner, value in attributes(nested):
                if inner == TASKSTATS_TYPE_STATS and len(value) >= 2:
                    return struct.unpack_from("=H", value)[0]
    return None


class ExitListener:
    """
    :param limit: records kept between two drains at most (older ones are dropped and counted).
    """

    def __init__(self, limit=200000, cpus=None, receive_buffer=RECEIVE_BUFFER):
        self._receive_buffer = receive_buffer
        self.lost = 0
        self.received = 0
        self._limit = limit
        self._records = deque()
        self._lock = threading.Lock()
        self._receiving = threading.Lock()
        self._warned = float("-inf")
        self._seq = 0
        self._sock = self._open(cpus or os.cpu_count() or 1)

    def _open(self, cpus):
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        except (OSError, AttributeError) as err:
            raise Unavailable("no generic netlink socket (%s)" % (getattr(err, "strerror", None) or err))
        try:
            sock.bind((0, 0))
            try:
                sock.setsockopt(socket.SOL_SOCKET, 33, self._receive_buffer)  # SO_RCVBUFFORCE: past rmem_max
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._receive_buffer)
            sock.settimeout(5.0)
            family = self._family(sock)
            self._request(sock, family, TASKSTATS_CMD_GET,
                          _attr(TASKSTATS_CMD_ATTR_REGISTER_CPUMASK, ("0-%d\0" % (cpus - 1)).encode()))
            self._check(sock)
            sock.settimeout(None)
            return sock
        except Unavailable:
            sock.close()
            raise
        except OSError as err:
            sock.close()
            raise Unavailable("taskstats: %s" % (err.strerror or str(err)).lower())

    def _request(self, sock, family, command, attributes_):
        """Send one request and return the replies before its acknowledgement."""
        self._seq += 1
        sock.send(_message(family, command, attributes_, self._seq))
        replies = []
        while True:
            for kind, payload in messages(sock.recv(65536)):
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code:
                        reason = os.strerror(code).lower()
                        if code == errno.EPERM:
                            reason += " (exit records need CAP_NET_ADMIN: run the daemon as root)"
                        raise Unavailable("taskstats: %s" % reason)
                    return replies
                replies.append(payload)

    def _check(self, sock, timeout=2.0):
        """End a child at once and wait for its record: records must really arrive, and carry
        the thread group id (struct version 12, Linux 5.19), else SysMedic infers instead.
        Started during a fork storm, the buffer can overflow and drop the child's record: then
        any other record of the right version proves the same."""
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        deadline = time.monotonic() + timeout
        overflowed = False
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = sock.recv(65536)
            except socket.timeout:
                break
            except OSError as err:
                if err.errno != errno.ENOBUFS:
                    raise
                overflowed = True
                continue
            for kind, payload in messages(data):
                if kind == NLMSG_ERROR:
                    continue
                version = record_version(payload)
                if version is not None and version < MIN_VERSION:
                    raise Unavailable("taskstats version %d has no thread group id (needs Linux 5.19 or newer)"
                                      % version)
                self._keep(parse_exits(payload))
                if any(record.tid == pid for record in self._records) or (overflowed and self._records):
                    self._records.clear()
                    self.received = 0
                    return
        raise Unavailable("no exit record arrived within %gs" % timeout)

    def _family(self, sock):
        replies = self._request(sock, GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
                                _attr(CTRL_ATTR_FAMILY_NAME, b"TASKSTATS\0"))
        for payload in replies:
            for kind, value in attributes(payload[_GENL.size:]):
                if kind == CTRL_ATTR_FAMILY_ID:
                    return struct.unpack_from("=H", value)[0]
        raise Unavailable("the kernel has no TASKSTATS netlink family")

    def run(self, stop):
        """Receive until :meth:`close`. Idle, the thread blocks in ``poll`` (nothing to do
        while nothing exits); once a record comes it lets more gather for :data:`BATCH_DELAY`
        and reads them all without blocking: a fork storm then costs a few wake-ups a second,
        not one per exit."""
        poller = select.poll()
        poller.register(self._sock, select.POLLIN)
        while not stop.is_set():
            if any(events & select.POLLNVAL for _fd, events in poller.poll()):
                return  # closed
            stop.wait(BATCH_DELAY)
            try:
                self._read_pending()
            except OSError as err:
                if stop.is_set() or err.errno == errno.EBADF:
                    return
                raise

    def _read_pending(self):
        """Parse and keep every datagram the socket holds now, without blocking. The thread
        and :meth:`drain` both read through here, one at a time: what was received is kept
        before the other can look."""
        found = []
        with self._receiving:
            try:
                while True:
                    try:
                        data = self._sock.recv(65536, socket.MSG_DONTWAIT)
                    except BlockingIOError:
                        return
                    except OSError as err:
                        if err.errno != errno.ENOBUFS:
                            raise
                        self._overflowed()  # the kernel dropped records: say how often
                        continue
                    self._handle(data, found)
            finally:
                self._keep(found)  # once per batch: one lock, one extend

    def _handle(self, data, found):
        """Add the records of one datagram to ``found``: the usual one (a single task's record)
        in one unpack, anything else by the general path."""
        if len(data) >= _WHOLE.size:
            (size, kind, _f, _s, _p, _c, _v, _r, aggr_size, aggr, _ps, pid_kind, ident, _ss, stats_kind, version,
             cpu_delay, blkio_delay, swapin_delay, real, run, uid, _gid, _pid, ppid, begin, utime, stime,
             read, written, cancelled, tgid) = _WHOLE.unpack_from(data)
            if (kind != NLMSG_ERROR and len(data) - 3 <= size <= len(data) and aggr == TASKSTATS_TYPE_AGGR_PID
                    and pid_kind == TASKSTATS_TYPE_PID and stats_kind == TASKSTATS_TYPE_STATS
                    and version >= MIN_VERSION and _HEADER.size + _GENL.size + aggr_size >= size - 3):
                if ident == tgid:  # another thread's exit is in its process's /proc already
                    found.append(Exit(ident, tgid, uid, begin, run // 1000 if run else utime + stime, False, ppid,
                                      _comm(data, _HEADER.size + _STATS_AT), (read, written, cancelled),
                                      (cpu_delay, blkio_delay, swapin_delay)))
                return
        for kind, payload in messages(data):
            if kind != NLMSG_ERROR:
                found.extend(parse_exits(payload))

    def _keep(self, records):
        records = [r for r in records if r.group or r.tid == r.tgid]  # other threads: in /proc already
        if not records:
            return
        with self._lock:
            self.received += len(records)
            self._records.extend(records)
            while len(self._records) > self._limit:
                self._records.popleft()
                self.lost += 1

    def _overflowed(self):
        with self._lock:
            self.lost += 1
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY:
            self._warned = now
            log.warning("exit records lost: the kernel's socket buffer overflowed (%d times so far); "
                        "CPU of processes that ended then is not counted", self.lost)

    def drain(self):
        """Every record of a task that ended before this call and was not drained yet, oldest
        first. The kernel queues each record as the task exits, so what the socket holds is
        read here too: a sample must not miss the exits before its scan because the thread
        was still letting a batch gather (the next window would get them, over its busy time)."""
        try:
            self._read_pending()
        except OSError:
            if self._sock.fileno() != -1:
                raise
        with self._lock:
            records = list(self._records)
            self._records.clear()
        return records

    def close(self):
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
