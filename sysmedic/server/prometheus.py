"""``GET /metrics``: the daemon's figures in the Prometheus text exposition format 0.0.4.

Built from the last published State and the daemon's own counters (a scrape never waits for
the sampler). Names follow Prometheus conventions: base units (seconds, bytes, ratios 0-1),
``_total`` for counters, a HELP and a TYPE line per family. Per-user series are bounded:
:class:`UserCounters` keeps each user's CPU seconds (and any other figure exposed as a counter)
as a total that only grows (the same accounting as the WebSocket figures, so ``rate()`` equals
what clients see) and exposes at most ``max_users`` users by name; the set fills by CPU and
then stays, so the rest, summed under ``user="other"``, only grows too. The per-user families
are the rows of :data:`sysmedic.figures.FIGURES` that have a ``prometheus`` family.
"""

import math

from .. import figures
from ..untrusted import label

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SAMPLE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
STATUSES = ("Light Usage", "Medium Usage", "Heavy Load")


class UserCounters:
    """Per user, the cumulative total of every figure exposed as a counter (CPU seconds from
    the CPU share; bytes from a rate), fed one Snapshot at a time (the sampler's thread).

    ``view`` is ``{figure key: (((user, total), ...), other)}``, swapped whole after each sample.
    """

    def __init__(self, max_users=50):
        self.max_users = max_users
        self._figures = [f for f in figures.FIGURES if f.prometheus and f.prometheus.type == "counter"]
        self._totals = {}       # user -> [total of each counted figure]
        self._named = []        # users exposed by name, in the order they got a place
        self._other = [0.0] * len(self._figures)  # everyone else's
        self.view = {f.key: ((), 0.0) for f in self._figures}

    def add(self, snapshot, users=None):
        """Count ``users`` (default the snapshot's) over the snapshot's window."""
        capacity = snapshot.interval * snapshot.system.cpu_cores
        if snapshot.warming_up or capacity <= 0:
            return
        for user in sorted(snapshot.users if users is None else users, key=lambda u: -(u.cpu_percent or 0.0)):
            used = [_integral(f, f.of(user), snapshot.interval, capacity) for f in self._figures]
            totals = self._totals.get(user.username)
            if totals is None and len(self._named) < self.max_users and any(used):
                self._named.append(user.username)
                totals = self._totals[user.username] = [0.0] * len(used)
            if totals is None:
                totals = self._other
            for index, value in enumerate(used):
                totals[index] += value
        self.view = {f.key: (tuple((name, self._totals[name][index]) for name in self._named), self._other[index])
                     for index, f in enumerate(self._figures)}


def _integral(figure, value, interval, capacity):
    """What a figure's value over a window adds to its counter."""
    if not value:
        return 0.0
    if figure.kind == figures.CPU_SHARE:
        return value / 100.0 * capacity
    return value * interval


def _exposed(figure, value, memory_total):
    """A gauge figure in Prometheus's base units."""
    if value is None:
        return None
    if figure.kind == figures.MEMORY_SHARE:
        return round(value / 100.0 * memory_total)
    return value


class Histogram:
    """A cumulative histogram of observations in seconds (the sampler's durations)."""

    def __init__(self, buckets=SAMPLE_BUCKETS):
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.count = 0
        self.sum = 0.0

    def observe(self, value):
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[index] += 1
        self.count += 1
        self.sum += value


def _value(number):
    if number is None or (isinstance(number, float) and math.isnan(number)):
        return "NaN"
    if isinstance(number, bool):
        return "1" if number else "0"
    if isinstance(number, int):
        return str(number)
    return repr(float(number))




class Exposition:
    def __init__(self):
        self.lines = []

    def family(self, name, kind, help_text, samples):
        """``samples``: ``[(labels dict or None, value)]`` (a histogram passes its own names)."""
        self.lines.append("# HELP %s %s" % (name, help_text.replace("\\", "\\\\").replace("\n", " ")))
        self.lines.append("# TYPE %s %s" % (name, kind))
        for labels, value, *suffix in samples:
            series = name + (suffix[0] if suffix else "")
            if labels:
                series += "{%s}" % ",".join('%s="%s"' % (key, label(val)) for key, val in labels.items())
            self.lines.append("%s %s" % (series, _value(value)))

    def text(self):
        return "\n".join(self.lines) + "\n"


JUDGED = tuple(figure.threshold.metric for figure in figures.judged())  # cpu, memory: the metrics users are judged on


