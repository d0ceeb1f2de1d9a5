"""Text another user chose: a process's arguments and name, a user name (stdlib-only leaf).

Whoever runs a process picks its command line (up to 128 KiB an argument) and its name, so
every output takes such text through one function here, one per kind of output (issue 21):

- :func:`command_line`: the wire form of a process's command (``get_user_processes``, alerts):
  the raw bytes **cut to what can be shown first**, then secrets masked by
  :func:`mask_secrets` (linear: no regular expression runs over text longer than
  :data:`MAX_MASKED`), then :func:`escape` d, then cut to :data:`MAX_COMMAND` characters.
- :func:`terminal`: for ``sysmedic users``/``top``: escaped again (idempotent) and cut by
  display width (a CJK character takes two columns, a combining mark none).
- :func:`chat`: for the one-line ``text`` chat tools render (Slack, Mattermost, Teams): the
  characters they treat as markup (``& < >``, Markdown, ``@`` mentions, ``:`` links and emoji)
  never come from a process: a program's name is reduced to a safe alphabet.
- :func:`label`: a Prometheus label value; :func:`log_text`: a log line's part.
- HTML: the dashboard puts text into the page with ``textContent`` only; what it is sent was
  made by :func:`command_line` or :func:`escape` here.

Work on one string is bounded by its cut: no function here looks at more than
:data:`MAX_MASKED` characters of anything it is given.
"""

MAX_COMMAND = 200          # characters of a command line anyone is shown
MAX_MASKED = 1024          # characters of arguments read at all (masking may shorten them)
MAX_NAME = 64              # characters of a user or program name in a chat line or a label
MASK = "****"

# Characters that reorder or split what follows on a terminal or a page: bidirectional
# controls, zero-width characters and the line and paragraph separators (U+2028/9).
_INVISIBLE = frozenset([0x061C, 0x180E, 0xFEFF] + list(range(0x200B, 0x2010)) + list(range(0x2028, 0x202F))
                       + list(range(0x2060, 0x2070)) + list(range(0xFFF9, 0xFFFC)))
# Words that make an argument a secret: anywhere in its name (PGPASSWORD, --db-token), or for
# the short ones only as a whole part of it (--pass, --auth, but not --passenger, --author).
_LONG_WORDS = ("password", "passwd", "passphrase", "secret", "token", "apikey", "api-key", "api_key",
               "accesskey", "access-key", "access_key", "privatekey", "private-key", "private_key", "credential",
               "authorization", "cookie", "session")
_SHORT_WORDS = ("pass", "pwd", "auth", "key", "sig", "signature")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_CHAT_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .-+=,/")
_VALUE_ENDS = "&;, \t"


def is_secret_name(name):
    """Whether an option or variable name (``--db-password``, ``PGPASSWORD``, ``api_key``)
    names a secret. ``name`` is at most :data:`MAX_NAME` characters long or is not one."""
    if not 0 < len(name) <= MAX_NAME:
        return False
    lowered = name.lower().lstrip("-")
    if any(word in lowered for word in _LONG_WORDS):
        return True
    parts = lowered.replace("_", "-").replace(".", "-").split("-")
    return any(part in _SHORT_WORDS for part in parts)


def _mask_userinfo(arg):
    """``scheme://USERINFO@host`` with the userinfo masked (``user:****@`` keeps the user, a
    userinfo without a colon is a secret of its own, as in ``sysmedic://SECRET@host``). A URL
    whose authority is cut before it ends is masked whole after ``://``."""
    out, pos = [], 0
    while True:
        found = arg.find("://", pos)
        if found < 0:
            out.append(arg[pos:])
            return "".join(out)
        start = found + 3
        end = start
        while end < len(arg) and arg[end] not in "/?#" and not arg[end].isspace():
            end += 1
        authority = arg[start:end]
        at = authority.rfind("@")
        out.append(arg[pos:start])
        if at >= 0:
            user, colon, _ = authority[:at].partition(":")
            out.append((user + ":" if colon else "") + MASK + authority[at:])
        else:
            out.append(authority)
        pos = end


def _mask_pairs(arg):
    """``...?secret=abc&x=1``, ``token:abc``: the value of every ``name=value`` (or
    ``name:value``) whose name is a secret's, up to the next ``& ; , space``."""
    out, pos, index = [], 0, 0
    while index < len(arg):
        ch = arg[index]
        if ch in "=:" and index > pos:
            begin = index
            while begin > pos and arg[begin - 1] in _NAME_CHARS and index - begin < MAX_NAME:
                begin -= 1
            if is_secret_name(arg[begin:index]) and not arg.startswith("//", index + 1):
                end = index + 1
                while end < len(arg) and arg[end] not in _VALUE_ENDS:
                    end += 1
                out.append(arg[pos:index + 1] + MASK)
                pos = index = end
                continue
        index += 1
    out.append(arg[pos:])
    return "".join(out)


def _assignment(arg):
    """``(name, separator, value)`` split at the first ``=`` or ``:`` within the first
    :data:`MAX_NAME` characters, or ``(arg, "", "")``."""
    for index, ch in enumerate(arg[:MAX_NAME + 1]):
        if ch in "=:":
            return arg[:index], ch, arg[index + 1:]
    return arg, "", ""


