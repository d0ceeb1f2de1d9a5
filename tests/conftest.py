"""Shared fixtures: a private SysMedic home per test, repository paths."""

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")


@pytest.fixture
def home(tmp_path):
    """An empty SysMedic home directory (not yet created, as on a fresh machine)."""
    return str(tmp_path / "sysmedic-home")


@pytest.fixture
def env(home):
    """An environment for CLI runs that points SysMedic at ``home``."""
    environ = dict(os.environ)
    environ["SYSMEDIC_HOME"] = home
    return environ


# -- no skip goes unseen (issue 23) -----------------------------------------------------------------
# `make test` as root sets SYSMEDIC_STRICT_SKIPS=1: there every tool is installed, so a skipped
# test is a test that silently did not run. Each skip must match tests/allowed-skips.txt.

ALLOWED_SKIPS = os.path.join(ROOT, "tests", "allowed-skips.txt")


def allowed_skips(path=ALLOWED_SKIPS):
    """The reason pieces of tests/allowed-skips.txt (each line: piece | why)."""
    with open(path) as handle:
        return [line.split(" | ", 1)[0].strip() for line in handle
                if line.strip() and not line.startswith("#")]


def unexplained_skips(reports, allowed):
    """``[(test id, reason)]`` of the skipped ``reports`` no allowed piece explains."""
    found = []
    for report in reports:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not any(piece in reason for piece in allowed):
            found.append((report.nodeid, reason))
    return found


def pytest_sessionfinish(session, exitstatus):
    """Runs before the summary is written: a skip nothing explains fails the run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if os.environ.get("SYSMEDIC_STRICT_SKIPS") != "1" or reporter is None:
        return
    unexplained = unexplained_skips(reporter.stats.get("skipped", []), allowed_skips())
    session.config._sysmedic_unexplained_skips = unexplained
    if unexplained and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    unexplained = getattr(config, "_sysmedic_unexplained_skips", None)
    if unexplained:
        terminalreporter.write_line("")
        terminalreporter.write_line("%d test(s) skipped where make test installed everything (not in %s):"
                                    % (len(unexplained), os.path.relpath(ALLOWED_SKIPS, ROOT)), red=True)
        for nodeid, reason in unexplained:
            terminalreporter.write_line("  %s: %s" % (nodeid, reason), red=True)
