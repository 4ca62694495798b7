//! Reading cgroup v2 counters: cpu.stat (microseconds, reported in
//! nanoseconds like v1), memory.current/max/peak with memory+swap derived
//! from memory.swap.*, pids, io.stat and hugetlb.

use std::collections::BTreeMap;
use std::path::Path;

use super::{parse_list, Blkio, BlkioEntry, Cpu, CpuSet, Hugetlb, Memory, MemoryEntry, Pids};
use crate::{fs, CgroupError};

pub(super) fn cpu(dir: &Path) -> Result<Cpu, CgroupError> {
    let m = fs::read_flat_keyed_opt(dir, "cpu.stat")?.unwrap_or_default();
    let g = |k: &str| m.get(k).copied().unwrap_or(0);
    let ns = |k: &str| g(k).saturating_mul(1000);
    let mut c = Cpu::default();
    c.usage.total = ns("usage_usec");
    c.usage.user = ns("user_usec");
    c.usage.kernel = ns("system_usec");
    c.throttling.periods = g("nr_periods");
    c.throttling.throttled_periods = g("nr_throttled");
    c.throttling.throttled_time = ns("throttled_usec");
    Ok(c)
}

pub(super) fn cpuset(dir: &Path) -> Result<CpuSet, CgroupError> {
    let list = |n: &str| -> Result<Vec<u16>, CgroupError> {
        match fs::read_opt(dir, n)? {
            Some(s) => parse_list(&dir.join(n), &s),
            None => Ok(Vec::new()),
        }
    };
    Ok(CpuSet {
        cpus: list("cpuset.cpus.effective")?,
        mems: list("cpuset.mems.effective")?,
        ..Default::default()
    })
}

fn entry(dir: &Path, module: &str) -> Result<Option<MemoryEntry>, CgroupError> {
    let Some(usage) = fs::read_u64_opt(dir, &format!("{module}.current"))? else {
        return Ok(None);
    };
    Ok(Some(MemoryEntry {
        limit: fs::read_u64_opt(dir, &format!("{module}.max"))?.unwrap_or(u64::MAX),
        usage,
        max: fs::read_u64_opt(dir, &format!("{module}.peak"))?.unwrap_or(0),
        failcnt: 0,
    }))
}

pub(super) fn memory(dir: &Path) -> Result<Memory, CgroupError> {
    let raw = fs::read_flat_keyed_opt(dir, "memory.stat")?.unwrap_or_default();
    let usage = entry(dir, "memory")?.unwrap_or_default();
    // v1's "swap" entry is memory+swap; keep that meaning.
    let swap = entry(dir, "memory.swap")?.unwrap_or_default();
    let swap = MemoryEntry {
        usage: swap.usage.saturating_add(usage.usage),
        limit: if swap.limit == u64::MAX {
            u64::MAX
        } else {
            swap.limit.saturating_add(usage.limit)
        },
        max: 0,
        failcnt: 0,
    };
    Ok(Memory {
        cache: raw.get("file").copied().unwrap_or(0),
        usage,
        swap,
        raw,
        ..Default::default()
    })
}

pub(super) fn pids(dir: &Path) -> Result<Pids, CgroupError> {
    if fs::exists(dir, "pids.current") {
        return super::pids(dir);
    }
    // No pids controller enabled: count the processes instead.
    let procs = fs::read_opt(dir, "cgroup.procs")?.unwrap_or_default();
    Ok(Pids {
        current: procs.lines().filter(|l| !l.trim().is_empty()).count() as u64,
        limit: 0,
    })
}

/// io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0".
pub(super) fn io(dir: &Path) -> Result<Blkio, CgroupError> {
    let mut b = Blkio::default();
    let Some(s) = fs::read_opt(dir, "io.stat")? else {
        return Ok(b);
    };
    let p = dir.join("io.stat");
    for line in s.lines() {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (major, minor) = (fs::parse_u64(&p, major)?, fs::parse_u64(&p, minor)?);
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let (list, op) = match k {
                "rbytes" => (&mut b.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut b.io_service_bytes_recursive, "Write"),
                "rios" => (&mut b.io_serviced_recursive, "Read"),
                "wios" => (&mut b.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value: fs::parse_u64(&p, v)?,
            });
        }
    }
    Ok(b)
}

