//! One container of the runtime under test, as a guard: lifecycle commands
//! (start, state, kill, pause, resume, ps, update, events, exec, delete) and, on
//! drop, `delete --force` plus removal of any cgroup its config named.

use crate::bundle::Bundle;
use crate::runtime::{Invoke, Output, Runtime};
use serde_json::Value;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The runtime's `state` JSON, with the fields the suite looks at.
#[derive(Debug, Clone)]
pub struct State {
    pub id: String,
    pub status: String,
    pub pid: Option<i64>,
    pub bundle: String,
    pub raw: Value,
}

pub struct Container<'r> {
    rt: &'r Runtime,
    id: String,
    /// `linux.cgroupsPath` of the config, removed (if left behind) on drop.
    cgroups_path: Option<String>,
    bundle: PathBuf,
}

/// cgroup v1 hierarchies the suite cleans up (and v2's unified mount).
pub const CGROUP_V1_CONTROLLERS: [&str; 10] = [
    "memory", "cpu", "cpuacct", "cpuset", "pids", "devices", "freezer", "blkio", "systemd",
    "unified",
];

impl<'r> Container<'r> {
    /// A guard for a container with `id` made (or about to be made) from `bundle`.
    pub fn adopt(rt: &'r Runtime, id: &str, bundle: &Bundle) -> Self {
        let cgroups_path = bundle.config["linux"]["cgroupsPath"]
            .as_str()
            .map(String::from);
        Container {
            rt,
            id: id.to_string(),
            cgroups_path,
            bundle: bundle.path().to_path_buf(),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn bundle_path(&self) -> &std::path::Path {
        &self.bundle
    }

    fn cmd(&self, verb: &str, extra: &[&str]) -> Output {
        let mut args = vec![verb];
        args.extend_from_slice(extra);
        args.push(&self.id);
        self.rt.invoke(&args, Invoke::default())
    }

    /// What the container (created with `create`) has written to stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(
            &fs::read(self.rt.container_output(&self.id, "stdout")).unwrap_or_default(),
        )
        .into_owned()
    }

    /// What the container has written to stderr so far (with create's own messages).
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(
            &fs::read(self.rt.container_output(&self.id, "stderr")).unwrap_or_default(),
        )
        .into_owned()
    }

    pub fn start(&self) -> Output {
        self.cmd("start", &[])
    }

    /// `state ID`, parsed; Err(output) if the command fails or prints no JSON.
    pub fn state(&self) -> Result<State, Output> {
        let out = self.cmd("state", &[]);
        if !out.success() {
            return Err(out);
        }
        let Ok(raw) = serde_json::from_str::<Value>(&out.stdout) else {
            return Err(out);
        };
        Ok(State {
            id: raw["id"].as_str().unwrap_or_default().to_string(),
            status: raw["status"].as_str().unwrap_or_default().to_string(),
            pid: raw["pid"].as_i64(),
            bundle: raw["bundle"].as_str().unwrap_or_default().to_string(),
            raw,
        })
    }

    /// `state`, panicking with the runtime's output if it fails.
    #[track_caller]
    pub fn expect_state(&self) -> State {
        self.state()
            .unwrap_or_else(|out| panic!("state {}: {out}", self.id))
    }

    /// Polls `state` until its status is `want`; panics with the last state seen.
    #[track_caller]
    pub fn wait_status(&self, want: &str, timeout: Duration) -> State {
        let deadline = Instant::now() + timeout;
        loop {
            let st = self.state();
            if let Ok(s) = &st {
                if s.status == want {
                    return s.clone();
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "container {}: expected status {want:?} within {timeout:?}, last state: {}",
                    self.id,
                    match st {
                        Ok(s) => s.raw.to_string(),
                        Err(o) => o.to_string(),
                    }
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill ID SIGNAL` (numbers, as containerd sends them, or names).
    pub fn kill(&self, signal: &str) -> Output {
        self.rt
            .invoke(&["kill", &self.id, signal], Invoke::default())
    }

    /// `kill --all ID SIGNAL`: every process of the container.
    pub fn kill_all(&self, signal: &str) -> Output {
        self.rt
            .invoke(&["kill", "--all", &self.id, signal], Invoke::default())
    }

    pub fn pause(&self) -> Output {
        self.cmd("pause", &[])
    }

    pub fn resume(&self) -> Output {
        self.cmd("resume", &[])
    }

    /// `ps` with extra flags (e.g. `--format json`).
    pub fn ps(&self, flags: &[&str]) -> Output {
        self.cmd("ps", flags)
    }

    /// `update FLAGS ID` with optional stdin (for `--resources -`).
    pub fn update(&self, flags: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut args = vec!["update"];
        args.extend_from_slice(flags);
        args.push(&self.id);
        self.rt.invoke(
            &args,
            Invoke {
                stdin,
                ..Invoke::default()
            },
        )
    }

    /// `events --stats ID`.
    pub fn stats(&self) -> Output {
        self.cmd("events", &["--stats"])
    }

    /// `exec ID ARGS...` with flags before the id.
    pub fn exec(&self, flags: &[&str], argv: &[&str], timeout: Duration) -> Output {
        let mut args = vec!["exec"];
        args.extend_from_slice(flags);
        args.push(&self.id);
        args.extend_from_slice(argv);
        self.rt.invoke(
            &args,
            Invoke {
                timeout: Some(timeout),
                ..Invoke::default()
            },
        )
    }

    pub fn delete(&self) -> Output {
        self.cmd("delete", &[])
    }

    /// Kills what is left in the container's cgroups and removes them; a
    /// correct runtime has done this already.
    fn remove_cgroups(&self) {
        let Some(path) = &self.cgroups_path else {
            return;
        };
        let rel = path.trim_start_matches('/');
        if rel.is_empty() || rel.contains("..") || rel.contains(':') {
            return;
        }
        for ctrl in CGROUP_V1_CONTROLLERS {
            let dir = PathBuf::from("/sys/fs/cgroup").join(ctrl).join(rel);
            if !dir.is_dir() {
                continue;
            }
            if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                    }
                }
            }
            if ctrl == "freezer" {
                let _ = fs::write(dir.join("freezer.state"), "THAWED");
            }
            for _ in 0..50 {
                if fs::remove_dir(&dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Field 22 of /proc/PID/stat (start time), to tell a process from a later one with its pid.
fn start_time(pid: i64) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19).map(String::from)
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let init = self
            .state()
            .ok()
            .and_then(|s| s.pid)
            .filter(|p| *p > 0)
            .and_then(|p| start_time(p).map(|t| (p, t)));
        let _ = self.rt.invoke(
            &["delete", "--force", &self.id],
            Invoke {
                timeout: Some(Duration::from_secs(20)),
                ..Invoke::default()
            },
        );
        // A broken runtime may leave the container's init behind: end it (and
        // with it its pid namespace) if it is still the same process.
        if let Some((pid, t)) = init {
            if start_time(pid).as_deref() == Some(t.as_str()) {
                if let Some(p) = i32::try_from(pid)
                    .ok()
                    .and_then(rustix::process::Pid::from_raw)
                {
                    let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
                }
            }
        }
        self.remove_cgroups();
    }
}
