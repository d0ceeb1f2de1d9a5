"""Issue 25's building block against the real kernel: an exit record carries the task's own
storage I/O. `dd` with O_DIRECT writes, then reads, 8 MiB that go to the disk for certain (no
page cache in between): its record must say 8 MiB written, then 8 MiB read (and no more than
a few blocks of the file system's own)."""

import os
import subprocess
import tempfile
import threading

import pytest

from .harness import wait_for

MIB = 1 << 20


def listener():
    from sysmedic.collect.exits import ExitListener, Unavailable
    try:
        return ExitListener()
    except Unavailable as err:
        pytest.skip("no exit records here: %s" % err)


@pytest.mark.skipif(os.geteuid() != 0, reason="exit records need root (CAP_NET_ADMIN)")
def test_a_direct_writer_and_reader_have_their_bytes_in_their_exit_records():
    exits = listener()
    stop = threading.Event()
    thread = threading.Thread(target=exits.run, args=(stop,), daemon=True)
    thread.start()
    place = tempfile.mkdtemp(prefix="sysmedic-io-", dir="/var/tmp")
    path = os.path.join(place, "data")
    seen, records = [], []
    try:
        for argv in (["dd", "if=/dev/zero", "of=" + path, "bs=1M", "count=8", "oflag=direct"],
                     ["dd", "if=" + path, "of=/dev/null", "bs=1M", "iflag=direct"]):
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            _, errors = proc.communicate(timeout=60)
            if proc.returncode != 0 and b"Invalid argument" in errors:
                pytest.skip("this file system has no O_DIRECT")
            assert proc.returncode == 0, errors

            def its_record(pid=proc.pid):
                seen.extend(exits.drain())
                return next((r for r in seen if r.tid == pid), None)
            records.append(wait_for(its_record, 10, what="%s's exit record" % argv[0]))
        write, read = records
        # What dd moved, and at most a few blocks of the file system's own (measured: 8 KB more
        # written, the new file's inode and extent)
        assert 8 * MIB <= write.io[1] <= 8 * MIB + 64 * 1024 and write.io[0] < MIB, write.io
        assert 8 * MIB <= read.io[0] <= 8 * MIB + 64 * 1024 and read.io[1] < MIB, read.io
        print("dd's records: written %r, read %r (read, write, cancelled bytes)" % (write.io, read.io))
    finally:
        stop.set()
        exits.close()
        for name in os.listdir(place):
            os.unlink(os.path.join(place, name))
        os.rmdir(place)
