"""Autobahn TestSuite cases 1-7, 9 and 10 (compression off) against SysMedic's WebSocket stack.

kosoku drives the Autobahn case files against tests/conformance/echo_server.py, which is the
daemon's own HTTP server, upgrade checks and connection code with an echo session. Gate: no
case FAILED, no close UNCLEAN. The summary is recorded in the README.
"""

import collections
import json
import os
import shutil
import subprocess
import sys

import pytest

from ..conftest import ROOT
from ..e2e.harness import free_port

pytestmark = pytest.mark.slow
CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"]
PASSING = {"OK", "NON-STRICT", "INFORMATIONAL"}


def kosoku():
    found = shutil.which("kosoku") or os.path.join(os.path.dirname(sys.executable), "kosoku")
    if not os.path.exists(found):
        pytest.skip("kosoku is not installed (it has wheels for CPython >= 3.10 on x86_64 only)")
    return found


def test_autobahn_cases_pass(tmp_path):
    runner = kosoku()
    port = free_port()
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "conformance", "echo_server.py"),
                               str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert server.stdout.readline().strip() == b"ready"
        command = [runner, "-o", str(tmp_path)] + [arg for case in CASES for arg in ("-i", case)]
        result = subprocess.run(command + ["127.0.0.1:%d" % port], capture_output=True, text=True, timeout=600)
    finally:
        server.kill()
        server.wait()
    with open(tmp_path / "index.json") as handle:
        cases = next(iter(json.load(handle).values()))
    summary = collections.Counter((case["behavior"], case["behaviorClose"]) for case in cases.values())
    print("autobahn summary: %d cases %s" % (len(cases), dict(summary)))
    failed = {cid: c for cid, c in cases.items()
              if c["behavior"] not in PASSING or c["behaviorClose"] not in PASSING}
    assert len(cases) > 290 and not failed, (failed, result.stdout[-2000:])
    assert sum(1 for cid in cases if cid.startswith("9.")) > 50  # the large-message cases ran
