#!/usr/bin/env bash
# bench/runtime.sh — container start-up cost of OCI runtimes, side by side.
#
# Measures, in one run and under identical conditions, for each runtime given:
#   1. `run` of /bin/true              (hyperfine -N: median / mean / min)
#   2. create + start + wait-for-stopped + delete, driven from a bash loop timed
#      with $EPOCHREALTIME (median / mean / min; includes the `state` polls and
#      bash's forks, the same for every runtime)
#   3. peak RSS of `run` (GNU time's %M: the runtime and the processes it waits
#      for, e.g. runc's re-exec'ed `runc init`; median of the runs)
# and prints a markdown table with the absolute numbers and ratios against crun
# (against the last runtime given when crun is not among them).
#
# Usage (as root; builds nothing — build berth-runc first):
#   . scripts/env.sh && cargo build --release --target "$BERTH_TARGET" -p berth
#   sudo bench/runtime.sh                        # berth-runc (static build), runc, crun
#   sudo bench/runtime.sh -n 200 ./berth-runc /usr/sbin/runc /usr/bin/crun
#   sudo bench/runtime.sh stub=/tmp/ws/target/release/berth-runc berth=target/release/berth-runc crun
# Options: -n RUNS (timed runs per measurement and runtime, default 100, at
#          least 50), -r ROUNDS (the runs are split into rounds that visit every
#          runtime in turn, so host noise spreads over all of them; default 5),
#          -w WARMUP (untimed runs at the start of each round, default 2),
#          -m RSS_RUNS (default 20).
# A runtime is a path, a command on $PATH, or LABEL=PATH to tell two builds apart.
#
# How: one bundle is made in a temporary directory: a rootfs of Debian's static
# busybox (busybox-static) and the config written by `berth-runc spec` (the first
# berth-runc given; else the first runtime's `spec`) with process.args
# ["/bin/true"], terminal false, root.readonly false, ociVersion 1.0.2 (crun 1.8
# refuses newer) and cgroupsPath /berth-bench-<pid>/c; every runtime runs that
# very same bundle. crun refuses hybrid cgroup hierarchies, so the whole
# measurement runs in a private mount namespace with /sys/fs/cgroup/unified
# lazily unmounted (`unshare -m --propagation private`), for every runtime alike.
# Everything made (bundle, state roots, containers, cgroups) is removed on exit.
#
# Needs: root, hyperfine (apt-get install hyperfine), GNU time at /usr/bin/time
# (apt-get install time), jq, busybox-static, util-linux (unshare).

set -euo pipefail

RUNS=100
ROUNDS=5
WARMUP=2
RSS_RUNS=20
while getopts "n:r:w:m:h" opt; do
    case $opt in
        n) RUNS=$OPTARG ;;
        r) ROUNDS=$OPTARG ;;
        w) WARMUP=$OPTARG ;;
        m) RSS_RUNS=$OPTARG ;;
        h) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))

die() { echo "runtime.sh: $*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "must run as root"
((RUNS >= 50)) || die "-n must be at least 50"
for tool in hyperfine jq unshare; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install ${tool/unshare/util-linux})"
done
[[ -x /usr/bin/time ]] || die "GNU time is not installed (apt-get install time)"
BUSYBOX=/usr/bin/busybox
[[ -x $BUSYBOX ]] || die "$BUSYBOX is missing (apt-get install busybox-static)"

# Everything below runs in a private mount namespace without the cgroup v2
# mount of a hybrid host (see the header).
if [[ -z ${BERTH_BENCH_INNER:-} ]]; then
    exec unshare -m --propagation private env BERTH_BENCH_INNER=1 "$BASH" "$0" \
        -n "$RUNS" -r "$ROUNDS" -w "$WARMUP" -m "$RSS_RUNS" "$@"
fi
CGMODE="v1"
[[ -e /sys/fs/cgroup/cgroup.controllers ]] && CGMODE="v2"
if mountpoint -q /sys/fs/cgroup/unified; then
    umount -l /sys/fs/cgroup/unified
    CGMODE="v1 (hybrid host, unified hierarchy unmounted)"
fi

