//! Talking to a container's `berth-runc shim` (docs/shim.md): launching it, and its
//! control socket — one JSON request line, one JSON reply line, and for `attach` and
//! `exec` the rest of the connection as the process's stdio.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Files the shim keeps in its state directory.
pub const SOCKET: &str = "shim.sock";
pub const PID_FILE: &str = "shim.pid";
pub const EXIT_FILE: &str = "exit.json";

/// Why talking to a shim failed.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// The socket could not be reached or the connection broke.
    #[error("shim socket {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The shim answered `{"ok":false,"error":…}`.
    #[error("{0}")]
    Failed(String),
    /// The reply was not JSON.
    #[error("shim socket {path}: bad reply {reply:?}")]
    BadReply { path: PathBuf, reply: String },
}

/// The shim of one container, by its state directory.
#[derive(Debug, Clone)]
pub struct Shim {
    pub state_dir: PathBuf,
}

/// The exit the shim reported (`wait` reply or exit.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub code: i64,
    /// Unix nanoseconds (0: unknown).
    pub finished_at: i64,
    /// How many processes of the container the OOM killer took during this run.
    pub oom_kills: u64,
}

impl Exit {
    fn from_json(v: &Value) -> Option<Exit> {
        Some(Exit {
            code: v["exit_code"].as_i64()?,
            finished_at: v["finished_at"]
                .as_str()
                .and_then(crate::timefmt::parse_rfc3339)
                .unwrap_or(0),
            oom_kills: v["oom_kills"]
                .as_u64()
                .unwrap_or(u64::from(v["oom_killed"] == true)),
        })
    }
}

/// Reads one line (without its newline) from `s`, consuming nothing after it: peeks
/// at what has arrived and takes up to the newline (two system calls for a reply,
/// where reading byte by byte took one per byte).
fn read_line_exact(s: &mut UnixStream) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match rustix::net::recv(&*s, &mut buf, rustix::net::RecvFlags::PEEK) {
            Ok((n, _)) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return Ok(line);
        }
        let (take, done) = match buf[..n].iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (n, false),
        };
        s.read_exact(&mut buf[..take])?;
        line.extend_from_slice(&buf[..take]);
        if done {
            line.pop();
            return Ok(line);
        }
    }
}

impl Shim {
    pub fn new(state_dir: impl Into<PathBuf>) -> Shim {
        Shim {
            state_dir: state_dir.into(),
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.state_dir.join(SOCKET)
    }

    fn io_err(&self) -> impl FnOnce(std::io::Error) -> ShimError + '_ {
        move |source| ShimError::Io {
            path: self.socket(),
            source,
        }
    }

    /// Sends `req` and reads the reply line, and nothing of a following stream. Returns the reply and the connection.
    pub fn call_stream(
        &self,
        req: &Value,
        timeout: Option<Duration>,
    ) -> Result<(Value, UnixStream), ShimError> {
        let sock = berth_sys::SocketPath::new(&self.socket()).map_err(self.io_err())?;
        let mut s = UnixStream::connect(sock.path()).map_err(self.io_err())?;
        s.set_read_timeout(timeout).map_err(self.io_err())?;
        let mut line = serde_json::to_vec(req).expect("a JSON value always serializes");
        line.push(b'\n');
        s.write_all(&line).map_err(self.io_err())?;
        let reply = read_line_exact(&mut s).map_err(self.io_err())?;
        s.set_read_timeout(None).map_err(self.io_err())?;
        let v: Value = serde_json::from_slice(&reply).map_err(|_| ShimError::BadReply {
            path: self.socket(),
            reply: String::from_utf8_lossy(&reply).into_owned(),
        })?;
        if v["ok"] != Value::Bool(true) {
            let msg = v["error"]
                .as_str()
                .unwrap_or("the shim refused the request");
            return Err(ShimError::Failed(msg.to_string()));
        }
        Ok((v, s))
    }

    /// A request whose reply comes at once.
    pub fn call(&self, req: &Value) -> Result<Value, ShimError> {
        self.call_stream(req, Some(Duration::from_secs(30)))
            .map(|(v, _)| v)
    }

    /// Blocks until the container (or with `exec_id`, that exec process) has exited.
    pub fn wait(&self, exec_id: Option<&str>) -> Result<Exit, ShimError> {
        let req = match exec_id {
            Some(e) => serde_json::json!({"op": "wait", "exec_id": e}),
            None => serde_json::json!({"op": "wait"}),
        };
        let (v, _) = self.call_stream(&req, None)?;
        Exit::from_json(&v).ok_or_else(|| ShimError::BadReply {
            path: self.socket(),
            reply: v.to_string(),
        })
    }

