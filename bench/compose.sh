#!/usr/bin/env bash
# bench/compose.sh — a 10-service project: `berth compose` against berth's daemon,
# side by side with Debian's docker-compose 1.29 against dockerd.
#
# Measures (hyperfine -N, whole processes, median):
#   1. `up -d` of the project from nothing (its network made, 10 containers created
#      and started; `down` before each run, not timed);
#   2. `down` of the running project (10 containers stopped and removed, the network
#      removed; `up -d` before each run, not timed).
# The services: busybox, each `sh` waiting on a `sleep` with a TERM trap (so a stop
# takes no grace period on either side), three of them depending on others (so both
# tools order their work). Prints a markdown table with the ratios berth/docker.
#
# Usage (as root; build first):
#   . scripts/env.sh && cargo build --release --target "$BERTH_TARGET" -p berth -p berth-init
#   bench/compose.sh [-n RUNS]   # default 10
# Needs: a dockerd (docker.io, or scripts/dockerd.sh's), docker-compose (Debian's
# 1.29), hyperfine, jq, busybox-static. Both daemons run on private sockets, roots and
# cgroup parents in a temp dir, in a network namespace of the script's own, on subnets
# of their own (berth 10.213.82.0/24, dockerd 10.213.83.0/24); the project's network
# takes each daemon's next free pool. Everything is removed on exit.

set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=10
while getopts "n:h" opt; do
    case $opt in
        n) RUNS=$OPTARG ;;
        *) sed -n '2,22p' "$0"; exit 0 ;;
    esac
done
[ "$RUNS" -ge 1 ] || { echo "compose.sh: -n needs at least 1 run" >&2; exit 1; }

. bench/lib.sh
bench_init compose
COMPOSE=$(command -v docker-compose || true)
[ -n "$COMPOSE" ] || { echo "compose.sh: missing docker-compose (apt-get install docker-compose)" >&2; exit 1; }
trap 'bench_cleanup' EXIT

busybox_rootfs
tar -C "$tmp/rootfs" -cf "$tmp/busybox.tar" .
start_berth --bip 10.213.82.1/24
start_dockerd --bip 10.213.83.1/24 --ip6tables=false
wait_sock "$tmp/berth.sock"; wait_sock "$tmp/docker.sock"
for s in berth docker; do
    DOCKER_HOST=unix://$tmp/$s.sock "$DOCKER" import --change 'CMD ["sh"]' "$tmp/busybox.tar" busybox:latest >/dev/null
done

mkdir -p "$tmp/project"
{
    echo "services:"
    for i in $(seq 0 9); do
        echo "  s$i:"
        echo "    image: busybox:latest"
        echo "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 3600 & wait\"]"
        echo "    environment:"
        echo "      INDEX: \"$i\""
        case $i in
            7) echo "    depends_on: [s0, s1]" ;;
            8) echo "    depends_on: [s7]" ;;
            9) echo "    depends_on: [s2]" ;;
        esac
    done
} >"$tmp/project/compose.yaml"

# The command lines hyperfine runs (no shell).
B="env DOCKER_HOST=unix://$tmp/berth.sock $BERTH compose -p bench -f $tmp/project/compose.yaml"
D="env DOCKER_HOST=unix://$tmp/docker.sock $COMPOSE -p bench -f $tmp/project/compose.yaml"

# Both must bring up ten running containers before anything is timed.
for side in berth docker; do
    c=$B; [ $side = docker ] && c=$D
    $c up -d >"$tmp/up-$side.log" 2>&1 || { echo "compose.sh: up on $side failed:" >&2; cat "$tmp/up-$side.log" >&2; exit 1; }
    n=$(DOCKER_HOST=unix://$tmp/$side.sock "$DOCKER" ps -q --filter label=com.docker.compose.project=bench | wc -l)
    [ "$n" = 10 ] || { echo "compose.sh: $n containers running on $side, not 10" >&2; exit 1; }
    $c down >"$tmp/down-$side.log" 2>&1 || { echo "compose.sh: down on $side failed:" >&2; cat "$tmp/down-$side.log" >&2; exit 1; }
    n=$(DOCKER_HOST=unix://$tmp/$side.sock "$DOCKER" ps -aq --filter label=com.docker.compose.project=bench | wc -l)
    [ "$n" = 0 ] || { echo "compose.sh: $n containers left on $side after down" >&2; exit 1; }
done

hyperfine -N --runs "$RUNS" --export-json "$tmp/up.json" \
    --prepare "$B down" -n "berth up" "$B up -d" \
    --prepare "$D down" -n "docker up" "$D up -d" >&2
hyperfine -N --runs "$RUNS" --export-json "$tmp/down.json" \
    --prepare "$B up -d" -n "berth down" "$B down" \
    --prepare "$D up -d" -n "docker down" "$D down" >&2
$B down >/dev/null 2>&1 || true
$D down >/dev/null 2>&1 || true

med() { jq -r --arg n "$2" '.results[] | select(.command==$n) | .median' "$tmp/$1.json"; }
echo
echo "A 10-service project, berth compose against berth vs docker-compose $("$COMPOSE" version --short 2>/dev/null || echo 1.29) against dockerd, median of $RUNS:"
echo
echo "| operation | berth compose | docker-compose | berth / docker |"
echo "|---|---:|---:|---:|"
for op in up down; do
    awk -v o="$op" -v b="$(med "$op" "berth $op")" -v d="$(med "$op" "docker $op")" \
        'BEGIN { printf "| `%s%s` | %.3f s | %.3f s | %.2f |\n", o, (o == "up" ? " -d" : ""), b, d, b / d }'
done
