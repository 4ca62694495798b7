//! The runtime under test: finding its binary, invoking its runc-style command
//! line with a private `--root`, a timeout and captured output, and knowing which
//! features a given runc release is known to lack.

use crate::bundle::Bundle;
use crate::container::Container;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long one runtime invocation may take before it counts as hung.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What one invocation of the runtime did.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub argv: Vec<String>,
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal that ended it, if one did.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// It was killed after running past its timeout.
    pub timed_out: bool,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// Panics with the full command, status and output unless it exited 0.
    #[track_caller]
    pub fn expect_success(self, what: &str) -> Self {
        assert!(self.success(), "{what}: expected exit 0, got {self}");
        self
    }

    /// Panics unless it exited non-zero (a timeout is not a clean failure either).
    #[track_caller]
    pub fn expect_failure(self, what: &str) -> Self {
        assert!(
            !self.timed_out && self.code.is_some_and(|c| c != 0),
            "{what}: expected a non-zero exit, got {self}"
        );
        self
    }

    /// The last non-empty line of stdout parsed as JSON (what the checker prints).
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        let line = self
            .stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("expected JSON on the last line of stdout ({e}); {self}"))
    }

    /// stdout and stderr together, for substring checks on messages.
    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = if self.timed_out {
            "timed out (killed)".to_string()
        } else if let Some(c) = self.code {
            format!("exit {c}")
        } else {
            format!("signal {}", self.signal.unwrap_or(-1))
        };
        write!(f, "`{}` -> {status}", self.argv.join(" "))?;
        if !self.stdout.trim().is_empty() {
            write!(
                f,
                "\n  stdout: {}",
                self.stdout.trim_end().replace('\n', "\n          ")
            )?;
        }
        if !self.stderr.trim().is_empty() {
            write!(
                f,
                "\n  stderr: {}",
                self.stderr.trim_end().replace('\n', "\n          ")
            )?;
        }
        Ok(())
    }
}

/// Options for one invocation.
#[derive(Default)]
pub struct Invoke<'a> {
    /// Bytes for stdin (default: /dev/null).
    pub stdin: Option<&'a [u8]>,
    /// Default [`DEFAULT_TIMEOUT`].
    pub timeout: Option<Duration>,
    /// Extra environment for the runtime process.
    pub env: Vec<(String, String)>,
    /// Host paths to open (read-only, without close-on-exec) at the given fd
    /// numbers (3..=9) in the runtime process: a "leaked" descriptor. Done by
    /// the host's /bin/sh, so the fd reaches only this invocation.
    pub leak_fds: Vec<(u8, PathBuf)>,
    /// Files to send stdout and stderr to and keep (default: temporary ones,
    /// removed once read). Containers made by `create` write here too.
    pub output_files: Option<(PathBuf, PathBuf)>,
}

/// A feature that some runtime releases are known not to implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gap {
    TimeNamespace,
    Personality,
    /// The `domainname` field.
    Domainname,
    /// `rootfsPropagation: shared` applied to the container's `/`.
    SharedRootfsPropagation,
    /// poststart hooks run by `start`, after the user process started (not by `create`).
    PoststartOnStart,
    Scheduler,
    IoPriority,
    /// Refusing a /dev/null that is not the real 1:3 device before masking
    /// with it (CVE-2025-31133).
    DevNullVerification,
    /// Writing sysctls only through a verified procfs (CVE-2025-52881).
    VerifiedProcfsWrites,
}

/// The runtime binary under test plus a private state root for one test.
pub struct Runtime {
    bin: PathBuf,
    name: String,
    version: Option<(u32, u32, u32)>,
    root: TempDir,
    scratch: TempDir,
}

static INVOCATION: AtomicU32 = AtomicU32::new(0);

impl Runtime {
    /// The runtime chosen by `BERTH_TEST_RUNTIME`, else the workspace's berth-runc.
    /// Panics with directions if neither is there.
    pub fn under_test() -> Runtime {
        let bin = locate_runtime().unwrap_or_else(|msg| panic!("{msg}"));
        Runtime::with_binary(&bin)
    }

