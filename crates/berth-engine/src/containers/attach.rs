//! Attaching to a container's stdio through its shim, and resizing its tty. The shim
//! speaks Docker's framing already; with `logs` the log is replayed first through a
//! socketpair relay. An attach to a container that is not running waits, as dockerd's,
//! for its next run (docker-compose 1.29's `run` attaches after a first start and then
//! starts the container again): it is kept as pending and joined to the new shim by
//! `start` before the process runs.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::{mpsc, Arc};

use serde_json::{json, Value};

use super::{Container, Inner};
use crate::api::{AttachOptions, AttachStream, EngineError, EngineResult, LogsOptions, StdStream};
use crate::shim::ShimError;
use crate::store::Status;

/// How long the monitor may take to record an exit after the shim went away.
const EXIT_RECORD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// How long the shim may take to answer an attach.
const ATTACH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// An attach waiting for the container's next run: `start` attaches to the new shim
/// with `opts` and hands the stream over. Dropped unserved (the container removed), the
/// attach stream ends.
pub(crate) struct PendingAttach {
    opts: AttachOptions,
    live: mpsc::Sender<UnixStream>,
}

/// The shim's attach request.
fn attach_request(opts: &AttachOptions, open_stdin: bool) -> Value {
    let keys = opts
        .detach_keys
        .clone()
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| "ctrl-p,ctrl-q".into());
    json!({
        "op": "attach",
        "stdin": opts.stdin && open_stdin,
        "stdout": opts.stdout,
        "stderr": opts.stderr,
        "detach_keys": keys,
    })
}

impl Inner {
    /// `POST /containers/{id}/attach`.
    pub fn attach(self: &Arc<Self>, r: &str, opts: AttachOptions) -> EngineResult<AttachStream> {
        let c = self.get(r)?;
        let (rec, tty) = {
            let _op = c.op_lock();
            let rec = c.record();
            match rec.state.status {
                Status::Created if !c.lock().shim_up => {
                    // docker attaches before it starts: the attach waits for `start`,
                    // which joins it to the shim before the process runs, so no output
                    // is lost. Until then nothing is set up: the networks connected
                    // and disconnected meanwhile (docker-compose does both) are wired
                    // by `start`, as dockerd's. `attach` is told now, as dockerd tells
                    // it, before the start's network `connect` events.
                    self.emit(&rec, "attach", &[]);
                    let later = pend(&c, &opts);
                    drop(_op);
                    let logs = opts.logs.then(|| self.attach_logs(&c.id, &opts));
                    return replay(logs, Live::Later(later), rec.config.tty);
                }
                // Created with a shim: one a start is launching (under the lock).
                Status::Running | Status::Paused | Status::Restarting | Status::Created => {}
                _ => {
                    // As dockerd: a stopped container's logs are replayed when asked
                    // for, and with `stream` the attach waits for its next run; the
                    // attach is told either way.
                    self.emit(&rec, "attach", &[]);
                    let later = opts.stream.then(|| pend(&c, &opts));
                    drop(_op);
                    let logs = opts.logs.then(|| self.attach_logs(&c.id, &opts));
                    return replay(logs, later.map_or(Live::None, Live::Later), rec.config.tty);
                }
            }
            (rec.clone(), rec.config.tty)
        };
        let live = match self.shim(&c.id).call_stream(
            &attach_request(&opts, rec.config.open_stdin),
            Some(ATTACH_TIMEOUT),
        ) {
            Ok((_, live)) => live,
            Err(ShimError::Failed(m)) => return Err(EngineError::BadParameter(m)),
            Err(_) => {
                // The run ended between the look at the state and the call: once its
                // exit is recorded, this is an attach to a stopped container (which a
                // client that looks at the state before starting it again expects).
                {
                    let deadline = std::time::Instant::now() + EXIT_RECORD_TIMEOUT;
                    let mut g = c.lock();
                    while g.shim_up && !g.removed {
                        let now = std::time::Instant::now();
                        if now >= deadline {
                            break;
                        }
                        g = c.wait_timeout(g, deadline - now);
                    }
                }
                let later = {
                    let _op = c.op_lock();
                    self.emit(&c.record(), "attach", &[]);
                    opts.stream.then(|| pend(&c, &opts))
                };
                let logs = opts.logs.then(|| self.attach_logs(&c.id, &opts));
                return replay(logs, later.map_or(Live::None, Live::Later), tty);
            }
        };
        self.emit(&rec, "attach", &[]);
        if !opts.logs {
            return Ok(AttachStream { stream: live, tty });
        }
        // Replay the log, then relay the live stream, through a socket pair.
        let logs = self.attach_logs(&c.id, &opts);
        replay(Some(logs), Live::Now(live), tty)
    }

