"""Loading a certificate and key (sysmedic.server.tls.load_context): every failure is one line
naming the file; validity dates are read from the certificate itself."""

import os
import shutil
import subprocess
import time

import pytest

from sysmedic.server.tls import TLSError, certificate_validity, load_context

from ..e2e.pki import available, make_pki

pytestmark = pytest.mark.skipif(not available(), reason="the openssl command makes the test CA")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def path(pki, name):
    return os.path.join(pki, name)


def openssl_dates(pem):
    out = subprocess.run(["openssl", "x509", "-in", pem, "-noout", "-startdate", "-enddate"], capture_output=True,
                         text=True, check=True).stdout
    dates = dict(line.split("=", 1) for line in out.splitlines())
    return tuple(time.mktime(time.strptime(dates[k].replace(" GMT", ""), "%b %d %H:%M:%S %Y")) - time.timezone
                 for k in ("notBefore", "notAfter"))


@pytest.mark.parametrize("name", ["server.pem", "expired.pem", "ca.pem"])
def test_validity_matches_openssl(pki, name):
    with open(path(pki, name), "rb") as handle:
        assert certificate_validity(handle.read()) == openssl_dates(path(pki, name))


def test_a_good_pair_loads_and_refuses_tls_1_1(pki):
    import ssl
    context = load_context(path(pki, "server.pem"), path(pki, "server.key"))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_dates_are_checked_against_the_clock(pki):
    not_before, not_after = certificate_validity(open(path(pki, "server.pem"), "rb").read())
    with pytest.raises(TLSError, match="expired on"):
        load_context(path(pki, "server.pem"), path(pki, "server.key"), now=not_after + 1)
    with pytest.raises(TLSError, match="not valid before"):
        load_context(path(pki, "server.pem"), path(pki, "server.key"), now=not_before - 1)


def test_an_encrypted_key_is_refused_without_asking_for_a_password(pki, tmp_path):
    locked = str(tmp_path / "locked.key")
    subprocess.run(["openssl", "pkey", "-in", path(pki, "server.key"), "-aes256", "-passout", "pass:x", "-out",
                    locked], check=True, stdin=subprocess.DEVNULL)
    os.chmod(locked, 0o600)
    with pytest.raises(TLSError, match="the key is encrypted"):
        load_context(path(pki, "server.pem"), locked)


def test_a_world_readable_key_or_a_file_that_is_not_pem(pki, tmp_path):
    shared = str(tmp_path / "shared.key")
    shutil.copy(path(pki, "server.key"), shared)
    os.chmod(shared, 0o644)
    with pytest.raises(TLSError, match="everyone may read it"):
        load_context(path(pki, "server.pem"), shared)
    with pytest.raises(TLSError, match="no PEM certificate in it"):
        load_context(path(pki, "server.key"), path(pki, "server.key"))
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    with pytest.raises(TLSError, match="cannot be read"):
        load_context(str(garbage), path(pki, "server.key"))
