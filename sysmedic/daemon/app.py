"""The daemon's composition root: builds every object once, starts the named threads, waits.

Threads (docs/architecture.md): ``sampler``, ``broadcaster``, ``storage-writer``, one
``notify:<name>`` per enabled notifier, ``control``, ``http:<port>`` (the threading server's serve_forever;
one more thread per request). Each runs through :class:`~sysmedic.daemon.threads.Threads`,
so a thread that dies is logged and reported. The main thread waits for signals on a wakeup
pipe and sets the stop Event; the Python-level signal handlers do nothing at all, so a burst
of signals cannot deadlock on a lock (docs/architecture.md #5).

Start-up order: bind the listener's port (a taken port fails the start before anything is
stored), open the database, prime the sampler, bind the control socket (requests wait in its
backlog), start the threads, serve, then answer the control socket and tell systemd ``READY=1``. Shutdown order: stop the sampler; close clients (1001); shut
the HTTP server; let the writer drain its queue to SQLite; remove the control socket and the
pid file. Every join has a timeout.
"""

import logging
import os
import select
import signal
import sys
import threading
import time

from .. import __version__, needs
from ..history.recent import Timeline
from ..collect import make_collector
from ..errors import StorageError, SysMedicError
from ..history.query import BadArguments, History
from ..home import ensure_home, read_as_owner
from ..server.prometheus import render as render_metrics
from ..notify import notifiers
from ..collect.osinfo import os_name
from ..resources import read_text
from ..server import protocol
from ..server.clients import Broadcaster, Registry
from ..server.context import ServerContext
from ..server.frames import GOING_AWAY
from ..server.http import Server
from ..storage import Storage, database_path, history_buckets, history_stored, set_aside_if_corrupt
from ..server.tokens import new_token
from .control import SOCKET_FILE, ControlServer
from . import identity, logs
from .control_commands import ControlCommands
from .health import Health
from .listeners import Listeners
from .pidfile import PID_FILE, PidFile
from .sampler import Sampler
from .settings import Settings
from .state import AlertSummary, Shared
from .systemd import SystemdNotifier
from .threads import Threads, log_uncaught
from .writer import StorageWriter, summary

log = logging.getLogger("sysmedic.daemon")
JOIN_TIMEOUT = 5.0
NOTIFIER_JOIN_TIMEOUT = 1.0
MAX_TIMELINE_POINTS = 20000  # samples get_history keeps in memory at most (an hour at 0.2 s is 18,000)


def _ignore(signum, frame):
    """Python-level handler for the daemon's signals: the wakeup fd does the work."""


