//! Which cgroup hierarchies the host has and where they are mounted, read from
//! /proc/self/mountinfo: cgroup v1 (one mount per controller or per group of
//! controllers, e.g. `cpu,cpuacct`, plus `name=systemd`), cgroup v2 (one
//! `cgroup2` mount), or both ("hybrid"). Also parses /proc/self/cgroup, which
//! says where the calling process sits in each hierarchy.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use berth_sys::mountinfo::MountInfo;

use crate::CgroupError;

/// The controllers a v1 mount can carry (anything else in its super options
/// is a mount flag such as `rw`, `noprefix` or `release_agent=`).
const V1_CONTROLLERS: &[&str] = &[
    "cpuset",
    "cpu",
    "cpuacct",
    "blkio",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "debug",
];

/// How the host's cgroups are arranged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// cgroup v1 only.
    Legacy,
    /// cgroup v1 controllers plus a cgroup v2 hierarchy (systemd's "hybrid").
    Hybrid,
    /// cgroup v2 only.
    Unified,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Legacy => "cgroup v1",
            Mode::Hybrid => "cgroup v1 + v2 hybrid",
            Mode::Unified => "cgroup v2",
        })
    }
}

/// One mounted cgroup v1 hierarchy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct V1Mount {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/cpu,cpuacct`.
    pub mount_point: PathBuf,
    /// The cgroup the mount shows at its mount point (`/` unless this is a
    /// bind mount of a sub-cgroup, as inside some containers).
    pub root: String,
    /// Its controllers, e.g. `["cpu", "cpuacct"]`; a named hierarchy appears as
    /// `name=systemd`.
    pub controllers: Vec<String>,
}

/// The mounted cgroup v2 hierarchy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnifiedMount {
    /// Where it is mounted: `/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on
    /// hybrid hosts.
    pub mount_point: PathBuf,
    /// The cgroup the mount shows at its mount point.
    pub root: String,
}

/// The host's cgroup hierarchies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// cgroup v1 hierarchies (empty on a pure v2 host).
    pub v1: Vec<V1Mount>,
    /// The cgroup v2 hierarchy, if mounted.
    pub unified: Option<UnifiedMount>,
}

impl Layout {
    /// Reads the layout from /proc/self/mountinfo.
    pub fn detect() -> Result<Layout, CgroupError> {
        let path = "/proc/self/mountinfo";
        let text = std::fs::read_to_string(path).map_err(|error| CgroupError::Read {
            path: path.into(),
            error,
        })?;
        Layout::from_mountinfo(&text)
    }

