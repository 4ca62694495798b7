//! berth's OCI-runtime conformance suite (see the crate's README.md).
//!
//! Every test needs root, so every test is `#[ignore]`d: run them as root with
//! `--include-ignored`. The runtime under test is `BERTH_TEST_RUNTIME`, default the
//! workspace's `berth-runc`.

mod cgroups;
mod defences;
mod lifecycle;
mod namespaces;
mod process;
mod reliability;
mod rootfs;

use serde_json::Value;

/// The runtime under test, with a private state root.
fn runtime() -> berth_conformance::Runtime {
    berth_conformance::Runtime::under_test()
}

/// Results of `checker try ...`, as a list of objects.
#[track_caller]
fn try_results(out: &berth_conformance::Output) -> Vec<Value> {
    out.json()["results"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("checker try printed no results; {out}"))
}

/// Asserts that a `checker try` result failed with `errno` (explaining what happened otherwise).
#[track_caller]
fn assert_errno(result: &Value, errno: i32, why: &str) {
    let got = result["errno"].as_i64();
    assert!(
        result["ok"] == false && got == Some(i64::from(errno)),
        "{why}: `{} {}` should fail with errno {errno} ({}), observed {}",
        result["op"].as_str().unwrap_or("?"),
        result["path"].as_str().unwrap_or("?"),
        std::io::Error::from_raw_os_error(errno),
        describe_result(result)
    );
}

/// Asserts that a `checker try` result succeeded.
#[track_caller]
fn assert_ok(result: &Value, why: &str) {
    assert!(
        result["ok"] == true,
        "{why}: `{} {}` should succeed, observed {}",
        result["op"].as_str().unwrap_or("?"),
        result["path"].as_str().unwrap_or("?"),
        describe_result(result)
    );
}

fn describe_result(r: &Value) -> String {
    if r["ok"] == true {
        format!("success (data {})", r["data"])
    } else {
        format!(
            "failure errno {} ({})",
            r["errno"],
            r["error"].as_str().unwrap_or("?")
        )
    }
}
