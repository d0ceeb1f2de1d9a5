"""Native TLS (issue 11): the daemon serves HTTPS and WSS with a certificate from a throw-away
CA; the Python and Node example clients and headless Chromium (trusting the CA) speak the
protocol over it; untrusted clients, plain HTTP and silent clients are turned away cleanly; a
new certificate is served after SIGHUP while an old client keeps its stream; bad files are one
line at start and at reload."""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import warnings

import pytest

from ..conftest import ROOT
from .harness import Client, cli, wait_for
from .pki import available, make_pki
from .test_browser_and_node import CHROMIUM, NODE_MODULES, check_page, needs_browser, needs_node

pytestmark = pytest.mark.skipif(not available(), reason="the openssl command makes the test CA (make test installs it)")
PYTHON_CLIENT = os.path.join(ROOT, "examples", "websocket_client.py")
NODE_CLIENT = os.path.join(ROOT, "examples", "websocket_client.js")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def install(home, pki, name):
    """Copy ``name``.pem and ``name``.key into ``home`` as the served cert.pem and key.pem."""
    os.makedirs(home, mode=0o700, exist_ok=True)
    for suffix, target in ((".pem", "cert.pem"), (".key", "key.pem")):
        shutil.copy(os.path.join(pki, name + suffix), os.path.join(home, target + ".new"))
        os.chmod(os.path.join(home, target + ".new"), 0o600)
        os.replace(os.path.join(home, target + ".new"), os.path.join(home, target))


def trusting(pki):
    return ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))


@pytest.fixture
def tls_daemon(make_daemon, pki, tmp_path):
    def make(config=None, websocket=None):
        home = str(tmp_path / ("tls%d" % len(os.listdir(str(tmp_path)))))
        install(home, pki, "server")
        settings = {"tls_cert_file": "cert.pem", "tls_key_file": "key.pem"}
        settings.update(websocket or {})
        daemon = make_daemon(start=False, home=home, websocket=settings,
                             **({"config": config} if config is not None else {}))
        daemon.context = trusting(pki)
        return daemon.start()
    return make


def served_serial(port):
    """The serial number of the certificate a new connection to ``port`` is given."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw) as sock:
            der = sock.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=der,
                         capture_output=True, check=True, timeout=30).stdout.decode()
    return out.strip().split("=")[1]


def pem_serial(path):
    out = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-serial"], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return out.strip().split("=")[1]


def test_status_shows_tls_and_the_urls_say_so(tls_daemon):
    daemon = tls_daemon()
    status = daemon.control("status")
    assert status["tls"] is True
    assert status["url"].startswith("sysmedics://%s@" % status["secret"])
    assert status["ws_url"].startswith("wss://")
    out = cli(daemon.home, "websocket", "status", check=True).stdout
    assert "(TLS)" in out and "URL:            sysmedics://" in out
    assert "with TLS" in daemon.log()
    assert daemon.health()["status"] == "healthy"  # over https, trusting the CA


def test_python_example_over_wss_and_an_untrusted_ca_fails_clearly(tls_daemon, pki):
    daemon = tls_daemon()
    url = "sysmedics://%s@localhost:%d/" % (daemon.secret, daemon.port)
    ok = subprocess.run([sys.executable, PYTHON_CLIENT, url, "--cafile", os.path.join(pki, "ca.pem"),
                         "-c", "ping", "-c", "info"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("Connected to SysMedic") and "pong" in ok.stdout
    untrusted = subprocess.run([sys.executable, PYTHON_CLIENT, url, "-c", "ping"], capture_output=True, text=True,
                               timeout=60)
    assert untrusted.returncode == 4
    assert untrusted.stderr.count("\n") == 1 and "certificate is not trusted" in untrusted.stderr
    assert "--cafile" in untrusted.stderr
    wait_for(lambda: "TLSV1_ALERT_UNKNOWN_CA" in daemon.log(), 10, what="the refused handshake in the log")
    assert "Traceback" not in daemon.log()


@needs_node
def test_node_example_over_wss_and_an_untrusted_ca_fails_clearly(tls_daemon, pki):
    daemon = tls_daemon()
    env = dict(os.environ, NODE_PATH=NODE_MODULES)
    url = "sysmedics://%s@localhost:%d/" % (daemon.secret, daemon.port)
    ok = subprocess.run(["node", NODE_CLIENT, url, "--cafile", os.path.join(pki, "ca.pem"), "-c", "ping", "-c", "users"],
                        capture_output=True, text=True, timeout=60, env=env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("Connected to SysMedic") and "user_metrics_response:" in ok.stdout
    untrusted = subprocess.run(["node", NODE_CLIENT, url, "-c", "ping"], capture_output=True, text=True, timeout=60,
                               env=env)
    assert untrusted.returncode == 4 and "certificate is not trusted" in untrusted.stderr


@needs_browser
def test_chromium_trusting_the_ca_uses_the_page_over_https(tls_daemon, pki, tmp_path):
    """The page from the daemon over https, connected with the sysmedics:// URL; the CA is
    trusted the way a Linux desktop does it (the user's NSS database), not by ignoring errors."""
    if not shutil.which("certutil"):
        pytest.skip("certutil (libnss3-tools; make test installs it) puts the CA in Chromium's NSS database")
    daemon = tls_daemon()
    home = tmp_path / "browser-home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", "sql:%s" % nssdb, "--empty-password"], check=True, timeout=60)
    subprocess.run(["certutil", "-A", "-d", "sql:%s" % nssdb, "-t", "C,,", "-n", "SysMedic test CA",
                    "-i", os.path.join(pki, "ca.pem")], check=True, timeout=60)
    shot = str(tmp_path / "browser-tls.png")
    page = "https://localhost:%d/" % daemon.port
    url = "sysmedics://%s@localhost:%d/" % (daemon.secret, daemon.port)
    result = subprocess.run(["node", os.path.join(ROOT, "tests", "node", "browser_client.js"), page, url, shot],
                            capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, NODE_PATH=NODE_MODULES, CHROMIUM=CHROMIUM, HOME=str(home)))
    assert result.returncode == 0, result.stderr
    check_page(json.loads(result.stdout.strip().splitlines()[-1]))


