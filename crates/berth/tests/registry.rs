//! End to end: the `berth registry` command — `serve` on a free loopback port with a
//! temporary root, driven over plain HTTP, stopped by SIGTERM; then `gc`; and a real
//! dockerd pushing to it and pulling from it. (The API itself is tested endpoint by
//! endpoint in berth-registry's own tests.)

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStderr, Command, Stdio};

fn berth() -> Command {
    Command::new(env!("CARGO_BIN_EXE_berth"))
}

/// One request on a fresh connection; the whole response as text.
fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("request");
    s.write_all(body).expect("body");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    out
}

fn sha256(data: &[u8]) -> String {
    let mut c = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    c.stdin
        .take()
        .expect("stdin")
        .write_all(data)
        .expect("write");
    let out = c.wait_with_output().expect("sha256sum");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    format!("sha256:{}", text.split_whitespace().next().expect("hex"))
}

/// `berth registry serve` on 127.0.0.1 and a free port: the process, its address and
/// its log.
fn serve(root: &std::path::Path) -> (common::Reaped, String, BufReader<ChildStderr>) {
    let mut child = berth()
        .args([
            "registry",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--delete",
            "--root",
        ])
        .arg(root)
        .stderr(Stdio::piped())
        .spawn()
        .expect("berth registry serve");
    let mut log = BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    log.read_line(&mut first).expect("first line");
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    (common::Reaped(child), addr, log)
}

fn sigterm(child: &Child) {
    rustix::process::kill_process(
        rustix::process::Pid::from_child(child),
        rustix::process::Signal::TERM,
    )
    .expect("SIGTERM");
}

