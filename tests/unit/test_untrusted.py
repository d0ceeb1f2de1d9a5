"""Text another user chose (issue 21): one hostile corpus through every function that shows
it, and the work each costs bounded whatever the input's length."""

import statistics
import time

import pytest

from sysmedic import untrusted
from sysmedic.untrusted import (MAX_COMMAND, chat, chat_text, command_line, escape, label, log_text, mask_secrets,
                                pad, terminal)

ARG_128K = "x" * (128 * 1024)
# Each is (what a process's arguments are, what must never be shown of them)
CORPUS = {
    "slack markup": ["<!channel> *URGENT* <http://evil.example/reset|Reset root password>"],
    "markdown image": ["![x](http://evil.example/p.png) @all"],
    "ansi and osc": ["\x1b[2J\x1b[31mred\x1b]0;owned\x07\x1b]8;;http://evil/\x1b\\link"],
    "nul and del": ["a\x7fb\x00c"],
    "bidi and separators": ["evil\u202etxt.exe", "line\u2028break", "para\u2029x", "zw\u200bj\u2066i\u2069"],
    "invalid utf-8": [b"\xff\xfe\xc3(".decode("utf-8", "replace"), "\udcff"],
    "cjk": ["\u4e2d" * 150],
    "128 KiB argument": ["bash", "-c", ARG_128K],
    "secret url at 100 KiB": ["run", "y" * 100000, "sysmedic://772b59deadbeef@127.0.0.1:17002/"],
}
RAW = "\x1b\x07\x00\x7f\u202e\u2028\u2029\u200b\u2066\udcff"


def as_cmdline(args):
    return b"\0".join(arg.encode("utf-8", "surrogateescape") for arg in args) + b"\0"


@pytest.mark.parametrize("name", list(CORPUS))
def test_every_output_of_the_corpus_is_bounded_and_escaped(name):
    shown = command_line(as_cmdline(CORPUS[name]), "evil")
    assert len(shown) <= MAX_COMMAND and not any(ch in shown for ch in RAW), shown
    assert "772b59" not in shown
    for out in (terminal(shown, 80), pad(shown, 30), log_text(shown), label(shown)):
        assert not any(ch in out for ch in RAW) and "\n" not in out, out
    assert sum(untrusted.char_width(ch) for ch in terminal(shown, 80)) <= 80
    assert sum(untrusted.char_width(ch) for ch in pad(shown, 30)) == 30
    for ch in "<>@:*[]()!`|_#&~":
        assert ch not in chat(untrusted.program(shown)), ch
    assert '"' not in label(shown).replace('\\"', "")


def test_a_128_kib_argument_costs_well_under_a_few_milliseconds_to_show():
    """Before: the URL-password regex took 0.33 s for 10,000 characters and 27.7 s for 100 KB."""
    worst = "a:" + "w" * (128 * 1024)  # the shape that made the old scan quadratic: a long word run
    raws = [as_cmdline(["bash", "-c", worst]), as_cmdline(["x"] + ["--k=" + "a" * 1000] * 130)]
    costs = []
    for raw in raws * 10:
        start = time.process_time()
        command_line(raw, "bash")
        costs.append(time.process_time() - start)
    assert statistics.median(costs) < 0.003, costs
    assert command_line(raws[0], "bash") == command_line(raws[0] + b"w" * (1 << 20), "bash")  # work stops at the cut


@pytest.mark.parametrize("args, shown", [
    (["mysql", "--password=hunter2", "db"], ["mysql", "--password=****", "db"]),
    (["wsclient.py", "sysmedic://772b59aa@127.0.0.1:17002/"], ["wsclient.py", "sysmedic://****@127.0.0.1:17002/"]),
    (["curl", "-H", "Authorization: Bearer abc"], ["curl", "-H", "Authorization: ****"]),
    (["curl", "-H", "X-Api-Key:abc"], ["curl", "-H", "X-Api-Key:****"]),
    (["curl", "http://h/ws?secret=abc&y=2"], ["curl", "http://h/ws?secret=****&y=2"]),
    (["app", "--db-token", "t0k"], ["app", "--db-token", "****"]),
    (["ssh", "user@host", "a:b"], ["ssh", "user@host", "a:b"]),
    (["ls", "--author", "--passenger"], ["ls", "--author", "--passenger"]),
])
def test_secrets_of_every_form_are_masked(args, shown):
    assert mask_secrets(args) == shown


def test_a_url_cut_before_its_userinfo_ends_is_masked():
    raw = as_cmdline(["client", "sysmedic://" + "s" * 3000 + "@host/"])
    assert "sss" not in command_line(raw, "client")


def test_escape_is_idempotent_and_terminal_cuts_by_display_width():
    text = "a\u202eb\x1b[0m\u4e2d"
    assert escape(escape(text)) == escape(text) == "a\\u202eb\\x1b[0m\u4e2d"
    assert terminal("\u4e2d" * 10, 7) == "\u4e2d" * 3 + "~"
    assert terminal("e\u0301" * 5, 5) == "e\u0301" * 5  # combining marks take no column
    assert pad("\u4e2d", 4) == "\u4e2d  "


def test_chat_text_keeps_slack_from_reading_markup():
    assert chat_text("a <b> & c") == "a &lt;b&gt; &amp; c"
    assert chat("<!channel> @here :x: [a](b)") == "??channel? ?here ?x? ?a??b?"
