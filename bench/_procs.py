"""Helpers for the benchmarks: grow the process table to a target size, then clean up."""

import os
import signal
import subprocess
import time


def process_count():
    return sum(1 for name in os.listdir("/proc") if name.isdigit())


class ExtraProcesses:
    """Context manager: start ``sleep`` processes until the machine has about ``target``."""

    def __init__(self, target):
        self.target = target
        self.children = []

    def __enter__(self):
        missing = self.target - process_count()
        for _ in range(max(0, missing)):
            self.children.append(subprocess.Popen(["sleep", "3600"], stdin=subprocess.DEVNULL,
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 30
        while process_count() < self.target - 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        for child in self.children:
            child.send_signal(signal.SIGKILL)
        for child in self.children:
            child.wait()