    /// A harness around the runc-compatible binary at `bin`.
    pub fn with_binary(bin: &Path) -> Runtime {
        let (name, version) = identify(bin);
        Runtime {
            bin: bin.to_path_buf(),
            name,
            version,
            root: crate::temp_dir("root"),
            scratch: crate::temp_dir("io"),
        }
    }

    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The private `--root` state directory of this harness.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// "runc 1.1.5" or the like, for messages.
    pub fn describe(&self) -> String {
        match self.version {
            Some((a, b, c)) => format!("{} {a}.{b}.{c}", self.name),
            None => self.name.clone(),
        }
    }

    /// Why this runtime is expected to fail a test of `gap`, if it is a runc
    /// release that predates the feature or fix. Other runtimes get no excuses,
    /// and `BERTH_CONFORMANCE_NO_SKIP=1` removes them for runc too.
    pub fn lacks(&self, gap: Gap) -> Option<String> {
        if std::env::var_os("BERTH_CONFORMANCE_NO_SKIP").is_some_and(|v| v == "1") {
            return None;
        }
        if self.name != "runc" {
            return None;
        }
        let v = self.version?;
        let (needed, what) = match gap {
            Gap::TimeNamespace => ((1, 2, 0), "time namespaces (linux.timeOffsets) arrived in runc 1.2.0"),
            Gap::Personality => ((1, 2, 0), "linux.personality arrived in runc 1.2.0"),
            Gap::Domainname => ((1, 2, 0), "the domainname field arrived in runc 1.2.0 (runc#3600)"),
            Gap::SharedRootfsPropagation => (
                (1, 3, 0),
                "runc applies rootfsPropagation=shared to the container's / only since runc#4724 (2025; runc#1755)",
            ),
            Gap::PoststartOnStart => (
                (1, 5, 0),
                "runc runs poststart hooks during create, not after start, until runc#5186 (2026; runc#1710)",
            ),
            Gap::Scheduler => ((1, 2, 0), "process.scheduler arrived in runc 1.2.0"),
            Gap::IoPriority => ((1, 2, 0), "process.ioPriority arrived in runc 1.2.0"),
            Gap::DevNullVerification => (
                (1, 2, 8),
                "runc verifies /dev/null before masking with it only since 1.2.8 (CVE-2025-31133)",
            ),
            Gap::VerifiedProcfsWrites => (
                (1, 2, 8),
                "runc writes sysctls through a verified procfs only since 1.2.8 (CVE-2025-52881)",
            ),
        };
        (v < needed).then(|| format!("{} is too old: {what}", self.describe()))
    }

    /// Where the stdout or stderr of the container `id` (made by `create`) goes.
    pub fn container_output(&self, id: &str, stream: &str) -> PathBuf {
        self.scratch.path().join(format!("{id}.{stream}"))
    }

