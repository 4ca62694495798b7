//! A container's resource usage, read from its cgroup (v1, hybrid or v2), in the Engine
//! API's stats shape.
//!
//! berth-cgroups reads the counters (runc's shape); this turns them into what dockerd
//! sends, which differs by cgroup version as dockerd's does: on v1 `memory_stats.stats`
//! is memory.stat as is (`cache`, `rss`, …) with `max_usage` and `failcnt`, and
//! `percpu_usage` is filled; on v2 it is the v2 memory.stat (`anon`, `file`, …) and
//! block I/O is reported as `read`/`write` byte counts only. An unlimited memory limit
//! is reported as the host's memory, as dockerd does, so clients can compute a
//! percentage.

use berth_api_types::container::{
    BlkioStatEntry, BlkioStats, CpuStats, CpuUsage, MemoryStats, NetworkStats, PidsStats, Stats,
    ThrottlingData,
};
use berth_cgroups::{Cgroup, Mode};

use crate::api::{EngineError, EngineResult};
use crate::timefmt;

/// USER_HZ: the unit of /proc/stat, whatever the kernel's HZ.
const CLOCK_TICKS: u64 = 100;

/// Host-wide counters a stats sample carries next to the container's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostCounters {
    /// Host CPU time in nanoseconds over all CPUs (idle included), from /proc/stat.
    pub system_cpu_usage: u64,
    /// CPUs online (the `cpuN` lines of /proc/stat).
    pub online_cpus: u32,
    /// Host memory in bytes (/proc/meminfo MemTotal).
    pub mem_total: u64,
}

impl HostCounters {
    /// Reads /proc/stat and /proc/meminfo.
    pub fn read() -> EngineResult<HostCounters> {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map_err(|e| EngineError::internal(format!("stats: reading {p}"), e))
        };
        HostCounters::parse(&read("/proc/stat")?, &read("/proc/meminfo")?)
    }

    /// Parses the text of /proc/stat and /proc/meminfo.
    pub fn parse(proc_stat: &str, meminfo: &str) -> EngineResult<HostCounters> {
        let mut h = HostCounters {
            mem_total: crate::system::parse_mem_total(meminfo).unwrap_or(0),
            ..HostCounters::default()
        };
        let mut saw_total = false;
        for line in proc_stat.lines() {
            let mut f = line.split_whitespace();
            match f.next() {
                Some("cpu") => {
                    // user nice system idle iowait irq softirq: what dockerd sums (steal
                    // and guest time are left out, as there).
                    let mut ticks = 0u64;
                    for v in f.take(7) {
                        ticks += v.parse::<u64>().map_err(|e| {
                            EngineError::internal(
                                format!("stats: /proc/stat: bad cpu line {line:?}"),
                                e,
                            )
                        })?;
                    }
                    h.system_cpu_usage = ticks.saturating_mul(1_000_000_000 / CLOCK_TICKS);
                    saw_total = true;
                }
                Some(c) if c.starts_with("cpu") && c[3..].bytes().all(|b| b.is_ascii_digit()) => {
                    h.online_cpus += 1;
                }
                _ => {}
            }
        }
        if !saw_total {
            return Err(EngineError::internal(
                "stats: /proc/stat",
                "it has no cpu line",
            ));
        }
        Ok(h)
    }
}

/// One sample for the container whose OCI `cgroupsPath` is `cgroup_path`. `read` and
/// `preread` timestamps, `num_procs`, `cpu_stats.online_cpus` and
/// `cpu_stats.system_cpu_usage` (from /proc/stat) are filled; `precpu_stats` is left
/// empty. Name and id are filled by the caller.
pub fn cgroup_stats(cgroup_path: &str) -> EngineResult<Stats> {
    let cg = Cgroup::new(Some(cgroup_path), "stats", false)
        .map_err(|e| EngineError::internal(format!("stats: cgroup {cgroup_path}"), e))?;
    stats_of(&cg, &HostCounters::read()?)
}

