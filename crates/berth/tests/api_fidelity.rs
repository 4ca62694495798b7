//! Engine API fidelity with dockerd (tests/sdk/api_fidelity.py): request decoding by
//! Go's rules, exec start framing, commit of an exiting container, attach to a stopped
//! one, inspect documents, a broken `load`, swarm endpoints and not-found answers,
//! through the Docker SDK for Python against berth and, where scripts/dockerd.sh has
//! fetched one (BERTH_DOCKERD), against a real dockerd 20.10 with the same image.

mod common;

use std::process::Command;

use common::dockerd::Dockerd;

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn engine_api_answers_as_dockerd_does() {
    let Some((py, d)) = common::sdk_daemon() else {
        return;
    };
    // The same image (same id) in dockerd: saved by berth, loaded by dockerd.
    // dockerd with its default networking, in the berth daemon's network namespace, so
    // that both daemons' containers have endpoints to compare.
    let dockerd = if common::docker_cli().is_some() {
        match &d.netns {
            Some(ns) => Dockerd::start_networked(ns, "172.30.0.1/16"),
            None => Dockerd::start(),
        }
    } else {
        eprintln!("note: no docker CLI; berth is checked alone");
        None
    };
    if let Some(k) = &dockerd {
        let archive = d.root.join("busybox-image.tar");
        let a = archive.to_str().expect("utf-8 path");
        d.ok(&common::Cli::berth(), &["save", "-o", a, "busybox"]);
        k.ok(&["load", "-i", a]);
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/api_fidelity.py");
    let mut cmd = Command::new(py);
    cmd.arg(script).env("BERTH_HOST", d.host());
    if let Some(k) = &dockerd {
        cmd.env("DOCKERD_HOST", k.host());
    }
    let out = cmd.output().expect("run python");
    let (so, se) = common::out_err(&out);
    assert!(
        out.status.success(),
        "API fidelity checks failed:\n{so}\n{se}\nberth daemon log:\n{}{}",
        common::tail(&d.log(), 40),
        dockerd
            .as_ref()
            .map(|k| format!("\ndockerd log:\n{}", k.log()))
            .unwrap_or_default()
    );
    eprint!("{se}");
}