pub(super) fn hugetlb(dir: &Path) -> Result<BTreeMap<String, Hugetlb>, CgroupError> {
    let mut out = BTreeMap::new();
    for ps in super::v1::page_sizes(dir, "max") {
        let usage = match fs::read_u64_opt(dir, &format!("hugetlb.{ps}.rsvd.current"))? {
            Some(u) => u,
            None => fs::read_u64_opt(dir, &format!("hugetlb.{ps}.current"))?.unwrap_or(0),
        };
        let events =
            fs::read_flat_keyed_opt(dir, &format!("hugetlb.{ps}.events"))?.unwrap_or_default();
        out.insert(
            ps,
            Hugetlb {
                usage,
                max: 0,
                failcnt: events.get("max").copied().unwrap_or(0),
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{seed, TempDir};
    use crate::{Cgroup, Layout};

    #[test]
    fn a_whole_v2_cgroup() {
        let t = TempDir::new();
        let dir = t.path().join("c1");
        seed(&dir, &[
            ("cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 20\nnr_bursts 0\nburst_usec 0\n"),
            ("cpuset.cpus.effective", "0-1\n"),
            ("cpuset.mems.effective", "0\n"),
            ("memory.stat", "anon 4096\nfile 8192\n"),
            ("memory.current", "12288\n"),
            ("memory.max", "67108864\n"),
            ("memory.peak", "20000\n"),
            ("memory.swap.current", "100\n"),
            ("memory.swap.max", "max\n"),
            ("pids.current", "2\n"),
            ("pids.max", "max\n"),
            ("io.stat", "8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n"),
            ("hugetlb.2MB.max", "max\n"),
            ("hugetlb.2MB.rsvd.max", "max\n"),
            ("hugetlb.2MB.current", "0\n"),
            ("hugetlb.2MB.rsvd.current", "2097152\n"),
            ("hugetlb.2MB.events", "max 3\n"),
        ]);
        let cg = Cgroup::with_root(Layout::unified_at(t.path()), "/c1");
        let s = cg.stats().unwrap();
        assert_eq!(
            (s.cpu.usage.total, s.cpu.usage.user, s.cpu.usage.kernel),
            (1_500_000, 1_000_000, 500_000)
        );
        assert_eq!(s.cpu.throttling.throttled_time, 20_000);
        assert_eq!(s.cpuset.cpus, [0, 1]);
        assert_eq!(s.memory.cache, 8192);
        assert_eq!(
            s.memory.usage,
            MemoryEntry {
                limit: 67_108_864,
                usage: 12288,
                max: 20000,
                failcnt: 0
            }
        );
        assert_eq!(
            s.memory.swap,
            MemoryEntry {
                limit: u64::MAX,
                usage: 12388,
                max: 0,
                failcnt: 0
            }
        );
        assert_eq!(
            s.pids,
            Pids {
                current: 2,
                limit: 0
            }
        );
        assert_eq!(s.blkio.io_service_bytes_recursive.len(), 2);
        assert_eq!(s.blkio.io_service_bytes_recursive[0].value, 4096);
        assert_eq!(
            s.hugetlb["2MB"],
            Hugetlb {
                usage: 2_097_152,
                max: 0,
                failcnt: 3
            }
        );
        // A cgroup that is gone is an error naming it.
        let cg = Cgroup::with_root(Layout::unified_at(t.path()), "/gone");
        assert!(cg.stats().unwrap_err().to_string().contains("/gone"));
    }

    #[test]
    fn pids_without_the_controller() {
        let t = TempDir::new();
        seed(t.path(), &[("cgroup.procs", "1\n2\n3\n")]);
        assert_eq!(
            pids(t.path()).unwrap(),
            Pids {
                current: 3,
                limit: 0
            }
        );
    }
}
