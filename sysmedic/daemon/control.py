"""The owner-only Unix control socket between the CLI and the daemon (spec decision 16).

One JSON object per line each way: ``{"command": NAME, ...}`` -> ``{"ok": true, ...}`` or
``{"ok": false, "error": TEXT}``. The socket file is 0600 in the 0700 home, and every peer's
uid is checked with ``SO_PEERCRED`` (the daemon's own user or root only).
"""

import json
import logging
import os
import socket
import stat
import struct

from ..errors import DaemonNotRunning, SysMedicError, rebuilt

log = logging.getLogger(__name__)

SOCKET_FILE = "control.sock"
MAX_REQUEST = 65536


SERVICE_DEFAULTS = ("/etc/default/sysmedic", "/etc/conf.d/sysmedic")  # the init scripts' settings
SERVICE_HOME = "/var/lib/sysmedic"  # the packaged service's home (systemd unit, .deb)


def service_home(defaults=SERVICE_DEFAULTS):
    """The packaged service's home: ``SYSMEDIC_HOME=`` in its init settings, else /var/lib/sysmedic."""
    for path in defaults:
        try:
            with open(path) as handle:
                for line in handle:
                    key, _, value = line.strip().partition("=")
                    if key == "SYSMEDIC_HOME" and value.strip("'\""):
                        return value.strip("'\"")
        except (OSError, UnicodeDecodeError):
            continue
    return SERVICE_HOME


def not_running(home=None, service=None):
    """The DaemonNotRunning for ``home``; when the packaged service's daemon runs in another
    home (``sudo sysmedic users`` beside it: root's own home has none), the line says where,
    rather than suggest starting a second daemon on its port (issue 22)."""
    other = service or service_home()
    if home is not None and os.path.abspath(other) != os.path.abspath(home) \
            and os.path.exists(os.path.join(other, SOCKET_FILE)):
        return DaemonNotRunning("no daemon runs in %s; the packaged service's runs in %s: use SYSMEDIC_HOME=%s "
                                "sysmedic ..." % (home, other, other))
    return DaemonNotRunning("the daemon is not running (start it with: sysmedic daemon start)")


class ControlServer:
    """Answers control requests with ``handlers[command](request) -> dict``.

    :param handlers: command name -> callable; raising SysMedicError answers ``ok: false``.
    """

    def __init__(self, path, handlers):
        self.path = path
        self._handlers = handlers
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            self._sock.bind(path)  # never through a link: bind fails on any existing name
            if stat.S_ISSOCK(os.lstat(path).st_mode):  # chmod follows links: check what it is first
                os.chmod(path, 0o600)
            self._sock.listen(16)
        except OSError as err:  # control.sock is a directory, the disk is full
            self._sock.close()
            raise SysMedicError("%s: cannot make the control socket: %s" % (path, (err.strerror or str(err)).lower()))

    def run(self, stop):
        """Serve until ``stop`` is set and :meth:`stop_accepting` wakes the blocking accept."""
        while not stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                if stop.is_set():
                    return
                log.exception("control socket accept failed")
                stop.wait(0.1)  # back off, do not spin
                continue
            with conn:
                try:
                    self._serve(conn)
                except Exception:
                    log.exception("control request failed")

    def _serve(self, conn):
        conn.settimeout(5.0)
        pid, uid, gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        if uid not in (0, os.geteuid()):
            log.warning("control socket: refused uid %d (pid %d)", uid, pid)
            return
        data = b""
        while not data.endswith(b"\n") and len(data) <= MAX_REQUEST:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        request = None
        try:
            request = json.loads(data.decode("utf-8"))
            handler = self._handlers[request["command"]]
        except (ValueError, KeyError, TypeError):
            reply = {"ok": False, "error": "bad control request"}
        else:
            try:
                reply = dict(handler(request), ok=True)
            except SysMedicError as err:
                reply = {"ok": False, "error": str(err), "kind": type(err).__name__}
            except Exception as err:  # a bug: logged with its traceback, and the caller still gets a line
                log.exception("control command %s failed", request["command"])
                reply = {"ok": False, "error": "the daemon failed to %s: %s (see its log)"
                         % (request["command"], type(err).__name__)}
        try:
            conn.sendall(json.dumps(reply).encode("utf-8") + b"\n")
        except (BrokenPipeError, ConnectionResetError, socket.timeout):  # the CLI gave up waiting
            log.info("control command %s: the caller left before its answer",
                     request.get("command") if isinstance(request, dict) else "?")

    def stop_accepting(self):
        """Wake a thread blocked in accept (Linux: shutdown of a listening socket does that)."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self):
        self._sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def call(home, command, timeout=10.0, **arguments):
    """Send one control request to the daemon in ``home``.

    :raises DaemonNotRunning: when nothing listens; SysMedicError with the daemon's error text.
    """
    path = os.path.join(home, SOCKET_FILE)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise not_running(home)
        arguments["command"] = command
        sock.sendall(json.dumps(arguments).encode("utf-8") + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        raise SysMedicError("the daemon did not answer within %gs" % timeout)
    except OSError as err:
        raise SysMedicError("cannot talk to the daemon: %s" % (err.strerror or err))
    finally:
        sock.close()
    try:
        reply = json.loads(data.decode("utf-8"))
    except ValueError:
        raise SysMedicError("the daemon closed the control connection")
    if not reply.get("ok"):
        raise rebuilt(reply.get("kind"), reply.get("error", "the daemon refused the request"))
    return reply
