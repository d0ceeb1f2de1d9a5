"""``sysmedic top``: a live terminal view of the running daemon (issue 12), stdlib ``curses``.

A *frame* is one plain dict, the same from either feed: ``{"name", "status", "system"
(get_system_info's fields), "users" (get_user_metrics' rows), "time" (of the sample), "spark" ({"cpu": [...],
"memory": [...]}, the last minutes from get_history), "interval" (seconds between samples)}``.
:class:`LocalFeed` asks the daemon's control socket (one request a frame); :class:`RemoteFeed`
speaks the WebSocket protocol to a ``sysmedic[s]://`` or ``ws[s]://`` URL.

:func:`render` turns a frame into lines of at most ``width`` characters (tested without a
terminal; ``--once`` prints it); :func:`show` draws it with curses, reads keys (``c`` ``m`` ``p``
sort, arrows move, Enter shows the user's processes, Esc or Left goes back, ``h``/``?``/F1
help, ``q`` quits) and redraws on resize. The selection follows its user (:func:`follow`).
"""

import locale
import re
import sys
import time

from .. import figures, needs
from ..errors import SysMedicError
from ..untrusted import pad, terminal
from .client import Connection

SPARK_SECONDS = 300
BLOCKS = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"
ASCII_BLOCKS = "_.-=+*#@"


def spark_request(points):
    """get_history's arguments for a sparkline of ``points`` characters over the last minutes."""
    return {"since": SPARK_SECONDS, "metrics": ["cpu", "memory"], "step": max(1.0, SPARK_SECONDS / max(points, 1))}


def sparkline(values, width, blocks=BLOCKS):
    """The last ``width`` values (0-100, None unknown) as block characters."""
    shown = [v for v in values if v is not None][-width:]
    return "".join(blocks[min(len(blocks) - 1, int(max(0.0, v) / 100.0 * len(blocks)))] for v in shown)


def sort_users(users, key):
    field = figures.sorts()[key].key
    return sorted(users, key=lambda u: (-(u.get(field) or 0), u["username"]))


def _waited(lines):
    window = (lines or {}).get("some", {}).get("window")
    return "-" if window is None else "%.1f%%" % window


def render(frame, width=80, height=24, sort="c", selected=0, processes=None, user=None, ascii_only=False,
           ended=()):
    """The screen's lines for ``frame``: a header, then the users table, or ``user``'s
    ``processes`` (get_user_processes' rows) when drilled down."""
    width = max(width, 20)
    blocks = ASCII_BLOCKS if ascii_only else BLOCKS
    system = frame["system"]
    load = system.get("load_avg") or []
    clock = time.strftime("%H:%M:%S", time.localtime(frame["time"])) if frame.get("time") else ""
    # The machine's name gives way first: the status, the interval and the clock always show.
    rest = " - %s - every %gs" % (frame["status"], frame.get("interval") or 0)
    room = max(1, width - len("SysMedic top - ") - len(rest) - len(clock) - 1)
    title = "SysMedic top - %s%s" % (terminal(frame.get("name") or "?", room), rest)
    lines = [_fit(title + " " * max(1, width - len(title) - len(clock)) + clock, width)]
    graph = max(0, width - 26)
    for label, key, figure in (("CPU", "cpu", system.get("cpu_usage")), ("MEM", "memory", system.get("memory_usage"))):
        shown = "-" if figure is None else "%.1f%%" % figure
        lines.append(_fit("%-4s %7s  %s" % (label, shown, sparkline(frame["spark"].get(key) or [], graph, blocks)),
                          width))
    lines.append(_fit("LOAD %s   cores %s   disk %s%%   net %s   up %s" % (
        " ".join("%.2f" % v for v in load) if isinstance(load, list) else load, system.get("cpu_cores"),
        system.get("disk_usage"), system.get("network_io"), system.get("uptime")), width))
    pressure = system.get("pressure")
    if pressure:  # who is being slowed down: the share of the window some task waited (PSI)
        lines.append(_fit("WAIT " + "   ".join("%s %s" % (label, _waited(pressure.get(name)))
                                               for label, name in (("cpu", "cpu"), ("mem", "memory"), ("io", "io"))),
                          width))
    lines.append("")
    body = max(1, height - len(lines) - 2)
    if processes is not None:
        lines.append(_fit("Processes of %s (Esc: back, q: quit)" % terminal(user, 32), width))
        lines.append(_fit("%7s %6s %6s %7s %5s  %s" % ("PID", "CPU%", "MEM%", "THREADS", "STATE", "COMMAND"), width))
        for proc in processes[:body]:
            lines.append(_fit("%7d %6.1f %6.1f %7d %5s  %s" % (proc["pid"], proc["cpu_percent"], proc["memory_percent"],
                                                              proc["threads"], proc["state"], proc["command"]), width))
        if not processes:
            lines.append(_fit("(%s has no processes now)" % terminal(user, 32), width))
        if ended:
            lines.append(_fit("Ended in the last interval: " + "; ".join(
                "%s: %s ended, %.1f%%" % (row["command"], "{:,}".format(row["processes"]), row["cpu_percent"])
                for row in ended), width))
        return lines
    users = sort_users(frame["users"], sort)
    sorts = figures.sorts()
    lines.append(_fit("Users (%d), sorted by %s - %s: sort, Enter: processes, h: help, q: quit"
                      % (len(users), sorts[sort].name, "/".join(sorts)), width))
    shown = figures.FIGURES
    mark = {figure.key: "*" if figure.sort_key == sort else " " for figure in shown}
    lines.append(_fit("  %-20s%s" % ("USER", "".join(" " + f.header() + mark[f.key] for f in shown)), width))
    first = max(0, min(selected - body + 1, len(users) - body)) if selected >= body else 0
    for index, row in enumerate(users[first:first + body], first):
        pointer = ">" if index == selected else " "
        lines.append(_fit("%s %s%s" % (pointer, pad(row["username"], 20),
                                       "".join(" " + f.cell(row.get(f.key)) + " " for f in shown)), width))
    return lines


