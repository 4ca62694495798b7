#!/usr/bin/env bash
# bench/daemon.sh — the engine end to end, berth's daemon against Docker's
# (Debian's docker.io: dockerd + its containerd + containerd-shim-runc-v2 + runc), on
# the same machine, same image, same client.
#
# Measures:
#   1. `run --rm busybox true` end to end through the docker CLI (hyperfine -N,
#      median), against berth and against dockerd; and through berth's own CLI;
#   2. 20 parallel `run --rm busybox true` (wall time of the batch, median of rounds),
#      through the docker CLI against both daemons and through berth's own CLI;
#   3. idle daemon RSS (berth daemon; dockerd + containerd);
#   4. memory added per idle running container (10 `sleep` containers): the growth
#      of RSS and PSS summed over the engine's processes (daemon, containerd, shims;
#      the containers' own `sleep` processes are the same in both and not counted).
# Prints a markdown table with the ratios berth/docker.
#
# Usage (as root; build first):
#   . scripts/env.sh && cargo build --release --target "$BERTH_TARGET" -p berth -p berth-init
#   bench/daemon.sh [-n RUNS] [-r ROUNDS]      # default 30 runs, 5 parallel rounds
# Needs: a dockerd (docker.io, or scripts/dockerd.sh's), a docker CLI, busybox-static
# (hyperfine comes from crates.io if missing). Both daemons run on private sockets and
# roots in a temp dir, in a network namespace of the script's own. berth's containers
# get its default bridge; Docker is measured twice: with --network none and with its
# default bridge network, on a bridge of the script's own (10.213.77.0/24; dockerd
# with --iptables=false --ip-forward=false --ip-masq=false). bench/network.sh compares
# the networking itself. Everything is removed on exit.

set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=30
ROUNDS=5
while getopts "n:r:h" opt; do
    case $opt in
        n) RUNS=$OPTARG ;;
        r) ROUNDS=$OPTARG ;;
        *) sed -n '2,26p' "$0"; exit 0 ;;
    esac
done

. bench/lib.sh
bench_init daemon
br="bbr$$"
trap 'bench_cleanup' EXIT

# The image: Debian's static busybox, FROM scratch.
busybox_rootfs
tar -C "$tmp/rootfs" -cf "$tmp/busybox.tar" .

start_berth
$NS ip link add "$br" type bridge && $NS ip addr add 10.213.77.1/24 dev "$br" && $NS ip link set "$br" up
start_dockerd --bridge="$br" --iptables=false --ip6tables=false \
    --ip-forward=false --ip-masq=false --userland-proxy=false
wait_sock "$tmp/berth.sock"; wait_sock "$tmp/docker.sock"
B="env DOCKER_HOST=unix://$tmp/berth.sock"
D="env DOCKER_HOST=unix://$tmp/docker.sock"
$B "$DOCKER" import "$tmp/busybox.tar" busybox:latest >/dev/null
$D "$DOCKER" import "$tmp/busybox.tar" busybox:latest >/dev/null

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
# Engine processes: the daemon and everything that is not a container process.
berth_pids() { echo "$bpid"; pgrep -f "shim --id .*--state-dir $tmp/berth-exec" || true; }
docker_pids() { echo "$dpid"; pgrep -f "containerd --config $tmp/docker-exec" || true; pgrep -f "containerd-shim-runc-v2 -namespace moby" | while read -r p; do grep -qa "$tmp" /proc/$p/environ /proc/$p/cmdline 2>/dev/null && echo $p; done || true; pgrep -f "containerd-shim-runc-v2.*-address $tmp" || true; }
sum() { local f=$1; shift; local t=0; for p in $(sort -u); do t=$((t + $($f "$p"))); done; echo $t; }

sleep 2
idle_b=$(berth_pids | sum rss_kb)
idle_d=$(docker_pids | sum rss_kb)

hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$tmp/run.json" \
    -n "docker CLI → berth" "$B $DOCKER run --rm busybox true" \
    -n "berth CLI → berth" "$B $BERTH run --rm busybox true" \
    -n "docker CLI → dockerd" "$D $DOCKER run --rm --network none busybox true" \
    -n "docker CLI → dockerd, bridge" "$D $DOCKER run --rm busybox true" >&2
med() { jq -r --arg n "$1" '.results[] | select(.command==$n) | .median*1000' "$tmp/run.json"; }
run_b=$(med "docker CLI → berth"); run_bb=$(med "berth CLI → berth"); run_d=$(med "docker CLI → dockerd")
run_dbr=$(med "docker CLI → dockerd, bridge")

par() { # $1 env, $2 cli, $3 extra
    local times=()
    for _ in $(seq "$ROUNDS"); do
        local s=$EPOCHREALTIME
        # A timeout per run: dockerd has been seen to deadlock under parallel starts.
        for _ in $(seq 20); do timeout -s KILL 120 $1 "$2" run --rm $3 busybox true >/dev/null & done
        wait $(jobs -p | grep -v -e "^$bpid\$" -e "^$dpid\$") 2>/dev/null || true
        times+=("$(echo "($EPOCHREALTIME - $s) * 1000" | bc)")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
par_b=$(par "$B" "$DOCKER" "")
par_bb=$(par "$B" "$BERTH" "")
par_d=$(par "$D" "$DOCKER" "--network none")
par_dbr=$(par "$D" "$DOCKER" "")

measure_containers() { # $1 env, $2 pids-fn, $3 extra
    local before_r before_p after_r after_p
    before_r=$($2 | sum rss_kb); before_p=$($2 | sum pss_kb)
    for i in $(seq 10); do $1 "$DOCKER" run -d $3 busybox sleep 1000 >/dev/null; done
    sleep 2
    after_r=$($2 | sum rss_kb); after_p=$($2 | sum pss_kb)
    echo "$(( (after_r - before_r) / 10 )) $(( (after_p - before_p) / 10 ))"
}
read -r per_b_rss per_b_pss < <(measure_containers "$B" berth_pids "")
read -r per_d_rss per_d_pss < <(measure_containers "$D" docker_pids "--network none")

ratio() { echo "scale=3; $1 / $2" | bc; }
mib() { echo "scale=1; $1 / 1024" | bc; }
cat <<TABLE
| measure | berth | docker | berth/docker |
|---|---|---|---|
| \`run --rm busybox true\`, docker CLI, median ms | $run_b | $run_d | $(ratio "$run_b" "$run_d") |
| \`run --rm busybox true\`, berth CLI, median ms | $run_bb | $run_d | $(ratio "$run_bb" "$run_d") |
| \`run --rm busybox true\`, berth CLI vs docker's default bridge network, median ms | $run_bb | $run_dbr | $(ratio "$run_bb" "$run_dbr") |
| 20 parallel \`run --rm\`, docker CLI, median of $ROUNDS batches, ms | $par_b | $par_d | $(ratio "$par_b" "$par_d") |
| 20 parallel \`run --rm\`, berth CLI, median of $ROUNDS batches, ms | $par_bb | $par_d | $(ratio "$par_bb" "$par_d") |
| 20 parallel \`run --rm\`, berth CLI vs docker's default bridge network, ms | $par_bb | $par_dbr | $(ratio "$par_bb" "$par_dbr") |
| idle daemon RSS, MiB (docker: dockerd + containerd) | $(mib "$idle_b") | $(mib "$idle_d") | $(ratio "$idle_b" "$idle_d") |
| RSS added per idle container, MiB | $(mib "$per_b_rss") | $(mib "$per_d_rss") | $(ratio "$per_b_rss" "$per_d_rss") |
| PSS added per idle container, MiB | $(mib "$per_b_pss") | $(mib "$per_d_pss") | $(ratio "$per_b_pss" "$per_d_pss") |
TABLE