def render(state, daemon):
    """The exposition text of a State and the daemon's own figures (a
    :class:`~sysmedic.server.context.DaemonFigures`, the record ``/health`` renders too)."""
    out = Exposition()
    snapshot, system = state.snapshot, state.snapshot.system
    window = snapshot.window
    network_bytes = sum(window.after.network.values()) if window is not None else 0
    alerts_open = dict(state.alerts.open_by_severity) if state.alerts else {}
    out.family("sysmedic_cpu_usage_ratio", "gauge", "Busy share of the machine's CPU capacity (0-1).",
               [(None, None if system.cpu_usage is None else system.cpu_usage / 100.0)])
    out.family("sysmedic_cpu_cores", "gauge", "CPU cores.", [(None, system.cpu_cores)])
    out.family("sysmedic_memory_total_bytes", "gauge", "Memory in all.", [(None, system.memory_total)])
    out.family("sysmedic_memory_available_bytes", "gauge", "Memory available (MemAvailable).",
               [(None, system.memory_available)])
    out.family("sysmedic_memory_usage_ratio", "gauge", "Share of memory not available (0-1).",
               [(None, system.memory_usage / 100.0)])
    out.family("sysmedic_disk_usage_ratio", "gauge", "Share of the root filesystem used (0-1).",
               [(None, system.disk_usage / 100.0)])
    out.family("sysmedic_load_average", "gauge", "Load average over 1, 5 and 15 minutes.",
               [({"period": period}, value) for period, value in zip(("1m", "5m", "15m"), system.load_avg)])
    out.family("sysmedic_network_bytes_total", "counter", "Bytes received and sent on non-loopback interfaces.",
               [(None, network_bytes)])
    out.family("sysmedic_uptime_seconds", "gauge", "Seconds since the machine booted.", [(None, system.uptime)])
    if system.pressure is not None:  # PSI: counters of stalled time (rate() is the share), and the kernel's avg10
        lines = [({"resource": resource, "kind": kind}, line) for resource, kinds in sorted(system.pressure.items())
                 for kind, line in sorted(kinds.items())]
        out.family("sysmedic_pressure_stalled_seconds_total", "counter",
                   "Seconds tasks were stalled on the resource since boot (some: at least one; full: all at once).",
                   [(labels, line["total"]) for labels, line in lines])
        out.family("sysmedic_pressure_avg10_ratio", "gauge",
                   "The kernel's 10 s average share of time stalled on the resource (0-1).",
                   [(labels, line["avg10"] / 100.0) for labels, line in lines])
    out.family("sysmedic_status", "gauge", "The status label now: 1 for the current one.",
               [({"status": label}, int(label == state.assessment.status)) for label in STATUSES])
    out.family("sysmedic_alerts_open", "gauge", "Alerts open, by severity.",
               [({"severity": severity}, alerts_open.get(severity, 0))
                for severity in ("critical", "warning")])
    counted = daemon.user_counters
    shown = set()
    for figure in figures.FIGURES:  # per user: the counters, then the gauges of the users they name
        if figure.prometheus and figure.prometheus.type == "counter":
            named, other = counted[figure.key]
            shown.update(name for name, _ in named)
            out.family(figure.prometheus.name, "counter", figure.prometheus.help,
                       [({"user": name}, total) for name, total in named] + [({"user": "other"}, other)])
    users = [u for u in snapshot.users if u.username in shown]
    for figure in figures.FIGURES:
        if figure.prometheus and figure.prometheus.type == "gauge":
            out.family(figure.prometheus.name, "gauge", figure.prometheus.help,
                       [({"user": u.username}, _exposed(figure, figure.of(u), system.memory_total)) for u in users])
    persistent = {(p.username, p.metric) for p in state.assessment.persistent}
    out.family("sysmedic_user_persistent", "gauge", "1 while a user is persistently above a threshold.",
               [({"user": u.username, "metric": metric}, int((u.username, metric) in persistent))
                for u in users for metric in JUDGED])
    histogram = daemon.sample_durations
    samples = [({"le": repr(bound)}, count, "_bucket") for bound, count in zip(histogram.buckets, histogram.counts)]
    samples += [({"le": "+Inf"}, histogram.count, "_bucket"), (None, histogram.sum, "_sum"),
                (None, histogram.count, "_count")]
    out.family("sysmedic_sample_duration_seconds", "histogram", "How long reading a sample took.", samples)
    out.family("sysmedic_last_sample_age_seconds", "gauge", "Seconds since the last sample.",
               [(None, daemon.sample_age)])
    out.family("sysmedic_websocket_clients", "gauge", "WebSocket clients connected.", [(None, daemon.clients)])
    out.family("sysmedic_messages_dropped_total", "counter", "Messages dropped for clients that did not read.",
               [(None, daemon.messages_dropped)])
    out.family("sysmedic_clients_evicted_total", "counter", "Clients evicted for not reading.",
               [(None, daemon.clients_evicted)])
    out.family("sysmedic_exit_records_lost_total", "counter", "Kernel exit-record socket overflows since start.",
               [(None, snapshot.exits_lost)])
    out.family("sysmedic_notifications_sent_total", "counter", "Alert notices delivered, by notifier.",
               [({"notifier": n.name}, n.sent) for n in daemon.notifiers])
    out.family("sysmedic_notifications_failed_total", "counter", "Alert notices given up, by notifier.",
               [({"notifier": n.name}, n.failed) for n in daemon.notifiers])
    return out.text()
