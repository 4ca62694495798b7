#!/usr/bin/env bash
# bench/registry-serve.sh — `berth registry serve` against the reference registry
# (Debian's docker-registry, distribution 2.8, filesystem storage), side by side on
# loopback inside a network namespace of the script's own.
#
# Measures, with curl, for one blob of random bytes (default 200 MB):
#   1. pull: GET of the blob once it is in the page cache — MB/s and seconds, best of
#      ROUNDS, and the server's CPU time per pull (berth sends it with sendfile(2));
#   2. push: a monolithic upload (POST a session, PUT ?digest= with the whole blob) —
#      seconds and MB/s, best of ROUNDS (each registry hashes what it receives;
#      berth also fsyncs it before the blob becomes visible).
# Prints a markdown table.
#
# Usage (as root; build first):
#   . scripts/env.sh && cargo build --release --target "$BERTH_TARGET" -p berth
#   bench/registry-serve.sh [-s MB] [-r ROUNDS]     # default 200 MB, 3 rounds
set -euo pipefail
cd "$(dirname "$0")/.."
MB=200
ROUNDS=3
while getopts "s:r:h" opt; do
    case $opt in
        s) MB=$OPTARG ;;
        r) ROUNDS=$OPTARG ;;
        *) sed -n '2,17p' "$0"; exit 0 ;;
    esac
done
command -v docker-registry >/dev/null || { apt-get -o DPkg::Lock::Timeout=600 install -y -qq docker-registry >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq docker-registry >/dev/null; }; }
# The package starts its own service on :5000; this script runs its own copy.
. scripts/env.sh
. bench/lib.sh
BERTH="$BERTH_BIN/berth"; case $BERTH in /*) ;; *) BERTH="$PWD/$BERTH" ;; esac
for t in "$BERTH" docker-registry curl bc sha256sum; do
    command -v "$t" >/dev/null || { echo "registry-serve: missing $t" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/berth-bench-registry.XXXXXX)
bpid= ; rpids=
cleanup() {
    set +e
    [ -n "$bpid" ] && kill "$bpid" && wait "$bpid" 2>/dev/null
    for p in $rpids; do kill "$p" && wait "$p" 2>/dev/null; done
    umount "$tmp/netns" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
touch "$tmp/netns"
unshare --net="$tmp/netns" true
NS="nsenter --net=$tmp/netns --"
$NS ip link set lo up

BPORT=5001 RPORT=5002
$NS "$BERTH" registry serve --addr "127.0.0.1:$BPORT" --root "$tmp/berth-root" >"$tmp/berth.log" 2>&1 &
bpid=$!
start_docker_registry registry-root $RPORT
rpid=${rpids##* }
for port in $BPORT $RPORT; do
    for _ in $(seq 100); do $NS curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
    $NS curl -sf "http://127.0.0.1:$port/v2/" >/dev/null || { echo "registry on :$port did not start" >&2; cat "$tmp"/*.log >&2; exit 1; }
done

head -c "${MB}M" /dev/urandom >"$tmp/blob"
digest="sha256:$(sha256sum "$tmp/blob" | cut -d' ' -f1)"
bytes=$(stat -c %s "$tmp/blob")

push() { # $1 port; prints seconds
    local loc
    loc=$($NS curl -sf -X POST -D - -o /dev/null "http://127.0.0.1:$1/v2/bench/blob/blobs/uploads/" |
        tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    case $loc in http*) ;; *) loc="http://127.0.0.1:$1$loc" ;; esac
    case $loc in *\?*) loc="$loc&digest=$digest" ;; *) loc="$loc?digest=$digest" ;; esac
    $NS curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$tmp/blob" \
        -o /dev/null -w '%{time_total}\n' "$loc"
}
pull() { # $1 port; prints "seconds bytes/s"
    $NS curl -sf -o /dev/null -w '%{time_total} %{speed_download}\n' \
        "http://127.0.0.1:$1/v2/bench/blob/blobs/$digest"
}
best_push() { for _ in $(seq "$ROUNDS"); do push "$1"; done | sort -n | head -1; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in clock ticks
best_pull() { # $1 port, $2 server pid; prints "seconds bytes/s cpu-ms-per-pull"
    pull "$1" >/dev/null # into the page cache
    local c0 best
    c0=$(cpu "$2")
    best=$(for _ in $(seq "$ROUNDS"); do pull "$1"; done | sort -n | head -1)
    echo "$best $(( ($(cpu "$2") - c0) * 1000 / $(getconf CLK_TCK) / ROUNDS ))"
}
mbps() { echo "scale=0; $bytes / $1 / 1000000" | bc; }

bpush=$(best_push $BPORT)
rpush=$(best_push $RPORT)
read -r bpull bspeed bcpu <<<"$(best_pull $BPORT $bpid)"
read -r rpull rspeed rcpu <<<"$(best_pull $RPORT $rpid)"
# Both served what was pushed.
for port in $BPORT $RPORT; do
    got=$($NS curl -sf "http://127.0.0.1:$port/v2/bench/blob/blobs/$digest" | sha256sum | cut -d' ' -f1)
    [ "sha256:$got" = "$digest" ] || { echo "registry on :$port served other bytes" >&2; exit 1; }
done

echo "| $((bytes / 1000000)) MB blob, loopback, best of $ROUNDS | berth registry serve | docker-registry $(docker-registry --version | awk '{print $3}') |"
echo "|---|---|---|"
echo "| pull (cached blob GET), MB/s | $(echo "scale=0; $bspeed / 1000000" | bc) | $(echo "scale=0; $rspeed / 1000000" | bc) |"
echo "| pull, seconds | $bpull | $rpull |"
echo "| pull, server CPU ms per GET | $bcpu | $rcpu |"
echo "| push (POST + monolithic PUT), seconds | $bpush | $rpush |"
echo "| push, MB/s | $(mbps "$bpush") | $(mbps "$rpush") |"
