//! berth's OCI-runtime conformance suite: the harness behind `tests/conformance`.
//!
//! The runtime under test is any binary with runc's command line, chosen with
//! `BERTH_TEST_RUNTIME` (default: the workspace's `berth-runc`). Each test builds a
//! bundle from Debian's static busybox plus the static `berth-checker` helper
//! ([`bundle`]), drives the runtime through its command line with timeouts
//! ([`runtime`], [`container`]), and checks the result from outside (state JSON,
//! cgroup files, host files) and from inside (checker output). Everything a test
//! creates (state roots, bundles, containers, cgroups, helper processes, mounts)
//! is removed by guards on drop, also when the test panics.

#![forbid(unsafe_code)]

pub mod bundle;
pub mod console;
pub mod container;
pub mod host;
pub mod runtime;

pub use bundle::Bundle;
pub use console::ConsoleSocket;
pub use container::{Container, State};
pub use runtime::{Gap, Invoke, Output, Runtime};

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where the static checker is: `BERTH_CHECKER` if set, else the one build.rs made.
pub fn checker_path() -> PathBuf {
    std::env::var_os("BERTH_CHECKER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("BERTH_CHECKER_BUILT")))
}

/// A container id unique to this process and call: `bc-<pid>-<n>-<tag>`.
pub fn unique_id(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("bc-{}-{n}-{tag}", std::process::id())
}

/// Returns from the calling test with a note if the runtime under test is known
/// to lack `gap` (see [`Runtime::lacks`]).
#[macro_export]
macro_rules! skip_if_lacking {
    ($rt:expr, $gap:expr) => {
        if let Some(reason) = $rt.lacks($gap) {
            eprintln!("SKIP {}: {}", $crate::current_test(), reason);
            return;
        }
    };
}

/// The running test's name (libtest names each test's thread after it).
pub fn current_test() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_string()
}

/// A temporary directory for the suite, under /tmp, named after `tag`.
pub fn temp_dir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("berth-conf-{tag}-"))
        .tempdir_in("/tmp")
        .expect("creating a temporary directory under /tmp")
}