    /// Joins the attaches made while `c` was not running to its new shim; `start` calls
    /// this (holding the operation lock) before the process runs, so nothing is lost.
    pub(crate) fn serve_pending_attaches(&self, c: &Container) {
        let pending = std::mem::take(&mut c.lock().pending_attach);
        if pending.is_empty() {
            return;
        }
        let open_stdin = c.lock().rec.config.open_stdin;
        for p in pending {
            // One the shim refuses ends, as its client went away.
            if let Ok((_, live)) = self
                .shim(&c.id)
                .call_stream(&attach_request(&p.opts, open_stdin), Some(ATTACH_TIMEOUT))
            {
                let _ = p.live.send(live);
            }
        }
    }

    fn attach_logs(self: &Arc<Self>, id: &str, opts: &AttachOptions) -> LogReplay {
        self.logs(
            id,
            LogsOptions {
                stdout: opts.stdout,
                stderr: opts.stderr,
                ..Default::default()
            },
        )
    }

    /// `POST /containers/{id}/resize`.
    pub fn resize(&self, r: &str, height: u16, width: u16) -> EngineResult<()> {
        let c = self.get(r)?;
        let rec = c.record();
        if !rec.state.status.is_running() && !c.lock().shim_up {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        self.shim(&c.id)
            .call(&json!({"op": "resize", "height": height, "width": width}))
            .map_err(|e| EngineError::BadParameter(format!("resizing container {}: {e}", c.id)))?;
        self.emit(
            &rec,
            "resize",
            &[("height", height.to_string()), ("width", width.to_string())],
        );
        Ok(())
    }
}

/// What `logs` answers, replayed at the start of an attach stream.
type LogReplay = EngineResult<(crate::api::LogStream, bool)>;

/// Keeps an attach for `c`'s next run (the caller holds its operation lock); the
/// receiver gets the live stream.
fn pend(c: &Container, opts: &AttachOptions) -> mpsc::Receiver<UnixStream> {
    let (tx, rx) = mpsc::channel();
    c.lock().pending_attach.push(PendingAttach {
        opts: opts.clone(),
        live: tx,
    });
    rx
}

/// Where an attach's live stream comes from.
enum Live {
    /// The running container's.
    Now(UnixStream),
    /// The next run's, once started.
    Later(mpsc::Receiver<UnixStream>),
    /// None: the stream ends after the log.
    None,
}

/// An attach stream that first replays the container's log (when asked for), then
/// relays its live stream (when it has one) and ends with it.
fn replay(logs: Option<LogReplay>, live: Live, tty: bool) -> EngineResult<AttachStream> {
    let (mine, theirs) =
        UnixStream::pair().map_err(|e| EngineError::internal("creating a socket pair", e))?;
    let dup = |s: &UnixStream| {
        s.try_clone()
            .map_err(|e| EngineError::internal("duplicating a socket", e))
    };
    let mut out = dup(&theirs)?;
    // The client's input goes to a live stream from the start; to a later one once it
    // comes (the socket pair holds it meanwhile).
    let live = match live {
        Live::Now(l) => {
            pipe_stdin(dup(&theirs)?, dup(&l)?);
            Live::Now(l)
        }
        other => other,
    };
    std::thread::spawn(move || {
        if let Some(Ok((entries, _))) = logs {
            for e in entries.flatten() {
                let chunk = if tty {
                    e.bytes
                } else {
                    let id = match e.stream {
                        StdStream::Stdout => berth_runtime::shim::STDOUT,
                        _ => berth_runtime::shim::STDERR,
                    };
                    let mut framed = Vec::with_capacity(8 + e.bytes.len());
                    berth_runtime::shim::frame(id, &e.bytes, &mut framed);
                    framed
                };
                if out.write_all(&chunk).is_err() {
                    return;
                }
            }
        }
        let live = match live {
            Live::Now(l) => Some(l),
            Live::Later(rx) => rx.recv().ok().inspect(|l| {
                if let (Ok(client_in), Ok(live_out)) = (theirs.try_clone(), l.try_clone()) {
                    pipe_stdin(client_in, live_out);
                }
            }),
            Live::None => None,
        };
        drop(theirs);
        if let Some(mut live) = live {
            let _ = std::io::copy(&mut live, &mut out);
        }
        let _ = out.shutdown(std::net::Shutdown::Both);
    });
    Ok(AttachStream { stream: mine, tty })
}

/// Copies the client's input to the live stream, closing its write side at the end.
fn pipe_stdin(mut client_in: UnixStream, mut live_out: UnixStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut live_out);
        let _ = live_out.shutdown(std::net::Shutdown::Write);
    });
}
