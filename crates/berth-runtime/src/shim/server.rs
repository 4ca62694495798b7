//! The shim's single-threaded poll(2) loop: the control socket and its clients, the
//! container's output (pipes or pty master), its stdin, the stdio of exec processes,
//! SIGCHLD through a signalfd, and the cgroup's memory events (OOM kills).

use super::attach::{self, DetachMatcher};
use super::exec::{self, ExecRequest};
use super::jsonlog::JsonLog;
use super::oom::Oom;
use super::{write_atomic, EXIT_FILE, PID_FILE, SOCKET};
use crate::container::{self, Global};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fd::{AsFd, OwnedFd};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// An attacher that falls this far behind is dropped rather than slowing the others.
const CLIENT_BUF_MAX: usize = 1 << 20;
/// Input queued for the container's stdin before attachers are no longer read.
const STDIN_BUF_MAX: usize = 64 << 10;
/// A request line longer than this is refused.
const REQUEST_MAX: usize = 64 << 10;
/// After the init exits, how long output from leftover processes is still collected.
const DRAIN_TIME: Duration = Duration::from_millis(500);
/// Read size for container output (a stack buffer: nothing is kept while idle).
const CHUNK: usize = 16 << 10;
/// After this long without events, the pages touched since are given back (see
/// `Shim::shed`).
const IDLE_SHED: Duration = Duration::from_secs(1);

/// What `setup` hands over.
pub(super) struct Parts {
    pub g: Global,
    pub id: String,
    pub state_dir: PathBuf,
    pub pid: i32,
    pub listener: UnixListener,
    pub sigchld: OwnedFd,
    pub out: Option<OwnedFd>,
    pub err: Option<OwnedFd>,
    pub stdin: Option<OwnedFd>,
    pub master: Option<OwnedFd>,
    pub tty: bool,
    pub stdin_once: bool,
    pub log: Option<JsonLog>,
    pub oom: Oom,
}

enum State {
    /// Reading the request line.
    Request(Vec<u8>),
    /// Waiting for the container to exit (`wait`); with `true`, told of OOM kills
    /// (`"oom":true`).
    Waiting(bool),
    /// Waiting for an exec process to finish (`wait` with an `exec_id`).
    ExecWaiting(usize),
    Attached(Attacher),
    /// The reply is queued; close once it is written.
    Closing,
}

struct Attacher {
    /// The exec process attached to (an index into `Shim::execs`), or the container.
    exec: Option<usize>,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    /// Output in Docker's multiplexed frames (8-byte headers); raw bytes otherwise.
    framed: bool,
    detach: DetachMatcher,
    input_done: bool,
}

struct Client {
    stream: UnixStream,
    state: State,
    out: Vec<u8>,
    dead: bool,
}

