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
#   bench/push.sh [-n RUNS] [-s MB_PER_LAYER]     # default 5 runs, 50 MB layers
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=5
SIZE=50
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
python3 - "$tmp/oci" "$SIZE" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out, mb = sys.argv[1], int(sys.argv[2])
os.makedirs(out + "/blobs/sha256")
def put(b):
    d = hashlib.sha256(b).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(b)
    return "sha256:" + d
layers, diffs = [], []
for n in range(2):
    data = os.urandom(mb << 20)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        ti = tarfile.TarInfo(f"data{n}.bin"); ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    diffs.append("sha256:" + hashlib.sha256(raw).hexdigest())
    blob = gzip.compress(raw, 1)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(blob), "size": len(blob)})
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                  "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(cfg), "size": len(cfg)},
                  "layers": layers}).encode()
md = put(man)
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
          "size": len(man), "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, open(out + "/index.json", "w"))
open(out + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
print(sum(l["size"] for l in layers), file=open(out + "/../bytes", "w"))
PY
BYTES=$(cat "$tmp/bytes")

registry() { # $1 name, $2 port
    mkdir -p "$tmp/$1"
    cat >"$tmp/$1.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $tmp/$1
http:
  addr: 127.0.0.1:$2
YML
    $NS docker-registry serve "$tmp/$1.yml" >"$tmp/$1.log" 2>&1 &
    rpids="$rpids $!"
    for _ in $(seq 100); do $NS curl -sf "http://127.0.0.1:$2/v2/" >/dev/null && break; sleep 0.1; done
}
registry source 5000
registry dest 5001
$NS skopeo copy -q --dest-tls-verify=false "oci:$tmp/oci:latest" docker://127.0.0.1:5000/big:latest

start_berth
$NS dockerd -H "unix://$tmp/docker.sock" --data-root "$tmp/docker-data" --exec-root "$tmp/docker-exec" \
    --pidfile "$tmp/docker.pid" --bridge=none --iptables=false --ip6tables=false \
    --cgroup-parent "/docker-bench-$$" >"$tmp/docker.log" 2>&1 &
dpid=$!
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
echo "| image | berth (s) | docker (s) | berth / docker |"
echo "|---|---:|---:|---:|"
for img in rootfs pulled; do
    b=$(med "berth: $img"); d=$(med "docker: $img")
    case $img in
        rootfs) what="bookworm minbase, $((RAW / 1000000)) MB uncompressed, gzipped on the way" ;;
        pulled) what="two gzip layers, $((BYTES / 1000000)) MB, sent as stored" ;;
    esac
    awk -v w="$what" -v b="$b" -v d="$d" 'BEGIN { printf "| %s | %.2f | %.2f | %.2f |\n", w, b, d, b / d }'
done
