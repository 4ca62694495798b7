//! The per-container shim (`berth-runc shim`): a small daemon that owns one container
//! for its whole life, so the engine can restart without taking containers down. It
//! creates the container from a bundle holding its stdio (pipes, or the pty master),
//! writes the json-file log, serves attachers and control requests on a unix socket,
//! runs exec processes in the container (`exec`: their stdio, attach streams and exit
//! statuses), reaps the container's processes, watches its cgroup for OOM kills, records
//! the exit status durably in `exit.json`, removes the runtime state and exits. Single-threaded: one poll(2) loop. See
//! docs/shim.md for the protocol.

mod attach;
mod exec;
mod jsonlog;
mod oom;
mod server;

pub use attach::{frame, STDERR, STDOUT};
pub use berth_types::detach::{parse_detach_keys, DetachMatcher, DEFAULT_DETACH_KEYS};
pub use jsonlog::{JsonLog, LogConfig};

use crate::container::{self, CreateOpts, Global};
use crate::error::{Context, Result, RuntimeError};
use crate::state::Root;
use rustix::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// File names inside the shim's state directory.
pub const PID_FILE: &str = "shim.pid";
pub const SOCKET: &str = "shim.sock";
pub const EXIT_FILE: &str = "exit.json";

/// Where the container's output is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogDriver {
    JsonFile,
    None,
}

/// `berth-runc shim` flags.
#[derive(Debug, Clone)]
pub struct ShimOpts {
    pub id: String,
    pub bundle: PathBuf,
    pub state_dir: PathBuf,
    pub root: Option<PathBuf>,
    pub log_path: Option<PathBuf>,
    pub log_max_size: u64,
    pub log_max_files: u32,
    pub log_driver: LogDriver,
    pub stdin: bool,
    pub stdin_once: bool,
    pub tty: bool,
}

const USAGE: &str = "usage: berth-runc shim --id ID --bundle DIR --state-dir DIR [--root DIR] \
[--log-path FILE] [--log-max-size BYTES] [--log-max-files N] [--log-driver json-file|none] \
[--stdin] [--stdin-once] [--tty]";

/// Parse the shim's flags (`--flag value` or `--flag=value`).
pub fn parse_args(args: &[String]) -> Result<ShimOpts> {
    let usage = |m: String| RuntimeError::Usage(format!("shim: {m}\n{USAGE}"));
    let mut o = ShimOpts {
        id: String::new(),
        bundle: PathBuf::new(),
        state_dir: PathBuf::new(),
        root: None,
        log_path: None,
        log_max_size: 0,
        log_max_files: 1,
        log_driver: LogDriver::JsonFile,
        stdin: false,
        stdin_once: false,
        tty: false,
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].trim_start_matches('-');
        if a.len() == args[i].len() {
            return Err(usage(format!("unexpected argument {:?}", args[i])));
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a, None),
        };
        if matches!(name, "stdin" | "stdin-once" | "tty") {
            let on = inline.as_deref().is_none_or(|v| v != "false");
            match name {
                "stdin" => o.stdin = on,
                "stdin-once" => o.stdin_once = on,
                _ => o.tty = on,
            }
            i += 1;
            continue;
        }
        let val = match inline {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i)
                    .cloned()
                    .ok_or_else(|| usage(format!("flag needs an argument: --{name}")))?
            }
        };
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| usage(format!("invalid --{name} {v:?}")))
        };
        match name {
            "id" => o.id = val,
            "bundle" | "b" => o.bundle = val.into(),
            "state-dir" => o.state_dir = val.into(),
            "root" => o.root = Some(val.into()),
            "log-path" => o.log_path = Some(val.into()),
            "log-max-size" => o.log_max_size = num(&val)?,
            "log-max-files" => o.log_max_files = num(&val)?.clamp(1, 1000) as u32,
            "log-driver" => {
                o.log_driver = match val.as_str() {
                    "json-file" => LogDriver::JsonFile,
                    "none" => LogDriver::None,
                    v => return Err(usage(format!("unsupported --log-driver {v:?}"))),
                }
            }
            n => return Err(usage(format!("flag provided but not defined: --{n}"))),
        }
        i += 1;
    }
    if o.id.is_empty() || o.bundle.as_os_str().is_empty() || o.state_dir.as_os_str().is_empty() {
        return Err(usage("--id, --bundle and --state-dir are required".into()));
    }
    if o.log_driver == LogDriver::JsonFile && o.log_path.is_none() {
        o.log_path = Some(o.state_dir.join(format!("{}-json.log", o.id)));
    }
    Ok(o)
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    Ok(std::env::current_dir().ctx(|| "getcwd".into())?.join(p))
}

