"""dist/sysmedic.pyz: one reproducible file that runs the daemon on every Python 3.8+ installed."""

import glob
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys

import pytest

from ..conftest import ROOT
from .harness import answered_client, free_port, healthy, wait_for, world_readable_copy, write_config

BUILD = os.path.join(ROOT, "packaging", "build_zipapp.py")


def pythons():
    """Every pyenv Python 3.8+ installed (the CI machine has 3.8-3.13), else this one."""
    found = {}
    for path in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3"))):
        match = re.search(r"/3\.(\d+)\.", path)
        if match and int(match.group(1)) >= 8:
            found["3.%s" % match.group(1)] = path
    return found or {"%d.%d" % sys.version_info[:2]: sys.executable}


def test_two_builds_are_byte_identical(pyz, tmp_path):
    again = str(tmp_path / "again.pyz")
    subprocess.run([sys.executable, BUILD, again], check=True, capture_output=True, cwd=ROOT, timeout=300)
    with open(pyz, "rb") as first, open(again, "rb") as second:
        assert first.read() == second.read(), "two builds of the same tree differ"


def test_one_small_executable_file_without_compiled_modules(pyz):
    import zipfile
    with open(pyz, "rb") as handle:
        assert handle.readline() == b"#!/bin/sh\n"  # the preamble that finds a Python (issue 24)
    assert os.stat(pyz).st_mode & stat.S_IXUSR and os.path.getsize(pyz) < 300 * 1024
    names = zipfile.ZipFile(pyz).namelist()
    assert names == sorted(names) and "__main__.py" in names
    assert {"sysmedic/storage/schema_v1.sql", "wsproto/__init__.py", "h11/__init__.py", "docopt/__init__.py",
            "simple_websocket/__init__.py"} <= set(names)
    assert not [n for n in names if n.endswith((".so", ".pyc")) or n.startswith("psutil")]
    assert {info.date_time for info in zipfile.ZipFile(pyz).infolist()} == {(1980, 1, 1, 0, 0, 0)}
    stored = {info.filename for info in zipfile.ZipFile(pyz).infolist() if info.compress_type == zipfile.ZIP_STORED}
    assert stored == {"__main__.py", "sysmedic/__init__.py", "sysmedic/needs.py"}  # readable without zlib
    assert not [n for n in names if ".dist-info/" in n and "LICENSE" not in n]  # the licences only


