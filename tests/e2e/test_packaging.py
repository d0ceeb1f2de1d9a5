"""Init scripts, systemd unit, .deb and pip install, each run for real against the zipapp."""

import configparser
import glob
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import urllib.request
import uuid

import pytest

from ..conftest import ROOT
from .harness import free_port, healthy, wait_for, world_readable_copy, write_config

PACKAGING = os.path.join(ROOT, "packaging")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="init scripts are run by root")


@pytest.fixture
def world(pyz):
    """A directory everyone can read holding the zipapp, and a home for the daemon."""
    place, daemon = world_readable_copy(pyz, "sysmedic")
    home = os.path.join(place, "home")
    port = free_port()
    write_config(home, {"monitoring": {"update_interval": 0.5}}, {"port": port, "host": "127.0.0.1"})
    yield {"dir": place, "daemon": daemon, "home": home, "port": port}
    subprocess.run([daemon, "daemon", "stop"], env=dict(os.environ, SYSMEDIC_HOME=home), capture_output=True)
    shutil.rmtree(place, ignore_errors=True)


def daemon_pid(home):
    with open(os.path.join(home, "sysmedic.pid")) as handle:
        return int(handle.read())


def proc_uid(pid):
    with open("/proc/%d/status" % pid) as handle:
        return [int(line.split()[1]) for line in handle if line.startswith("Uid:")][0]


# -- systemd ---------------------------------------------------------------------------------------

def unit():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(os.path.join(PACKAGING, "sysmedic.service"))
    return parser


def test_systemd_unit_is_valid_and_keeps_proc_readable(world, tmp_path):
    service = unit()["Service"]
    assert service["ExecStart"] == "/usr/bin/sysmedic daemon run"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID" and service["Restart"] == "on-failure"
    assert service["Environment"] == "SYSMEDIC_HOME=/var/lib/sysmedic" and service["StateDirectoryMode"] == "0700"
    assert "ProtectProc" not in service and "ProcSubset" not in service and "PrivatePIDs" not in service
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    if shutil.which("systemd-analyze"):
        with open(os.path.join(PACKAGING, "sysmedic.service")) as handle:
            text = handle.read().replace("/usr/bin/sysmedic", world["daemon"])
        copy = tmp_path / "sysmedic.service"
        copy.write_text(text)
        result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True)
        problems = [line for line in result.stderr.splitlines() if "sysmedic.service" in line]
        assert not problems, result.stderr


def test_systemd_command_lines_against_the_zipapp(world):
    """ExecStart as systemd runs it (Type=notify: READY=1 once serving, WATCHDOG=1 within
    WatchdogSec), ExecReload's SIGHUP reloads, stop's SIGTERM exits 0."""
    service = unit()["Service"]
    assert (service["Type"], service["NotifyAccess"]) == ("notify", "main")
    watchdog_usec = int(service["WatchdogSec"].rstrip("s")) * 10**6
    command = service["ExecStart"].replace("/usr/bin/sysmedic", world["daemon"]).split()
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(os.path.join(world["dir"], "notify"))
    notify.settimeout(30)
    env = dict(os.environ, SYSMEDIC_HOME=world["home"], NOTIFY_SOCKET=os.path.join(world["dir"], "notify"),
               WATCHDOG_USEC=str(watchdog_usec))
    output = os.path.join(world["dir"], "journal")  # what systemd would put in the journal
    with open(output, "wb") as journal:
        proc = subprocess.Popen(command, env=env, stdout=journal, stderr=subprocess.STDOUT)

    def journal_text():
        with open(output) as handle:
            return handle.read()
    try:
        assert notify.recv(4096).startswith(b"READY=1\nMAINPID=%d" % proc.pid)
        assert healthy(world["port"])
        notify.settimeout(watchdog_usec / 1e6)
        assert notify.recv(4096) == b"WATCHDOG=1"
        assert service["ExecReload"].split()[1] == "-HUP"
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in journal_text(), 10, what="reload")
        assert proc.poll() is None and healthy(world["port"])  # reloaded, not killed
        proc.send_signal(signal.SIGTERM)  # systemd's stop: KillSignal defaults to SIGTERM
        assert proc.wait(15) == 0
    finally:
        notify.close()
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in journal_text()


# -- SysV ------------------------------------------------------------------------------------------

