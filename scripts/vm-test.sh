#!/usr/bin/env bash
# Runs a targeted set of berth's root tests inside qemu VMs booting Debian's own
# kernels, on a pure cgroup v2 host: `cgroup_no_v1=all`, one cgroup2 mount, the daemon
# once in the root cgroup and once in a systemd-like /system.slice/berth.service.
#
#   scripts/vm-test.sh [KERNEL...]     KERNEL: 6.1 (bookworm) or 6.12 (bookworm-backports);
#                                      both when none is given.
#
# The kernels are `apt-get download`ed (never installed on this host) with a private
# apt configuration, unpacked with dpkg-deb -x and cached under target/vm/. The VM gets
# the checkout and the host's /usr read-only over 9p and runs the test executables
# `cargo test --profile test-release --no-run` built (static, like berth's binaries:
# scripts/env.sh); its init is scripts/vm/init, its serial console goes to
# target/vm/KERNEL.log, and its result comes out through qemu's isa-debug-exit device
# as qemu's exit status.
#
# Environment: BERTH_VM_ACCEL=auto|kvm|tcg (auto: kvm when a quick boot probe works),
# BERTH_VM_MODES="root slice", BERTH_VM_ONLY=NAME[,NAME] (run only those plan entries),
# BERTH_VM_TIMEOUT (seconds per kernel, default 600), BERTH_VM_MEM (MiB, default 3072).
set -euo pipefail
cd "$(dirname "$0")/.."

# The plan: which suites run, in which modes (root: the tests, and the daemons they
# start, in the root cgroup; slice: in /system.slice/berth.service; both). One line each:
#   MODES  PACKAGE  TEST-TARGET  [ARGS for the test executable: filters, --skip …]
# The init runs each executable with --include-ignored: the root tests are #[ignore]d.
# Suites about cgroups and the daemon run in both modes (of berth/cli, the tests that
# touch cgroups: pause, stats, update, OOM); the conformance suite (no daemon) and the
# filesystem suites run once. OOM: berth-cgroups/oom (the counter and
# its notifier), the shim's, and the end-to-end ones in berth/cli.
# kernel: on a real older kernel, the kernel as it is (the simulated ones run on the host).
VM_PLAN='
root   berth-conformance  conformance
both   berth-cgroups      v2_unified
both   berth-cgroups      oom
root   berth-runtime      shim  oom_kills
both   berth-engine       containers
both   berth-engine       stats
both   berth-engine       top
both   berth-daemon       lifecycle
root   berth              cli
slice  berth              cli  detached_lifecycle stats_events_update oom_
both   berth              resources
root   berth              layers
root   berth              volumes
root   berth              cp
root   berth              kernel  this_kernel_as_it_is_runs_quietly
root   berth              network
root   berth              build  run_options_remote_contexts_and_restarts
root   berth-image        snapshot_conformance
'
# Kernel modules the VM loads (with what they depend on); built-in ones are skipped.
# Networking: bridges, veth pairs, berth's nftables table, iptables' FORWARD rules for
# coexisting with a dockerd, and the iptables backend's matches and targets
# (iptables-nft: nft_compat and the xt modules).
# crc32c_generic first: conntrack's libcrc32c asks the crypto API for crc32c at load
# (a soft dependency, which add_module does not follow).
VM_MODULES="virtio_pci virtio_blk 9pnet_virtio 9p overlay crc32c_generic bridge veth nf_tables nft_chain_nat nft_nat nft_masq nft_ct nft_fib_inet nft_compat xt_conntrack xt_comment xt_addrtype xt_tcpudp xt_nat xt_MASQUERADE"