impl Client {
    /// Write what is queued without blocking; mark the client dead on error.
    fn flush(&mut self) {
        while !self.out.is_empty() {
            match self.stream.write(&self.out) {
                Ok(0) => {
                    self.dead = true;
                    return;
                }
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
        if self.out.is_empty() {
            // Give back the memory a burst of output took.
            if self.out.capacity() > 4096 {
                self.out = Vec::new();
            }
            if matches!(self.state, State::Closing) {
                self.dead = true;
            }
        }
    }

    fn reply(&mut self, v: &Value) {
        self.out.extend_from_slice(v.to_string().as_bytes());
        self.out.push(b'\n');
    }
}

struct Exit {
    code: i32,
    signal: Option<i32>,
    finished_at: String,
    at: Instant,
}

impl Exit {
    fn from_status(st: rustix::process::WaitStatus) -> Exit {
        let signal = st.terminating_signal();
        Exit {
            code: st.exit_status().or(signal.map(|s| 128 + s)).unwrap_or(255),
            signal,
            finished_at: crate::state::now_rfc3339(),
            at: Instant::now(),
        }
    }
}

/// A process's stdin as the shim feeds it: what attachers typed, written without
/// blocking.
#[derive(Default)]
struct Input {
    fd: Option<OwnedFd>,
    buf: Vec<u8>,
    /// Close `fd` once `buf` is written.
    close: bool,
}

impl Input {
    /// Whether attachers may be read for this input (back-pressure beyond the cap).
    fn room(&self) -> bool {
        self.buf.len() < STDIN_BUF_MAX
    }

    fn push(&mut self, data: &[u8]) {
        if self.fd.is_some() && !self.close && !data.is_empty() {
            self.buf.extend_from_slice(data);
            self.feed();
        }
    }

    fn feed(&mut self) {
        let Some(fd) = &self.fd else {
            self.buf = Vec::new();
            return;
        };
        while !self.buf.is_empty() {
            match rustix::io::write(fd, &self.buf) {
                Ok(n) => {
                    self.buf.drain(..n);
                }
                Err(rustix::io::Errno::AGAIN) => return,
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => {
                    // EPIPE: the process closed its stdin.
                    self.fd = None;
                    self.buf = Vec::new();
                    return;
                }
            }
        }
        self.buf = Vec::new();
        if self.close {
            self.fd = None;
        }
    }

    /// Close once what is queued is written. With a pty, `fd` is a clone of the master
    /// (which stays open for output): input is then only no longer forwarded.
    fn close(&mut self) {
        self.close = true;
        self.feed();
    }
}

/// A process started by the `exec` op. Kept (without its fds) after it finishes, so
/// its exit status can be asked for until the shim exits.
struct Exec {
    id: String,
    pid: i32,
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    input: Input,
    master: Option<OwnedFd>,
    /// Set when reaped.
    exit: Option<Exit>,
    /// Output drained (or given up on), attach stream ended, waiters answered.
    done: bool,
}

impl Exec {
    fn settled(&self) -> bool {
        self.exit.as_ref().is_some_and(|e| {
            (self.out.is_none() && self.err.is_none()) || e.at.elapsed() >= DRAIN_TIME
        })
    }

    fn wait_reply(&self) -> Value {
        match &self.exit {
            Some(e) => json!({"ok": true, "exit_code": e.code, "signal": e.signal}),
            None => json!({"ok": true, "exit_code": 137, "signal": libc::SIGKILL}),
        }
    }
}

pub(super) struct Shim {
    p: Parts,
    clients: Vec<Client>,
    /// The container's stdin (taken from `p.stdin`).
    stdin: Input,
    /// A stdin attacher has come and gone (for --stdin-once).
    stdin_used: bool,
    exit: Option<Exit>,
    /// Exec processes, in the order started; never removed (their ids and statuses
    /// are kept), so an index names one for the shim's life.
    execs: Vec<Exec>,
    /// Something ran since the last `shed`.
    shed_due: bool,
}

/// Whose stdio: the container's (`None`) or an exec's (`Some(index)`).
type Owner = Option<usize>;

/// Parse a `kill` request's signal: a number, a name, or absent (SIGKILL).
fn parse_signal(v: &Value) -> Result<i32, Value> {
    let sig = match v {
        Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
        Value::String(s) => container::parse_signal(s).ok(),
        Value::Null => Some(libc::SIGKILL),
        _ => None,
    };
    sig.ok_or_else(|| err_reply(format!("invalid signal {v}")))
}

fn err_reply(msg: impl std::fmt::Display) -> Value {
    json!({"ok": false, "error": msg.to_string()})
}

impl Shim {
    pub(super) fn new(mut p: Parts) -> Shim {
        let stdin = Input {
            fd: p.stdin.take(),
            ..Default::default()
        };
        Shim {
            p,
            clients: Vec::new(),
            stdin,
            stdin_used: false,
            exit: None,
            execs: Vec::new(),
            shed_due: true,
        }
    }

    /// Unmap the program text and read-only data touched since the last time (create,
    /// start, exec and every request fault pages in, each fault mapping its neighbours
    /// too), so an idle shim's resident set is little more than its own data. The pages
    /// stay in the page cache: the next request maps back what it needs. See
    /// docs/shim.md, Memory.
    fn shed(&mut self) {
        self.shed_due = false;
        if let Err(e) = berth_sys::drop_clean_file_pages() {
            crate::log::debug(&format!("container {}: releasing pages: {e}", self.p.id));
        }
    }

    /// Serve until the container has exited and everything is wound up.
    pub(super) fn run(mut self) {
        self.reap();
        loop {
            if let Some(e) = &self.exit {
                if (self.p.out.is_none() && self.p.err.is_none()) || e.at.elapsed() >= DRAIN_TIME {
                    break;
                }
            }
            self.turn();
        }
        self.finish();
    }

    /// One poll and the work it reports.
    fn turn(&mut self) {
        #[derive(Clone, Copy)]
        enum Src {
            Listener,
            Sigchld,
            Oom,
            Out(Owner, u8),
            Stdin(Owner),
            Client(usize),
        }
        let mut srcs: Vec<Src> = Vec::with_capacity(6 + self.clients.len());
        let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(6 + self.clients.len());
        if self.exit.is_none() {
            srcs.push(Src::Listener);
            fds.push(PollFd::new(&self.p.listener, PollFlags::IN));
        }
        srcs.push(Src::Sigchld);
        fds.push(PollFd::new(&self.p.sigchld, PollFlags::IN));
        if let (Some(fd), None) = (&self.p.oom.fd, &self.exit) {
            srcs.push(Src::Oom);
            fds.push(PollFd::new(fd, PollFlags::IN));
        }
        let ios = std::iter::once((None, &self.p.out, &self.p.err, &self.stdin)).chain(
            self.execs
                .iter()
                .enumerate()
                .map(|(i, e)| (Some(i), &e.out, &e.err, &e.input)),
        );
        for (owner, out, err, input) in ios {
            if let Some(fd) = out {
                srcs.push(Src::Out(owner, attach::STDOUT));
                fds.push(PollFd::new(fd, PollFlags::IN));
            }
            if let Some(fd) = err {
                srcs.push(Src::Out(owner, attach::STDERR));
                fds.push(PollFd::new(fd, PollFlags::IN));
            }
            if let (Some(fd), false) = (&input.fd, input.buf.is_empty()) {
                srcs.push(Src::Stdin(owner));
                fds.push(PollFd::new(fd, PollFlags::OUT));
            }
        }
        for (i, c) in self.clients.iter().enumerate() {
            let mut ev = PollFlags::empty();
            match &c.state {
                State::Request(_) => ev |= PollFlags::IN,
                State::Attached(a) if !a.input_done => {
                    let room = match a.exec {
                        None => self.stdin.room(),
                        Some(x) => self.execs[x].input.room(),
                    };
                    if room || !a.stdin {
                        ev |= PollFlags::IN;
                    }
                }
                _ => {}
            }
            if !c.out.is_empty() {
                ev |= PollFlags::OUT;
            }
            srcs.push(Src::Client(i));
            fds.push(PollFd::new(&c.stream, ev));
        }
        // Wake up when the container's or an exec's output drain time runs out.
        let timeout = self
            .exit
            .iter()
            .chain(
                self.execs
                    .iter()
                    .filter(|e| !e.done)
                    .filter_map(|e| e.exit.as_ref()),
            )
            .map(|e| DRAIN_TIME.saturating_sub(e.at.elapsed()))
            .chain(self.p.oom.recheck_in())
            .chain(self.shed_due.then_some(IDLE_SHED))
            .min()
            .map(|left| Timespec {
                tv_sec: left.as_secs() as _,
                tv_nsec: left.subsec_nanos() as _,
            });
        match poll(&mut fds, timeout.as_ref()) {
            Err(_) => return,
            Ok(0) => {
                drop(fds);
                if self.p.oom.recheck() {
                    self.tell_oom();
                }
                if self.shed_due {
                    self.shed();
                }
                return;
            }
            Ok(_) => self.shed_due = true,
        }
        let ready: Vec<(Src, PollFlags)> = srcs
            .into_iter()
            .zip(fds.iter().map(|f| f.revents()))
            .filter(|(_, r)| !r.is_empty())
            .collect();
        drop(fds);
        for (src, rev) in ready {
            match src {
                Src::Listener => self.accept(),
                Src::Sigchld => {
                    let mut b = [0u8; 128];
                    while rustix::io::read(&self.p.sigchld, &mut b).is_ok_and(|n| n > 0) {}
                    self.reap();
                }
                Src::Oom => {
                    if self.p.oom.woke() {
                        self.tell_oom();
                    }
                }
                Src::Out(o, s) => self.pump(o, s),
                Src::Stdin(None) => self.stdin.feed(),
                Src::Stdin(Some(x)) => self.execs[x].input.feed(),
                Src::Client(i) => self.client_event(i, rev),
            }
        }
        if self.p.oom.recheck() {
            self.tell_oom();
        }
        self.settle_execs();
        self.sweep();
    }

    fn accept(&mut self) {
        while let Ok((stream, _)) = self.p.listener.accept() {
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            self.clients.push(Client {
                stream,
                state: State::Request(Vec::new()),
                out: Vec::new(),
                dead: false,
            });
        }
    }

    /// Reap every child (we are a subreaper); note the init's and execs' exits.
    fn reap(&mut self) {
        use rustix::process::{wait, WaitOptions};
        while let Ok(Some((pid, st))) = wait(WaitOptions::NOHANG) {
            let pid = pid.as_raw_nonzero().get();
            if pid == self.p.pid && self.exit.is_none() {
                self.exit = Some(Exit::from_status(st));
            } else if let Some(e) = self
                .execs
                .iter_mut()
                .find(|e| e.pid == pid && e.exit.is_none())
            {
                e.exit = Some(Exit::from_status(st));
            }
        }
    }

    /// Finish the execs that have exited and whose output is drained: end their
    /// attach streams (after what is queued) and answer their waiters.
    fn settle_execs(&mut self) {
        for x in 0..self.execs.len() {
            if !self.execs[x].done && self.execs[x].settled() {
                self.end_exec(x);
            }
        }
    }

    fn end_exec(&mut self, x: usize) {
        let e = &mut self.execs[x];
        e.done = true;
        e.out = None;
        e.err = None;
        e.input = Input::default();
        e.master = None;
        let reply = e.wait_reply();
        for c in &mut self.clients {
            match &c.state {
                State::ExecWaiting(w) if *w == x => c.reply(&reply),
                State::Attached(a) if a.exec == Some(x) => {}
                _ => continue,
            }
            c.state = State::Closing;
            c.flush();
        }
    }

    /// Read what a process wrote on one stream and pass it on.
    fn pump(&mut self, owner: Owner, stream: u8) {
        let mut buf = [0u8; CHUNK];
        // A few reads per turn, so one chatty stream cannot starve the rest.
        for _ in 0..8 {
            let slot = match (owner, stream == attach::STDOUT) {
                (None, true) => &mut self.p.out,
                (None, false) => &mut self.p.err,
                (Some(x), true) => &mut self.execs[x].out,
                (Some(x), false) => &mut self.execs[x].err,
            };
            let Some(fd) = slot else { return };
            match rustix::io::read(&*fd, &mut buf) {
                Ok(0) | Err(rustix::io::Errno::IO) => {
                    // EOF (EIO on a pty master once the last slave closes).
                    *slot = None;
                    return;
                }
                Ok(n) => self.output(owner, stream, &buf[..n]),
                Err(rustix::io::Errno::AGAIN) => return,
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }

    /// Pass output on: the container's to the log and its attachers, an exec's to its
    /// attacher only (or nowhere, for a detached exec).
    fn output(&mut self, owner: Owner, stream: u8, data: &[u8]) {
        if owner.is_none() {
            if let Some(log) = &mut self.p.log {
                if let Err(e) = log.write(stream, data) {
                    crate::log::warn(&format!("container {}: writing log: {e}", self.p.id));
                }
            }
        }
        for c in &mut self.clients {
            let State::Attached(a) = &c.state else {
                continue;
            };
            if a.exec != owner {
                continue;
            }
            if !(if stream == attach::STDOUT {
                a.stdout
            } else {
                a.stderr
            }) {
                continue;
            }
            if c.out.len() + data.len() > CLIENT_BUF_MAX {
                c.dead = true;
                continue;
            }
            if a.framed {
                attach::frame(stream, data, &mut c.out);
            } else {
                c.out.extend_from_slice(data);
            }
            c.flush();
        }
    }

    fn client_event(&mut self, i: usize, rev: PollFlags) {
        if rev.contains(PollFlags::OUT) {
            self.clients[i].flush();
        }
        if rev.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) {
            self.client_read(i);
        }
    }

    fn client_read(&mut self, i: usize) {
        let mut buf = [0u8; 4096];
        let n = match self.clients[i].stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return,
            Err(_) => {
                self.clients[i].dead = true;
                return;
            }
        };
        let data = &buf[..n];
        let state = std::mem::replace(&mut self.clients[i].state, State::Closing);
        let back = match state {
            State::Request(mut line) => {
                if n == 0 {
                    self.clients[i].dead = true;
                    return;
                }
                line.extend_from_slice(data);
                if let Some(nl) = line.iter().position(|&b| b == b'\n') {
                    line.truncate(nl);
                    // Sets the client's next state.
                    self.request(i, &line);
                    return;
                }
                if line.len() > REQUEST_MAX {
                    let c = &mut self.clients[i];
                    c.reply(&err_reply("request too long"));
                    c.flush();
                    return;
                }
                State::Request(line)
            }
            State::Attached(mut a) => {
                if n == 0 {
                    a.input_done = true;
                    if a.stdin {
                        self.stdin_gone(a.exec);
                    }
                    if !(a.stdout || a.stderr) {
                        self.clients[i].dead = true;
                    }
                } else {
                    let mut fwd = Vec::new();
                    let detached = a.detach.feed(data, &mut fwd);
                    if a.stdin {
                        match a.exec {
                            None => self.stdin.push(&fwd),
                            Some(x) => self.execs[x].input.push(&fwd),
                        }
                    }
                    if detached {
                        self.clients[i].dead = true;
                        if a.stdin {
                            a.input_done = true;
                            self.stdin_gone(a.exec);
                        }
                    }
                }
                State::Attached(a)
            }
            s => {
                if n == 0 {
                    self.clients[i].dead = true;
                }
                s
            }
        };
        self.clients[i].state = back;
    }

    /// A stdin attacher stopped sending (EOF, detach or disconnect). The container's
    /// stdin is closed then with --stdin-once (and no tty, as Docker). An exec has only
    /// the attacher that started it, so its stdin is closed at once, as Docker does.
    fn stdin_gone(&mut self, owner: Owner) {
        match owner {
            Some(x) => self.execs[x].input.close(),
            None => {
                if self.p.stdin_once && !self.p.tty && !self.stdin_used {
                    self.stdin_used = true;
                    self.stdin.close();
                }
            }
        }
    }

    fn request(&mut self, i: usize, line: &[u8]) {
        let req: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                let c = &mut self.clients[i];
                c.reply(&err_reply(format!("invalid request: {e}")));
                c.state = State::Closing;
                c.flush();
                return;
            }
        };
        let op = req["op"].as_str().unwrap_or_default();
        let (reply, mut next) = if op == "exec" {
            self.exec(&req)
        } else if let Some(eid) = req["exec_id"].as_str() {
            match self.execs.iter().position(|e| e.id == eid) {
                Some(x) => self.exec_request(op, x, &req),
                None => (err_reply(format!("no such exec: {eid}")), State::Closing),
            }
        } else {
            self.container_request(op, &req)
        };
        let c = &mut self.clients[i];
        if !reply.is_null() {
            c.reply(&reply);
        }
        if reply["ok"] == false {
            next = State::Closing;
        }
        c.state = next;
        c.flush();
    }

