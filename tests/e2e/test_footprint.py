"""What a running daemon loads (issue 9 budgets 30 MB of RSS at its defaults with 1000
processes): not OpenSSL's libraries (``http.server`` imported ``http.client`` and with it
``ssl``; ``hmac`` and ``secrets`` imported ``hashlib``) and not bz2 or lzma
(``importlib.resources`` imported ``tempfile`` and ``shutil``): 5.7 MB of the daemon's memory
for nothing it used. TLS turned on loads ``ssl``, and the first WebSocket client the library
(and ``ssl`` with it), but not its asyncio flavour (2.2 MB)."""

import os

import websocket

from .harness import http_get

HEAVY = ("libssl", "libcrypto", "libbz2", "liblzma", "_ssl.", "_hashlib.", "_bz2.", "_lzma.", "_asyncio.")


def mapped_files(pid):
    with open("/proc/%d/maps" % pid) as maps:
        return {os.path.basename(line.split()[-1]) for line in maps if "/" in line}


def test_a_daemon_at_its_defaults_maps_no_crypto_or_compression_library(daemon):
    for path in ("/health", "/", "/nothing"):  # every kind of answer has been given
        assert http_get(daemon.url(path))[0] in (200, 404)
    files = mapped_files(daemon.proc.pid)
    assert any(name.startswith("_sqlite3") for name in files)  # the listing is the daemon's own
    assert sorted(name for name in files if name.startswith(HEAVY)) == []


def test_a_websocket_client_loads_the_library_but_not_asyncio(daemon):
    ws = websocket.create_connection(daemon.ws_url(), timeout=10)
    try:
        assert '"type":"welcome"' in ws.recv().replace(" ", "")
        files = mapped_files(daemon.proc.pid)
        assert any(name.startswith("_ssl.") for name in files)  # simple-websocket's ws module imports ssl
        assert sorted(name for name in files if name.startswith("_asyncio.")) == []
    finally:
        ws.close()
