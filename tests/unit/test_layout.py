"""The package's layout as docs/architecture.md draws it (issue 23): floors that import only
below themselves, each third-party runtime library in exactly one module, and nothing loose at
the top of ``sysmedic/`` but what every floor uses. Read from the source with ``ast``: a new
import that goes upward, or a second module importing psutil, fails here."""

import ast
import os

from ..conftest import ROOT

PACKAGE = os.path.join(ROOT, "sysmedic")

# Lowest first. A unit is a subpackage or a top-level module; one may import its own unit and
# any unit on a lower floor, never a unit beside or above it.
FLOORS = (
    ("__init__", "errors", "needs", "web"),
    ("formatting", "home", "resources", "untrusted", "mailbox", "figures"),
    ("config", "views", "collect", "analysis"),
    ("storage", "history"),
    ("notify",),
    ("server",),
    ("daemon",),
    ("commands", "cli"),
    ("__main__",),
)
FLOOR = {unit: level for level, units in enumerate(FLOORS) for unit in units}
LIBRARIES = {"psutil": "sysmedic.collect.psutil_source", "docopt": "sysmedic.cli",
             "simple_websocket": "sysmedic.commands.client"}


def modules():
    """``{dotted module name: (its unit, the sysmedic modules it imports, the top-level names
    of everything else it imports)}``, lazy imports inside functions included."""
    found = {}
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            dotted = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
            package = dotted if name == "__init__.py" else dotted.rsplit(".", 1)[0]
            if name == "__init__.py":
                dotted = package
            ours, theirs = set(), set()
            with open(path) as handle:
                tree = ast.parse(handle.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
                    if node.module:
                        ours.add(base + "." + node.module)
                    else:
                        ours.update(base + "." + alias.name for alias in node.names)
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    for target in ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                                   else [node.module]):
                        (ours if target.split(".")[0] == "sysmedic" else theirs).add(target)
            parts = dotted.split(".")
            found[dotted] = (parts[1] if len(parts) > 1 else "__init__", ours, {t.split(".")[0] for t in theirs})
    return found


def unit_of(dotted):
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_unit_has_a_floor():
    units = {unit for unit, _, _ in modules().values()}
    assert units <= set(FLOOR), "give these a floor in tests/unit/test_layout.py: %s" % sorted(units - set(FLOOR))


def test_imports_go_down_only():
    upward = []
    for dotted, (unit, ours, _) in sorted(modules().items()):
        for target in sorted(ours):
            other = unit_of(target)
            if other in ("__version__",):
                other = "__init__"
            if other != unit and FLOOR.get(other, 0) >= FLOOR[unit]:
                upward.append("%s imports %s (floor %d, not below %d)" % (dotted, target, FLOOR.get(other, 0),
                                                                         FLOOR[unit]))
    assert not upward, "\n".join(upward)


def test_each_library_in_one_module():
    for library, owner in LIBRARIES.items():
        users = sorted(dotted for dotted, (_, _, theirs) in modules().items() if library in theirs)
        assert users == [owner], (library, users)


def test_nothing_loose_at_the_top():
    loose = sorted(name[:-3] for name in os.listdir(PACKAGE) if name.endswith(".py"))
    assert set(loose) <= set(FLOORS[0] + FLOORS[1]) | {"config", "views", "cli", "__main__"}, loose


def test_every_error_a_user_sees_lives_in_errors_py():
    """One home for the exceptions a user can see (each with its exit status there)."""
    from sysmedic.errors import KINDS
    elsewhere = []
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            path = os.path.join(folder, name)
            if not name.endswith(".py") or path == os.path.join(PACKAGE, "errors.py"):
                continue
            with open(path) as handle:
                tree = ast.parse(handle.read(), path)
            elsewhere += ["%s: %s" % (os.path.relpath(path, ROOT), node.name) for node in ast.walk(tree)
                          if isinstance(node, ast.ClassDef) and any(
                              getattr(base, "id", getattr(base, "attr", "")) in KINDS for base in node.bases)]
    assert not elsewhere, elsewhere


def test_the_server_gets_what_it_serves_through_its_context():
    """Issue 23, item 3: the server imported the history, processes and metrics modules; it
    gets the state, the history and the daemon's figures through ServerContext instead."""
    barred = {"history", "collect", "analysis", "storage", "notify", "config", "daemon"}
    found = sorted("%s imports %s" % (dotted, target) for dotted, (unit, ours, _) in modules().items()
                   if unit == "server" for target in ours if unit_of(target) in barred)
    assert not found, found