    /// A request about the container; returns the reply (null: none yet) and the
    /// connection's next state.
    fn container_request(&mut self, op: &str, req: &Value) -> (Value, State) {
        let reply = match op {
            "start" => match container::start(&self.p.g, &self.p.id) {
                Ok(()) => json!({"ok": true}),
                Err(e) => err_reply(e),
            },
            "state" => self.state_reply(),
            // Answered in `finish`, once exit.json is on disk.
            "wait" => {
                let oom = req["oom"].as_bool().unwrap_or(false);
                // Kills before the waiter came (say, right after start) are told at
                // once: the count lets it tell them from ones it heard of already. The
                // count is read afresh, the notifier may not have been polled yet.
                let told = if oom {
                    self.check_oom();
                    (self.p.oom.kills() > 0).then(|| self.oom_event())
                } else {
                    None
                };
                return (told.unwrap_or(Value::Null), State::Waiting(oom));
            }
            "kill" => match parse_signal(&req["signal"]) {
                Ok(sig) => {
                    let all = req["all"].as_bool().unwrap_or(false);
                    match container::kill(&self.p.g, &self.p.id, sig, all) {
                        Ok(()) => json!({"ok": true}),
                        Err(e) => err_reply(e),
                    }
                }
                Err(e) => e,
            },
            "resize" => resize(self.p.master.as_ref(), req, "the container has no tty"),
            "close_stdin" => {
                self.stdin.close();
                json!({"ok": true})
            }
            "shutdown" => {
                if self.exit.is_none() {
                    let _ = container::kill(&self.p.g, &self.p.id, libc::SIGKILL, true);
                    let _ = berth_sys::kill(self.p.pid, libc::SIGKILL);
                }
                json!({"ok": true})
            }
            "attach" => {
                let keys = req["detach_keys"].as_str().unwrap_or_default();
                match attach::parse_detach_keys(keys) {
                    Ok(keys) => {
                        let flag = |k: &str| req[k].as_bool().unwrap_or(false);
                        let a = Attacher {
                            exec: None,
                            stdin: flag("stdin"),
                            stdout: flag("stdout"),
                            stderr: flag("stderr") && !self.p.tty,
                            framed: !self.p.tty,
                            detach: DetachMatcher::new(keys),
                            input_done: false,
                        };
                        return (json!({"ok": true}), State::Attached(a));
                    }
                    Err(e) => err_reply(e),
                }
            }
            other => err_reply(format!("unknown op {other:?}")),
        };
        (reply, State::Closing)
    }