def test_plain_http_to_the_tls_port_is_told_without_a_traceback(tls_daemon):
    daemon = tls_daemon()
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ") and b"serves HTTPS" in answer
    wait_for(lambda: "plain HTTP on the TLS port" in daemon.log(), 10, what="the log line")
    assert "Traceback" not in daemon.log()


def test_a_silent_client_is_dropped_within_the_header_deadline(tls_daemon):
    """TCP opened, no ClientHello: the header deadline (1 s here) covers the handshake."""
    daemon = tls_daemon(websocket={"header_timeout": 1})
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=15) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""  # closed by the daemon
        waited = time.monotonic() - started
    assert waited < 6, waited
    wait_for(lambda: "TLS handshake not finished in time" in daemon.log(), 10, what="the log line")


def test_tls_1_1_is_refused(tls_daemon):
    """A client offering at most TLS 1.1 (allowed on our side by security level 0) is refused
    by the daemon, which logs why."""
    daemon = tls_daemon()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            context.minimum_version = ssl.TLSVersion.TLSv1_1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        except (ValueError, ssl.SSLError):
            pytest.skip("this OpenSSL cannot offer TLS 1.1")
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            with context.wrap_socket(raw):
                pass
    line = wait_for(lambda: re.search(r"TLS handshake failed: \S+", daemon.log()), 10, what="the refusal in the log")
    assert "PROTOCOL" in line.group(0) or "VERSION" in line.group(0), line.group(0)


def test_sighup_serves_a_new_certificate_while_an_old_client_keeps_its_stream(tls_daemon, pki):
    daemon = tls_daemon()
    ca = os.path.join(pki, "ca.pem")
    assert served_serial(daemon.port) == pem_serial(os.path.join(pki, "server.pem"))
    old = Client(daemon.ws_url(), cafile=ca)
    old.next("welcome")
    install(daemon.home, pki, "renewed")
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "TLS certificate loaded for new connections" in daemon.log(), 10, what="the reload")
    assert served_serial(daemon.port) == pem_serial(os.path.join(pki, "renewed.pem"))
    old.next("system_update")  # the old stream goes on
    assert old.ask("ping") == {"message": "pong"}
    new = Client(daemon.ws_url(), cafile=ca)
    new.next("welcome")
    # A broken pair on `websocket start`: one line, and the listener keeps the renewed certificate.
    shutil.copy(os.path.join(pki, "other.key"), os.path.join(daemon.home, "key.pem"))
    result = cli(daemon.home, "websocket", "start")
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "does not match the certificate" in result.stderr, result.stderr
    assert served_serial(daemon.port) == pem_serial(os.path.join(pki, "renewed.pem"))
    old.next("system_update")
    new.next("system_update")
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload failed, keeping the running configuration: tls_key_file" in daemon.log(), 10,
             what="the failed reload's line")
    old.next("system_update")
    assert "Traceback" not in daemon.log()


@pytest.mark.parametrize("name, websocket, message", [
    ("expired", {}, r"tls_cert_file .*cert\.pem: the certificate expired on 2020-01-02"),
    ("mismatched", {}, r"tls_key_file .*key\.pem does not match the certificate in .*cert\.pem"),
    ("missing", {"tls_key_file": "absent.pem"}, r"tls_key_file .*absent\.pem: No such file or directory"),
    ("half", {"tls_key_file": ""}, r"websocket\.json: tls_key_file: needed too"),
])
def test_a_bad_certificate_or_key_is_one_line_at_start(make_daemon, pki, tmp_path, name, websocket, message):
    home = str(tmp_path / name)
    install(home, pki, "expired" if name == "expired" else "server")
    if name == "mismatched":
        shutil.copy(os.path.join(pki, "other.key"), os.path.join(home, "key.pem"))
    settings = {"tls_cert_file": "cert.pem", "tls_key_file": "key.pem"}
    settings.update(websocket)
    daemon = make_daemon(start=False, home=home, websocket=settings)
    result = cli(home, "daemon", "run", timeout=60)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("sysmedic: ")]
    assert len(lines) == 1 and re.search(message, lines[0]), result.stderr
    assert not os.path.exists(os.path.join(home, "sysmedic.db"))  # failed before storing anything
    del daemon


def test_a_client_that_ends_its_tls_while_updates_flow_leaves_no_traceback(tls_daemon, pki):
    """close_notify from the client (its end of the stream), then nothing: the daemon goes on
    writing updates to it for a moment; the tunnel ends the connection quietly."""
    daemon = tls_daemon()
    context = trusting(pki)
    raw = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    sock = context.wrap_socket(raw, server_hostname="localhost")
    sock.sendall(("GET /ws?secret=%s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                  % daemon.secret).encode())
    assert sock.recv(4096).startswith(b"HTTP/1.1 101")
    try:
        sock.unwrap()  # our close_notify; the daemon's updates keep coming for a moment
    except (ssl.SSLError, OSError):
        pass
    raw.close()
    wait_for(lambda: daemon.control("status")["clients"] == 0, 20, what="the client gone")
    assert "Traceback" not in daemon.log() and "TLS tunnel failed" not in daemon.log()
