"""A home that others can write to, or that holds planted symbolic links, is never trusted
(issue 13, High 2 and Medium 3). Root is the caller that matters: it may administer the
service's home (owned by the service user), and a link planted there must not turn into a
write as root."""

import os
import pwd
import shutil
import stat
import subprocess
import tempfile

import pytest

from .harness import SYSMEDIC, ROOT, write_config

needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                                reason="needs root (to own a home as another user) and setpriv")
NOBODY = pwd.getpwnam("nobody")


@pytest.fixture
def place():
    """A directory every user can reach (pytest's own temp directories are 0700, root's)."""
    path = tempfile.mkdtemp(prefix="sysmedic-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path)


def run(home, *args, user=None):
    env = dict(os.environ, SYSMEDIC_HOME=home, PYTHONPATH=ROOT)
    become = ["setpriv", "--reuid=%s" % user, "--regid=nogroup", "--clear-groups"] if user else []
    return subprocess.run(become + SYSMEDIC + list(args), env=env, capture_output=True, text=True, timeout=60,
                          cwd="/")


def victim(tmp_path, name):
    """A root-owned 0644 file outside the home, and its content and mode to compare later."""
    path = tmp_path / name
    path.write_text("precious\n")
    os.chmod(path, 0o644)
    return path


def unchanged(path):
    return path.read_text() == "precious\n" and stat.S_IMODE(path.stat().st_mode) == 0o644


@needs_root
@pytest.mark.parametrize("planted", ["sysmedic.pid", "sysmedic.log", "config.json"])
def test_root_never_writes_through_a_link_planted_in_a_home_it_does_not_own(tmp_path, planted):
    """With sysmedic.pid -> a root file, `daemon run --log-file` as root truncated it, set it to
    0600 and wrote the pid into it; sysmedic.log appended through a link."""
    home = tmp_path / "home"
    write_config(str(home), None, {"port": 1, "host": "127.0.0.1", "enabled": False})
    target = victim(tmp_path, "target")
    if planted == "config.json":
        (home / planted).unlink()
    os.symlink(str(target), str(home / planted))
    for path in [home] + list(home.iterdir()):
        os.lchown(str(path), NOBODY.pw_uid, NOBODY.pw_gid)  # nobody's home, nobody's link
    result = run(str(home), "daemon", "run", "--log-file")
    assert result.returncode == 1
    assert result.stderr == "sysmedic: %s: is a symbolic link; refusing to follow it\n" % (home / planted)
    assert unchanged(target) and os.path.islink(str(home / planted))


@needs_root
def test_a_home_writable_by_others_is_refused(tmp_path):
    home = tmp_path / "home"
    write_config(str(home))
    os.chmod(str(home), 0o777)
    for args in (["config", "show"], ["daemon", "run"], ["config", "set", "cpu_threshold", "90"]):
        result = run(str(home), *args)
        assert result.returncode == 1 and result.stdout == "", args
        assert result.stderr == ("sysmedic: %s: writable by other users (mode 0777), who could plant files in "
                                 "it; refusing to use it (chmod 700 %s)\n" % (home, home)), args
    assert stat.S_IMODE(home.stat().st_mode) == 0o777  # refused, not silently "fixed"


@needs_root
def test_a_user_cannot_use_a_home_owned_by_someone_else(place):
    home = os.path.join(place, "home")
    write_config(home)
    os.chmod(home, 0o755)  # root's, readable by all, writable by root only
    result = run(home, "config", "show", user="nobody")
    assert result.returncode == 1
    assert result.stderr == "sysmedic: %s: owned by root, not by you (nobody); refusing to use it\n" % home


@needs_root
def test_root_writes_into_the_service_home_keep_the_service_users_ownership(place):
    """Medium 3: `sudo SYSMEDIC_HOME=/var/lib/sysmedic sysmedic config set ...` left root:root
    0600 files the service user could not read; its next start failed."""
    import pathlib
    home = pathlib.Path(place) / "home"
    home.mkdir(mode=0o700)
    os.chown(str(home), NOBODY.pw_uid, NOBODY.pw_gid)
    assert run(str(home), "config", "set", "cpu_threshold", "90").returncode == 0
    assert run(str(home), "websocket", "start", "18061").returncode == 0
    for name in ("config.json", "websocket.json"):
        info = (home / name).stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (NOBODY.pw_uid, NOBODY.pw_gid, 0o600)
    shown = run(str(home), "config", "show", user="nobody")  # the service user reads them
    assert shown.returncode == 0 and "monitoring.cpu_threshold" in shown.stdout


@needs_root
@pytest.mark.parametrize("where", ["home", "parent"])
def test_a_home_another_user_cannot_read_is_permission_denied_not_stopped(place, where):
    """Issue 13, Low 13: `daemon status` said "stopped" (exit 3; LSB says 4 when it cannot tell),
    `daemon stop` "not running" (exit 0) and `alerts` "No alerts."."""
    parent = os.path.join(place, "closed")
    os.mkdir(parent, 0o700 if where == "parent" else 0o755)
    home = os.path.join(parent, "home")
    write_config(home, None, {"port": 1, "host": "127.0.0.1", "enabled": False})
    os.chmod(home, 0o700)
    for args, status in ((("daemon", "status"), 4), (("daemon", "stop"), 1), (("alerts",), 1)):
        result = run(home, *args, user="nobody")
        assert result.returncode == status and result.stdout == "", (args, result)
        assert result.stderr.startswith("sysmedic: %s: permission denied" % home) and result.stderr.count("\n") == 1


@needs_root
def test_a_root_daemon_in_another_users_home_leaves_every_file_theirs(place):
    """Issue 21: run as root for nobody's home, the daemon left its database (and -wal/-shm),
    log and pid file root's; nobody's own daemon then could not start, nor `alerts` read."""
    from .harness import free_port
    home = os.path.join(place, "home")
    write_config(home, None, {"port": free_port(), "host": "127.0.0.1", "enabled": True})
    for path in [home] + [os.path.join(home, name) for name in os.listdir(home)]:
        os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)
    try:
        started = run(home, "daemon", "start")
        assert started.returncode == 0, started.stderr
        assert run(home, "daemon", "stop").returncode == 0
        files = sorted(os.listdir(home))
        assert {"sysmedic.db", "sysmedic.log"} <= set(files), files
        for name in files:
            info = os.lstat(os.path.join(home, name))
            assert (info.st_uid, info.st_gid) == (NOBODY.pw_uid, NOBODY.pw_gid), (name, info.st_uid)
        assert run(home, "alerts", user="nobody").returncode == 0
        opened = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3",
                                 "-c", "import os, sys\nfor name in os.listdir(sys.argv[1]):\n"
                                 "    path = os.path.join(sys.argv[1], name)\n"
                                 "    os.path.isfile(path) and open(path, 'r+b').close()", home],
                                capture_output=True, text=True, timeout=30)
        assert opened.returncode == 0, opened.stderr  # the owner's own daemon can open each of them
    finally:
        run(home, "daemon", "stop")


