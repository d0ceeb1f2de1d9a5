"""Notifiers: where alerts are sent (e-mail, a webhook, a command).

A notifier is any object with this interface (:class:`~.base.Notifier` gives it all but the
delivery); the daemon keeps a list of them, starts one thread per notifier (named
``notify:<name>``) and hands each alert event to every one:

``name``            short identifier, used in thread names, logs and ``alerts test`` (``"email"``);
``submit(alert, event)``  queue an AlertRecord to send for ``event`` (open, resolve, reminder)
                    if its settings want it; never blocks (a bounded
                    :class:`~sysmedic.mailbox.Mailbox` inside);
``run(stop)``       the thread's loop: send what is queued, log and count every failure
                    (never die on one), return after :meth:`close` once the queue is drained;
``close()``         end ``run`` after what is already queued;
``sent``, ``failed``, ``dropped``   counters, reported by ``/health``.

``test(alert)``     deliver a test notice now, once: ``None`` or the error (``alerts test``).

Adding a notifier is a module here, ``sysmedic/notify/<name>.py`` with ``NOTIFIER`` (its class,
called with ``settings()`` and ``hostname``), and its settings section in
:mod:`sysmedic.config.options`, named in ``SECTIONS`` and ``NOTIFIERS``: that is its registration.
"""

import importlib


def notifiers(config, hostname=None):
    """Every notifier of :data:`sysmedic.config.NOTIFIERS`, each reading its settings from
    ``config()`` (reloads swap it)."""
    from ..config import NOTIFIERS
    return [importlib.import_module("%s.%s" % (__name__, name)).NOTIFIER(
                lambda name=name: getattr(config(), name), hostname=hostname) for name in NOTIFIERS]