    /// `exec`: start a process in the container; with `attach` the connection becomes
    /// its attach stream.
    fn exec(&mut self, req: &Value) -> (Value, State) {
        let fail = |m: String| (err_reply(m), State::Closing);
        let Some(eid) = req["exec_id"].as_str().filter(|s| !s.is_empty()) else {
            return fail("exec needs an exec_id".into());
        };
        if self.execs.iter().any(|e| e.id == eid) {
            return fail(format!("exec {eid} already exists"));
        }
        if self.exit.is_some() {
            return fail(format!("container {} is not running", self.p.id));
        }
        let Some(path) = req["process"].as_str() else {
            return fail("exec needs process (the path of an OCI process JSON)".into());
        };
        let process = match std::fs::read(path) {
            Ok(data) => match serde_json::from_slice(&data) {
                Ok(p) => p,
                Err(e) => return fail(format!("invalid process {path}: {e}")),
            },
            Err(e) => return fail(format!("reading process {path}: {e}")),
        };
        let flag = |k: &str| req[k].as_bool().unwrap_or(false);
        let keys = match attach::parse_detach_keys(req["detach_keys"].as_str().unwrap_or_default())
        {
            Ok(k) => k,
            Err(e) => return fail(e),
        };
        let r = ExecRequest {
            process,
            tty: flag("tty"),
            stdin: flag("stdin"),
            attach: flag("attach"),
            stdout: flag("stdout"),
            stderr: flag("stderr"),
        };
        let (tty, attach, stdin, stdout, stderr) = (r.tty, r.attach, r.stdin, r.stdout, r.stderr);
        let spawned = match exec::spawn(&self.p.g, &self.p.id, r) {
            Ok(s) => s,
            Err(e) => return fail(exec::docker_message(&e.to_string())),
        };
        let pid = spawned.pid;
        self.execs.push(Exec {
            id: eid.to_string(),
            pid,
            out: spawned.out,
            err: spawned.err,
            input: Input {
                fd: spawned.input,
                ..Default::default()
            },
            master: spawned.master,
            exit: None,
            done: false,
        });
        // It may have exited already; SIGCHLD is pending then and reaps it next turn.
        let reply = json!({"ok": true, "pid": pid});
        if !attach {
            return (reply, State::Closing);
        }
        let a = Attacher {
            exec: Some(self.execs.len() - 1),
            stdin,
            stdout,
            stderr: stderr && !tty,
            // The start request decides, as dockerd's exec start does; by default the
            // exec's own tty.
            framed: req["framed"].as_bool().unwrap_or(!tty),
            detach: DetachMatcher::new(keys),
            input_done: false,
        };
        (reply, State::Attached(a))
    }

