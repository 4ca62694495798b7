#!/usr/bin/env bash
# Sets berth up on a fresh Debian 12 machine (as root) and runs a container with it:
# installs the build dependencies, builds berth, makes a busybox root filesystem
# locally (no registry needed) and runs it with `berth runtime run`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
. scripts/env.sh
cargo build --release --locked --target "$BERTH_TARGET" -p berth

bundle="$(mktemp -d /tmp/berth-quickstart.XXXXXX)"
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in sh echo cat ls hostname id uname; do
    ln -s busybox "$bundle/rootfs/bin/$applet"
done
cd "$bundle"
"$BERTH_BIN/berth" runtime spec
# A non-interactive hello; `berth runtime run` on the unmodified spec gives a shell.
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"sh", "-c", "echo Hello from a berth container on $(hostname), $(uname -sr); id"/' config.json
"$BERTH_BIN/berth" runtime run "quickstart-$$"