/// `berth-runc shim …`: start the shim and return once the container is created and
/// the control socket listens (exit 0), or with the error that prevented it.
pub fn main(g: &Global, args: &[String]) -> Result<i32> {
    let mut o = parse_args(args)?;
    // The daemon runs in `/`: make every path absolute first.
    o.bundle = absolute(&o.bundle)?;
    o.state_dir = absolute(&o.state_dir)?;
    o.log_path = o.log_path.as_deref().map(absolute).transpose()?;
    let root = match &o.root {
        Some(r) => absolute(r)?,
        None => absolute(&g.root.path)?,
    };
    let g = Global {
        root: Root::new(root),
        ..g.clone()
    };
    std::fs::create_dir_all(&o.state_dir)
        .ctx(|| format!("creating shim state directory {}", o.state_dir.display()))?;
    let (report_r, report_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .ctx(|| "creating the shim's report pipe".into())?;
    match berth_sys::fork_with_flags(0, None).ctx(|| "forking the shim".into())? {
        berth_sys::Forked::Parent(pid) => {
            drop(report_w);
            // The intermediate child exits at once; reap it.
            if let Some(p) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::waitpid(Some(p), rustix::process::WaitOptions::empty());
            }
            let msg = read_report(&report_r);
            match msg.strip_prefix("ok") {
                Some(_) => Ok(0),
                None if msg.is_empty() => Err(RuntimeError::Init(format!(
                    "shim for {}: exited before reporting",
                    o.id
                ))),
                None => Err(RuntimeError::Init(msg.trim_end().to_string())),
            }
        }
        berth_sys::Forked::Child => {
            drop(report_r);
            let _ = rustix::process::setsid();
            match berth_sys::fork_with_flags(0, None) {
                Ok(berth_sys::Forked::Child) => {
                    let code = daemon(&g, &o, report_w);
                    berth_sys::exit_now(code)
                }
                Ok(berth_sys::Forked::Parent(_)) => berth_sys::exit_now(0),
                Err(e) => {
                    let _ =
                        rustix::io::write(&report_w, format!("forking the shim: {e}\n").as_bytes());
                    berth_sys::exit_now(1)
                }
            }
        }
    }
}

/// Read the one-line report. Only up to the newline: the container's init holds a copy
/// of the write end until it execs, so EOF would come only at `start`.
fn read_report(fd: &OwnedFd) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 512];
    loop {
        match rustix::io::read(fd, &mut b) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&b[..n]);
                if out.contains(&b'\n') {
                    break;
                }
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The daemon half: set up, report, serve until the container is gone.
fn daemon(g: &Global, o: &ShimOpts, report: OwnedFd) -> i32 {
    match setup(g, o) {
        Ok(shim) => {
            let _ = rustix::io::write(&report, b"ok\n");
            drop(report);
            shim.run();
            0
        }
        Err(e) => {
            let _ = std::fs::remove_file(o.state_dir.join(SOCKET));
            let _ = std::fs::remove_file(o.state_dir.join(PID_FILE));
            let _ = rustix::io::write(&report, format!("shim for {}: {e}\n", o.id).as_bytes());
            1
        }
    }
}

/// Write `data` to `path` durably and atomically: temporary file, fsync, rename, fsync
/// of the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let mut f = std::fs::File::create(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .ctx(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .ctx(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn devnull() -> Result<OwnedFd> {
    rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ctx(|| "opening /dev/null".into())
}

fn cloexec_pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ctx(|| "creating a pipe".into())
}

fn set_nonblock(fd: &OwnedFd) -> Result<()> {
    let fl = rustix::fs::fcntl_getfl(fd).ctx(|| "fcntl F_GETFL".into())?;
    rustix::fs::fcntl_setfl(fd, fl | rustix::fs::OFlags::NONBLOCK).ctx(|| "fcntl F_SETFL".into())
}

