#!/usr/bin/env bash
# Installs what berth's build and tests need on Debian 12, as root, without prompting.
# Packages already present are left alone, so a prepared machine pays nothing.
set -euo pipefail

need=()
want() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || need+=("$1"); }
# qemu-system-x86, xz-utils and zstd: scripts/vm-test.sh boots Debian's kernels in VMs.
# nftables: berth's firewall runs nft; iptables: its dockerd coexistence (and tests);
# curl and debootstrap: the network tests (scripts/bookworm.sh). skopeo, umoci,
# docker-registry, apache2-utils (htpasswd) and openssl: the registry tests and
# bench/pull.sh. docker-compose (1.29, the Python one, through docker-py): the compose
# end-to-end test drives berth's daemon with it (crates/berth/tests/compose_v1.rs).
for p in curl debootstrap busybox-static libseccomp-dev pkg-config containerd runc bsdutils util-linux iproute2 tar coreutils skopeo umoci procps python3 python3-venv docker-registry \
    docker-compose nftables iptables qemu-system-x86 xz-utils zstd debian-archive-keyring apache2-utils openssl; do
    want "$p"
done
if ((${#need[@]})); then
    echo "install-deps: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
    echo "install-deps: cargo (Rust 1.80 or newer) is required; install it with rustup" >&2
    exit 1
fi
# scripts/test.sh checks formatting and lints.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null; then
        echo "install-deps: adding the rustfmt and clippy components" >&2
        rustup component add rustfmt clippy
    else
        echo "install-deps: cargo fmt and cargo clippy are required; without rustup, install" \
            "the rustfmt and clippy of the Rust toolchain that provides cargo" >&2
        exit 1
    fi
fi
