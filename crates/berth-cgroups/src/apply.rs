//! Applying `LinuxResources` (at create, and again for `update`). Everything
//! that can be refused without touching the kernel — bad values, controllers
//! the host lacks — is checked first, so a refused update changes nothing;
//! then each controller's files are written in runc's order.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxNetwork, LinuxPids, LinuxRdma,
    LinuxResources,
};

use crate::controllers::{blkio, cpu, cpuset, hugetlb, memory, network, pids, rdma, unified};
use crate::devices::{self, Emulator};
use crate::{Cgroup, CgroupError, Mode, Target};

/// What `apply` will write, and where: settled before the first write.
#[derive(Default)]
struct Plan<'a> {
    cpuset: Option<(Target<'a>, &'a LinuxCpu)>,
    devices: Option<(Target<'a>, Emulator)>,
    memory: Option<(Target<'a>, &'a LinuxMemory)>,
    cpu: Option<(Target<'a>, &'a LinuxCpu)>,
    pids: Option<(Target<'a>, &'a LinuxPids)>,
    blkio: Option<(Target<'a>, &'a LinuxBlockIo)>,
    hugetlb: Option<(Target<'a>, &'a [LinuxHugepageLimit])>,
    net_cls: Option<(&'a Path, &'a LinuxNetwork)>,
    net_prio: Option<(&'a Path, &'a LinuxNetwork)>,
    rdma: Option<(Target<'a>, &'a HashMap<String, LinuxRdma>)>,
    unified: Option<(&'a Path, &'a HashMap<String, String>)>,
    /// v2 controllers to enable in the ancestors first.
    enable: Vec<String>,
}

fn is_v2(t: &Target<'_>) -> bool {
    matches!(t, Target::V2(_))
}

impl Cgroup {
    /// Writes `r` into the cgroup. Used at creation and by `update`: unset
    /// fields leave the current values alone. Input the kernel could never
    /// take, or resources whose controller this host lacks, fail before
    /// anything is written.
    pub fn apply(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let plan = self.plan(r)?;
        if !plan.enable.is_empty() {
            let names: Vec<&str> = plan.enable.iter().map(String::as_str).collect();
            self.enable_controllers(&names, true)?;
        }
        if let Some((t, c)) = plan.cpuset {
            cpuset::set(t, c)?;
        }
        if let Some((t, e)) = &plan.devices {
            match t {
                Target::V1(dir) => devices::v1::set(dir, e)?,
                Target::V2(dir) => devices::v2::set(dir, e)?,
            }
        }
        if let Some((t, m)) = plan.memory {
            memory::set(t, m)?;
        }
        if let Some((t, c)) = plan.cpu {
            cpu::set(t, c)?;
        }
        if let Some((t, p)) = plan.pids {
            pids::set(t, p)?;
        }
        if let Some((t, b)) = plan.blkio {
            blkio::set(t, b)?;
        }
        if let Some((t, h)) = plan.hugetlb {
            hugetlb::set(t, h)?;
        }
        if let Some((dir, n)) = plan.net_cls {
            network::set_class(dir, n)?;
        }
        if let Some((dir, n)) = plan.net_prio {
            network::set_priorities(dir, n)?;
        }
        if let Some((t, m)) = plan.rdma {
            rdma::set(t, m)?;
        }
        if let Some((dir, u)) = plan.unified {
            unified::set(dir, u)?;
        }
        Ok(())
    }