/// Become a daemon, create the container and open everything the loop serves.
fn setup(g: &Global, o: &ShimOpts) -> Result<server::Shim> {
    rustix::process::chdir("/").ctx(|| "chdir /".into())?;
    let null = devnull()?;
    let _ = rustix::stdio::dup2_stdin(&null);
    let _ = rustix::stdio::dup2_stdout(&null);
    let _ = rustix::stdio::dup2_stderr(&null);
    berth_sys::set_child_subreaper().ctx(|| "becoming a child subreaper".into())?;
    let sigchld = berth_sys::sigchld_fd().ctx(|| "creating a signalfd for SIGCHLD".into())?;
    // Atomic but not synced: the pid means nothing after a reboot.
    crate::state::write_atomic(
        &o.state_dir.join(PID_FILE),
        std::process::id().to_string().as_bytes(),
    )?;
    let sock = o.state_dir.join(SOCKET);
    let _ = std::fs::remove_file(&sock);
    let listener = berth_sys::SocketPath::new(&sock)
        .and_then(|p| std::os::unix::net::UnixListener::bind(p.path()))
        .ctx(|| format!("binding {}", sock.display()))?;
    listener
        .set_nonblocking(true)
        .ctx(|| format!("making {} non-blocking", sock.display()))?;

    let bundle = crate::spec::Bundle::load(&o.bundle)?;
    let spec_terminal = bundle.terminal();
    if spec_terminal != o.tty {
        return Err(RuntimeError::Usage(format!(
            "--tty is {} but process.terminal in {} is {spec_terminal}",
            o.tty,
            o.bundle.join("config.json").display()
        )));
    }
    let copts = CreateOpts {
        id: o.id.clone(),
        bundle: o.bundle.clone(),
        ..Default::default()
    };
    let (created, out, err, stdin, master) = if o.tty {
        let (mine, theirs) = crate::cli::console_pair()?;
        let created = container::create_from(g, &copts, &bundle, Some(theirs))?;
        let master = crate::cli::recv_master(&mine)?;
        let stdin = if o.stdin {
            Some(
                master
                    .try_clone()
                    .ctx(|| "duplicating the pty master".into())?,
            )
        } else {
            None
        };
        let out = master
            .try_clone()
            .ctx(|| "duplicating the pty master".into())?;
        (created, Some(out), None, stdin, Some(master))
    } else {
        // The init inherits fds 0-2: point them at our pipes for the fork only.
        let (out_r, out_w) = cloexec_pipe()?;
        let (err_r, err_w) = cloexec_pipe()?;
        let (in_r, in_w) = if o.stdin {
            let (r, w) = cloexec_pipe()?;
            (r, Some(w))
        } else {
            (
                null.try_clone().ctx(|| "duplicating /dev/null".into())?,
                None,
            )
        };
        let dups = rustix::stdio::dup2_stdin(&in_r)
            .and_then(|_| rustix::stdio::dup2_stdout(&out_w))
            .and_then(|_| rustix::stdio::dup2_stderr(&err_w))
            .ctx(|| "redirecting stdio for the container".into());
        let created = dups.and_then(|_| container::create_from(g, &copts, &bundle, None));
        let _ = rustix::stdio::dup2_stdin(&null);
        let _ = rustix::stdio::dup2_stdout(&null);
        let _ = rustix::stdio::dup2_stderr(&null);
        drop((in_r, out_w, err_w));
        (created?, Some(out_r), Some(err_r), in_w, None)
    };
    for fd in out.iter().chain(err.iter()).chain(stdin.iter()) {
        set_nonblock(fd)?;
    }
    let cgroup = container::Container::load(g, &o.id).and_then(|c| c.cgroup());
    let oom = oom::Oom::watch(&o.id, cgroup.ok());
    let log = match (o.log_driver, &o.log_path) {
        (LogDriver::JsonFile, Some(p)) => Some(
            JsonLog::open(LogConfig {
                path: p.clone(),
                max_size: o.log_max_size,
                max_files: o.log_max_files,
            })
            .ctx(|| format!("opening log {}", p.display()))?,
        ),
        _ => None,
    };
    Ok(server::Shim::new(server::Parts {
        g: g.clone(),
        id: o.id.clone(),
        state_dir: o.state_dir.clone(),
        pid: created.pid,
        listener,
        sigchld,
        out,
        err,
        stdin,
        master,
        tty: o.tty,
        stdin_once: o.stdin_once,
        log,
        oom,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags() {
        let o = parse_args(&v(&[
            "--id",
            "c1",
            "--bundle=/b",
            "--state-dir",
            "/s",
            "--stdin",
            "--log-max-size",
            "10",
            "--log-max-files=3",
        ]))
        .unwrap();
        assert_eq!(o.id, "c1");
        assert_eq!(o.bundle, Path::new("/b"));
        assert!(o.stdin && !o.stdin_once && !o.tty);
        assert_eq!((o.log_max_size, o.log_max_files), (10, 3));
        assert_eq!(o.log_path.as_deref(), Some(Path::new("/s/c1-json.log")));
        let o = parse_args(&v(&[
            "--id=c",
            "--bundle=/b",
            "--state-dir=/s",
            "--log-driver",
            "none",
        ]))
        .unwrap();
        assert_eq!((o.log_driver, o.log_path), (LogDriver::None, None));
        assert!(parse_args(&v(&["--id", "c"])).is_err());
        assert!(parse_args(&v(&["--id=c", "--bundle=/b", "--state-dir=/s", "--bogus"])).is_err());
    }
}
