//! Resource usage, in the JSON shape `runc events --stats` prints under
//! `"data"` (runc's types.Stats: field names, nesting and which zero values
//! are left out), gathered from whichever hierarchy serves each controller.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Cgroup, CgroupError, Target};

mod v1;
mod v2;

fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Everything `stats` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
    /// Not gathered here; present so the JSON has runc's shape (`{}`).
    pub intel_rdt: IntelRdt,
    /// Not gathered here (`null`, as runc prints without interfaces).
    pub network_interfaces: Option<Vec<serde_json::Value>>,
}

/// Placeholder for runc's Intel RDT block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntelRdt {}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cpu {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: CpuUsage,
    #[serde(skip_serializing_if = "is_zero")]
    pub throttling: Throttling,
}

/// CPU time in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Throttling {
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Nanoseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuSet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

/// Bytes; `limit` is `u64::MAX` for "no limit", as the kernel reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Memory {
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: MemoryEntry,
    /// memory+swap (v2: computed from memory and swap).
    #[serde(skip_serializing_if = "is_zero")]
    pub swap: MemoryEntry,
    #[serde(skip_serializing_if = "is_zero")]
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP", skip_serializing_if = "is_zero")]
    pub kernel_tcp: MemoryEntry,
    /// memory.stat, verbatim.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pids {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// 0 for no limit.
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Blkio {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    /// runc spells this key without the "d".
    #[serde(rename = "ioQueueRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_queued_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

impl Cgroup {
    /// Current usage. Counters a kernel does not have are left at zero.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        for dir in self.all_dirs() {
            if !dir.is_dir() {
                return Err(CgroupError::Read {
                    path: dir.to_path_buf(),
                    error: std::io::Error::from_raw_os_error(libc::ENOENT),
                });
            }
        }
        let mut s = Stats::default();
        match self.target("cpu", Some("cpu"))? {
            Some(Target::V1(dir)) => {
                s.cpu.throttling = v1::throttling(dir)?;
                if let Some(acct) = self.v1_dir("cpuacct") {
                    s.cpu.usage = v1::cpu_usage(acct)?;
                }
            }
            Some(Target::V2(dir)) => s.cpu = v2::cpu(dir)?,
            None => {
                if let Some(acct) = self.v1_dir("cpuacct") {
                    s.cpu.usage = v1::cpu_usage(acct)?;
                }
            }
        }
        match self.target("cpuset", Some("cpuset"))? {
            Some(Target::V1(dir)) => s.cpuset = v1::cpuset(dir)?,
            Some(Target::V2(dir)) => s.cpuset = v2::cpuset(dir)?,
            None => {}
        }
        match self.target("memory", Some("memory"))? {
            Some(Target::V1(dir)) => s.memory = v1::memory(dir)?,
            Some(Target::V2(dir)) => s.memory = v2::memory(dir)?,
            None => {}
        }
        match self.target("pids", Some("pids"))? {
            Some(Target::V1(dir)) => s.pids = pids(dir)?,
            Some(Target::V2(dir)) => s.pids = v2::pids(dir)?,
            None => {}
        }
        match self.target("blkio", Some("io"))? {
            Some(Target::V1(dir)) => s.blkio = v1::blkio(dir)?,
            Some(Target::V2(dir)) => s.blkio = v2::io(dir)?,
            None => {}
        }
        match self.target("hugetlb", Some("hugetlb"))? {
            Some(Target::V1(dir)) => s.hugetlb = v1::hugetlb(dir)?,
            Some(Target::V2(dir)) => s.hugetlb = v2::hugetlb(dir)?,
            None => {}
        }
        Ok(s)
    }
}

/// pids.current and pids.max (same in v1 and v2).
fn pids(dir: &Path) -> Result<Pids, CgroupError> {
    let limit = crate::fs::read_u64_opt(dir, "pids.max")?.unwrap_or(0);
    Ok(Pids {
        current: crate::fs::read_u64_opt(dir, "pids.current")?.unwrap_or(0),
        limit: if limit == u64::MAX { 0 } else { limit },
    })
}

/// "0-3,7" to [0, 1, 2, 3, 7].
fn parse_list(path: &Path, s: &str) -> Result<Vec<u16>, CgroupError> {
    let mut out = Vec::new();
    let bad = || crate::fs::parse_error(path, s, "not a cpu/node list");
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u16, u16) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_matches_runc() {
        let mut s = Stats::default();
        let empty = serde_json::to_value(&s).unwrap();
        assert_eq!(
            empty,
            serde_json::json!({
                "cpu": {},
                "cpuset": {
                    "cpu_exclusive": 0, "mem_hardwall": 0, "mem_exclusive": 0,
                    "memory_migrate": 0, "memory_spread_page": 0, "memory_spread_slab": 0,
                    "memory_pressure": 0, "sched_load_balance": 0, "sched_relax_domain_level": 0
                },
                "memory": {},
                "pids": {},
                "blkio": {},
                "hugetlb": {},
                "intel_rdt": {},
                "network_interfaces": null
            })
        );
        s.cpu.usage.total = 5;
        s.cpu.usage.percpu = vec![2, 3];
        s.cpu.throttling.throttled_periods = 1;
        s.memory.usage = MemoryEntry {
            limit: 100,
            usage: 10,
            max: 0,
            failcnt: 0,
        };
        s.memory.kernel_tcp.limit = 7;
        s.memory.raw.insert("cache".into(), 1);
        s.pids.current = 3;
        s.blkio.io_queued_recursive.push(BlkioEntry {
            major: 8,
            minor: 0,
            op: "Read".into(),
            value: 0,
        });
        s.hugetlb.insert(
            "2MB".into(),
            Hugetlb {
                usage: 0,
                max: 0,
                failcnt: 0,
            },
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v["cpu"],
            serde_json::json!({"usage": {"total": 5, "percpu": [2, 3], "kernel": 0, "user": 0}, "throttling": {"throttledPeriods": 1}})
        );
        assert_eq!(
            v["memory"],
            serde_json::json!({"usage": {"limit": 100, "usage": 10, "failcnt": 0}, "kernelTCP": {"limit": 7, "failcnt": 0}, "raw": {"cache": 1}})
        );
        assert_eq!(v["pids"], serde_json::json!({"current": 3}));
        assert_eq!(
            v["blkio"],
            serde_json::json!({"ioQueueRecursive": [{"major": 8, "op": "Read"}]})
        );
        assert_eq!(v["hugetlb"], serde_json::json!({"2MB": {"failcnt": 0}}));
        let back: Stats = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn lists() {
        let p = Path::new("/x");
        assert_eq!(parse_list(p, "0-3,7\n").unwrap(), [0, 1, 2, 3, 7]);
        assert_eq!(parse_list(p, "\n").unwrap(), Vec::<u16>::new());
        assert!(parse_list(p, "3-1").is_err());
        assert!(parse_list(p, "a").is_err());
    }
}