vm=target/vm
accel_choice="${BERTH_VM_ACCEL:-auto}"
modes="${BERTH_VM_MODES:-root slice}"
timeout_s="${BERTH_VM_TIMEOUT:-600}"
mem="${BERTH_VM_MEM:-3072}"
kernels=("$@")
((${#kernels[@]})) || kernels=(6.1 6.12)

log() { echo "vm-test: $*" >&2; }
die() { log "$*"; exit 1; }

# --- tools ---------------------------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v xz >/dev/null || need+=(xz-utils)
command -v zstd >/dev/null || need+=(zstd)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
/bin/busybox --list | grep -x cpio >/dev/null || die "/bin/busybox has no cpio applet"

mkdir -p "$vm"
work="$(mktemp -d /tmp/berth-vm.XXXXXX)"
qemu_pid=
label=
cleanup() {
    [ -z "$qemu_pid" ] || kill -9 "$qemu_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- kernels -------------------------------------------------------------------------
# A private apt (its own sources, lists and cache under target/vm/apt; the host's
# /etc/apt and /var/lib/apt are not touched) that knows bookworm, its security updates
# and bookworm-backports.
apt_dir="$PWD/$vm/apt"
apt_opts=(
    -o "Dir::Etc::SourceList=$apt_dir/sources.list"
    -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
    -o "Dir::Etc::Preferences=$apt_dir/preferences"
    -o "Dir::Etc::PreferencesParts=$apt_dir/preferences.d"
    -o "Dir::State=$apt_dir/state"
    -o "Dir::State::status=$apt_dir/state/status"
    -o "Dir::Cache=$apt_dir/cache"
    -o "APT::Sandbox::User=root"
    -o "Debug::NoLocking=true"
)
apt_ready=
private_apt() {
    [ -z "$apt_ready" ] || return 0
    mkdir -p "$apt_dir"/{sources.list.d,preferences.d,state/lists/partial,cache/archives/partial}
    touch "$apt_dir/state/status" "$apt_dir/preferences"
    local key=/usr/share/keyrings/debian-archive-keyring.gpg
    [ -f "$key" ] || die "$key is missing (apt-get install debian-archive-keyring)"
    cat >"$apt_dir/sources.list" <<EOF
deb [signed-by=$key] http://deb.debian.org/debian bookworm main
deb [signed-by=$key] http://deb.debian.org/debian-security bookworm-security main
deb [signed-by=$key] http://deb.debian.org/debian bookworm-backports main
EOF
    # Refresh the lists at most daily.
    if [ -z "$(find "$apt_dir/state" -name '*.stamp' -mmin -1440 2>/dev/null)" ]; then
        log "updating the private apt lists (bookworm, -security, -backports)"
        apt-get "${apt_opts[@]}" update -qq >"$work/apt.log" 2>&1 || {
            cat "$work/apt.log" >&2
            return 1
        }
        touch "$apt_dir/state/lists.stamp"
    fi
    apt_ready=1
}

# The linux-image package of the newest kernel of series $1 (6.1, 6.12, …): what the
# newest linux-image-amd64 of that series depends on.
kernel_package() {
    apt-cache "${apt_opts[@]}" show linux-image-amd64 |
        awk -v s="$1" '
            /^Version: / { v = $2 }
            /^Depends: / { if (index(v, s ".") == 1) { split($2, d, ","); print v, d[1] } }' |
        sort -V | tail -n1 | awk '{ print $2 }'
}

# Downloads and unpacks kernel series $1 (cached); prints the unpacked directory.
fetch_kernel() {
    local series="$1" pkg dir
    if ! private_apt || ! pkg="$(kernel_package "$series")" || [ -z "$pkg" ]; then
        # Offline: the newest kernel of the series unpacked before.
        dir="$(ls -d "$PWD/$vm/kernels/linux-image-$series".[0-9]*-amd64 2>/dev/null | sort -V | tail -n1)"
        [ -n "$dir" ] && [ -f "$dir/.unpacked" ] || die "no kernel $series: apt cannot find one and none is cached"
        log "kernel $series: apt unavailable, using the cached $(basename "$dir")"
        echo "$dir"
        return
    fi
    dir="$PWD/$vm/kernels/$pkg"
    if [ ! -f "$dir/.unpacked" ]; then
        log "kernel $series: downloading $pkg"
        rm -rf "$dir" "$work/deb"
        mkdir -p "$work/deb" "$dir"
        (cd "$work/deb" && apt-get "${apt_opts[@]}" download "$pkg" >"$work/apt.log" 2>&1) || {
            cat "$work/apt.log" >&2
            die "apt-get download $pkg failed"
        }
        dpkg-deb -x "$work/deb/"*.deb "$dir"
        rm -rf "$work/deb"
        touch "$dir/.unpacked"
    fi
    echo "$dir"
}

# --- the initramfs -------------------------------------------------------------------
# A module's file in kernel tree $1, by name ($2; '-' and '_' are the same).
module_file() {
    local a="${2//-/_}" b="${2//_/-}"
    find "$1/kernel" \( -name "$a.ko" -o -name "$a.ko.*" -o -name "$b.ko" -o -name "$b.ko.*" \) | head -n1
}
module_cat() {
    case "$1" in
    *.xz) xz -dc "$1" ;;
    *.zst) zstd -qdc "$1" ;;
    *.gz) gzip -dc "$1" ;;
    *) cat "$1" ;;
    esac
}
# Copies module $2 of tree $1, after what it depends on, into $3 (in load order).
add_module() {
    local tree="$1" name="${2//-/_}" out="$3" f dep
    grep -qx "$name" "$out/modules.order" 2>/dev/null && return 0
    if grep -Eq "/($name|${name//_/-})\.ko" "$tree/modules.builtin"; then
        return 0
    fi
    f="$(module_file "$tree" "$name")"
    [ -n "$f" ] || die "kernel module $name not found under $tree"
    module_cat "$f" >"$out/modules/$name.ko"
    for dep in $(tr '\0' '\n' <"$out/modules/$name.ko" | sed -n 's/^depends=//p' | tr , ' '); do
        add_module "$tree" "$dep" "$out"
    done
    echo "$name" >>"$out/modules.order"
}

