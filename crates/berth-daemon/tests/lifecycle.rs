//! `berth_daemon::main` end to end in this process: pid file, socket, SIGTERM, the
//! shutdown hook, and cleanup. One test, because a signal reaches the whole process.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_daemon::DaemonEngine;
use berth_engine::Engine;
use common::*;

fn args(dir: &std::path::Path, sock: &str, pid: &str) -> Vec<String> {
    vec![
        "--config-file=/dev/null".into(),
        "-H".into(),
        format!("unix://{}", dir.join(sock).display()),
        format!("--pidfile={}", dir.join(pid).display()),
        "--data-root".into(),
        dir.join("data").display().to_string(),
        "--exec-root".into(),
        dir.join("exec").display().to_string(),
        "--log-level=error".into(),
    ]
}

#[test]
fn daemon_starts_refuses_a_second_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_path_buf();
    let sock = d.join("api.sock");
    let pidfile = d.join("berth.pid");
    let stopped = Arc::new(AtomicBool::new(false));
    let seen_config = Arc::new(std::sync::Mutex::new(None));

    let (a, flag, seen) = (
        args(&d, "api.sock", "berth.pid"),
        stopped.clone(),
        seen_config.clone(),
    );
    let daemon = std::thread::spawn(move || {
        berth_daemon::main(a, move |config| {
            *seen.lock().unwrap() = Some(config);
            let engine: Arc<dyn Engine> = Arc::new(Fake::default());
            Ok(DaemonEngine::new(engine).on_shutdown(move || flag.store(true, Ordering::SeqCst)))
        })
    });

    let deadline = Instant::now() + Duration::from_secs(20);
    let srv_ping = || {
        let mut s = std::os::unix::net::UnixStream::connect(&sock).ok()?;
        use std::io::Write;
        s.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ok()?;
        Some(read_response(&mut s))
    };
    let r = loop {
        if let Some(r) = srv_ping() {
            break r;
        }
        assert!(Instant::now() < deadline, "daemon never answered");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(r.status, 200);
    assert_eq!(
        std::fs::read_to_string(&pidfile).expect("pid file").trim(),
        std::process::id().to_string()
    );
    let config = seen_config.lock().unwrap().clone().expect("engine config");
    assert_eq!(config.data_root, d.join("data"));
    assert!(config.runtime.ends_with("berth-runc"));

    // A second daemon on the same socket (another pid file) is refused...
    let code = berth_daemon::main(
        args(&d, "api.sock", "other.pid"),
        |_| -> berth_engine::EngineResult<Arc<dyn Engine>> {
            panic!("the engine must not be opened when the socket is taken")
        },
    );
    assert_eq!(code, 1);
    assert!(sock.exists(), "the running daemon's socket must stay");
    assert!(
        !d.join("other.pid").exists(),
        "the refused daemon removes its pid file"
    );
    // ...and so is one using a pid file naming a live process (pid 1 here, since ours
    // is this very process).
    std::fs::write(d.join("live.pid"), "1\n").expect("write");
    let code = berth_daemon::main(
        args(&d, "other.sock", "live.pid"),
        |_| -> berth_engine::EngineResult<Arc<dyn Engine>> {
            panic!("the engine must not be opened when the pid file is taken")
        },
    );
    assert_eq!(code, 1);
    assert!(!d.join("other.sock").exists());

    rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::TERM)
        .expect("SIGTERM to self");
    let code = daemon.join().expect("daemon thread");
    assert_eq!(code, 0);
    assert!(stopped.load(Ordering::SeqCst), "shutdown hook ran");
    assert!(!sock.exists(), "socket removed");
    assert!(!pidfile.exists(), "pid file removed");
}

#[test]
fn help_and_version_exit_0_without_opening_the_engine() {
    for flag in ["--help", "-v"] {
        // A concrete `Arc<Fake>` works too, as `LocalEngine::open` returns one.
        let code = berth_daemon::main(
            vec![flag.to_string()],
            |_| -> berth_engine::EngineResult<Arc<Fake>> {
                panic!("{flag} must not open the engine")
            },
        );
        assert_eq!(code, 0, "{flag}");
    }
    let code = berth_daemon::main(
        vec!["--no-such-flag".into()],
        |_| -> berth_engine::EngineResult<Arc<Fake>> {
            panic!("a bad flag must not open the engine")
        },
    );
    assert_eq!(code, 1);
}
