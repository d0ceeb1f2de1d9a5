"""Read data files shipped inside the package, also from a zipapp (stdlib-only leaf module).

Never ``__file__`` paths: inside ``sysmedic.pyz`` there is no file system path
(docs/architecture.md #15). ``pkgutil.get_data`` asks the package's own loader (the file
system's or ``zipimport``'s); ``importlib.resources`` would do the same through ``tempfile`` and
``shutil``, which load the bz2 and lzma libraries (0.6 MB of the daemon's memory) for nothing.
"""

import pkgutil


def read_text(package, name):
    """The UTF-8 text of resource ``name`` in ``package`` (Python 3.8 through 3.13).

    :raises OSError: when it is missing."""
    data = pkgutil.get_data(package, name)
    if data is None:  # a loader that cannot read data files
        raise OSError("%s: no resource %s" % (package, name))
    return data.decode("utf-8")