# ---------------------------------------------------------------------------
# Runtimes: LABEL=PATH, a path, or a command name.
REPO=$(cd "$(dirname "$0")/.." && pwd)
if (($# == 0)); then
    set --
    host=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
    # scripts/env.sh builds the static berth-runc under target/<host>/release.
    for b in "$REPO/target/$host/release/berth-runc" "$REPO/target/release/berth-runc"; do
        if [[ -n $host && -x $b ]]; then set -- "$@" "berth-runc=$b"; break; fi
    done
    command -v runc >/dev/null && set -- "$@" runc
    command -v crun >/dev/null && set -- "$@" crun
    (($# > 0)) || die "no runtimes found: build berth-runc or name runtimes on the command line"
fi
LABELS=()
PATHS=()
for arg in "$@"; do
    if [[ $arg == *=* ]]; then
        label=${arg%%=*} path=${arg#*=}
    else
        label=$(basename "$arg") path=$arg
    fi
    [[ $path == */* ]] || path=$(command -v "$path") || die "$arg: not found"
    [[ -x $path ]] || die "$path: not an executable"
    path=$(realpath "$path")
    for l in "${LABELS[@]}"; do
        [[ $l != "$label" ]] || die "two runtimes labelled $label: use LABEL=PATH"
    done
    LABELS+=("$label")
    PATHS+=("$path")
done

# ---------------------------------------------------------------------------
# Scratch space and cleanup.
TMP=$(mktemp -d /tmp/berth-bench.XXXXXX)
CGROUP=berth-bench-$$
BUNDLE=$TMP/bundle
cleanup() {
    set +e
    for i in "${!PATHS[@]}"; do
        "${PATHS[$i]}" --root "$TMP/state-$i" delete --force "bench-$i" >/dev/null 2>&1
    done
    for d in /sys/fs/cgroup/*/"$CGROUP" /sys/fs/cgroup/"$CGROUP"; do
        [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
# The bundle.
mkdir -p "$BUNDLE/rootfs/bin"
cp "$BUSYBOX" "$BUNDLE/rootfs/bin/busybox"
for applet in sh true; do ln -s busybox "$BUNDLE/rootfs/bin/$applet"; done

SPEC_TOOL=${PATHS[0]}
for p in "${PATHS[@]}"; do
    if [[ $(basename "$p") == berth-runc ]]; then SPEC_TOOL=$p; break; fi
done
(cd "$BUNDLE" && "$SPEC_TOOL" spec) || die "$SPEC_TOOL spec failed"
jq --arg cg "/$CGROUP/c" '
    .ociVersion = "1.0.2"
    | .process.args = ["/bin/true"]
    | .process.terminal = false
    | .root.readonly = false
    | .linux.cgroupsPath = $cg
' "$BUNDLE/config.json" >"$TMP/config.json"
mv "$TMP/config.json" "$BUNDLE/config.json"

# ---------------------------------------------------------------------------
# Measurements.

# median mean min (in ms, 2 decimals) of the numbers (ms) in file $1
stats() {
    sort -g "$1" | awk '{ v[NR] = $1; s += $1 }
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%.2f %.2f %.2f\n", m, s / NR, v[1] }'
}

# Microseconds since the epoch, from bash's $EPOCHREALTIME (no fork).
now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "$t"; }

lifecycle_once() { # runtime root id
    local rt=$1 root=$2 id=$3 state tries=0
    "$rt" --root "$root" create --bundle "$BUNDLE" "$id" </dev/null >/dev/null 2>"$TMP/err" ||
        { cat "$TMP/err" >&2; return 1; }
    "$rt" --root "$root" start "$id" </dev/null >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; return 1; }
    while :; do
        state=$("$rt" --root "$root" state "$id" 2>"$TMP/err") || { cat "$TMP/err" >&2; return 1; }
        [[ $state =~ \"status\":[[:space:]]*\"stopped\" ]] && break
        ((++tries < 10000)) || { echo "$id never stopped: $state" >&2; return 1; }
    done
    "$rt" --root "$root" delete "$id" </dev/null >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; return 1; }
}

declare -A RUN LIFE RSS VERSION
for i in "${!PATHS[@]}"; do
    rt=${PATHS[$i]} label=${LABELS[$i]} root=$TMP/state-$i id=bench-$i
    VERSION[$i]=$("$rt" --version 2>/dev/null | head -1 | sed 's/ version / /')
    echo "== $label ($rt): ${VERSION[$i]}" >&2
    # Fail early, with the runtime's message, if it cannot run the bundle at all.
    "$rt" --root "$root" run --bundle "$BUNDLE" "$id" </dev/null >/dev/null 2>"$TMP/err" ||
        die "$label cannot run the bundle: $(cat "$TMP/err")"
    : >"$TMP/run-$i.ms"
    : >"$TMP/life-$i.ms"
done

# The runs are spread over ROUNDS rounds, each round measuring every runtime in
# turn, so that a slow minute on the host does not land on one runtime only.
PER_ROUND=$(((RUNS + ROUNDS - 1) / ROUNDS))
((PER_ROUND >= 2)) || PER_ROUND=2
for ((r = 1; r <= ROUNDS; r++)); do
    echo "== round $r/$ROUNDS: $PER_ROUND runs of each measurement per runtime" >&2
    for i in "${!PATHS[@]}"; do
        rt=${PATHS[$i]} label=${LABELS[$i]} root=$TMP/state-$i id=bench-$i

        hyperfine -N --style none --warmup "$WARMUP" --runs "$PER_ROUND" \
            --export-json "$TMP/run.json" --command-name "$label run" \
            "$rt --root $root run --bundle $BUNDLE $id" >/dev/null 2>"$TMP/err" ||
            die "hyperfine on $label failed: $(cat "$TMP/err")"
        jq -r '.results[0].times[] * 1000' "$TMP/run.json" >>"$TMP/run-$i.ms"

        for ((k = 0; k < WARMUP; k++)); do lifecycle_once "$rt" "$root" "$id" || die "$label lifecycle failed"; done
        for ((k = 0; k < PER_ROUND; k++)); do
            t0=$(now_us)
            lifecycle_once "$rt" "$root" "$id" || die "$label lifecycle failed"
            t1=$(now_us)
            echo "$(((t1 - t0) / 1000)).$(printf '%03d' $(((t1 - t0) % 1000)))" >>"$TMP/life-$i.ms"
        done
    done
done

for i in "${!PATHS[@]}"; do
    rt=${PATHS[$i]} label=${LABELS[$i]} root=$TMP/state-$i id=bench-$i
    RUN[$i]=$(stats "$TMP/run-$i.ms")
    LIFE[$i]=$(stats "$TMP/life-$i.ms")
    echo "== $label: peak RSS of run, $RSS_RUNS runs" >&2
    : >"$TMP/rss-$i.kb"
    for ((k = 0; k < RSS_RUNS; k++)); do
        /usr/bin/time -f %M -o "$TMP/rss" "$rt" --root "$root" run --bundle "$BUNDLE" "$id" </dev/null >/dev/null ||
            die "$label run failed under /usr/bin/time"
        tail -1 "$TMP/rss" >>"$TMP/rss-$i.kb"
    done
    RSS[$i]=$(stats "$TMP/rss-$i.kb" | awk '{ printf "%.1f", $1 / 1024 }')
done

# ---------------------------------------------------------------------------
# The table.
BASE=$((${#PATHS[@]} - 1))
for i in "${!LABELS[@]}"; do [[ ${LABELS[$i]} == crun ]] && BASE=$i; done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "n/a" }'; }
first() { echo "${1%% *}"; }

echo
echo "Host: $(uname -r), $(nproc) CPUs, cgroup $CGMODE; $((PER_ROUND * ROUNDS)) timed runs per measurement in $ROUNDS rounds, peak RSS median of $RSS_RUNS runs; ratios of medians against ${LABELS[$BASE]}."
echo
echo "| runtime | version | \`run\` median / mean / min (ms) | × ${LABELS[$BASE]} | create+start+delete median / mean / min (ms) | × ${LABELS[$BASE]} | peak RSS of \`run\` (MiB) | × ${LABELS[$BASE]} |"
echo "|---|---|---|---|---|---|---|---|"
for i in "${!LABELS[@]}"; do
    read -r rm rmean rmin <<<"${RUN[$i]}"
    read -r lm lmean lmin <<<"${LIFE[$i]}"
    printf '| %s | %s | %s / %s / %s | %s | %s / %s / %s | %s | %s | %s |\n' \
        "${LABELS[$i]}" "${VERSION[$i]}" \
        "$rm" "$rmean" "$rmin" "$(ratio "$rm" "$(first "${RUN[$BASE]}")")" \
        "$lm" "$lmean" "$lmin" "$(ratio "$lm" "$(first "${LIFE[$BASE]}")")" \
        "${RSS[$i]}" "$(ratio "${RSS[$i]}" "${RSS[$BASE]}")"
done