    fn plan<'a>(&'a self, r: &'a LinuxResources) -> Result<Plan<'a>, CgroupError> {
        let mut p = Plan::default();
        let enable = |p: &mut Plan<'a>, t: &Target<'a>, name: &str| {
            if is_v2(t) && !p.enable.iter().any(|n| n == name) {
                p.enable.push(name.to_string());
            }
        };

        if let Some(c) = r.cpu() {
            if cpuset::wanted(c) {
                cpuset::validate(c)?;
                let t = self.require("cpuset", Some("cpuset"), "cpuset cpus/mems")?;
                enable(&mut p, &t, "cpuset");
                p.cpuset = Some((t, c));
            }
            if cpu::wanted(c) {
                let t = self.require("cpu", Some("cpu"), "cpu shares/quota/period")?;
                cpu::validate(c, is_v2(&t))?;
                enable(&mut p, &t, "cpu");
                p.cpu = Some((t, c));
            }
        }
        if let Some(list) = r.devices() {
            let e = Emulator::from_oci(list)?;
            let t = self.require("devices", Some("devices"), "device rules")?;
            p.devices = Some((t, e));
        }
        if let Some(m) = r.memory() {
            let t = self.target("memory", Some("memory"))?;
            let v2 = t.as_ref().is_some_and(is_v2);
            if memory::wanted(m, v2) {
                memory::validate(m, v2)?;
                let t = self.require("memory", Some("memory"), "memory limits")?;
                enable(&mut p, &t, "memory");
                p.memory = Some((t, m));
            }
        }
        if let Some(pl) = r.pids() {
            let t = self.require("pids", Some("pids"), "pids limit")?;
            enable(&mut p, &t, "pids");
            p.pids = Some((t, pl));
        }
        if let Some(b) = r.block_io() {
            if blkio::wanted(b) {
                let t = self.require("blkio", Some("io"), "block I/O limits")?;
                blkio::validate(b, is_v2(&t))?;
                enable(&mut p, &t, "io");
                p.blkio = Some((t, b));
            }
        }
        if let Some(h) = r.hugepage_limits().as_deref().filter(|h| !h.is_empty()) {
            hugetlb::validate(h)?;
            let t = self.require("hugetlb", Some("hugetlb"), "hugepage limits")?;
            enable(&mut p, &t, "hugetlb");
            p.hugetlb = Some((t, h));
        }
        if let Some(n) = r.network() {
            network::validate(n)?;
            if network::wants_class(n) {
                // No v2 name: only a v1 hierarchy can be found.
                let (Target::V1(dir) | Target::V2(dir)) =
                    self.require("net_cls", None, "network classID")?;
                p.net_cls = Some((dir, n));
            }
            if network::wants_priorities(n) {
                let (Target::V1(dir) | Target::V2(dir)) =
                    self.require("net_prio", None, "network priorities")?;
                p.net_prio = Some((dir, n));
            }
        }
        if let Some(m) = r.rdma().as_ref().filter(|m| !m.is_empty()) {
            rdma::validate(m)?;
            if !rdma::lines(m).is_empty() {
                let t = self.require("rdma", Some("rdma"), "rdma limits")?;
                enable(&mut p, &t, "rdma");
                p.rdma = Some((t, m));
            }
        }
        if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
            unified::validate(u)?;
            let dir = match (&self.unified, self.mode) {
                (Some(d), Mode::Unified) => d.dir.as_path(),
                _ => {
                    return Err(CgroupError::invalid(
                        "unified resources",
                        format!("they need cgroup v2, and this host is {}", self.mode),
                    ))
                }
            };
            let available = self.v2_available()?;
            for c in unified::controllers(u) {
                if available.iter().any(|a| a == c) && !p.enable.iter().any(|n| n == c) {
                    p.enable.push(c.to_string());
                }
            }
            p.unified = Some((dir, u));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::tests::oci;
    use crate::fs::log;
    use crate::testutil::{seed, TempDir};
    use crate::{Layout, UnifiedMount, V1Mount};
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxHugepageLimitBuilder, LinuxMemoryBuilder,
        LinuxNetworkBuilder, LinuxPidsBuilder, LinuxResourcesBuilder, LinuxThrottleDeviceBuilder,
    };
    use std::path::PathBuf;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn rich() -> LinuxResources {
        let td = |rate: u64| {
            LinuxThrottleDeviceBuilder::default()
                .major(8)
                .minor(0)
                .rate(rate)
                .build()
                .unwrap()
        };
        LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(268_435_456)
                    .reservation(134_217_728)
                    .swap(536_870_912)
                    .swappiness(0u64)
                    .disable_oom_killer(true)
                    .build()
                    .unwrap(),
            )
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
            .pids(LinuxPidsBuilder::default().limit(64).build().unwrap())
            .block_io(
                LinuxBlockIoBuilder::default()
                    .throttle_read_bps_device(vec![td(1_048_576)])
                    .throttle_write_iops_device(vec![td(100)])
                    .build()
                    .unwrap(),
            )
            .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
                .page_size("2MB")
                .limit(2_097_152)
                .build()
                .unwrap()])
            .devices(vec![
                oci(false, "a", None, None, "rwm"),
                oci(true, "c", Some(1), Some(3), "rwm"),
                oci(true, "c", Some(1), Some(5), "rwm"),
            ])
            .build()
            .unwrap()
    }

    /// A fake of this host: v1 controllers each on their own mount, and
    /// hugetlb only on the v2 side.
    fn fake_hybrid(t: &TempDir) -> (Layout, PathBuf) {
        let root = t.path().to_path_buf();
        let mut v1 = Vec::new();
        let mut files: Vec<(&str, Vec<(&str, &str)>)> = vec![
            (
                "cpu",
                vec![
                    ("cpu.shares", ""),
                    ("cpu.cfs_period_us", ""),
                    ("cpu.cfs_quota_us", ""),
                ],
            ),
            ("cpuacct", vec![]),
            ("cpuset", vec![("cpuset.cpus", ""), ("cpuset.mems", "")]),
            (
                "memory",
                vec![
                    ("memory.limit_in_bytes", "9223372036854771712\n"),
                    ("memory.memsw.limit_in_bytes", "9223372036854771712\n"),
                    ("memory.soft_limit_in_bytes", ""),
                    ("memory.oom_control", ""),
                    ("memory.swappiness", ""),
                ],
            ),
            (
                "devices",
                vec![
                    ("devices.list", "a *:* rwm\n"),
                    ("devices.allow", ""),
                    ("devices.deny", ""),
                ],
            ),
            ("freezer", vec![]),
            (
                "blkio",
                vec![
                    ("blkio.throttle.read_bps_device", ""),
                    ("blkio.throttle.write_iops_device", ""),
                ],
            ),
            ("pids", vec![("pids.max", "")]),
            ("systemd", vec![]),
        ];
        for (name, f) in files.drain(..) {
            let mount = root.join(name);
            seed(&mount.join("berth/c1"), &f);
            // cpuset parents as the kernel would show them
            seed(&mount, &[("cpuset.cpus", "0-1\n"), ("cpuset.mems", "0\n")]);
            seed(
                &mount.join("berth"),
                &[("cpuset.cpus", "0-1\n"), ("cpuset.mems", "0\n")],
            );
            v1.push(V1Mount {
                mount_point: mount,
                root: "/".into(),
                controllers: vec![if name == "systemd" {
                    "name=systemd".into()
                } else {
                    name.into()
                }],
            });
        }
        let unified = root.join("unified");
        seed(
            &unified,
            &[
                ("cgroup.controllers", "hugetlb\n"),
                ("cgroup.subtree_control", ""),
            ],
        );
        seed(&unified.join("berth"), &[("cgroup.subtree_control", "")]);
        seed(
            &unified.join("berth/c1"),
            &[("hugetlb.2MB.max", ""), ("hugetlb.2MB.rsvd.max", "")],
        );
        (
            Layout {
                v1,
                unified: Some(UnifiedMount {
                    mount_point: unified,
                    root: "/".into(),
                }),
            },
            root,
        )
    }

    #[test]
    fn hybrid_rich_resources_exact_writes() {
        let t = TempDir::new();
        let (layout, root) = fake_hybrid(&t);
        let cg = Cgroup::with_root(layout, "/berth/c1");
        log::take(&root);
        cg.apply(&rich()).unwrap();
        assert_eq!(
            log::take(&root),
            pairs(&[
                ("unified/cgroup.subtree_control", "+hugetlb"),
                ("unified/berth/cgroup.subtree_control", "+hugetlb"),
                ("cpuset/berth/c1/cpuset.cpus", "0"),
                ("cpuset/berth/c1/cpuset.mems", "0"),
                ("devices/berth/c1/devices.deny", "a *:* rwm"),
                ("devices/berth/c1/devices.allow", "c 1:3 rwm"),
                ("devices/berth/c1/devices.allow", "c 1:5 rwm"),
                ("memory/berth/c1/memory.limit_in_bytes", "268435456"),
                ("memory/berth/c1/memory.memsw.limit_in_bytes", "536870912"),
                ("memory/berth/c1/memory.soft_limit_in_bytes", "134217728"),
                ("memory/berth/c1/memory.oom_control", "1"),
                ("memory/berth/c1/memory.swappiness", "0"),
                ("cpu/berth/c1/cpu.shares", "512"),
                ("cpu/berth/c1/cpu.cfs_period_us", "100000"),
                ("cpu/berth/c1/cpu.cfs_quota_us", "50000"),
                ("pids/berth/c1/pids.max", "64"),
                (
                    "blkio/berth/c1/blkio.throttle.read_bps_device",
                    "8:0 1048576"
                ),
                ("blkio/berth/c1/blkio.throttle.write_iops_device", "8:0 100"),
                ("unified/berth/c1/hugetlb.2MB.max", "2097152"),
                ("unified/berth/c1/hugetlb.2MB.rsvd.max", "2097152"),
            ])
        );
    }

    #[test]
    fn refusals_write_nothing() {
        let t = TempDir::new();
        let (layout, root) = fake_hybrid(&t);
        let cg = Cgroup::with_root(layout, "/berth/c1");
        log::take(&root);
        let mut r = rich();
        r.set_network(Some(
            LinuxNetworkBuilder::default()
                .class_id(1u32)
                .build()
                .unwrap(),
        ));
        let e = cg.apply(&r).unwrap_err().to_string();
        assert_eq!(
            e,
            "cannot set network classID: the net_cls cgroup controller is not available on this host (cgroup v1 + v2 hybrid)"
        );
        let mut r = rich();
        let mut u = HashMap::new();
        u.insert("memory.high".to_string(), "1".to_string());
        r.set_unified(Some(u));
        assert!(cg
            .apply(&r)
            .unwrap_err()
            .to_string()
            .contains("need cgroup v2"));
        let mut r = rich();
        r.set_hugepage_limits(Some(vec![LinuxHugepageLimitBuilder::default()
            .page_size("../x")
            .limit(1)
            .build()
            .unwrap()]));
        assert!(cg.apply(&r).is_err());
        let mut r = rich();
        r.set_devices(Some(vec![oci(true, "p", None, None, "rwm")]));
        assert!(cg.apply(&r).is_err());
        assert!(log::take(&root).is_empty());
    }

    #[test]
    fn unset_resources_write_nothing() {
        let t = TempDir::new();
        let (layout, root) = fake_hybrid(&t);
        let cg = Cgroup::with_root(layout, "/berth/c1");
        log::take(&root);
        cg.apply(&LinuxResources::default()).unwrap();
        // Zeroes mean "unset", as in runc.
        let r = LinuxResourcesBuilder::default()
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(0u64)
                    .quota(0)
                    .build()
                    .unwrap(),
            )
            .memory(LinuxMemoryBuilder::default().limit(0).build().unwrap())
            .block_io(LinuxBlockIoBuilder::default().weight(0u16).build().unwrap())
            .build()
            .unwrap();
        cg.apply(&r).unwrap();
        assert!(log::take(&root).is_empty());
    }

    /// A fake pure v2 host.
    fn fake_unified(t: &TempDir) -> Cgroup {
        let root = t.path().to_path_buf();
        seed(
            &root,
            &[
                (
                    "cgroup.controllers",
                    "cpuset cpu io memory hugetlb pids rdma\n",
                ),
                ("cgroup.subtree_control", ""),
            ],
        );
        seed(&root.join("default"), &[("cgroup.subtree_control", "")]);
        seed(
            &root.join("default/c1"),
            &[
                ("cpu.weight", ""),
                ("cpu.max", ""),
                ("cpuset.cpus", ""),
                ("cpuset.mems", ""),
                ("memory.max", ""),
                ("memory.low", ""),
                ("memory.swap.max", ""),
                ("memory.high", ""),
                ("pids.max", ""),
                ("io.max", ""),
                ("io.weight", "default 100\n"),
                ("hugetlb.2MB.max", ""),
                ("hugetlb.2MB.rsvd.max", ""),
            ],
        );
        Cgroup::with_root(Layout::unified_at(root), "/default/c1")
    }

    #[test]
    fn unified_rich_resources_exact_writes() {
        let t = TempDir::new();
        let cg = fake_unified(&t);
        let mut r = rich();
        r.set_devices(None); // the eBPF part is tested on the real kernel
        let mut u = HashMap::new();
        u.insert("memory.high".to_string(), "200000000".to_string());
        r.set_unified(Some(u));
        r.block_io_mut().as_mut().unwrap().set_weight(Some(100));
        log::take(t.path());
        cg.apply(&r).unwrap();
        assert_eq!(
            log::take(t.path()),
            pairs(&[
                (
                    "cgroup.subtree_control",
                    "+cpuset +cpu +memory +pids +io +hugetlb"
                ),
                (
                    "default/cgroup.subtree_control",
                    "+cpuset +cpu +memory +pids +io +hugetlb"
                ),
                ("default/c1/cpuset.cpus", "0"),
                ("default/c1/cpuset.mems", "0"),
                ("default/c1/memory.swap.max", "268435456"),
                ("default/c1/memory.max", "268435456"),
                ("default/c1/memory.low", "134217728"),
                ("default/c1/cpu.weight", "20"),
                ("default/c1/cpu.max", "50000 100000"),
                ("default/c1/pids.max", "64"),
                ("default/c1/io.weight", "910"),
                ("default/c1/io.max", "8:0 rbps=1048576"),
                ("default/c1/io.max", "8:0 wiops=100"),
                ("default/c1/hugetlb.2MB.max", "2097152"),
                ("default/c1/hugetlb.2MB.rsvd.max", "2097152"),
                ("default/c1/memory.high", "200000000"),
            ])
        );
        // v1-only knobs are refused on v2 before anything is written.
        let mut r = LinuxResources::default();
        r.set_network(Some(
            LinuxNetworkBuilder::default()
                .class_id(7u32)
                .build()
                .unwrap(),
        ));
        assert!(cg.apply(&r).unwrap_err().to_string().contains("net_cls"));
        assert!(log::take(t.path()).is_empty());
    }
}
