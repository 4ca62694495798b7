//! cgroups: limits written where cgroupsPath says, pause/resume, ps, update and
//! events --stats. Written for v1 hierarchies (this project's CI) with the v2
//! file names where they differ.

use crate::runtime;
use berth_conformance::host::{cgroup_dir, cgroup_layout, read_cgroup_file, CgroupLayout};
use berth_conformance::{unique_id, Bundle, Container, Runtime};
use serde_json::{json, Value};
use std::time::Duration;

const MIB: i64 = 1024 * 1024;

/// A sleeping container in its own cgroup with memory, cpu and pids limits.
fn limited(rt: &Runtime) -> (Container<'_>, Bundle, String) {
    let path = format!("/{}", unique_id("cg"));
    let mut b = Bundle::new();
    b.linux()["cgroupsPath"] = json!(path);
    b.linux()["resources"]["memory"] = json!({ "limit": 64 * MIB });
    b.linux()["resources"]["cpu"] = json!({ "shares": 512, "quota": 50000, "period": 100000 });
    b.linux()["resources"]["pids"] = json!({ "limit": 64 });
    b.args(&["/bin/sleep", "1000"]);
    let c = rt.start_container(&b);
    (c, b, path)
}

fn memory_limit(path: &str) -> String {
    match cgroup_layout() {
        CgroupLayout::V1 => read_cgroup_file("memory", path, "memory.limit_in_bytes"),
        CgroupLayout::V2 => read_cgroup_file("memory", path, "memory.max"),
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn limits_are_written_under_cgroups_path() {
    let rt = runtime();
    let (c, _b, path) = limited(&rt);
    let pid = c.expect_state().pid.expect("a running container has a pid");

    assert_eq!(
        memory_limit(&path),
        (64 * MIB).to_string(),
        "memory limit under {path}"
    );
    assert_eq!(
        read_cgroup_file("pids", &path, "pids.max"),
        "64",
        "pids limit under {path}"
    );
    match cgroup_layout() {
        CgroupLayout::V1 => {
            assert_eq!(
                read_cgroup_file("cpu", &path, "cpu.shares"),
                "512",
                "cpu shares under {path}"
            );
            assert_eq!(
                read_cgroup_file("cpu", &path, "cpu.cfs_quota_us"),
                "50000",
                "cpu quota under {path}"
            );
            assert_eq!(
                read_cgroup_file("cpu", &path, "cpu.cfs_period_us"),
                "100000",
                "cpu period under {path}"
            );
        }
        CgroupLayout::V2 => {
            assert_eq!(
                read_cgroup_file("cpu", &path, "cpu.max"),
                "50000 100000",
                "cpu.max under {path}"
            );
        }
    }
    for ctrl in ["memory", "pids", "cpu"] {
        let procs = read_cgroup_file(ctrl, &path, "cgroup.procs");
        assert!(
            procs.lines().any(|l| l.trim() == pid.to_string()),
            "the container's pid {pid} is not in {}/cgroup.procs ({procs:?})",
            cgroup_dir(ctrl, &path).display()
        );
    }
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    assert!(
        own.lines().any(|l| l.ends_with(&path)),
        "/proc/{pid}/cgroup does not name {path}:\n{own}"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn pause_and_resume() {
    let rt = runtime();
    let (c, _b, path) = limited(&rt);
    c.pause().expect_success("pause");
    let st = c.expect_state();
    assert_eq!(st.status, "paused", "status after pause; state: {}", st.raw);
    if cgroup_layout() == CgroupLayout::V1 {
        assert_eq!(
            read_cgroup_file("freezer", &path, "freezer.state"),
            "FROZEN",
            "freezer state after pause"
        );
    }
    c.resume().expect_success("resume");
    let st = c.expect_state();
    assert_eq!(
        st.status, "running",
        "status after resume; state: {}",
        st.raw
    );
    if cgroup_layout() == CgroupLayout::V1 {
        assert_eq!(
            read_cgroup_file("freezer", &path, "freezer.state"),
            "THAWED",
            "freezer state after resume"
        );
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn ps_lists_the_container_processes() {
    let rt = runtime();
    let (c, _b, _path) = limited(&rt);
    let pid = c.expect_state().pid.expect("a running container has a pid");
    let out = c
        .ps(&["--format", "json"])
        .expect_success("ps --format json");
    let pids: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("ps --format json must print a JSON array ({e}); {out}"));
    assert!(
        pids.as_array().is_some_and(|a| a.contains(&json!(pid))),
        "ps --format json must list pid {pid}; {out}"
    );
    let out = c.ps(&[]).expect_success("ps");
    let header = out.stdout.lines().next().unwrap_or("");
    assert!(
        header.contains("PID"),
        "ps (table) must print a header with PID; {out}"
    );
    assert!(
        out.stdout
            .lines()
            .skip(1)
            .any(|l| l.split_whitespace().any(|w| w == pid.to_string())),
        "ps (table) must list pid {pid}; {out}"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn update_changes_limits() {
    let rt = runtime();
    let (c, _b, path) = limited(&rt);
    c.update(&["--memory", "128M"], None)
        .expect_success("update --memory 128M");
    assert_eq!(
        memory_limit(&path),
        (128 * MIB).to_string(),
        "memory limit after update --memory 128M"
    );

    let resources = json!({ "memory": { "limit": 96 * MIB }, "pids": { "limit": 99 } });
    c.update(
        &["--resources", "-"],
        Some(resources.to_string().as_bytes()),
    )
    .expect_success("update --resources -");
    assert_eq!(
        memory_limit(&path),
        (96 * MIB).to_string(),
        "memory limit after update --resources -"
    );
    assert_eq!(
        read_cgroup_file("pids", &path, "pids.max"),
        "99",
        "pids limit after update --resources -"
    );
    let st = c.expect_state();
    assert_eq!(
        st.status, "running",
        "the container keeps running across updates; state: {}",
        st.raw
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn events_stats_reports_usage() {
    let rt = runtime();
    let (c, _b, _path) = limited(&rt);
    std::thread::sleep(Duration::from_millis(50));
    let out = c.stats().expect_success("events --stats");
    let j: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("events --stats must print JSON ({e}); {out}"));
    assert_eq!(j["type"], json!("stats"), "event type; {out}");
    assert_eq!(j["id"], json!(c.id()), "event id; {out}");
    let usage = j["data"]["memory"]["usage"]["usage"].as_u64().unwrap_or(0);
    assert!(
        usage > 0,
        "data.memory.usage.usage must be the (non-zero) memory usage; {out}"
    );
    let current = j["data"]["pids"]["current"].as_u64().unwrap_or(0);
    assert!(
        current >= 1,
        "data.pids.current must count the sleeping process; {out}"
    );
}