def mask_secrets(args):
    """``args`` with the values of secret-looking arguments replaced by ``****``:
    ``--password=x``, ``--token x`` (the next argument), ``PGPASSWORD=x``, any URL userinfo,
    ``?secret=x`` inside an argument, and header-style ``Authorization: Bearer x``.

    Linear in the total length: give it arguments already cut (:func:`command_line` does)."""
    masked, hide_next = [], False
    for arg in args:
        if hide_next:
            masked.append(MASK)
            hide_next = False
            continue
        name, sep, value = _assignment(arg)
        if value and is_secret_name(name.strip()):
            masked.append(name + sep + (" " if value.startswith(" ") else "") + MASK)
            continue
        if arg.startswith("-") and is_secret_name(arg):
            hide_next = True
        masked.append(_mask_pairs(_mask_userinfo(arg)))
    return masked


def escape(text):
    """Control characters as ``\\n``, ``\\t`` or ``\\xNN``, and bidirectional, zero-width and
    line-separator characters as ``\\uNNNN``: such text cannot forge a line, move the cursor,
    or reorder what a terminal or a page shows after it. Idempotent (a backslash is kept)."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif code < 32 or code == 127 or 0x80 <= code < 0xa0:
            out.append("\\x%02x" % code)
        elif code in _INVISIBLE or 0xD800 <= code < 0xE000:
            out.append("\\u%04x" % code)
        else:
            out.append(ch)
    return "".join(out)


def cut(text, limit, tail="..."):
    """``text`` if at most ``limit`` characters, else its start and ``tail`` in ``limit``."""
    return text if len(text) <= limit else text[:limit - len(tail)] + tail


def command_line(raw_cmdline, name):
    """The shown command of a process: its arguments (NUL-separated bytes, as in
    ``/proc/<pid>/cmdline``) cut to :data:`MAX_MASKED` bytes, masked, joined, escaped and cut
    to :data:`MAX_COMMAND` characters; a process without arguments (a kernel thread, a zombie)
    shows ``[name]``. The cost is bounded whatever the arguments' length."""
    cut_short = len(raw_cmdline) > MAX_MASKED
    args = [part.decode("utf-8", "replace") for part in raw_cmdline[:MAX_MASKED].split(b"\0")]
    while args and not args[-1]:
        args.pop()
    if not args:
        return "[%s]" % cut(escape(name[:MAX_COMMAND]), MAX_COMMAND - 2)
    if cut_short and "://" in args[-1]:
        args[-1] = _mask_cut_url(args[-1])
    text = " ".join(mask_secrets(args))
    return cut(escape(text[:MAX_COMMAND + 1]), MAX_COMMAND) if not cut_short else \
        cut(escape(text[:MAX_COMMAND]) + "...", MAX_COMMAND)


def _mask_cut_url(arg):
    """An argument cut inside a URL's authority: whatever follows ``://`` up to where it was
    cut may be a secret not yet ended by its ``@``."""
    found = arg.rfind("://")
    rest = arg[found + 3:]
    if any(ch in rest for ch in "/?#") or any(ch.isspace() for ch in rest):
        return arg
    return arg[:found + 3] + MASK


try:
    from unicodedata import combining as _combining, east_asian_width as _east_asian_width
except ImportError:  # a minimal Python: count every character past the Latin blocks as wide
    _combining = None


def char_width(ch):
    """Columns ``ch`` takes on a terminal: 2 for East Asian wide and full-width, 0 for a
    combining mark, else 1 (without ``unicodedata``: 2 from U+1100 on, a safe overestimate)."""
    code = ord(ch)
    if code < 0x300:
        return 1
    if _combining is None:
        return 2 if code >= 0x1100 else 1
    if _combining(ch):
        return 0
    return 2 if _east_asian_width(ch) in ("W", "F") else 1


def terminal(text, width, tail="~"):
    """``text`` escaped and cut to at most ``width`` terminal columns (``tail`` marks a cut)."""
    text = escape(str(text)[:max(0, width) * 2 + 8])
    used, shown = 0, []
    for index, ch in enumerate(text):
        wide = char_width(ch)
        if used + wide > width:
            while shown and used + len(tail) > width:
                used -= char_width(shown.pop())
            return "".join(shown) + tail if width >= len(tail) else ""
        used += wide
        shown.append(ch)
    return "".join(shown)


def pad(text, width):
    """:func:`terminal`, then spaces to fill ``width`` columns (for table columns)."""
    shown = terminal(text, width)
    return shown + " " * (width - sum(char_width(ch) for ch in shown))


def chat(text, limit=MAX_NAME):
    """A process or user name for chat markup: each character outside letters, digits, space and
    ``. - + = , /`` becomes ``?``, cut to ``limit``; so no mention (``<!channel>``,
    ``@here``), link, image, emoji or emphasis can be made of it."""
    return "".join(ch if ch in _CHAT_SAFE else "?" for ch in str(text)[:limit])


def chat_text(text):
    """SysMedic's own one-line text with Slack's three markup characters as entities (the
    parts from processes went through :func:`chat` first)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def program(command):
    """The program's name in a shown command: the first word's last path part (``[kworker]``
    kept whole)."""
    first = command.split(" ", 1)[0]
    return first if first.startswith("[") else first.rsplit("/", 1)[-1]


def label(text, limit=MAX_NAME * 2):
    """A Prometheus label value: cut, then ``\\``, ``"`` and newline escaped (the text
    exposition format's rules); control characters escaped as in :func:`escape`."""
    return escape(cut(str(text), limit)).replace("\\", "\\\\").replace('"', '\\"')


def log_text(text, limit=120):
    """A part of a log line that someone else chose (a request path, a name): cut first,
    then escaped."""
    return escape(cut(str(text), limit))