HELP = ("SysMedic top - keys",
        "",
        "  %-14ssort users by %s" % ("  ".join(figures.sorts()), ", ".join(f.name for f in figures.sorts().values())),
        "  Up  Down      move the selection (it follows its user when the order changes)",
        "  Enter         that user's processes (refreshed with every update)",
        "  Esc  Left     back to the users",
        "  h  ?  F1      this help (any key closes it)",
        "  q             quit",
        "",
        "CPU% and MEM% are shares of the whole machine; a user's CPU counts processes",
        "that ended within the interval too.")


def render_help(width=80, height=24):
    """The help screen's lines."""
    return [_fit(line, max(width, 20)) for line in HELP[:max(1, height)]]


def _fit(text, width):
    """A screen line: escaped and cut to ``width`` columns by display width (a process's
    name can hold wide characters, bidi controls or escape sequences)."""
    return terminal(text, width)


class LocalFeed:
    """Frames from the daemon in ``home`` over its control socket."""

    def __init__(self, home):
        from ..daemon import control, process
        if process.status(home) is None:
            raise control.not_running(home)
        self._home = home
        self._control = control

    def frame(self, points):
        return self._control.call(self._home, "top", history=spark_request(points))["frame"]

    def processes(self, user):
        """``(processes, ended)`` of ``user`` (get_user_processes' two lists)."""
        data = self._control.call(self._home, "user-processes", username=user, limit=50)
        return data["processes"], data.get("ended") or []

    def close(self):
        pass


class RemoteFeed:
    """Frames from a daemon's WebSocket (``sysmedic[s]://SECRET@HOST:PORT/`` or ``ws[s]://...``)."""

    def __init__(self, url, cafile=None, timeout=10.0):
        self._client = Connection(url, cafile=cafile, timeout=timeout, broadcast=self._saw)
        self._name = self._status = None
        self._interval = None

    def _saw(self, message):
        if message["type"] in ("welcome", "system_update"):
            self._status = message["data"].get("status", self._status)
            self._name = message["data"].get("system", self._name)

    def _ask(self, kind, **arguments):
        return self._client.ask(kind, **arguments)

    def frame(self, points):
        if self._interval is None:
            config = self._ask("get_config")
            self._interval = _seconds(config.get("update_interval", "5s"))
        system = self._ask("get_system_info")
        users = self._ask("get_user_metrics")
        history = self._ask("get_history", **spark_request(points))
        return {"name": self._name, "status": self._status or "?", "system": system, "users": users,
                "time": time.time(),
                "spark": {name: series["avg"] for name, series in history["system"].items()},
                "interval": self._interval}

    def processes(self, user):
        data = self._ask("get_user_processes", username=user, limit=50)
        return data["processes"], data.get("ended") or []

    def close(self):
        self._client.close()


