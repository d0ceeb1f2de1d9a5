"""What the CLI can ask the running daemon, over the control socket (``daemon/control.py``).

Each command takes the request dict and returns a JSON-ready dict; a SysMedicError becomes
``{"ok": false, "error": ...}`` for the CLI to print. The commands change the daemon only
through its parts (settings, listeners, secret, writer), never its internals.
"""

import logging
import os
import time

from .. import __version__, views
from .. import config as configuration
from ..errors import NotFound, SysMedicError, UsageError
from ..server import protocol
from ..server.frames import SECRET_ROTATED
from ..storage import MAX_ALERT_ID

log = logging.getLogger(__name__)
RESOLVE_TIMEOUT = 10.0


def connection_urls(secret, host, port, tls=False):
    """``(sysmedic://secret@host:port/, ws://host:port/ws?secret=...)``; with TLS on,
    ``sysmedics://`` and ``wss://`` (docs/protocol-decisions.md, protocol decision 16)."""
    shown = "[%s]" % host if ":" in host else host
    suffix = "s" if tls else ""
    return ("sysmedic%s://%s@%s:%d/" % (suffix, secret, shown, port),
            "ws%s://%s:%d/ws?secret=%s" % (suffix, shown, port, secret))


class ControlCommands:
    """
    :param stop: ask the daemon to stop (the main thread wakes and shuts down).
    :param reload: ask the main thread to reload as on SIGHUP.
    :param started: the daemon's start, epoch seconds.
    """

    def __init__(self, settings, listeners, secret, registry, shared, writer, health, threads,
                 stop, reload, started, clock=time.time, applied=lambda: None):
        self._settings = settings
        self._applied = applied
        self._listeners = listeners
        self._secret = secret
        self._registry = registry
        self._shared = shared
        self._writer = writer
        self._health = health
        self._threads = threads
        self._stop = stop
        self._reload = reload
        self._started = started
        self._clock = clock

    def handlers(self):
        """Command name -> handler, for the ControlServer."""
        return {"status": self.status, "websocket-apply": self.websocket_apply, "config-apply": self.config_apply,
                "config-show": self.config_show,
                "new-secret": self.new_secret, "stop": self.stop, "reload": self.reload,
                "resolve": self.resolve, "dashboard": self.dashboard, "users": self.users,
                "user-processes": self.user_processes, "top": self.top}

    def status(self, request=None):
        """The daemon's state for ``daemon status`` and ``websocket status`` (holds the secret:
        only for the control socket's owner)."""
        listener = self._listeners.current
        saved = self._settings.saved_websocket()
        secret = self._secret.text()
        info = {"pid": os.getpid(), "version": __version__,
                "uptime_seconds": round(self._clock() - self._started, 1), "home": self._settings.home,
                "clients": self._registry.count(), "listening": listener is not None,
                "enabled": saved.enabled if saved else None, "secret": secret,
                "problems": self._health.problems(), "warnings": self._health.warnings(),
                "threads": self._threads.states()}
        if listener is not None:
            public = self._settings.public_host(listener.settings)
            port = listener.settings.port
            tls = listener.server.tls is not None
            info.update(host=public.host, host_note=public.note, port=port, bind=listener.settings.host, tls=tls)
            info["url"], info["ws_url"] = connection_urls(secret, public.host, port, tls)
        return info

    def websocket_apply(self, request):
        """``websocket start|stop``: the operator saved a port, so ``--port`` no longer applies."""
        self._settings.drop_port_override()
        self._settings.forget_hosts()
        self._listeners.apply(self._settings.websocket())
        return self.status()

    def config_apply(self, request):
        """``config set``: re-read config.json now; a bad file is an error and changes nothing."""
        self._settings.reload_config()
        self._applied()
        log.info("config.json applied")
        return self.status()

    def config_show(self, request):
        """``config show --running``: every option as this daemon applies it now; one taken
        only at restart shows the value the daemon started with. Secrets masked."""
        started = {key: value for key, value, _ in configuration.describe(self._settings.first_config)}
        return {"options": [[key, list(value) if isinstance(value, tuple) else value, help_text]
                            for key, value, help_text in
                            ((key, started[key] if configuration.at_restart(key) else value, help_text)
                             for key, value, help_text in configuration.describe(self._settings.config))]}

    def new_secret(self, request):
        self._secret.rotate()
        self._registry.kick_all(SECRET_ROTATED, "secret rotated")
        log.info("secret rotated; %d clients disconnected", self._registry.count())
        return self.status()

    def stop(self, request):
        self._stop()
        return {"stopping": True}

    def reload(self, request):
        self._reload()
        return {"reloading": True}

    def resolve(self, request):
        alert_id = request.get("id")
        if alert_id is not None and (not isinstance(alert_id, int) or isinstance(alert_id, bool)):
            raise UsageError("alert id must be a number")
        if alert_id is not None and not 0 <= alert_id <= MAX_ALERT_ID:
            raise NotFound("alert %d does not exist" % alert_id)
        return {"resolved": self._writer.resolve(alert_id).result(timeout=RESOLVE_TIMEOUT)}

    def users(self, request):
        state = self._shared.state()
        return {"sample_time": round(state.snapshot.time, 3), "users": views.user_metrics(state.users),
                "unseen": list(state.snapshot.unseen)}

    def user_processes(self, request):
        """``sysmedic users <user>``: the answer of ``get_user_processes``, or its error."""
        try:
            return protocol.user_processes_data(self._shared.state(), request)
        except protocol.BadRequest as err:
            raise SysMedicError(str(err))

    def top(self, request):
        """One frame of ``sysmedic top`` (sysmedic/commands/top.py): the machine, the users and, with
        ``history`` (get_history's arguments), the last minutes of CPU and memory."""
        state = self._shared.state()
        spark = {}
        if isinstance(request.get("history"), dict) and state.history is not None:
            try:
                found = state.history(request["history"], state.snapshot.time)
                spark = {name: series["avg"] for name, series in found["system"].items()}
            except ValueError as err:
                raise SysMedicError("history: %s" % err)
        return {"frame": {"name": state.system_name, "status": state.assessment.status, "time": state.snapshot.time,
                          "system": views.system_info(state.snapshot), "users": views.user_metrics(state.users),
                          "spark": spark, "interval": state.config.monitoring.update_interval}}

    def dashboard(self, request):
        """The figures ``sysmedic [dashboard]`` shows (the CLI renders them)."""
        state = self._shared.state()
        counts = (state.alerts.unresolved, state.alerts.total)
        return {"dashboard": views.dashboard(state.snapshot, state.assessment, list(state.users), counts,
                                             state.system_name, "daemon", state.config.monitoring,
                                             self._settings.machine_name())}