#[test]
fn serve_answers_logs_and_stops_on_sigterm_then_gc_collects() {
    let root = tempfile::tempdir().expect("tempdir");
    let (mut child, addr, mut log) = serve(root.path());

    let r = http(&addr, "GET", "/v2/", b"");
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(
        r.contains("Docker-Distribution-API-Version: registry/2.0\r\n"),
        "{r}"
    );
    let d = sha256(b"unreferenced");
    let r = http(
        &addr,
        "POST",
        &format!("/v2/e2e/blobs/uploads/?digest={d}"),
        b"unreferenced",
    );
    assert!(r.starts_with("HTTP/1.1 201 Created\r\n"), "{r}");
    let r = http(&addr, "GET", &format!("/v2/e2e/blobs/{d}"), b"");
    assert!(r.ends_with("\r\n\r\nunreferenced"), "{r}");

    // One access-log line per request: method, path, status, bytes.
    let mut line = String::new();
    log.read_line(&mut line).expect("log line");
    assert!(line.contains("\"GET /v2/ HTTP/1.1\" 200 3 "), "{line}");
    log.read_line(&mut line).expect("log line");
    assert!(
        line.contains("\"POST /v2/e2e/blobs/uploads/ HTTP/1.1\" 201 0 "),
        "{line}"
    );

    sigterm(&child.0);
    let st = child.0.wait().expect("wait");
    assert!(st.success(), "{st:?}");
    assert!(
        TcpStream::connect(&addr).is_err(),
        "still listening on {addr}"
    );

    let out = berth()
        .args(["registry", "gc", "--dry-run", "--root"])
        .arg(root.path())
        .output()
        .expect("gc");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains(&format!("would remove {d} (12 bytes)")),
        "{text}"
    );
    let out = berth()
        .args(["registry", "gc", "--root"])
        .arg(root.path())
        .output()
        .expect("gc");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 blobs removed (12 bytes), 0 kept; 0 stale uploads removed"),
        "{text}"
    );
    let (alg, hex) = d.split_once(':').expect("digest");
    assert!(!root.path().join("blobs").join(alg).join(hex).exists());

    // Bad flags: docker's usage exit code.
    let out = berth()
        .args(["registry", "serve", "--tls-cert", "x"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(125));
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn a_dockerd_pushes_to_and_pulls_from_berth_registry() {
    let Some(k) = common::dockerd::Dockerd::start() else {
        return;
    };
    let root = tempfile::tempdir().expect("tempdir");
    let (mut child, addr, _log) = serve(root.path());
    // dockerd takes 127.0.0.0/8 registries as insecure (plain HTTP) by default.
    let image = format!("{addr}/library/busybox:v1");
    let tar = common::busybox_rootfs_tar(root.path());
    k.ok(&[
        "import",
        "--change",
        "CMD [\"sh\"]",
        &tar.to_string_lossy(),
        &image,
    ]);
    let pushed = k.ok(&["push", &image]);
    let digest = pushed
        .split("digest: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in {pushed}"))
        .to_string();

    let r = http(&addr, "GET", "/v2/_catalog", b"");
    assert!(
        r.ends_with("{\"repositories\":[\"library/busybox\"]}\n"),
        "{r}"
    );
    let r = http(&addr, "GET", "/v2/library/busybox/manifests/v1", b"");
    assert!(
        r.contains("Content-Type: application/vnd.docker.distribution.manifest.v2+json\r\n"),
        "{r}"
    );
    assert!(
        r.contains(&format!("Docker-Content-Digest: {digest}\r\n")),
        "{r}"
    );

    // Gone locally, pulled back by digest, and it runs.
    k.ok(&["rmi", &image]);
    let by_digest = format!("{addr}/library/busybox@{digest}");
    k.ok(&["pull", &by_digest]);
    let out = k.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &by_digest,
        "echo",
        "pulled",
    ]);
    assert_eq!(out.trim(), "pulled");
    // Pushed again, every layer is already there.
    k.ok(&["tag", &by_digest, &format!("{addr}/library/busybox:again")]);
    let again = k.ok(&["push", &format!("{addr}/library/busybox:again")]);
    assert!(again.contains("Layer already exists"), "{again}");

    // skopeo copies it as an OCI image: another manifest digest, the same content.
    let o = Command::new("skopeo")
        .args([
            "copy",
            "--format",
            "oci",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--insecure-policy",
        ])
        .arg(format!("docker://{addr}/library/busybox:v1"))
        .arg(format!("docker://{addr}/library/busybox:skopeo"))
        .output()
        .expect("skopeo");
    assert!(
        o.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r = http(&addr, "GET", "/v2/library/busybox/manifests/skopeo", b"");
    assert!(
        r.contains("Content-Type: application/vnd.oci.image.manifest.v1+json\r\n"),
        "{r}"
    );

    // Both pull and run under berth: a daemon in a namespace of its own reads the same
    // storage through a read-only server there.
    let d = common::Daemon::start();
    let _reader = common::Reaped(
        d.in_netns(env!("CARGO_BIN_EXE_berth"))
            .args([
                "registry",
                "serve",
                "--read-only",
                "--addr",
                "127.0.0.1:5400",
                "--root",
            ])
            .arg(root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("read-only berth registry serve"),
    );
    assert!(common::wait_for(10, || d
        .net_run("curl", &["-sf", "http://127.0.0.1:5400/v2/"])
        .status
        .success()));
    let berth_cli = common::Cli::berth();
    let mut seen = Vec::new();
    for tag in ["v1", "skopeo"] {
        let image = format!("127.0.0.1:5400/library/busybox:{tag}");
        let out = d.ok(&berth_cli, &["pull", &image]);
        assert!(out.contains("Pull complete"), "{tag}: {out}");
        let run = d.ok(
            &berth_cli,
            &["run", "--rm", "--network", "none", &image, "echo", tag],
        );
        assert_eq!(run.trim(), tag);
        seen.push(d.ok(
            &berth_cli,
            &[
                "image",
                "inspect",
                "--format",
                "{{json .RepoDigests}}",
                &image,
            ],
        ));
        d.ok(&berth_cli, &["rmi", &image]);
    }
    assert!(seen[0].contains(&digest), "{seen:?}");
    assert_ne!(seen[0], seen[1], "the two pushes have different manifests");

    sigterm(&child.0);
    assert!(child.0.wait().expect("wait").success());
}
