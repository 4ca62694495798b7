//! containerd drives the runtime under test, the way it drives runc in production.
//!
//! The test starts a private containerd (Debian's 1.6: its own config, root, state
//! dir and socket under a temporary directory, no CRI plugin), imports an OCI image
//! built here FROM scratch with static busybox, and runs `ctr` with
//! `--runc-binary <runtime>`. containerd's runc shim then calls the runtime with
//! `--root --log --log-format json` and `create --bundle --pid-file
//! [--console-socket]`, `start`, `state`, `exec --process --detach --pid-file`,
//! `pause`, `resume`, `ps --format json`, `kill` and `delete [--force]`; each
//! scenario checks what a containerd user would see.
//!
//! The runtime is `BERTH_TEST_RUNTIME` if set (`BERTH_TEST_RUNTIME=/usr/sbin/runc`
//! shows the test itself is right), else the workspace's release build of
//! berth-runc, else its debug build. The test needs root (it is `#[ignore]`d: run it
//! with `--include-ignored`), and `containerd`, `ctr`, `containerd-shim-runc-v2` and
//! static busybox; without those it prints a note and passes. The tty parts need `script` (bsdutils). Every command has a timeout, and
//! a guard removes whatever the test made (containers, shims, containerd, mounts,
//! cgroups, directories) also when a scenario fails.

use serde_json::json;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::symlink;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest any single command may take before it counts as hung.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long containerd may take to answer on its socket after starting.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Name the image is imported under.
const IMAGE: &str = "berth.test/busybox:latest";
const BUSYBOX: &str = "/usr/bin/busybox";
/// Applets linked into the image's /bin.
const APPLETS: &[&str] = &["sh", "echo", "sleep", "cat", "tty", "true"];
/// Where containerd 1.6 puts shim sockets, whatever its config says.
const RUN_CONTAINERD: &str = "/run/containerd";

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn containerd_drives_the_runtime() {
    if let Some(reason) = missing_prerequisite() {
        eprintln!("SKIP containerd_drives_the_runtime: {reason}");
        return;
    }
    let runtime = locate_runtime();
    eprintln!(
        "containerd test: runtime under test is {}",
        runtime.display()
    );

    let ctrd = Containerd::start(&runtime);
    ctrd.import(&build_image(ctrd.dir()));

    let have_script = which("script").is_some();
    let mut scenarios: Vec<(&str, Scenario)> =
        vec![("plain run", plain_run), ("detached task", detached_task)];
    if have_script {
        scenarios.push(("tty run", tty_run));
    } else {
        eprintln!("SKIP tty run: `script` (bsdutils) is not installed");
    }

    let mut failures = Vec::new();
    for (name, scenario) in scenarios {
        eprintln!("containerd test: {name}");
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| scenario(&ctrd))) {
            let msg = panic_message(&*panic);
            failures.push(format!("--- {name}: {msg}\n{}", ctrd.diagnostics()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} containerd scenario(s) failed with runtime {}:\n{}",
        failures.len(),
        runtime.display(),
        failures.join("\n")
    );
}

/// One check against the shared containerd; it fails by panicking.
type Scenario = fn(&Containerd);

