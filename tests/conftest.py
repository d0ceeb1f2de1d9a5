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