# Builds the initramfs for kernel tree $1 into $2; $3 is the VM's config.
make_initramfs() {
    local tree="$1" out="$2" config="$3" root="$work/initramfs" m
    rm -rf "$root"
    mkdir -p "$root"/{bin,dev,proc,sys,newroot,vm/modules}
    cp /bin/busybox "$root/bin/busybox"
    for a in $(/bin/busybox --list); do
        [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
    done
    cp scripts/vm/init "$root/init"
    chmod 755 "$root/init"
    cp "$config" "$root/vm/config"
    cp "$work/plan" "$root/vm/plan"
    : >"$root/vm/modules.order"
    for m in $VM_MODULES; do
        add_module "$tree" "$m" "$root/vm"
    done
    (cd "$root" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) >"$out"
}

# --- test executables ----------------------------------------------------------------
# berth's binaries and the tests from one build (scripts/test.sh builds the same).
export BERTH_PROFILE=test-release
. scripts/env.sh
log "building berth and the test executables (--profile $BERTH_PROFILE, --target $BERTH_TARGET)"
cargo build --profile "$BERTH_PROFILE" --locked --target "$BERTH_TARGET" -p berth -p berth-init
pkgs=()
while read -r _ pkg target _; do
    [ -n "$pkg" ] || continue
    pkgs+=(-p "$pkg" --test "$target")
done <<<"$VM_PLAN"
cargo test --profile test-release --locked --target "$BERTH_TARGET" --no-run --message-format=json "${pkgs[@]}" \
    >"$work/cargo.json"
# MODES NAME CRATE-DIR EXECUTABLE ARGS, for the init.
python3 - "$work/cargo.json" "$VM_PLAN" "${BERTH_VM_ONLY:-}" >"$work/plan" <<'EOF'
import json, sys
from urllib.parse import urlparse
built = {}
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact" or not m.get("executable"):
        continue
    t = m["target"]
    if "test" not in t["kind"]:
        continue
    # package_id: "path+file:///DIR#0.1.0", "path+file:///DIR#NAME@0.1.0", or the
    # older "NAME 0.1.0 (path+file:///DIR)".
    pid = m["package_id"]
    if pid.startswith("path+file://"):
        url, _, frag = pid.partition("#")
        pkg_dir = urlparse(url[len("path+"):]).path
        name = frag.split("@")[0] if "@" in frag else pkg_dir.rstrip("/").rsplit("/", 1)[1]
    else:
        name = pid.split()[0]
        pkg_dir = pid.split("(path+file://")[1].rstrip(")")
    built[(name, t["name"])] = (pkg_dir, m["executable"])
only = set(filter(None, sys.argv[3].split(",")))
for line in sys.argv[2].splitlines():
    w = line.split()
    if not w:
        continue
    modes, pkg, target, args = w[0], w[1], w[2], w[3:]
    if only and f"{pkg}/{target}" not in only and target not in only:
        continue
    if (pkg, target) not in built:
        sys.exit(f"vm-test: cargo built no test executable for {pkg} --test {target}")
    d, exe = built[(pkg, target)]
    print(modes, f"{pkg}/{target}", d, exe, " ".join(args))
EOF
[ -s "$work/plan" ] || die "the plan is empty (BERTH_VM_ONLY=${BERTH_VM_ONLY:-})"
log "$(wc -l <"$work/plan") suite(s) to run, in modes: $modes"

# --- running a VM --------------------------------------------------------------------
# Boots kernel tree $1 with initramfs $2; serial console to $3; accelerator $4; at most
# $5 seconds. Sets vm_rc to qemu's exit status (124: timed out).
boot() {
    local tree="$1" initrd="$2" console="$3" accel="$4" limit="$5" kernel cpu
    kernel="$(ls "$tree"/boot/vmlinuz-* | head -n1)"
    if [ "$accel" = kvm ]; then accel=(-enable-kvm); cpu=host; else accel=(-accel tcg,thread=multi); cpu=max; fi
    : >"$console"
    qemu-system-x86_64 "${accel[@]}" -cpu "$cpu" -smp 2 -m "$mem" \
        -nodefaults -display none -no-reboot \
        -kernel "$kernel" -initrd "$initrd" \
        -append "console=ttyS0 loglevel=5 panic=-1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1" \
        -serial "file:$console" -monitor none \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
        -blockdev driver=null-co,node-name=scratch,size=67108864,read-zeroes=on \
        -device virtio-blk-pci,drive=scratch \
        -virtfs "local,path=/usr,mount_tag=usr,security_model=none,readonly=on,multidevs=remap" \
        -virtfs "local,path=/etc,mount_tag=etc,security_model=none,readonly=on,multidevs=remap" \
        -virtfs "local,path=$PWD,mount_tag=src,security_model=none,readonly=on,multidevs=remap" \
        </dev/null >"$console.qemu" 2>&1 &
    qemu_pid=$!
    local start=$SECONDS seen=0
    vm_rc=
    while kill -0 "$qemu_pid" 2>/dev/null; do
        progress
        if ((SECONDS - start > limit)); then
            [ "$label" = probe ] || log "the VM ran past ${limit}s: killing qemu (pid $qemu_pid)"
            kill "$qemu_pid" 2>/dev/null || true
            sleep 2
            kill -9 "$qemu_pid" 2>/dev/null || true
            wait "$qemu_pid" 2>/dev/null || true
            vm_rc=124
            break
        fi
        sleep 1
    done
    if [ -z "$vm_rc" ]; then
        vm_rc=0
        wait "$qemu_pid" || vm_rc=$?
    fi
    qemu_pid=
    progress
}

# Echoes the complete lines of the console that the init meant for us, as they come.
progress() {
    local n
    n="$(wc -l <"$console")"
    ((n > seen)) || return 0
    sed -n "$((seen + 1)),${n}p" "$console" | tr -d '\r' | grep -a '^berth-vm: ' |
        sed "s/^berth-vm: /  [$label] /" >&2 || true
    seen=$n
}

write_config() { # $1: file; $2: probe (0/1)
    cat >"$1" <<EOF
BERTH_VM_SRC='$PWD'
BERTH_BIN='$BERTH_BIN'
BERTH_VM_MODES='$modes'
BERTH_VM_PROBE=$2
BERTH_VM_SUITE_TIMEOUT=${BERTH_VM_SUITE_TIMEOUT:-300}
export BERTH_TEST_RUNTIME='$BERTH_BIN/berth-runc'
export BERTH_RELIABILITY_RUNS=${BERTH_VM_RELIABILITY_RUNS:-10}
# Both CLIs send the same requests; in the VM the kernel is under test: berth's CLI only.
export BERTH_DOCKER_CLI=
EOF
}

# Sets accel: kvm when asked, or (auto) when /dev/kvm boots kernel tree $1 to its init
# (some /dev/kvm, nested or paravirtualised ones, cannot boot a stock kernel).
choose_accel() { # $1: the unpacked kernel; $2: its modules
    case "$accel_choice" in
    kvm | tcg) accel="$accel_choice" ;;
    auto)
        accel=tcg
        if [ -w /dev/kvm ]; then
            # The answer is kept for this host kernel and guest kernel.
            local key probe="$vm/kvm-probe"
            key="$(uname -r) $(basename "$1")"
            if [ -f "$probe" ] && [ "$(sed -n 1p "$probe")" = "$key" ]; then
                accel="$(sed -n 2p "$probe")"
            else
                write_config "$work/probe.config" 1
                make_initramfs "$2" "$work/probe.cpio" "$work/probe.config"
                label=probe
                boot "$1" "$work/probe.cpio" "$work/probe.log" kvm 15
                [ "$vm_rc" != 1 ] || accel=kvm
                [ "$accel" = kvm ] || log "/dev/kvm did not boot the kernel to its init in 15s"
                printf '%s\n%s\n' "$key" "$accel" >"$probe"
            fi
        fi
        ;;
    *) die "BERTH_VM_ACCEL must be auto, kvm or tcg" ;;
    esac
    log "accelerator: $accel"
}