def test_run_directly_it_finds_the_newest_python3_x_when_there_is_no_python3(pyz, tmp_path):
    """issue 24: an appliance with only python3.14 got `env: 'python3': No such file or directory`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    this = "python%d.%d" % sys.version_info[:2]
    os.symlink(sys.executable, str(bin_dir / this))
    newer = "python3.%d" % (sys.version_info[1] + 1)
    os.symlink("/bin/false", str(bin_dir / newer))  # newer, there, but does not start: skipped
    env = dict(os.environ, PATH=str(bin_dir), SYSMEDIC_HOME=str(tmp_path / "home"))
    env.pop("SYSMEDIC_PYTHON", None)
    result = subprocess.run([pyz, "--version"], env=env, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "") and result.stdout.startswith("sysmedic ")
    os.symlink(sys.executable, str(bin_dir / "python3"))  # a python3 is taken first, as before
    result = subprocess.run([pyz, "config", "get", "cpu_threshold"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.strip().isdigit(), result.stderr
    for name in (this, "python3"):
        os.unlink(str(bin_dir / name))
    result = subprocess.run([pyz, "--version"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 127 and result.stderr == (
        "sysmedic: no python3 on PATH (Python 3.8 or newer; or set SYSMEDIC_PYTHON)\n")
    result = subprocess.run([pyz, "--version"], env=dict(env, SYSMEDIC_PYTHON=sys.executable),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("sysmedic ")


def test_package_never_reads_files_through___file__():
    import ast
    for directory, _, files in os.walk(os.path.join(ROOT, "sysmedic")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(directory, name)) as handle:
                    tree = ast.parse(handle.read())
                used = [node for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id == "__file__"]
                assert not used, name


def run_daemon(python, pyz, home, port, env_extra=None, preexec=None):
    write_config(home, {"monitoring": {"update_interval": 0.2}}, {"port": port, "host": "127.0.0.1"})
    env = dict(os.environ, SYSMEDIC_HOME=home)
    env.pop("PYTHONPATH", None)
    env.update(env_extra or {})
    return subprocess.Popen([python, pyz, "daemon", "run"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, cwd="/", preexec_fn=preexec)


def round_trip(port, secret):
    answered_client(port, secret).close()


@pytest.mark.parametrize("version", sorted(pythons()))
def test_daemon_from_the_zipapp_on_each_python(pyz, tmp_path, version):
    python = pythons()[version]
    out = subprocess.run([python, pyz, "--version"], capture_output=True, text=True, timeout=30)
    from sysmedic import __version__
    assert out.stdout == "sysmedic %s\n" % __version__
    home, port = str(tmp_path / "home"), free_port()
    proc = run_daemon(python, pyz, home, port)
    try:
        wait_for(lambda: proc.poll() is None and healthy(port), 20, what="health on Python %s" % version)
        from sysmedic.daemon import control
        round_trip(port, control.call(home, "status")["secret"])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        output = proc.stdout.read().decode()
    assert "Traceback" not in output and "Warning" not in output, output


def test_daemon_start_and_stop_from_the_zipapp(pyz, tmp_path):
    home = str(tmp_path / "home")
    write_config(home, {"monitoring": {"update_interval": 0.2}}, {"port": free_port(), "host": "127.0.0.1"})
    env = dict(os.environ, SYSMEDIC_HOME=home)
    env.pop("PYTHONPATH", None)
    run = lambda *args: subprocess.run([sys.executable, pyz] + list(args), env=env, cwd="/",  # noqa: E731
                                       capture_output=True, text=True, timeout=60)
    started = run("daemon", "start")
    assert started.returncode == 0 and "sysmedic://" in started.stdout, started.stderr
    try:
        assert run("daemon", "status").returncode == 0
        assert "Connection:     listening" in run("websocket", "status").stdout
    finally:
        assert run("daemon", "stop").returncode == 0
    assert run("daemon", "status").returncode == 3


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv") or not os.path.exists("/usr/bin/python3"),
                    reason="needs root (to become nobody), setpriv and a system python3")
def test_unprivileged_user_with_unwritable_home(pyz):
    """As nobody, HOME unwritable, SYSMEDIC_HOME set: the system python3 runs the copied file."""
    place, copy = world_readable_copy(pyz, "sysmedic.pyz")
    try:
        home = os.path.join(place, "state")
        port = free_port()
        write_config(home)  # quiet thresholds only: the home is nobody's, as on a real host
        for path in (home, os.path.join(home, "config.json")):
            shutil.chown(path, "nobody", "nogroup")
        os.chmod(os.path.join(home, "config.json"), 0o600)
        env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
        become = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        version = subprocess.run(become + ["/usr/bin/python3", copy, "--version"], env=env, capture_output=True,
                                 text=True, timeout=30)
        assert version.returncode == 0 and version.stdout.startswith("sysmedic ")
        env["SYSMEDIC_HOME"] = home
        setup = subprocess.run(become + ["/usr/bin/python3", copy, "websocket", "start", str(port)], env=env,
                               capture_output=True, text=True, timeout=30)
        assert setup.returncode == 0, setup.stderr
        proc = subprocess.Popen(become + ["/usr/bin/python3", copy, "daemon", "run"], env=env, cwd="/",
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: proc.poll() is None and healthy(port), 20, what="health as nobody")
            status = subprocess.run(become + ["/usr/bin/python3", copy, "websocket", "status"], env=env,
                                    capture_output=True, text=True, timeout=30)
            url = [line.split()[-1] for line in status.stdout.splitlines() if line.startswith("URL:")][0]
            round_trip(port, url[len("sysmedic://"):].split("@")[0])
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        for name in os.listdir(home):
            info = os.stat(os.path.join(home, name))
            assert info.st_uid != 0 and stat.S_IMODE(info.st_mode) == 0o600, name
    finally:
        shutil.rmtree(place)


def old_pythons():
    """Every pyenv Python below 3.8 installed here (2.7, 3.6 and 3.7 on these machines)."""
    found = {}
    for path in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/[23].*/bin/python"))):
        match = re.search(r"/versions/(\d+)\.(\d+)\.(\d+)/", path)
        if match and (int(match.group(1)), int(match.group(2))) < (3, 8):
            found[".".join(match.groups())] = path
    return found


@pytest.mark.skipif(not old_pythons(), reason="no pyenv Python below 3.8 installed")
@pytest.mark.parametrize("argv", [["--version"], ["daemon", "run"], ["bogus"], []])
def test_python_below_3_8_gets_one_line_whatever_the_command(pyz, tmp_path, argv):
    """Issue 8, defect 7: the zipapp printed --version, then died in docopt with a SyntaxError."""
    checkout = [os.path.join(ROOT, "bin", "sysmedic")]
    for version, python in old_pythons().items():
        for entry, cwd in (([pyz], ROOT), (checkout, ROOT), (["-m", "sysmedic"], ROOT)):
            result = subprocess.run([python] + entry + argv, capture_output=True, text=True, timeout=30, cwd=cwd,
                                    env=dict(os.environ, SYSMEDIC_HOME=str(tmp_path / "home"), PYTHONPATH=ROOT))
            assert (result.returncode, result.stdout, result.stderr) == (
                1, "", "sysmedic needs Python 3.8 or newer; this is %s\n" % version), (python, entry)
    assert not os.path.exists(str(tmp_path / "home"))


def test_the_docs_name_the_size_the_build_has(pyz):
    """Issue 22, item 18: README said ~155 KB for a 270 KB build, and BENCHMARKS' table was that
    build's. Both must stay within 10% of what `make zipapp` builds now."""
    size = os.path.getsize(pyz)
    with open(os.path.join(ROOT, "README.md")) as handle:
        readme = re.search(r"dist/sysmedic\.pyz \(~(\d+) KB", handle.read())
    with open(os.path.join(ROOT, "BENCHMARKS.md")) as handle:
        bench = re.search(r"`dist/sysmedic\.pyz` built by `make zipapp`: \*\*(\d+) KB\*\* \(([\d,]+) bytes",
                          handle.read())
    assert readme and bench, "README or BENCHMARKS no longer says the zipapp's size"
    for said in (int(readme.group(1)) * 1000, int(bench.group(1)) * 1000, int(bench.group(2).replace(",", ""))):
        assert abs(said - size) <= 0.1 * size, (said, size)


