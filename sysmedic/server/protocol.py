"""The SysMedic wire protocol: message shapes and request handling (stdlib-only, no I/O).

The one place the wire format is built from the daemon's records
(:class:`sysmedic.daemon.state.State`). Every message is ``{"type", "data", "timestamp"}``
plus ``request_id`` on responses (docs/protocol-decisions.md, decisions 1 and 10). Requests
are answered from the latest State, never from live I/O, so a request costs microseconds and
cannot block. A new request type is one entry in :data:`HANDLERS`.
"""

import json

from .. import figures
from .. import formatting as fmt
from .. import views
from ..views import processes

MAX_REQUEST_ID = 128
MAX_ECHO = 64

# Error texts of docs/protocol-decisions.md decision 11.
INVALID_JSON = "Invalid JSON"
NOT_OBJECT = "Request must be a JSON object"
MISSING_TYPE = "Missing request type"
BINARY = "Binary messages are not supported"
RATE_LIMITED = "Rate limit exceeded"


def encode(kind, data, now, request_id=None):
    """The JSON text of one message (compact separators; NaN is never produced)."""
    message = {"type": kind, "data": data, "timestamp": fmt.iso_utc(now)}
    if request_id is not None:
        message["request_id"] = request_id
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


def welcome(state):
    """The spec's five fields, and ``user_columns`` (extension): the per-user figures a user
    table shows, in order (the web dashboard draws its columns from it)."""
    return {"message": "Connected to SysMedic", "version": state.version, "system": state.system_name,
            "status": state.assessment.status, "daemon": "Running", "user_columns": figures.columns()}


def system_update(state):
    """The four documented fields plus ``status``, ``load_avg``, ``network_io``, ``cpu_cores``,
    ``sample_time`` (epoch seconds, ms precision: when the figures were measured),
    ``accounting`` (how per-user CPU was counted) and ``pressure`` (PSI, :func:`views.pressure`)."""
    info = views.system_info(state.snapshot)
    return {"cpu_usage": info["cpu_usage"], "memory_usage": info["memory_usage"],
            "disk_usage": info["disk_usage"], "uptime": info["uptime"],
            "status": state.assessment.status, "load_avg": info["load_avg"],
            "network_io": info["network_io"], "cpu_cores": info["cpu_cores"],
            "sample_time": round(state.snapshot.time, 3), "accounting": info["accounting"],
            "pressure": info["pressure"]}


def alert(state, record):
    """An ``alert`` broadcast for the AlertRecord ``record`` (decision 9)."""
    assessment = state.assessment
    return {
        "status": assessment.status,
        "system_metrics": views.system_info(state.snapshot),
        "user_metrics": views.user_metrics(state.users[:5]),
        "persistent_users": [p.to_json() for p in assessment.persistent],
        "primary_cause": assessment.primary_cause,
        "recommendations": list(assessment.recommendations),
        "id": record.id,
        "stored": record.id is not None,
        "severity": record.severity,
        "cause": record.cause,
        "message": record.message,
        "resolved": record.resolved,
        "processes": list(record.details.get("processes", [])) if record.details else [],
        "ended": list(record.details.get("ended", [])) if record.details else [],
    }


def alerts_data(summary):
    if summary.unresolved == 0:
        status = "No unresolved alerts"
    elif summary.unresolved == 1:
        status = "1 unresolved alert"
    else:
        status = "%d unresolved alerts" % summary.unresolved
    return {"unresolved_count": summary.unresolved, "total_count": summary.total,
            "recent_alerts": list(summary.recent), "status": status, "alerts": list(summary.records)}


def config_data(state):
    """``get_config`` (decision 7): Go durations, integer thresholds, never a secret."""
    monitoring = state.config.monitoring
    return {"monitoring_interval": fmt.go_duration(monitoring.monitoring_interval),
            "cpu_threshold": monitoring.cpu_threshold, "memory_threshold": monitoring.memory_threshold,
            "version": state.version,
            "update_interval": fmt.go_duration(monitoring.update_interval),
            "persistent_time": fmt.go_duration(monitoring.persistent_time),
            **{figure.threshold.option: getattr(monitoring, figure.threshold.option) for figure in figures.judged()}}


# Requests that cost more than one against the rate limit: get_history may read a day of rows
# from SQLite (~150 ms), so a client gets two a second at the default 20 requests/s.
COSTS = {"get_history": 10}


def cost_of(message):
    """What ``message`` (text) counts against the rate limit: a cheap look, before parsing."""
    if isinstance(message, str):
        for kind, cost in COSTS.items():
            if kind in message:
                return cost
    return 1


class BadRequest(ValueError):
    """A request's arguments are wrong: the text is the ``error`` reply."""


def user_processes_data(state, request, gone=None):
    """``get_user_processes`` (an extension, docs/protocol-decisions.md 15): a user's top
    processes by CPU, at most ``limit`` (default 10, at most 50)."""
    username = request.get("username")
    if not isinstance(username, str) or not username:
        raise BadRequest("username is required (a user name)")
    try:
        limit = processes.check_limit(request.get("limit"))
    except ValueError as err:
        raise BadRequest(str(err))
    user = next((u for u in state.users if u.username == username), None)
    if user is None:
        shown = username if len(username) <= MAX_ECHO else username[:MAX_ECHO] + "..."
        raise BadRequest("Unknown user: %s" % shown.encode("utf-8", "backslashreplace").decode("utf-8"))
    return {"username": username, "sample_time": round(state.snapshot.time, 3),
            "processes": processes.top_processes(state.snapshot, user.uid, limit),
            "ended": processes.ended_processes(state.snapshot, user.uid)}


