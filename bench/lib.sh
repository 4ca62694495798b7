# bench/lib.sh — sourced by the benchmarks that run berth's daemon beside Docker's:
# the tools, a temp dir, a network namespace of the benchmark's own (both daemons run
# in it: their bridges, veths and firewall rules never touch the host's; `$NS CMD` runs
# CMD there), the busybox image, starting berth's daemon, and a cleanup that stops both
# daemons and removes everything they left. The sourcing script sets
# `tmp` (via bench_init), `bpid`/`dpid` as it starts daemons, and calls
# `bench_cleanup` from its own EXIT trap (after its own extra cleanup, if any).

bench_init() { # $1: the script's name, for temp dirs and messages
    . scripts/env.sh
    BERTH="$BERTH_BIN/berth"; case $BERTH in /*) ;; *) BERTH="$PWD/$BERTH" ;; esac
    DOCKER=$(command -v docker || true)
    [ -x /usr/local/bin/docker ] && DOCKER=/usr/local/bin/docker
    # hyperfine from crates.io when the machine has none (kept under target/).
    if ! command -v hyperfine >/dev/null; then
        # Without the static-build flags of scripts/env.sh (proc macros cannot be static).
        [ -x target/tools/bin/hyperfine ] || env -u RUSTFLAGS cargo install -q --locked --root target/tools hyperfine@1.20.0 >&2
        PATH="$PWD/target/tools/bin:$PATH"
    fi
    if ! command -v dockerd >/dev/null; then
        local d; d=$(dirname "$(scripts/dockerd.sh)")
        PATH="$d:$d/../bin:$PATH"
    fi
    for t in "$BERTH" "$DOCKER" dockerd hyperfine jq /bin/busybox; do
        command -v "$t" >/dev/null || { echo "$1: missing $t" >&2; exit 1; }
    done
    # The daemons' roots go under BENCH_TMPDIR (default /tmp): another filesystem can
    # be compared.
    tmp=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/berth-bench-$1.XXXXXX")
    touch "$tmp/netns"
    unshare --net="$tmp/netns" true
    NS="nsenter --net=$tmp/netns --"
    $NS ip link set lo up
    # dockerd creates /run/docker and /etc/docker/key.json whatever its roots.
    etc_docker_existed=; [ -e /etc/docker ] && etc_docker_existed=1
    run_docker_existed=; [ -e /run/docker ] && run_docker_existed=1
    key_existed=; [ -e /etc/docker/key.json ] && key_existed=1
    bpid= ; dpid=
}

bench_cleanup() {
    set +e
    if [ -n "$bpid" ]; then
        ids=$(DOCKER_HOST=unix://$tmp/berth.sock "$DOCKER" ps -aq); [ -n "$ids" ] && DOCKER_HOST=unix://$tmp/berth.sock "$DOCKER" rm -f $ids >/dev/null
        kill "$bpid"; wait "$bpid" 2>/dev/null
    fi
    if [ -n "$dpid" ]; then
        ids=$(DOCKER_HOST=unix://$tmp/docker.sock "$DOCKER" ps -aq); [ -n "$ids" ] && DOCKER_HOST=unix://$tmp/docker.sock "$DOCKER" rm -f $ids >/dev/null
        kill "$dpid"
        for _ in $(seq 30); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.5; done
        # A deadlocked dockerd: stop it and what it started (all named by $tmp).
        kill -KILL "$dpid" 2>/dev/null; pkill -KILL -f "$tmp/docker" 2>/dev/null
        wait "$dpid" 2>/dev/null
    fi
    grep -o " $tmp[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
    for d in /sys/fs/cgroup/*/berth-bench-$$ /sys/fs/cgroup/*/docker-bench-$$ /sys/fs/cgroup/berth-bench-$$ /sys/fs/cgroup/docker-bench-$$; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    rm -rf "$tmp"
    [ -n "$run_docker_existed" ] || rm -rf /run/docker
    [ -n "$key_existed" ] || rm -f /etc/docker/key.json
    [ -n "$etc_docker_existed" ] || rmdir /etc/docker 2>/dev/null
}

wait_sock() { for _ in $(seq 200); do curl -sf --unix-socket "$1" http://x/_ping >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "daemon on $1 did not start" >&2; return 1; }

# The image's root: Debian's static busybox, FROM scratch, in $tmp/rootfs.
busybox_rootfs() {
    mkdir -p "$tmp/rootfs/bin" "$tmp/rootfs/etc"
    cp /bin/busybox "$tmp/rootfs/bin/"
    for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$tmp/rootfs/bin/$a"; done
}

# Docker's daemon in the namespace on $tmp/docker.sock with private roots and the
# flags given (its networking); sets dpid.
start_dockerd() {
    $NS dockerd -H "unix://$tmp/docker.sock" --data-root "$tmp/docker-data" --exec-root "$tmp/docker-exec" \
        --pidfile "$tmp/docker.pid" --cgroup-parent "/docker-bench-$$" "$@" >"$tmp/docker.log" 2>&1 &
    dpid=$!
}

# berth's daemon on $tmp/berth.sock with private roots and the flags given; sets bpid.
start_berth() {
    echo "{}" >"$tmp/none.json"
    $NS "$BERTH" daemon -H "unix://$tmp/berth.sock" --data-root "$tmp/berth-data" --exec-root "$tmp/berth-exec" \
        --pidfile "$tmp/berth.pid" --config-file "$tmp/none.json" --cgroup-parent "/berth-bench-$$" "$@" >"$tmp/berth.log" 2>&1 &
    bpid=$!
}

# An OCI layout at $1 holding one image of two layers of $2 MB of random data each
# (incompressible; gzip level 1); prints the layers' compressed bytes.
random_oci_image() {
    python3 - "$1" "$2" <<'PY'
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
print(sum(l["size"] for l in layers))
PY
}

# The reference registry (docker-registry) in the namespace on 127.0.0.1:$2, storing
# under $tmp/$1, quiet; waits until it answers and adds its pid to $rpids (the caller
# stops them).
start_docker_registry() {
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
    rpids="${rpids:-} $!"
    for _ in $(seq 100); do $NS curl -sf "http://127.0.0.1:$2/v2/" >/dev/null && return 0; sleep 0.1; done
    echo "docker-registry on :$2 did not start" >&2; cat "$tmp/$1.log" >&2; return 1
}
