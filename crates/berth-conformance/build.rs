//! Builds the in-container helper, berth-checker, as a *static* executable.
//!
//! The checker runs inside bundles whose rootfs holds nothing but busybox, so it
//! must not need a dynamic loader. Cargo cannot set `-C target-feature=+crt-static`
//! for one binary of a package, so this script compiles the checker's source
//! (std only, no crates) with a direct rustc call into OUT_DIR and hands its path
//! to the library as `BERTH_CHECKER_BUILT`. glibc's libc.a is enough for this.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "src/bin/berth-checker/main.rs";
    println!("cargo:rerun-if-changed=src/bin/berth-checker");
    println!("cargo:rerun-if-env-changed=BERTH_CHECKER");

    let out_dir =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts"));
    let out = out_dir.join("berth-checker");
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = env::var("TARGET").expect("cargo sets TARGET for build scripts");

    let output = Command::new(&rustc)
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "bin",
            "--crate-name",
            "berth_checker",
        ])
        .args(["--target", &target])
        .args([
            "-C",
            "opt-level=2",
            "-C",
            "target-feature=+crt-static",
            "-C",
            "strip=symbols",
        ])
        .args(["-C", "panic=abort"])
        .arg("-o")
        .arg(&out)
        .arg(src)
        .output()
        .unwrap_or_else(|e| panic!("running {rustc:?} to build the static berth-checker: {e}"));
    if !output.status.success() {
        panic!(
            "building the static berth-checker with {rustc:?} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    println!("cargo:rustc-env=BERTH_CHECKER_BUILT={}", out.display());
}