    /// A scratch directory that lives as long as this harness.
    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    /// A command for the runtime with this harness's `--root`.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(self.root.path());
        c
    }

    /// Runs the runtime with `args` (after `--root`), waits with a timeout and
    /// captures stdout and stderr through files (so container processes that
    /// inherit them can never make the harness hang).
    pub fn invoke(&self, args: &[&str], opts: Invoke<'_>) -> Output {
        let mut argv: Vec<OsString> = vec![
            self.bin.clone().into(),
            "--root".into(),
            self.root.path().into(),
        ];
        argv.extend(args.iter().map(OsString::from));
        self.invoke_argv(argv, opts)
    }

    fn invoke_argv(&self, argv: Vec<OsString>, opts: Invoke<'_>) -> Output {
        let n = INVOCATION.fetch_add(1, Ordering::Relaxed);
        let dir = self.scratch.path();
        let keep = opts.output_files.is_some();
        let (out_path, err_path) = opts.output_files.clone().unwrap_or_else(|| {
            (
                dir.join(format!("{n}.stdout")),
                dir.join(format!("{n}.stderr")),
            )
        });
        let shown: Vec<String> = argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();

        let mut cmd = if opts.leak_fds.is_empty() {
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        } else {
            // /bin/sh -c 'exec 7<"$1"; exec 3<"$2"; shift 2; exec "$@"' sh P1 P2 runtime args...
            let mut script = String::new();
            for (i, (fd, _)) in opts.leak_fds.iter().enumerate() {
                assert!((3..=9).contains(fd), "leak_fds: fd {fd} is not in 3..=9");
                script.push_str(&format!("exec {fd}<\"${}\"; ", i + 1));
            }
            script.push_str(&format!("shift {}; exec \"$@\"", opts.leak_fds.len()));
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(script).arg("sh");
            c.args(opts.leak_fds.iter().map(|(_, p)| p.as_os_str()));
            c.args(&argv);
            c
        };
        let stdin = match opts.stdin {
            None => Stdio::null(),
            Some(bytes) => {
                let p = dir.join(format!("{n}.stdin"));
                fs::write(&p, bytes).expect("writing a stdin file in the scratch dir");
                Stdio::from(fs::File::open(&p).expect("opening the stdin file just written"))
            }
        };
        let out_file =
            fs::File::create(&out_path).expect("creating a stdout file in the scratch dir");
        let err_file =
            fs::File::create(&err_path).expect("creating a stderr file in the scratch dir");
        cmd.stdin(stdin).stdout(out_file).stderr(err_file);
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return Output {
                    argv: shown,
                    code: Some(127),
                    signal: None,
                    stdout: String::new(),
                    stderr: format!("could not spawn the runtime: {e}"),
                    timed_out: false,
                }
            }
        };
        let deadline = Instant::now() + opts.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let mut timed_out = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() >= deadline => {
                    timed_out = true;
                    let _ = child.kill();
                    break child.wait().ok();
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => break None,
            }
        };
        use std::os::unix::process::ExitStatusExt;
        let read =
            |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
        let out = Output {
            argv: shown,
            code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            stdout: read(&out_path),
            stderr: read(&err_path),
            timed_out,
        };
        if !keep {
            let _ = fs::remove_file(&out_path);
            let _ = fs::remove_file(&err_path);
        }
        out
    }

    /// `run --bundle B ID` in the foreground; the container is deleted afterwards
    /// whatever happens. Returns the runtime's (= the container's) output.
    pub fn run(&self, bundle: &Bundle) -> Output {
        self.run_with(bundle, &[], Invoke::default())
    }

    /// `run` with extra flags before `--bundle` and invocation options.
    pub fn run_with(&self, bundle: &Bundle, flags: &[&str], opts: Invoke<'_>) -> Output {
        bundle.write_config();
        let id = crate::unique_id("run");
        let guard = Container::adopt(self, &id, bundle);
        let bpath = bundle.path().to_string_lossy().into_owned();
        let mut args = vec!["run"];
        args.extend_from_slice(flags);
        args.extend(["--bundle", &bpath, &id]);
        let out = self.invoke(&args, opts);
        drop(guard);
        out
    }

    /// `create --bundle B ID` (with extra flags). The container guard is returned
    /// whether or not create succeeded, so a half-made container is cleaned up.
    pub fn create(&self, bundle: &Bundle, flags: &[&str]) -> (Container<'_>, Output) {
        self.create_with(bundle, flags, Invoke::default())
    }

    pub fn create_with<'r>(
        &'r self,
        bundle: &Bundle,
        flags: &[&str],
        opts: Invoke<'_>,
    ) -> (Container<'r>, Output) {
        let id = crate::unique_id("c");
        self.create_named(bundle, &id, flags, opts)
    }

    /// `create` with a caller-chosen id.
    pub fn create_named<'r>(
        &'r self,
        bundle: &Bundle,
        id: &str,
        flags: &[&str],
        opts: Invoke<'_>,
    ) -> (Container<'r>, Output) {
        bundle.write_config();
        let guard = Container::adopt(self, id, bundle);
        let bpath = bundle.path().to_string_lossy().into_owned();
        let mut args = vec!["create"];
        args.extend_from_slice(flags);
        args.extend(["--bundle", &bpath, id]);
        let files = (
            self.container_output(id, "stdout"),
            self.container_output(id, "stderr"),
        );
        let out = self.invoke(
            &args,
            Invoke {
                output_files: Some(files),
                ..opts
            },
        );
        (guard, out)
    }

    /// A container that has been created and started (panics if either fails).
    #[track_caller]
    pub fn start_container(&self, bundle: &Bundle) -> Container<'_> {
        let (c, out) = self.create(bundle, &[]);
        out.expect_success("create");
        c.start().expect_success("start");
        c
    }
}

