//! Stats samples: from fake cgroup v1 and v2 trees (the conversion to the API's shape,
//! exactly), and from a real cgroup on this host holding a real process.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_cgroups::{Cgroup, Layout};
use berth_engine::stats::{cgroup_stats, stats_of, HostCounters};

fn seed(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, content) in files {
        std::fs::write(dir.join(name), content).unwrap();
    }
}

const HOST: HostCounters = HostCounters {
    system_cpu_usage: 123_000_000_000,
    online_cpus: 8,
    mem_total: 1 << 30,
};

#[test]
fn cgroup_v2_counters_in_the_api_shape() {
    let t = tempfile::tempdir().unwrap();
    seed(
        &t.path().join("c1"),
        &[
            ("cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 20\n"),
            ("memory.current", "12288\n"),
            ("memory.max", "max\n"),
            ("memory.peak", "20000\n"),
            ("memory.stat", "anon 4096\nfile 8192\ninactive_file 100\n"),
            ("pids.current", "2\n"),
            ("pids.max", "50\n"),
            ("io.stat", "8:0 rbytes=4096 wbytes=512 rios=1 wios=2 dbytes=0 dios=0\n"),
        ],
    );
    let cg = Cgroup::with_root(Layout::unified_at(t.path()), "/c1");
    let s = stats_of(&cg, &HOST).unwrap();
    let c = &s.cpu_stats;
    assert_eq!(c.cpu_usage.total_usage, 1_500_000);
    assert_eq!(c.cpu_usage.usage_in_usermode, 1_000_000);
    assert_eq!(c.cpu_usage.usage_in_kernelmode, 500_000);
    assert!(c.cpu_usage.percpu_usage.is_empty());
    assert_eq!((c.system_cpu_usage, c.online_cpus), (123_000_000_000, 8));
    assert_eq!(
        (
            c.throttling_data.periods,
            c.throttling_data.throttled_periods,
            c.throttling_data.throttled_time
        ),
        (4, 1, 20_000)
    );
    let m = &s.memory_stats;
    assert_eq!(m.usage, 12288);
    // Unlimited: the host's memory, as dockerd reports it.
    assert_eq!(m.limit, 1 << 30);
    assert_eq!(m.max_usage, 0, "v2 has no max_usage in the API");
    assert_eq!(m.stats["anon"], 4096);
    assert_eq!(m.stats["inactive_file"], 100);
    assert_eq!((s.pids_stats.current, s.pids_stats.limit), (2, 50));
    let io = s.blkio_stats.io_service_bytes_recursive.as_ref().unwrap();
    let rows: Vec<(u64, u64, &str, u64)> = io
        .iter()
        .map(|e| (e.major, e.minor, e.op.as_str(), e.value))
        .collect();
    assert_eq!(rows, [(8, 0, "read", 4096), (8, 0, "write", 512)]);
    assert!(s.blkio_stats.io_serviced_recursive.is_none());
    assert_eq!(s.num_procs, 0);
    assert_eq!(s.preread, "0001-01-01T00:00:00Z");
    assert!(berth_engine::timefmt::parse_rfc3339(&s.read).is_some());

    // A limit below the host's memory is reported as is.
    std::fs::write(t.path().join("c1/memory.max"), "1048576\n").unwrap();
    assert_eq!(stats_of(&cg, &HOST).unwrap().memory_stats.limit, 1 << 20);
    // A cgroup that is gone is an error naming it.
    let gone = Cgroup::with_root(Layout::unified_at(t.path()), "/gone");
    let e = stats_of(&gone, &HOST).unwrap_err();
    assert!(e.to_string().contains("gone"), "{e}");
}