    /// Parses mountinfo text (see proc(5)).
    pub fn from_mountinfo(text: &str) -> Result<Layout, CgroupError> {
        let mut v1: Vec<V1Mount> = Vec::new();
        let mut unified: Vec<UnifiedMount> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let m = MountInfo::parse(line).ok_or_else(|| {
                CgroupError::Layout(format!("malformed mountinfo line {}: {line:?}", n + 1))
            })?;
            // A later mount on the same point hides an earlier one.
            v1.retain(|x| x.mount_point != m.mount_point);
            unified.retain(|x| x.mount_point != m.mount_point);
            match m.fs_type.as_str() {
                "cgroup" => {
                    let controllers: Vec<String> = m
                        .super_options
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                        .map(str::to_string)
                        .collect();
                    if controllers.is_empty() {
                        continue;
                    }
                    let mount = V1Mount {
                        mount_point: m.mount_point,
                        root: m.root.to_string_lossy().into_owned(),
                        controllers,
                    };
                    // The same hierarchy can be mounted more than once (bind
                    // mounts); keep one, preferring the canonical place.
                    match v1
                        .iter()
                        .position(|x| x.controllers.iter().any(|c| mount.controllers.contains(c)))
                    {
                        Some(i) => {
                            if !is_canonical(&v1[i].mount_point) && is_canonical(&mount.mount_point)
                            {
                                v1[i] = mount;
                            }
                        }
                        None => v1.push(mount),
                    }
                }
                "cgroup2" => unified.push(UnifiedMount {
                    mount_point: m.mount_point,
                    root: m.root.to_string_lossy().into_owned(),
                }),
                _ => {}
            }
        }
        let rank = |u: &UnifiedMount| match u.mount_point.to_str() {
            Some("/sys/fs/cgroup") => 0,
            Some("/sys/fs/cgroup/unified") => 1,
            _ => 2,
        };
        let unified = unified.into_iter().min_by_key(rank);
        let has_v1_controllers = v1
            .iter()
            .any(|m| m.controllers.iter().any(|c| !c.starts_with("name=")));
        if !has_v1_controllers && unified.is_some() {
            // Pure v2 (a lone name=systemd v1 mount adds nothing we manage).
            v1.clear();
        }
        if v1.is_empty() && unified.is_none() {
            return Err(CgroupError::Layout(
                "no cgroup or cgroup2 filesystem is mounted".into(),
            ));
        }
        Ok(Layout { v1, unified })
    }

    /// A pure cgroup v2 layout mounted at `mount_point`.
    pub fn unified_at(mount_point: impl Into<PathBuf>) -> Layout {
        Layout {
            v1: Vec::new(),
            unified: Some(UnifiedMount {
                mount_point: mount_point.into(),
                root: "/".into(),
            }),
        }
    }

    /// Legacy, hybrid or unified.
    pub fn mode(&self) -> Mode {
        match (self.v1.is_empty(), self.unified.is_some()) {
            (true, _) => Mode::Unified,
            (false, true) => Mode::Hybrid,
            (false, false) => Mode::Legacy,
        }
    }

    /// The v1 hierarchy carrying `controller`.
    pub fn v1_mount(&self, controller: &str) -> Option<&V1Mount> {
        self.v1
            .iter()
            .find(|m| m.controllers.iter().any(|c| c == controller))
    }
}

fn is_canonical(p: &Path) -> bool {
    p.starts_with("/sys/fs/cgroup")
}

/// Where a process sits in each hierarchy, from /proc/PID/cgroup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcCgroups {
    /// v1 controller (or `name=...`) to cgroup path.
    pub v1: BTreeMap<String, String>,
    /// The cgroup v2 path (the `0::` line).
    pub unified: Option<String>,
}

impl ProcCgroups {
    /// Reads /proc/self/cgroup.
    pub fn of_self() -> Result<ProcCgroups, CgroupError> {
        let path = "/proc/self/cgroup";
        let text = std::fs::read_to_string(path).map_err(|error| CgroupError::Read {
            path: path.into(),
            error,
        })?;
        ProcCgroups::parse(&text)
    }