class Secret:
    """The connection secret: 128 random bits as 32 hex characters, only in memory (decision 16)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._value = new_token(16)

    def text(self):
        with self._lock:
            return self._value

    def bytes(self):
        return self.text().encode("ascii")

    def rotate(self):
        with self._lock:
            self._value = new_token(16)


class Daemon:
    """
    :param home: the SysMedic home directory.
    :param log_file: log to ``sysmedic.log`` in the home (and close stderr once serving).
    :param show_url: print the connection URLs on stdout once serving (never to the log).
    :param port: listen on this port instead of websocket.json's, until ``websocket start``
        saves a port (``make run PORT=9090``); not written anywhere.
    :param environ: where systemd's ``NOTIFY_SOCKET`` and ``WATCHDOG_USEC`` are read.
    """

    def __init__(self, home, log_file=False, show_url=False, port=None, environ=None, user=None):
        self.home = home
        self._user = user  # --user: drop from root to this user once the exit records are open
        self._early_exits = None
        self.log_file = log_file
        self.show_url = show_url
        self._port = port
        self.stop = threading.Event()
        # Signals arrive as bytes on this pipe (signal.set_wakeup_fd) and are acted on by the
        # main thread. A handler that calls Event.set() can deadlock: a second signal runs a
        # second handler inside the first one's set(), on the Event's non-reentrant lock.
        self._signals, self._poke_fd = os.pipe()
        os.set_blocking(self._poke_fd, False)
        self.systemd = SystemdNotifier(environ)
        self.threads = Threads(self.stop, on_failure=self._thread_failed)
        self.control = None
        self.exits = None
        self._collection_lock = threading.Lock()  # config-apply (control) and reload (main) may race
        self.listeners = None
        self._bound = None
        self.started = time.time()
        self.pidfile = None
        self.home_problem = None

    # -- life cycle -------------------------------------------------------------------------------

    def run(self):
        """Run until stopped; returns the exit status (0, or 1 with the reason on stderr)."""
        pidfile = self.pidfile = PidFile(os.path.join(self.home, PID_FILE))
        # First thing: from here on a signal is queued on the pipe, never the default action
        # (SIGHUP would kill a daemon still starting up) and never a handler that takes a lock.
        signal.set_wakeup_fd(self._poke_fd)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, _ignore)
        threading.excepthook = log_uncaught
        limit_malloc_arenas()  # before any thread allocates
        try:
            self._switch_user()
            ensure_home(self.home)
            os.umask(0o077)
            logs.setup(self.home, to_file=self.log_file)
            pidfile.acquire()
            for line in needs.daemon_gaps():  # in the log once, in /health's warnings always
                log.warning(line)
        except SysMedicError as err:
            sys.stderr.write("sysmedic: %s\n" % err)
            return err.status
        try:
            bound = self._build()
            self._serve(bound)
            return 0
        except SysMedicError as err:
            if self.log_file:
                log.error("%s", err)
            sys.stderr.write("sysmedic: %s\n" % err)
            return 1
        finally:
            self._shutdown()
            pidfile.release()
            log.info("stopped")

    def _database(self):
        """``(path, causes of the open alerts, AlertSummary)``; the path is None when this
        Python has no sqlite3 (issue 24: the daemon runs, stores nothing, and says so)."""
        if not needs.available("sqlite3"):
            return None, set(), AlertSummary(0, 0, ())
        path = database_path(self.home)
        corrupt = set_aside_if_corrupt(path)
        if corrupt:
            log.warning("%s is corrupt (%s): moved to %s; starting a fresh database", path, corrupt[1],
                        os.path.basename(corrupt[0]))
        with Storage(path) as storage:  # create or migrate before any thread uses it
            return path, {record.cause for record in storage.alerts(unresolved=True)}, summary(storage)

    def _build(self):
        """Build every part; returns the bound (not yet serving) listener, or None."""
        self.settings = Settings(self.home, port=self._port)
        websocket = self.settings.websocket()
        self.registry = Registry(websocket.max_clients)
        self.listeners = Listeners(self._make_server, self.registry, load_tls=self._load_tls)
        # The port first: a daemon that cannot serve must not store anything (issue 8, defect 5).
        bound = self._bound = self.listeners.bind(websocket) if websocket.enabled else None
        self._collecting = self._collection()
        exits = self.exits = self._exit_listener(self._collecting[0])
        collector = self._collector(exits)
        path, active, alert_summary = self._database()
        self.secret = Secret()
        self.dashboard = read_text("sysmedic.web", "dashboard.html").encode("utf-8")
        self.shared = Shared(alert_summary)
        self.broadcaster = Broadcaster(self.registry)
        self.notifiers = self._notifiers()
        self.writer = StorageWriter(path, on_alert=self._alert_opened, on_summary=self.shared.set_summary,
                                    summary=alert_summary, on_notice=self._alert_notice)
        config = lambda: self.settings.config  # noqa: E731  (swapped whole on reload)
        monitoring = self.settings.config.monitoring
        timeline = Timeline(min(MAX_TIMELINE_POINTS, monitoring.history_memory / monitoring.update_interval),
                            interval=monitoring.update_interval)
        if path is None:
            history = History(timeline, _no_database, config, stored=lambda since, until: False)
        else:
            history = History(timeline, lambda *query: history_buckets(path, *query), config,
                              stored=lambda since, until: history_stored(path, since, until))
        self.sampler = Sampler(collector, config, self.shared, self.writer, self.broadcaster, os_name(),
                               __version__, active_causes=active, heartbeat=self._heartbeat,
                               heartbeat_every=self.systemd.ping_every(),
                               max_users=websocket.metrics_max_users, timeline=timeline, history=_answering(history),
                               after_sample=heap_trimmer())
        self.health = Health(__version__, self.sampler, self.threads, self.registry, self.broadcaster,
                             self.writer, self.notifiers, config,
                             lambda websocket: self.settings.public_host(websocket).host, self.started,
                             home_problem=lambda: self.home_problem)
        self.controls = ControlCommands(self.settings, self.listeners, self.secret, self.registry, self.shared,
                                        self.writer, self.health, self.threads, stop=self._request_stop,
                                        reload=lambda: self._poke(signal.SIGHUP), started=self.started,
                                        applied=self._applied)
        self.threads.start("storage-writer", self.writer.run)
        self.sampler.prime(self.stop)
        # The control socket exists before the listener answers /health, so whoever sees the
        # daemon healthy can reach it too (requests wait in its backlog until its thread runs).
        self.control = ControlServer(os.path.join(self.home, SOCKET_FILE), self.controls.handlers())
        return bound

    def _switch_user(self):
        """``--user``: open the exit-record socket while root (registering it needs
        CAP_NET_ADMIN), then become that user for good, before any file is written."""
        if self._user is None or not identity.needs_switch(self._user):
            return
        if sys.platform.startswith("linux"):
            from ..collect.exits import ExitListener, Unavailable
            try:
                self._early_exits = ExitListener()
            except Unavailable as err:
                self._early_exits = err
        try:
            identity.become(self._user, self.home)
        except OSError as err:
            raise SysMedicError("cannot become %s: %s" % (self._user, err.strerror or err))

    def _exit_listener(self, kind):
        """The kernel's exit records for exact per-user CPU, with its thread running, or None
        (then per-user CPU is inferred from reaped children); the log says which, and why."""
        from ..collect.exits import ExitListener, Unavailable
        early, self._early_exits = self._early_exits, None  # opened as root before --user's switch
        wanted = kind != "psutil" and sys.platform.startswith("linux")
        if not (wanted and self.settings.config.monitoring.exit_records):
            if isinstance(early, ExitListener):
                early.close()
            if wanted:
                log.info("per-user CPU: inferred from reaped children (exit_records is off in config.json)")
            return None
        try:
            if isinstance(early, Unavailable):
                raise early
            listener = early or ExitListener()
        except Unavailable as err:
            log.info("per-user CPU: inferred from reaped children (exit records unavailable: %s)", err)
            return None
        log.info("per-user CPU: exact, from the kernel's exit records (taskstats)")
        self.threads.start("exit-records", listener.run)
        return listener

    def _collection(self):
        """What config.json asks the collection to be: ``(collector, exit_records)``."""
        monitoring = self.settings.config.monitoring
        return monitoring.collector, monitoring.exit_records

    def _collector(self, exits):
        return make_collector(self.settings.config.monitoring.collector, exits=exits,
                              pss_every=lambda: self.settings.config.monitoring.pss_interval)

    def _apply_collection(self):
        """A changed ``collector`` or ``exit_records`` applies live (issue 23: ``config set``
        said it did while /health showed the old one until a restart): a new collector, with
        exit records or without, takes over at the sampler's next tick, and the old exit
        listener is closed once out of use. A collector that cannot run here keeps the old."""
        with self._collection_lock:
            wanted = self._collection()
            if wanted == self._collecting:
                return
            try:
                self._collector(None)  # can it run here? (building one reads nothing yet)
            except SysMedicError as err:
                log.error("collector %s cannot run here, keeping the one running: %s", wanted[0], err)
                return
            old = self.exits
            if old is not None:
                self.threads.retire("exit-records")  # its end is on purpose, not a failure
            exits = self._exit_listener(wanted[0])
            self.exits, self._collecting = exits, wanted
            self.sampler.use(self._collector(exits), retired=(lambda: old.close()) if old is not None else (lambda: None))
            log.info("collection changed: collector %s, exit records %s", wanted[0],
                     "on" if exits is not None else "off")

    def _applied(self):
        """What a changed config.json starts or replaces in a running daemon."""
        self._start_notifiers()
        self._apply_collection()

    def _notifiers(self):
        """Where alerts go (see :mod:`sysmedic.notify`)."""
        return notifiers(lambda: self.settings.config, self.settings.machine_name)

    def _start_notifiers(self):
        """A thread for each enabled notifier not running yet (issue 22: a disabled one ran a
        thread too); again after each reload, so one enabled later starts then."""
        running = self.threads.states()
        for notifier in self.notifiers:
            name = "notify:%s" % notifier.name
            if name not in running and notifier.enabled():
                self.threads.start(name, notifier.run)

    def _serve(self, bound):
        self.threads.start("sampler", self.sampler.run)
        self.threads.start("broadcaster", self.broadcaster.run)
        self._start_notifiers()
        if bound is not None:
            self.listeners.apply(bound.settings, bound=bound)
        # Only now: whoever the control socket answers (`daemon start` waits for it) must find
        # the listener serving, not "WebSocket server disabled" (a race seen on a busy host).
        self.threads.start("control", self.control.run)
        listening = self.listeners.current
        where = ("WebSocket on %s:%d" % (listening.settings.host, listening.settings.port) if listening
                 else "WebSocket disabled")
        log.info("SysMedic %s serving (pid %d, home %s, %s)", __version__, os.getpid(), self.home, where)
        self.systemd.ready("serving, " + where)
        if self.show_url:
            self._print_urls()
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

    def _print_urls(self):
        info = self.controls.status()
        if info["listening"]:
            text = "Connection URL: %s\nWebSocket URL:  %s\nHealth:         %s://%s:%d/health\n" % (
                info["url"], info["ws_url"], "https" if info["tls"] else "http", info["host"], info["port"])
            if info.get("host_note"):
                text += "Note:           %s\n" % info["host_note"]
        else:
            text = "WebSocket server disabled (sysmedic websocket start)\n"
        sys.stdout.write(text)
        sys.stdout.flush()

    def _shutdown(self):
        self.stop.set()
        self.systemd.stopping()
        self.threads.join("sampler", JOIN_TIMEOUT)
        if self.listeners is not None:
            self.listeners.close(GOING_AWAY, "server shutting down")
        if self._bound is not None and self._bound.thread is None:  # bound, failed before serving
            self._bound.server.server_close()
        # The other threads block on their mailboxes (no timed polling while idle): close each;
        # what is already queued is still sent or written. Parts a failed start never built
        # are skipped.
        notifiers = getattr(self, "notifiers", ())
        for part in [getattr(self, "broadcaster", None)] + list(notifiers) + [getattr(self, "writer", None)]:
            if part is not None:
                part.close()
        if self.control is not None:
            self.control.stop_accepting()
        for name in ("broadcaster", "control", "storage-writer"):
            self.threads.join(name, JOIN_TIMEOUT)
        for notifier in notifiers:
            self.threads.join("notify:%s" % notifier.name, NOTIFIER_JOIN_TIMEOUT)
        if self.control is not None:
            self.control.close()
        if self.exits is not None:  # its thread wakes on the next record and ends
            self.exits.close()
        self.systemd.close()

    def _poke(self, signum=0):
        """Wake the main loop from another thread, as if ``signum`` had arrived (0: just wake)."""
        try:
            os.write(self._poke_fd, bytes([signum]))
        except BlockingIOError:  # the pipe is full: the main loop is already awake
            pass

    def _heartbeat(self):
        """The sampler's loop is alive: feed systemd's watchdog, unless a thread has died
        (then systemd's watchdog restarts the daemon instead of leaving it degraded). Also
        notice a home deleted under us (issue 13, Low 12): then /health is degraded."""
        if not self.threads.failed():
            self.systemd.watchdog()
        if self.home_problem is None:
            lost = self.pidfile.lost()
            if lost:
                self.home_problem = lost + ": the CLI cannot reach this daemon and its database is no longer on disk"
                log.error("%s; stop it with kill %d and start it again", self.home_problem, os.getpid())

    def _thread_failed(self, name):
        log.error("/health now answers 503 degraded; %s", "systemd's watchdog will restart the daemon"
                  if self.systemd.watchdog_seconds else "restart the daemon (sysmedic daemon stop/start)")

    def reload(self):
        """Re-read config.json and websocket.json (SIGHUP); a bad file keeps the old settings."""
        try:
            self.settings.reload_config()
            self.settings.forget_hosts()
            self.listeners.apply(self.settings.websocket())
            self._applied()
            log.info("configuration reloaded")
        except SysMedicError as err:
            log.error("reload failed, keeping the running configuration: %s", err)
        except Exception:  # a bug must not end the daemon (issue 13: 1e400 did, on SIGHUP)
            log.exception("reload failed, keeping the running configuration")

    def _request_stop(self):
        """From another thread (the control socket): stop, and wake the main thread to do it."""
        self.stop.set()
        self._poke()

    # -- the HTTP listener ------------------------------------------------------------------------

    def _make_server(self, settings):
        # Late-bound: the first listener is bound before the parts it serves exist (it only
        # serves once they do).
        context = ServerContext(settings, __version__, self.registry, self.stop,
                                secret=lambda: self.secret.bytes(), state=lambda: self.shared.state(),
                                health_of=lambda listening: self.health.report(listening),
                                dashboard=lambda: self.dashboard, metrics=self._metrics_text)
        return Server((settings.host, settings.port), context)

    def _load_tls(self, settings):
        """The SSLContext for ``settings``' certificate and key (paths relative to the home),
        or None without TLS, once every file ``settings`` name is usable: a reload or a start
        that names a bad one says so and changes nothing (issue 22: a bad metrics token file
        said "configuration reloaded", then every scrape answered 500).

        :raises SysMedicError: one line naming the file."""
        if settings.metrics and settings.metrics_token_file:
            from ..server.http import read_token
            try:
                read_token(settings.metrics_token_file)
            except OSError as err:
                raise SysMedicError("metrics_token_file %s" % (err.strerror and "%s: %s" % (
                    settings.metrics_token_file, err.strerror) or err))
        if not settings.tls:
            return None
        from ..server.tls import load_context
        return load_context(os.path.join(self.home, settings.tls_cert_file),
                            os.path.join(self.home, settings.tls_key_file),
                            read=lambda path: read_as_owner(self.home, path))

    def _metrics_text(self):
        """The ``/metrics`` exposition from the last State (None before the first sample)."""
        state = self.shared.state()
        if state is None or self.sampler.last_sample is None:
            return None
        return render_metrics(state, self.health.figures())

    def _alert_opened(self, record, state):
        self.broadcaster.publish("alert", protocol.alert(state, record), droppable=False)
        for notifier in self.notifiers:
            notifier.submit(record, "open")

    def _alert_notice(self, event, record):
        """A resolution (when ``alerts.notify_resolved``) or a reminder, to every notifier."""
        if event == "resolve" and not self.settings.config.alerts.notify_resolved:
            return
        for notifier in self.notifiers:
            notifier.submit(record, event)


def _answering(history):
    """``get_history``'s builder for the State: the History's answer, its BadArguments given to
    the server as the protocol's BadRequest (the server knows the history only through this)."""
    def answer(request, now, gone=lambda: False):
        try:
            return history.answer(request, now, gone)
        except BadArguments as err:
            raise protocol.BadRequest(str(err))
    return answer


def _no_database(*query):
    raise StorageError(needs.absent("sqlite3"))


def _libc_function(name):
    """A function of the C library the daemon runs on, or None (no ctypes, not glibc)."""
    try:
        import ctypes
        return getattr(ctypes.CDLL(None), name)
    except (ImportError, OSError, AttributeError):
        return None


def limit_malloc_arenas(count=2):
    """Ask glibc for at most ``count`` malloc arenas. It gives each thread that allocates an
    arena of its own, and the daemon's dozen threads kept 3.3 MB more resident that way
    (measured: 32.7 MB against 29.4 MB with two). True if the C library took it (musl and
    other libcs have no ``mallopt``: nothing to do there)."""
    mallopt = _libc_function("mallopt")
    m_arena_max = -8  # from glibc's malloc.h
    return mallopt is not None and bool(mallopt(m_arena_max, count))


def heap_trimmer():
    """A callable that hands the heap's free pages back to the system (glibc ``malloc_trim``),
    run after each sample: a scan of 1000 processes frees what it built, and glibc kept it
    (measured at 1000 processes: 31.1 MB resident against 32.2, for 0.04% of a core). None
    where the C library has no such call."""
    trim = _libc_function("malloc_trim")
    if trim is None:
        return None
    return lambda: trim(0)
