#!/usr/bin/env bash
# Prints the path of a dockerd to compare berth with: Debian's docker.io (dockerd 20.10,
# the behaviour berth's Engine API follows), fetched with `apt-get download` and
# unpacked with dpkg-deb -x under target/dockerd/. The package is never installed: its
# maintainer scripts (which would start a system daemon) never run, and nothing outside
# the checkout changes. The tests start it on private roots (crates/berth/tests/common/
# dockerd.rs); it needs containerd and runc, which scripts/install-deps.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."

dir="$PWD/target/dockerd"
bin="$dir/root/usr/sbin/dockerd"
if [ ! -x "$bin" ]; then
    mkdir -p "$dir/deb"
    rm -rf "$dir/root" "$dir"/deb/*.deb
    # tini: the package's docker-init (for --init) is a link to tini-static.
    fetch() { (cd "$dir/deb" && apt-get download -q docker.io tini >/dev/null 2>"$dir/apt.log"); }
    if ! fetch; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        fetch || { cat "$dir/apt.log" >&2; exit 1; }
    fi
    for deb in "$dir"/deb/*.deb; do
        dpkg-deb -x "$deb" "$dir/root.tmp"
    done
    mv "$dir/root.tmp" "$dir/root"
fi
"$bin" --version >/dev/null
[ -x "$dir/root/usr/bin/docker-init" ] || { echo "dockerd.sh: no docker-init in $dir/root" >&2; exit 1; }
echo "$bin"
