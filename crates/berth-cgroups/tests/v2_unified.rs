//! Root integration test on a real cgroup v2 hierarchy (the host's only one,
//! or the v2 side of a hybrid host, treated as a pure v2 layout): the eBPF
//! device filter seen from inside a process, its replacement on update, the
//! v2 freezer, process listing and stats.

mod common;

use berth_cgroups::{Cgroup, Layout, UnifiedMount};
use berth_sys::bpf;
use common::{unique, Guard, Script};
use oci_spec::runtime::{
    LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxResourcesBuilder,
};
use std::os::fd::AsFd;

fn dev(
    allow: bool,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .typ(typ)
        .access(access);
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    b.build().unwrap()
}

fn attached_device_programs(dir: &std::path::Path) -> usize {
    let f = std::fs::File::open(dir).unwrap();
    bpf::prog_query(f.as_fd(), bpf::BPF_CGROUP_DEVICE)
        .unwrap()
        .len()
}

const CHECK: &str = "read _; \
    if cat /dev/null; then echo null-ok; else echo null-denied; fi; \
    if head -c1 /dev/zero >/dev/null; then echo zero-ok; else echo zero-denied; fi";

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn ebpf_device_filter_freezer_and_stats() {
    let host = Layout::detect().unwrap();
    let Some(unified) = host.unified.clone() else {
        eprintln!("skipping ebpf_device_filter_freezer_and_stats: no cgroup2 hierarchy mounted");
        return;
    };
    let layout = Layout {
        v1: Vec::new(),
        unified: Some(UnifiedMount {
            mount_point: unified.mount_point.clone(),
            root: "/".into(),
        }),
    };
    let cg = Cgroup::with_root(layout, &unique("v2"));
    let mut guard = Guard::new(cg.clone());
    // create() enables the root's controllers for us; put them back after.
    for c in std::fs::read_to_string(unified.mount_point.join("cgroup.controllers"))
        .unwrap()
        .split_whitespace()
    {
        guard.keep_subtree_control(unified.mount_point.clone(), c);
    }
    cg.create().unwrap();
    let dir = cg.unified_dir().unwrap().to_path_buf();
    assert!(dir.is_dir());

    // Everything allowed but reading /dev/null.
    let deny_null_read = LinuxResourcesBuilder::default()
        .devices(vec![
            dev(true, LinuxDeviceType::A, None, None, "rwm"),
            dev(false, LinuxDeviceType::C, Some(1), Some(3), "r"),
        ])
        .build()
        .unwrap();
    cg.apply(&deny_null_read).unwrap();
    assert_eq!(attached_device_programs(&dir), 1);

    guard.children.push(Script::spawn(CHECK));
    let pid = guard.children[0].pid();
    cg.add_process(pid).unwrap();
    assert_eq!(cg.pids().unwrap(), [pid]);
    let c = &mut guard.children[0];
    c.go();
    assert_eq!(c.line(), "null-denied");
    assert_eq!(c.line(), "zero-ok");
    c.wait();

    // An update replaces the filter rather than stacking a second one.
    let allow_all = LinuxResourcesBuilder::default()
        .devices(vec![dev(true, LinuxDeviceType::A, None, None, "rwm")])
        .build()
        .unwrap();
    cg.apply(&allow_all).unwrap();
    assert_eq!(attached_device_programs(&dir), 1);

    guard.children.push(Script::spawn(CHECK));
    let pid = guard.children[1].pid();
    cg.add_process(pid).unwrap();

    // Frozen, it cannot answer; thawed, it does.
    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    let events = std::fs::read_to_string(dir.join("cgroup.events")).unwrap();
    assert!(events.lines().any(|l| l == "frozen 1"), "{events}");
    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());

    let s = cg.stats().unwrap();
    assert_eq!(s.pids.current, 1);
    let c = &mut guard.children[1];
    c.go();
    assert_eq!(c.line(), "null-ok");
    assert_eq!(c.line(), "zero-ok");
    c.wait();

    // A whitelist: only /dev/zero.
    let only_zero = LinuxResourcesBuilder::default()
        .devices(vec![
            dev(false, LinuxDeviceType::A, None, None, "rwm"),
            dev(true, LinuxDeviceType::C, Some(1), Some(5), "r"),
        ])
        .build()
        .unwrap();
    cg.apply(&only_zero).unwrap();
    guard.children.push(Script::spawn(
        "read _; \
         if head -c1 /dev/zero >&2; then echo zero-read-ok; else echo zero-read-denied; fi; \
         if (exec 3>/dev/zero); then echo zero-write-ok; else echo zero-write-denied; fi; \
         if cat /dev/null; then echo null-ok; else echo null-denied; fi",
    ));
    let pid = guard.children[2].pid();
    cg.add_process(pid).unwrap();
    let c = &mut guard.children[2];
    c.go();
    assert_eq!(c.line(), "zero-read-ok");
    assert_eq!(c.line(), "zero-write-denied");
    assert_eq!(c.line(), "null-denied");
    c.wait();

    guard.children.clear();
    cg.destroy().unwrap();
    assert!(!dir.exists());
}