    /// Parses "hierarchy-id:controllers:path" lines.
    pub fn parse(text: &str) -> Result<ProcCgroups, CgroupError> {
        let mut out = ProcCgroups::default();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let mut it = line.splitn(3, ':');
            let (Some(id), Some(controllers), Some(path)) = (it.next(), it.next(), it.next())
            else {
                return Err(CgroupError::Layout(format!(
                    "malformed /proc/self/cgroup line {line:?}"
                )));
            };
            let path = path.strip_suffix(" (deleted)").unwrap_or(path).to_string();
            if id == "0" && controllers.is_empty() {
                out.unified = Some(path);
            } else {
                for c in controllers.split(',').filter(|c| !c.is_empty()) {
                    out.v1.insert(c.to_string(), path.clone());
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // This host: v1 controllers each on their own mount (cpu and cpuacct
    // apart), name=systemd, and a v2 hierarchy at /sys/fs/cgroup/unified.
    const HYBRID: &str = "\
22 1 8:1 / / rw,relatime - ext4 /dev/root rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    // A classic v1 host (Debian 10, CentOS 7): combined cpu,cpuacct and
    // net_cls,net_prio mounts, optional fields before the separator.
    const LEGACY: &str = "\
25 0 253:1 / / rw,relatime shared:1 - xfs /dev/vda1 rw
26 25 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
27 26 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
30 26 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
31 26 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,net_cls,net_prio
32 26 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
33 26 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpuset,clone_children
34 26 0:31 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,hugetlb
35 26 0:32 / /sys/fs/cgroup/my\\040dir rw shared:18 - cgroup cgroup rw,perf_event
36 25 0:30 /docker /mnt/cpuset rw shared:16 - cgroup cgroup rw,cpuset
";

    const UNIFIED: &str = "\
24 1 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
28 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
99 1 0:26 /foo /run/elsewhere rw - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_host_with_separate_cpu_and_cpuacct() {
        let l = Layout::from_mountinfo(HYBRID).unwrap();
        assert_eq!(l.mode(), Mode::Hybrid);
        assert_eq!(l.v1.len(), 9);
        assert_eq!(
            l.v1_mount("cpu").unwrap().mount_point,
            Path::new("/sys/fs/cgroup/cpu")
        );
        assert_eq!(
            l.v1_mount("cpuacct").unwrap().mount_point,
            Path::new("/sys/fs/cgroup/cpuacct")
        );
        assert_eq!(l.v1_mount("cpu").unwrap().controllers, ["cpu"]);
        assert_eq!(
            l.v1_mount("name=systemd").unwrap().mount_point,
            Path::new("/sys/fs/cgroup/systemd")
        );
        assert!(l.v1_mount("net_cls").is_none());
        assert!(l.v1_mount("hugetlb").is_none());
        assert_eq!(
            l.unified.unwrap().mount_point,
            Path::new("/sys/fs/cgroup/unified")
        );
    }

    #[test]
    fn legacy_host_with_combined_mounts() {
        let l = Layout::from_mountinfo(LEGACY).unwrap();
        assert_eq!(l.mode(), Mode::Legacy);
        let cpu = l.v1_mount("cpu").unwrap();
        assert_eq!(cpu.controllers, ["cpu", "cpuacct"]);
        assert_eq!(cpu.mount_point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(l.v1_mount("cpuacct").unwrap(), cpu);
        assert_eq!(
            l.v1_mount("net_prio").unwrap().controllers,
            ["net_cls", "net_prio"]
        );
        // Mount flags are not controllers.
        assert_eq!(
            l.v1_mount("name=systemd").unwrap().controllers,
            ["name=systemd"]
        );
        assert_eq!(l.v1_mount("cpuset").unwrap().controllers, ["cpuset"]);
        // The bind mount of a sub-cgroup elsewhere does not replace the canonical one.
        assert_eq!(
            l.v1_mount("cpuset").unwrap().mount_point,
            Path::new("/sys/fs/cgroup/cpuset")
        );
        // Octal escapes in mount points.
        assert_eq!(
            l.v1_mount("perf_event").unwrap().mount_point,
            Path::new("/sys/fs/cgroup/my dir")
        );
        assert!(l.unified.is_none());
        assert_eq!(l.v1.len(), 7);
    }

    #[test]
    fn unified_host_prefers_sys_fs_cgroup() {
        let l = Layout::from_mountinfo(UNIFIED).unwrap();
        assert_eq!(l.mode(), Mode::Unified);
        assert!(l.v1.is_empty());
        let u = l.unified.unwrap();
        assert_eq!(u.mount_point, Path::new("/sys/fs/cgroup"));
        assert_eq!(u.root, "/");
    }

    #[test]
    fn nothing_mounted_or_garbage_is_an_error() {
        assert!(Layout::from_mountinfo("22 1 8:1 / / rw - ext4 /dev/root rw\n").is_err());
        let e = Layout::from_mountinfo("this is not mountinfo\n").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn the_real_mountinfo_parses() {
        // Whatever this host is, it has cgroups mounted.
        let l = Layout::detect().unwrap();
        assert!(!l.v1.is_empty() || l.unified.is_some());
    }

    #[test]
    fn proc_cgroup() {
        let p = ProcCgroups::parse(
            "9:name=systemd:/\n4:memory:/process_api/d2e5\n1:cpu,cpuacct:/a:b\n0::/x (deleted)\n",
        )
        .unwrap();
        assert_eq!(p.v1["memory"], "/process_api/d2e5");
        assert_eq!(p.v1["cpuacct"], "/a:b");
        assert_eq!(p.v1["name=systemd"], "/");
        assert_eq!(p.unified.as_deref(), Some("/x"));
        assert!(ProcCgroups::parse("garbage\n").is_err());
    }
}
