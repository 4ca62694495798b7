#!/usr/bin/env bash
# Sets berth up on a fresh Debian 12 machine (as root) and runs a container with it:
# installs the build dependencies, builds berth, makes a busybox image locally from
# Debian's static busybox (no registry needed), and runs it with `berth run`. The
# first berth command starts the daemon (`berth daemon`, socket /run/berth/berth.sock)
# in the background; it keeps running afterwards, like dockerd.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
. scripts/env.sh
cargo build --release --locked --target "$BERTH_TARGET" -p berth -p berth-init
export PATH="$BERTH_BIN:$PATH"

berth version --format 'berth daemon {{.Server.Version}} is up'
if ! berth image inspect busybox:latest >/dev/null 2>&1; then
    rootfs="$(mktemp -d /tmp/berth-quickstart.XXXXXX)"
    trap 'rm -rf "$rootfs"' EXIT
    mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"; done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
    echo 'root:x:0:' >"$rootfs/etc/group"
    tar -C "$rootfs" -c . | berth import --change 'CMD ["sh"]' - busybox:latest
fi
berth run --rm busybox sh -c 'echo "Hello from a berth container on $(hostname): $(uname -sr), pid $$"'
echo "quickstart: try 'berth run -it busybox sh' (PATH=$BERTH_BIN:\$PATH); 'berth ps -a', 'berth images'" >&2