def _seconds(go_duration):
    text, total = str(go_duration), 0.0
    for number, unit in re.findall(r"([\d.]+)(ms|h|m|s)", text):
        total += float(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total or 5.0


def run(args, home):
    """``sysmedic top``: this machine's daemon, or a remote one with ``--url``."""
    feed = RemoteFeed(args["--url"], cafile=args["--cafile"]) if args["--url"] else LocalFeed(home)
    try:
        return show(feed, once=args["--once"])
    finally:
        feed.close()


def show(feed, once=False, out=None):
    """Draw frames until ``q`` (or print one with ``once``)."""
    if once:
        import shutil
        size = shutil.get_terminal_size((80, 24))
        text = "\n".join(render(feed.frame(size.columns - 26), size.columns, size.lines)) + "\n"
        (out or sys.stdout).write(text)
        return 0
    try:
        import curses
    except ImportError:  # a Python without curses (OpenWrt's python3-ncurses): --once still works
        raise SysMedicError(needs.optional_line("curses"))
    locale.setlocale(locale.LC_ALL, "")
    ascii_only = locale.getpreferredencoding(False).lower().replace("-", "") != "utf8"
    return curses.wrapper(lambda screen: _loop(screen, feed, ascii_only))


def _follow_size(screen):
    """Resize curses to the terminal's size if they differ: a SIGWINCH that arrives while a
    frame is being fetched can be lost (seen under tmux), so the size is also asked each pass."""
    import curses
    import os
    try:
        size = os.get_terminal_size(sys.__stdout__.fileno())
    except OSError:
        return
    if (size.lines, size.columns) != screen.getmaxyx():
        curses.resizeterm(size.lines, size.columns)


def follow(users, chosen, selected):
    """The row to select in ``users`` (sorted): ``chosen``'s (the user the arrows put the
    selection on) when still listed, so a re-sort or a new frame never moves it to someone
    else (issue 22: Enter opened another user); else ``selected`` kept in range (0, the top
    row, until a user is chosen)."""
    for index, row in enumerate(users):
        if row["username"] == chosen:
            return index
    return max(0, min(selected, len(users) - 1))


def _loop(screen, feed, ascii_only):
    import curses
    curses.curs_set(0)
    screen.keypad(True)
    sort, selected, chosen, user, processes, ended, helping = "c", 0, None, None, None, (), False
    frame, due = None, 0.0
    while True:
        _follow_size(screen)
        height, width = screen.getmaxyx()
        if time.monotonic() >= due:
            frame = feed.frame(max(1, width - 26))
            if user is not None:
                processes, ended = feed.processes(user)
            due = time.monotonic() + max(1.0, frame.get("interval") or 5.0)
        users = sort_users(frame["users"], sort)
        selected = follow(users, chosen, selected)  # chosen None: the top row, until one is chosen
        lines = (render_help(width - 1, height) if helping
                 else render(frame, width - 1, height, sort, selected, processes, user, ascii_only, ended))
        screen.erase()
        for row, line in enumerate(lines[:height]):
            try:
                screen.addstr(row, 0, terminal(line, width - 1))
            except curses.error:  # the last cell of the screen, or a terminal shrunk meanwhile
                pass
        screen.refresh()
        screen.timeout(int(max(0.05, due - time.monotonic()) * 1000))
        key = screen.getch()
        if key in (ord("q"), ord("Q")):
            return 0
        if key == curses.KEY_RESIZE or key == -1:
            continue
        if helping:
            helping = False
            continue
        if key in (ord("h"), ord("?"), curses.KEY_F1):
            helping = True
            continue
        if processes is None:
            if 0 <= key < 256 and chr(key) in figures.sorts():
                sort = chr(key)  # the selection stays on its user
            elif key in (curses.KEY_DOWN, curses.KEY_UP) and users:
                selected = max(0, min(selected + (1 if key == curses.KEY_DOWN else -1), len(users) - 1))
                chosen = users[selected]["username"]
            elif key in (curses.KEY_ENTER, 10, 13) and users:
                user = users[selected]["username"]
                processes, ended = feed.processes(user)
        elif key in (27, curses.KEY_LEFT, curses.KEY_BACKSPACE, 127):
            user, processes = None, None
