"""Build dist/sysmedic.pyz: SysMedic and its pure-Python dependencies in one executable file.

Usage: python packaging/build_zipapp.py [OUTPUT]   (run from the repository root; `make zipapp`)

Reproducible: the same commit gives the same bytes. Entries are sorted, every timestamp is
1980-01-01, modes are fixed, and the dependencies are pinned in zipapp-requirements.txt.
psutil is a C extension and a zipapp cannot import those: the /proc collector serves Linux
without it, and the build fails if any compiled module slips in.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIREMENTS = os.path.join(ROOT, "packaging", "zipapp-requirements.txt")
# A shell preamble before the zip (Python reads a zip from its end): the file runs with
# $SYSMEDIC_PYTHON, else python3, else the newest python3.X that starts (an appliance may
# have only python3.14). Python itself skips it when called as `python3 sysmedic.pyz`.
PREAMBLE = b"""#!/bin/sh
# SysMedic: a Python zipapp. Run by $SYSMEDIC_PYTHON, else python3, else the newest python3.X.
[ -n "$SYSMEDIC_PYTHON" ] && exec "$SYSMEDIC_PYTHON" "$0" "$@"
command -v python3 >/dev/null 2>&1 && exec python3 "$0" "$@"
for v in 20 19 18 17 16 15 14 13 12 11 10 9 8; do
  python3.$v -c "" >/dev/null 2>&1 && exec python3.$v "$0" "$@"
done
echo "sysmedic: no python3 on PATH (Python 3.8 or newer; or set SYSMEDIC_PYTHON)" >&2
exit 127
"""
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
# Parseable by Python 2.7 and 3.6: an old interpreter gets one line, not a SyntaxError. It and
# the modules it imports before the CLI are STORED, not deflated, so a Python without zlib
# reads them and says so in one line (issue 24: it could not even read the entry point).
MAIN = b'''"""SysMedic zipapp entry point."""
import sys

import sysmedic

sysmedic.require_supported_python()

from sysmedic import needs

needs.require(("zlib",), "to read the rest of this zipapp, which is compressed")

from sysmedic.cli import main

sys.exit(main())
'''
STORED = {"__main__.py", "sysmedic/__init__.py", "sysmedic/needs.py"}
SKIP_DIRS = {"__pycache__", "bin"}
# Of the dependencies' *.dist-info only their licences are kept: nothing reads the rest
# (pip's bookkeeping and the long description), and it was 15 KB of the 300 KB budget.
KEPT_INFO = ("LICENSE", "licenses/")
COMPILED = (".so", ".pyd", ".dylib")


def stage_dependencies(target):
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "--no-compile", "--only-binary=:all:", "--target", target, "-r", REQUIREMENTS],
                   check=True)


def entries(base, prefix=""):
    """(archive name, file path) for every file below ``base``, skipping caches."""
    found = []
    for directory, subdirs, files in os.walk(base):
        subdirs[:] = [d for d in subdirs if d not in SKIP_DIRS]
        for name in files:
            if name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, base).replace(os.sep, "/")
            if ".dist-info/" in relative and not relative.split(".dist-info/", 1)[1].startswith(KEPT_INFO):
                continue
            if name.endswith(COMPILED):
                raise SystemExit("refusing to bundle a compiled module: %s" % path)
            found.append((prefix + relative, path))
    return found


def write_archive(output, files):
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    partial = output + ".partial"
    with open(partial, "wb") as handle:
        handle.write(PREAMBLE)
        with zipfile.ZipFile(handle, "w") as archive:
            for name, data in sorted(files.items()):
                info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
                info.compress_type = zipfile.ZIP_STORED if name in STORED else zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                info.create_system = 3  # Unix, whatever the build host
                archive.writestr(info, data, compresslevel=9)
    os.chmod(partial, 0o755)
    os.replace(partial, output)


def main(argv):
    output = argv[1] if len(argv) > 1 else os.path.join(ROOT, "dist", "sysmedic.pyz")
    staging = tempfile.mkdtemp(prefix="sysmedic-zipapp-")
    try:
        stage_dependencies(staging)
        files = {}
        for name, path in entries(staging) + entries(os.path.join(ROOT, "sysmedic"), "sysmedic/"):
            with open(path, "rb") as handle:
                files[name] = handle.read()
        files["__main__.py"] = MAIN
        write_archive(output, files)
    finally:
        shutil.rmtree(staging)
    print("%s: %d files, %d bytes" % (os.path.relpath(output, ROOT), len(files), os.path.getsize(output)))


if __name__ == "__main__":
    main(sys.argv)
