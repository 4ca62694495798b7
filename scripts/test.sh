#!/usr/bin/env bash
# Runs every test of berth on a fresh Debian 12 machine, as root, installing what the
# tests need. CI runs exactly this (.ci/run).
#
#   formatting and clippy (warnings are errors), unit tests of every crate, the root
#   tests (cgroups, seccomp, capabilities, daemons: #[ignore]d, so --include-ignored),
#   the OCI conformance suite against berth-runc (and against runc, which shows the
#   tests are right), 1000 consecutive `run`s, containerd driving berth-runc, and then
#   scripts/vm-test.sh: the root tests again in VMs on Debian's kernels, cgroup v2 only.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
. scripts/env.sh

cargo build --release --locked --target "$BERTH_TARGET" -p berth -p berth-init

# Formatting and the workspace lints (Cargo.toml's [workspace.lints]), as errors.
cargo fmt --all --check
cargo clippy --workspace --all-targets --release --locked --target "$BERTH_TARGET" -- -D warnings

# The Docker SDK for Python, for the SDK end-to-end test, in a venv kept under target/.
venv=target/sdk-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import docker' 2>/dev/null || "$venv/bin/pip" install -q 'docker>=7,<8'
export BERTH_PYTHON="$PWD/$venv/bin/python"
# Debian's dockerd (fetched, not installed), for the tests that compare berth with it.
BERTH_DOCKERD="$(scripts/dockerd.sh)"
export BERTH_DOCKERD
# A debootstrapped Debian bookworm, for the seeds' cowsay example through berth's NAT.
BERTH_BOOKWORM_TAR="$(scripts/bookworm.sh)"
export BERTH_BOOKWORM_TAR
export BERTH_TEST_RUNTIME="$BERTH_BIN/berth-runc"

# Every crate's tests, the conformance suite and the containerd test, against berth-runc.
# The tests that need root are #[ignore]d; --include-ignored runs them (this runs as root).
BERTH_RELIABILITY_RUNS=1000 cargo test --release --locked --no-fail-fast --target "$BERTH_TARGET" --workspace \
    -- --include-ignored

# The CVE-2019-5736 defence through its fallback (a sealed memfd copy instead of the
# read-only overlay).
BERTH_RUNC_SEAL=memfd cargo test --release --locked --target "$BERTH_TARGET" \
    -p berth-conformance --test conformance -- --include-ignored cve_2019_5736

# The runtime's older-kernel paths (docs/kernels.md): no new mount API (memfd sealing,
# mount(2)), no mount_setattr, clone(2) for clone3, close-on-exec one by one, kill(2).
BERTH_KERNEL_DISABLE=new-mount-api,mount_setattr,clone3,close_range,pidfd \
    cargo test --release --locked --target "$BERTH_TARGET" -p berth-conformance --test conformance \
    -- --include-ignored

# The same conformance suite against runc: the tests are right, not tuned to berth.
if command -v runc >/dev/null; then
    BERTH_TEST_RUNTIME="$(command -v runc)" \
        cargo test --release --locked --target "$BERTH_TARGET" -p berth-conformance --test conformance \
        -- --include-ignored
fi
# A targeted set of the root tests inside VMs booting Debian's 6.1 and 6.12 kernels, on
# a pure cgroup v2 host (docs/testing.md). BERTH_SKIP_VM=1 leaves them out.
if [ "${BERTH_SKIP_VM:-0}" != 1 ]; then
    scripts/vm-test.sh
fi
echo "test.sh: all tests passed"
