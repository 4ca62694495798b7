# Sourced by the scripts: how berth's binaries are built for speed. berth-runc is
# started for every container operation, so it is linked statically (glibc static-pie,
# libseccomp.a): no dynamic loader at start-up saves about 2 ms per `run` and 0.8 MiB
# of resident memory. An explicit --target keeps the static flag away from build
# scripts and proc-macros.
BERTH_TARGET="$(rustc -vV | sed -n 's/^host: //p')"
export BERTH_TARGET
# Idempotent: scripts that source this run scripts that source it again, and a changed
# RUSTFLAGS would rebuild everything.
case " ${RUSTFLAGS:-} " in
*" -C target-feature=+crt-static "*) ;;
*) export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" ;;
esac
export LIBSECCOMP_LINK_TYPE=static
export LIBSECCOMP_LIB_PATH="${LIBSECCOMP_LIB_PATH:-/usr/lib/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)}"
# The cargo profile berth's binaries are built with: release (fat LTO, what users run)
# unless a script asks for test-release (scripts/test.sh, scripts/vm-test.sh).
export BERTH_PROFILE="${BERTH_PROFILE:-release}"
export BERTH_BIN="$PWD/target/$BERTH_TARGET/$BERTH_PROFILE"
