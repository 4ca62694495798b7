//! End to end on older kernels' paths: the daemon and runtime run with newer kernel
//! features switched off (`BERTH_KERNEL_DISABLE`, as a 5.10 kernel or a seccomp sandbox
//! would lack them), and every fallback still runs containers the same way; `berth
//! info` and the start-up log say which fallbacks are in use; a kernel without a
//! required feature is refused with its name; containers leave no kernel-log noise.

mod common;

use std::process::{Command, Stdio};
use std::sync::Mutex;

use common::{wait_for, Cli, Daemon};

/// The kernel-log check counts lines while containers run: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn daemon_without(features: &str) -> Option<Daemon> {
    if common::busybox().is_none() {
        eprintln!("note: no static busybox (apt-get install busybox-static); skipping");
        return None;
    }
    let d = Daemon::start_with_env(&[("BERTH_KERNEL_DISABLE", features)], &[]);
    d.import_busybox();
    Some(d)
}

/// The kernel log from a point on: records are read from `/dev/kmsg`, which numbers
/// them, so lines logged since the mark are found even when the ring buffer wraps or
/// someone clears it (counting `dmesg` lines before and after is fooled by both).
struct KernelLog(Option<std::fs::File>);

impl KernelLog {
    /// Marks the log's current end (no log where `/dev/kmsg` cannot be read).
    fn mark() -> Self {
        use std::io::{Seek, SeekFrom};
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open("/dev/kmsg")
            .and_then(|mut f| f.seek(SeekFrom::End(0)).map(|_| f));
        Self(file.ok())
    }

    /// The lines logged since the mark that mention overlayfs or mounts.
    fn new_mount_lines(&mut self) -> Vec<String> {
        use std::io::{ErrorKind, Read};
        let Some(f) = self.0.as_mut() else {
            return Vec::new();
        };
        let mut lines = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                // One record per read: "prio,seq,time,flags;message\n" and continuation lines.
                Ok(n) => {
                    let record = String::from_utf8_lossy(&buf[..n]);
                    let message = record.split_once(';').map_or(&*record, |(_, m)| m);
                    let message = message.lines().next().unwrap_or("");
                    if message.contains("overlayfs") || message.contains("mount") {
                        lines.push(message.to_string());
                    }
                }
                // Records overwritten before we read them: the next read goes on.
                Err(e) if e.kind() == ErrorKind::BrokenPipe => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        lines
    }
}

/// The reader itself: a line written to the log after the mark is found, one written
/// before it is not.
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn the_kernel_log_reader_sees_lines_after_its_mark() {
    let _s = serial();
    let write = |line: &str| std::fs::write("/dev/kmsg", line);
    let tag = format!("berth-test {} overlayfs", std::process::id());
    if write(&format!("{tag} before the mark\n")).is_err() {
        eprintln!("note: /dev/kmsg is not writable here; skipping");
        return;
    }
    let mut log = KernelLog::mark();
    write(&format!("{tag} after the mark\n")).expect("write /dev/kmsg");
    let lines = log.new_mount_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(&format!("{tag} after the mark"))),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("before the mark")),
        "{lines:?}"
    );
}

/// What users do every day, on whichever paths the daemon was given: run, a read-only
/// bind, exec, kill, and an image of 128 layers.
fn everyday_work(d: &Daemon, tag: &str) {
    let b = Cli::berth();
    assert_eq!(
        d.ok(&b, &["run", "--rm", "busybox", "echo", "hi"]).trim(),
        "hi"
    );

    let host = d.root.join(format!("bind-{tag}"));
    std::fs::create_dir_all(&host).expect("mkdir");
    std::fs::write(host.join("f"), "from host\n").expect("write");
    let o = d.run(
        &b,
        &[
            "run",
            "--rm",
            "-v",
            &format!("{}:/x:ro", host.display()),
            "busybox",
            "sh",
            "-c",
            "cat /x/f; touch /x/g",
        ],
    );
    let (out, err) = common::out_err(&o);
    assert!(
        !o.status.success(),
        "{tag}: write to a read-only bind worked"
    );
    assert_eq!(out, "from host\n", "{tag}: {err}");
    assert!(err.contains("Read-only file system"), "{tag}: {err}");
    assert!(!host.join("g").exists());

    let name = format!("k-{tag}");
    d.ok(
        &b,
        &["run", "-d", "--name", &name, "busybox", "sleep", "100"],
    );
    assert_eq!(d.ok(&b, &["exec", &name, "echo", "in"]).trim(), "in");
    d.ok(&b, &["kill", &name]);
    assert!(
        wait_for(10, || d
            .ok(
                &b,
                &[
                    "inspect",
                    "-f",
                    "{{.State.Status}} {{.State.ExitCode}}",
                    &name
                ]
            )
            .trim()
            == "exited 137"),
        "{tag}: {}",
        d.ok(
            &b,
            &[
                "inspect",
                "-f",
                "{{.State.Status}} {{.State.ExitCode}}",
                &name
            ]
        )
    );
    d.ok(&b, &["rm", &name]);

    let image = format!("layers-{tag}:128");
    let archive = common::many_layer_archive(d, &image);
    d.ok(&b, &["load", "-i", archive.to_str().expect("utf-8 path")]);
    let script = "cat /layers/top /layers/001; ls /layers | wc -l";
    let out = d.ok(&b, &["run", "--rm", &image, "sh", "-c", script]);
    // 127 files and `top`, less the one layer 64 whites out.
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["127", "1", "127"],
        "{tag}"
    );
}

