#!/usr/bin/env bash
# bench/build.sh — Dockerfile builds: berth's daemon against dockerd's classic builder,
# both driven by the same docker CLI (`DOCKER_BUILDKIT=0 docker build`) through their
# sockets, on the same static-busybox base image.
#
# Measures (hyperfine -N, whole docker CLI processes, median):
#   1. cached: a fully cached rebuild of a 10-step Dockerfile (FROM busybox, then ENV,
#      LABEL, WORKDIR, COPY, RUN, COPY, RUN, ENV, CMD), the cache warmed first; every
#      step is checked to say "Using cache" on both daemons;
#   2. uncached: a 7-step build with 3 RUN steps, `--no-cache`;
#   3. stages: `--no-cache` build of two independent stages (A: `RUN sleep 1`, B:
#      `RUN sleep 1.5`) and a final stage that copies from both; each stage is also
#      built alone (a Dockerfile of its own) for the sum and the max of the stages'
#      times. berth builds independent stages in parallel (about the slower stage's
#      time), dockerd's classic builder one after the other (about the sum).
# Prints markdown tables with the ratios berth/docker.
#
# Usage (as root; build first):
#   . scripts/env.sh && cargo build --release --target "$BERTH_TARGET" -p berth -p berth-init
#   bench/build.sh [-n RUNS] [-c CACHED_RUNS]   # default 10 runs, 30 for the cached rebuild
# Needs: a dockerd (docker.io, or scripts/dockerd.sh's), a docker CLI (one with the
# classic builder: 28 warns that it is deprecated and uses it), hyperfine, jq,
# busybox-static. Both daemons run on private sockets, roots and cgroup parents in a
# temp dir, in a network namespace of the script's own (their bridges, firewall rules
# and forwarding sysctl stay in it), each with its default networking for RUN, on a
# subnet of its own (berth 10.213.80.0/24, dockerd 10.213.81.0/24). Everything is
# removed on exit. BENCH_TMPDIR=DIR puts that temp dir (both daemons' roots) on another
# filesystem than /tmp's.

set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=10
CACHED_RUNS=30
while getopts "n:c:h" opt; do
    case $opt in
        n) RUNS=$OPTARG ;;
        c) CACHED_RUNS=$OPTARG ;;
        *) sed -n '2,28p' "$0"; exit 0 ;;
    esac
done
# hyperfine takes `--runs 0` as no limit.
[ "$RUNS" -ge 1 ] && [ "$CACHED_RUNS" -ge 1 ] || { echo "build.sh: -n and -c need at least 1 run" >&2; exit 1; }

. bench/lib.sh
bench_init build
trap 'bench_cleanup' EXIT

# The base image: Debian's static busybox, FROM scratch, imported as the tests do.
busybox_rootfs
tar -C "$tmp/rootfs" -cf "$tmp/busybox.tar" .

start_berth --bip 10.213.80.1/24
start_dockerd --bip 10.213.81.1/24 --ip6tables=false
wait_sock "$tmp/berth.sock"; wait_sock "$tmp/docker.sock"
B="env DOCKER_HOST=unix://$tmp/berth.sock DOCKER_BUILDKIT=0"
D="env DOCKER_HOST=unix://$tmp/docker.sock DOCKER_BUILDKIT=0"
for c in "$B" "$D"; do
    $c "$DOCKER" import --change 'CMD ["sh"]' "$tmp/busybox.tar" busybox:latest >/dev/null
done

# The contexts.
ctx() { mkdir -p "$tmp/ctx/$1/conf"; cat >"$tmp/ctx/$1/Dockerfile"; echo "hello from the context" >"$tmp/ctx/$1/hello.txt"; printf 'a=1\nb=2\n' >"$tmp/ctx/$1/conf/app.conf"; }
ctx cached <<'EOF'
FROM busybox
ENV APP_HOME=/app MODE=bench
LABEL org.example.bench="build" org.example.version="1"
WORKDIR /app
COPY hello.txt ./
RUN echo built > /app/built && cat /app/hello.txt
COPY conf/ /etc/bench/
RUN mkdir -p /app/bin && echo 'echo hi' > /app/bin/hi && chmod +x /app/bin/hi
ENV PATH=/app/bin:$PATH
CMD ["sh", "-c", "cat /app/built; hi"]
EOF
ctx uncached <<'EOF'
FROM busybox
ENV GREETING=hello
RUN echo a > /a
WORKDIR /work
RUN echo b > /work/b
COPY hello.txt /work/
RUN cat /a /work/b /work/hello.txt > /work/all
EOF
ctx stages <<'EOF'
FROM busybox AS a
RUN sleep 1 && echo a > /a

FROM busybox AS b
RUN sleep 1.5 && echo b > /b

FROM busybox
COPY --from=a /a /a
COPY --from=b /b /b
EOF
# Each stage alone, in a Dockerfile of its own (dockerd's classic builder builds every
# stage before `--target`, so `--target b` would build A as well).
ctx stage-a <<'EOF'
FROM busybox
RUN sleep 1 && echo a > /a
EOF
ctx stage-b <<'EOF'
FROM busybox
RUN sleep 1.5 && echo b > /b
EOF

build() { echo "$1 $DOCKER build ${*:2}"; } # the command line hyperfine runs (no shell)

