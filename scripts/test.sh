#!/usr/bin/env bash
# Runs every test of berth on a fresh Debian 12 machine, as root, installing what the
# tests need. CI runs exactly this (.ci/run).
#
#   formatting and clippy (warnings are errors), unit tests of every crate, the root
#   tests (cgroups, seccomp, capabilities, daemons: #[ignore]d, so --include-ignored),
#   the OCI conformance suite against berth-runc (and against runc, which shows the
#   tests are right), 1000 consecutive `run`s, containerd driving berth-runc, and then
#   scripts/vm-test.sh: the root tests again in VMs on Debian's kernels, cgroup v2 only.
#
# Everything is built with the `test-release` profile (Cargo.toml): release's
# optimisation without its whole-program link, which would cost minutes for each of
# ~90 test executables. berth's binaries (BERTH_BIN, the runtime BERTH_TEST_RUNTIME
# names) come from the same build, so the dependencies compile once: a separate fat-LTO
# release build cost 6 minutes of the CI run (users' `--release` differs only in LTO
# and codegen units).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each stage says how far into the run it starts.
start=$SECONDS
stage() { printf 'test.sh: [%dm%02ds] %s\n' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)) "$*" >&2; }

stage "installing the packages the tests need"
scripts/install-deps.sh
export BERTH_PROFILE=test-release
. scripts/env.sh

# What the tests download, in the background while cargo compiles: the Docker SDK for
# Python (the SDK end-to-end test, in a venv under target/), Debian's dockerd (fetched,
# not installed; the tests that compare berth with it) and a debootstrapped bookworm
# (the seeds' cowsay example through berth's NAT).
fetched=target/fetched
mkdir -p "$fetched"
venv=target/sdk-venv
(
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -c 'import docker' 2>/dev/null || "$venv/bin/pip" install -q 'docker>=7,<8'
) >"$fetched/sdk.log" 2>&1 &
sdk_job=$!
scripts/dockerd.sh >"$fetched/dockerd" 2>"$fetched/dockerd.log" &
dockerd_job=$!
scripts/bookworm.sh >"$fetched/bookworm" 2>"$fetched/bookworm.log" &
bookworm_job=$!
# A stage that fails stops the run: the fetches stop with it.
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
# Waits for background job $1; on failure shows its log $2 and stops.
joined() {
    wait "$1" || {
        echo "test.sh: fetching failed; $2:" >&2
        cat "$2" >&2
        exit 1
    }
}

stage "building berth ($BERTH_PROFILE)"
cargo build --profile "$BERTH_PROFILE" --locked --target "$BERTH_TARGET" -p berth -p berth-init

# Formatting and the workspace lints (Cargo.toml's [workspace.lints]), as errors.
stage "formatting and clippy"
cargo fmt --all --check
cargo clippy --workspace --all-targets --profile "$BERTH_PROFILE" --locked --target "$BERTH_TARGET" -- -D warnings

stage "building the tests (test-release)"
cargo test --profile test-release --locked --target "$BERTH_TARGET" --workspace --no-run

joined "$sdk_job" "$fetched/sdk.log"
export BERTH_PYTHON="$PWD/$venv/bin/python"
joined "$dockerd_job" "$fetched/dockerd.log"
BERTH_DOCKERD="$(cat "$fetched/dockerd")"
export BERTH_DOCKERD
joined "$bookworm_job" "$fetched/bookworm.log"
BERTH_BOOKWORM_TAR="$(cat "$fetched/bookworm")"
export BERTH_BOOKWORM_TAR
export BERTH_TEST_RUNTIME="$BERTH_BIN/berth-runc"

# Every crate's tests, the conformance suite and the containerd test, against berth-runc.
# The tests that need root are #[ignore]d; --include-ignored runs them (this runs as root).
stage "running the tests"
BERTH_RELIABILITY_RUNS=1000 cargo test --profile test-release --locked --no-fail-fast --target "$BERTH_TARGET" --workspace \
    -- --include-ignored

# The CVE-2019-5736 defence through its fallback (a sealed memfd copy instead of the
# read-only overlay).
BERTH_RUNC_SEAL=memfd cargo test --profile test-release --locked --target "$BERTH_TARGET" \
    -p berth-conformance --test conformance -- --include-ignored cve_2019_5736

# The runtime's older-kernel paths (docs/kernels.md): no new mount API (memfd sealing,
# mount(2)), no mount_setattr, clone(2) for clone3, close-on-exec one by one, kill(2).
BERTH_KERNEL_DISABLE=new-mount-api,mount_setattr,clone3,close_range,pidfd \
    cargo test --profile test-release --locked --target "$BERTH_TARGET" -p berth-conformance --test conformance \
    -- --include-ignored

# The same conformance suite against runc: the tests are right, not tuned to berth.
if command -v runc >/dev/null; then
    BERTH_TEST_RUNTIME="$(command -v runc)" \
        cargo test --profile test-release --locked --target "$BERTH_TARGET" -p berth-conformance --test conformance \
        -- --include-ignored
fi
# A targeted set of the root tests inside VMs booting Debian's 6.1 and 6.12 kernels, on
# a pure cgroup v2 host (docs/testing.md). BERTH_SKIP_VM=1 leaves them out.
if [ "${BERTH_SKIP_VM:-0}" != 1 ]; then
    stage "the VM suite"
    scripts/vm-test.sh
fi
stage "all tests passed"
