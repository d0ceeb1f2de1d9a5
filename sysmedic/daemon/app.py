"""The daemon's composition root: builds every object once, starts the named threads, waits.

Threads (DESIGN.md): ``sampler``, ``broadcaster``, ``storage-writer``, ``mailer``, ``control``,
``http:<port>`` (ThreadingHTTPServer.serve_forever; one more thread per request). The main
thread waits for signals on a wakeup pipe and sets the stop Event; the Python-level signal
handlers do nothing at all, so a burst of signals cannot deadlock on a lock (STYLE.md 5).

Shutdown order: stop the sampler; close clients (1001); shut the HTTP server; let the writer
drain the queue to SQLite; remove the control socket and the pid file. Every join has a timeout.
"""

import errno
import logging
import os
import resource
import secrets
import select
import signal
import socket
import sys
import threading
import time

from .. import __version__, config as configuration, logs
from ..collect import make_collector
from ..dashboard import as_json, render
from ..errors import SysMedicError
from ..home import ensure_home
from ..notify.email import Mailer
from ..osinfo import os_name
from ..resources import read_text
from ..server.clients import Broadcaster, Registry
from ..server.http import Server
from ..server.frames import GOING_AWAY, SECRET_ROTATED
from ..storage import Storage, database_path
from .control import SOCKET_FILE, ControlServer
from .pidfile import PID_FILE, PidFile
from .sampler import Sampler, Shared
from .writer import StorageWriter, summary

log = logging.getLogger("sysmedic.daemon")
JOIN_TIMEOUT = 5.0


def _ignore(signum, frame):
    """Python-level handler for the daemon's signals: the wakeup fd does the work."""


