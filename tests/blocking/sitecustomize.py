"""Makes the modules named in $SYSMEDIC_TEST_BLOCK (comma-separated) unimportable, as on a
Python that does not ship them (Debian's python3-minimal, OpenWrt's split packages): put this
directory first on PYTHONPATH. A blocked name blocks its submodules too; ``http.server``
blocks only that one. Children inherit the environment, so a daemon started by the CLI is
blocked the same way."""

import os
import sys

BLOCKED = tuple(name for name in os.environ.get("SYSMEDIC_TEST_BLOCK", "").split(",") if name)


def _blocked(name):
    return any(name == b or name.startswith(b + ".") for b in BLOCKED)


class _Absent:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if _blocked(name):
            raise ModuleNotFoundError("No module named %r" % name, name=name)
        return None


for _name in [n for n in sys.modules if _blocked(n)]:
    del sys.modules[_name]
sys.meta_path.insert(0, _Absent)
