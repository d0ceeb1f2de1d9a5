"""dist/sysmedic.pyz: file size, and `--version` start time per installed Python.

Builds the zipapp, then for every pyenv Python 3.8+ times, interleaved, REPEATS runs each of
``python -c pass`` (the interpreter's own start, the baseline) and ``python sysmedic.pyz
--version``; prints medians in milliseconds and the difference.
"""

import glob
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYZ = os.path.join(ROOT, "dist", "sysmedic.pyz")
REPEATS = int(os.environ.get("BENCH_REPEATS", "21"))


def elapsed(command):
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - started) * 1000


def main():
    subprocess.run([sys.executable, os.path.join(ROOT, "packaging", "build_zipapp.py"), PYZ], check=True,
                   stdout=subprocess.DEVNULL)
    before = os.environ.get("BENCH_BEFORE")  # another checkout: its zipapp measured in the same runs
    old = None
    if before:
        old = os.path.join(os.path.dirname(PYZ), "sysmedic-before.pyz")
        subprocess.run([sys.executable, os.path.join(before, "packaging", "build_zipapp.py"), old], check=True,
                       stdout=subprocess.DEVNULL, cwd=before)
        print("# before (%s): %d bytes (%.0f KB)" % (before, os.path.getsize(old), os.path.getsize(old) / 1024))
    print("# dist/sysmedic.pyz: %d bytes (%.0f KB); `--version` median of %d runs%s" % (
        os.path.getsize(PYZ), os.path.getsize(PYZ) / 1024, REPEATS, ", interleaved with the before build" if old else ""))
    print()
    print("| Python | `python -c pass` ms | `sysmedic.pyz --version` ms | SysMedic's own ms |%s" % (
        " before: `--version` ms | own ms |" if old else ""))
    print("|---|---:|---:|---:|%s" % ("---:|---:|" if old else ""))
    for path in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")),
                       key=lambda p: int(re.search(r"/3\.(\d+)\.", p).group(1))):
        version = re.search(r"/(3\.\d+\.\d+)/", path).group(1)
        if int(version.split(".")[1]) < 8:
            continue
        bare, pyz, older = [], [], []
        for _ in range(REPEATS):
            bare.append(elapsed([path, "-c", "pass"]))
            pyz.append(elapsed([path, PYZ, "--version"]))
            if old:
                older.append(elapsed([path, old, "--version"]))
        base = statistics.median(bare)
        row = "| %s | %.1f | %.1f | %.1f |" % (version, base, statistics.median(pyz), statistics.median(pyz) - base)
        if old:
            row += " %.1f | %.1f |" % (statistics.median(older), statistics.median(older) - base)
        print(row)


if __name__ == "__main__":
    main()