/// (a) Foreground runs: output, the image's environment, exit codes.
fn plain_run(c: &Containerd) {
    let out = c.ctr(
        &c.run_args(&["--rm"], "run-echo", &["/bin/echo", "hello"]),
        None,
    );
    let out = out.expect_code(0, "ctr run echo");
    assert_eq!(
        out.stdout.trim(),
        "hello",
        "ctr run echo printed the wrong thing; {out}"
    );

    let out = c.ctr(
        &c.run_args(&["--rm"], "run-exit", &["/bin/sh", "-c", "exit 7"]),
        None,
    );
    out.expect_code(7, "ctr run with exit 7");

    // The image config's Env reaches the process through the spec containerd writes.
    let out = c.ctr(
        &c.run_args(
            &["--rm"],
            "run-env",
            &["/bin/sh", "-c", "echo \"$BERTH_IMAGE_ENV\""],
        ),
        None,
    );
    let out = out.expect_code(0, "ctr run printing the image's env");
    assert_eq!(
        out.stdout.trim(),
        "from-image-config",
        "image Env not in the process; {out}"
    );

    // A failing create: the shim reads the runtime's error from its --log file
    // (log.json, --log-format json) and hands it to the user.
    let missing = c.dir().join("no-such-mount-source");
    let mount = format!(
        "type=bind,src={},dst=/x,options=rbind:ro",
        missing.display()
    );
    let out = c.ctr(
        &c.run_args(
            &["--rm", "--mount", &mount],
            "run-bad-mount",
            &["/bin/true"],
        ),
        None,
    );
    assert!(
        !out.timed_out && out.code.is_some_and(|c| c != 0),
        "ctr run with a missing bind-mount source should fail; {out}"
    );
    assert!(
        out.stderr.contains("OCI runtime create failed")
            && out.stderr.contains("no-such-mount-source"),
        "ctr's error does not carry the runtime's create error naming the source; {out}"
    );
    c.ctr(&["containers", "rm", "run-bad-mount"], None);

    let left = c
        .ctr(&["containers", "ls", "-q"], None)
        .expect_code(0, "ctr containers ls");
    for id in ["run-echo", "run-exit", "run-env"] {
        assert!(
            !left.stdout.lines().any(|l| l.trim() == id),
            "--rm left container {id}; {left}"
        );
    }
}

/// (b) A detached task: exec, ps, pause/resume, metrics, kill, rm.
fn detached_task(c: &Containerd) {
    let id = "detached";
    c.ctr(&c.run_args(&["-d"], id, &["/bin/sleep", "1000"]), None)
        .expect_code(0, "ctr run -d");
    let (pid, status) = c
        .task(id)
        .unwrap_or_else(|| panic!("task {id} not listed after ctr run -d"));
    assert_eq!(status, "RUNNING", "task {id} after ctr run -d");
    assert!(pid > 0, "task {id} has no pid");

    // containerd asked for cgroupsPath /<namespace>/<id>; its metrics read that cgroup.
    let cgroup = cgroup_of(pid);
    let want = format!("/{}/{id}", c.ns);
    assert!(
        cgroup.as_deref().is_some_and(|p| p.ends_with(&want)),
        "container init {pid} is in cgroup {cgroup:?}, expected one ending in {want}"
    );

    let out = c.ctr(
        &c.exec_args(&[], id, "e1", &["/bin/sh", "-c", "echo exec-ok"]),
        None,
    );
    let out = out.expect_code(0, "ctr task exec");
    assert_eq!(out.stdout.trim(), "exec-ok", "ctr task exec output; {out}");

    c.ctr(
        &c.exec_args(&[], id, "e2", &["/bin/sh", "-c", "exit 5"]),
        None,
    )
    .expect_code(5, "ctr task exec with exit 5");

    let out = c.ctr(
        &c.exec_args(&[], id, "e3", &["/bin/cat"]),
        Some(b"stdin-ok\n"),
    );
    let out = out.expect_code(0, "ctr task exec cat with stdin");
    assert_eq!(
        out.stdout.trim(),
        "stdin-ok",
        "exec'd cat did not echo its stdin; {out}"
    );

    if which("script").is_some() {
        let argv = c.exec_args(
            &["-t"],
            id,
            "e4",
            &["/bin/sh", "-c", "tty; echo exec-tty-ok"],
        );
        let out = c.ctr_under_pty(&argv);
        let out = out.expect_code(0, "ctr task exec -t");
        assert!(
            out.stdout.contains("/dev/pts/"),
            "exec -t: `tty` named no pty; {out}"
        );
        assert!(out.stdout.contains("exec-tty-ok"), "exec -t output; {out}");
    }

    let out = c
        .ctr(&["task", "ps", id], None)
        .expect_code(0, "ctr task ps");
    assert!(
        out.stdout
            .lines()
            .skip(1)
            .any(|l| l.split_whitespace().next() == Some(&pid.to_string())),
        "ctr task ps does not list the init pid {pid}; {out}"
    );

    c.ctr(&["task", "pause", id], None)
        .expect_code(0, "ctr task pause");
    assert_eq!(
        c.task(id).map(|t| t.1).as_deref(),
        Some("PAUSED"),
        "task status after pause"
    );
    assert_eq!(
        frozen(&c.ns, id),
        Some(true),
        "cgroup freezer state after pause"
    );
    // The shim's own status says PAUSED whatever happened; the runtime must agree,
    // or its `resume` refuses ("container not paused").
    let state = c.runtime_state(id);
    assert_eq!(
        state["status"], "paused",
        "runtime state after pause: {state}"
    );

    c.ctr(&["task", "resume", id], None)
        .expect_code(0, "ctr task resume");
    assert_eq!(
        c.task(id).map(|t| t.1).as_deref(),
        Some("RUNNING"),
        "task status after resume"
    );
    assert_eq!(
        frozen(&c.ns, id),
        Some(false),
        "cgroup freezer state after resume"
    );
    let out = c.ctr(
        &c.exec_args(&[], id, "e5", &["/bin/echo", "after-resume"]),
        None,
    );
    let out = out.expect_code(0, "ctr task exec after resume");
    assert_eq!(
        out.stdout.trim(),
        "after-resume",
        "exec after resume; {out}"
    );

    let out = c
        .ctr(&["task", "metrics", id], None)
        .expect_code(0, "ctr task metrics");
    assert!(
        out.stdout.contains("memory"),
        "ctr task metrics shows no memory figures; {out}"
    );

    c.ctr(&["task", "kill", "-s", "SIGKILL", id], None)
        .expect_code(0, "ctr task kill");
    c.wait_status(id, "STOPPED");
    c.ctr(&["task", "rm", id], None)
        .expect_code(0, "ctr task rm");
    assert!(
        c.task(id).is_none(),
        "task {id} still listed after ctr task rm"
    );
    c.ctr(&["containers", "rm", id], None)
        .expect_code(0, "ctr containers rm");
    if let Some(dir) = cgroup_dir(&c.ns, id) {
        assert!(
            !dir.exists(),
            "the runtime's delete left cgroup {}",
            dir.display()
        );
    }
}

