//! Reading cgroup v1 counters: cpuacct, cpu.stat throttling, cpuset, memory
//! (with memsw/kmem entries where the kernel has them), blkio (the first
//! family of files the scheduler provides: BFQ, CFQ, then throttle) and
//! hugetlb.

use std::collections::BTreeMap;
use std::path::Path;

use super::{
    parse_list, Blkio, BlkioEntry, CpuSet, CpuUsage, Hugetlb, Memory, MemoryEntry, Throttling,
};
use crate::{fs, CgroupError};

/// USER_HZ: cpuacct.stat counts in these ticks whatever the kernel's HZ.
const CLOCK_TICKS: u64 = 100;

pub(super) fn cpu_usage(dir: &Path) -> Result<CpuUsage, CgroupError> {
    let mut u = CpuUsage {
        total: fs::read_u64_opt(dir, "cpuacct.usage")?.unwrap_or(0),
        ..Default::default()
    };
    if let Some(s) = fs::read_opt(dir, "cpuacct.usage_percpu")? {
        let p = dir.join("cpuacct.usage_percpu");
        u.percpu = s
            .split_whitespace()
            .map(|v| fs::parse_u64(&p, v))
            .collect::<Result<_, _>>()?;
    }
    if let Some(s) = fs::read_opt(dir, "cpuacct.usage_all")? {
        let p = dir.join("cpuacct.usage_all");
        let mut lines = s.lines();
        if !lines.next().unwrap_or("").starts_with("cpu user system") {
            return Err(fs::parse_error(
                &p,
                &s,
                "expected a \"cpu user system\" header",
            ));
        }
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 3 {
                return Err(fs::parse_error(&p, line, "expected \"cpu user system\""));
            }
            u.percpu_user.push(fs::parse_u64(&p, f[1])?);
            u.percpu_kernel.push(fs::parse_u64(&p, f[2])?);
        }
    }
    if let Some(m) = fs::read_flat_keyed_opt(dir, "cpuacct.stat")? {
        let ns = |ticks: u64| ticks.saturating_mul(1_000_000_000) / CLOCK_TICKS;
        u.user = ns(m.get("user").copied().unwrap_or(0));
        u.kernel = ns(m.get("system").copied().unwrap_or(0));
    }
    Ok(u)
}

pub(super) fn throttling(dir: &Path) -> Result<Throttling, CgroupError> {
    let m = fs::read_flat_keyed_opt(dir, "cpu.stat")?.unwrap_or_default();
    Ok(Throttling {
        periods: m.get("nr_periods").copied().unwrap_or(0),
        throttled_periods: m.get("nr_throttled").copied().unwrap_or(0),
        throttled_time: m.get("throttled_time").copied().unwrap_or(0),
    })
}

pub(super) fn cpuset(dir: &Path) -> Result<CpuSet, CgroupError> {
    let f = |n: &str| crate::create::cpuset_file(dir, n);
    let u =
        |n: &str| -> Result<u64, CgroupError> { Ok(fs::read_u64_opt(dir, &f(n))?.unwrap_or(0)) };
    let list = |n: &str| -> Result<Vec<u16>, CgroupError> {
        match fs::read_opt(dir, &f(n))? {
            Some(s) => parse_list(&dir.join(f(n)), &s),
            None => Ok(Vec::new()),
        }
    };
    let relax = match fs::read_opt(dir, &f("sched_relax_domain_level"))? {
        Some(s) => s.trim().parse::<i64>().map_err(|_| {
            fs::parse_error(&dir.join(f("sched_relax_domain_level")), &s, "not a number")
        })?,
        None => 0,
    };
    Ok(CpuSet {
        cpus: list("cpus")?,
        cpu_exclusive: u("cpu_exclusive")?,
        mems: list("mems")?,
        mem_hardwall: u("mem_hardwall")?,
        mem_exclusive: u("mem_exclusive")?,
        memory_migrate: u("memory_migrate")?,
        memory_spread_page: u("memory_spread_page")?,
        memory_spread_slab: u("memory_spread_slab")?,
        memory_pressure: u("memory_pressure")?,
        sched_load_balance: u("sched_load_balance")?,
        sched_relax_domain_level: relax,
    })
}

