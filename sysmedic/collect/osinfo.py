"""What machine this is, for the dashboard and the ``welcome`` message (stdlib-only leaf)."""

import os
import re


def os_name(os_release="/etc/os-release"):
    """``PRETTY_NAME`` from os-release, else ``uname -sr`` (docs/protocol-decisions.md, decision 6)."""
    try:
        with open(os_release, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("PRETTY_NAME="):
                    value = unquoted(line.partition("=")[2])
                    if value.strip():
                        return value.strip()
    except (OSError, ValueError):
        pass
    uname = os.uname()
    return "%s %s" % (uname.sysname, uname.release)


def unquoted(text):
    """An os-release value as the shell reads it: in double quotes with ``\\$ \\" \\` \\\\``
    escapes, in single quotes as it is, or bare (os-release(5)). Not shlex: Debian's sid
    python3.X-minimal has no shlex, and every command shows the OS name (issue 24)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r'\\([$"`\\])', r"\1", text[1:-1])
    return text
