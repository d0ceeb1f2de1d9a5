"""What machine this is, for the dashboard and the ``welcome`` message (stdlib-only leaf)."""

import os
import shlex


def os_name(os_release="/etc/os-release"):
    """``PRETTY_NAME`` from os-release, else ``uname -sr`` (docs/protocol-decisions.md, decision 6)."""
    try:
        with open(os_release, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("PRETTY_NAME="):
                    value = shlex.split(line.partition("=")[2], comments=False)
                    if value and value[0].strip():
                        return value[0].strip()
    except (OSError, ValueError):
        pass
    uname = os.uname()
    return "%s %s" % (uname.sysname, uname.release)
