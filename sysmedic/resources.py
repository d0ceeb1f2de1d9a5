"""Read data files shipped inside the package, also from a zipapp (stdlib-only leaf module).

Never ``__file__`` paths: inside ``sysmedic.pyz`` there is no file system path
(docs/architecture.md #15).
"""

import importlib.resources


def read_text(package, name):
    """The UTF-8 text of resource ``name`` in ``package`` (Python 3.8 through 3.13)."""
    files = getattr(importlib.resources, "files", None)
    if files is not None:
        return files(package).joinpath(name).read_text(encoding="utf-8")
    return importlib.resources.read_text(package, name, encoding="utf-8")
