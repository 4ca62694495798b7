//! Reliability: many consecutive `run`s of /bin/true, each with a timeout (a
//! hang is a failure), leaving no zombies, runtime processes, state or cgroups.

use crate::runtime;
use berth_conformance::host::{cgroup_dir, processes_mentioning, zombie_children};
use berth_conformance::{Bundle, Container, Invoke};
use serde_json::json;
use std::time::{Duration, Instant};

fn consecutive_runs(n: usize) {
    let rt = runtime();
    let mut b = Bundle::new();
    let tag = berth_conformance::unique_id("rel");
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut leftovers = Vec::new();
    for i in 0..n {
        let id = format!("{tag}-{i}");
        let cgroups_path = format!("/{id}");
        b.linux()["cgroupsPath"] = json!(cgroups_path);
        b.write_config();
        let bundle = b.path().to_string_lossy().into_owned();
        let out = rt.invoke(
            &["run", "--bundle", &bundle, &id],
            Invoke {
                timeout: Some(Duration::from_secs(15)),
                ..Invoke::default()
            },
        );
        if !out.success() {
            failures.push(format!("run #{i}: {out}"));
        }
        if rt.root().join(&id).exists() {
            leftovers.push(format!(
                "run #{i}: state directory {} left behind",
                rt.root().join(&id).display()
            ));
        }
        for ctrl in ["memory", "pids", "cpu", "freezer", "devices"] {
            let dir = cgroup_dir(ctrl, &cgroups_path);
            if dir.exists() {
                leftovers.push(format!("run #{i}: cgroup {} left behind", dir.display()));
            }
        }
        if !out.success() || rt.root().join(&id).exists() {
            drop(Container::adopt(&rt, &id, &b)); // delete --force and cgroup cleanup
        }
        if failures.len() >= 5 {
            break;
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "{n} runs of /bin/true took {elapsed:?} ({:?} each)",
        elapsed / n.max(1) as u32
    );

    // A zombie that is still there a moment later was not about to be reaped.
    let zombies = zombie_children();
    std::thread::sleep(Duration::from_millis(300));
    let still: Vec<_> = zombie_children()
        .into_iter()
        .filter(|z| zombies.contains(z))
        .collect();
    let root = rt.root().to_string_lossy().into_owned();
    let stray = processes_mentioning(&root);
    let states: Vec<String> = std::fs::read_dir(rt.root())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();

    assert!(
        failures.is_empty(),
        "{} of {n} runs failed (first ones):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        leftovers.is_empty(),
        "runs left things behind:\n{}",
        leftovers.join("\n")
    );
    assert!(
        still.is_empty(),
        "zombie children after {n} runs: {still:?}"
    );
    assert!(
        stray.is_empty(),
        "runtime processes still alive after {n} runs: {stray:?}"
    );
    assert!(
        states.is_empty(),
        "state left in the runtime root after {n} runs: {states:?}"
    );
}

/// `BERTH_RELIABILITY_RUNS` runs (default 200; scripts/test.sh asks for the 1000 of issue 2).
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn consecutive_runs_of_true() {
    let n = std::env::var("BERTH_RELIABILITY_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    consecutive_runs(n);
}