class Secret:
    """The connection secret: 128 random bits as 32 hex characters, only in memory (decision 16)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._value = secrets.token_hex(16)

    def text(self):
        with self._lock:
            return self._value

    def bytes(self):
        return self.text().encode("ascii")

    def rotate(self):
        with self._lock:
            self._value = secrets.token_hex(16)


def connection_urls(secret, host, port):
    """``(sysmedic://secret@host:port/, ws://host:port/ws?secret=...)``."""
    shown = "[%s]" % host if ":" in host else host
    return ("sysmedic://%s@%s:%d/" % (secret, shown, port),
            "ws://%s:%d/ws?secret=%s" % (shown, port, secret))


def raise_fd_limit(max_clients, spare=128):
    """Raise the soft RLIMIT_NOFILE (often 1024) toward the hard limit so ``max_clients``
    sockets fit; never lowers it, and only logs when the hard limit is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_clients + spare
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if target > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < wanted:
            log.warning("open file limit %d is below the %d that max_clients=%d needs", target, wanted, max_clients)


def rss_bytes():
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class ServerApp:
    """What the HTTP handlers may use: limits, the secret, the State, health."""

    def __init__(self, daemon, settings):
        self._daemon = daemon
        self.settings = settings
        self.version = __version__
        self.registry = daemon.registry
        self.stop_event = daemon.stop
        self.clock = time.time

    def secret(self):
        return self._daemon.secret.bytes()

    def state(self):
        return self._daemon.shared.state()

    def health(self):
        return self._daemon.health(self.settings)

    def page(self):
        return self._daemon.page


class Listener:
    """A running HTTP server and its thread."""

    def __init__(self, server, thread, settings):
        self.server, self.thread, self.settings = server, thread, settings


class Daemon:
    """
    :param home: the SysMedic home directory.
    :param log_file: log to ``sysmedic.log`` in the home (and close stderr once serving).
    :param show_url: print the connection URLs on stdout once serving (never to the log).
    """

    def __init__(self, home, log_file=False, show_url=False):
        self.home = home
        self.log_file = log_file
        self.show_url = show_url
        self.stop = threading.Event()
        # Signals arrive as bytes on this pipe (signal.set_wakeup_fd) and are acted on by the
        # main thread. A handler that calls Event.set() can deadlock: a second signal runs a
        # second handler inside the first one's set(), on the Event's non-reentrant lock.
        self._signals, self._poke_fd = os.pipe()
        os.set_blocking(self._poke_fd, False)
        self._listener = None
        self._listener_lock = threading.Lock()
        self.control = None
        self._threads = []
        self.started = time.time()

    # -- life cycle -------------------------------------------------------------------------------

    def run(self):
        """Run until stopped; returns the exit status (0, or 1 with the reason on stderr)."""
        pidfile = PidFile(os.path.join(self.home, PID_FILE))
        # First thing: from here on a signal is queued on the pipe, never the default action
        # (SIGHUP would kill a daemon still starting up) and never a handler that takes a lock.
        signal.set_wakeup_fd(self._poke_fd)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, _ignore)
        try:
            ensure_home(self.home)
            os.umask(0o077)
            logs.setup(self.home, to_file=self.log_file)
            pidfile.acquire()
        except SysMedicError as err:
            sys.stderr.write("sysmedic: %s\n" % err)
            return 1
        try:
            self._build()
            self._serve(self.control)
            return 0
        except SysMedicError as err:
            if self.log_file:
                log.error("%s", err)
            sys.stderr.write("sysmedic: %s\n" % err)
            return 1
        finally:
            self._shutdown(self.control)
            pidfile.release()
            log.info("stopped")

    def _build(self):
        self.config = configuration.load_config(self.home)
        websocket = configuration.load_websocket(self.home)
        collector = make_collector(self.config.monitoring.collector)
        path = database_path(self.home)
        with Storage(path) as storage:  # create or migrate before any thread uses it
            active = {record.cause for record in storage.alerts(unresolved=True)}
            alert_summary = summary(storage)
        raise_fd_limit(websocket.max_clients)
        self.secret = Secret()
        self.page = read_text("sysmedic.web", "client.html").encode("utf-8")
        self.hostname = socket.getfqdn()
        self.shared = Shared(alert_summary)
        self.registry = Registry(websocket.max_clients)
        self.broadcaster = Broadcaster(self.registry)
        self.mailer = Mailer(lambda: self.config.email, hostname=self.hostname)
        self.writer = StorageWriter(path, on_alert=self._alert_opened, on_summary=self.shared.set_summary)
        self.sampler = Sampler(collector, lambda: self.config, self.shared, self.writer, self.broadcaster,
                               os_name(), __version__, active_causes=active)
        self._start("storage-writer", self.writer.run)
        self.sampler.prime(self.stop)
        # The control socket exists before the listener answers /health, so whoever sees the
        # daemon healthy can reach it too (requests wait in its backlog until its thread runs).
        self.control = ControlServer(os.path.join(self.home, SOCKET_FILE), {
            "status": lambda request: self.status(),
            "websocket-apply": self._control_apply,
            "new-secret": self._control_new_secret,
            "stop": self._control_stop,
            "reload": self._control_reload,
            "resolve": self._control_resolve,
            "dashboard": self._control_dashboard,
        })
        self.apply_websocket(websocket)

    def _serve(self, control):
        self._start("sampler", self.sampler.run)
        self._start("broadcaster", self.broadcaster.run)
        self._start("mailer", self.mailer.run)
        self._start("control", control.run)
        listening = self._listener.settings if self._listener else None
        log.info("SysMedic %s serving (pid %d, home %s, %s)", __version__, os.getpid(), self.home,
                 "WebSocket on %s:%d" % (listening.host, listening.port) if listening else "WebSocket disabled")
        if self.show_url:
            info = self.status()
            sys.stdout.write("Connection URL: %s\nWebSocket URL:  %s\nHealth:         http://%s:%d/health\n" % (
                info["url"], info["ws_url"], info["host"], info["port"]) if info["listening"]
                else "WebSocket server disabled (sysmedic websocket start)\n")
            sys.stdout.flush()
        if self.log_file:  # tell `daemon start` we are ready: it stops reading our stderr
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        while not self.stop.is_set():
            select.select([self._signals], [], [])  # a signal, or a poke from the control thread
            for signum in os.read(self._signals, 512):  # in the order they arrived
                if signum in (signal.SIGTERM, signal.SIGINT):
                    self.stop.set()
                    break
                if signum == signal.SIGHUP:
                    self.reload()

    def _start(self, name, target):
        thread = threading.Thread(target=target, args=(self.stop,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _shutdown(self, control):
        self.stop.set()
        by_name = {thread.name: thread for thread in self._threads}
        if "sampler" in by_name:
            by_name["sampler"].join(JOIN_TIMEOUT)
        with self._listener_lock:
            if self._listener is not None:
                self._stop_listener(self._listener, GOING_AWAY, "server shutting down")
                self._listener = None
        # The other threads block until woken (no timed polling while idle): wake each.
        if hasattr(self, "broadcaster"):
            self.broadcaster.wake()
            self.mailer.wake()
            self.writer.close()  # after everything the sampler queued
        if control is not None:
            control.stop_accepting()
        for name in ("broadcaster", "control", "storage-writer", "mailer"):
            if name in by_name:
                by_name[name].join(JOIN_TIMEOUT if name != "mailer" else 1.0)
                if by_name[name].is_alive():
                    log.warning("thread %s did not stop in time", name)
        if control is not None:
            control.close()

    def _poke(self, signum=0):
        """Wake the main loop from another thread, as if ``signum`` had arrived (0: just wake)."""
        try:
            os.write(self._poke_fd, bytes([signum]))
        except BlockingIOError:  # the pipe is full: the main loop is already awake
            pass

    def reload(self):
        """Re-read config.json and websocket.json (SIGHUP); a bad file keeps the old settings."""
        try:
            self.config = configuration.load_config(self.home)
            self.apply_websocket(configuration.load_websocket(self.home))
            log.info("configuration reloaded")
        except SysMedicError as err:
            log.error("reload failed, keeping the running configuration: %s", err)

    # -- the HTTP listener ------------------------------------------------------------------------

    def apply_websocket(self, settings):
        """Start, stop or move the listener to match ``settings``.

        :raises SysMedicError: e.g. ``port 8060 is already in use``; the old listener stays.
        """
        with self._listener_lock:
            current = self._listener
            self.registry.max_clients = settings.max_clients
            if not settings.enabled:
                if current is not None:
                    self._stop_listener(current, GOING_AWAY, "WebSocket server disabled")
                self._listener = None
                return
            if current is not None and (current.settings.host, current.settings.port) == (settings.host, settings.port):
                current.server.app.settings = settings
                current.settings = settings
                return
            listener = self._start_listener(settings)
            if current is not None:
                self._stop_listener(current, GOING_AWAY, "WebSocket server moved")
            self._listener = listener
            log.info("WebSocket server listening on %s:%d", settings.host, settings.port)

    def _start_listener(self, settings):
        try:
            server = Server((settings.host, settings.port), ServerApp(self, settings))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise SysMedicError("port %d is already in use" % settings.port)
            if err.errno == errno.EACCES:
                raise SysMedicError("port %d: permission denied (ports below 1024 need root)" % settings.port)
            raise SysMedicError("cannot listen on %s:%d: %s" % (settings.host, settings.port, err.strerror or err))
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                                  name="http:%d" % settings.port, daemon=True)
        thread.start()
        return Listener(server, thread, settings)

    def _stop_listener(self, listener, code, reason):
        listener.server.shutdown()
        listener.server.server_close()
        listener.thread.join(JOIN_TIMEOUT)
        self.registry.kick_all(code, reason)
        if not self.registry.wait_empty(2.0):
            log.warning("%d clients still connected after close", self.registry.count())

    # -- what the daemon reports ------------------------------------------------------------------

    def public_host(self, settings):
        return settings.public_host or self.hostname

    def health(self, settings):
        sampled = self.sampler.last_sample
        age = None if sampled is None else time.monotonic() - sampled
        stale = age is None or age > 3 * self.config.monitoring.update_interval + 5
        return {
            "status": "degraded" if stale else "healthy",
            "running": True,
            "clients": self.registry.count(),
            "port": settings.port,
            "hostname": self.public_host(settings),
            "has_secret": True,
            "version": __version__,
            "sample_age_seconds": None if age is None else round(age, 2),
            "collect_ms": None if self.sampler.last_collect_ms is None else round(self.sampler.last_collect_ms, 2),
            "sampler_errors": self.sampler.errors,
            "rss_bytes": rss_bytes(),
            "uptime_seconds": round(time.time() - self.started, 1),
            "evicted_clients": self.registry.evicted,
            "threads": threading.active_count(),
        }

    def status(self):
        listener = self._listener
        websocket = configuration.load_websocket_or_none(self.home)
        info = {"pid": os.getpid(), "version": __version__, "uptime_seconds": round(time.time() - self.started, 1),
                "home": self.home, "clients": self.registry.count(), "listening": listener is not None,
                "enabled": websocket.enabled if websocket else None, "secret": self.secret.text()}
        if listener is not None:
            host = self.public_host(listener.settings)
            info.update(host=host, port=listener.settings.port, bind=listener.settings.host)
            info["url"], info["ws_url"] = connection_urls(self.secret.text(), host, listener.settings.port)
        return info

    def _alert_opened(self, record, state):
        from ..server import protocol
        self.broadcaster.publish("alert", protocol.alert(state, record), droppable=False)
        self.mailer.submit(record)

    # -- control requests -------------------------------------------------------------------------

    def _control_apply(self, request):
        self.apply_websocket(configuration.load_websocket(self.home))
        return self.status()

    def _control_new_secret(self, request):
        self.secret.rotate()
        self.registry.kick_all(SECRET_ROTATED, "secret rotated")
        log.info("secret rotated; %d clients disconnected", self.registry.count())
        return self.status()

    def _control_stop(self, request):
        self.stop.set()
        self._poke()
        return {"stopping": True}

    def _control_reload(self, request):
        self._poke(signal.SIGHUP)
        return {"reloading": True}

    def _control_resolve(self, request):
        alert_id = request.get("id")
        if alert_id is not None and not isinstance(alert_id, int):
            raise SysMedicError("alert id must be a number")
        result = self.writer.resolve(alert_id).result(timeout=10)
        return {"resolved": result}

    def _control_dashboard(self, request):
        state = self.shared.state()
        data = as_json(state.snapshot, state.assessment, list(state.users),
                       (state.alerts.unresolved, state.alerts.total), state.system_name, "daemon")
        text = render(state.snapshot, state.assessment, state.config, list(state.users),
                      (state.alerts.unresolved, state.alerts.total), state.system_name, "daemon", self.hostname)
        return {"json": data, "text": text}
