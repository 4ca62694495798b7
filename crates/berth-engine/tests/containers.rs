//! The container engine end to end: real containers from a static busybox image, each
//! test with its own data and exec roots under /tmp and its own cgroup parent, driven
//! through the `Engine` trait. Needs root (the tests are `#[ignore]`d: run them with
//! `--include-ignored`) and a built `berth-runc` (`cargo build -p berth --bin
//! berth-runc`, or `BERTH_RUNC`); skipped with a note without one.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_api_types::container::{
    ContainerConfig, ContainerCreateRequest, HostConfig, LogConfig, RestartPolicy,
};
use berth_api_types::exec::{ExecConfig, ExecStartConfig};
use berth_api_types::Filters;
use berth_engine::api::{
    AttachOptions, ImportOptions, ListOptions, LogsOptions, StdStream, WaitCondition,
};
use berth_engine::{Engine, EngineConfig, LocalEngine};

const BUSYBOX: &str = "/bin/busybox";
const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "sleep", "true", "false", "ls", "env", "hostname", "id", "printf", "tty",
];

fn runtime_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_RUNC") {
        return Some(PathBuf::from(p));
    }
    let mut c = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(profile) = exe.parent().and_then(Path::parent) {
            c.push(profile.join("berth-runc"));
        }
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        c.push(PathBuf::from(t).join("debug/berth-runc"));
    }
    c.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/berth-runc"));
    c.into_iter().find(|p| p.is_file())
}

