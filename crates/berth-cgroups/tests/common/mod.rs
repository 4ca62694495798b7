//! Shared helpers for the root integration tests: a root check, child
//! processes that are always killed, /proc/PID/stat reading, and a guard
//! that puts the host back (thaw, kill, rmdir, subtree_control) even when a
//! test fails half-way.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use berth_cgroups::Cgroup;

/// A cgroup name no other run or test uses.
pub fn unique(tag: &str) -> String {
    format!("/berth-it-{}-{tag}", std::process::id())
}

/// A `sh -c script` child with piped stdin/stdout.
pub struct Script {
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Script {
    pub fn spawn(script: &str) -> Script {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning /bin/sh");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Script {
            child,
            stdin,
            stdout,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends a line (the scripts wait on `read` before doing their work).
    pub fn go(&mut self) {
        let s = self.stdin.as_mut().expect("stdin still open");
        s.write_all(b"go\n").expect("writing to the child");
        s.flush().expect("flushing to the child");
    }

    pub fn line(&mut self) -> String {
        let mut l = String::new();
        self.stdout
            .read_line(&mut l)
            .expect("reading from the child");
        l.trim().to_string()
    }

    pub fn wait(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (state letter, utime + stime in ticks) from /proc/PID/stat.
pub fn proc_stat(pid: i32) -> (char, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("reading /proc/PID/stat");
    let rest = &s[s.rfind(')').expect("a ')' in /proc/PID/stat") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let state = f[0].chars().next().expect("a state letter");
    // Fields 14 and 15 of the whole line; `rest` starts at field 3.
    let ticks = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    (state, ticks)
}

/// Undoes everything a test did, in order, whatever happened.
pub struct Guard {
    pub cgroup: Cgroup,
    pub children: Vec<Script>,
    /// (file, controller) to disable again if the test enabled it.
    pub restore_subtree: Vec<(PathBuf, String)>,
}

impl Guard {
    pub fn new(cgroup: Cgroup) -> Guard {
        Guard {
            cgroup,
            children: Vec::new(),
            restore_subtree: Vec::new(),
        }
    }

    /// Remembers to disable `controller` in `dir`'s subtree_control at the end
    /// unless it is enabled already.
    pub fn keep_subtree_control(&mut self, dir: PathBuf, controller: &str) {
        let file = dir.join("cgroup.subtree_control");
        let now = std::fs::read_to_string(&file).unwrap_or_default();
        if !now.split_whitespace().any(|c| c == controller) {
            self.restore_subtree.push((file, controller.to_string()));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.cgroup.thaw();
        self.children.clear(); // kills and reaps
        if let Err(e) = self.cgroup.destroy() {
            eprintln!("cleanup: {e}");
        }
        for (file, c) in &self.restore_subtree {
            if let Err(e) = std::fs::write(file, format!("-{c}")) {
                eprintln!("cleanup: disabling {c} in {}: {e}", file.display());
            }
        }
    }
}
