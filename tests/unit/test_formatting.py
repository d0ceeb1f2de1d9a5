import pytest

from sysmedic import formatting as fmt


@pytest.mark.parametrize("seconds, text", [
    (0, "0m"), (59, "0m"), (60, "1m"), (3599, "59m"), (3600, "1h 0m"),
    (4 * 3600 + 32 * 60, "4h 32m"), (86400, "1d 0h 0m"), (2 * 86400 + 4 * 3600 + 32 * 60 + 59, "2d 4h 32m")])
def test_uptime_formats_of_the_spec(seconds, text):
    assert fmt.uptime(seconds) == text


@pytest.mark.parametrize("seconds, text", [
    (30, "30s"), (60, "1m0s"), (90, "1m30s"), (3600, "1h0m0s"), (5400, "1h30m0s"), (2.5, "2.5s"), (0.5, "500ms")])
def test_go_duration_matches_go_time_duration_string(seconds, text):
    assert fmt.go_duration(seconds) == text


@pytest.mark.parametrize("seconds, text", [(45, "45s"), (300, "5m"), (3900, "1h5m"), (90000, "1d1h")])
def test_short_duration(seconds, text):
    assert fmt.short_duration(seconds) == text


def test_rate_load_percent_and_timestamp():
    assert fmt.rate(2340000) == "2.34 MB/s"
    assert fmt.rate(None) is None
    assert fmt.load_avg((0.85, 0.92, 1.15)) == "0.85, 0.92, 1.15"
    assert fmt.pct(45.25) == 45.2 and fmt.pct(None) is None
    assert fmt.iso_utc(1737245322) == "2025-01-19T00:08:42Z"


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("5m", 300), ("1h30m", 5400), ("7d", 604800), ("250ms", 0.25)])
def test_parse_duration(text, seconds):
    assert fmt.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5x", "m5", "1h 5m", "-5m"])
def test_parse_duration_rejects_garbage(text):
    with pytest.raises(ValueError):
        fmt.parse_duration(text)