accel=
failed=()
summary=()
for k in "${kernels[@]}"; do
    tree="$(fetch_kernel "$k")"
    modtree="$(ls -d "$tree"/lib/modules/* | head -n1)"
    [ -n "$accel" ] || choose_accel "$tree" "$modtree"
    write_config "$work/config" 0
    make_initramfs "$modtree" "$work/initramfs.cpio" "$work/config"
    console="$PWD/$vm/$k.log"
    log "kernel $k ($(basename "$tree")): booting; console in $vm/$k.log"
    t0=$SECONDS
    label=$k
    boot "$tree" "$work/initramfs.cpio" "$console" "$accel" "$timeout_s"
    took=$((SECONDS - t0))
    if [ "$vm_rc" = 1 ]; then
        summary+=("kernel $k: all passed in ${took}s")
        continue
    fi
    case "$vm_rc" in
    124) why="timed out after ${timeout_s}s" ;;
    0) why="the VM stopped without a result (kernel panic or init failure)" ;;
    *)
        if ((vm_rc & 1)) && ((vm_rc >> 1 < 125)); then
            why="$((vm_rc >> 1)) suite(s) failed"
        elif ((vm_rc & 1)); then
            why="the VM's init failed (code $((vm_rc >> 1)))"
        else
            why="qemu failed with status $vm_rc: $(tail -n 5 "$console.qemu")"
        fi
        ;;
    esac
    failed+=("$k")
    summary+=("kernel $k: FAILED in ${took}s: $why")
    log "kernel $k: last lines of $vm/$k.log:"
    tail -n 40 "$console" | sed 's/\r$//' >&2
    log "kernel $k: failures:"
    tr -d '\r' <"$console" | sed 's/\x1b\[[0-9;]*m//g' |
        grep -a -E '^berth-vm: (FAIL|NOTE)|^test .* FAILED$|panicked at|^(stdout|stderr): .' >&2 || true
done
for s in "${summary[@]}"; do log "$s"; done
((${#failed[@]} == 0)) || die "failed on kernel(s) ${failed[*]} (logs in $vm/)"
log "all passed"