/// A test's engine and everything it may leave behind.
struct Env {
    dir: PathBuf,
    cfg: EngineConfig,
    engine: Option<Arc<LocalEngine>>,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

fn env() -> Option<Env> {
    let Some(bin) = runtime_bin() else {
        eprintln!("note: skipped: no berth-runc (cargo build -p berth --bin berth-runc)");
        return None;
    };
    if !Path::new(BUSYBOX).is_file() {
        eprintln!("note: skipped: needs a static {BUSYBOX}");
        return None;
    }
    // Short: the shim's socket path must fit in sun_path with a 64-hex id in it.
    let tag = format!(
        "{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    );
    let dir = PathBuf::from(format!("/tmp/be-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg = EngineConfig::new(dir.join("d"), dir.join("x"));
    cfg.runtime = bin;
    cfg.cgroup_parent = format!("/berth-etest-{tag}");
    // These tests run in the host's network namespace: no bridge, so no firewall
    // either (crates/berth/tests/network.rs tests networking, in namespaces of its own).
    cfg.bridge = Some("none".into());
    let engine = LocalEngine::open(cfg.clone()).expect("open the engine");
    let mut e = Env {
        dir,
        cfg,
        engine: Some(engine),
    };
    e.import_busybox();
    Some(e)
}

fn hdr() -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

fn busybox_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = |p: &str| {
        let mut h = hdr();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, p, &[][..]).unwrap();
    };
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "root"] {
        dir(d);
    }
    let bb = std::fs::read(BUSYBOX).unwrap();
    let mut h = hdr();
    h.set_mode(0o755);
    h.set_size(bb.len() as u64);
    b.append_data(&mut h, "bin/busybox", &bb[..]).unwrap();
    for a in APPLETS {
        let mut h = hdr();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, format!("bin/{a}"), "busybox")
            .unwrap();
    }
    for (p, content, mode) in [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
            0o644,
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n", 0o644),
        ("etc/not-executable", "#!/bin/sh\n", 0o644),
    ] {
        let mut h = hdr();
        h.set_mode(mode);
        h.set_size(content.len() as u64);
        b.append_data(&mut h, p, content.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

impl Env {
    fn e(&self) -> &LocalEngine {
        self.engine.as_ref().expect("engine open")
    }

    fn import_busybox(&mut self) {
        let tar = busybox_tar();
        self.e()
            .image_import(
                &mut &tar[..],
                ImportOptions {
                    repo: Some("busybox".into()),
                    tag: Some("latest".into()),
                    changes: vec![r#"CMD ["sh"]"#.into()],
                    ..Default::default()
                },
            )
            .expect("import busybox");
    }

    fn create(
        &self,
        name: Option<&str>,
        cmd: &[&str],
        f: impl FnOnce(&mut ContainerConfig, &mut HostConfig),
    ) -> String {
        let mut config = ContainerConfig {
            image: "busybox".into(),
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        let mut hc = HostConfig::default();
        f(&mut config, &mut hc);
        self.e()
            .container_create(
                name,
                ContainerCreateRequest {
                    config,
                    host_config: Some(hc),
                    networking_config: None,
                },
            )
            .expect("create")
            .id
    }

    fn run(&self, name: Option<&str>, cmd: &[&str]) -> String {
        let id = self.create(name, cmd, |_, _| {});
        self.e().container_start(&id).expect("start");
        id
    }

    fn wait(&self, id: &str, c: WaitCondition) -> i64 {
        let w = self.e().container_wait(id, c).expect("wait");
        w().expect("waited").status_code
    }

    fn status(&self, id: &str) -> String {
        self.e()
            .container_inspect(id, false)
            .unwrap()
            .state
            .unwrap()
            .status
    }

    fn wait_for(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let end = Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn cgroup_dirs(&self, id: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let rel = format!("{}/{id}", self.cfg.cgroup_parent.trim_start_matches('/'));
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for e in rd.flatten() {
                let p = e.path().join(&rel);
                if p.exists() {
                    out.push(p);
                }
            }
        }
        let p = Path::new("/sys/fs/cgroup").join(&rel);
        if p.exists() {
            out.push(p);
        }
        out
    }

    fn mounts_under(&self) -> Vec<String> {
        let d = self.dir.to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&d))
            .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.engine.take();
        // Shims (and with them their containers) this test started.
        let cdir = self.cfg.exec_root.join("containers");
        if let Ok(rd) = std::fs::read_dir(&cdir) {
            for e in rd.flatten() {
                let sock = e.path().join("shim.sock");
                if let Ok(mut s) = UnixStream::connect(&sock) {
                    let _ = s.write_all(b"{\"op\":\"shutdown\"}\n");
                    let mut b = [0u8; 64];
                    let _ = s.read(&mut b);
                }
                if let Ok(p) = std::fs::read_to_string(e.path().join("shim.pid")) {
                    if let Ok(pid) = p.trim().parse::<i32>() {
                        let end = Instant::now() + Duration::from_secs(5);
                        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < end {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                            let _ =
                                rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                        }
                    }
                }
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = std::process::Command::new(&self.cfg.runtime)
                    .arg("--root")
                    .arg(self.cfg.exec_root.join("runc"))
                    .args(["delete", "--force", &id])
                    .output();
            }
        }
        let mut mounts = self.mounts_under();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = rustix::mount::unmount(m.as_str(), rustix::mount::UnmountFlags::DETACH);
        }
        let parent = self.cfg.cgroup_parent.trim_start_matches('/').to_string();
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for e in rd.flatten() {
                for p in [
                    e.path().join(&parent),
                    Path::new("/sys/fs/cgroup").join(&parent),
                ] {
                    if let Ok(kids) = std::fs::read_dir(&p) {
                        for k in kids.flatten() {
                            if k.path().is_dir() {
                                let _ = std::fs::remove_dir(k.path());
                            }
                        }
                    }
                    let _ = std::fs::remove_dir(&p);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reads a Docker-framed stream to EOF: (stdout, stderr).
/// Everything a stream carries until it ends (20 s at most).
fn read_text(mut s: UnixStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn read_frames(s: &mut UnixStream) -> (String, String) {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("read the attach stream");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut b = &all[..];
    while b.len() >= 8 {
        let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let payload = &b[8..8 + n];
        if b[0] == 1 {
            out.extend_from_slice(payload)
        } else {
            err.extend_from_slice(payload)
        }
        b = &b[8 + n..];
    }
    assert!(b.is_empty(), "trailing partial frame");
    (
        String::from_utf8_lossy(&out).into(),
        String::from_utf8_lossy(&err).into(),
    )
}

fn attach_all(env: &Env, id: &str, stdin: bool) -> UnixStream {
    env.e()
        .container_attach(
            id,
            AttachOptions {
                stdin,
                stdout: true,
                stderr: true,
                stream: true,
                ..Default::default()
            },
        )
        .expect("attach")
        .stream
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn create_attach_start_wait_inspect() {
    let Some(env) = env() else { return };
    let id = env.create(
        Some("first"),
        &["sh", "-c", "echo out; echo err >&2; exit 3"],
        |_, _| {},
    );
    assert_eq!(env.status(&id), "created");
    let err = env
        .e()
        .container_create(
            Some("/first"),
            ContainerCreateRequest {
                config: ContainerConfig {
                    image: "busybox".into(),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.status(), 409);
    assert!(
        err.to_string()
            .contains(&format!("is already in use by container \"{id}\"")),
        "{err}"
    );
    let err = env
        .e()
        .container_create(
            None,
            ContainerCreateRequest {
                config: ContainerConfig {
                    image: "nosuch".into(),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.status(), 404, "{err}");

    let mut s = attach_all(&env, &id, false);
    env.e().container_start(&id).unwrap();
    let (out, err) = read_frames(&mut s);
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    assert_eq!(env.wait(&id, WaitCondition::NotRunning), 3);
    let i = env.e().container_inspect("first", true).unwrap();
    let st = i.state.unwrap();
    assert_eq!(
        (st.status.as_str(), st.exit_code, st.running),
        ("exited", 3, false)
    );
    assert_ne!(st.finished_at, "0001-01-01T00:00:00Z");
    assert_eq!(i.name, "/first");
    assert_eq!(i.path, "sh");
    assert_eq!(i.config.unwrap().cmd.unwrap()[0], "sh");
    assert!(i.size_rw.is_some());
    assert_eq!(i.graph_driver.name, "overlay2");
    // Start of a stopped container again, and a random name for an unnamed one.
    let other = env.create(None, &["true"], |_, _| {});
    let name = env.e().container_inspect(&other, false).unwrap().name;
    assert!(name.starts_with('/') && name.contains('_'), "{name}");

    // Missing and non-executable commands fail start as docker expects.
    let bad = env.create(None, &["nosuchcmd"], |_, _| {});
    let e = env.e().container_start(&bad).unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(
        e.to_string().contains("executable file not found in $PATH"),
        "{e}"
    );
    let st = env
        .e()
        .container_inspect(&bad, false)
        .unwrap()
        .state
        .unwrap();
    assert_eq!(st.status, "created");
    assert!(
        st.error.contains("executable file not found"),
        "{}",
        st.error
    );
    assert_eq!(st.exit_code, 127);
    let bad = env.create(None, &["/etc/not-executable"], |_, _| {});
    let e = env.e().container_start(&bad).unwrap_err();
    assert!(e.to_string().contains("permission denied"), "{e}");
    assert!(env.mounts_under().is_empty(), "{:?}", env.mounts_under());
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn stdin_and_tty() {
    let Some(env) = env() else { return };
    let id = env.create(None, &["cat"], |c, _| {
        c.open_stdin = true;
        c.stdin_once = true;
        c.attach_stdin = true;
    });
    let mut s = attach_all(&env, &id, true);
    env.e().container_start(&id).unwrap();
    s.write_all(b"hello through stdin\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let (out, _) = read_frames(&mut s);
    assert_eq!(out, "hello through stdin\n");
    assert_eq!(env.wait(&id, WaitCondition::NotRunning), 0);

    let id = env.create(None, &["sh", "-c", "echo hi; tty"], |c, _| c.tty = true);
    let a = env
        .e()
        .container_attach(
            &id,
            AttachOptions {
                stdout: true,
                stderr: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(a.tty);
    env.e().container_start(&id).unwrap();
    let raw = read_text(a.stream);
    assert!(
        raw.contains("hi\r\n") && raw.contains("/dev/pts/"),
        "{raw:?}"
    );
    // A stopped container has no live stream (dockerd's answer: the stream ends at
    // once), but with `logs` its log is replayed first.
    env.wait(&id, WaitCondition::NotRunning);
    let stopped = berth_engine::timefmt::now_nanos();
    let rest = read_text(
        env.e()
            .container_attach(&id, AttachOptions::default())
            .unwrap()
            .stream,
    );
    assert_eq!(rest, "");
    let s = env
        .e()
        .container_attach(
            &id,
            AttachOptions {
                stdout: true,
                logs: true,
                ..Default::default()
            },
        )
        .unwrap()
        .stream;
    let replayed = read_text(s);
    assert!(replayed.starts_with("hi\r\n"), "{replayed:?}");
    // Each attach to the stopped container is told, as dockerd tells it.
    let ev = env
        .e()
        .events(
            stopped,
            0,
            filters(&[("container", &id), ("event", "attach")]),
        )
        .unwrap();
    assert_eq!(ev.past.len(), 2, "{:?}", ev.past);
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn stop_kill_pause_rename_events() {
    let Some(env) = env() else { return };
    let since = berth_engine::timefmt::now_nanos();
    let polite = env.run(
        Some("polite"),
        &[
            "sh",
            "-c",
            "trap 'exit 7' TERM; while true; do sleep 0.1; done",
        ],
    );
    let stubborn = env.run(
        None,
        &["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"],
    );
    std::thread::sleep(Duration::from_millis(300));
    env.e().container_stop(&polite, Some(10), None).unwrap();
    assert_eq!(
        env.e()
            .container_inspect(&polite, false)
            .unwrap()
            .state
            .unwrap()
            .exit_code,
        7
    );
    assert_eq!(
        env.e()
            .container_stop(&polite, None, None)
            .unwrap_err()
            .status(),
        304
    );
    let t = Instant::now();
    env.e().container_stop(&stubborn, Some(1), None).unwrap();
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        env.e()
            .container_inspect(&stubborn, false)
            .unwrap()
            .state
            .unwrap()
            .exit_code,
        137
    );

    let k = env.run(
        None,
        &[
            "sh",
            "-c",
            "trap 'exit 9' USR1; while true; do sleep 0.1; done",
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    env.e().container_kill(&k, Some("USR1")).unwrap();
    assert_eq!(env.wait(&k, WaitCondition::NotRunning), 9);
    let e = env.e().container_kill(&k, None).unwrap_err();
    assert_eq!(e.status(), 409);
    assert_eq!(e.to_string(), format!("Container {k} is not running"));
    assert_eq!(
        env.e()
            .container_kill(&k, Some("BOGUS"))
            .unwrap_err()
            .status(),
        400
    );

    // Pause and unpause.
    let p = env.run(Some("pausable"), &["sleep", "100"]);
    env.e().container_pause(&p).unwrap();
    let st = env.e().container_inspect(&p, false).unwrap().state.unwrap();
    assert!(st.paused && st.running);
    assert_eq!(st.status, "paused");
    let l = env
        .e()
        .container_list(ListOptions {
            filters: filters(&[("name", "pausable")]),
            ..Default::default()
        })
        .unwrap();
    assert!(l[0].status.ends_with("(Paused)"), "{}", l[0].status);
    assert_eq!(env.e().container_pause(&p).unwrap_err().status(), 409);
    env.e().container_unpause(&p).unwrap();
    assert_eq!(env.status(&p), "running");

    // Rename.
    env.e().container_rename(&p, "renamed").unwrap();
    assert_eq!(
        env.e().container_inspect("renamed", false).unwrap().name,
        "/renamed"
    );
    assert_eq!(
        env.e().container_rename(&p, "polite").unwrap_err().status(),
        409
    );
    env.e().container_stop(&p, Some(0), None).unwrap();

    // Events of all that, filtered.
    let ev = env
        .e()
        .events(since, 0, filters(&[("container", "polite")]))
        .unwrap();
    let actions: Vec<&str> = ev.past.iter().map(|m| m.action.as_str()).collect();
    assert_eq!(
        actions,
        ["create", "start", "kill", "die", "stop"],
        "{actions:?}"
    );
    assert_eq!(ev.past[3].actor.attributes["exitCode"], "7");
    assert_eq!(ev.past[2].actor.attributes["signal"], "15");
    let ev = env
        .e()
        .events(since, 0, filters(&[("event", "rename")]))
        .unwrap();
    assert_eq!(ev.past.len(), 1);
    assert_eq!(ev.past[0].actor.attributes["oldName"], "/pausable");
    assert_eq!(ev.past[0].actor.attributes["name"], "renamed");
    // Live events arrive on the receiver.
    let live = env
        .e()
        .events(
            0,
            0,
            filters(&[("type", "container"), ("event", "destroy")]),
        )
        .unwrap();
    env.e().container_remove(&k, false, false).unwrap();
    let m = live
        .live
        .unwrap()
        .recv_timeout(Duration::from_secs(5))
        .unwrap();
    assert_eq!(
        (m.action.as_str(), m.actor.id.as_str()),
        ("destroy", k.as_str())
    );
}

/// Whether `pid` exists and is not a zombie.
fn lives(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn filters(kv: &[(&str, &str)]) -> Filters {
    let mut f = Filters::new();
    for (k, v) in kv {
        f.add(k, *v);
    }
    f
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn restart_policy_and_auto_remove() {
    let Some(env) = env() else { return };
    let id = env.create(None, &["sh", "-c", "exit 2"], |_, hc| {
        hc.restart_policy = RestartPolicy {
            name: "on-failure".into(),
            maximum_retry_count: 2,
        };
    });
    env.e().container_start(&id).unwrap();
    env.wait_for("two restarts", || {
        let i = env.e().container_inspect(&id, false).unwrap();
        i.restart_count == 2 && i.state.unwrap().status == "exited"
    });
    std::thread::sleep(Duration::from_millis(800));
    let i = env.e().container_inspect(&id, false).unwrap();
    assert_eq!((i.restart_count, i.state.unwrap().exit_code), (2, 2));

    let auto = env.create(None, &["true"], |_, hc| hc.auto_remove = true);
    let w = env
        .e()
        .container_wait(&auto, WaitCondition::Removed)
        .unwrap();
    env.e().container_start(&auto).unwrap();
    assert_eq!(w().unwrap().status_code, 0);
    assert_eq!(
        env.e()
            .container_inspect(&auto, false)
            .unwrap_err()
            .status(),
        404
    );
    assert!(!env.cfg.data_root.join("containers").join(&auto).exists());

    let bad = env
        .e()
        .container_create(
            None,
            ContainerCreateRequest {
                config: ContainerConfig {
                    image: "busybox".into(),
                    ..Default::default()
                },
                host_config: Some(HostConfig {
                    auto_remove: true,
                    restart_policy: RestartPolicy {
                        name: "always".into(),
                        maximum_retry_count: 0,
                    },
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(bad.status(), 400);
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn force_remove_leaves_nothing_behind() {
    let Some(env) = env() else { return };
    let id = env.run(None, &["sleep", "100"]);
    let shim_pid: i32 = std::fs::read_to_string(
        env.cfg
            .exec_root
            .join("containers")
            .join(&id)
            .join("shim.pid"),
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    let pid = env
        .e()
        .container_inspect(&id, false)
        .unwrap()
        .state
        .unwrap()
        .pid;
    assert!(pid > 0);
    assert!(
        !env.cgroup_dirs(&id).is_empty(),
        "the container has a cgroup"
    );
    assert!(env.mounts_under().iter().any(|m| m.contains(&id)));
    let e = env.e().container_remove(&id, false, false).unwrap_err();
    assert_eq!(e.status(), 409);
    assert!(e
        .to_string()
        .starts_with(&format!("You cannot remove a running container {id}")));
    let w = env.e().container_wait(&id, WaitCondition::Removed).unwrap();
    env.e().container_remove(&id, true, false).unwrap();
    assert_eq!(w().unwrap().status_code, 137);
    assert!(env.mounts_under().is_empty(), "{:?}", env.mounts_under());
    assert!(
        env.cgroup_dirs(&id).is_empty(),
        "{:?}",
        env.cgroup_dirs(&id)
    );
    // A zombie has exited; reaping it is init's business.
    assert!(!lives(shim_pid), "the shim still runs");
    assert!(!lives(pid as i32), "the container still runs");
    assert!(!env.cfg.data_root.join("containers").join(&id).exists());
    assert!(!env.cfg.exec_root.join("containers").join(&id).exists());
    assert_eq!(
        env.e()
            .container_list(ListOptions {
                all: true,
                ..Default::default()
            })
            .unwrap()
            .len(),
        0
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn logs_tail_since_follow() {
    let Some(env) = env() else { return };
    let id = env.run(
        None,
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2",
        ],
    );
    env.wait(&id, WaitCondition::NotRunning);
    let all = |o: LogsOptions| -> Vec<(StdStream, String)> {
        let (s, tty) = env.e().container_logs(&id, o).unwrap();
        assert!(!tty);
        s.map(|e| e.unwrap())
            .map(|e| (e.stream, String::from_utf8(e.bytes).unwrap()))
            .collect()
    };
    let both = LogsOptions {
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    let v = all(both.clone());
    assert_eq!(v.len(), 6);
    assert_eq!(v[5], (StdStream::Stderr, "oops\n".to_string()));
    let v = all(LogsOptions {
        stderr: false,
        tail: Some(2),
        ..both.clone()
    });
    assert_eq!(
        v.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(),
        ["line4\n", "line5\n"]
    );
    let (s, _) = env.e().container_logs(&id, both.clone()).unwrap();
    let entries: Vec<_> = s.map(|e| e.unwrap()).collect();
    let v = all(LogsOptions {
        since_nanos: entries[5].time_nanos,
        ..both.clone()
    });
    assert_eq!(
        v.len(),
        1 + entries
            .iter()
            .filter(|e| e.time_nanos == entries[5].time_nanos)
            .count()
            - 1
    );

    // Follow: sees output written later and ends when the container stops.
    let f = env.run(None, &["sh", "-c", "echo early; sleep 1; echo late"]);
    let (s, _) = env
        .e()
        .container_logs(
            &f,
            LogsOptions {
                follow: true,
                ..both.clone()
            },
        )
        .unwrap();
    let got: Vec<String> = s
        .map(|e| String::from_utf8(e.unwrap().bytes).unwrap())
        .collect();
    assert_eq!(got, ["early\n", "late\n"]);
    assert_eq!(env.status(&f), "exited");

    // A container without a log.
    let n = env.create(None, &["true"], |_, hc| {
        hc.log_config = LogConfig {
            kind: "none".into(),
            ..Default::default()
        }
    });
    let e = env.e().container_logs(&n, both).err().unwrap();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("does not support reading"));
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn list_filters() {
    let Some(env) = env() else { return };
    let a = env.create(Some("alpha"), &["true"], |c, _| {
        c.labels.insert("tier".into(), "web".into());
    });
    std::thread::sleep(Duration::from_millis(20));
    let b = env.run(Some("beta"), &["sleep", "100"]);
    std::thread::sleep(Duration::from_millis(20));
    let c = env.run(Some("gamma"), &["sh", "-c", "exit 4"]);
    env.wait(&c, WaitCondition::NotRunning);
    let ids = |kv: &[(&str, &str)], all: bool| -> Vec<String> {
        env.e()
            .container_list(ListOptions {
                all,
                filters: filters(kv),
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|s| s.names[0].clone())
            .collect()
    };
    assert_eq!(ids(&[], false), ["/beta"]);
    assert_eq!(ids(&[], true), ["/gamma", "/beta", "/alpha"]);
    assert_eq!(ids(&[("status", "exited")], false), ["/gamma"]);
    assert_eq!(ids(&[("status", "created")], true), ["/alpha"]);
    assert_eq!(ids(&[("exited", "4")], false), ["/gamma"]);
    assert_eq!(ids(&[("label", "tier=web")], true), ["/alpha"]);
    assert_eq!(ids(&[("name", "et")], true), ["/beta"]);
    assert_eq!(ids(&[("id", &b[..10])], true), ["/beta"]);
    assert_eq!(ids(&[("ancestor", "busybox")], true).len(), 3);
    assert_eq!(ids(&[("ancestor", "busybox:latest")], true).len(), 3);
    assert_eq!(ids(&[("before", "gamma")], true), ["/beta", "/alpha"]);
    assert_eq!(ids(&[("since", "alpha")], true), ["/gamma", "/beta"]);
    assert_eq!(ids(&[("health", "none")], false), ["/beta"]);
    let e = env
        .e()
        .container_list(ListOptions {
            filters: filters(&[("status", "sleeping")]),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("sleeping"));
    assert_eq!(
        env.e()
            .container_list(ListOptions {
                filters: filters(&[("before", "nope")]),
                ..Default::default()
            })
            .unwrap_err()
            .status(),
        404
    );
    let l = env
        .e()
        .container_list(ListOptions {
            all: true,
            limit: Some(1),
            size: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(l.len(), 1);
    assert!(l[0].size_rw.is_some());
    assert!(l[0].status.starts_with("Exited (4) "), "{}", l[0].status);
    assert_eq!(l[0].command, "sh -c exit 4");
    let beta = &env.e().container_list(ListOptions::default()).unwrap()[0];
    assert!(beta.status.starts_with("Up "), "{}", beta.status);
    assert_eq!(beta.image, "busybox");
    let _ = a;
    // Prune removes the stopped ones only.
    let r = env.e().containers_prune(Filters::new()).unwrap();
    assert_eq!(r.deleted.len(), 2);
    assert_eq!(ids(&[], true), ["/beta"]);
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn live_restore_adopts_running_and_records_exits() {
    let Some(mut env) = env() else { return };
    let keep = env.run(Some("keep"), &["sleep", "100"]);
    let quit = env.run(Some("quit"), &["sh", "-c", "sleep 1; exit 5"]);
    // A crash: the engine goes away without shutdown.
    env.engine.take();
    std::thread::sleep(Duration::from_millis(2500));
    env.engine = Some(LocalEngine::open(env.cfg.clone()).expect("reopen"));
    assert_eq!(env.status(&keep), "running");
    let st = env
        .e()
        .container_inspect(&quit, false)
        .unwrap()
        .state
        .unwrap();
    assert_eq!((st.status.as_str(), st.exit_code), ("exited", 5));
    assert!(!env.mounts_under().iter().any(|m| m.contains(&quit)));
    env.e().container_stop(&keep, Some(1), None).unwrap();
    let st = env
        .e()
        .container_inspect(&keep, false)
        .unwrap()
        .state
        .unwrap();
    assert_eq!(st.status, "exited");
    assert!(env.mounts_under().is_empty(), "{:?}", env.mounts_under());
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn exec_in_a_running_container() {
    let Some(env) = env() else { return };
    let id = env.run(None, &["sleep", "100"]);
    let ex = env
        .e()
        .exec_create(
            &id,
            ExecConfig {
                attach_stdout: true,
                attach_stderr: true,
                env: vec!["FOO=bar".into()],
                cmd: vec![
                    "sh".into(),
                    "-c".into(),
                    "echo $FOO; echo e >&2; exit 4".into(),
                ],
                ..Default::default()
            },
        )
        .unwrap()
        .id;
    let s = env
        .e()
        .exec_start(&ex, ExecStartConfig::default())
        .unwrap()
        .unwrap();
    let mut st = s.stream;
    let (out, err) = read_frames(&mut st);
    assert_eq!((out.as_str(), err.as_str()), ("bar\n", "e\n"));
    env.wait_for("exec exit", || {
        env.e().exec_inspect(&ex).unwrap().exit_code.is_some()
    });
    let i = env.e().exec_inspect(&ex).unwrap();
    assert_eq!((i.exit_code, i.running), (Some(4), false));
    assert_eq!(i.process_config.entrypoint, "sh");
    // Detached.
    let d = env
        .e()
        .exec_create(
            &id,
            ExecConfig {
                cmd: vec!["sh".into(), "-c".into(), "exit 3".into()],
                ..Default::default()
            },
        )
        .unwrap()
        .id;
    assert!(env
        .e()
        .exec_start(
            &d,
            ExecStartConfig {
                detach: true,
                ..Default::default()
            }
        )
        .unwrap()
        .is_none());
    env.wait_for("detached exec exit", || {
        env.e().exec_inspect(&d).unwrap().exit_code == Some(3)
    });
    assert_eq!(
        env.e()
            .exec_start(&d, ExecStartConfig::default())
            .err()
            .unwrap()
            .status(),
        409
    );
    assert_eq!(env.e().exec_inspect("nope").unwrap_err().status(), 404);
    env.e().container_stop(&id, Some(0), None).unwrap();
    assert_eq!(
        env.e()
            .exec_create(
                &id,
                ExecConfig {
                    cmd: vec!["true".into()],
                    ..Default::default()
                }
            )
            .unwrap_err()
            .status(),
        409
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn health_update_top_stats_and_log_replay() {
    let Some(env) = env() else { return };
    let since = berth_engine::timefmt::now_nanos();
    let id = env.create(
        Some("checked"),
        &["sh", "-c", "echo before; exec sleep 100"],
        |c, _| {
            c.healthcheck = Some(berth_api_types::container::HealthConfig {
                test: vec!["CMD-SHELL".into(), "echo probing; true".into()],
                interval: 200_000_000,
                timeout: 5_000_000_000,
                retries: 1,
                start_period: 0,
            });
        },
    );
    env.e().container_start(&id).unwrap();
    env.wait_for("healthy", || {
        env.e()
            .container_inspect(&id, false)
            .unwrap()
            .state
            .unwrap()
            .health
            .is_some_and(|h| h.status == "healthy")
    });
    let h = env
        .e()
        .container_inspect(&id, false)
        .unwrap()
        .state
        .unwrap()
        .health
        .unwrap();
    assert_eq!(h.log[0].output, "probing\n");
    assert_eq!(h.log[0].exit_code, 0);
    let l = env
        .e()
        .container_list(ListOptions {
            filters: filters(&[("health", "healthy")]),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(l.len(), 1);
    assert!(l[0].status.ends_with("(healthy)"), "{}", l[0].status);
    let ev = env
        .e()
        .events(since, 0, filters(&[("event", "health_status")]))
        .unwrap();
    assert_eq!(ev.past[0].action, "health_status: healthy");

    // The log is replayed before live output with `logs`.
    let a = env
        .e()
        .container_attach(
            &id,
            AttachOptions {
                stdout: true,
                logs: true,
                stream: true,
                ..Default::default()
            },
        )
        .unwrap();
    let mut s = a.stream;
    let mut head = [0u8; 15];
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head[..8], &[1, 0, 0, 0, 0, 0, 0, 7]);
    assert_eq!(&head[8..], b"before\n");
    drop(s);

    // Resources change while it runs and are kept.
    let mut req = berth_api_types::container::ContainerUpdateRequest::default();
    req.resources.memory = 64 << 20;
    req.resources.pids_limit = Some(50);
    req.restart_policy = Some(RestartPolicy {
        name: "unless-stopped".into(),
        maximum_retry_count: 0,
    });
    env.e().container_update(&id, req).unwrap();
    let hc = env
        .e()
        .container_inspect(&id, false)
        .unwrap()
        .host_config
        .unwrap();
    assert_eq!(
        (hc.resources.memory, hc.restart_policy.name.as_str()),
        (64 << 20, "unless-stopped")
    );
    let limit = env
        .cgroup_dirs(&id)
        .iter()
        .find_map(|d| {
            std::fs::read_to_string(d.join("memory.limit_in_bytes"))
                .or_else(|_| std::fs::read_to_string(d.join("memory.max")))
                .ok()
        })
        .expect("a memory cgroup file");
    assert_eq!(limit.trim(), (64u64 << 20).to_string());

    let top = env.e().container_top(&id, None).unwrap();
    let cmd_col = top
        .titles
        .iter()
        .position(|t| t == "CMD")
        .expect("CMD column");
    assert!(
        top.processes
            .iter()
            .any(|p| p[cmd_col].contains("sleep 100")),
        "{top:?}"
    );
    let st = env.e().container_stats(&id).unwrap();
    assert_eq!(
        (st.name.as_str(), st.id.as_str()),
        ("/checked", id.as_str())
    );
    env.e().container_stop(&id, Some(0), None).unwrap();
    assert_eq!(env.e().container_top(&id, None).unwrap_err().status(), 409);
    let st = env.e().container_stats(&id).unwrap();
    assert_eq!(st.read, "0001-01-01T00:00:00Z");
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn shutdown_without_live_restore_stops_containers() {
    let Some(mut env) = env() else { return };
    let id = env.run(None, &["sleep", "100"]);
    env.engine.take();
    env.cfg.live_restore = false;
    let e = LocalEngine::open(env.cfg.clone()).unwrap();
    assert_eq!(
        e.container_inspect(&id, false)
            .unwrap()
            .state
            .unwrap()
            .status,
        "running"
    );
    e.shutdown();
    let st = e.container_inspect(&id, false).unwrap().state.unwrap();
    assert_eq!(st.status, "exited");
    env.engine = Some(e);
    assert!(env.mounts_under().is_empty(), "{:?}", env.mounts_under());
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn logs_read_across_rotated_files() {
    let Some(env) = env() else { return };
    let id = env.create(
        None,
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 60 ]; do echo line$i; i=$((i+1)); done",
        ],
        |_, hc| {
            hc.log_config = LogConfig {
                kind: "json-file".into(),
                config: [
                    ("max-size".to_string(), "1k".to_string()),
                    ("max-file".to_string(), "5".to_string()),
                ]
                .into(),
            };
        },
    );
    env.e().container_start(&id).unwrap();
    env.wait(&id, WaitCondition::NotRunning);
    let log = env.e().container_inspect(&id, false).unwrap().log_path;
    assert!(Path::new(&format!("{log}.1")).exists(), "the log rotated");
    let (s, _) = env
        .e()
        .container_logs(
            &id,
            LogsOptions {
                stdout: true,
                ..Default::default()
            },
        )
        .unwrap();
    let lines: Vec<String> = s
        .map(|e| String::from_utf8(e.unwrap().bytes).unwrap())
        .collect();
    // 60 lines of ~70 bytes of JSON each fill about four 1k files; the oldest went.
    assert!(lines.len() > 20 && lines.len() <= 60, "{}", lines.len());
    assert_eq!(lines.last().unwrap(), "line59\n");
    let nums: Vec<u32> = lines
        .iter()
        .map(|l| l.trim()[4..].parse().unwrap())
        .collect();
    assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");
}
