#!/usr/bin/env bash
# Layer unpack, side by side in one run: berth's apply_layer (examples/unpack.rs) against
# `tar -xzf` / `tar -xf` and `umoci unpack`, on a ~200 MB gzip layer and a 1 GB plain
# layer. Data is generated reproducibly (fixed seed), caches are warm (nothing is
# dropped), each command runs >= 3 times under hyperfine and the median is reported.
#
#   bench/unpack.sh            # WORK=${TMPDIR:-/tmp}/berth-bench-unpack, RUNS=3
# Needs: cargo, python3, gzip, tar, hyperfine, umoci.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-${TMPDIR:-/tmp}/berth-bench-unpack}
RUNS=${RUNS:-3}
UNPACK=${UNPACK:-}
mkdir -p "$WORK"
cd "$WORK"

if [[ -z "$UNPACK" ]]; then
    (cd "$ROOT" && cargo build --release -q -p berth-image --example unpack)
    UNPACK="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/unpack"
fi

# A tree of mixed-size files (many small, some medium, a few large); half the files are
# random bytes, half word-salad text, so gzip compresses the whole about 2x.
gen_tree() { # dir total_bytes seed
    python3 - "$1" "$2" "$3" <<'PY'
import os, random, sys
root, total, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(2000)]
done, i = 0, 0
while done < total:
    r = rng.random()
    size = rng.randint(512, 16 << 10) if r < 0.80 else rng.randint(64 << 10, 2 << 20) if r < 0.98 else rng.randint(8 << 20, 40 << 20)
    size = min(size, total - done)
    d = os.path.join(root, "d%02d" % (i % 37), "s%02d" % (i % 11))
    os.makedirs(d, exist_ok=True)
    if rng.random() < 0.5:
        data = rng.randbytes(size)
    else:
        out, n = [], 0
        while n < size:
            w = rng.choice(words); out.append(w); n += len(w) + 1
        data = b" ".join(out)[:size]
    with open(os.path.join(d, "f%06d" % i), "wb") as f:
        f.write(data)
    done += size; i += 1
PY
}

make_layers() {
    [[ -f gz.tar.gz && -f plain.tar ]] && return
    rm -rf src-gz src-plain
    mkdir src-gz src-plain
    gen_tree src-gz $((320 << 20)) 1
    gen_tree src-plain $((1024 << 20)) 2
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C src-gz -cf gz.tar .
    gzip -6 -n -c gz.tar > gz.tar.gz
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C src-plain -cf plain.tar .
    rm -rf src-gz src-plain
}

# An OCI layout holding one image per layer, for umoci.
make_oci() { # layout tag layer mediatype
    local layout=$1 tag=$2 layer=$3 mt=$4
    mkdir -p "$layout/blobs/sha256"
    [[ -f $layout/oci-layout ]] || echo '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
    local ld lsz diff
    ld=$(sha256sum "$layer" | cut -d' ' -f1); lsz=$(stat -c %s "$layer")
    if [[ $layer == *.gz ]]; then diff=$(gzip -dc "$layer" | sha256sum | cut -d' ' -f1); else diff=$ld; fi
    ln -f "$layer" "$layout/blobs/sha256/$ld" 2>/dev/null || cp "$layer" "$layout/blobs/sha256/$ld"
    local cfg="{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$diff\"]}}"
    local cd; cd=$(printf %s "$cfg" | sha256sum | cut -d' ' -f1)
    printf %s "$cfg" > "$layout/blobs/sha256/$cd"
    local man="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$cd\",\"size\":${#cfg}},\"layers\":[{\"mediaType\":\"$mt\",\"digest\":\"sha256:$ld\",\"size\":$lsz}]}"
    local md; md=$(printf %s "$man" | sha256sum | cut -d' ' -f1)
    printf %s "$man" > "$layout/blobs/sha256/$md"
    echo "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$md\",\"size\":${#man},\"annotations\":{\"org.opencontainers.image.ref.name\":\"$tag\"}}"
}

make_layers
if [[ ! -f oci/index.json ]]; then
    rm -rf oci
    a=$(make_oci oci gz gz.tar.gz application/vnd.oci.image.layer.v1.tar+gzip)
    b=$(make_oci oci plain plain.tar application/vnd.oci.image.layer.v1.tar)
    echo "{\"schemaVersion\":2,\"manifests\":[$a,$b]}" > oci/index.json
fi

GZ_MB=$(($(stat -c %s gz.tar.gz) >> 20)); GZ_RAW_MB=$(($(stat -c %s gz.tar) >> 20)); PLAIN_MB=$(($(stat -c %s plain.tar) >> 20))
run() { # name json cmd...
    local name=$1 json=$2; shift 2
    hyperfine --style none --runs "$RUNS" --warmup 1 --prepare 'rm -rf out bundle' --export-json "$json" -n "$name" "$@" >/dev/null
}
run berth-gz r1.json "$UNPACK gz.tar.gz out"
run tar-xzf r2.json "mkdir out && tar -xzf gz.tar.gz -C out"
run umoci-gz r3.json "umoci unpack --image oci:gz bundle"
run berth-plain r4.json "$UNPACK plain.tar out"
run tar-xf r5.json "mkdir out && tar -xf plain.tar -C out"
run umoci-plain r6.json "umoci unpack --image oci:plain bundle"
rm -rf out bundle

python3 - "$GZ_MB" "$GZ_RAW_MB" "$PLAIN_MB" <<'PY'
import json, sys
gz, gzraw, plain = map(int, sys.argv[1:])
def med(f):
    r = json.load(open(f))["results"][0]
    return r["median"]
rows = [("gzip layer", "berth", med("r1.json"), gz, gzraw), ("gzip layer", "tar -xzf", med("r2.json"), gz, gzraw),
        ("gzip layer", "umoci unpack", med("r3.json"), gz, gzraw),
        ("plain layer", "berth", med("r4.json"), plain, plain), ("plain layer", "tar -xf", med("r5.json"), plain, plain),
        ("plain layer", "umoci unpack", med("r6.json"), plain, plain)]
print(f"gzip layer: {gz} MB compressed, {gzraw} MB uncompressed; plain layer: {plain} MB. Median of runs, warm cache.\n")
print("| layer | tool | median s | MB/s (input) | MB/s (uncompressed) | vs tar |")
print("|---|---|---:|---:|---:|---:|")
base = {"gzip layer": rows[1][2], "plain layer": rows[4][2]}
for layer, tool, t, inp, raw in rows:
    print(f"| {layer} | {tool} | {t:.2f} | {inp/t:.0f} | {raw/t:.0f} | {base[layer]/t:.2f}x |")
PY
