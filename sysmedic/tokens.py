"""Secrets and comparing them, without ``hmac``, ``hashlib`` or ``secrets`` (stdlib only).

Those modules load OpenSSL's libcrypto (``hmac`` imports ``_hashlib``): 3.9 MB of the daemon's
memory (issue 9 budgets 30 MB) for two functions that need none of it. :func:`equal` *is*
``hmac.compare_digest`` (CPython keeps it in ``_operator``, where ``hmac`` takes it from), and
:func:`new_token` reads the kernel's random source as ``secrets.token_hex`` does.
"""

import os

try:
    from _operator import _compare_digest as equal  # hmac.compare_digest itself: constant time
except ImportError:  # not CPython
    from hmac import compare_digest as equal


def new_token(size=16):
    """``size`` random bytes from ``os.urandom`` (the kernel's CSPRNG), as hex."""
    return os.urandom(size).hex()


__all__ = ["equal", "new_token"]
