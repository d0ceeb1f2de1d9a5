#!/bin/sh
# The fast suite on Debian sid's python3.14 and python3.15 (issue 24), in the root that
# tests/sid-root.sh makes: this checkout bind-mounted at /src, /proc, /sys and /dev from the
# host, all in a private mount namespace (nothing stays mounted whatever happens), and the
# pinned runtime packages from /opt/sysmedic-deps (psutil and the test packages from Debian).
set -eu
root=$(sh tests/sid-root.sh | tail -n 1)
case "$root" in /*) ;; *) echo "$root"; exit 0 ;; esac  # not root or no debootstrap: said why
ran=""
for python in python3.14 python3.15; do
    [ -x "$root/usr/bin/$python" ] || { echo "sid root: no $python" >&2; exit 1; }
    echo "== Python $(chroot "$root" $python -c "import sys; print(sys.version.split()[0])") (Debian sid root): fast suite"
    unshare --mount --propagation private sh -eu -c '
        root=$1 python=$2
        mkdir -p "$root/src"
        mount --bind "$root" "$root"  # the chroot'"'"'s / a mount of its own (unshare --mount-proc needs one)
        mount --bind "$PWD" "$root/src"
        mount -t proc proc "$root/proc"
        mount --rbind /sys "$root/sys"
        mount --rbind /dev "$root/dev"
        mount -t tmpfs tmpfs "$root/tmp"
        exec chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
            PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=/src:/opt/sysmedic-deps SYSMEDIC_STRICT_SKIPS="$3" \
            sh -c "cd /src && exec $python -m pytest -q -m \"not slow\" -p no:cacheprovider"
    ' sh "$root" "$python" "${SYSMEDIC_STRICT_SKIPS:-}"
    ran="$ran ${python#python}"
done
echo "== sid root ran on:$ran"
