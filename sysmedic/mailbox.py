"""A bounded FIFO that producers never block on (stdlib-only leaf module; docs/architecture.md #7).

Every queue between SysMedic's threads is a :class:`Mailbox`: the broadcaster's pending
messages, each client's outgoing messages, the mailer's alerts and the storage writer's
operations. They differ only in what goes when the box is full, which is a *policy*
parameter: a function ``policy(items, new)`` that returns the index in ``items`` of the queued
item to drop, or ``None`` to refuse ``new`` instead.
A worker thread runs :meth:`consume`, the one worker loop (a failure is logged and the loop
goes on); a client's session thread instead polls with :meth:`take_all`, since it also serves
what its peer sends. :meth:`close` ends the loop once what is queued has been handled.
"""

import collections
import threading

CLOSED = object()   # what get() returns once the box is closed and empty
TIMEOUT = object()  # what get(timeout) returns when nothing came in time
# What put() did with an item.
QUEUED, DROPPED, BYPASSED = "queued", "dropped", "bypassed"


def drop_oldest(items, new):
    """Make room by dropping the oldest queued item."""
    return 0


def refuse_new(items, new):
    """Keep what is queued; the new item is the one dropped."""
    return None


def droppable_first(items, new):
    """Drop the oldest item whose ``droppable`` is true (a system update); if only
    undroppable items (alerts) are queued, refuse a droppable newcomer, else drop the oldest."""
    for index, queued in enumerate(items):
        if queued.droppable:
            return index
    return None if new.droppable else 0


class Mailbox:
    """
    :param limit: items held at most.
    :param policy: what to drop when full (:func:`drop_oldest`, :func:`refuse_new`,
        :func:`droppable_first` or your own).
    :param on_drop: called with each dropped item, under the box's lock: keep it short
        (count and log).
    """

    def __init__(self, limit, policy=drop_oldest, on_drop=None):
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._items = collections.deque()
        self._limit = limit
        self._policy = policy
        self._on_drop = on_drop
        # put() and take_all() hold the plain lock itself (C-level, unlike the Condition's
        # Python-level __enter__): they run once per client per broadcast.
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._closed = False
        self.dropped = 0

    def put(self, item, bypass=None):
        """Queue ``item`` without blocking: :data:`QUEUED`, :data:`DROPPED` when the policy
        refused it, or :data:`BYPASSED`.

        ``bypass(item)``, when given, is called under the lock while the box is empty; if it
        returns true the item counts as delivered without being queued (the broadcaster writes to an
        idle client directly this way, and order is kept because nothing was waiting).
        """
        with self._lock:
            if bypass is not None and not self._items and bypass(item):
                return BYPASSED
            if len(self._items) >= self._limit:
                index = self._policy(self._items, item)
                dropped = item if index is None else self._items[index]
                self.dropped += 1
                if self._on_drop is not None:
                    self._on_drop(dropped)
                if index is None:
                    return DROPPED
                del self._items[index]
            self._items.append(item)
            self._ready.notify()
            return QUEUED

    def get(self, timeout=None):
        """The oldest item, waiting for one; :data:`CLOSED` once closed and empty;
        :data:`TIMEOUT` when ``timeout`` seconds passed without one."""
        with self._ready:
            if not self._items and not self._closed:
                self._ready.wait_for(lambda: self._items or self._closed, timeout)
            if self._items:
                return self._items.popleft()
            return CLOSED if self._closed else TIMEOUT

    def consume(self, handle, on_error):
        """The worker loop: ``handle(item)`` for every item, oldest first, waiting for more,
        until :meth:`close` and the box is empty. When ``handle`` raises, ``on_error(item)`` is
        called inside the ``except`` (so ``log.exception`` there has the traceback) and the
        loop goes on with the next item: one bad item never ends the thread."""
        while True:
            item = self.get()
            if item is CLOSED:
                return
            try:
                handle(item)
            except Exception:
                on_error(item)

    def take_all(self, then=None):
        """Every queued item now, oldest first, without waiting.

        ``then(items)`` runs under the lock, so a consumer can change its own state
        atomically with the take (a client marks itself busy while it sends what it took).
        """
        with self._lock:
            items = self._take()
            if then is not None:
                then(items)
            return items

    def _take(self):
        items = list(self._items)
        self._items.clear()
        return items

    def close(self):
        """Wake every waiter; after the queued items, getters see the end."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def __len__(self):
        with self._ready:
            return len(self._items)