@needs_root
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_sysv_init_script_actions_and_lsb_exit_codes(world, user):
    defaults = os.path.join(world["dir"], "defaults")
    with open(defaults, "w") as handle:
        handle.write("SYSMEDIC_DAEMON=%s\nSYSMEDIC_USER=%s\nSYSMEDIC_HOME=%s\n" % (
            world["daemon"], user, world["home"]))
    # An init script's PATH: the system's Python (a root-only one, like pyenv's under /root,
    # could not load the rest of its library once the daemon has become the service user).
    env = dict(os.environ, SYSMEDIC_DEFAULTS=defaults, PATH="/usr/sbin:/usr/bin:/sbin:/bin")
    script = os.path.join(PACKAGING, "sysmedic.init")
    if user != "root":  # installed, the home is the service user's (the .deb makes it so)
        for path in [world["home"]] + [os.path.join(world["home"], n) for n in os.listdir(world["home"])]:
            shutil.chown(path, user)

    def action(name):
        return subprocess.run(["sh", script, name], env=env, capture_output=True, text=True, timeout=60)
    assert action("status").returncode == 3
    assert action("reload").returncode == 7
    started = action("start")
    assert started.returncode == 0, started.stderr
    assert healthy(world["port"]) and action("status").returncode == 0
    pid = daemon_pid(world["home"])
    assert "sysmedic://" not in started.stdout and "secret=" not in started.stdout, started.stdout  # issue 22
    assert "started (pid %d)" % pid in started.stdout
    assert proc_uid(pid) == (0 if user == "root" else 65534)
    with urllib.request.urlopen("http://127.0.0.1:%d/health" % world["port"], timeout=5) as answer:
        # issue 22: as the service user counting stays exact (issue 24: the daemon opens the
        # exit records as root, then becomes the user: no capability kept, no setpriv)
        assert json.load(answer)["accounting"]["method"] == "exit-records"
    assert action("start").returncode == 0 and daemon_pid(world["home"]) == pid  # already running
    assert action("reload").returncode == 0
    wait_for(lambda: "configuration reloaded" in open(os.path.join(world["home"], "sysmedic.log")).read(), 10)
    assert action("restart").returncode == 0 and daemon_pid(world["home"]) != pid
    assert action("stop").returncode == 0 and action("status").returncode == 3
    assert action("stop").returncode == 0  # stopping a stopped service succeeds (LSB)
    assert action("bogus").returncode == 2
    assert stat.S_IMODE(os.stat(world["home"]).st_mode) == 0o700


# What the SysV script may use on a busybox-only system: these applets, none of ps, pidof,
# start-stop-daemon or setpriv (busybox's has no --reuid: issue 24).
APPLETS = ("sh", "id", "mkdir", "chmod", "chown", "cat", "echo", "kill", "test", "[")