/// memory.{usage_in_bytes,max_usage_in_bytes,failcnt,limit_in_bytes} for
/// `module` ("memory", "memory.memsw", ...); zero when the kernel lacks it.
fn entry(dir: &Path, module: &str) -> Result<MemoryEntry, CgroupError> {
    let Some(usage) = fs::read_u64_opt(dir, &format!("{module}.usage_in_bytes"))? else {
        return Ok(MemoryEntry::default());
    };
    let get = |n: &str| -> Result<u64, CgroupError> {
        Ok(fs::read_u64_opt(dir, &format!("{module}.{n}"))?.unwrap_or(0))
    };
    Ok(MemoryEntry {
        limit: get("limit_in_bytes")?,
        usage,
        max: get("max_usage_in_bytes")?,
        failcnt: get("failcnt")?,
    })
}

pub(super) fn memory(dir: &Path) -> Result<Memory, CgroupError> {
    let raw = fs::read_flat_keyed_opt(dir, "memory.stat")?.unwrap_or_default();
    Ok(Memory {
        cache: raw.get("cache").copied().unwrap_or(0),
        usage: entry(dir, "memory")?,
        swap: entry(dir, "memory.memsw")?,
        kernel: entry(dir, "memory.kmem")?,
        kernel_tcp: entry(dir, "memory.kmem.tcp")?,
        raw,
    })
}

/// Lines like "8:0 Read 1282048", "8:0 6792" ("Total N" lines skipped).
/// `None` when the file is absent or empty.
fn blkio_file(dir: &Path, file: &str) -> Result<Option<Vec<BlkioEntry>>, CgroupError> {
    let Some(s) = fs::read_opt(dir, file)? else {
        return Ok(None);
    };
    let p = dir.join(file);
    let mut out = Vec::new();
    for line in s.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split([' ', ':']).filter(|x| !x.is_empty()).collect();
        let (major, minor, op, value) = match f.as_slice() {
            ["Total", _] => continue,
            [ma, mi, v] => (ma, mi, "", v),
            [ma, mi, op, v] => (ma, mi, *op, v),
            _ => {
                return Err(fs::parse_error(
                    &p,
                    line,
                    "expected \"MAJOR:MINOR [OP] VALUE\"",
                ))
            }
        };
        out.push(BlkioEntry {
            major: fs::parse_u64(&p, major)?,
            minor: fs::parse_u64(&p, minor)?,
            op: op.to_string(),
            value: fs::parse_u64(&p, value)?,
        });
    }
    Ok((!out.is_empty()).then_some(out))
}

pub(super) fn blkio(dir: &Path) -> Result<Blkio, CgroupError> {
    type Field = fn(&mut Blkio) -> &mut Vec<BlkioEntry>;
    let sectors: Field = |b| &mut b.sectors_recursive;
    let service_time: Field = |b| &mut b.io_service_time_recursive;
    let wait_time: Field = |b| &mut b.io_wait_time_recursive;
    let merged: Field = |b| &mut b.io_merged_recursive;
    let queued: Field = |b| &mut b.io_queued_recursive;
    let time: Field = |b| &mut b.io_time_recursive;
    let serviced: Field = |b| &mut b.io_serviced_recursive;
    let bytes: Field = |b| &mut b.io_service_bytes_recursive;
    // In runc's order of preference; the first family whose first file has
    // data wins.
    let families: [&[(&str, Field)]; 5] = [
        &[
            ("blkio.bfq.sectors_recursive", sectors),
            ("blkio.bfq.io_service_time_recursive", service_time),
            ("blkio.bfq.io_wait_time_recursive", wait_time),
            ("blkio.bfq.io_merged_recursive", merged),
            ("blkio.bfq.io_queued_recursive", queued),
            ("blkio.bfq.time_recursive", time),
            ("blkio.bfq.io_serviced_recursive", serviced),
            ("blkio.bfq.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.bfq.io_serviced_recursive", serviced),
            ("blkio.bfq.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.sectors_recursive", sectors),
            ("blkio.io_service_time_recursive", service_time),
            ("blkio.io_wait_time_recursive", wait_time),
            ("blkio.io_merged_recursive", merged),
            ("blkio.io_queued_recursive", queued),
            ("blkio.time_recursive", time),
            ("blkio.io_serviced_recursive", serviced),
            ("blkio.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.throttle.io_serviced_recursive", serviced),
            ("blkio.throttle.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.throttle.io_serviced", serviced),
            ("blkio.throttle.io_service_bytes", bytes),
        ],
    ];
    let mut b = Blkio::default();
    for family in families {
        let Some(first) = blkio_file(dir, family[0].0)? else {
            continue;
        };
        *(family[0].1)(&mut b) = first;
        for (file, field) in &family[1..] {
            *field(&mut b) = blkio_file(dir, file)?.unwrap_or_default();
        }
        break;
    }
    Ok(b)
}

