"""The machine's pressure stall information (issue 25): /proc/pressure read, a window's share
worked out from the kernel's stalled-time totals, and the reason when there is none."""

import os

import pytest

from sysmedic.collect.pressure import read_pressure, shares, unavailable

CPU = "some avg10=12.50 avg60=3.00 avg300=1.00 total=1000000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
IO = "some avg10=0.31 avg60=0.39 avg300=0.32 total=16310448\nfull avg10=0.30 avg60=0.35 avg300=0.27 total=13445001\n"


def fake_proc(tmp_path, memory="some avg10=1.00 avg60=0 avg300=0 total=5\nfull avg10=0.5 avg60=0 avg300=0 total=2\n"):
    pressure = tmp_path / "pressure"
    pressure.mkdir()
    (pressure / "cpu").write_text(CPU)
    (pressure / "io").write_text(IO)
    if memory is not None:
        (pressure / "memory").write_text(memory)
    return str(tmp_path)


def test_the_three_files_are_read(tmp_path):
    found = read_pressure(fake_proc(tmp_path))
    assert found["cpu"] == {"some": (12.5, 1000000), "full": (0.0, 0)}
    assert found["io"]["full"] == (0.30, 13445001) and set(found) == {"cpu", "memory", "io"}
    assert unavailable(str(tmp_path)) is None


def test_a_window_share_is_the_stalled_time_over_the_window():
    before = (100.0, {"io": {"some": (5.0, 1000000), "full": (4.0, 500000)}})
    after = (102.0, {"io": {"some": (6.0, 1500000), "full": (4.5, 600000)}})
    found = shares(before, after)
    assert found["io"]["some"] == {"avg10": 6.0, "window": 25.0, "total": 1.5}  # 0.5 s of 2 s
    assert found["io"]["full"]["window"] == pytest.approx(5.0)
    assert shares(None, after)["io"]["some"]["window"] is None  # the first sample has no window
    assert shares(before, None) is None


def test_no_pressure_is_none_with_the_reason(tmp_path):
    assert read_pressure(str(tmp_path)) is None
    assert "no /proc/pressure" in unavailable(str(tmp_path))
    partial = tmp_path / "partial"
    partial.mkdir()
    assert read_pressure(fake_proc(partial, memory=None)) is None  # a file missing: nothing half-read


@pytest.mark.skipif(not os.path.exists("/proc/pressure/cpu"), reason="this kernel has no PSI")
def test_this_machines_pressure_is_read():
    found = read_pressure()
    assert set(found) == {"cpu", "memory", "io"} and all("some" in lines for lines in found.values())
