//! End to end: resource flags land in the kernel's cgroup files, read on the host where
//! an administrator looks — cgroup v2's files on a pure v2 host, their v1 equivalents
//! elsewhere: `--memory`, `--memory-swap`, `--cpus`, `--cpuset-cpus`, `--pids-limit`
//! and `--blkio-weight` at `run`, then changed by `update`. And the device rules: a
//! container may mknod a block device but not open it, unless it was given with
//! `--device`.

mod common;

use std::path::{Path, PathBuf};

use common::{out_err, Cli, Daemon};

/// True on a pure cgroup v2 host (cgroup2 mounted at /sys/fs/cgroup).
fn unified() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The container's cgroup directory for `controller` (the unified one on v2). The
/// test daemon's containers live at `<cgroup parent>/<id>` from each hierarchy's root.
fn cgroup_dir(d: &Daemon, id: &str, controller: &str) -> PathBuf {
    let rel = format!("{}/{id}", d.cgroup_parent.trim_start_matches('/'));
    if unified() {
        Path::new("/sys/fs/cgroup").join(rel)
    } else {
        Path::new("/sys/fs/cgroup").join(controller).join(rel)
    }
}

/// A cgroup file's content, trimmed; None when the file does not exist.
fn read(d: &Daemon, id: &str, controller: &str, file: &str) -> Option<String> {
    let p = cgroup_dir(d, id, controller).join(file);
    match std::fs::read_to_string(&p) {
        Ok(s) => Some(s.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("reading {}: {e}", p.display()),
    }
}

/// Like [`read`], but the file must exist.
fn must_read(d: &Daemon, id: &str, controller: &str, file: &str) -> String {
    read(d, id, controller, file).unwrap_or_else(|| {
        let dir = cgroup_dir(d, id, controller);
        let listing: Vec<String> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        panic!(
            "{} does not exist; the directory holds {listing:?}",
            dir.join(file).display()
        )
    })
}

/// The weight in a v2 `io.weight`/`io.bfq.weight` ("default 300", maybe with
/// per-device lines) or a v1 `blkio.weight` ("300").
fn default_weight(s: &str) -> Option<u64> {
    s.lines()
        .find_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            ["default", w] | [w] => w.parse().ok(),
            _ => None,
        })
}

/// Whether this host can weigh block I/O, and the file berth writes and its value for
/// blkio weight `w` (v2 io.weight takes runc's conversion to 1..10000).
fn io_weight(d: &Daemon, id: &str, w: u64) -> Option<(String, u64)> {
    for (file, want) in [
        ("io.bfq.weight", w),
        ("io.weight", 1 + (w - 10) * 9999 / 990),
        ("blkio.weight", w),
        ("blkio.bfq.weight", w),
    ] {
        if read(d, id, "blkio", file).is_some() {
            return Some((file.to_string(), want));
        }
    }
    None
}

/// A v1 host whose blkio hierarchy offers weights (neither CFQ nor BFQ: none).
fn host_has_blkio_weight() -> bool {
    unified()
        || ["blkio.weight", "blkio.bfq.weight"]
            .iter()
            .any(|f| Path::new("/sys/fs/cgroup/blkio").join(f).exists())
}

fn online_cpus() -> Vec<u32> {
    let s = std::fs::read_to_string("/sys/devices/system/cpu/online").expect("online cpus");
    let mut v = Vec::new();
    for part in s.trim().split(',') {
        match part.split_once('-') {
            Some((a, b)) => v.extend(a.parse::<u32>().unwrap()..=b.parse::<u32>().unwrap()),
            None => v.push(part.parse().unwrap()),
        }
    }
    v
}

struct Limits<'a> {
    memory: u64,
    swap: u64,
    cpus: &'a str,
    quota: u64,
    cpuset: String,
    pids: u64,
    blkio: Option<u64>,
}

impl Limits<'_> {
    fn flags(&self) -> Vec<String> {
        let mut f = vec![
            "--memory".into(),
            self.memory.to_string(),
            "--memory-swap".into(),
            self.swap.to_string(),
            "--cpus".into(),
            self.cpus.into(),
            "--cpuset-cpus".into(),
            self.cpuset.clone(),
            "--pids-limit".into(),
            self.pids.to_string(),
        ];
        if let Some(w) = self.blkio {
            f.extend(["--blkio-weight".into(), w.to_string()]);
        }
        f
    }
}

