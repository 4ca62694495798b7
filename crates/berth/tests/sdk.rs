//! The Docker SDK for Python against a berth daemon (tests/sdk/docker_sdk_test.py).
//! Python comes from `BERTH_PYTHON` (scripts/test.sh makes a venv with `docker`
//! installed), else `python3` if it can import `docker`; otherwise the test is skipped
//! with a note.

mod common;

use std::process::Command;

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn docker_sdk_for_python() {
    let Some((py, d)) = common::sdk_daemon() else {
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/docker_sdk_test.py");
    let out = Command::new(py)
        .arg(script)
        .env("DOCKER_HOST", d.host())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "docker SDK test failed:\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        common::tail(&d.log(), 40)
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn docker_sdk_for_python_builds() {
    let Some((py, d)) = common::sdk_daemon() else {
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/build_test.py");
    let out = Command::new(py)
        .arg(script)
        .env("DOCKER_HOST", d.host())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "docker SDK build test failed:\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        common::tail(&d.log(), 40)
    );
}
