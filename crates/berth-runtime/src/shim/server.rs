//! The shim's single-threaded poll(2) loop: the control socket and its clients, the
//! container's output (pipes or pty master), its stdin, and SIGCHLD through a signalfd.

use super::attach::{self, DetachMatcher};
use super::jsonlog::JsonLog;
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
}

enum State {
    /// Reading the request line.
    Request(Vec<u8>),
    /// Waiting for the container to exit (`wait`).
    Waiting,
    Attached(Attacher),
    /// The reply is queued; close once it is written.
    Closing,
}

struct Attacher {
    stdin: bool,
    stdout: bool,
    stderr: bool,
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

pub(super) struct Shim {
    p: Parts,
    clients: Vec<Client>,
    stdin_buf: Vec<u8>,
    /// Close the container's stdin once `stdin_buf` is written.
    stdin_close: bool,
    /// A stdin attacher has come and gone (for --stdin-once).
    stdin_used: bool,
    exit: Option<Exit>,
}

fn err_reply(msg: impl std::fmt::Display) -> Value {
    json!({"ok": false, "error": msg.to_string()})
}

impl Shim {
    pub(super) fn new(p: Parts) -> Shim {
        Shim {
            p,
            clients: Vec::new(),
            stdin_buf: Vec::new(),
            stdin_close: false,
            stdin_used: false,
            exit: None,
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
            Out(u8),
            Stdin,
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
        if let Some(fd) = &self.p.out {
            srcs.push(Src::Out(attach::STDOUT));
            fds.push(PollFd::new(fd, PollFlags::IN));
        }
        if let Some(fd) = &self.p.err {
            srcs.push(Src::Out(attach::STDERR));
            fds.push(PollFd::new(fd, PollFlags::IN));
        }
        if let (Some(fd), false) = (&self.p.stdin, self.stdin_buf.is_empty()) {
            srcs.push(Src::Stdin);
            fds.push(PollFd::new(fd, PollFlags::OUT));
        }
        let room = self.stdin_buf.len() < STDIN_BUF_MAX;
        for (i, c) in self.clients.iter().enumerate() {
            let mut ev = PollFlags::empty();
            match &c.state {
                State::Request(_) => ev |= PollFlags::IN,
                State::Attached(a) if !a.input_done && (room || !a.stdin) => ev |= PollFlags::IN,
                _ => {}
            }
            if !c.out.is_empty() {
                ev |= PollFlags::OUT;
            }
            srcs.push(Src::Client(i));
            fds.push(PollFd::new(&c.stream, ev));
        }
        let timeout = self.exit.as_ref().map(|e| {
            let left = DRAIN_TIME.saturating_sub(e.at.elapsed());
            Timespec {
                tv_sec: left.as_secs() as _,
                tv_nsec: left.subsec_nanos() as _,
            }
        });
        if poll(&mut fds, timeout.as_ref()).is_err() {
            return;
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
                Src::Out(s) => self.pump(s),
                Src::Stdin => self.feed_stdin(),
                Src::Client(i) => self.client_event(i, rev),
            }
        }
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

    /// Reap every child (we are a subreaper); note the init's exit.
    fn reap(&mut self) {
        use rustix::process::{wait, WaitOptions};
        while let Ok(Some((pid, st))) = wait(WaitOptions::NOHANG) {
            if pid.as_raw_nonzero().get() == self.p.pid && self.exit.is_none() {
                let signal = st.terminating_signal();
                let code = st.exit_status().or(signal.map(|s| 128 + s)).unwrap_or(255);
                self.exit = Some(Exit {
                    code,
                    signal,
                    finished_at: crate::state::now_rfc3339(),
                    at: Instant::now(),
                });
            }
        }
    }

    /// Read what the container wrote on one stream and pass it on.
    fn pump(&mut self, stream: u8) {
        let mut buf = [0u8; CHUNK];
        // A few reads per turn, so one chatty stream cannot starve the rest.
        for _ in 0..8 {
            let fd = if stream == attach::STDOUT {
                &self.p.out
            } else {
                &self.p.err
            };
            let Some(fd) = fd else { return };
            match rustix::io::read(fd, &mut buf) {
                Ok(0) | Err(rustix::io::Errno::IO) => {
                    // EOF (EIO on a pty master once the last slave closes).
                    if stream == attach::STDOUT {
                        self.p.out = None;
                    } else {
                        self.p.err = None;
                    }
                    return;
                }
                Ok(n) => self.output(stream, &buf[..n]),
                Err(rustix::io::Errno::AGAIN) => return,
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }

    fn output(&mut self, stream: u8, data: &[u8]) {
        if let Some(log) = &mut self.p.log {
            if let Err(e) = log.write(stream, data) {
                crate::log::warn(&format!("container {}: writing log: {e}", self.p.id));
            }
        }
        let tty = self.p.tty;
        for c in &mut self.clients {
            let State::Attached(a) = &c.state else {
                continue;
            };
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
            if tty {
                c.out.extend_from_slice(data);
            } else {
                attach::frame(stream, data, &mut c.out);
            }
            c.flush();
        }
    }

    fn feed_stdin(&mut self) {
        let Some(fd) = &self.p.stdin else {
            self.stdin_buf = Vec::new();
            return;
        };
        while !self.stdin_buf.is_empty() {
            match rustix::io::write(fd, &self.stdin_buf) {
                Ok(n) => {
                    self.stdin_buf.drain(..n);
                }
                Err(rustix::io::Errno::AGAIN) => return,
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => {
                    // EPIPE: the container closed its stdin.
                    self.p.stdin = None;
                    self.stdin_buf = Vec::new();
                    return;
                }
            }
        }
        self.stdin_buf = Vec::new();
        if self.stdin_close {
            self.p.stdin = None;
        }
    }

    /// Close the container's stdin (after what is queued). With a tty the master is
    /// the container's output too, so input is only no longer forwarded (as Docker).
    fn close_stdin(&mut self) {
        self.stdin_close = true;
        self.feed_stdin();
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
                        self.stdin_gone();
                    }
                    if !(a.stdout || a.stderr) {
                        self.clients[i].dead = true;
                    }
                } else {
                    let mut fwd = Vec::new();
                    let detached = a.detach.feed(data, &mut fwd);
                    if a.stdin && self.p.stdin.is_some() && !self.stdin_close && !fwd.is_empty() {
                        self.stdin_buf.extend_from_slice(&fwd);
                        self.feed_stdin();
                    }
                    if detached {
                        self.clients[i].dead = true;
                        if a.stdin {
                            a.input_done = true;
                            self.stdin_gone();
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

    /// A stdin attacher stopped sending: with --stdin-once (and no tty, as Docker),
    /// the container's stdin is closed.
    fn stdin_gone(&mut self) {
        if self.p.stdin_once && !self.p.tty && !self.stdin_used {
            self.stdin_used = true;
            self.close_stdin();
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
        let mut next = State::Closing;
        let reply = match op {
            "start" => match container::start(&self.p.g, &self.p.id) {
                Ok(()) => json!({"ok": true}),
                Err(e) => err_reply(e),
            },
            "state" => self.state_reply(),
            "wait" => {
                // Answered in `finish`, once exit.json is on disk.
                next = State::Waiting;
                Value::Null
            }
            "kill" => {
                let sig = match &req["signal"] {
                    Value::Number(n) => n.as_i64().map(|n| n as i32).ok_or(()),
                    Value::String(s) => container::parse_signal(s).map_err(|_| ()),
                    Value::Null => Ok(libc::SIGKILL),
                    _ => Err(()),
                };
                match sig {
                    Ok(sig) => {
                        let all = req["all"].as_bool().unwrap_or(false);
                        match container::kill(&self.p.g, &self.p.id, sig, all) {
                            Ok(()) => json!({"ok": true}),
                            Err(e) => err_reply(e),
                        }
                    }
                    Err(()) => err_reply(format!("invalid signal {}", req["signal"])),
                }
            }
            "resize" => match (
                &self.p.master,
                req["height"].as_u64(),
                req["width"].as_u64(),
            ) {
                (None, _, _) => err_reply("the container has no tty"),
                (Some(m), Some(h), Some(w)) => {
                    match berth_sys::set_winsize(m.as_fd(), h as u16, w as u16) {
                        Ok(()) => json!({"ok": true}),
                        Err(e) => err_reply(format!("resizing the pty: {e}")),
                    }
                }
                _ => err_reply("resize needs height and width"),
            },
            "close_stdin" => {
                self.close_stdin();
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
                        next = State::Attached(Attacher {
                            stdin: flag("stdin"),
                            stdout: flag("stdout"),
                            stderr: flag("stderr") && !self.p.tty,
                            detach: DetachMatcher::new(keys),
                            input_done: false,
                        });
                        json!({"ok": true})
                    }
                    Err(e) => err_reply(e),
                }
            }
            other => err_reply(format!("unknown op {other:?}")),
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

    /// Drop dead clients, remembering when a stdin attacher left.
    fn sweep(&mut self) {
        let mut gone_stdin = false;
        self.clients.retain(|c| {
            if c.dead {
                if let State::Attached(a) = &c.state {
                    gone_stdin |= a.stdin && !a.input_done;
                }
            }
            !c.dead
        });
        if gone_stdin {
            self.stdin_gone();
        }
    }

    /// The container is gone: log the rest, record the exit, answer waiters, remove the
    /// runtime state, end the attach streams, and remove the socket and pid file.
    fn finish(mut self) {
        // Whatever is still readable without waiting.
        for s in [attach::STDOUT, attach::STDERR] {
            self.pump(s);
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
        let rec = json!({
            "exit_code": e.code,
            "signal": e.signal,
            "finished_at": e.finished_at,
            "pid": self.p.pid,
        });
        let path = self.p.state_dir.join(EXIT_FILE);
        if let Err(err) = write_atomic(&path, format!("{rec}\n").as_bytes()) {
            crate::log::error(&format!("container {}: {err}", self.p.id));
        }
        let mut waited = rec.clone();
        waited["ok"] = json!(true);
        for c in &mut self.clients {
            if matches!(c.state, State::Waiting) {
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