@needs_root
@pytest.mark.skipif(not shutil.which("busybox"), reason="busybox is not installed (make test installs it)")
def test_sysv_init_script_under_busybox_alone(world, tmp_path):
    """Every action with busybox's sh and applets as the only userland, the zipapp's own preamble
    run by busybox's sh too, and a stale and a foreign pid file."""
    applets = tmp_path / "bin"
    applets.mkdir()
    for name in APPLETS:
        os.symlink(shutil.which("busybox"), str(applets / name))
    os.symlink("/usr/bin/python3", str(applets / "python3"))
    busybox_daemon = os.path.join(world["dir"], "sysmedic-bb")
    with open(world["daemon"], "rb") as source, open(busybox_daemon, "wb") as copy:
        assert source.readline() == b"#!/bin/sh\n"
        copy.write(b"#!%s\n" % str(applets / "sh").encode() + source.read())
    os.chmod(busybox_daemon, 0o755)
    os.chmod(str(tmp_path), 0o755)
    defaults = os.path.join(world["dir"], "defaults")
    with open(defaults, "w") as handle:
        handle.write("SYSMEDIC_DAEMON=%s\nSYSMEDIC_USER=nobody\nSYSMEDIC_HOME=%s\n" % (busybox_daemon, world["home"]))
    for path in [world["home"]] + [os.path.join(world["home"], n) for n in os.listdir(world["home"])]:
        shutil.chown(path, "nobody")
    env = {"PATH": str(applets), "SYSMEDIC_DEFAULTS": defaults}
    script = os.path.join(PACKAGING, "sysmedic.init")

    def action(name):
        return subprocess.run([str(applets / "sh"), script, name], env=env, capture_output=True, text=True,
                              timeout=60)
    pid_file = os.path.join(world["home"], "sysmedic.pid")
    stale = subprocess.Popen(["true"])
    stale.wait()
    foreign = subprocess.Popen(["sleep", "120"])
    try:
        for left_behind in (stale.pid, foreign.pid):  # a crash's file; a pid reused by another program
            with open(pid_file, "w") as handle:
                handle.write("%d\n" % left_behind)
            shutil.chown(pid_file, "nobody")  # as the service's own daemon left it
            assert action("status").returncode == 3
            assert action("reload").returncode == 7 and foreign.poll() is None  # nothing signalled
            assert action("stop").returncode == 0 and foreign.poll() is None
        started = action("start")
        assert started.returncode == 0, started.stdout + started.stderr
        assert healthy(world["port"]) and action("status").returncode == 0
        pid = daemon_pid(world["home"])
        assert proc_uid(pid) == 65534 and foreign.poll() is None
        with urllib.request.urlopen("http://127.0.0.1:%d/health" % world["port"], timeout=5) as answer:
            assert json.load(answer)["accounting"]["method"] == "exit-records"
        assert action("start").returncode == 0 and daemon_pid(world["home"]) == pid
        assert action("reload").returncode == 0
        wait_for(lambda: "configuration reloaded" in open(os.path.join(world["home"], "sysmedic.log")).read(), 10)
        assert action("restart").returncode == 0 and daemon_pid(world["home"]) != pid
        assert action("stop").returncode == 0 and action("status").returncode == 3
        assert action("stop").returncode == 0 and action("bogus").returncode == 2
        assert "setpriv" not in open(os.path.join(world["home"], "sysmedic.log")).read()
        assert {os.stat(os.path.join(world["home"], n)).st_uid for n in os.listdir(world["home"])} == {65534}
    finally:
        foreign.kill()
        foreign.wait()


@needs_root
def test_sysv_start_reports_the_daemons_error(world):
    defaults = os.path.join(world["dir"], "defaults")
    with open(defaults, "w") as handle:
        handle.write("SYSMEDIC_DAEMON=%s\nSYSMEDIC_USER=root\nSYSMEDIC_HOME=%s\n" % (world["daemon"], world["home"]))
    with open(os.path.join(world["home"], "config.json"), "w") as handle:
        handle.write('{"monitoring": {"cpu_threshold": 500}}')
    result = subprocess.run(["sh", os.path.join(PACKAGING, "sysmedic.init"), "start"], capture_output=True,
                            text=True, env=dict(os.environ, SYSMEDIC_DEFAULTS=defaults), timeout=60)
    assert result.returncode == 1 and "cpu_threshold: 500 is out of range 1-100" in result.stderr


# -- OpenRC ----------------------------------------------------------------------------------------

@needs_root
@pytest.mark.skipif(not shutil.which("openrc-run"), reason="openrc is not installed (make test installs it)")
def test_openrc_script_actions(world):
    name = "sysmedic-test-%s" % uuid.uuid4().hex[:8]
    for sub in ("init.d", "conf.d"):  # openrc-run reads ../conf.d/NAME beside the script's init.d
        os.mkdir(os.path.join(world["dir"], sub))
    service = os.path.join(world["dir"], "init.d", name)
    shutil.copy(os.path.join(PACKAGING, "sysmedic.openrc"), service)
    os.chmod(service, 0o755)
    with open(os.path.join(world["dir"], "conf.d", name), "w") as handle:
        handle.write('SYSMEDIC_DAEMON="%s"\nSYSMEDIC_USER=nobody\nSYSMEDIC_HOME="%s"\n' % (
            world["daemon"], world["home"]))
    softlevel = "/run/openrc/softlevel"
    made_softlevel = not os.path.exists(softlevel)
    if made_softlevel:  # openrc-run refuses to work on a system it did not boot without it
        os.makedirs("/run/openrc", exist_ok=True)
        open(softlevel, "w").close()
    try:
        def action(verb):
            return subprocess.run([service, verb], capture_output=True, text=True, timeout=60)
        started = action("start")
        assert started.returncode == 0, started.stdout + started.stderr
        assert healthy(world["port"]) and action("status").returncode == 0
        assert proc_uid(daemon_pid(world["home"])) == 65534
        assert action("reload").returncode == 0
        assert action("stop").returncode == 0 and not healthy(world["port"])
        assert action("status").returncode == 3
    finally:
        subprocess.run([service, "zap"], capture_output=True)
        if made_softlevel:
            os.unlink(softlevel)
        for group in glob.glob("/sys/fs/cgroup/*/%s" % name) + glob.glob("/sys/fs/cgroup/%s" % name):
            try:  # openrc-run makes a cgroup per service and leaves it behind
                os.rmdir(group)
            except OSError:
                pass


