"""The daemon's named long-lived threads, watched so that none dies unseen (issue 8, defect 11).

Every loop catches and logs its own per-item errors and carries on. If a loop escapes anyway
(a bug), :class:`Threads` logs it with the traceback, records the thread as ``failed``, and
calls ``on_failure`` so the daemon can report it: ``/health`` answers ``degraded`` with HTTP
503 and the systemd watchdog is no longer fed, so systemd restarts the daemon. Threads that
are not ours to supervise (the HTTP server's per-connection threads, the WebSocket library's reader)
reach the log through :func:`log_uncaught`, installed as ``threading.excepthook``.
"""

import logging
import threading

from .. import needs

log = logging.getLogger(__name__)

RUNNING, STOPPED, FAILED = "running", "stopped", "failed"


def log_uncaught(args):
    """``threading.excepthook``: an exception that ends any thread is logged with its traceback."""
    if issubclass(args.exc_type, SystemExit):
        return
    name = args.thread.name if args.thread is not None else "?"
    if needs.module_of(args.exc_value):
        log.error("thread %s died: %s", name, needs.absent(needs.module_of(args.exc_value)))
        return
    log.error("thread %s died", name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


class Threads:
    """Starts named daemon threads running ``target(stop)`` and remembers how each ended.

    :param stop: the daemon's stop Event, passed to every target.
    :param on_failure: called with the thread's name when a target raises.
    """

    def __init__(self, stop, on_failure=None):
        self._stop = stop
        self._on_failure = on_failure
        self._lock = threading.Lock()
        self._threads = {}
        self._failed = set()

    def start(self, name, target):
        thread = threading.Thread(target=self._run, args=(name, target), name=name, daemon=True)
        with self._lock:
            self._threads[name] = thread
        thread.start()
        return thread

    def _run(self, name, target):
        try:
            target(self._stop)
        except BaseException as err:
            with self._lock:
                self._failed.add(name)
            if needs.module_of(err):  # a module this Python lacks: one line, no traceback (issue 24)
                log.error("thread %s died; the daemon is degraded: %s", name, needs.absent(needs.module_of(err)))
            else:
                log.exception("thread %s died; the daemon is degraded", name)
            if self._on_failure is not None:
                self._on_failure(name)
            return
        with self._lock:
            retired = self._threads.get(name) is not threading.current_thread()
        if not self._stop.is_set() and not retired:
            with self._lock:
                self._failed.add(name)
            log.error("thread %s ended before the daemon stopped; the daemon is degraded", name)
            if self._on_failure is not None:
                self._on_failure(name)

    def retire(self, name):
        """Forget the thread ``name``: it is being ended on purpose (a part replaced while the
        daemon runs), so its end is no failure; a new thread may take the name."""
        with self._lock:
            self._threads.pop(name, None)

    def states(self):
        """Thread name -> ``running``, ``stopped`` or ``failed``."""
        with self._lock:
            threads, failed = dict(self._threads), set(self._failed)
        return {name: FAILED if name in failed else RUNNING if thread.is_alive() else STOPPED
                for name, thread in sorted(threads.items())}

    def failed(self):
        with self._lock:
            return sorted(self._failed)

    def join(self, name, timeout):
        """Wait up to ``timeout`` s for ``name`` to end; False (and a warning) if it did not."""
        with self._lock:
            thread = self._threads.get(name)
        if thread is None:
            return True
        thread.join(timeout)
        if thread.is_alive():
            log.warning("thread %s did not stop in time", name)
            return False
        return True
