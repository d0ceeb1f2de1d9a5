"""The real daemon (``sysmedic daemon run``) with one injected fault, for the supervision tests.

A thread that dies of a bug, or a sample that never returns, cannot be provoked from outside a
healthy daemon; this driver patches exactly one method and runs everything else as shipped.

Usage: python tests/e2e/fault_daemon.py (broadcaster-dies | sampler-hangs | slow-listener)
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from sysmedic.cli import main  # noqa: E402
from sysmedic.collect import Collector  # noqa: E402
from sysmedic.daemon.listeners import Listeners  # noqa: E402
from sysmedic.server.clients import Broadcaster  # noqa: E402


def broadcaster_dies(self, stop):
    raise RuntimeError("injected fault: the broadcaster loop crashed")


def hang_after(samples):
    real = Collector.sample
    calls = []

    def sample(self):
        calls.append(None)
        if len(calls) > samples:
            threading.Event().wait()  # never returns, like a read stuck in the kernel
        return real(self)
    return sample


def slow_serve(real):
    def serve(self, listener):
        time.sleep(1.0)  # a busy host: the listener thread gets going late
        return real(self, listener)
    return serve


if __name__ == "__main__":
    fault = sys.argv[1]
    if fault == "broadcaster-dies":
        Broadcaster.run = broadcaster_dies
    elif fault == "sampler-hangs":
        Collector.sample = hang_after(4)
    elif fault == "slow-listener":
        Listeners.serve = slow_serve(Listeners.serve)
    else:
        sys.exit("unknown fault %r" % fault)
    sys.exit(main(["daemon", "run"]))
