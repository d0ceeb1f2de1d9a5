"""A user's top processes: masking, escaping, cutting, ordering, limits, and the request."""

import json

import pytest

from sysmedic.collect.records import ProcessWindow, ProcRow, RawSample, Snapshot, SystemMetrics, UserUsage
from sysmedic.views.processes import check_limit, top_processes
from sysmedic.untrusted import MAX_COMMAND, command_line, escape, mask_secrets
from sysmedic.server import protocol


@pytest.mark.parametrize("args, shown", [
    (["mysql", "--password=hunter2", "db"], ["mysql", "--password=****", "db"]),
    (["app", "--token", "abc123", "--port", "80"], ["app", "--token", "****", "--port", "80"]),
    (["env", "PGPASSWORD=s3cret", "psql"], ["env", "PGPASSWORD=****", "psql"]),
    (["curl", "https://bob:pa55@example.com/x"], ["curl", "https://bob:****@example.com/x"]),
    (["tool", "--api-key=K", "--secret:xyz"], ["tool", "--api-key=****", "--secret:****"]),
    (["ls", "--passenger", "-l"], ["ls", "--passenger", "-l"]),  # not a secret word on its own
])
def test_secret_looking_arguments_are_masked(args, shown):
    assert mask_secrets(args) == shown


def test_control_characters_are_escaped_and_long_lines_cut():
    assert escape("a\nb\tc\x1b[31m\x7f") == "a\\nb\\tc\\x1b[31m\\x7f"
    long = command_line(b"python3\0" + b"x" * 500 + b"\0", "python3")
    assert len(long) == MAX_COMMAND and long.endswith("...")
    assert command_line(b"", "kworker/0:1") == "[kworker/0:1]"
    assert command_line(b"sh\0-c\0echo hi\nrm -rf /\0", "sh") == "sh -c echo hi\\nrm -rf /"


def raw(t, rows, pss=None):
    return RawSample(monotonic=t, wall=1000.0 + t, now_start_units=t * 100, cpu_total=t * 200, cpu_busy=t * 100,
                     cpu_cores=2, memory_total=1000 * 4096, memory_available=500 * 4096, disk_used=1, disk_total=2,
                     network={}, uptime=t, load_avg=(0.0, 0.0, 0.0),
                     processes={pid: ProcRow(*row) for pid, row in rows.items()}, rss_unit=4096,
                     boot_time=1000.0, pss=pss)


@pytest.fixture
def proc(tmp_path):
    def make(pid, cmdline, name="x", threads=1, state="R (running)"):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "cmdline").write_bytes(cmdline)
        (tmp_path / str(pid) / "status").write_text("Name:\t%s\nState:\t%s\nThreads:\t%d\n" % (name, state, threads))
    make(10, b"burn\0--password=hunter2\0", "burn", threads=4)
    make(11, b"idle\0", "idle", state="S (sleeping)")
    make(12, b"other\0")
    return str(tmp_path)


def snapshot_of(before, after):
    system = SystemMetrics(50.0, 2, 50.0, 1000 * 4096, 500 * 4096, 1.0, 10.0, (0.0, 0.0, 0.0), 0.0)
    return Snapshot(1002.0, system, (UserUsage("ann", 1001, 40.0, 1.0, 2),), False, 2.0, 0.0,
                    window=ProcessWindow(before, after, 400.0))


def test_top_processes_by_cpu_with_their_details(proc):
    before = raw(0, {10: (1001, 1, 5, 100, 0, 10), 11: (1001, 1, 6, 50, 0, 100), 12: (1002, 1, 7, 0, 0, 1)})
    after = raw(2, {10: (1001, 1, 5, 260, 0, 10), 11: (1001, 1, 6, 50, 0, 100), 12: (1002, 1, 7, 300, 0, 1)},
                pss={11: 50 * 4096})
    found = top_processes(snapshot_of(before, after), 1001, 10, proc_root=proc)
    assert [p["pid"] for p in found] == [10, 11]  # another user's busier process is not listed
    burner = found[0]
    assert burner["command"] == "burn --password=****" and burner["cpu_percent"] == 40.0
    assert burner["threads"] == 4 and burner["state"] == "R" and burner["start_time"] == 1000.05
    assert burner["memory_percent"] == 1.0 and found[1]["memory_percent"] == 5.0  # PSS where known
    assert top_processes(snapshot_of(before, after), 1001, 1, proc_root=proc) == found[:1]


@pytest.mark.parametrize("value, error", [(0, "from 1 to 50"), (51, "from 1 to 50"), ("5", "whole number"),
                                          (True, "whole number"), (2.5, "whole number")])
def test_limits(value, error):
    with pytest.raises(ValueError, match=error):
        check_limit(value)
    assert check_limit(None) == 10 and check_limit(50) == 50


def test_the_request_answers_or_says_what_is_wrong(monkeypatch):
    from types import SimpleNamespace
    before = raw(0, {})
    state = SimpleNamespace(users=(UserUsage("ann", 1001, 40.0, 1.0, 2),), snapshot=snapshot_of(before, before))
    monkeypatch.setattr(protocol.processes, "top_processes", lambda snap, uid, limit: [{"pid": uid, "n": limit}])

    def ask(**request):
        return json.loads(protocol.respond(json.dumps(dict(request, type="get_user_processes", request_id="r")),
                                           state, 0.0))
    reply = ask(username="ann", limit=3)
    assert reply["type"] == "user_processes_response" and reply["request_id"] == "r"
    assert reply["data"]["processes"] == [{"pid": 1001, "n": 3}] and reply["data"]["username"] == "ann"
    assert ask(username="bob")["data"] == {"error": "Unknown user: bob"}
    assert ask(data={"username": "ann", "limit": 2})["data"]["processes"] == [{"pid": 1001, "n": 2}]  # the spec's form
    assert ask()["data"]["error"].startswith("username is required")
    assert ask(username="ann", limit=500)["type"] == "error"
