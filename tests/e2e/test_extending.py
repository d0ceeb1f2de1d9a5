"""docs/architecture.md's "Extending" table, held true (issue 23): a request type is one
``HANDLERS`` entry and an HTTP route one ``ROUTES`` entry (with its handler), each appended to
its own module in a copy of the package; a notifier is its module and its settings section in
the option table (which registers it); nothing else changed, and the real daemon and CLI of
the copy use them. (A figure is one row: tests/e2e/test_figures.py.)"""

import json
import os

from .harness import Client, cli, copy_with, http_get, wait_for

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


NOTIFIER_MODULE = '''"""Throw-away (tests/e2e/test_extending.py): each notice appended to a file as a JSON line."""

import json

from .base import Notifier, payload


class FileNotifier(Notifier):
    def __init__(self, settings, hostname=None, limit=100):
        super().__init__("filelog", settings, hostname, limit)

    def configured(self, settings):
        return bool(settings.path)

    def deliver(self, settings, notice):
        with open(settings.path, "a") as handle:
            handle.write(json.dumps(payload(notice)) + "\\n")


NOTIFIER = FileNotifier
'''

SECTION = '''@dataclass(frozen=True)
class Filelog:
    enabled: bool = option(False, boolean_value, "append each alert to a file as a JSON line")
    path: str = option("", text_value, "the file")
    retries: int = option(0, int_range(0, 10), "attempts after a failed write")
    severities: tuple = severities_option()
    events: tuple = events_option()


'''


def with_a_section(text):
    """The option table with the notifier's section declared and named in SECTIONS and NOTIFIERS."""
    marker = "# The sections of config.json"
    assert marker in text and 'NOTIFIERS = ("email", "webhook", "command")' in text
    text = text.replace(marker, SECTION + marker, 1)
    text = text.replace('"webhook": Webhook, "command": Command}', '"webhook": Webhook, "command": Command, "filelog": Filelog}', 1)
    return text.replace('NOTIFIERS = ("email", "webhook", "command")', 'NOTIFIERS = ("email", "webhook", "command", "filelog")', 1)


def test_a_notifier_is_its_module_and_its_settings_section(make_daemon, tmp_path):
    command = copy_with(str(tmp_path / "copy"), {"notify/filelog.py": NOTIFIER_MODULE, "config/options.py": with_a_section})
    out = str(tmp_path / "alerts.jsonl")
    home = str(tmp_path / "home")
    daemon = make_daemon(home=home, start=False, config={
        "monitoring": {"update_interval": 0.2, "memory_threshold": 1},  # the machine uses more: an alert
        "filelog": {"enabled": True, "path": out}})
    shown = json.loads(cli(home, "config", "show", "--json", check=True, command=command).stdout)
    assert shown["filelog.path"] == out and shown["filelog.enabled"] is True, shown
    daemon.start(command=command + ["daemon", "run"])
    wait_for(lambda: os.path.exists(out) and os.path.getsize(out) > 0, 20, what="the alert in the notifier's file")
    with open(out) as handle:
        notice = json.loads(handle.readline())
    assert notice["event"] == "open" and notice["alert"]["cause"] == "system:memory", notice
    assert "notify:filelog" in daemon.health()["threads"]
    tested = cli(home, "alerts", "test", "--notifier=filelog", command=command)
    assert tested.returncode == 0 and "filelog: delivered" in tested.stdout, tested.stdout + tested.stderr
