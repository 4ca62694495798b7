#!/usr/bin/env bash
# bench/push.sh — pushing to a registry on loopback: berth's daemon against Docker's,
# both driven by the docker CLI's own commands through their sockets, to the
# reference registry (Debian's docker-registry 2.8) in the benchmark's own network
# namespace.
#
# Two images, in both daemons:
# - "rootfs": Debian bookworm's minbase root filesystem (scripts/bookworm.sh, ≈ 200 MB
#   uncompressed), imported — stored uncompressed, so the push gzips it on the way out;
# - "pulled": ≈ 2 × SIZE MB of random data in two gzip layers, pulled from a first
#   registry — the push only uploads what is stored.
# Each run empties the destination registry's storage first, so every layer is sent.
# Prints a markdown table of median times.
#
# Usage (as root; build first):
#   . scripts/env.sh && cargo build --release --target "$BERTH_TARGET" -p berth -p berth-init
#   bench/push.sh [-n RUNS] [-s MB_PER_LAYER]     # default 5 runs, 100 MB layers
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=5
SIZE=100
while getopts "n:s:h" opt; do
    case $opt in
        n) RUNS=$OPTARG ;;
        s) SIZE=$OPTARG ;;
        *) sed -n '2,17p' "$0"; exit 0 ;;
    esac
done
for t in docker-registry skopeo python3; do
    command -v $t >/dev/null || { echo "push.sh: missing $t (apt-get install docker-registry skopeo)" >&2; exit 1; }
done
ROOTFS=$(scripts/bookworm.sh)

. bench/lib.sh
bench_init push
rpids=
trap 'for p in $rpids; do kill "$p" 2>/dev/null; done; bench_cleanup' EXIT

# The random image, as an OCI layout, for the source registry.
BYTES=$(random_oci_image "$tmp/oci" "$SIZE")

start_docker_registry source 5000
start_docker_registry dest 5001
$NS skopeo copy -q --dest-tls-verify=false "oci:$tmp/oci:latest" docker://127.0.0.1:5000/big:latest

start_berth
start_dockerd --bridge=none --iptables=false --ip6tables=false
wait_sock "$tmp/berth.sock"; wait_sock "$tmp/docker.sock"
B="env DOCKER_HOST=unix://$tmp/berth.sock"
D="env DOCKER_HOST=unix://$tmp/docker.sock"
for c in "$B" "$D"; do
    $c "$DOCKER" import "$ROOTFS" 127.0.0.1:5001/rootfs:latest >/dev/null
    $c "$DOCKER" pull -q 127.0.0.1:5000/big:latest >/dev/null
    $c "$DOCKER" tag 127.0.0.1:5000/big:latest 127.0.0.1:5001/pulled:latest
done
EMPTY="rm -rf $tmp/dest/docker"

hyperfine -N --runs "$RUNS" --export-json "$tmp/push.json" --prepare "$EMPTY" \
    -n "berth: rootfs" "$B $DOCKER push -q 127.0.0.1:5001/rootfs:latest" \
    -n "docker: rootfs" "$D $DOCKER push -q 127.0.0.1:5001/rootfs:latest" \
    -n "berth: pulled" "$B $DOCKER push -q 127.0.0.1:5001/pulled:latest" \
    -n "docker: pulled" "$D $DOCKER push -q 127.0.0.1:5001/pulled:latest" >&2

med() { jq -r --arg n "$1" '.results[] | select(.command==$n) | .median' "$tmp/push.json"; }
RAW=$(stat -c %s "$ROOTFS")
echo
echo "Push to docker-registry on loopback (docker CLI against each daemon), median of $RUNS:"
echo
echo "| image | berth (s) | docker (s) | berth MB/s | docker MB/s | berth / docker |"
echo "|---|---:|---:|---:|---:|---:|"
for img in rootfs pulled; do
    b=$(med "berth: $img"); d=$(med "docker: $img")
    case $img in
        rootfs) what="bookworm minbase, $((RAW / 1000000)) MB uncompressed, gzipped on the way"; n=$RAW ;;
        pulled) what="two gzip layers, $((BYTES / 1000000)) MB, sent as stored"; n=$BYTES ;;
    esac
    awk -v w="$what" -v b="$b" -v d="$d" -v n="$n" \
        'BEGIN { printf "| %s | %.2f | %.2f | %.0f | %.0f | %.2f |\n", w, b, d, n / 1e6 / b, n / 1e6 / d, b / d }'
done