@needs_root
def test_a_root_daemon_reads_the_tls_files_a_home_names_with_its_owners_rights(place):
    """Issue 21: nobody's home could name root's private key (tls_key_file: any path, links
    followed), and a reload error even said what was in a root-only file."""
    from . import pki
    if not pki.available():
        pytest.skip("needs openssl")
    from .harness import free_port
    keys = pki.make_pki(os.path.join(place, "pki"))
    home = os.path.join(place, "home")
    write_config(home, None, {"port": free_port(), "host": "127.0.0.1", "enabled": True,
                              "tls_cert_file": "cert.pem", "tls_key_file": "key.pem"})
    shutil.copy(os.path.join(keys, "server.pem"), os.path.join(home, "cert.pem"))
    os.symlink(os.path.join(keys, "server.key"), os.path.join(home, "key.pem"))  # root's key, 0600
    for path in [home] + [os.path.join(home, name) for name in os.listdir(home)]:
        os.lchown(path, NOBODY.pw_uid, NOBODY.pw_gid)
    result = run(home, "daemon", "run")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "tls_key_file %s: Permission denied" % os.path.join(home, "key.pem") in result.stderr, result.stderr
    os.unlink(os.path.join(home, "key.pem"))
    os.symlink("/etc/shadow", os.path.join(home, "cert.pem.probe"))
    os.replace(os.path.join(home, "cert.pem.probe"), os.path.join(home, "cert.pem"))
    result = run(home, "daemon", "run")
    assert "tls_cert_file %s: Permission denied" % os.path.join(home, "cert.pem") in result.stderr, result.stderr
    assert "no PEM certificate" not in result.stderr
