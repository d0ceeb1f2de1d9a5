"""A throw-away certificate authority for the TLS tests, made with the openssl command.

:func:`make_pki` writes, in a directory: ``ca.pem`` (the CA), ``server.pem``/``server.key``
(localhost and 127.0.0.1, valid for a day), ``renewed.pem``/``renewed.key`` (the same names, a
new key and serial), ``expired.pem``/``expired.key`` (valid for one day in 2020) and
``other.key`` (a key that matches none of them). Keys are 0600.
"""

import os
import shutil
import subprocess

CONFIG = """[ca]
default_ca = test
[test]
dir = {dir}
database = {dir}/index.txt
serial = {dir}/serial
new_certs_dir = {dir}
default_md = sha256
policy = anything
copy_extensions = none
unique_subject = no
x509_extensions = server
[anything]
commonName = supplied
[server]
subjectAltName = DNS:localhost,IP:127.0.0.1
basicConstraints = CA:FALSE
keyUsage = digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
"""


def available():
    return shutil.which("openssl") is not None


def _run(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True, timeout=60)


def _key(name, cwd):
    _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name, cwd=cwd)
    os.chmod(os.path.join(cwd, name), 0o600)


def _sign(name, cwd, start=None, end=None, days=1):
    _key(name + ".key", cwd)
    _run("req", "-new", "-key", name + ".key", "-subj", "/CN=localhost", "-out", name + ".csr", cwd=cwd)
    dates = ["-startdate", start, "-enddate", end] if start else ["-days", str(days)]
    _run("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", name + ".csr",
         "-out", name + ".pem", "-notext", *dates, cwd=cwd)


def make_pki(directory):
    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "ca.cnf"), "w") as handle:
        handle.write(CONFIG.format(dir=directory))
    open(os.path.join(directory, "index.txt"), "w").close()
    with open(os.path.join(directory, "serial"), "w") as handle:
        handle.write("1000\n")
    _key("ca.key", directory)
    _run("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=SysMedic test CA", "-days", "2",
         "-out", "ca.pem", cwd=directory)
    _sign("server", directory)
    _sign("renewed", directory)
    _sign("expired", directory, start="20200101000000Z", end="20200102000000Z")
    _key("other.key", directory)
    return directory
