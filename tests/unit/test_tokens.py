"""The secret and its compare without hmac, hashlib or secrets (issue 9: they load OpenSSL)."""

import hmac
import subprocess
import sys

from sysmedic.server.tokens import equal, new_token

from ..conftest import ROOT


def test_the_compare_is_cpythons_constant_time_one_and_agrees_with_hmac():
    import _operator
    assert equal is _operator._compare_digest  # hmac.compare_digest's own fallback (3.8: itself)
    for a, b in ((b"abc", b"abc"), (b"abc", b"abd"), (b"abc", b"ab"), (b"", b""), (b"\xff" * 40, b"\xff" * 40)):
        assert equal(a, b) == hmac.compare_digest(a, b) == (a == b)


def test_new_tokens_are_128_random_bits_in_hex():
    tokens = {new_token(16) for _ in range(1000)}
    assert len(tokens) == 1000 and all(len(t) == 32 and int(t, 16) >= 0 for t in tokens)


def test_importing_the_daemon_loads_neither_openssl_nor_email():
    code = ("import sys, sysmedic.cli, sysmedic.commands.daemon, sysmedic.daemon.app, sysmedic.notify.email, "
            "sysmedic.notify.webhook; print(sorted(m for m in ('ssl', '_hashlib', 'hmac', 'secrets', 'email', "
            "'http.client', 'http.server', 'asyncio', 'tempfile', 'bz2', 'lzma') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