/// Fails naming the overlayfs or mount lines the kernel logged since `log`'s mark.
fn assert_no_new_kernel_lines(mut log: KernelLog) {
    let lines = log.new_mount_lines();
    assert!(lines.is_empty(), "new kernel-log lines: {lines:?}");
}

fn info(d: &Daemon) -> String {
    d.ok(&Cli::berth(), &["info"])
}

/// No newer feature but the required one: the new mount API with a `lowerdir=` string
/// for overlay (Linux 6.5–6.7 natively, 5.2–6.4 through the legacy option handler), binds
/// remounted read-only (no mount_setattr: 5.10, 5.11), clone(2) (no clone3: a seccomp
/// sandbox), fds marked close-on-exec one by one (5.10), kill(2) by pid (no pidfd).
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn containers_run_without_newer_kernel_features() {
    let _s = serial();
    let disabled = "overlay-lowerdir+,mount_setattr,clone3,close_range,pidfd";
    let Some(d) = daemon_without(disabled) else {
        return;
    };
    let before = KernelLog::mark();
    everyday_work(&d, "old");
    assert_no_new_kernel_lines(before);

    let i = info(&d);
    assert!(
        i.contains("Mount Interface: new mount API, lowerdir string"),
        "{i}"
    );
    for f in ["mount_setattr", "clone3", "close_range", "pidfd"] {
        assert!(
            i.lines()
                .any(|l| l.starts_with("WARNING: ") && l.contains(&format!("{f} is not available"))),
            "info does not name the {f} fallback:\n{i}"
        );
    }
    let log = d.log();
    assert!(
        log.contains("mount_setattr is not available (Linux 5.12)"),
        "start-up log does not name the fallbacks:\n{}",
        common::tail(&log, 20)
    );
}

/// No new mount API at all (before 5.2, or refused by seccomp): overlay and binds go
/// through mount(2), the 128-layer option string through paths relative to the
/// snapshots directory, and the runtime seals itself with a memfd copy.
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn containers_run_with_mount2_only() {
    let _s = serial();
    let Some(d) = daemon_without("new-mount-api") else {
        return;
    };
    everyday_work(&d, "mount2");
    let i = info(&d);
    assert!(i.contains("Mount Interface: mount(2)"), "{i}");
    assert!(i.contains("new-mount-api is not available"), "{i}");
}

/// On this kernel as it is: starting the daemon (its probes) and running containers add
/// nothing to the kernel log (on kernels before 6.15 the runtime's sealed overlay used
/// to log "failed to clone lowerpath" for each container; before 6.5 the overlay probe
/// logged an unknown `lowerdir+`).
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn this_kernel_as_it_is_runs_quietly() {
    let _s = serial();
    // From before the daemon starts: its probes leave nothing either.
    let before = KernelLog::mark();
    let Some(d) = daemon_without("") else {
        return;
    };
    everyday_work(&d, "native");
    assert_no_new_kernel_lines(before);
    let log = d.log();
    assert!(log.contains("Kernel "), "{}", common::tail(&log, 20));
}

/// A kernel without openat2 (before 5.6) is below the supported minimum: the daemon
/// refuses to start and says what is missing.
#[test]
fn a_kernel_without_a_required_feature_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(common::berth_bin())
        .env("BERTH_KERNEL_DISABLE", "openat2")
        .arg("daemon")
        .arg("-H")
        .arg(format!("unix://{}", dir.path().join("s.sock").display()))
        .arg("--data-root")
        .arg(dir.path().join("data"))
        .arg("--exec-root")
        .arg(dir.path().join("exec"))
        .arg("--pidfile")
        .arg(dir.path().join("pid"))
        .stdin(Stdio::null())
        .output()
        .expect("run daemon");
    let (_, err) = common::out_err(&out);
    assert!(
        !out.status.success(),
        "daemon started without openat2: {err}"
    );
    assert!(
        err.contains("openat2") && err.contains("Linux 5.6") && err.contains("5.10"),
        "{err}"
    );
    assert!(!dir.path().join("s.sock").exists());
}
