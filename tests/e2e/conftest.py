import os
import subprocess
import sys

import pytest

from ..conftest import ROOT
from .harness import Daemon

BUILD_ZIPAPP = os.path.join(ROOT, "packaging", "build_zipapp.py")


@pytest.fixture(scope="session")
def pyz(tmp_path_factory):
    """dist/sysmedic.pyz built once for the session from this tree."""
    out = str(tmp_path_factory.mktemp("dist") / "sysmedic.pyz")
    subprocess.run([sys.executable, BUILD_ZIPAPP, out], check=True, capture_output=True, cwd=ROOT, timeout=300)
    return out


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def make_daemon(tmp_path):
    """Factory: make_daemon(config=..., websocket=..., home=...) -> a started Daemon; all stopped
    at the end, whatever the test did."""
    started = []

    def make(start=True, home=None, **options):
        daemon = Daemon(home or str(tmp_path / ("home%d" % len(started))), **options)
        started.append(daemon)
        return daemon.start() if start else daemon
    yield make
    for daemon in started:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.terminate()
        daemon.kill()


@pytest.fixture
def daemon(make_daemon):
    return make_daemon()
