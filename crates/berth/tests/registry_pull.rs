//! Pulling from the reference registry (Debian's docker-registry 2.8) through berth's
//! daemon, with the berth CLI and the docker CLI: gzip, zstd and multi-platform
//! images, basic and token auth, dockerd's words for missing images, verification
//! of tampered blobs and manifests, and pulls that survive a registry restart and a
//! daemon killed mid-way. Each test runs its registry in its daemon's network
//! namespace.

mod common;

use std::process::Command;
use std::time::Duration;

use common::registry::{self, Auth, Comp, Proxy, Registry};
use common::{out_err, tail, wait_for, Cli, Daemon};

fn setup() -> Option<Daemon> {
    if !registry::tools() || common::busybox().is_none() {
        return None;
    }
    Some(Daemon::start())
}

/// `berth images` (repository:tag lines).
fn image_names(d: &Daemon) -> Vec<String> {
    let out = d.ok(
        &Cli::berth(),
        &["images", "--format", "{{.Repository}}:{{.Tag}}"],
    );
    out.lines().map(str::to_string).collect()
}

/// Committed layer snapshots in the daemon's data root.
fn snapshot_keys(d: &Daemon) -> Vec<String> {
    let meta = std::fs::read(d.root.join("data/snapshots/metadata.json")).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&meta).unwrap_or_default();
    v["snapshots"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
#[ignore = "needs root (network namespaces, mounts), docker-registry and skopeo"]
fn pull_gzip_zstd_and_a_platform_of_an_index_then_run_them() {
    let Some(d) = setup() else { return };
    let reg = Registry::start(&d, "registry", 5000, Auth::None);
    let bb = registry::busybox_layer(&d.root);
    let extra = registry::tar_of(&[("etc/greeting", b"hello from a second layer\n")]);
    let gz = registry::write_layout(
        &d.root.join("oci-gz"),
        "latest",
        &[bb.clone(), extra.clone()],
        Comp::Gzip,
        false,
    );
    let zst = registry::write_layout(
        &d.root.join("oci-zst"),
        "zstd",
        &[bb.clone(), extra],
        Comp::Zstd,
        false,
    );
    let multi = registry::write_layout(&d.root.join("oci-multi"), "multi", &[bb], Comp::Gzip, true);
    reg.push(&gz.dir, "latest", "busybox", None);
    reg.push(&zst.dir, "zstd", "busybox", None);
    reg.push(&multi.dir, "multi", "multi", None);
    for cli in Cli::all() {
        let name = cli.name;
        // The seeds' story: run pulls what is missing, then runs it.
        let o = d.run(
            &cli,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "localhost:5000/busybox",
                "cat",
                "/etc/greeting",
            ],
        );
        let (so, se) = out_err(&o);
        assert!(
            o.status.success(),
            "{name} run: {se}\n{}",
            tail(&d.log(), 20)
        );
        assert_eq!(so, "hello from a second layer\n", "{name}");
        assert!(
            se.contains("Unable to find image 'localhost:5000/busybox:latest' locally"),
            "{name}: {se}"
        );
        assert!(
            se.contains("Pull complete")
                && se.contains("Status: Downloaded newer image for localhost:5000/busybox:latest"),
            "{name}: {se}"
        );

        let out = d.ok(&cli, &["pull", "127.0.0.1:5000/busybox:zstd"]);
        assert!(out.contains("zstd: Pulling from busybox"), "{name}: {out}");
        // The base layer is the same content as busybox's, compressed differently:
        // a new blob, but the snapshot of that diff_id is already there.
        assert!(
            out.contains(&format!("Digest: {}", zst.top)),
            "{name}: {out}"
        );
        assert!(
            out.trim_end().ends_with("127.0.0.1:5000/busybox:zstd"),
            "{name}: {out}"
        );
        let o = d.ok(
            &cli,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "127.0.0.1:5000/busybox:zstd",
                "cat",
                "/etc/greeting",
            ],
        );
        assert_eq!(o, "hello from a second layer\n");
        // Again: up to date, nothing downloaded.
        let out = d.ok(&cli, &["pull", "127.0.0.1:5000/busybox:zstd"]);
        assert!(
            out.contains("Status: Image is up to date for 127.0.0.1:5000/busybox:zstd"),
            "{name}: {out}"
        );
        assert!(!out.contains("Pull complete"), "{name}: {out}");

        // The index: linux/amd64 is picked, the arm64 dummy never fetched.
        let out = d.ok(&cli, &["pull", "127.0.0.1:5000/multi:multi"]);
        assert!(
            out.contains(&format!("Digest: {}", multi.top)),
            "{name}: {out}"
        );
        let digests = d.ok(
            &cli,
            &[
                "image",
                "inspect",
                "-f",
                "{{json .RepoDigests}} {{.Architecture}}",
                "127.0.0.1:5000/multi:multi",
            ],
        );
        assert!(
            digests.contains(&format!("127.0.0.1:5000/multi@{}", multi.top)),
            "{name}: {digests}"
        );
        assert!(digests.trim_end().ends_with("amd64"), "{name}: {digests}");
        let o = d.ok(
            &cli,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "127.0.0.1:5000/multi:multi",
                "echo",
                "multi-ok",
            ],
        );
        assert_eq!(o, "multi-ok\n");
        // By digest.
        let by_digest = format!("127.0.0.1:5000/busybox@{}", gz.top);
        let out = d.ok(&cli, &["pull", &by_digest]);
        assert!(
            out.contains(&format!("Digest: {}", gz.top)),
            "{name}: {out}"
        );

        // dockerd's words for what is not there.
        let o = d.run(&cli, &["pull", "127.0.0.1:5000/busybox:nope"]);
        let (_, se) = out_err(&o);
        assert!(!o.status.success());
        assert!(
            se.contains("manifest for 127.0.0.1:5000/busybox:nope not found: manifest unknown"),
            "{name}: {se}"
        );
        let o = d.run(&cli, &["run", "--rm", "127.0.0.1:5000/nothing-here"]);
        assert_eq!(o.status.code(), Some(125), "{name}");
        // (gz and zstd share their config, so one image; removing its last tag of a
        // repository drops that repository's digest names too, as docker's rmi does.)
        for img in [
            "localhost:5000/busybox",
            "127.0.0.1:5000/busybox:zstd",
            "127.0.0.1:5000/multi:multi",
        ] {
            d.ok(&cli, &["rmi", img]);
        }
        assert!(image_names(&d).is_empty(), "{name}: {:?}", image_names(&d));
    }
    // --all-tags, with the berth CLI (plain lines: stdout is not a terminal).
    let out = d.ok(
        &Cli::berth(),
        &["pull", "--all-tags", "127.0.0.1:5000/busybox"],
    );
    assert!(
        out.contains("latest: Pulling from busybox") && out.contains("zstd: Pulling from busybox"),
        "{out}"
    );
    assert!(
        out.contains("Status: Downloaded newer image for 127.0.0.1:5000/busybox"),
        "{out}"
    );
    assert!(
        !out.contains("Downloading"),
        "no byte progress off a terminal: {out}"
    );
    let mut names = image_names(&d);
    names.sort();
    assert_eq!(
        names,
        [
            "127.0.0.1:5000/busybox:latest",
            "127.0.0.1:5000/busybox:zstd"
        ]
    );
    // -q prints the reference only.
    let out = d.ok(&Cli::berth(), &["pull", "-q", "127.0.0.1:5000/multi:multi"]);
    assert_eq!(out, "127.0.0.1:5000/multi:multi\n");
    // The Engine API's raw stream: dockerd's statuses and progress detail.
    let raw = Command::new("curl")
        .args(["-sS", "--unix-socket"])
        .arg(&d.sock)
        .args(["-X", "POST", "http://berth/v1.41/images/create?fromImage=127.0.0.1:5000/multi&tag=multi&platform=linux/amd64"])
        .output()
        .expect("curl");
    let raw = String::from_utf8_lossy(&raw.stdout).into_owned();
    assert!(
        raw.contains(r#"{"status":"Pulling from multi","id":"multi"}"#),
        "{raw}"
    );
    assert!(
        raw.contains("\"status\":\"Status: Image is up to date for 127.0.0.1:5000/multi:multi\""),
        "{raw}"
    );
    // /distribution: the index and its platforms.
    let dist = Command::new("curl")
        .args(["-sS", "--unix-socket"])
        .arg(&d.sock)
        .arg("http://berth/v1.41/distribution/127.0.0.1:5000/multi:multi/json")
        .output()
        .expect("curl");
    let v: serde_json::Value = serde_json::from_slice(&dist.stdout).expect("distribution json");
    assert_eq!(v["Descriptor"]["digest"], multi.top.as_str(), "{v}");
    let archs: Vec<&str> = v["Platforms"]
        .as_array()
        .expect("platforms")
        .iter()
        .filter_map(|p| p["architecture"].as_str())
        .collect();
    assert_eq!(archs, ["arm64", "amd64"], "{v}");
}

