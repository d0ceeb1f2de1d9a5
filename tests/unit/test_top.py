"""sysmedic top's frame rendering and URL handling (sysmedic/commands/top.py), without a terminal."""

import pytest

from sysmedic.errors import SysMedicError
from sysmedic.commands.client import websocket_url
from sysmedic.commands.top import render, sparkline

FRAME = {"name": "Debian GNU/Linux 12 (bookworm)", "status": "Heavy Load", "time": 1_800_000_000.0, "interval": 5,
         "system": {"cpu_usage": 91.5, "memory_usage": 40.0, "disk_usage": 23.3, "load_avg": "1.97, 1.87, 1.72",
                    "network_io": "0.01 MB/s", "uptime": "11h 24m", "cpu_cores": 2},
         "users": [{"username": "alice", "cpu_percent": 80.0, "memory_percent": 1.0, "processes": 3},
                   {"username": "bob", "cpu_percent": 5.0, "memory_percent": 30.0, "processes": 90}],
         "spark": {"cpu": [0, 50, 100, None, 25], "memory": [40, 40]}}


def test_a_frame_fits_its_width_and_sorts_by_the_key():
    lines = render(FRAME, 80, 24)
    assert all(len(line) <= 80 for line in lines) and len(lines[0]) == 80  # the clock at the right edge
    assert lines[0].startswith("SysMedic top - Debian") and "Heavy Load" in lines[0]
    assert lines[1].startswith("CPU    91.5%  ") and lines[1].endswith("\u2581\u2585\u2588\u2583")
    table = lines[lines.index(next(l for l in lines if l.strip().startswith("USER"))) + 1:]
    assert table[0].startswith("> alice") and table[1].startswith("  bob")
    by_memory = render(FRAME, 80, 24, sort="m")
    assert "sorted by MEM" in "\n".join(by_memory) and any(l.startswith("> bob") for l in by_memory)
    assert all(len(line) <= 40 for line in render(FRAME, 40, 24))


def test_processes_view_and_ascii_sparklines():
    processes = [{"pid": 7, "cpu_percent": 50.0, "memory_percent": 0.1, "threads": 1, "state": "R", "command": "yes"}]
    lines = render(FRAME, 80, 24, processes=processes, user="alice")
    assert "Processes of alice" in "\n".join(lines) and lines[-1].endswith("yes")
    assert render(FRAME, 80, 24, processes=[], user="alice")[-1] == "(alice has no processes now)"
    assert sparkline([0, 100], 10, "_.-=+*#@") == "_@"
    assert sparkline(list(range(100)), 5) and len(sparkline(list(range(100)), 5)) == 5


@pytest.mark.parametrize("url, endpoint", [
    ("sysmedic://s3cret@host:9000/", "ws://host:9000/ws?secret=s3cret"),
    ("sysmedics://s3cret@host/", "wss://host:8060/ws?secret=s3cret"),
    ("sysmedic://s3cret@[::1]:8060/", "ws://[::1]:8060/ws?secret=s3cret"),
    ("wss://host:1/ws?secret=x", "wss://host:1/ws?secret=x"),
])
def test_urls(url, endpoint):
    assert websocket_url(url) == endpoint


def test_a_bad_url_is_one_line():
    with pytest.raises(SysMedicError, match="--url: use sysmedic"):
        websocket_url("http://host/")


def test_the_selection_follows_its_user_and_help_lists_the_keys():
    """Issue 22, item 14: the selection was a row number, so after a re-sort Enter opened another user."""
    from sysmedic.commands.top import HELP, follow, render, render_help, sort_users
    users = [{"username": "ann", "cpu_percent": 50.0, "memory_percent": 1.0, "processes": 1},
             {"username": "bob", "cpu_percent": 10.0, "memory_percent": 9.0, "processes": 3}]
    by_cpu, by_memory = sort_users(users, "c"), sort_users(users, "m")
    assert follow(by_cpu, "bob", 0) == 1 and follow(by_memory, "bob", 1) == 0
    assert follow(by_memory, None, 0) == 0 and follow(by_memory, "gone", 5) == 1
    lines = render_help(80, 24)
    assert lines[0] == HELP[0] and any("h  ?  F1" in line for line in lines) and all(len(l) <= 80 for l in lines)
    frame = {"name": "Debian GNU/Linux 12 (bookworm) with a long name for this host", "status": "Heavy Load",
             "system": {"cpu_usage": 1.0, "memory_usage": 2.0}, "users": users, "time": 1700000000.0,
             "spark": {}, "interval": 5}
    header = render(frame, 79)[0]
    assert len(header) == 79 and "Heavy Load - every 5s" in header and header.endswith(header.split()[-1])
    assert header.split()[-1].count(":") == 2  # the clock is whole at the right edge


def test_the_wait_line_shows_each_resources_share_of_the_window():
    """issue 25: pressure (PSI) under the load line; absent without PSI, '-' on the first sample."""
    pressure = {"cpu": {"some": {"avg10": 40.0, "window": 37.25}}, "memory": {"some": {"avg10": 0.0, "window": 0.0}},
                "io": {"some": {"avg10": 2.0, "window": None}}}
    lines = render(dict(FRAME, system=dict(FRAME["system"], pressure=pressure)), 80, 24)
    assert lines[4] == "WAIT cpu 37.2%   mem 0.0%   io -"
    assert not [line for line in render(FRAME, 80, 24) if line.startswith("WAIT")]
