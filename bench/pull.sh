#!/usr/bin/env bash
# bench/pull.sh — pulling from a registry on loopback: berth's daemon against Docker's,
# and skopeo copying to a directory, from the reference registry (Debian's
# docker-registry 2.8) in the benchmark's own network namespace.
#
# The image: ≈ 200 MB in two layers of random data (incompressible, gzip), pushed
# with skopeo. Each run removes the image first (`rmi`, and the directory for
# skopeo), so every pull fetches, verifies and unpacks everything. Prints a markdown
# table of median times and throughput (compressed MB / s).
#
# Usage (as root; build first):
#   . scripts/env.sh && cargo build --release --target "$BERTH_TARGET" -p berth -p berth-init
#   bench/pull.sh [-n RUNS] [-s MB_PER_LAYER]     # default 5 runs, 100 MB layers
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=5
SIZE=100
while getopts "n:s:h" opt; do
    case $opt in
        n) RUNS=$OPTARG ;;
        s) SIZE=$OPTARG ;;
        *) sed -n '2,15p' "$0"; exit 0 ;;
    esac
done
for t in docker-registry skopeo python3; do
    command -v $t >/dev/null || { echo "pull.sh: missing $t (apt-get install docker-registry skopeo)" >&2; exit 1; }
done

. bench/lib.sh
bench_init pull
rpids=
trap 'for p in $rpids; do kill "$p" 2>/dev/null; done; bench_cleanup' EXIT

# The image, as an OCI layout.
BYTES=$(random_oci_image "$tmp/oci" "$SIZE")

start_docker_registry registry 5000
$NS skopeo copy -q --dest-tls-verify=false "oci:$tmp/oci:latest" docker://127.0.0.1:5000/big:latest

start_berth
start_dockerd --bridge=none --iptables=false --ip6tables=false
wait_sock "$tmp/berth.sock"; wait_sock "$tmp/docker.sock"
B="env DOCKER_HOST=unix://$tmp/berth.sock"
D="env DOCKER_HOST=unix://$tmp/docker.sock"
IMG=127.0.0.1:5000/big:latest

hyperfine -N --runs "$RUNS" --export-json "$tmp/pull.json" \
    -n "berth pull" --prepare "sh -c '$B $BERTH rmi -f $IMG >/dev/null 2>&1; true'" "$B $BERTH pull -q $IMG" \
    -n "docker pull (dockerd)" --prepare "sh -c '$D $DOCKER rmi -f $IMG >/dev/null 2>&1; true'" "$D $DOCKER pull -q $IMG" \
    -n "skopeo copy to dir" --prepare "rm -rf $tmp/skopeo-dir" \
    "$NS skopeo copy -q --src-tls-verify=false docker://$IMG dir:$tmp/skopeo-dir" >&2

med() { jq -r --arg n "$1" '.results[] | select(.command==$n) | .median' "$tmp/pull.json"; }
echo
echo "Pull of a $((BYTES / 1000000)) MB two-layer gzip image from docker-registry on loopback, median of $RUNS:"
echo
echo "| client | time (s) | MB/s |"
echo "|---|---:|---:|"
for n in "berth pull" "docker pull (dockerd)" "skopeo copy to dir"; do
    t=$(med "$n")
    awk -v n="$n" -v b="$BYTES" -v t="$t" 'BEGIN { printf "| %s | %.2f | %.0f |\n", n, t, b / 1e6 / t }'
done