/// Asserts that the container's cgroup files hold `l`.
fn assert_limits(d: &Daemon, id: &str, l: &Limits, what: &str) {
    let r = |c: &str, f: &str| must_read(d, id, c, f);
    if unified() {
        assert_eq!(
            r("memory", "memory.max"),
            l.memory.to_string(),
            "{what}: memory.max"
        );
        assert_eq!(
            r("memory", "memory.swap.max"),
            (l.swap - l.memory).to_string(),
            "{what}: memory.swap.max is --memory-swap minus --memory"
        );
        assert_eq!(
            r("cpu", "cpu.max"),
            format!("{} 100000", l.quota),
            "{what}: cpu.max"
        );
        assert_eq!(r("cpuset", "cpuset.cpus"), l.cpuset, "{what}: cpuset.cpus");
        assert_eq!(
            r("pids", "pids.max"),
            l.pids.to_string(),
            "{what}: pids.max"
        );
    } else {
        assert_eq!(
            r("memory", "memory.limit_in_bytes"),
            l.memory.to_string(),
            "{what}: memory.limit_in_bytes"
        );
        match read(d, id, "memory", "memory.memsw.limit_in_bytes") {
            Some(v) => assert_eq!(v, l.swap.to_string(), "{what}: memory.memsw.limit_in_bytes"),
            None => eprintln!("note: no swap accounting (memory.memsw.*) on this host"),
        }
        assert_eq!(
            r("cpu", "cpu.cfs_quota_us"),
            l.quota.to_string(),
            "{what}: cpu.cfs_quota_us"
        );
        assert_eq!(
            r("cpu", "cpu.cfs_period_us"),
            "100000",
            "{what}: cpu.cfs_period_us"
        );
        assert_eq!(r("cpuset", "cpuset.cpus"), l.cpuset, "{what}: cpuset.cpus");
        assert_eq!(
            r("pids", "pids.max"),
            l.pids.to_string(),
            "{what}: pids.max"
        );
    }
    if let Some(w) = l.blkio {
        let (file, want) = io_weight(d, id, w).unwrap_or_else(|| {
            panic!(
                "{what}: no io.weight, io.bfq.weight or blkio weight file in {}",
                cgroup_dir(d, id, "blkio").display()
            )
        });
        let got = must_read(d, id, "blkio", &file);
        assert_eq!(
            default_weight(&got),
            Some(want),
            "{what}: {file} is {got:?}"
        );
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn limits_land_in_the_cgroup_files_and_update_changes_them() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let cpus = online_cpus();
    let blkio = host_has_blkio_weight();
    if !blkio {
        eprintln!(
            "note: this host's block I/O scheduler offers no weights: --blkio-weight not checked"
        );
    }
    let at_run = Limits {
        memory: 64 << 20,
        swap: 96 << 20,
        cpus: "0.5",
        quota: 50000,
        cpuset: cpus.last().expect("a cpu").to_string(),
        pids: 50,
        blkio: blkio.then_some(300),
    };
    let updated = Limits {
        memory: 128 << 20,
        swap: 256 << 20,
        cpus: "1.5",
        quota: 150000,
        cpuset: cpus[0].to_string(),
        pids: 60,
        blkio: blkio.then_some(500),
    };
    for cli in Cli::all() {
        let c = &cli;
        let name = format!("limits-{}", c.name);
        let mut args = vec![
            "run".to_string(),
            "-d".into(),
            "--name".into(),
            name.clone(),
        ];
        args.extend(at_run.flags());
        args.extend(["busybox".into(), "sleep".into(), "1000".into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let id = d.ok(c, &args).trim().to_string();
        assert_eq!(id.len(), 64, "{}: run -d printed {id:?}", c.name);
        assert_limits(&d, &id, &at_run, &format!("{}: run", c.name));
        assert_in_cgroup(&d, c, &name, &id);

        let mut args = vec!["update".to_string()];
        args.extend(updated.flags());
        args.push(name.clone());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        d.ok(c, &args);
        assert_limits(&d, &id, &updated, &format!("{}: update", c.name));
        d.ok(c, &["rm", "-f", &name]);
        assert!(
            !cgroup_dir(&d, &id, "memory").exists(),
            "{}: rm -f left {}",
            c.name,
            cgroup_dir(&d, &id, "memory").display()
        );
    }
}

/// The container's init and a process `exec` starts are in the container's cgroup in
/// every hierarchy of the host (each enters by itself or is started there: see
/// berth-cgroups' `Entry`).
fn assert_in_cgroup(d: &Daemon, c: &Cli, name: &str, id: &str) {
    let want = format!("{}/{id}", d.cgroup_parent.trim_end_matches('/'));
    let pid = d.ok(c, &["inspect", "-f", "{{.State.Pid}}", name]);
    let hierarchies = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let (h, path) = l.rsplit_once(':').expect("hierarchy:path");
                assert!(
                    path.ends_with(&want),
                    "{}: {l:?} is not the container's cgroup {want}:\n{text}",
                    c.name
                );
                h.to_string()
            })
            .collect()
    };
    let init = std::fs::read_to_string(format!("/proc/{}/cgroup", pid.trim()))
        .expect("the init's /proc/PID/cgroup");
    let host = std::fs::read_to_string("/proc/self/cgroup").expect("/proc/self/cgroup");
    let all = hierarchies(&init);
    assert_eq!(all.len(), host.lines().count(), "{}: {init}", c.name);
    // Read from the host: inside, a private cgroup namespace shows "/".
    let tag = format!("{}", 31_000 + std::process::id() % 1000);
    d.ok(c, &["exec", "-d", name, "sleep", &tag]);
    let want_cmdline = format!("sleep\0{tag}\0");
    let exec_pid = (0..100)
        .find_map(|_| {
            let found = std::fs::read_dir("/proc").ok()?.flatten().find(|e| {
                std::fs::read(e.path().join("cmdline")).is_ok_and(|b| b == want_cmdline.as_bytes())
            });
            if found.is_none() {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            found
        })
        .unwrap_or_else(|| panic!("{}: the exec'd `sleep {tag}` is not running", c.name));
    let exec = std::fs::read_to_string(exec_pid.path().join("cgroup")).expect("its cgroup");
    assert_eq!(hierarchies(&exec), all, "{}: exec'd process", c.name);
}

/// A block device this test can open on the host (some sandboxes deny every disk even
/// to root): its /dev name and major:minor. Disks with data first, loop and ram last.
fn a_block_device() -> Option<(String, String)> {
    let mut found: Vec<(bool, String, String)> = std::fs::read_dir("/sys/class/block")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let dev = std::fs::read_to_string(e.path().join("dev")).ok()?;
            let size: u64 = std::fs::read_to_string(e.path().join("size"))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            std::fs::File::open(Path::new("/dev").join(&name)).ok()?;
            Some((size == 0, name, dev.trim().to_string()))
        })
        .collect();
    found.sort();
    found.into_iter().next().map(|(_, n, d)| (n, d))
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn device_rules_deny_a_block_device_unless_it_is_given() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let Some((name, majmin)) = a_block_device() else {
        eprintln!("note: this host has no block device the test can open: skipped");
        return;
    };
    let (maj, min) = majmin.split_once(':').expect("major:minor");
    let script = format!(
        "mknod /tmp/blk b {maj} {min} || exit 3; dd if=/tmp/blk of=/dev/null bs=512 count=1"
    );
    for cli in Cli::all() {
        let c = &cli;
        let o = d.run(c, &["run", "--rm", "busybox", "sh", "-c", &script]);
        let (out, err) = out_err(&o);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}: opening block device {majmin} ({name}) in a container must fail after mknod \
             succeeds; stdout {out:?} stderr {err:?}",
            c.name
        );
        assert!(
            err.contains("Operation not permitted"),
            "{}: the device rules must refuse {majmin}: {err:?}",
            c.name
        );
        // Given with --device, the same device opens.
        let dev = format!("/dev/{name}:/dev/given:r");
        let o = d.run(
            c,
            &[
                "run",
                "--rm",
                "--device",
                &dev,
                "busybox",
                "dd",
                "if=/dev/given",
                "of=/dev/null",
                "bs=512",
                "count=1",
            ],
        );
        let (out, err) = out_err(&o);
        assert!(
            o.status.success(),
            "{}: --device {dev} must make {majmin} readable; stdout {out:?} stderr {err:?}",
            c.name
        );
    }
}
