#!/usr/bin/env bash
# bench/archive.sh — a container's filesystem into an image and images into tarballs:
# berth's daemon against Docker's (Debian's docker.io), same machine, same client (the
# docker CLI), same data.
#
# Measures (hyperfine -N, median; every run works on fresh data):
#   1. `commit` of a running container that wrote 100 MB of new files (100 files of
#      1 MiB from /dev/urandom, so compression gains nothing);
#   2. `save -o` of a 200 MB image (one layer of 200 files of 1 MiB of random data,
#      imported identically into both daemons);
#   3. `load -i` of that image's archive (Docker's own `save` output, the same file for
#      both), the image and its layer removed before each run.
# Prints a markdown table with the ratios berth/docker.
#
# Usage (as root; build first):
#   . scripts/env.sh && cargo build --release --target "$BERTH_TARGET" -p berth -p berth-init
#   bench/archive.sh [-n RUNS]          # default 5 runs of each
# Needs: docker.io (dockerd), a docker CLI, hyperfine, jq, busybox-static. Both
# daemons run on private sockets and roots in a temp dir (dockerd with --bridge=none
# --iptables=false: no network or firewall change). Everything is removed on exit.

set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=5
while getopts "n:h" opt; do
    case $opt in
        n) RUNS=$OPTARG ;;
        *) sed -n '2,21p' "$0"; exit 0 ;;
    esac
done

. bench/lib.sh
bench_init archive
trap bench_cleanup EXIT

# busybox FROM scratch, and a 200 MB image: busybox plus 200 MiB of random files.
busybox_rootfs
tar -C "$tmp/rootfs" -cf "$tmp/busybox.tar" .
mkdir -p "$tmp/rootfs/data"
for i in $(seq 200); do head -c 1048576 /dev/urandom >"$tmp/rootfs/data/f$i"; done
tar -C "$tmp/rootfs" -cf "$tmp/big.tar" .
rm -rf "$tmp/rootfs"

start_berth
dockerd -H "unix://$tmp/docker.sock" --data-root "$tmp/docker-data" --exec-root "$tmp/docker-exec" \
    --pidfile "$tmp/docker.pid" --bridge=none --iptables=false --ip6tables=false \
    --ip-forward=false --ip-masq=false --cgroup-parent "/docker-bench-$$" >"$tmp/docker.log" 2>&1 &
dpid=$!
wait_sock "$tmp/berth.sock"; wait_sock "$tmp/docker.sock"
B="env DOCKER_HOST=unix://$tmp/berth.sock"
D="env DOCKER_HOST=unix://$tmp/docker.sock"
for X in "$B" "$D"; do
    $X "$DOCKER" import "$tmp/busybox.tar" busybox:latest >/dev/null
    $X "$DOCKER" import "$tmp/big.tar" big:latest >/dev/null
done
$D "$DOCKER" save -o "$tmp/big-docker.tar" big:latest

# 1. commit: each run gets a fresh container with 100 MiB of new random files.
cat >"$tmp/fresh.sh" <<EOF
#!/bin/sh
# \$1: DOCKER_HOST
export DOCKER_HOST=\$1
"$DOCKER" rm -f committed >/dev/null 2>&1
"$DOCKER" rmi -f committed-img >/dev/null 2>&1
"$DOCKER" run -d --name committed --network none busybox sh -c \
  'mkdir /new; for i in \$(seq 100); do head -c 1048576 /dev/urandom > /new/f\$i; done; touch /done; sleep 100000' >/dev/null
until "$DOCKER" exec committed test -e /done; do sleep 0.1; done
EOF
chmod +x "$tmp/fresh.sh"
hyperfine -N --runs "$RUNS" --export-json "$tmp/commit.json" \
    --prepare "$tmp/fresh.sh unix://$tmp/berth.sock" -n "berth" "$B $DOCKER commit committed committed-img" \
    --prepare "$tmp/fresh.sh unix://$tmp/docker.sock" -n "docker" "$D $DOCKER commit committed committed-img" >&2

# 2. save of the 200 MB image.
hyperfine -N --runs "$RUNS" --export-json "$tmp/save.json" \
    --prepare "rm -f $tmp/out.tar" -n "berth" "$B $DOCKER save -o $tmp/out.tar big:latest" \
    --prepare "rm -f $tmp/out.tar" -n "docker" "$D $DOCKER save -o $tmp/out.tar big:latest" >&2

# 3. load of Docker's archive of it, into a daemon without the image.
cat >"$tmp/unload.sh" <<EOF
#!/bin/sh
export DOCKER_HOST=\$1
"$DOCKER" rmi -f big:latest >/dev/null 2>&1
"$DOCKER" image prune -f >/dev/null 2>&1
sync
EOF
chmod +x "$tmp/unload.sh"
hyperfine -N --runs "$RUNS" --export-json "$tmp/load.json" \
    --prepare "$tmp/unload.sh unix://$tmp/berth.sock" -n "berth" "$B $DOCKER load -q -i $tmp/big-docker.tar" \
    --prepare "$tmp/unload.sh unix://$tmp/docker.sock" -n "docker" "$D $DOCKER load -q -i $tmp/big-docker.tar" >&2

med() { jq -r --arg n "$2" '.results[] | select(.command==$n) | .median' "$tmp/$1.json"; }
size_mb=$(( $(stat -c %s "$tmp/big-docker.tar") / 1000000 ))
echo
echo "| operation | berth (s) | docker (s) | berth/docker |"
echo "|---|---|---|---|"
for op in commit save load; do
    b=$(med $op berth); d=$(med $op docker)
    case $op in
        commit) what="commit, container with 100 MiB of new files" ;;
        save) what="save -o, ${size_mb} MB image" ;;
        load) what="load -i, ${size_mb} MB archive" ;;
    esac
    printf "| %s | %.3f | %.3f | %.2f |\n" "$what" "$b" "$d" "$(echo "$b / $d" | bc -l)"
done
for op in save load; do
    b=$(med $op berth); d=$(med $op docker)
    printf "%s throughput: berth %.0f MB/s, docker %.0f MB/s\n" "$op" "$(echo "$size_mb / $b" | bc -l)" "$(echo "$size_mb / $d" | bc -l)"
done