#[test]
#[ignore = "needs root (network namespaces, mounts), docker-registry and skopeo"]
fn pull_from_registries_that_want_basic_or_token_auth() {
    let Some(d) = setup() else { return };
    let bb = registry::busybox_layer(&d.root);
    let layout = registry::write_layout(&d.root.join("oci"), "latest", &[bb], Comp::Gzip, false);

    // htpasswd.
    let basic = Registry::start(
        &d,
        "basic",
        5100,
        Auth::Basic("tester".into(), "s3cret".into()),
    );
    basic.push(
        &layout.dir,
        "latest",
        "private/busybox",
        Some("tester:s3cret"),
    );
    let o = d.run(&Cli::berth(), &["pull", "127.0.0.1:5100/private/busybox"]);
    let (_, se) = out_err(&o);
    assert!(!o.status.success());
    assert!(se.contains("no basic auth credentials"), "{se}");
    // Credentials in X-Registry-Auth, as the docker CLI sends them after a login.
    let create =
        |q: &str, header: &str| registry::post_with_auth(&d, &format!("images/create?{q}"), header);
    let out = create(
        "fromImage=127.0.0.1:5100/private/busybox&tag=latest",
        &registry::registry_auth("tester", "wrong", "127.0.0.1:5100"),
    );
    assert!(
        out.trim_end().ends_with("500") && out.contains("unauthorized"),
        "{out}"
    );
    let out = create(
        "fromImage=127.0.0.1:5100/private/busybox&tag=latest",
        &registry::registry_auth("tester", "s3cret", "127.0.0.1:5100"),
    );
    assert!(
        out.contains("Status: Downloaded newer image for 127.0.0.1:5100/private/busybox:latest"),
        "{out}"
    );
    if let Some(docker) = Cli::docker() {
        // The docker CLI's stored credentials (what `docker login` writes).
        let cfg = registry::docker_login_file(&d, "127.0.0.1:5100", "tester:s3cret");
        d.ok(&Cli::berth(), &["rmi", "127.0.0.1:5100/private/busybox"]);
        let out = d.ok(&docker, &["pull", "127.0.0.1:5100/private/busybox"]);
        assert!(out.contains("Downloaded newer image"), "{out}");
        let o = d.ok(
            &docker,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "127.0.0.1:5100/private/busybox",
                "echo",
                "basic-ok",
            ],
        );
        assert_eq!(o, "basic-ok\n");
        std::fs::remove_file(cfg).expect("rm config.json");
    }

    // Token auth: the registry trusts a certificate the test made; a token server
    // (a thread here) signs a token granting pull to tester:s3cret, none to others.
    let (tok, log) =
        registry::start_behind_token_server(&d, "token", 5200, "tok/busybox", &["pull", "push"]);
    tok.push(&layout.dir, "latest", "tok/busybox", Some("tester:s3cret"));
    let o = d.run(&Cli::berth(), &["pull", "127.0.0.1:5200/tok/busybox"]);
    let (_, se) = out_err(&o);
    assert!(!o.status.success());
    assert!(
        se.contains("pull access denied for 127.0.0.1:5200/tok/busybox, repository does not exist or may require 'docker login'"),
        "{se}\n{}",
        tail(&tok.log(), 10)
    );
    let out = create(
        "fromImage=127.0.0.1:5200/tok/busybox&tag=latest",
        &registry::registry_auth("tester", "s3cret", "127.0.0.1:5100"),
    );
    assert!(
        out.contains("Status: Downloaded newer image for 127.0.0.1:5200/tok/busybox:latest"),
        "{out}\n{}",
        tail(&tok.log(), 10)
    );
    let requests = log.lock().expect("log").clone();
    assert!(
        requests
            .iter()
            .any(|r| r.contains("service=berth-test-registry")
                && r.contains("scope=repository%3Atok%2Fbusybox%3Apull")
                && r.ends_with("auth=true")),
        "{requests:?}"
    );
    // The token is cached: a second pull asks the token server nothing new.
    let before = log.lock().expect("log").len();
    d.ok(&Cli::berth(), &["rmi", "127.0.0.1:5200/tok/busybox"]);
    let out = create(
        "fromImage=127.0.0.1:5200/tok/busybox&tag=latest",
        &registry::registry_auth("tester", "s3cret", "127.0.0.1:5100"),
    );
    assert!(out.contains("Downloaded newer image"), "{out}");
    assert_eq!(log.lock().expect("log").len(), before, "token reused");
    let o = d.ok(
        &Cli::berth(),
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "127.0.0.1:5200/tok/busybox",
            "echo",
            "token-ok",
        ],
    );
    assert_eq!(o, "token-ok\n");
}