def test_every_document_the_code_and_docs_name_exists():
    """Issue 22, item 18: server/protocol.py cited docs/protocol-extensions.md, which never existed."""
    named = set()
    for top in ("sysmedic", "docs", "bench", "packaging"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if name.endswith((".py", ".md", ".html", ".sql")):
                    with open(os.path.join(folder, name), encoding="utf-8") as handle:
                        named.update(re.findall(r"docs/[A-Za-z0-9_.-]+\.md", handle.read()))
    for name in ("README.md", "BENCHMARKS.md"):
        with open(os.path.join(ROOT, name), encoding="utf-8") as handle:
            named.update(re.findall(r"docs/[A-Za-z0-9_.-]+\.md", handle.read()))
    assert named and not [path for path in named if not os.path.exists(os.path.join(ROOT, path))], named


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv") or not os.path.exists("/usr/bin/python3"),
                    reason="needs root (to become a uid without a passwd entry), setpriv and a system python3")
def test_a_uid_without_passwd_entry_or_home_is_refused_in_one_line_or_uses_sysmedic_home(pyz):
    """issue 24: with HOME unset and no passwd entry the CLI made a directory named `~` in the
    current one, while the daemon it started used `/~/.sysmedic`: two homes."""
    import pwd
    uid = next(n for n in range(47000, 48000) if not _has_entry(pwd, n))
    place, copy = world_readable_copy(pyz, "sysmedic.pyz")
    try:
        work = os.path.join(place, "cwd")
        os.mkdir(work)
        os.chown(work, uid, uid)
        become = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups"]
        env = {"PATH": "/usr/bin:/bin"}
        for argv in (["config", "show"], ["daemon", "start"], ["daemon", "status"]):
            result = subprocess.run(become + ["/usr/bin/python3", copy] + argv, env=env, cwd=work,
                                    capture_output=True, text=True, timeout=30)
            assert result.returncode in (1, 4) and result.stderr == (
                "sysmedic: no home directory: $HOME is not set and uid %d has no passwd entry; set SYSMEDIC_HOME "
                "(or HOME) to an absolute path\n" % uid), (argv, result.stderr)
        assert os.listdir(work) == [] and not os.path.exists("/~")
        home = os.path.join(work, "home")
        result = subprocess.run(become + ["/usr/bin/python3", copy, "config", "get", "cpu_threshold"],
                                env=dict(env, SYSMEDIC_HOME="home"), cwd=work, capture_output=True, text=True,
                                timeout=30)
        assert result.returncode == 0 and result.stdout.strip().isdigit(), result.stderr
        assert not os.path.exists(home) or stat.S_IMODE(os.stat(home).st_mode) == 0o700
    finally:
        shutil.rmtree(place)


def _has_entry(pwd, uid):
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False
