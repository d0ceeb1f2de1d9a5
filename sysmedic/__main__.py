"""``python -m sysmedic`` and the zipapp entry point (parseable by Python 2.7 and 3.6, so
that an old interpreter is refused with one line: see ``require_supported_python``)."""

import sys

import sysmedic

sysmedic.require_supported_python()

from sysmedic.cli import main  # noqa: E402  (only once the interpreter is known to be new enough)

if __name__ == "__main__":
    sys.exit(main())
