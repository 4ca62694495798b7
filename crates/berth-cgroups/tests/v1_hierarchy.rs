//! Root integration test on the host's real cgroup v1 hierarchies (and, on a
//! hybrid host, the v2 side for hugetlb): create, apply limits, read them
//! back, move processes in, check device rules from inside, freeze and thaw a
//! busy process, read stats, destroy.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use berth_cgroups::{Cgroup, Layout, Mode};
use common::{proc_stat, unique, Guard, Script};
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxHugepageLimitBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources,
    LinuxResourcesBuilder,
};

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
        .trim()
        .to_string()
}

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

const MIB: i64 = 1024 * 1024;

fn resources(swap: bool, hugetlb: bool) -> LinuxResources {
    let mut mem = LinuxMemoryBuilder::default()
        .limit(64 * MIB)
        .reservation(32 * MIB)
        .swappiness(10u64);
    if swap {
        mem = mem.swap(128 * MIB);
    }
    let mut r = LinuxResourcesBuilder::default()
        .memory(mem.build().unwrap())
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(50_000)
                .period(100_000u64)
                .cpus("0")
                .mems("0")
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(32).build().unwrap())
        .devices(vec![
            dev(false, LinuxDeviceType::A, None, None, "rwm"),
            dev(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"), // /dev/null
            dev(true, LinuxDeviceType::C, Some(1), Some(5), "rwm"), // /dev/zero
                                                                    // /dev/full (1:7) stays denied
        ])
        .build()
        .unwrap();
    if hugetlb {
        r.set_hugepage_limits(Some(vec![LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(2 * 2 * MIB)
            .build()
            .unwrap()]));
    }
    r
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn real_v1_cgroup_lifecycle() {
    let layout = Layout::detect().unwrap();
    if layout.mode() == Mode::Unified {
        eprintln!("skipping real_v1_cgroup_lifecycle: this host has no cgroup v1 hierarchies");
        return;
    }
    let name = unique("v1");
    let cg = Cgroup::new(Some(&name), "unused", false).unwrap();
    let mut guard = Guard::new(cg.clone());
    let paths = cg.paths();
    let memory = paths["memory"].clone();
    let swap = layout
        .v1_mount("memory")
        .is_some_and(|m| m.mount_point.join("memory.memsw.limit_in_bytes").exists());
    // Hybrid hosts whose v1 side lacks hugetlb get it from the v2 side.
    let v2_offers_hugetlb = layout.unified.as_ref().is_some_and(|u| {
        std::fs::read_to_string(u.mount_point.join("cgroup.controllers"))
            .unwrap_or_default()
            .split_whitespace()
            .any(|c| c == "hugetlb")
    });
    let hugetlb_v2 = layout.mode() == Mode::Hybrid
        && layout.v1_mount("hugetlb").is_none()
        && v2_offers_hugetlb
        && Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists();
    if hugetlb_v2 {
        let u = layout.unified.as_ref().unwrap().mount_point.clone();
        guard.keep_subtree_control(u, "hugetlb");
    }

    cg.create().unwrap();
    for (c, dir) in &paths {
        assert!(dir.is_dir(), "{c}: {} was not created", dir.display());
    }
    cg.apply(&resources(swap, hugetlb_v2)).unwrap();

    // The kernel holds what was asked.
    assert_eq!(
        read(&memory, "memory.limit_in_bytes"),
        (64 * MIB).to_string()
    );
    assert_eq!(
        read(&memory, "memory.soft_limit_in_bytes"),
        (32 * MIB).to_string()
    );
    assert_eq!(read(&memory, "memory.swappiness"), "10");
    if swap {
        assert_eq!(
            read(&memory, "memory.memsw.limit_in_bytes"),
            (128 * MIB).to_string()
        );
    }
    let cpu = &paths["cpu"];
    assert_eq!(read(cpu, "cpu.shares"), "512");
    assert_eq!(read(cpu, "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(cpu, "cpu.cfs_period_us"), "100000");
    assert_eq!(read(&paths["cpuset"], "cpuset.cpus"), "0");
    assert_eq!(read(&paths["cpuset"], "cpuset.mems"), "0");
    assert_eq!(read(&paths["pids"], "pids.max"), "32");
    let mut list: Vec<String> = read(&paths["devices"], "devices.list")
        .lines()
        .map(str::to_string)
        .collect();
    list.sort();
    assert_eq!(list, ["c 1:3 rwm", "c 1:5 rwm"]);
    if hugetlb_v2 {
        assert_eq!(read(&paths[""], "hugetlb.2MB.max"), (4 * MIB).to_string());
    }

    // Updating to the same devices writes nothing and keeps the list.
    cg.apply(
        &LinuxResourcesBuilder::default()
            .devices(resources(swap, false).devices().clone().unwrap())
            .build()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(read(&paths["devices"], "devices.list").lines().count(), 2);

    // A busy process, and one that checks device access from inside.
    guard.children.push(Script::spawn("while :; do :; done"));
    let busy = guard.children[0].pid();
    cg.add_process(busy).unwrap();
    guard.children.push(Script::spawn(
        "read _; \
         if cat /dev/null; then echo null-ok; else echo null-denied; fi; \
         if head -c1 /dev/full >/dev/null; then echo full-ok; else echo full-denied; fi",
    ));
    let checker = guard.children[1].pid();
    cg.add_process(checker).unwrap();
    let mut pids = cg.pids().unwrap();
    pids.sort();
    let mut want = vec![busy, checker];
    want.sort();
    assert_eq!(pids, want);
    for dir in paths.values() {
        let procs = read(dir, "cgroup.procs");
        assert!(
            procs.lines().any(|l| l == busy.to_string()),
            "{} lacks {busy}",
            dir.display()
        );
    }
    let c = &mut guard.children[1];
    c.go();
    assert_eq!(c.line(), "null-ok");
    assert_eq!(c.line(), "full-denied");
    c.wait();
    assert_eq!(cg.pids().unwrap(), [busy]);

    // Freeze: the busy loop stops burning CPU.
    cg.freeze().unwrap();
    assert_eq!(read(&paths["freezer"], "freezer.state"), "FROZEN");
    assert!(cg.is_frozen().unwrap());
    let (state, t0) = proc_stat(busy);
    assert_ne!(state, 'R', "a frozen task must not be running");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(proc_stat(busy).1, t0, "a frozen task used CPU");

    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc_stat(busy).1 == t0 {
        assert!(Instant::now() < deadline, "the thawed task never ran again");
        std::thread::sleep(Duration::from_millis(20));
    }

    let s = cg.stats().unwrap();
    assert!(s.cpu.usage.total > 0, "{s:?}");
    assert_eq!(s.memory.usage.limit, (64 * MIB) as u64);
    assert!(s.memory.usage.usage > 0);
    assert!(s.memory.raw.contains_key("rss") || s.memory.raw.contains_key("anon"));
    assert_eq!(s.pids.current, 1);
    assert_eq!(s.pids.limit, 32);
    assert_eq!(s.cpuset.cpus, [0]);
    if hugetlb_v2 {
        assert!(s.hugetlb.contains_key("2MB"), "{:?}", s.hugetlb);
    }
    let json = serde_json::to_value(&s).unwrap();
    assert!(json["cpu"]["usage"]["total"].as_u64().unwrap() > 0);

    // Destroy refuses nothing once the task is gone, and leaves no directory.
    guard.children.clear();
    cg.destroy().unwrap();
    for (c, dir) in &paths {
        assert!(!dir.exists(), "{c}: {} still exists", dir.display());
    }
    cg.destroy().unwrap(); // already gone: fine
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn write_errors_name_file_and_value() {
    let layout = Layout::detect().unwrap();
    if layout.v1_mount("cpu").is_none() {
        eprintln!("skipping write_errors_name_file_and_value: no v1 cpu hierarchy");
        return;
    }
    let cg = Cgroup::with_root(layout, &unique("errors"));
    let _guard = Guard::new(cg.clone());
    cg.create().unwrap();
    // The kernel refuses a CFS period of 1us.
    let r = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().period(1u64).build().unwrap())
        .build()
        .unwrap();
    let e = cg.apply(&r).unwrap_err().to_string();
    let file = cg.v1_dir("cpu").unwrap().join("cpu.cfs_period_us");
    assert_eq!(
        e,
        format!("writing \"1\" to {}: Invalid argument", file.display())
    );
}

#[test]
fn relative_paths_resolve_below_our_own_cgroups() {
    // Pure computation: nothing is created under our own cgroup.
    let cg = Cgroup::new(Some("berth-rel/c1"), "c1", false).unwrap();
    let own = berth_cgroups::ProcCgroups::of_self().unwrap();
    for d in cg.v1_dirs() {
        let base = d.controllers.iter().find_map(|c| own.v1.get(c)).unwrap();
        let want = d
            .mount_point
            .join(base.trim_start_matches('/'))
            .join("berth-rel/c1");
        assert_eq!(d.dir, want);
    }
}
