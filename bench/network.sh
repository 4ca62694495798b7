#!/usr/bin/env bash
# bench/network.sh — container networking, berth's daemon against Docker's, both with
# their default networking (bridge, NAT, published ports: Docker with its iptables
# rules and its userland proxy, docker-proxy, one process per published port; berth
# with nftables DNAT in the kernel and no proxy), inside one network namespace of the
# script's own, so nothing of the host's changes.
#
# Measures:
#   1. `run --rm busybox true` on the default bridge and with --network none, berth's
#      CLI against berth and the docker CLI against dockerd (hyperfine, median);
#   2. 20 parallel `run --rm` on the default bridge (median batch);
#   3. through a published port from 127.0.0.1 to busybox httpd, and straight to the
#      container's address: requests per second (wrk -c16, 10 s, a small file) and
#      bulk throughput (a 300 MB GET with curl, best of 3).
# Prints a markdown table.
#
# Usage (as root; build first):
#   . scripts/env.sh && cargo build --release --target "$BERTH_TARGET" -p berth -p berth-init
#   bench/network.sh [-n RUNS] [-r ROUNDS]     # default 30 runs, 5 parallel rounds
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=30
ROUNDS=5
while getopts "n:r:h" opt; do
    case $opt in
        n) RUNS=$OPTARG ;;
        r) ROUNDS=$OPTARG ;;
        *) sed -n '2,21p' "$0"; exit 0 ;;
    esac
done
command -v wrk >/dev/null || { apt-get -o DPkg::Lock::Timeout=600 install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; }

. bench/lib.sh
bench_init network
trap 'bench_cleanup' EXIT

busybox_rootfs
tar -C "$tmp/rootfs" -cf "$tmp/busybox.tar" .

start_berth
# dockerd's bridge on a subnet of its own (berth's takes the first free default pool).
start_dockerd --bip 172.30.0.1/16 --ip6tables=false
wait_sock "$tmp/berth.sock"; wait_sock "$tmp/docker.sock"
B="env DOCKER_HOST=unix://$tmp/berth.sock"
D="env DOCKER_HOST=unix://$tmp/docker.sock"
$B "$BERTH" import "$tmp/busybox.tar" busybox:latest >/dev/null
$D "$DOCKER" import "$tmp/busybox.tar" busybox:latest >/dev/null

hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$tmp/run.json" \
    -n "berth bridge" "$B $BERTH run --rm busybox true" \
    -n "berth none" "$B $BERTH run --rm --network none busybox true" \
    -n "docker bridge" "$D $DOCKER run --rm busybox true" \
    -n "docker none" "$D $DOCKER run --rm --network none busybox true" >&2
med() { jq -r --arg n "$1" '.results[] | select(.command==$n) | .median*1000' "$tmp/run.json"; }

par() { # $1 env, $2 cli
    local times=()
    for _ in $(seq "$ROUNDS"); do
        local s=$EPOCHREALTIME
        for _ in $(seq 20); do timeout -s KILL 120 $1 "$2" run --rm busybox true >/dev/null & done
        wait $(jobs -p | grep -v -e "^$bpid\$" -e "^$dpid\$") 2>/dev/null || true
        times+=("$(echo "($EPOCHREALTIME - $s) * 1000" | bc)")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
par_b=$(par "$B" "$BERTH")
par_d=$(par "$D" "$DOCKER")

# A web server with a small page and a 300 MB file, published on 127.0.0.1.
web='mkdir -p /www && echo hello > /www/index.html && dd if=/dev/zero of=/www/big bs=1M count=300 2>/dev/null && exec httpd -f -p 80 -h /www'
# Two servers per engine: one reached through its published port, the other straight at
# its address. With one, the second measurement meets the first's TIME_WAIT sockets in
# the server (httpd closes first) under the same addresses and ports but other TCP
# timestamps (through the port the client's are those of 127.0.0.1), and PAWS drops
# the reused connections' SYNs: a second's retransmission each.
$B "$BERTH" run -d --name web -p 127.0.0.1:18080:80 busybox sh -c "$web" >/dev/null
$D "$DOCKER" run -d --name web -p 127.0.0.1:18081:80 busybox sh -c "$web" >/dev/null
$B "$BERTH" run -d --name direct busybox sh -c "$web" >/dev/null
$D "$DOCKER" run -d --name direct busybox sh -c "$web" >/dev/null
ip_b=$($B "$BERTH" inspect -f '{{.NetworkSettings.IPAddress}}' direct)
ip_d=$($D "$DOCKER" inspect -f '{{.NetworkSettings.IPAddress}}' direct)
for u in http://127.0.0.1:18080/ http://127.0.0.1:18081/ "http://$ip_b/" "http://$ip_d/"; do
    for _ in $(seq 100); do $NS curl -sf -o /dev/null "$u" && break; sleep 0.1; done
    for _ in $(seq 100); do $NS curl -sf -o /dev/null "${u}big" && break; sleep 0.2; done
done
rps() { $NS wrk -t2 -c16 -d10s "$1" | awk '/Requests\/sec/ {print int($2)}'; }
bulk() { # best of 3, MB/s
    for _ in 1 2 3; do $NS curl -s -o /dev/null -w '%{speed_download}\n' "${1}big"; done \
        | sort -n | tail -1 | awk '{printf "%d\n", $1 / 1000000}'
}
rps_b=$(rps http://127.0.0.1:18080/); rps_bd=$(rps "http://$ip_b/")
rps_d=$(rps http://127.0.0.1:18081/); rps_dd=$(rps "http://$ip_d/")
bulk_b=$(bulk http://127.0.0.1:18080/); bulk_bd=$(bulk "http://$ip_b/")
bulk_d=$(bulk http://127.0.0.1:18081/); bulk_dd=$(bulk "http://$ip_d/")
proxies=$(pgrep -c -f "docker-proxy.*18081" || true)

ratio() { echo "scale=3; $1 / $2" | bc; }
cat <<TABLE
| measure | berth | docker | berth/docker |
|---|---|---|---|
| \`run --rm busybox true\`, default bridge, median ms | $(med "berth bridge") | $(med "docker bridge") | $(ratio "$(med "berth bridge")" "$(med "docker bridge")") |
| \`run --rm busybox true\`, \`--network none\`, median ms | $(med "berth none") | $(med "docker none") | $(ratio "$(med "berth none")" "$(med "docker none")") |
| 20 parallel \`run --rm\`, default bridge, median of $ROUNDS batches, ms | $par_b | $par_d | $(ratio "$par_b" "$par_d") |
| requests/s through 127.0.0.1:PORT (wrk -c16) | $rps_b | $rps_d | $(ratio "$rps_b" "$rps_d") |
| requests/s straight to the container's address | $rps_bd | $rps_dd | $(ratio "$rps_bd" "$rps_dd") |
| 300 MB GET through 127.0.0.1:PORT, MB/s | $bulk_b | $bulk_d | $(ratio "$bulk_b" "$bulk_d") |
| 300 MB GET straight to the container's address, MB/s | $bulk_bd | $bulk_dd | $(ratio "$bulk_bd" "$bulk_dd") |

Published port against straight to the container: berth $(ratio "$rps_b" "$rps_bd") of the requests and $(ratio "$bulk_b" "$bulk_bd") of the bulk rate; docker $(ratio "$rps_d" "$rps_dd") and $(ratio "$bulk_d" "$bulk_dd") (docker-proxy processes for the port: $proxies).
TABLE
