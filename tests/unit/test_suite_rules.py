"""The suite's own rules (issue 23, item 5): under ``make test`` as root a skip that
tests/allowed-skips.txt does not explain fails the run; an explained one does not."""

import os
import subprocess
import sys

from ..conftest import ROOT, allowed_skips

SKIPPING = '''
import pytest

def test_explained():
    pytest.skip("no exit records here: a kernel without taskstats")

def test_unexplained():
    pytest.skip("{reason}")
'''


def run(tmp_path, reason, strict):
    folder = tmp_path / "suite"
    folder.mkdir(exist_ok=True)
    with open(os.path.join(ROOT, "tests", "conftest.py")) as handle:
        (folder / "conftest.py").write_text(handle.read().replace(
            'ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))', "ROOT = %r" % ROOT))
    (folder / "test_skipping.py").write_text(SKIPPING.replace("{reason}", reason))
    env = dict(os.environ, SYSMEDIC_STRICT_SKIPS="1" if strict else "")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
                          capture_output=True, text=True, env=env, cwd=str(folder), timeout=120)


def test_an_unexplained_skip_fails_a_strict_run_and_names_the_test(tmp_path):
    strict = run(tmp_path, "curl is not installed", strict=True)
    assert strict.returncode == 1, strict.stdout
    assert "test_skipping.py::test_unexplained: Skipped: curl is not installed" in strict.stdout
    assert "test_explained" not in strict.stdout.split("skipped where")[-1]
    assert run(tmp_path, "curl is not installed", strict=False).returncode == 0
    assert run(tmp_path, "no exit records here either", strict=True).returncode == 0


def test_every_allowed_skip_has_a_reason():
    with open(os.path.join(ROOT, "tests", "allowed-skips.txt")) as handle:
        lines = [line for line in handle if line.strip() and not line.startswith("#")]
    assert lines and all(" | " in line and line.split(" | ", 1)[1].strip() for line in lines)
    assert len(allowed_skips()) == len(lines) <= 10  # a short list