def history_data(state, request, gone=lambda: False):
    """``get_history`` (an extension, docs/protocol-decisions.md 17): the one request that may
    read the database (a range older than the samples kept in memory)."""
    if state.history is None:
        raise BadRequest("history is not available")
    return state.history(request, state.snapshot.time, gone)  # raises BadRequest for bad arguments


# request type -> (response type, data builder): builders take the State, or the State and the
# request when they read arguments (``wants_request``).
HANDLERS = {
    "get_system_info": ("system_info_response", lambda s: views.system_info(s.snapshot)),
    "get_alerts": ("alerts_response", lambda s: alerts_data(s.alerts)),
    "get_user_metrics": ("user_metrics_response", lambda s: views.user_metrics(s.users)),
    "get_config": ("config_response", config_data),
    "ping": ("pong", lambda s: {"message": "pong"}),
    "get_user_processes": ("user_processes_response", user_processes_data),
    "get_history": ("history_response", history_data),
}
WITH_ARGUMENTS = {"get_user_processes", "get_history"}


def _is_unicode(text):
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _reject_constant(name):
    raise ValueError("%s is not JSON" % name)


def parse(text):
    """``(request_type, error_text, request_id)`` of a request text: ``error_text`` is None for a
    valid request, and ``request_type`` is None when it is not.

    ``request_id`` is kept only when it is a string of at most 128 characters (decision 10) of
    valid Unicode (a lone surrogate such as ``"\\ud800"`` would be echoed as JSON that strict
    parsers reject: issue 13), and even for an invalid request, so its error reply can carry it.
    """
    kind, error, request_id, _request = parse_request(text)
    return kind, error, request_id


def parse_request(text):
    """:func:`parse` and the request object itself (None when it is not one)."""
    try:
        request = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None, INVALID_JSON, None, None
    if not isinstance(request, dict):
        return None, NOT_OBJECT, None, None
    request_id = request.get("request_id")
    if not (isinstance(request_id, str) and len(request_id) <= MAX_REQUEST_ID and _is_unicode(request_id)):
        request_id = None
    kind = request.get("type")
    if not isinstance(kind, str) or not kind:
        return None, MISSING_TYPE, request_id, request
    return kind, None, request_id, request


def request_id_of(message):
    """The ``request_id`` an error reply to ``message`` (text or bytes) should carry, or None."""
    return parse(message)[2] if isinstance(message, str) else None


def arguments(request):
    """A request's arguments: the spec's request format carries them in ``data``
    (``{"type", "request_id", "data": {...}}``); the top level works too, and where both name
    one, ``data``'s is used (issue 22)."""
    data = request.get("data")
    if not isinstance(data, dict):
        return request
    merged = dict(request)
    merged.update(data)
    return merged


def respond(text, state, now, gone=lambda: False):
    """The response text for one request text (always one message, never an exception);
    ``gone()`` says whether the asking client has gone away (a long read then stops)."""
    kind, error, request_id, request = parse_request(text)
    if error is not None:
        return error_message(error, now, request_id)
    handler = HANDLERS.get(kind)
    if handler is None:
        shown = kind if len(kind) <= MAX_ECHO else kind[:MAX_ECHO] + "..."
        shown = shown.encode("utf-8", "backslashreplace").decode("utf-8")  # a lone surrogate as text
        return error_message("Unknown request type: %s" % shown, now, request_id)
    response_type, build = handler
    try:
        data = build(state, arguments(request), gone) if kind in WITH_ARGUMENTS else build(state)
    except BadRequest as err:
        return error_message(str(err), now, request_id)
    return encode(response_type, data, now, request_id)


def error_message(text, now, request_id=None):
    return encode("error", {"error": text}, now, request_id)


class RateLimiter:
    """A token bucket: ``rate`` requests per second with bursts of ``burst``.

    Requests over the limit are dropped, not answered: answering each one let a flooding client
    queue replies without bound (issue 13). :meth:`warn` says when one ``Rate limit exceeded``
    error is due: at most one every ``warn_every`` seconds. A client that goes on sending far
    past its limit (more than ``max(100, 10 x rate)`` requests dropped between two warnings) is
    :meth:`flooding`: the session evicts it (1008) rather than read and drop at wire speed.

    :param clock: monotonic seconds.
    """

    def __init__(self, rate, burst, clock, warn_every=1.0):
        self._rate = float(rate)
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._last = clock()
        self._warn_every = warn_every
        self._warned = None
        self._flood_limit = max(100, 10 * rate * warn_every)
        self._dropped_since_warning = 0

    def warn(self):
        """For a request :meth:`allow` refused: True if it gets the error reply, False if it is
        dropped silently (counted toward :meth:`flooding`)."""
        now = self._clock()
        if self._warned is None or now - self._warned >= self._warn_every:
            self._warned = now
            self._dropped_since_warning = 0
            return True
        self._dropped_since_warning += 1
        return False

    def flooding(self):
        return self._dropped_since_warning > self._flood_limit

    def allow(self, cost=1.0):
        """Whether a request costing ``cost`` requests (at most the burst) may go now."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        cost = min(float(cost), self._burst)
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False