#[test]
#[ignore = "needs root (network namespaces, mounts), docker-registry and skopeo"]
fn tampered_blobs_and_manifests_fail_verification_and_leave_nothing() {
    let Some(d) = setup() else { return };
    let reg = Registry::start(&d, "registry", 5000, Auth::None);
    let bb = registry::busybox_layer(&d.root);
    let layout = registry::write_layout(
        &d.root.join("oci"),
        "latest",
        std::slice::from_ref(&bb),
        Comp::Gzip,
        false,
    );
    reg.push(&layout.dir, "latest", "blob", None);
    let layout2 = registry::write_layout(
        &d.root.join("oci2"),
        "v2",
        &[registry::tar_of(&[("x", b"y")])],
        Comp::Gzip,
        false,
    );
    reg.push(&layout2.dir, "v2", "man", None);
    let snaps_before = snapshot_keys(&d);

    // A byte of the layer flipped in the registry's storage (same size).
    let p = reg.blob_path(&layout.layers[0]);
    let mut data = std::fs::read(&p).expect("blob data");
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&p, &data).expect("tamper");
    for cli in Cli::all() {
        let o = d.run(&cli, &["pull", "127.0.0.1:5000/blob"]);
        let (so, se) = out_err(&o);
        assert!(!o.status.success(), "{}: {so}", cli.name);
        assert!(
            se.contains(&format!(
                "filesystem layer verification failed for digest {}",
                layout.layers[0]
            )),
            "{}: {se}",
            cli.name
        );
    }
    // A manifest changed after it was pushed (still valid JSON).
    let mp = reg.blob_path(&layout2.top);
    let mut m = std::fs::read_to_string(&mp).expect("manifest data");
    m.push(' ');
    std::fs::write(&mp, m).expect("tamper manifest");
    let o = d.run(&Cli::berth(), &["pull", "127.0.0.1:5000/man:v2"]);
    let (_, se) = out_err(&o);
    assert!(!o.status.success());
    assert!(
        se.contains(&format!(
            "manifest verification failed for digest {}",
            layout2.top
        )),
        "{se}"
    );

    assert!(image_names(&d).is_empty(), "{:?}", image_names(&d));
    assert_eq!(snapshot_keys(&d), snaps_before, "no snapshot left behind");
    let blobs = std::fs::read_dir(d.root.join("data/content/blobs/sha256"))
        .expect("blobs")
        .filter_map(|e| {
            e.ok()
                .map(|e| format!("sha256:{}", e.file_name().to_string_lossy()))
        })
        .collect::<Vec<_>>();
    assert!(
        !blobs.contains(&layout.layers[0]),
        "the tampered layer was not stored"
    );
    assert!(
        !blobs.contains(&layout2.top),
        "the tampered manifest was not stored"
    );
}

