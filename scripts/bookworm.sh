#!/usr/bin/env bash
# Prints the path of a Debian bookworm root filesystem as a tar (debootstrap
# --variant=minbase from deb.debian.org, about a minute), made once under
# target/bookworm/. The network test imports it and runs the seeds' cowsay example
# through berth's NAT (apt-get inside the container reaches the mirror as the host's
# own apt does).
set -euo pipefail
cd "$(dirname "$0")/.."

dir="$PWD/target/bookworm"
tar="$dir/bookworm.tar"
if [ ! -s "$tar" ]; then
    command -v debootstrap >/dev/null || { echo "bookworm.sh: debootstrap is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
    rm -rf "$dir/rootfs" "$tar.tmp"
    mkdir -p "$dir"
    debootstrap --variant=minbase bookworm "$dir/rootfs" http://deb.debian.org/debian >"$dir/debootstrap.log" 2>&1 \
        || { tail -20 "$dir/debootstrap.log" >&2; exit 1; }
    tar -C "$dir/rootfs" --numeric-owner -cf "$tar.tmp" .
    rm -rf "$dir/rootfs"
    mv "$tar.tmp" "$tar"
fi
echo "$tar"
