"""Build dist/sysmedic_<version>_all.deb with dpkg-deb (`make deb`).

Usage: python packaging/build_deb.py PYZ [OUTPUT_DIR]

Contents: the zipapp as /usr/bin/sysmedic, the systemd unit, the SysV init script
(/etc/init.d/sysmedic), /etc/default/sysmedic, the OpenRC script as an example under
/usr/share/sysmedic/openrc, and the docs. Depends on python3 only; recommends python3-psutil.
Files get a fixed mtime (SOURCE_DATE_EPOCH) and root ownership, so builds are reproducible.
"""

import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(ROOT, "packaging")
EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "1700000000"))

CONTROL = """Package: sysmedic
Version: {version}
Architecture: all
Maintainer: SysMedic developers <sysmedic@localhost>
Installed-Size: {size}
Depends: python3 (>= 3.8)
Recommends: python3-psutil
Section: admin
Priority: optional
Description: lightweight Linux monitoring daemon with per-user accounting
 SysMedic samples CPU, memory, disk, load, network and uptime, and per-user CPU, memory
 and process counts straight from /proc, finds users with sustained high usage,
 classifies the machine (Light Usage, Medium Usage, Heavy Load), keeps alerts in
 SQLite, e-mails them, and serves a secret-protected WebSocket API.
"""

CONFFILES = "/etc/init.d/sysmedic\n/etc/default/sysmedic\n"


def version():
    with open(os.path.join(ROOT, "sysmedic", "__init__.py")) as handle:
        return re.search(r'^__version__ = "([^"]+)"', handle.read(), re.M).group(1)


def place(stage, source, target, mode):
    path = os.path.join(stage, target.lstrip("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    shutil.copyfile(source, path)
    os.chmod(path, mode)


def write(stage, target, text, mode=0o644):
    path = os.path.join(stage, target.lstrip("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)


def main(argv):
    pyz = argv[1]
    out_dir = argv[2] if len(argv) > 2 else os.path.join(ROOT, "dist")
    ver = version()
    stage = tempfile.mkdtemp(prefix="sysmedic-deb-")
    try:
        place(stage, pyz, "/usr/bin/sysmedic", 0o755)
        place(stage, os.path.join(HERE, "sysmedic.service"), "/lib/systemd/system/sysmedic.service", 0o644)
        place(stage, os.path.join(HERE, "sysmedic.init"), "/etc/init.d/sysmedic", 0o755)
        place(stage, os.path.join(HERE, "sysmedic.default"), "/etc/default/sysmedic", 0o644)
        place(stage, os.path.join(HERE, "sysmedic.openrc"), "/usr/share/sysmedic/openrc/sysmedic", 0o755)
        place(stage, os.path.join(ROOT, "README.md"), "/usr/share/doc/sysmedic/README.md", 0o644)
        write(stage, "/usr/share/doc/sysmedic/copyright",
              "SysMedic\nCopyright: the SysMedic developers\nLicense: MIT\n")
        changelog = "sysmedic (%s) stable; urgency=medium\n\n  * Release %s.\n\n -- SysMedic developers " \
                    "<sysmedic@localhost>  Tue, 14 Nov 2023 22:13:20 +0000\n" % (ver, ver)
        path = os.path.join(stage, "usr/share/doc/sysmedic/changelog.Debian.gz")
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=EPOCH, filename="") as gz:
            gz.write(changelog.encode())
        os.chmod(path, 0o644)
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(stage) for f in fs) // 1024 + 1
        write(stage, "/DEBIAN/control", CONTROL.format(version=ver, size=size))
        write(stage, "/DEBIAN/conffiles", CONFFILES)
        for script in ("postinst", "prerm", "postrm"):
            place(stage, os.path.join(HERE, "deb", script), "/DEBIAN/" + script, 0o755)
        for directory, subdirs, files in os.walk(stage):
            for name in subdirs + files:
                os.utime(os.path.join(directory, name), (EPOCH, EPOCH), follow_symlinks=False)
            os.chmod(directory, 0o755)
        os.makedirs(out_dir, exist_ok=True)
        output = os.path.join(out_dir, "sysmedic_%s_all.deb" % ver)
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH))
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", stage, output], check=True, env=env,
                       stdout=subprocess.DEVNULL)
    finally:
        shutil.rmtree(stage)
    print(os.path.relpath(output, ROOT))


if __name__ == "__main__":
    main(sys.argv)
