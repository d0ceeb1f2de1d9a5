"""What showing one hostile command line costs, per output (issue 21): a process whose argument
is a long run of word characters after a ``scheme:``-like start (the shape that made the old
URL-password regular expression quadratic), at 10,000, 40,000 and 128 KiB characters.

For each: the wire form (``command_line``: cut, masked, escaped) and each output's own
escaping of it (terminal by display width, chat, Prometheus label, log), CPU time per call
(median of RUNS). BENCH_BEFORE=/path/to/an/older/checkout also times that checkout's
``processes.command_line`` on the same input (once each: it took seconds).
"""

import importlib.util
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sysmedic import untrusted  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "50"))
SIZES = (10000, 40000, 128 * 1024)


def cost(function, *args, runs=RUNS):
    times = []
    for _ in range(runs):
        started = time.process_time()
        function(*args)
        times.append(time.process_time() - started)
    return statistics.median(times)


def raw_of(size):
    return b"bash\0-c\0a:" + b"w" * (size - 2) + b"\0"


def old_command_line(checkout):
    path = os.path.join(checkout, "sysmedic", "processes.py")
    spec = importlib.util.spec_from_file_location("old_processes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.command_line


def main():
    before = os.environ.get("BENCH_BEFORE")
    old = old_command_line(before) if before else None
    print("%-10s %12s %12s %12s %12s %12s %14s" % ("argument", "wire", "terminal", "chat", "label", "log",
                                                    "before (wire)"))
    for size in SIZES:
        raw = raw_of(size)
        shown = untrusted.command_line(raw, "bash")
        row = [cost(untrusted.command_line, raw, "bash"), cost(untrusted.terminal, shown, 80),
               cost(untrusted.chat, untrusted.program(shown)), cost(untrusted.label, shown),
               cost(untrusted.log_text, shown)]
        then = ""
        if old is not None:
            started = time.process_time()
            old(raw, "bash")
            then = "%.3f s" % (time.process_time() - started)
        print("%-10s %s %14s" % ("%d chars" % size, " ".join("%9.1f us" % (value * 1e6) for value in row), then),
              flush=True)


if __name__ == "__main__":
    main()
