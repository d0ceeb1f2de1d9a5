"""SysMedic: a lightweight Linux monitoring daemon with per-user accounting.

The package is laid out by architecture (docs/architecture.md):

- ``collect``   reads the machine (``/proc`` on Linux, psutil elsewhere) into frozen records;
- ``analysis``  pure functions: status labels, persistent users, alert conditions, metrics;
- ``storage``   the SQLite alert and history store (the only module that imports sqlite3);
- ``daemon``    the composition root, its threads (sampler, storage writer, listeners,
                control socket, health, systemd notify) and the State they share;
- ``server``    HTTP routes, the WebSocket protocol, sessions, clients and the broadcaster;
- ``notify``    notifiers of opened alerts (e-mail);
- ``commands``  one module per CLI command group, imported on use;
- ``config``    the declared configuration and its validation;
- ``cli``       the docopt command line, thin over the modules above.

Importing the package has no side effects. This file must stay parseable by Python 2.7 and
3.6: every entry point calls :func:`require_supported_python` before importing anything else,
so an old interpreter gets one line instead of a SyntaxError traceback.
"""

__version__ = "1.1.0"
OLDEST_PYTHON = (3, 8)


def require_supported_python(version_info=None, stderr=None):
    """Exit with status 1 and one line when this Python is older than 3.8."""
    import sys
    version_info = sys.version_info if version_info is None else version_info
    if tuple(version_info[:2]) < OLDEST_PYTHON:
        (stderr or sys.stderr).write("sysmedic needs Python %d.%d or newer; this is %d.%d.%d\n"
                                     % (OLDEST_PYTHON + tuple(version_info[:3])))
        sys.exit(1)
