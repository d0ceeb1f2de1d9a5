"""docs/architecture.md's "Extending" table, held true (issue 23): a request type is one
``HANDLERS`` entry and an HTTP route one ``ROUTES`` entry (with its handler), each appended to
its own module in a copy of the package, nothing else changed, and the real daemon serves
them. (A figure is one row: tests/e2e/test_figures.py. A notifier is a module, a registration
and its settings section: three files, as the table says.)"""

import json

from .harness import Client, copy_with, http_get

REQUEST = '''

HANDLERS["get_answer"] = ("answer_response", lambda state: {"answer": 42, "users": len(state.users)})
'''

ROUTE = '''

def _answer(handler, url):
    handler._json(200, {"answer": 42})


ROUTES["/answer"] = _answer
'''


def test_a_request_type_and_a_route_are_one_entry_each(make_daemon, tmp_path):
    command = copy_with(str(tmp_path / "copy"), {"server/protocol.py": REQUEST, "server/http.py": ROUTE})
    daemon = make_daemon(start=False).start(command=command + ["daemon", "run"])
    status, _, body = http_get(daemon.url("/answer"))
    assert status == 200 and json.loads(body) == {"answer": 42}
    client = Client(daemon.ws_url())
    client.next("system_update")
    answer = client.ask("get_answer")
    assert answer["answer"] == 42 and answer["users"] >= 1
    client.ws.close()
    assert http_get(daemon.url("/nothing-here"))[0] == 404