/// First line of `BIN --version`, as (name, version): "runc version 1.1.5+ds1"
/// gives ("runc", Some((1, 1, 5))).
fn identify(bin: &Path) -> (String, Option<(u32, u32, u32)>) {
    let fallback = bin
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| bin.display().to_string());
    let Ok(mut child) = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return (fallback, None);
    };
    // A broken runtime must not hang the suite here (--version prints little,
    // so the pipe cannot fill up while we wait).
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(child.try_wait(), Ok(None)) {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (fallback, None);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut text = String::new();
    if let Some(mut out) = child.stdout.take() {
        use std::io::Read;
        let _ = out.read_to_string(&mut text);
    }
    parse_version_line(text.lines().next().unwrap_or(""), &fallback)
}

/// "runc version 1.1.5+ds1" -> ("runc", Some((1, 1, 5))).
fn parse_version_line(first: &str, fallback: &str) -> (String, Option<(u32, u32, u32)>) {
    let name = first
        .split_whitespace()
        .next()
        .unwrap_or(fallback)
        .to_string();
    let version = first
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .and_then(|w| {
            let mut nums = w
                .split(|c: char| !c.is_ascii_digit())
                .map(|p| p.parse::<u32>().ok());
            Some((nums.next()??, nums.next()??, nums.next()??))
        });
    (name, version)
}

/// `BERTH_TEST_RUNTIME`, else a built `berth-runc` next to the test binary, in
/// `$CARGO_TARGET_DIR` or in the workspace's `target/`.
pub fn locate_runtime() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("BERTH_TEST_RUNTIME") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("BERTH_TEST_RUNTIME={} is not a file", p.display()))
        };
    }
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        // target/<profile>/deps/conformance-<hash> -> target/<profile>/berth-runc
        if let Some(profile_dir) = exe.parent().and_then(Path::parent) {
            candidates.push(profile_dir.join("berth-runc"));
        }
    }
    let mut target_dirs = Vec::new();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        target_dirs.push(PathBuf::from(t));
    }
    target_dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    for t in target_dirs {
        for profile in ["debug", "release"] {
            candidates.push(t.join(profile).join("berth-runc"));
        }
    }
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            format!(
                "no runtime to test: set BERTH_TEST_RUNTIME to a runc-compatible binary \
             (e.g. BERTH_TEST_RUNTIME=/usr/sbin/runc) or build berth-runc \
             (cargo build -p berth --bin berth-runc); looked at {candidates:?}"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_lines() {
        assert_eq!(
            parse_version_line("runc version 1.1.5+ds1", "x"),
            ("runc".to_string(), Some((1, 1, 5)))
        );
        assert_eq!(
            parse_version_line("berth-runc version 0.1.0", "x"),
            ("berth-runc".to_string(), Some((0, 1, 0)))
        );
        assert_eq!(
            parse_version_line("crun version 1.8", "x"),
            ("crun".to_string(), None)
        );
        assert_eq!(
            parse_version_line("", "fallback"),
            ("fallback".to_string(), None)
        );
    }

    #[test]
    fn only_runc_gets_excuses() {
        let rt = |name: &str, v| Runtime {
            bin: PathBuf::from("/nonexistent"),
            name: name.to_string(),
            version: v,
            root: crate::temp_dir("unit"),
            scratch: crate::temp_dir("unit"),
        };
        assert!(rt("runc", Some((1, 1, 5)))
            .lacks(Gap::TimeNamespace)
            .is_some());
        assert!(rt("runc", Some((1, 2, 0)))
            .lacks(Gap::TimeNamespace)
            .is_none());
        assert!(rt("runc", Some((1, 2, 7)))
            .lacks(Gap::DevNullVerification)
            .is_some());
        assert!(rt("berth-runc", Some((0, 1, 0)))
            .lacks(Gap::TimeNamespace)
            .is_none());
        assert!(rt("runc", None).lacks(Gap::TimeNamespace).is_none());
    }

    #[test]
    fn output_json_reads_the_last_line() {
        let out = Output {
            argv: vec!["x".into()],
            code: Some(0),
            signal: None,
            stdout: "noise\n{\"a\":1}\n\n".into(),
            stderr: String::new(),
            timed_out: false,
        };
        assert_eq!(out.json()["a"], 1);
        assert!(out.success());
        assert!(out.to_string().contains("exit 0"));
    }
}