    /// A request naming an exec process.
    fn exec_request(&mut self, op: &str, x: usize, req: &Value) -> (Value, State) {
        let e = &mut self.execs[x];
        let reply = match op {
            "wait" if e.done => e.wait_reply(),
            "wait" => return (Value::Null, State::ExecWaiting(x)),
            "state" => json!({
                "ok": true,
                "status": if e.done { "stopped" } else { "running" },
                "pid": e.pid,
                "exit_code": e.exit.as_ref().filter(|_| e.done).map(|x| x.code),
            }),
            "kill" => match parse_signal(&req["signal"]) {
                // Not reaped yet, so the pid is still this process's.
                Ok(sig) if e.exit.is_none() => match berth_sys::kill(e.pid, sig) {
                    Ok(()) => json!({"ok": true}),
                    Err(err) => err_reply(format!("signalling exec {}: {err}", e.id)),
                },
                Ok(_) => err_reply(format!("exec {} is not running", e.id)),
                Err(r) => r,
            },
            "resize" => resize(e.master.as_ref(), req, "the exec process has no tty"),
            "close_stdin" => {
                e.input.close();
                json!({"ok": true})
            }
            other => err_reply(format!("unknown op {other:?} for an exec")),
        };
        (reply, State::Closing)
    }

    fn state_reply(&self) -> Value {
        if let Some(e) = &self.exit {
            return json!({"ok": true, "status": "stopped", "pid": self.p.pid, "exit_code": e.code});
        }
        let status = match container::Container::load(&self.p.g, &self.p.id) {
            Ok(c) => c.status().as_str(),
            Err(e) => return err_reply(e),
        };
        json!({"ok": true, "status": status, "pid": self.p.pid, "exit_code": null})
    }

