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
rpid=
trap '[ -n "$rpid" ] && kill "$rpid" 2>/dev/null; bench_cleanup' EXIT

# The image, as an OCI layout.
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

mkdir -p "$tmp/registry"
cat >"$tmp/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $tmp/registry
http:
  addr: 127.0.0.1:5000
YML
$NS docker-registry serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 &
rpid=$!
for _ in $(seq 100); do $NS curl -sf http://127.0.0.1:5000/v2/ >/dev/null && break; sleep 0.1; done
$NS skopeo copy -q --dest-tls-verify=false "oci:$tmp/oci:latest" docker://127.0.0.1:5000/big:latest

start_berth
$NS dockerd -H "unix://$tmp/docker.sock" --data-root "$tmp/docker-data" --exec-root "$tmp/docker-exec" \
    --pidfile "$tmp/docker.pid" --bridge=none --iptables=false --ip6tables=false \
    --cgroup-parent "/docker-bench-$$" >"$tmp/docker.log" 2>&1 &
dpid=$!
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
