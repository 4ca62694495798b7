//! The real docker CLI against the daemon and a fake engine: it must negotiate down
//! to 1.41 through /_ping and show the fake's data. Skipped when no docker CLI is
//! installed at /usr/local/bin/docker.

mod common;

use std::process::{Command, Stdio};

use common::*;

fn docker(srv: &TestServer, args: &[&str]) -> (bool, String, String) {
    docker_with_stdin(srv, args, Stdio::null())
}

fn docker_with_stdin(srv: &TestServer, args: &[&str], stdin: Stdio) -> (bool, String, String) {
    let cli = docker_cli().expect("docker CLI");
    let home = tempfile::tempdir().expect("tempdir");
    let out = Command::new(cli)
        .args(args)
        .stdin(stdin)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home.path())
        .env("DOCKER_CONFIG", home.path())
        .env("DOCKER_HOST", format!("unix://{}", srv.socket.display()))
        .output()
        .expect("run docker");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn docker_version_and_ps_work_against_the_daemon() {
    if docker_cli().is_none() {
        eprintln!("no docker CLI at /usr/local/bin/docker: skipped");
        return;
    }
    let srv = TestServer::start(Fake::default());
    let (ok, out, err) = docker(&srv, &["version"]);
    assert!(ok, "docker version failed:\n{out}\n{err}");
    assert!(out.contains(FAKE_VERSION), "{out}");
    assert!(out.contains("1.41"), "{out}");

    let (ok, out, err) = docker(&srv, &["ps", "-a"]);
    assert!(ok, "docker ps -a failed:\n{out}\n{err}");
    assert!(out.contains("CONTAINER ID"), "{out}");
    assert!(out.contains(FAKE_CONTAINER), "{out}");
    assert!(out.contains(&FAKE_ID[..12]), "{out}");
    assert!(out.contains("Exited (0) 1 minute ago"), "{out}");

    // Logs: the CLI demultiplexes the framed stream onto its stdout and stderr.
    let (ok, out, err) = docker(&srv, &["logs", "-t", "abc"]);
    assert!(ok, "docker logs failed:\n{out}\n{err}");
    assert_eq!(out, "2026-11-22T17:00:00.123456789Z hello\n");
    assert_eq!(err, "2026-11-22T17:00:01.000000000Z oops\n");

    let (ok, out, err) = docker(&srv, &["wait", "abc"]);
    assert!(ok, "docker wait failed:\n{out}\n{err}");
    assert_eq!(out.trim(), "0");

    let (ok, out, err) = docker(
        &srv,
        &[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.CPUPerc}}",
            "abc",
        ],
    );
    assert!(ok, "docker stats failed:\n{out}\n{err}");
    assert!(out.contains(FAKE_CONTAINER), "{out}");

    let (ok, out, err) = docker(
        &srv,
        &[
            "events",
            "--since",
            "1000000000",
            "--until",
            "1000000002",
            "--format",
            "{{.Type}} {{.Action}}",
        ],
    );
    assert!(ok, "docker events failed:\n{out}\n{err}");
    assert_eq!(out, "container create\ncontainer start\n");

    let (ok, out, err) = docker(&srv, &["inspect", "--type", "container", "missing"]);
    assert!(!ok, "{out}");
    assert!(err.contains("No such container: missing"), "{err}");

    // Import streams stdin as the request body; load sends a file.
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("rootfs.tar");
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&archive, &bytes).expect("write archive");
    let stdin = std::fs::File::open(&archive).expect("open archive");
    let (ok, out, err) = docker_with_stdin(
        &srv,
        &["import", "-c", "CMD [\"sh\"]", "-", "img:v1"],
        stdin.into(),
    );
    assert!(ok, "docker import failed:\n{out}\n{err}");
    assert_eq!(out.trim(), format!("sha256:{:064x}", bytes.len()));
    assert_eq!(*srv.fake.imported.lock().unwrap(), bytes);
    let opts = srv
        .fake
        .import_opts
        .lock()
        .unwrap()
        .clone()
        .expect("import options");
    assert_eq!(opts.changes, vec!["CMD [\"sh\"]".to_string()]);
    // The CLI sends the tag inside `repo`; the engine splits it.
    assert_eq!(opts.repo.as_deref(), Some("img:v1"));

    let archive_arg = archive.display().to_string();
    let (ok, out, err) = docker(&srv, &["load", "-i", &archive_arg]);
    assert!(ok, "docker load failed:\n{out}\n{err}");
    assert_eq!(out.trim(), format!("Loaded image: fake:{}", bytes.len()));

    // A missing image fails cleanly with the daemon's message.
    let (ok, out, err) = docker(&srv, &["pull", "busybox"]);
    assert!(!ok, "{out}");
    assert!(err.contains("pull access is not available"), "{err}");
}

#[test]
fn docker_exec_streams_both_ways_through_the_hijack() {
    if docker_cli().is_none() {
        eprintln!("no docker CLI at /usr/local/bin/docker: skipped");
        return;
    }
    let fake = Fake::default();
    let (tx, rx) = std::sync::mpsc::channel();
    *fake.attach_tx.lock().unwrap() = Some(tx);
    let srv = TestServer::start(fake);
    // The "process": echoes what it reads on stdin, framed as stdout, then exits.
    let process = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut engine: std::os::unix::net::UnixStream = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("exec stream");
        let mut stdin = Vec::new();
        engine.read_to_end(&mut stdin).expect("stdin to EOF");
        let mut frame = vec![1u8, 0, 0, 0];
        frame.extend_from_slice(&(stdin.len() as u32 + 4).to_be_bytes());
        frame.extend_from_slice(b"got ");
        frame.extend_from_slice(&stdin);
        engine.write_all(&frame).expect("stdout");
        engine
            .write_all(b"\x02\x00\x00\x00\x00\x00\x00\x04err\n")
            .expect("stderr");
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("stdin");
    std::fs::write(&input, "ping\n").expect("write");
    let stdin = std::fs::File::open(&input).expect("open");
    let cli = docker_cli().expect("docker CLI");
    let out = Command::new(cli)
        .args(["exec", "-i", "abc", "cat"])
        .stdin(Stdio::from(stdin))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir.path())
        .env("DOCKER_CONFIG", dir.path())
        .env("DOCKER_HOST", format!("unix://{}", srv.socket.display()))
        .output()
        .expect("run docker exec");
    process.join().expect("process thread");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout, "got ping\n", "stderr: {stderr}");
    assert_eq!(stderr, "err\n");
    // The exit code comes from exec inspect after the stream ended.
    assert_eq!(out.status.code(), Some(3));
}