/// (c) A foreground run with a terminal: the console socket path of create.
fn tty_run(c: &Containerd) {
    let argv = c.run_args(
        &["--rm", "-t"],
        "run-tty",
        &["/bin/sh", "-c", "tty; echo tty-ok; exit 3"],
    );
    let out = c.ctr_under_pty(&argv);
    let out = out.expect_code(3, "ctr run -t with exit 3");
    assert!(
        out.stdout.contains("/dev/pts/"),
        "ctr run -t: `tty` named no pty; {out}"
    );
    assert!(out.stdout.contains("tty-ok"), "ctr run -t output; {out}");
}

// ---------------------------------------------------------------------------
// The private containerd and its guard.

struct Containerd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    socket: PathBuf,
    ns: String,
    runtime: PathBuf,
    runc_root: PathBuf,
    fifo_dir: PathBuf,
    log: PathBuf,
    /// /run/containerd did not exist before: remove it (if empty) at the end.
    made_run_containerd: bool,
}

impl Containerd {
    fn start(runtime: &Path) -> Containerd {
        let dir = tempfile::Builder::new()
            .prefix("berth-ctrd-")
            .tempdir_in("/tmp")
            .expect("creating a temporary directory under /tmp");
        let d = dir.path().to_path_buf();
        let made_run_containerd = !Path::new(RUN_CONTAINERD).exists();
        let mut c = Containerd {
            socket: d.join("containerd.sock"),
            ns: format!("berthtest-{}", std::process::id()),
            runtime: runtime.to_path_buf(),
            runc_root: d.join("runc"),
            fifo_dir: d.join("fifo"),
            log: d.join("containerd.log"),
            child: None,
            dir,
            made_run_containerd,
        };
        let config = d.join("config.toml");
        write(&config, &containerd_config(&d, &c.socket));
        let log = fs::File::create(&c.log).expect("creating containerd's log file");
        let log2 = log.try_clone().expect("duplicating containerd's log file");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .expect("spawning containerd");
        c.child = Some(child);

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = c.child.as_mut().and_then(|ch| ch.try_wait().ok().flatten()) {
                panic!(
                    "containerd exited during startup ({status}); log:\n{}",
                    c.log_tail(40)
                );
            }
            if c.socket.exists()
                && run(
                    &ctr_cmd(&c.socket, &c.ns, &["version"]),
                    None,
                    Duration::from_secs(5),
                )
                .code
                    == Some(0)
            {
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not answer on {} within {STARTUP_TIMEOUT:?}; log:\n{}",
                c.socket.display(),
                c.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn import(&self, tar: &Path) {
        let tar = tar
            .to_str()
            .expect("the temporary directory's path is UTF-8");
        self.ctr(
            &["images", "import", "--base-name", "berth.test/busybox", tar],
            None,
        )
        .expect_code(0, "ctr images import");
        let out = self
            .ctr(&["images", "ls", "-q"], None)
            .expect_code(0, "ctr images ls");
        assert!(
            out.stdout.lines().any(|l| l.trim() == IMAGE),
            "{IMAGE} not imported; {out}"
        );
    }

    /// `ctr run [flags] --runc-binary … IMAGE id args…`
    fn run_args(&self, flags: &[&str], id: &str, args: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = vec!["run".into()];
        v.extend(flags.iter().map(|s| s.to_string()));
        v.extend(self.runtime_flags());
        v.push(IMAGE.into());
        v.push(id.into());
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    fn runtime_flags(&self) -> Vec<String> {
        vec![
            "--runc-binary".into(),
            self.runtime.display().to_string(),
            // A private runtime state root instead of the shared /run/containerd/runc.
            "--runc-root".into(),
            self.runc_root.display().to_string(),
            "--fifo-dir".into(),
            self.fifo_dir.display().to_string(),
        ]
    }

    /// `ctr task exec [flags] --exec-id E id args…`
    fn exec_args(&self, flags: &[&str], id: &str, exec_id: &str, args: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = vec!["task".into(), "exec".into()];
        v.extend(flags.iter().map(|s| s.to_string()));
        v.extend(["--fifo-dir".into(), self.fifo_dir.display().to_string()]);
        v.extend(["--exec-id".into(), exec_id.into(), id.into()]);
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    fn ctr<S: AsRef<str>>(&self, args: &[S], stdin: Option<&[u8]>) -> Outcome {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        run(&ctr_cmd(&self.socket, &self.ns, &args), stdin, STEP_TIMEOUT)
    }

    /// Runs ctr on a pseudo-terminal (`script -qec`), as an interactive user would.
    fn ctr_under_pty(&self, args: &[String]) -> Outcome {
        let mut line = vec![
            "ctr".to_string(),
            "-a".into(),
            self.socket.display().to_string(),
        ];
        line.extend(["-n".into(), self.ns.clone()]);
        line.extend(args.iter().cloned());
        let line = line
            .iter()
            .map(|a| sh_quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        let argv = ["script", "-qec", &line, "/dev/null"]
            .map(String::from)
            .to_vec();
        run(&argv, None, STEP_TIMEOUT)
    }

    /// (pid, STATUS) of task `id` from `ctr task ls`.
    fn task(&self, id: &str) -> Option<(u32, String)> {
        let out = self
            .ctr(&["task", "ls"], None)
            .expect_code(0, "ctr task ls");
        out.stdout.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[0] == id).then(|| (f[1].parse().unwrap_or(0), f[2].to_string()))
        })
    }

    fn wait_status(&self, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.task(id);
            if got.as_ref().is_some_and(|t| t.1 == want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "task {id} did not reach {want}: {got:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The runtime's own `state` of a container, read with the root the shim uses.
    fn runtime_state(&self, id: &str) -> serde_json::Value {
        let argv = [
            self.runtime.display().to_string(),
            "--root".into(),
            self.runc_root.join(&self.ns).display().to_string(),
            "state".into(),
            id.into(),
        ];
        let out = run(&argv, None, STEP_TIMEOUT).expect_code(0, "runtime state");
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("runtime state is not JSON ({e}); {out}"))
    }

    /// Bundle directories of this namespace's tasks (hold the shim's log.json).
    fn bundles(&self) -> Vec<PathBuf> {
        let dir = self
            .dir()
            .join("state/io.containerd.runtime.v2.task")
            .join(&self.ns);
        fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    /// What to read when a scenario fails: the runtime's logs and containerd's.
    fn diagnostics(&self) -> String {
        let mut s = String::new();
        for b in self.bundles() {
            if let Ok(log) = fs::read_to_string(b.join("log.json")) {
                s += &format!(
                    "runtime log {}/log.json:\n{}\n",
                    b.display(),
                    tail(&log, 20)
                );
            }
        }
        s + &format!("containerd log (tail):\n{}", self.log_tail(30))
    }

    fn log_tail(&self, n: usize) -> String {
        tail(&fs::read_to_string(&self.log).unwrap_or_default(), n)
    }

    /// Kills every process in this namespace's cgroups and removes the cgroups.
    fn remove_cgroups(&self) {
        for root in cgroup_roots() {
            let top = root.join(&self.ns);
            if !top.exists() {
                continue;
            }
            for attempt in 0..50 {
                let mut dirs = Vec::new();
                collect_dirs(&top, &mut dirs);
                for d in &dirs {
                    for pid in fs::read_to_string(d.join("cgroup.procs"))
                        .unwrap_or_default()
                        .lines()
                    {
                        kill(
                            pid.trim().parse().unwrap_or(0),
                            rustix::process::Signal::KILL,
                        );
                    }
                }
                // Deepest first: a cgroup can only go once its children have.
                dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
                let all_gone = dirs
                    .iter()
                    .all(|d| fs::remove_dir(d).is_ok() || !d.exists());
                if all_gone {
                    break;
                }
                if attempt == 49 {
                    eprintln!("containerd test: could not remove cgroup {}", top.display());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let quick = Duration::from_secs(10);
        let alive = self
            .child
            .as_mut()
            .is_some_and(|ch| matches!(ch.try_wait(), Ok(None)));
        // Shim sockets live outside our directory; note them while the bundles exist.
        let shim_sockets: Vec<PathBuf> = self
            .bundles()
            .iter()
            .filter_map(|b| fs::read_to_string(b.join("address")).ok())
            .filter_map(|a| a.trim().strip_prefix("unix://").map(PathBuf::from))
            .collect();
        if alive {
            // The orderly way first: containerd stops the tasks and its shims.
            let ctr = |args: &[&str]| run(&ctr_cmd(&self.socket, &self.ns, args), None, quick);
            for id in ctr(&["containers", "ls", "-q"])
                .stdout
                .lines()
                .map(str::trim)
            {
                if id.is_empty() {
                    continue;
                }
                ctr(&["task", "kill", "-s", "SIGKILL", id]);
                ctr(&["task", "rm", "-f", id]);
                ctr(&["containers", "rm", id]);
            }
            ctr(&["images", "rm", IMAGE]);
        }
        if let Some(mut child) = self.child.take() {
            kill(child.id() as i32, rustix::process::Signal::TERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Shims outlive containerd; ours are the ones given our socket's address.
        let needle = self.socket.display().to_string();
        for pid in pids_with_cmdline_containing(&needle) {
            kill(pid, rustix::process::Signal::KILL);
        }
        self.remove_cgroups();
        for s in shim_sockets {
            let _ = fs::remove_file(s);
        }
        unmount_under(self.dir());
        if self.made_run_containerd {
            for d in ["s", "fifo", ""] {
                let _ = fs::remove_dir(Path::new(RUN_CONTAINERD).join(d));
            }
        }
        // The TempDir field removes the directory itself.
    }
}

fn containerd_config(d: &Path, socket: &Path) -> String {
    let d = d.display();
    // CRI and the snapshotters this host cannot use are off; no TCP, no metrics,
    // no debug socket: nothing listens outside our directory.
    format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{socket}"
  tcp_address = ""

[ttrpc]
  address = "{socket}.ttrpc"

[debug]
  address = ""
  level = "debug"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#,
        socket = socket.display()
    )
}

// ---------------------------------------------------------------------------
// The image: OCI layout, FROM scratch, static busybox.

fn build_image(dir: &Path) -> PathBuf {
    let work = dir.join("image");
    let rootfs = work.join("rootfs");
    let layout = work.join("layout");
    let blobs = layout.join("blobs/sha256");
    for d in [rootfs.join("bin"), rootfs.join("etc"), blobs.clone()] {
        fs::create_dir_all(&d).unwrap_or_else(|e| panic!("creating {}: {e}", d.display()));
    }
    fs::copy(BUSYBOX, rootfs.join("bin/busybox"))
        .unwrap_or_else(|e| panic!("copying {BUSYBOX}: {e}"));
    for a in APPLETS {
        symlink("busybox", rootfs.join("bin").join(a)).expect("linking a busybox applet");
    }
    write(&rootfs.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n");
    write(&rootfs.join("etc/group"), "root:x:0:\n");

    let layer = work.join("layer.tar");
    let tar = |args: &[&OsStr]| {
        let argv: Vec<String> = std::iter::once("tar".to_string())
            .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect();
        run(&argv, None, STEP_TIMEOUT).expect_code(0, "tar");
    };
    tar(&[
        "--create".as_ref(),
        "--file".as_ref(),
        layer.as_os_str(),
        "--directory".as_ref(),
        rootfs.as_os_str(),
        "--owner=0".as_ref(),
        "--group=0".as_ref(),
        "--numeric-owner".as_ref(),
        "--mtime=@0".as_ref(),
        "--sort=name".as_ref(),
        ".".as_ref(),
    ]);
    let layer_desc = add_blob(&blobs, &layer, "application/vnd.oci.image.layer.v1.tar");

    let config = json!({
        "architecture": go_arch(),
        "os": "linux",
        "config": {
            "Env": ["PATH=/bin", "BERTH_IMAGE_ENV=from-image-config"],
            "Cmd": ["/bin/sh"],
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
    });
    let config_desc = add_json_blob(
        &blobs,
        &work,
        "config.json",
        &config,
        "application/vnd.oci.image.config.v1+json",
    );
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": [layer_desc],
    });
    let mut manifest_desc = add_json_blob(
        &blobs,
        &work,
        "manifest.json",
        &manifest,
        "application/vnd.oci.image.manifest.v1+json",
    );
    manifest_desc["annotations"] = json!({"org.opencontainers.image.ref.name": "latest"});
    write(
        &layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    );
    write(
        &layout.join("index.json"),
        &json!({"schemaVersion": 2, "manifests": [manifest_desc]}).to_string(),
    );

    let image = work.join("image.tar");
    tar(&[
        "--create".as_ref(),
        "--file".as_ref(),
        image.as_os_str(),
        "--directory".as_ref(),
        layout.as_os_str(),
        "oci-layout".as_ref(),
        "index.json".as_ref(),
        "blobs".as_ref(),
    ]);
    image
}

/// Copies `file` into the layout as a blob; returns its descriptor.
fn add_blob(blobs: &Path, file: &Path, media_type: &str) -> serde_json::Value {
    let argv = ["sha256sum".to_string(), file.display().to_string()];
    let out = run(&argv, None, STEP_TIMEOUT).expect_code(0, "sha256sum");
    let hex = out
        .stdout
        .split_whitespace()
        .next()
        .expect("sha256sum prints a digest")
        .to_string();
    let size = fs::metadata(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .len();
    fs::copy(file, blobs.join(&hex))
        .unwrap_or_else(|e| panic!("copying {} into blobs: {e}", file.display()));
    json!({"mediaType": media_type, "digest": format!("sha256:{hex}"), "size": size})
}

fn add_json_blob(
    blobs: &Path,
    work: &Path,
    name: &str,
    v: &serde_json::Value,
    media_type: &str,
) -> serde_json::Value {
    let file = work.join(name);
    write(&file, &v.to_string());
    add_blob(blobs, &file, media_type)
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

// ---------------------------------------------------------------------------
// Running commands with timeouts.

struct Outcome {
    argv: Vec<String>,
    code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

impl Outcome {
    #[track_caller]
    fn expect_code(self, want: i32, what: &str) -> Outcome {
        assert!(
            !self.timed_out && self.code == Some(want),
            "{what}: expected exit {want}, got {self}"
        );
        self
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = match (self.timed_out, self.code, self.signal) {
            (true, ..) => "timed out (killed)".to_string(),
            (_, Some(c), _) => format!("exit {c}"),
            (_, None, s) => format!("signal {}", s.unwrap_or(-1)),
        };
        write!(f, "`{}` -> {status}", self.argv.join(" "))?;
        for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if !text.trim().is_empty() {
                write!(
                    f,
                    "\n  {name}: {}",
                    text.trim_end().replace('\n', "\n          ")
                )?;
            }
        }
        Ok(())
    }
}

fn ctr_cmd(socket: &Path, ns: &str, args: &[&str]) -> Vec<String> {
    let mut v = vec![
        "ctr".to_string(),
        "-a".into(),
        socket.display().to_string(),
        "-n".into(),
        ns.into(),
    ];
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

/// Runs `argv` in its own process group; output goes to files (no pipe can fill
/// up); past `timeout` the whole group is killed and the outcome says so.
fn run(argv: &[String], stdin: Option<&[u8]>, timeout: Duration) -> Outcome {
    let mut stdout = tempfile::tempfile().expect("creating a temporary file for stdout");
    let mut stderr = tempfile::tempfile().expect("creating a temporary file for stderr");
    let stdin = match stdin {
        None => Stdio::null(),
        Some(bytes) => {
            let mut f = tempfile::tempfile().expect("creating a temporary file for stdin");
            f.write_all(bytes)
                .expect("writing stdin to a temporary file");
            f.seek(SeekFrom::Start(0))
                .expect("rewinding the stdin file");
            Stdio::from(f)
        }
    };
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(stdin)
        .stdout(stdout.try_clone().expect("duplicating the stdout file"))
        .stderr(stderr.try_clone().expect("duplicating the stderr file"))
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {argv:?}: {e}"));
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                }
                break child.wait().expect("waiting for a killed child");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for {argv:?}: {e}"),
        }
    };
    let read = |f: &mut fs::File| {
        let mut s = String::new();
        let _ = f.seek(SeekFrom::Start(0));
        let mut bytes = Vec::new();
        let _ = f.read_to_end(&mut bytes);
        s.push_str(&String::from_utf8_lossy(&bytes));
        s
    };
    Outcome {
        argv: argv.to_vec(),
        code: status.code(),
        signal: status.signal(),
        timed_out,
        stdout: read(&mut stdout),
        stderr: read(&mut stderr),
    }
}

// ---------------------------------------------------------------------------
// Host helpers.

fn missing_prerequisite() -> Option<String> {
    for tool in [
        "containerd",
        "ctr",
        "containerd-shim-runc-v2",
        "tar",
        "sha256sum",
    ] {
        if which(tool).is_none() {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    match fs::read(BUSYBOX) {
        Err(e) => Some(format!("{BUSYBOX}: {e} (install busybox-static)")),
        Ok(elf) if has_interpreter(&elf) => Some(format!(
            "{BUSYBOX} is dynamically linked (install busybox-static)"
        )),
        Ok(_) => None,
    }
}

/// Whether a 64-bit little-endian ELF file has a PT_INTERP program header.
fn has_interpreter(elf: &[u8]) -> bool {
    let u16_at = |o: usize| {
        elf.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
    };
    if elf.get(0..4) != Some(b"\x7fELF") || elf.get(4) != Some(&2) {
        return true; // not what we can judge: treat as unusable
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return true;
    };
    (0..phnum).any(|i| u32_at(phoff + i * phentsize) == Some(3))
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// `BERTH_TEST_RUNTIME`, else berth-runc from the workspace's release, then
/// debug, build (in `$CARGO_TARGET_DIR` or the workspace's `target/`).
fn locate_runtime() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_TEST_RUNTIME") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "BERTH_TEST_RUNTIME={} is not a file",
            p.display()
        );
        return p;
    }
    let mut targets = Vec::new();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        targets.push(PathBuf::from(t));
    }
    targets.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let candidates: Vec<PathBuf> = targets
        .iter()
        .flat_map(|t| ["release", "debug"].map(|p| t.join(p).join("berth-runc")))
        .collect();
    candidates.iter().find(|p| p.is_file()).cloned().unwrap_or_else(|| {
        panic!(
            "no runtime to test: build berth-runc (cargo build --release -p berth --bin berth-runc) \
             or set BERTH_TEST_RUNTIME (e.g. /usr/sbin/runc); looked at {candidates:?}"
        )
    })
}

/// The cgroup hierarchies: each v1 controller mount, the v2 one, or both (hybrid).
fn cgroup_roots() -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        return vec![base.to_path_buf()];
    }
    fs::read_dir(base)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir() && !p.is_symlink())
                .collect()
        })
        .unwrap_or_default()
}

/// The freezer cgroup (v1) or unified cgroup (v2) path of `pid`.
fn cgroup_of(pid: u32) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let entries: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctl, path) = (f.next()?, f.next()?, f.next()?);
            Some((ctl, path))
        })
        .collect();
    let v1 = entries
        .iter()
        .find(|(c, _)| c.split(',').any(|c| c == "freezer"));
    let v2 = entries.iter().find(|(c, _)| c.is_empty());
    v1.or(v2).map(|(_, p)| p.to_string())
}

