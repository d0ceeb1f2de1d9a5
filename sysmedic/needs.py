"""Which of Python's own modules SysMedic needs, which it can do without, and the one line a
user gets when one is missing (issue 24: a missing module is bad input, never a traceback).

Minimal Pythons ship parts of the standard library separately: Debian's ``python3-minimal``
has no ``json``, ``dataclasses``, ``http`` or ``sqlite3`` (they come with
``libpython3.X-stdlib``, which the ``python3`` package pulls in); OpenWrt splits them into
``python3-logging``, ``python3-openssl`` and the like. :data:`NEEDED` are checked by every
command before it starts, and by the commands that serve or connect (:data:`SERVING`) before
they do, so a gap is one line and exit status 1. :data:`OPTIONAL` modules each serve one
feature, which says so in one line when its module is absent while everything else runs.

Stdlib only and free of anything newer than Python 3.8, like the entry points that call it.
"""

import sys

# Every command: the CLI, the home, the configuration and the CLI's renderings.
NEEDED = ("json", "dataclasses", "typing", "logging", "collections", "re", "errno", "stat", "pwd", "math",
          "socket", "select", "selectors", "array", "fcntl", "struct", "signal", "threading", "urllib.parse", "shutil", "tempfile",
          "pkgutil", "unicodedata", "subprocess", "time", "datetime", "locale")
# The daemon (and `websocket start`, `top --url`): its server, WebSocket library and threads.
# ssl (and OpenSSL's _ssl under it) and hashlib are needed even without TLS: simple-websocket
# imports ssl, and wsproto hashes the WebSocket handshake key with SHA-1. Looked for, not
# loaded: a daemon at its defaults loads them only with its first client (OpenSSL is 4 MB).
SERVING = ("ssl", "_ssl", "hashlib", "hmac", "base64", "binascii", "zlib", "http", "http.server", "socketserver",
           "logging.handlers", "concurrent.futures", "ipaddress", "calendar", "resource")
# name -> the feature that goes without it (the line the user sees names the module too).
OPTIONAL = {
    "sqlite3": "database: alerts are broadcast and sent but not stored, history is kept in memory only",
    "curses": "full-screen 'sysmedic top' (use 'sysmedic top --once')",
    "ctypes": "malloc tuning (the daemon holds some more memory)",
    "termios": "direct sends of small frames (each is queued for its client's thread instead)",
    "smtplib": "e-mail notifier",
    "email": "e-mail notifier",
    "http.client": "webhook notifier",
}
IN_DAEMON = ("sqlite3", "ctypes", "termios")  # the optional modules the daemon itself uses
# Where a module usually comes from, when it is not in python3-minimal or python3-light.
OPENWRT = {"logging": "python3-logging", "ssl": "python3-openssl", "_ssl": "python3-openssl",
           "hashlib": "python3-openssl",
           "email": "python3-email", "smtplib": "python3-email",
           "urllib": "python3-urllib", "sqlite3": "python3-sqlite3", "curses": "python3-ncurses",
           "ctypes": "python3-ctypes", "unicodedata": "python3-codecs"}
BUNDLED = {"docopt": "docopt-ng", "simple_websocket": "simple-websocket", "wsproto": "wsproto", "h11": "h11"}


def missing(names, load=True):
    """The first of ``names`` that cannot be imported, or None. With ``load`` off each is only
    looked for, not run (the CLI checks so: importing :data:`NEEDED` cost 20 ms a command, and
    :data:`SERVING` would map OpenSSL into a daemon that has no client yet): a module that is
    there but fails to load is then the CLI's catch-all's, or its thread's one line."""
    import importlib
    import importlib.util
    for name in names:
        try:
            if load:
                importlib.import_module(name)
            elif importlib.util.find_spec(name) is None:
                return name
        except ImportError as err:  # the one missing may be another that this one imports
            return module_of(err) or name
    return None


def available(name):
    return missing((name,)) is None


def provider(name):
    """Where ``name`` usually comes from, for the line that says it is missing."""
    top = name.split(".")[0]
    if top == "sysmedic":
        return "SysMedic itself: this installation is incomplete (install it again)"
    if top in BUNDLED:
        return "the %s package (bundled in the zipapp; 'pip install %s')" % (BUNDLED[top], BUNDLED[top])
    version = "%d.%d" % sys.version_info[:2]
    return ("Python's standard library: on Debian libpython%s-stdlib (apt install python3), on OpenWrt %s"
            % (version, OPENWRT.get(top, "python3-light")))


def absent(name):
    """Says that module ``name`` is not there and where it comes from."""
    return "Python's %s module is missing; it comes with %s" % (name, provider(name))


def missing_line(name):
    """The one line for a needed module ``name`` that is not there."""
    return "sysmedic: " + absent(name)


def optional_line(name):
    """The one line a feature says when its optional module ``name`` is not there."""
    return "Python's %s module is missing (it comes with %s): no %s" % (name, provider(name), OPTIONAL[name])


def require(names, why):
    """Exit with status 1 and one line when one of ``names`` cannot be imported (the zipapp's
    entry point, before it reads anything compressed)."""
    name = missing(names)
    if name is not None:
        sys.stderr.write("%s; it is needed %s\n" % (missing_line(name), why))
        sys.exit(1)


def daemon_gaps():
    """One line per optional module the daemon goes without, for its log and ``/health``."""
    return [optional_line(name) for name in IN_DAEMON if not available(name)]


def module_of(err):
    """The missing module an ImportError is about, or None when it is not about a missing
    module (a name absent from a module that is there)."""
    if isinstance(err, ModuleNotFoundError) and err.name:
        return err.name
    return None