# -- .deb and pip ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def deb(pyz, tmp_path_factory):
    if not shutil.which("dpkg-deb"):
        pytest.skip("dpkg-deb is not installed")
    out = tmp_path_factory.mktemp("deb")
    paths = []
    for sub in ("a", "b"):
        result = subprocess.run([sys.executable, os.path.join(PACKAGING, "build_deb.py"), pyz, str(out / sub)],
                                check=True, capture_output=True, text=True, timeout=120)
        paths.append(os.path.join(ROOT, result.stdout.strip()) if not os.path.isabs(result.stdout.strip())
                     else result.stdout.strip())
    with open(paths[0], "rb") as a, open(paths[1], "rb") as b:
        assert a.read() == b.read(), "two .deb builds differ"
    return paths[0]


def test_deb_contents_and_metadata(deb):
    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True).stdout
    entries = {line.split()[-1]: line.split()[0] for line in listing.splitlines()}
    assert entries["./usr/bin/sysmedic"] == "-rwxr-xr-x"
    assert entries["./lib/systemd/system/sysmedic.service"] == "-rw-r--r--"
    assert entries["./etc/init.d/sysmedic"] == "-rwxr-xr-x"
    assert "./usr/share/sysmedic/openrc/sysmedic" in entries and "./etc/default/sysmedic" in entries
    assert all("root/root" in line for line in listing.splitlines())
    info = subprocess.run(["dpkg-deb", "-I", deb], capture_output=True, text=True, check=True).stdout
    assert " Depends: python3 (>= 3.8)\n" in info and " Recommends: python3-psutil\n" in info
    assert " Architecture: all\n" in info and "postinst" in info and "postrm" in info
    assert subprocess.run(["dpkg-deb", "-f", deb, "Package"], capture_output=True, text=True).stdout == "sysmedic\n"
    conffiles = subprocess.run(["dpkg-deb", "-I", deb, "conffiles"], capture_output=True, text=True).stdout
    assert conffiles.split() == ["/etc/init.d/sysmedic", "/etc/default/sysmedic"]  # kept on remove


@needs_root
def test_deb_install_remove_keeps_config_purge_deletes_it(deb, tmp_path):
    root = tmp_path / "root"
    for sub in ("info", "updates", "triggers"):
        (root / "var/lib/dpkg" / sub).mkdir(parents=True)
    for name in ("status", "available"):
        (root / "var/lib/dpkg" / name).write_text("")
    dpkg = ["dpkg", "--root=%s" % root, "--force-script-chrootless", "--force-depends", "--log=/dev/null"]
    assert subprocess.run(dpkg + ["-i", deb], capture_output=True).returncode == 0
    home = root / "var/lib/sysmedic"
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    version = subprocess.run([sys.executable, str(root / "usr/bin/sysmedic"), "--version"], capture_output=True,
                             text=True)
    assert version.stdout.startswith("sysmedic ")
    (home / "config.json").write_text(json.dumps({"monitoring": {"cpu_threshold": 90}}))
    assert subprocess.run(dpkg + ["-r", "sysmedic"], capture_output=True).returncode == 0
    assert not (root / "usr/bin/sysmedic").exists()
    assert (home / "config.json").exists() and (root / "etc/init.d/sysmedic").exists()
    assert subprocess.run(dpkg + ["-P", "sysmedic"], capture_output=True).returncode == 0
    assert not home.exists() and not (root / "etc/init.d/sysmedic").exists()


