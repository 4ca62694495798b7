//! The Docker SDK for Python against a berth daemon (tests/sdk/docker_sdk_test.py).
//! Python comes from `BERTH_PYTHON` (scripts/test.sh makes a venv with `docker`
//! installed), else `python3` if it can import `docker`; otherwise the test is skipped
//! with a note.

mod common;

use std::process::Command;

/// Runs `tests/sdk/NAME` with the SDK's Python against a daemon of its own.
fn run_script(name: &str) {
    let Some((py, d)) = common::sdk_daemon() else {
        return;
    };
    let script = format!("{}/tests/sdk/{name}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(py)
        .arg(&script)
        .env("DOCKER_HOST", d.host())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{name} failed:\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        common::tail(&d.log(), 40)
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn docker_sdk_for_python() {
    run_script("docker_sdk_test.py");
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn docker_sdk_for_python_builds() {
    run_script("build_test.py");
}