# Warm the cache, and check that a rebuild takes every step from it on both sides.
for side in berth docker; do
    c=$B; [ $side = docker ] && c=$D
    $(build "$c" -t bench-cached "$tmp/ctx/cached") >"$tmp/warm-$side.log" 2>&1 ||
        { echo "build.sh: the first build on $side failed:" >&2; cat "$tmp/warm-$side.log" >&2; exit 1; }
    $(build "$c" -t bench-cached "$tmp/ctx/cached") >"$tmp/rebuild-$side.log" 2>&1 || true
    n=$(grep -c -- '---> Using cache' "$tmp/rebuild-$side.log" || true)
    [ "$n" = 9 ] || { echo "build.sh: the rebuild on $side used the cache for $n of 9 steps:" >&2; cat "$tmp/rebuild-$side.log" >&2; exit 1; }
    # Both stage builds must work before they are timed.
    $(build "$c" --no-cache -t bench-stages "$tmp/ctx/stages") >"$tmp/stages-$side.log" 2>&1 ||
        { echo "build.sh: the two-stage build on $side failed:" >&2; cat "$tmp/stages-$side.log" >&2; exit 1; }
    [ "$($c "$DOCKER" run --rm bench-stages cat /a /b | tr -d '\n')" = ab ] ||
        { echo "build.sh: the two-stage image on $side lacks /a or /b" >&2; exit 1; }
done

hyperfine -N --warmup 3 --runs "$CACHED_RUNS" --export-json "$tmp/cached.json" \
    -n "berth cached" "$(build "$B" -t bench-cached "$tmp/ctx/cached")" \
    -n "docker cached" "$(build "$D" -t bench-cached "$tmp/ctx/cached")" >&2
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$tmp/uncached.json" \
    -n "berth uncached" "$(build "$B" --no-cache -t bench-uncached "$tmp/ctx/uncached")" \
    -n "docker uncached" "$(build "$D" --no-cache -t bench-uncached "$tmp/ctx/uncached")" >&2
hyperfine -N --runs "$RUNS" --export-json "$tmp/stages.json" \
    -n "berth a" "$(build "$B" --no-cache -t bench-a "$tmp/ctx/stage-a")" \
    -n "berth b" "$(build "$B" --no-cache -t bench-b "$tmp/ctx/stage-b")" \
    -n "berth both" "$(build "$B" --no-cache -t bench-stages "$tmp/ctx/stages")" \
    -n "docker a" "$(build "$D" --no-cache -t bench-a "$tmp/ctx/stage-a")" \
    -n "docker b" "$(build "$D" --no-cache -t bench-b "$tmp/ctx/stage-b")" \
    -n "docker both" "$(build "$D" --no-cache -t bench-stages "$tmp/ctx/stages")" >&2

med() { jq -r --arg n "$2" '.results[] | select(.command==$n) | .median' "$tmp/$1.json"; }
cb=$(med cached "berth cached"); cd_=$(med cached "docker cached")
ub=$(med uncached "berth uncached"); ud=$(med uncached "docker uncached")
echo
echo "Builds through the docker CLI's classic builder (DOCKER_BUILDKIT=0) against each daemon, median:"
echo
echo "| build | berth | docker | berth / docker |"
echo "|---|---:|---:|---:|"
awk -v b="$cb" -v d="$cd_" -v n="$CACHED_RUNS" \
    'BEGIN { printf "| fully cached rebuild, 10 steps (%d runs) | %.1f ms | %.1f ms | %.2f |\n", n, b * 1000, d * 1000, b / d }'
awk -v b="$ub" -v d="$ud" -v n="$RUNS" \
    'BEGIN { printf "| uncached build, 7 steps with 3 RUN, --no-cache (%d runs) | %.3f s | %.3f s | %.2f |\n", n, b, d, b / d }'
echo
echo "Two independent stages (A: RUN sleep 1, B: RUN sleep 1.5; the final stage copies from both), --no-cache, median of $RUNS:"
echo
echo "| | berth (s) | docker (s) | berth / docker |"
echo "|---|---:|---:|---:|"
for s in berth docker; do
    eval "${s}_a=\$(med stages '$s a'); ${s}_b=\$(med stages '$s b'); ${s}_both=\$(med stages '$s both')"
done
# shellcheck disable=SC2154 # set by the eval above
awk -v ba="$berth_a" -v bb="$berth_b" -v bw="$berth_both" -v da="$docker_a" -v db="$docker_b" -v dw="$docker_both" 'BEGIN {
    bs = ba + bb; bm = ba > bb ? ba : bb; ds = da + db; dm = da > db ? da : db
    printf "| stage A alone (FROM busybox, RUN sleep 1) | %.2f | %.2f | %.2f |\n", ba, da, ba / da
    printf "| stage B alone (FROM busybox, RUN sleep 1.5) | %.2f | %.2f | %.2f |\n", bb, db, bb / db
    printf "| sum of the stages | %.2f | %.2f | |\n", bs, ds
    printf "| max of the stages | %.2f | %.2f | |\n", bm, dm
    printf "| **whole build** | **%.2f** | %.2f | **%.2f** |\n", bw, dw, bw / dw
    printf "| whole build / max of the stages | %.2f | %.2f | |\n", bw / bm, dw / dm
    printf "| whole build / sum of the stages | %.2f | %.2f | |\n", bw / bs, dw / ds
}'
