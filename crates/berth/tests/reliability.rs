//! Reliability of the daemon: containers outlive a SIGKILLed daemon and are adopted
//! again; hundreds of `run --rm` leave nothing behind.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{wait_for, Cli};

/// Shim processes whose command line mentions `root`.
fn shims_under(root: &Path) -> Vec<u32> {
    let needle = root.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(" shim ") && cmd.contains(&needle) {
            out.push(pid);
        }
    }
    out
}

fn mounts_under(root: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| Path::new(m).starts_with(root))
        .map(str::to_string)
        .collect()
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn containers_survive_a_sigkilled_daemon() {
    let Some(mut d) = common::daemon_with_busybox() else {
        return;
    };
    let b = Cli::berth();
    let counter = "i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done";
    let mut names = Vec::new();
    for n in 0..20 {
        let name = format!("keep-{n}");
        d.ok(
            &b,
            &["run", "-d", "--name", &name, "busybox", "sh", "-c", counter],
        );
        names.push(name);
    }
    d.ok(
        &b,
        &[
            "run",
            "-d",
            "--name",
            "quitter",
            "busybox",
            "sh",
            "-c",
            "sleep 1; exit 7",
        ],
    );
    // Restarted by its policy although it exits while no daemon runs.
    d.ok(
        &b,
        &[
            "run",
            "-d",
            "--name",
            "phoenix",
            "--restart",
            "always",
            "busybox",
            "sh",
            "-c",
            "sleep 1; exit 3",
        ],
    );
    assert_eq!(shims_under(&d.root).len(), 22);

    d.kill9();
    assert!(!d.ping());
    std::thread::sleep(Duration::from_millis(2500));
    // While the daemon is down: every shim but the quitter's and phoenix's is alive.
    assert_eq!(
        shims_under(&d.root).len(),
        20,
        "shims while the daemon is down"
    );
    d.spawn(&[]);

    assert!(
        wait_for(10, || d
            .ok(&b, &["inspect", "-f", "{{.RestartCount}}", "phoenix"])
            .trim()
            != "0"),
        "the always-restart container was not restarted after the daemon came back"
    );
    d.ok(&b, &["rm", "-f", "phoenix"]);
    let running = d.ok(&b, &["ps", "--format", "{{.Names}}"]);
    let mut running: Vec<&str> = running.lines().collect();
    running.sort();
    let mut want: Vec<&str> = names.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(running, want, "ps after the restart");
    assert_eq!(
        d.ok(
            &b,
            &[
                "inspect",
                "-f",
                "{{.State.Status}} {{.State.ExitCode}}",
                "quitter"
            ]
        ),
        "exited 7\n"
    );
    assert!(d
        .ok(
            &b,
            &["ps", "-a", "--filter", "exited=7", "--format", "{{.Names}}"]
        )
        .contains("quitter"));

    // Logs are complete: the counter has no gap across the daemon's absence.
    for name in &names {
        let logs = d.ok(&b, &["logs", name]);
        let nums: Vec<u64> = logs.lines().map(|l| l.parse().expect("number")).collect();
        assert!(nums.len() > 40, "{name}: only {} lines", nums.len());
        for (i, n) in nums.iter().enumerate() {
            assert_eq!(*n, i as u64, "{name}: gap in the log");
        }
    }
    // The adopted containers are fully manageable.
    d.ok(&b, &["stop", "-t", "1", "keep-0"]);
    assert_eq!(
        d.ok(&b, &["inspect", "-f", "{{.State.Status}}", "keep-0"]),
        "exited\n"
    );
    d.ok(&b, &["exec", "keep-1", "true"]);
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn many_run_rm_leave_nothing_behind() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let b = Cli::berth();
    let runs: usize = std::env::var("BERTH_RUN_RM_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let pid = d.pid().expect("daemon pid");
    // Warm up once so lazily opened descriptors are counted in the baseline.
    d.ok(&b, &["run", "--rm", "busybox", "true"]);
    let fds_before = entries(Path::new(&format!("/proc/{pid}/fd"))).len();
    for i in 0..runs {
        let o = d.run(&b, &["run", "--rm", "busybox", "true"]);
        assert!(
            o.status.success(),
            "run {i}: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            common::tail(&d.log(), 20)
        );
    }
    assert!(
        wait_for(10, || d.ok(&b, &["ps", "-aq"]).is_empty()),
        "containers left: {}",
        d.ok(&b, &["ps", "-a"])
    );
    assert!(
        wait_for(10, || shims_under(&d.root).is_empty()),
        "shims left"
    );
    let fds_after = entries(Path::new(&format!("/proc/{pid}/fd"))).len();
    assert!(
        fds_after <= fds_before + 2,
        "daemon fds grew from {fds_before} to {fds_after}"
    );
    // The daemon's own network namespace (the harness's) aside.
    let own_ns = d.netns.as_ref().map(|p| p.to_string_lossy().into_owned());
    let left: Vec<String> = mounts_under(&d.root)
        .into_iter()
        .filter(|m| Some(m) != own_ns.as_ref())
        .collect();
    assert_eq!(left, Vec::<String>::new(), "mounts left");
    // Each run was on the default bridge: no veth is left (the kernel deletes a pair
    // with its namespace, asynchronously), nor a namespace file.
    let links = || {
        let o = d.net_run("ip", &["-o", "link", "show"]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().to_string()))
            .collect::<Vec<_>>()
    };
    assert!(
        wait_for(10, || links() == ["lo", "berth0"]),
        "links left: {:?}",
        links()
    );
    assert_eq!(entries(&d.root.join("exec/netns")), Vec::<String>::new());
    for dir in ["data/containers", "exec/containers", "exec/runc"] {
        // The runtime's cache of compiled seccomp programs is meant to stay.
        let left: Vec<String> = entries(&d.root.join(dir))
            .into_iter()
            .filter(|e| e != "@seccomp-cache")
            .collect();
        assert_eq!(left, Vec::<String>::new(), "files left in {dir}");
    }
    for cg in common::leftover_cgroups(&d.cgroup_parent) {
        let kids: Vec<String> = std::fs::read_dir(&cg)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            kids.is_empty(),
            "cgroups left under {}: {kids:?}",
            cg.display()
        );
    }
}