/// [`cgroup_stats`] for a cgroup already resolved (a fake tree in tests, or a cgroup
/// the caller keeps), with the host counters given.
pub fn stats_of(cg: &Cgroup, host: &HostCounters) -> EngineResult<Stats> {
    let raw = cg
        .stats()
        .map_err(|e| EngineError::internal(format!("stats: cgroup {}", cg.path()), e))?;
    // Which hierarchy served a controller decides the shape (see the module doc).
    let served_by_v1 = |c: &str| cg.mode() != Mode::Unified && cg.v1_dir(c).is_some();
    let mem_v1 = served_by_v1("memory");
    let io_v1 = served_by_v1("blkio");

    let usage = &raw.cpu.usage;
    let cpu_stats = CpuStats {
        cpu_usage: CpuUsage {
            total_usage: usage.total,
            percpu_usage: usage.percpu.clone(),
            usage_in_kernelmode: usage.kernel,
            usage_in_usermode: usage.user,
        },
        system_cpu_usage: host.system_cpu_usage,
        online_cpus: if usage.percpu.is_empty() {
            host.online_cpus
        } else {
            // dockerd counts the cgroup's per-CPU entries when it has them (v1).
            usage.percpu.len() as u32
        },
        throttling_data: ThrottlingData {
            periods: raw.cpu.throttling.periods,
            throttled_periods: raw.cpu.throttling.throttled_periods,
            throttled_time: raw.cpu.throttling.throttled_time,
        },
    };

    let mem = &raw.memory;
    let mut limit = mem.usage.limit;
    if host.mem_total > 0 && (limit == 0 || limit > host.mem_total) {
        limit = host.mem_total;
    }
    let memory_stats = MemoryStats {
        usage: mem.usage.usage,
        max_usage: if mem_v1 { mem.usage.max } else { 0 },
        stats: mem.raw.clone(),
        failcnt: if mem_v1 { mem.usage.failcnt } else { 0 },
        limit,
    };

    let entries =
        |v: &[berth_cgroups::stats::BlkioEntry], lower: bool| -> Option<Vec<BlkioStatEntry>> {
            if v.is_empty() {
                return None;
            }
            Some(
                v.iter()
                    .map(|e| BlkioStatEntry {
                        major: e.major,
                        minor: e.minor,
                        op: if lower {
                            e.op.to_ascii_lowercase()
                        } else {
                            e.op.clone()
                        },
                        value: e.value,
                    })
                    .collect(),
            )
        };
    let b = &raw.blkio;
    let blkio_stats = if io_v1 {
        BlkioStats {
            io_service_bytes_recursive: entries(&b.io_service_bytes_recursive, false),
            io_serviced_recursive: entries(&b.io_serviced_recursive, false),
            io_queue_recursive: entries(&b.io_queued_recursive, false),
            io_service_time_recursive: entries(&b.io_service_time_recursive, false),
            io_wait_time_recursive: entries(&b.io_wait_time_recursive, false),
            io_merged_recursive: entries(&b.io_merged_recursive, false),
            io_time_recursive: entries(&b.io_time_recursive, false),
            sectors_recursive: entries(&b.sectors_recursive, false),
        }
    } else {
        BlkioStats {
            io_service_bytes_recursive: entries(&b.io_service_bytes_recursive, true),
            ..BlkioStats::default()
        }
    };

    Ok(Stats {
        read: timefmt::now_rfc3339_nano(),
        preread: timefmt::ZERO_TIME.into(),
        pids_stats: PidsStats {
            current: raw.pids.current,
            limit: raw.pids.limit,
        },
        blkio_stats,
        num_procs: 0,
        cpu_stats,
        memory_stats,
        ..Stats::default()
    })
}

/// The interfaces of /proc/PID/net/dev (`lo` left out, as dockerd) with their
/// counters, for `Stats.networks`.
pub fn net_dev(text: &str) -> std::collections::BTreeMap<String, NetworkStats> {
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if v.len() < 12 {
            continue;
        }
        out.insert(
            name.to_string(),
            NetworkStats {
                rx_bytes: v[0],
                rx_packets: v[1],
                rx_errors: v[2],
                rx_dropped: v[3],
                tx_bytes: v[8],
                tx_packets: v[9],
                tx_errors: v[10],
                tx_dropped: v[11],
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_parses_like_the_kernel_writes_it() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0\n  eth0:    1296      16    1    2    0     0          0         0      826       9    3    4    0     0       0          0\n";
        let n = net_dev(text);
        assert_eq!(n.len(), 1);
        let e = &n["eth0"];
        assert_eq!(
            (e.rx_bytes, e.rx_packets, e.rx_errors, e.rx_dropped),
            (1296, 16, 1, 2)
        );
        assert_eq!(
            (e.tx_bytes, e.tx_packets, e.tx_errors, e.tx_dropped),
            (826, 9, 3, 4)
        );
    }

    #[test]
    fn host_counters_parse() {
        let stat = "cpu  100 0 50 1000 10 0 0 5 0 0\ncpu0 50 0 25 500 5 0 0 0 0 0\ncpu1 50 0 25 500 5 0 0 0 0 0\nintr 1\n";
        let h = HostCounters::parse(stat, "MemTotal: 1024 kB\n").unwrap();
        // 1160 ticks of 10 ms, steal left out.
        assert_eq!(h.system_cpu_usage, 11_600_000_000);
        assert_eq!(h.online_cpus, 2);
        assert_eq!(h.mem_total, 1 << 20);
        assert!(HostCounters::parse("intr 1\n", "").is_err());
        assert!(HostCounters::parse("cpu x\n", "").is_err());
    }
}