/// Page sizes the cgroup has files for ("hugetlb.2MB.<suffix>").
pub(super) fn page_sizes(dir: &Path, suffix: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let rest = name.strip_prefix("hugetlb.")?.strip_suffix(suffix)?;
            let size = rest.strip_suffix('.')?;
            (!size.contains('.')).then(|| size.to_string())
        })
        .collect();
    out.sort();
    out
}

pub(super) fn hugetlb(dir: &Path) -> Result<BTreeMap<String, Hugetlb>, CgroupError> {
    let mut out = BTreeMap::new();
    for ps in page_sizes(dir, "limit_in_bytes") {
        let rsvd = format!("hugetlb.{ps}.rsvd");
        let prefix = if fs::exists(dir, &format!("{rsvd}.usage_in_bytes")) {
            rsvd
        } else {
            format!("hugetlb.{ps}")
        };
        let get = |n: &str| -> Result<u64, CgroupError> {
            Ok(fs::read_u64_opt(dir, &format!("{prefix}.{n}"))?.unwrap_or(0))
        };
        out.insert(
            ps.clone(),
            Hugetlb {
                usage: get("usage_in_bytes")?,
                max: get("max_usage_in_bytes")?,
                failcnt: get("failcnt")?,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{seed, TempDir};

    #[test]
    fn cpuacct_and_throttling() {
        let t = TempDir::new();
        seed(
            t.path(),
            &[
                ("cpuacct.usage", "5000000000\n"),
                ("cpuacct.usage_percpu", "3000000000 2000000000 \n"),
                (
                    "cpuacct.usage_all",
                    "cpu user system\n0 2500000000 500000000\n1 1500000000 500000000\n",
                ),
                ("cpuacct.stat", "user 400\nsystem 100\n"),
                (
                    "cpu.stat",
                    "nr_periods 10\nnr_throttled 3\nthrottled_time 12345\nwait_sum 0\n",
                ),
            ],
        );
        let u = cpu_usage(t.path()).unwrap();
        assert_eq!(u.total, 5_000_000_000);
        assert_eq!(u.percpu, [3_000_000_000, 2_000_000_000]);
        assert_eq!(u.percpu_user, [2_500_000_000, 1_500_000_000]);
        assert_eq!(u.percpu_kernel, [500_000_000, 500_000_000]);
        assert_eq!(u.user, 4_000_000_000);
        assert_eq!(u.kernel, 1_000_000_000);
        let th = throttling(t.path()).unwrap();
        assert_eq!(
            (th.periods, th.throttled_periods, th.throttled_time),
            (10, 3, 12345)
        );
        seed(t.path(), &[("cpuacct.usage_all", "bogus\n")]);
        assert!(cpu_usage(t.path()).is_err());
    }

    #[test]
    fn memory_entries_and_missing_kmem() {
        let t = TempDir::new();
        seed(
            t.path(),
            &[
                ("memory.stat", "cache 4096\nrss 8192\ntotal_cache 4096\n"),
                ("memory.usage_in_bytes", "12288\n"),
                ("memory.max_usage_in_bytes", "20000\n"),
                ("memory.failcnt", "2\n"),
                ("memory.limit_in_bytes", "67108864\n"),
                ("memory.memsw.usage_in_bytes", "12288\n"),
                ("memory.memsw.max_usage_in_bytes", "20000\n"),
                ("memory.memsw.failcnt", "0\n"),
                ("memory.memsw.limit_in_bytes", "9223372036854771712\n"),
            ],
        );
        let m = memory(t.path()).unwrap();
        assert_eq!(m.cache, 4096);
        assert_eq!(m.raw["rss"], 8192);
        assert_eq!(
            m.usage,
            MemoryEntry {
                limit: 67_108_864,
                usage: 12288,
                max: 20000,
                failcnt: 2
            }
        );
        assert_eq!(m.swap.limit, 9_223_372_036_854_771_712);
        assert_eq!(m.kernel, MemoryEntry::default());
        assert_eq!(m.kernel_tcp, MemoryEntry::default());
    }

    #[test]
    fn blkio_prefers_the_first_family_with_data() {
        let t = TempDir::new();
        seed(
            t.path(),
            &[
                // This host: BFQ files exist but are empty; throttle ones have data.
                ("blkio.bfq.io_serviced_recursive", ""),
                ("blkio.bfq.io_service_bytes_recursive", ""),
                (
                    "blkio.throttle.io_serviced_recursive",
                    "8:0 Read 124\n8:0 Write 104\n8:0 Total 228\nTotal 228\n",
                ),
                (
                    "blkio.throttle.io_service_bytes_recursive",
                    "8:0 Read 1282048\n8:0 Write 2195456\nTotal 3477504\n",
                ),
                ("blkio.throttle.io_serviced", "8:0 Read 1\n"),
            ],
        );
        let b = blkio(t.path()).unwrap();
        assert_eq!(b.io_serviced_recursive.len(), 3);
        assert_eq!(
            b.io_service_bytes_recursive[1],
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Write".into(),
                value: 2_195_456
            }
        );
        seed(t.path(), &[("blkio.sectors_recursive", "8:0 6792\n")]);
        let b = blkio(t.path()).unwrap();
        assert_eq!(
            b.sectors_recursive,
            [BlkioEntry {
                major: 8,
                minor: 0,
                op: String::new(),
                value: 6792
            }]
        );
        assert!(b.io_serviced_recursive.is_empty());
        seed(t.path(), &[("blkio.sectors_recursive", "8:0 x y z w\n")]);
        assert!(blkio(t.path()).is_err());
    }

    #[test]
    fn hugetlb_and_cpuset() {
        let t = TempDir::new();
        seed(
            t.path(),
            &[
                ("hugetlb.2MB.limit_in_bytes", "max\n"),
                ("hugetlb.2MB.rsvd.limit_in_bytes", "max\n"),
                ("hugetlb.2MB.usage_in_bytes", "0\n"),
                ("hugetlb.2MB.rsvd.usage_in_bytes", "2097152\n"),
                ("hugetlb.2MB.rsvd.max_usage_in_bytes", "4194304\n"),
                ("hugetlb.2MB.rsvd.failcnt", "1\n"),
                ("hugetlb.1GB.limit_in_bytes", "max\n"),
                ("hugetlb.1GB.usage_in_bytes", "0\n"),
                ("hugetlb.1GB.max_usage_in_bytes", "0\n"),
                ("hugetlb.1GB.failcnt", "0\n"),
                ("cpuset.cpus", "0-1\n"),
                ("cpuset.mems", "0\n"),
                ("cpuset.sched_relax_domain_level", "-1\n"),
                ("cpuset.sched_load_balance", "1\n"),
            ],
        );
        let h = hugetlb(t.path()).unwrap();
        assert_eq!(h.keys().collect::<Vec<_>>(), ["1GB", "2MB"]);
        assert_eq!(
            h["2MB"],
            Hugetlb {
                usage: 2_097_152,
                max: 4_194_304,
                failcnt: 1
            }
        );
        let c = cpuset(t.path()).unwrap();
        assert_eq!(c.cpus, [0, 1]);
        assert_eq!(c.mems, [0]);
        assert_eq!(c.sched_relax_domain_level, -1);
        assert_eq!(c.sched_load_balance, 1);
    }
}
