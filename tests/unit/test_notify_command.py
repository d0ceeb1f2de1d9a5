"""The command notifier runs a real program: its output is bounded, its time too."""

from types import SimpleNamespace

import pytest

from sysmedic.notify.base import NotifyError
from sysmedic.notify.command import MAX_OUTPUT_SHOWN, run

DATA = {"event": "test", "host": "h", "text": "t", "alert": {
    "id": None, "severity": "warning", "status": "Light Usage", "cause": "test", "message": "m", "users": [],
    "resolved": False, "reopen_count": 0}}


def test_a_chatty_failing_program_is_reported_with_the_start_of_its_output_only():
    with pytest.raises(NotifyError) as caught:
        run(SimpleNamespace(argv=("sh", "-c", "yes | head -c 50000000; exit 3"), timeout=30), DATA)
    text = str(caught.value)
    assert text.startswith("sh: exit status 3: y y") and len(text) < MAX_OUTPUT_SHOWN + 40


def test_a_program_past_its_timeout_is_killed_even_if_it_closed_its_output():
    with pytest.raises(NotifyError, match="killed after 0.5s"):
        run(SimpleNamespace(argv=("sh", "-c", "exec >&-; sleep 30"), timeout=0.5), DATA)
    run(SimpleNamespace(argv=("cat",), timeout=5), DATA)  # reads its input, exits 0
