//! Namespaces: new ones for each listed type, the host's for unlisted types,
//! user-namespace id maps, time offsets, and joining an existing namespace by path.

use crate::runtime;
use berth_conformance::host::{ns_link, HelperProcess};
use berth_conformance::{skip_if_lacking, Bundle, Gap};
use serde_json::{json, Value};

fn ints(s: &str) -> Vec<i64> {
    s.split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect()
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn listed_namespaces_are_new() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.checker(&["ns"]);
    let out = rt.run(&b).expect_success("run checker ns");
    let j = out.json();
    for (typ, link) in [
        ("pid", "pid"),
        ("network", "net"),
        ("ipc", "ipc"),
        ("uts", "uts"),
        ("mount", "mnt"),
        ("cgroup", "cgroup"),
    ] {
        let inside = j["ns"][link].as_str().unwrap_or_default();
        let host = ns_link("self", link);
        assert!(
            !inside.is_empty() && inside != host,
            "config lists a {typ} namespace: expected a new one, the container is in {inside:?}, the host in {host:?}"
        );
    }
    let user = j["ns"]["user"].as_str().unwrap_or_default();
    assert_eq!(
        user,
        ns_link("self", "user"),
        "no user namespace configured: expected the host's"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn unlisted_namespaces_are_shared_with_the_host() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.remove_namespaces(&["ipc", "uts", "network", "cgroup"]);
    // Without a network namespace sysfs may not be mounted; it is not needed here.
    b.mounts()
        .retain(|m| m["type"] != "sysfs" && m["type"] != "cgroup");
    b.config["hostname"] = Value::Null;
    b.checker(&["ns"]);
    let out = rt.run(&b).expect_success("run checker ns");
    let j = out.json();
    for link in ["ipc", "uts", "net", "cgroup"] {
        assert_eq!(
            j["ns"][link].as_str().unwrap_or_default(),
            ns_link("self", link),
            "no {link} namespace configured: the container must share the host's"
        );
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn pid_namespace_makes_the_process_pid_1() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.checker(&["ns"]);
    let out = rt.run(&b).expect_success("run checker ns");
    assert_eq!(
        out.json()["pid"],
        json!(1),
        "pid inside a new pid namespace; {out}"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn uts_namespace_sets_hostname() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.config["hostname"] = json!("berth-uts-test");
    b.checker(&["hostname"]);
    let out = rt.run(&b).expect_success("run checker hostname");
    assert_eq!(
        out.json()["hostname"],
        json!("berth-uts-test"),
        "hostname; {out}"
    );
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    assert_ne!(host.trim(), "berth-uts-test", "the host's hostname changed");
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn uts_namespace_sets_domainname() {
    let rt = runtime();
    skip_if_lacking!(rt, Gap::Domainname);
    let mut b = Bundle::new();
    b.config["domainname"] = json!("conformance.example");
    b.checker(&["hostname"]);
    let out = rt.run(&b).expect_success("run checker hostname");
    assert_eq!(
        out.json()["domainname"],
        json!("conformance.example"),
        "domainname; {out}"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn network_namespace_has_only_loopback() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.checker(&["ns"]);
    let out = rt.run(&b).expect_success("run checker ns");
    assert_eq!(
        out.json()["net_devices"],
        json!(["lo"]),
        "interfaces in a new network namespace; {out}"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn cgroup_namespace_roots_the_container_cgroups() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.linux()["cgroupsPath"] = json!(format!("/{}", berth_conformance::unique_id("cgns")));
    b.checker(&["ns"]);
    let out = rt.run(&b).expect_success("run checker ns");
    let cgroups = out.json()["cgroup"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for line in cgroups.lines().filter(|l| !l.is_empty()) {
        let path = line.splitn(3, ':').nth(2).unwrap_or("");
        assert_eq!(
            path, "/",
            "inside a cgroup namespace every hierarchy must read \"/\": {line:?} in\n{cgroups}"
        );
    }
}

fn user_ns_bundle() -> Bundle {
    let mut b = Bundle::new();
    b.set_namespace("user", None);
    b.linux()["uidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    b.linux()["gidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    b
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn user_namespace_maps_ids() {
    let rt = runtime();
    let mut b = user_ns_bundle();
    b.checker(&["ns"]);
    let out = rt
        .run(&b)
        .expect_success("run checker ns in a user namespace");
    let j = out.json();
    assert_eq!(
        ints(j["uid_map"].as_str().unwrap_or("")),
        vec![0, 100000, 65536],
        "uid_map inside; {out}"
    );
    assert_eq!(
        ints(j["gid_map"].as_str().unwrap_or("")),
        vec![0, 100000, 65536],
        "gid_map inside; {out}"
    );
    assert_ne!(
        j["ns"]["user"].as_str().unwrap_or(""),
        ns_link("self", "user"),
        "expected a new user namespace"
    );

    // From the host, the container's root is uid 100000.
    let mut b = user_ns_bundle();
    b.args(&["/bin/sleep", "1000"]);
    let c = rt.start_container(&b);
    let pid = c.expect_state().pid.expect("running container has a pid");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("reading the container's status");
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap_or("");
    assert_eq!(
        ints(uid_line.trim_start_matches("Uid:")),
        vec![100000; 4],
        "host view of the container's uids: {uid_line}"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn time_namespace_applies_offsets() {
    let rt = runtime();
    skip_if_lacking!(rt, Gap::TimeNamespace);
    if !std::path::Path::new("/proc/self/ns/time").exists() {
        eprintln!("SKIP: the kernel has no time namespaces");
        return;
    }
    let mut b = Bundle::new();
    b.set_namespace("time", None);
    b.linux()["timeOffsets"] = json!({
        "monotonic": { "secs": 86400, "nanosecs": 0 },
        "boottime": { "secs": 172800, "nanosecs": 0 }
    });
    b.checker(&["ns"]);
    let out = rt
        .run(&b)
        .expect_success("run checker ns with time offsets");
    let j = out.json();
    let offsets = j["timens_offsets"].as_str().unwrap_or("").to_string();
    let row = |clock: &str| {
        offsets
            .lines()
            .find(|l| l.starts_with(clock))
            .map(ints)
            .unwrap_or_default()
    };
    assert_eq!(
        row("monotonic"),
        vec![86400, 0],
        "monotonic offset in /proc/self/timens_offsets:\n{offsets}"
    );
    assert_eq!(
        row("boottime"),
        vec![172800, 0],
        "boottime offset in /proc/self/timens_offsets:\n{offsets}"
    );
    let uptime: f64 = j["uptime"]
        .as_str()
        .unwrap_or("0")
        .split_whitespace()
        .next()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0.0);
    assert!(
        uptime >= 172800.0,
        "uptime inside must include the boottime offset, got {uptime}"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn joins_an_existing_network_namespace_by_path() {
    let rt = runtime();
    let holder = HelperProcess::spawn(&["/usr/bin/unshare", "--net", "/bin/sleep", "1000"]);
    let target = holder.wait_own_namespace("net");
    let mut b = Bundle::new();
    b.set_namespace("network", Some(&format!("/proc/{}/ns/net", holder.pid())));
    b.checker(&["ns"]);
    let out = rt
        .run(&b)
        .expect_success("run joining a network namespace by path");
    assert_eq!(
        out.json()["ns"]["net"].as_str().unwrap_or(""),
        target,
        "the container must be in the network namespace at the given path; {out}"
    );
}