    /// `{"ok":true,"event":"oom","oom_kills":N}`: N processes killed so far.
    fn oom_event(&self) -> Value {
        json!({"ok": true, "event": "oom", "oom_kills": self.p.oom.kills()})
    }

    /// Reads the cgroup's OOM kill count; when it grew, tells the waiters that asked
    /// (before their exit reply).
    fn check_oom(&mut self) {
        if self.p.oom.check() {
            self.tell_oom();
        }
    }

    /// Tells the `"oom":true` waiters the count of kills.
    fn tell_oom(&mut self) {
        let event = self.oom_event();
        for c in &mut self.clients {
            if matches!(c.state, State::Waiting(true)) {
                c.reply(&event);
                c.flush();
            }
        }
    }

    /// Drop dead clients, remembering when a stdin attacher left.
    fn sweep(&mut self) {
        let mut gone: Vec<Owner> = Vec::new();
        self.clients.retain(|c| {
            if c.dead {
                if let State::Attached(a) = &c.state {
                    if a.stdin && !a.input_done {
                        gone.push(a.exec);
                    }
                }
            }
            !c.dead
        });
        for owner in gone {
            self.stdin_gone(owner);
        }
    }

    /// The container is gone: its exec processes go too (the kernel kills them with
    /// the pid namespace's init; without one, `destroy` killed the cgroup). Reap them,
    /// take the output they left, end their streams and answer their waiters.
    fn end_all_execs(&mut self) {
        for e in self.execs.iter().filter(|e| e.exit.is_none()) {
            // Not reaped yet, so the pid is still this process's.
            let _ = berth_sys::kill(e.pid, libc::SIGKILL);
        }
        let end = Instant::now() + Duration::from_secs(2);
        loop {
            self.reap();
            if self.execs.iter().all(|e| e.exit.is_some()) || Instant::now() >= end {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for x in 0..self.execs.len() {
            if self.execs[x].done {
                continue;
            }
            for s in [attach::STDOUT, attach::STDERR] {
                self.pump(Some(x), s);
            }
            self.end_exec(x);
        }
    }

    /// The container is gone: log the rest, record the exit, answer waiters, remove the
    /// runtime state, end the attach streams, and remove the socket and pid file.
    fn finish(mut self) {
        // Whatever is still readable without waiting.
        for s in [attach::STDOUT, attach::STDERR] {
            self.pump(None, s);
        }
        if let Some(log) = &mut self.p.log {
            let _ = log.flush();
        }
        let e = self.exit.take().unwrap_or(Exit {
            code: 255,
            signal: None,
            finished_at: crate::state::now_rfc3339(),
            at: Instant::now(),
        });
        // The last look, while the cgroup still exists: the kernel counted the kill
        // before it sent the SIGKILL we reaped.
        self.check_oom();
        self.p.oom.close();
        let rec = json!({
            "exit_code": e.code,
            "signal": e.signal,
            "finished_at": e.finished_at,
            "pid": self.p.pid,
            "oom_killed": self.p.oom.kills() > 0,
            "oom_kills": self.p.oom.kills(),
        });
        let path = self.p.state_dir.join(EXIT_FILE);
        if let Err(err) = write_atomic(&path, format!("{rec}\n").as_bytes()) {
            crate::log::error(&format!("container {}: {err}", self.p.id));
        }
        let mut waited = rec.clone();
        waited["ok"] = json!(true);
        for c in &mut self.clients {
            if matches!(c.state, State::Waiting(_)) {
                c.reply(&waited);
            }
        }
        match container::Container::load(&self.p.g, &self.p.id) {
            Ok(c) => {
                let cg = c.cgroup().ok();
                if let Err(err) = container::destroy(&c, cg.as_ref()) {
                    crate::log::error(&format!("container {}: {err}", self.p.id));
                }
            }
            Err(_) => {
                let _ = std::fs::remove_dir_all(self.p.g.root.dir(&self.p.id));
            }
        }
        self.reap();
        self.end_all_execs();
        // Last writes may block, but not for long: a stuck client is given up on.
        let _ = std::fs::remove_file(self.p.state_dir.join(SOCKET));
        for c in &mut self.clients {
            if c.dead {
                continue;
            }
            let _ = c.stream.set_nonblocking(false);
            let _ = c.stream.set_write_timeout(Some(Duration::from_secs(2)));
            let _ = c.stream.write_all(&c.out);
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
        }
        let _ = std::fs::remove_file(self.p.state_dir.join(PID_FILE));
    }
}

/// TIOCSWINSZ on a pty master, as a `resize` request asks.
fn resize(master: Option<&OwnedFd>, req: &Value, no_tty: &str) -> Value {
    let to_u16 = |k: &str| req[k].as_u64().and_then(|v| u16::try_from(v).ok());
    match (master, to_u16("height"), to_u16("width")) {
        (None, _, _) => err_reply(no_tty),
        (Some(m), Some(h), Some(w)) => match berth_sys::set_winsize(m.as_fd(), h, w) {
            Ok(()) => json!({"ok": true}),
            Err(e) => err_reply(format!("resizing the pty: {e}")),
        },
        _ => err_reply("resize needs height and width"),
    }
}