def test_pip_install_gives_the_sysmedic_command(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    result = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                             ROOT], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    out = subprocess.run([str(venv / "bin/sysmedic"), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("sysmedic ")
    env = dict(os.environ, SYSMEDIC_HOME=str(tmp_path / "home"))
    env.pop("PYTHONPATH", None)
    shown = subprocess.run([str(venv / "bin/sysmedic"), "config", "show"], capture_output=True, text=True,
                           env=env, cwd=str(tmp_path))
    assert shown.returncode == 0 and "monitoring.cpu_threshold" in shown.stdout
    reports = subprocess.run([str(venv / "bin/sysmedic"), "alerts", "resolve", "--all"], env=env,
                             capture_output=True, text=True, cwd=str(tmp_path))
    assert "no alerts yet" in reports.stderr  # the package data (schema) is not needed for this
    schema = subprocess.run([str(venv / "bin/python"), "-c",
                             "from sysmedic.resources import read_text; print(read_text('sysmedic.storage', "
                             "'schema_v1.sql')[:40])"], capture_output=True, text=True, cwd=str(tmp_path))
    assert "schema version 1" in schema.stdout


@needs_root
@pytest.mark.parametrize("caps, method", [("+net_admin", "exit-records"), ("", "reaped-children")])
def test_an_unprivileged_daemon_with_cap_net_admin_alone_counts_exactly(tmp_path, caps, method):
    """Issue 22, item 12: the packaged service ran unprivileged and silently used the inexact
    accounting. The unit gives it CAP_NET_ADMIN, the narrowest that exit records need (measured
    here: as nobody with that one capability, exit records are on); without it, /health and
    `daemon status` say what is estimated."""
    import json
    import urllib.request
    from .harness import SYSMEDIC, free_port, wait_for, write_config
    import tempfile
    place = tempfile.mkdtemp(prefix="sysmedic-caps-")  # pytest's own are root's 0700: nobody cannot enter
    os.chmod(place, 0o755)
    home = os.path.join(place, "home")
    port = free_port()
    write_config(home, None, {"port": port, "host": "127.0.0.1", "enabled": True})
    for path in [home] + [os.path.join(home, name) for name in os.listdir(home)]:
        os.chown(path, 65534, 65534)
    become = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    if caps:
        become += ["--inh-caps=%s" % caps, "--ambient-caps=%s" % caps]
    env = dict(os.environ, SYSMEDIC_HOME=home, PYTHONPATH=ROOT)
    proc = subprocess.Popen(become + SYSMEDIC + ["daemon", "run"], env=env, cwd="/", stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        def health():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=2) as answer:
                    return json.load(answer)
            except OSError:
                return None
        body = wait_for(lambda: proc.poll() is not None or ((health() or {}).get("accounting") and health()), 30,
                        interval=0.2, what="/health")
        assert proc.poll() is None, proc.stderr.read().decode()
        assert body["accounting"]["method"] == method, body
        inferred = [w for w in body["warnings"] if "inferred from reaped children" in w]
        assert bool(inferred) == (method != "exit-records"), body["warnings"]
        assert any("other users' memory is estimated" in w for w in body["warnings"])
        status = subprocess.run(become + SYSMEDIC + ["daemon", "status"], env=env, cwd="/", capture_output=True,
                                text=True, timeout=30)
        assert status.returncode == 0 and ("Warning: per-user CPU is inferred" in status.stdout) == bool(inferred)
    finally:
        proc.terminate()
        proc.wait(20)
        shutil.rmtree(place, ignore_errors=True)


def test_the_unit_gives_exactly_cap_net_admin_and_netlink():
    with open(os.path.join(PACKAGING, "sysmedic.service")) as handle:
        unit = handle.read()
    assert "\nAmbientCapabilities=CAP_NET_ADMIN\n" in unit and "\nCapabilityBoundingSet=CAP_NET_ADMIN\n" in unit
    assert "AF_NETLINK" in unit.split("RestrictAddressFamilies=")[1].split("\n")[0]


@needs_root
def test_daemon_user_option_says_in_one_line_what_is_wrong(world):
    """`--user` (issue 24): an unknown user, and a caller that is not root asking for another."""
    env = dict(os.environ, SYSMEDIC_HOME=world["home"], PATH="/usr/bin:/bin")
    for argv in (["daemon", "start", "--user=no-such-user-here"], ["daemon", "run", "--user=no-such-user-here"]):
        result = subprocess.run([world["daemon"]] + argv, env=env, capture_output=True, text=True, timeout=30)
        assert (result.returncode, result.stderr) == (2, "sysmedic: --user=no-such-user-here: no such user\n")
    become = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    result = subprocess.run(become + [world["daemon"], "daemon", "start", "--user=root"], capture_output=True,
                            env=dict(env, SYSMEDIC_HOME=os.path.join(world["dir"], "new-home")), text=True, timeout=30)
    assert (result.returncode, result.stderr) == (2, "sysmedic: --user=root needs root (this is nobody)\n")
    assert not os.path.exists(os.path.join(world["home"], "sysmedic.pid"))