#[test]
fn cgroup_v1_counters_in_the_api_shape() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().display();
    let mountinfo = format!(
        "32 31 0:29 / {root}/cpu rw - cgroup cgroup rw,cpu\n\
         33 31 0:30 / {root}/cpuacct rw - cgroup cgroup rw,cpuacct\n\
         35 31 0:32 / {root}/memory rw - cgroup cgroup rw,memory\n\
         36 31 0:33 / {root}/pids rw - cgroup cgroup rw,pids\n\
         37 31 0:34 / {root}/blkio rw - cgroup cgroup rw,blkio\n"
    );
    let layout = Layout::from_mountinfo(&mountinfo).unwrap();
    seed(
        &t.path().join("cpu/c1"),
        &[(
            "cpu.stat",
            "nr_periods 5\nnr_throttled 2\nthrottled_time 300\n",
        )],
    );
    seed(
        &t.path().join("cpuacct/c1"),
        &[
            ("cpuacct.usage", "3000\n"),
            ("cpuacct.usage_percpu", "1000 2000 \n"),
            ("cpuacct.stat", "user 10\nsystem 5\n"),
        ],
    );
    seed(
        &t.path().join("memory/c1"),
        &[
            ("memory.usage_in_bytes", "4096\n"),
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory.max_usage_in_bytes", "8192\n"),
            ("memory.failcnt", "3\n"),
            ("memory.stat", "cache 100\nrss 200\ntotal_inactive_file 7\n"),
        ],
    );
    seed(
        &t.path().join("pids/c1"),
        &[("pids.current", "3\n"), ("pids.max", "max\n")],
    );
    seed(
        &t.path().join("blkio/c1"),
        &[
            (
                "blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 4096\n8:0 Write 1024\nTotal 5120\n",
            ),
            (
                "blkio.throttle.io_serviced_recursive",
                "8:0 Read 2\n8:0 Write 1\nTotal 3\n",
            ),
        ],
    );
    let cg = Cgroup::with_root(layout, "/c1");
    let s = stats_of(&cg, &HOST).unwrap();
    let c = &s.cpu_stats;
    assert_eq!(c.cpu_usage.total_usage, 3000);
    assert_eq!(c.cpu_usage.percpu_usage, [1000, 2000]);
    // USER_HZ ticks in nanoseconds.
    assert_eq!(c.cpu_usage.usage_in_usermode, 100_000_000);
    assert_eq!(c.cpu_usage.usage_in_kernelmode, 50_000_000);
    assert_eq!(c.online_cpus, 2, "v1 counts the cgroup's CPUs");
    assert_eq!(c.throttling_data.throttled_time, 300);
    let m = &s.memory_stats;
    assert_eq!(
        (m.usage, m.max_usage, m.failcnt, m.limit),
        (4096, 8192, 3, 1 << 30)
    );
    assert_eq!(m.stats["cache"], 100);
    assert_eq!(m.stats["rss"], 200);
    assert_eq!((s.pids_stats.current, s.pids_stats.limit), (3, 0));
    let io = s.blkio_stats.io_service_bytes_recursive.as_ref().unwrap();
    let rows: Vec<(&str, u64)> = io.iter().map(|e| (e.op.as_str(), e.value)).collect();
    assert_eq!(rows, [("Read", 4096), ("Write", 1024)]);
    assert_eq!(
        s.blkio_stats.io_serviced_recursive.as_ref().unwrap().len(),
        2
    );
    // dockerd's JSON: lower-case keys, the blkio lists present.
    let j = serde_json::to_value(&s).unwrap();
    assert_eq!(j["memory_stats"]["stats"]["cache"], 100);
    assert_eq!(
        j["cpu_stats"]["cpu_usage"]["percpu_usage"],
        serde_json::json!([1000, 2000])
    );
}

/// A child process and the cgroup it was moved into; both go when dropped.
struct Sandbox {
    child: Child,
    cgroup: Cgroup,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The kernel needs a moment to empty the cgroup of the dead process.
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.cgroup.destroy().is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn a_real_cgroup_on_this_host() {
    let path = format!("/berth-test-stats-{}", std::process::id());
    let cgroup = Cgroup::new(Some(&path), "stats-test", false).unwrap();
    cgroup.create().unwrap();
    // The child waits on stdin until it is in the cgroup, then burns a little CPU and
    // execs sleep, so both CPU time and memory are charged to the cgroup.
    let child = Command::new("sh")
        .args([
            "-c",
            "read go; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 60",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sb = Sandbox { child, cgroup };
    let pid = sb.child.id() as i32;
    sb.cgroup.add_process(pid).unwrap();
    sb.child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let comm = format!("/proc/{pid}/comm");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&comm).unwrap_or_default().trim() != "sleep" {
        assert!(Instant::now() < deadline, "the child never reached sleep");
        std::thread::sleep(Duration::from_millis(20));
    }

    let s = cgroup_stats(&path).unwrap();
    assert_eq!(s.pids_stats.current, 1);
    assert!(s.cpu_stats.cpu_usage.total_usage > 0, "{:?}", s.cpu_stats);
    assert!(s.cpu_stats.system_cpu_usage > 0);
    assert!(s.cpu_stats.online_cpus >= 1);
    let host = HostCounters::read().unwrap();
    assert!(s.memory_stats.usage > 0, "{:?}", s.memory_stats);
    assert_eq!(
        s.memory_stats.limit, host.mem_total,
        "no limit set: the host's memory"
    );
    assert!(!s.memory_stats.stats.is_empty());

    drop(sb);
    let e = cgroup_stats(&path).unwrap_err();
    assert!(e.to_string().contains(&path), "{e}");
}