/// Where a container's freezer lives: v1 freezer hierarchy, else cgroup v2.
fn cgroup_dir(ns: &str, id: &str) -> Option<PathBuf> {
    let v1 = Path::new("/sys/fs/cgroup/freezer");
    let base = if v1.is_dir() {
        v1.to_path_buf()
    } else if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        PathBuf::from("/sys/fs/cgroup")
    } else {
        return None;
    };
    Some(base.join(ns).join(id))
}

fn frozen(ns: &str, id: &str) -> Option<bool> {
    let dir = cgroup_dir(ns, id)?;
    if let Ok(s) = fs::read_to_string(dir.join("freezer.state")) {
        return Some(s.trim() == "FROZEN");
    }
    fs::read_to_string(dir.join("cgroup.freeze"))
        .ok()
        .map(|s| s.trim() == "1")
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&e.path(), out);
            }
        }
    }
}

fn pids_with_cmdline_containing(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter(|&pid| pid != me)
                .filter(|pid| {
                    fs::read(format!("/proc/{pid}/cmdline"))
                        .map(|c| {
                            String::from_utf8_lossy(&c)
                                .replace('\0', " ")
                                .contains(needle)
                        })
                        .unwrap_or(false)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn kill(pid: i32, sig: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// Lazily unmounts every mount at or below `dir`, deepest first.
fn unmount_under(dir: &Path) {
    let prefix = dir.display().to_string();
    let mut points: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(|p| p.replace("\\040", " ")))
        .filter(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points.dedup();
    for p in points {
        let _ = rustix::mount::unmount(p.as_str(), rustix::mount::UnmountFlags::DETACH);
    }
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}