    /// Blocks until the container has exited, calling `on_oom` with the number of its
    /// processes the OOM killer has taken so far each time that grows (the shim's
    /// `"oom":true` wait: event lines before the exit line; kills before the call are
    /// told at once, and a kill at exit before the exit).
    pub fn wait_watching_oom(&self, mut on_oom: impl FnMut(u64)) -> Result<Exit, ShimError> {
        let req = serde_json::json!({"op": "wait", "oom": true});
        let (mut v, mut s) = self.call_stream(&req, None)?;
        while v["event"] == "oom" {
            on_oom(v["oom_kills"].as_u64().unwrap_or(0));
            let line = read_line_exact(&mut s).map_err(self.io_err())?;
            v = serde_json::from_slice(&line).map_err(|_| ShimError::BadReply {
                path: self.socket(),
                reply: String::from_utf8_lossy(&line).into_owned(),
            })?;
        }
        Exit::from_json(&v).ok_or_else(|| ShimError::BadReply {
            path: self.socket(),
            reply: v.to_string(),
        })
    }

    /// The durable exit record, if the container exited.
    pub fn exit_file(&self) -> Option<Exit> {
        let data = std::fs::read(self.state_dir.join(EXIT_FILE)).ok()?;
        Exit::from_json(&serde_json::from_slice(&data).ok()?)
    }

    /// The shim daemon's pid, while its pid file exists.
    pub fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.state_dir.join(PID_FILE))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Whether the shim daemon still runs (its pid file exists and names a live
    /// process).
    pub fn alive(&self) -> bool {
        self.pid().is_some_and(process_lives)
    }

    /// Waits (polling) until the shim has wound up — its pid file removed and the
    /// process gone — at most `timeout`.
    pub fn wait_gone(&self, timeout: Duration) -> bool {
        match self.pid() {
            Some(pid) => wait_pid_gone(pid, timeout),
            None => true,
        }
    }
}

/// A shim process, held by a pidfd opened while it was known to run, so its exit is
/// seen at once and a recycled pid cannot be mistaken for it.
pub struct ShimProcess {
    pid: i32,
    fd: Option<std::os::fd::OwnedFd>,
}

impl ShimProcess {
    pub fn open(pid: i32) -> ShimProcess {
        let fd = rustix::process::Pid::from_raw(pid).and_then(|p| {
            rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok()
        });
        ShimProcess { pid, fd }
    }

    /// Waits until the process has exited (a zombie counts), at most `timeout`.
    pub fn wait_gone(&self, timeout: Duration) -> bool {
        let Some(fd) = &self.fd else {
            return wait_pid_gone(self.pid, timeout);
        };
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let ts = rustix::event::Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            let mut fds = [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)];
            match rustix::event::poll(&mut fds, Some(&ts)) {
                Ok(n) if n > 0 => return true,
                Ok(_) => return false,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return wait_pid_gone(self.pid, left),
            }
        }
    }
}

/// Waits (polling) until process `pid` (a shim) has exited, at most `timeout`.
pub fn wait_pid_gone(pid: i32, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    {
        loop {
            if !process_lives(pid) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Whether `pid` exists and is not a zombie.
fn process_lives(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// How to launch a shim.
#[derive(Debug, Clone)]
pub struct LaunchOpts<'a> {
    pub runtime: &'a Path,
    /// The same binary in a sealed overlay (see berth_runtime::sealed::SealedDir), run
    /// instead of `runtime` when given.
    pub sealed: Option<PathBuf>,
    pub runtime_root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub state_dir: &'a Path,
    /// None: `--log-driver none`.
    pub log_path: Option<&'a Path>,
    pub log_max_size: u64,
    pub log_max_files: u32,
    pub stdin: bool,
    pub stdin_once: bool,
    pub tty: bool,
}

/// Runs `berth-runc shim …` and returns once the container is created (the shim has
/// daemonized), or the shim's own error text.
pub fn launch(o: &LaunchOpts<'_>) -> Result<(), String> {
    let mut cmd = match &o.sealed {
        Some(p) => {
            let mut c = Command::new(p);
            c.arg0(o.runtime);
            c
        }
        None => Command::new(o.runtime),
    };
    cmd.arg("--root")
        .arg(o.runtime_root)
        .arg("shim")
        .arg("--id")
        .arg(o.id)
        .arg("--bundle")
        .arg(o.bundle)
        .arg("--state-dir")
        .arg(o.state_dir);
    match o.log_path {
        Some(p) => {
            cmd.arg("--log-path").arg(p);
            if o.log_max_size > 0 {
                cmd.arg("--log-max-size").arg(o.log_max_size.to_string());
                cmd.arg("--log-max-files").arg(o.log_max_files.to_string());
            }
        }
        None => {
            cmd.arg("--log-driver").arg("none");
        }
    }
    for (on, flag) in [
        (o.stdin, "--stdin"),
        (o.stdin_once, "--stdin-once"),
        (o.tty, "--tty"),
    ] {
        if on {
            cmd.arg(flag);
        }
    }
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("running {}: {e}", o.runtime.display()))?;
    if out.status.success() {
        return Ok(());
    }
    let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(if msg.is_empty() {
        format!("{} shim exited with {}", o.runtime.display(), out.status)
    } else {
        msg
    })
}

/// Runs `berth-runc --root R ARGS…` and returns its error text on failure.
pub fn runtime_cmd(runtime: &Path, root: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new(runtime)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("running {}: {e}", runtime.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}
