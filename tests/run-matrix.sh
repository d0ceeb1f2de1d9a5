#!/bin/sh
# Run the fast suite on each Python in $PYTHON_LIST that is 3.8 or newer and not the main venv's.
# Each gets its own virtualenv under .venvs/ with the runtime and test packages from PyPI.
set -eu
main=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
ran=""
for python in $PYTHON_LIST; do
    version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
    case "$version" in 3.[0-7]) continue ;; esac
    [ "$version" = "$main" ] && continue
    venv=".venvs/py$version"
    if [ ! -f "$venv/.installed" ] || [ setup.py -nt "$venv/.installed" ] || [ requirements-test.txt -nt "$venv/.installed" ]; then
        echo "== creating $venv"
        rm -rf "$venv"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e . -r requirements-test.txt
        touch "$venv/.installed"
    fi
    echo "== Python $version: fast suite"
    "$venv/bin/python" -m pytest -q -m "not slow" -p no:cacheprovider
    ran="$ran $version"
done
echo "== matrix ran on:${ran:- (no other Python 3.8+ found)}"
