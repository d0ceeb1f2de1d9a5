#!/bin/sh
# Debian unstable's Pythons (3.14 and 3.15) for `make test` as root (issue 24): a debootstrap
# minbase root of sid with the Debian packages the fast suite needs, made once and kept outside
# the checkout ($SYSMEDIC_TEST_ROOTS, default /var/cache/sysmedic-test), and SysMedic's pinned
# pure-Python dependencies staged in its /opt/sysmedic-deps. Prints the root's path last.
# Not root, or no debootstrap: says so and exits 0 (the tests that need the root then skip).
set -eu
base=${SYSMEDIC_TEST_ROOTS:-/var/cache/sysmedic-test}
root=$base/sid
mirror=${SYSMEDIC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=python3.14,python3.15,passwd,python3-psutil,python3-pytest,python3-pytest-timeout,python3-websocket,python3-aiosmtpd,python3-trustme,python3-cffi-backend,iproute2,openssl
if [ "$(id -u)" != 0 ] || ! command -v debootstrap >/dev/null 2>&1; then
    echo "note: no sid root (needs root and debootstrap); the Python 3.14/3.15 tests will be skipped"
    exit 0
fi
if [ "$(cat "$root/.packages" 2>/dev/null)" != "$packages" ]; then
    echo "== building a Debian sid minbase root in $root (once; a few minutes)"
    mkdir -p "$base"
    rm -rf "$root.partial"
    if ! debootstrap --variant=minbase --include="$packages" sid "$root.partial" "$mirror" >"$base/sid.log" 2>&1; then
        tail -n 20 "$base/sid.log" >&2
        echo "sid root: debootstrap failed (whole log: $base/sid.log)" >&2
        exit 1
    fi
    echo "$packages" >"$root.partial/.packages"
    rm -rf "$root"
    mv "$root.partial" "$root"
fi
deps=$root/opt/sysmedic-deps
if ! cmp -s packaging/zipapp-requirements.txt "$deps/.requirements" 2>/dev/null; then
    rm -rf "$deps"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-compile \
        --only-binary=:all: --target "$deps" -r packaging/zipapp-requirements.txt
    cp packaging/zipapp-requirements.txt "$deps/.requirements"
fi
echo "$root"
