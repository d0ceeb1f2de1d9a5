#!/bin/sh
# Debian packages the end-to-end tests use, installed when missing (root with apt-get only;
# otherwise the tests that need them are skipped with the reason). No input is read.
need=""
command -v openrc-run >/dev/null 2>&1 || need="$need openrc"
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v curl >/dev/null 2>&1 || need="$need curl"
command -v setpriv >/dev/null 2>&1 || need="$need util-linux"
command -v promtool >/dev/null 2>&1 || need="$need prometheus"
command -v openssl >/dev/null 2>&1 || need="$need openssl"
command -v certutil >/dev/null 2>&1 || need="$need libnss3-tools"
command -v tmux >/dev/null 2>&1 || need="$need tmux"
command -v busybox >/dev/null 2>&1 || need="$need busybox"
command -v debootstrap >/dev/null 2>&1 || need="$need debootstrap"
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "note: cannot install$need here (not root, or no apt-get); tests that need them will be skipped"
    exit 0
fi
echo "== installing$need"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends $need >/dev/null
