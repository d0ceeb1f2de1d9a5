"""Secrets and comparing them, without ``hmac``, ``hashlib`` or ``secrets`` (stdlib only).

Those modules load OpenSSL's libcrypto (``hmac`` imports ``_hashlib``): 3.9 MB of the daemon's
memory (issue 9 budgets 30 MB) for two functions that need none of it. :func:`equal` is
CPython's constant-time compare in ``_operator``: what ``hmac.compare_digest`` was on 3.8 and
falls back to on 3.9 and later (where it prefers OpenSSL's ``CRYPTO_memcmp``); :func:`new_token`
reads the kernel's random source as ``secrets.token_hex`` does.
"""

import os

try:
    from _operator import _compare_digest as equal  # timing-safe, as hmac.compare_digest
except ImportError:  # not CPython
    from hmac import compare_digest as equal


def new_token(size=16):
    """``size`` random bytes from ``os.urandom`` (the kernel's CSPRNG), as hex."""
    return os.urandom(size).hex()


__all__ = ["equal", "new_token"]