/// The pulled big image runs and holds its whole file.
fn assert_big_runs(d: &Daemon) {
    let args = [
        "run",
        "--rm",
        "--network",
        "none",
        "127.0.0.1:5300/big",
        "wc",
        "-c",
        "/big.bin",
    ];
    let o = d.ok(&Cli::berth(), &args);
    assert_eq!(
        o.split_whitespace().next(),
        Some((48u64 << 20).to_string().as_str())
    );
}

/// `berth pull IMAGE` in the background (its errors kept for the assertion).
fn spawn_pull(d: &Daemon, image: &str) -> std::process::Child {
    d.cmd(&Cli::berth())
        .args(["pull", image])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("pull")
}

#[test]
#[ignore = "needs root (network namespaces, mounts), docker-registry and skopeo"]
fn a_pull_resumes_across_a_registry_restart_and_survives_a_daemon_kill() {
    let Some(mut d) = setup() else { return };
    let netns = d.netns.clone().expect("netns");
    let mut reg = Registry::start(&d, "registry", 5301, Auth::None);
    let big = registry::random_layer("big.bin", 48 << 20, 7);
    let bb = registry::busybox_layer(&d.root);
    let layout =
        registry::write_layout(&d.root.join("oci"), "latest", &[bb, big], Comp::Gzip, false);
    reg.push(&layout.dir, "latest", "big", None);
    // Clients reach the registry through a proxy sending 16 MB/s.
    let proxy = Proxy::start(&netns, 5300, 5301, Some(16 << 20));

    // The registry dies a third of the way in and comes back a second later.
    let pull = spawn_pull(&d, "127.0.0.1:5300/big");
    assert!(wait_for(30, || proxy
        .relayed
        .load(std::sync::atomic::Ordering::Relaxed)
        > 16 << 20));
    reg.kill();
    std::thread::sleep(Duration::from_secs(1));
    reg.spawn();
    let o = pull.wait_with_output().expect("pull");
    assert!(
        o.status.success(),
        "pull after a registry restart: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        tail(&d.log(), 20)
    );
    let ranged = proxy.ranged_requests();
    assert!(
        !ranged.is_empty(),
        "a ranged request resumed the blob: {:?}",
        proxy.requests.lock().expect("log")
    );
    assert!(
        ranged.iter().any(|r| r.contains(&layout.layers[1])),
        "{ranged:?}"
    );
    assert_big_runs(&d);
    d.ok(&Cli::berth(), &["rmi", "127.0.0.1:5300/big"]);

    // The daemon SIGKILLed mid-pull: no image, half or whole, after its restart; the
    // next pull finishes (from what the first one stored).
    let before = proxy.relayed.load(std::sync::atomic::Ordering::Relaxed);
    let mut pull = spawn_pull(&d, "127.0.0.1:5300/big");
    assert!(wait_for(30, || proxy
        .relayed
        .load(std::sync::atomic::Ordering::Relaxed)
        > before + (16 << 20)));
    d.kill9();
    let _ = pull.wait();
    d.spawn(&[]);
    assert!(image_names(&d).is_empty(), "{:?}", image_names(&d));
    let o = d.ok(&Cli::berth(), &["pull", "127.0.0.1:5300/big"]);
    assert!(o.contains("Downloaded newer image"), "{o}");
    assert_big_runs(&d);
}
