"""Notifiers: where an opened alert is sent (e-mail today; webhooks and others later).

A notifier is any object with this interface; the daemon keeps a list of them, starts one
thread per notifier (named ``notify:<name>``) and hands each opened alert to every one:

``name``            short identifier, used in thread names and logs (``"email"``);
``submit(alert)``   queue an AlertRecord to send; never blocks (a bounded
                    :class:`~sysmedic.mailbox.Mailbox` inside);
``run(stop)``       the thread's loop: send what is queued, log and count every failure
                    (never die on one), return after :meth:`close` once the queue is drained;
``close()``         end ``run`` after what is already queued;
``sent``, ``failed``, ``dropped``   counters, reported by ``/health``.

Adding a notifier is a new module here and one line in ``daemon/app.py``'s ``notifiers()``.
"""
