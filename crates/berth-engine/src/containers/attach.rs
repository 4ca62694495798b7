//! Attaching to a container's stdio through its shim, and resizing its tty. The shim
//! speaks Docker's framing already; with `logs` the log is replayed first through a
//! socketpair relay.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use serde_json::json;

use super::Inner;
use crate::api::{AttachOptions, AttachStream, EngineError, EngineResult, LogsOptions, StdStream};
use crate::store::Status;

impl Inner {
    /// `POST /containers/{id}/attach`.
    pub fn attach(self: &Arc<Self>, r: &str, opts: AttachOptions) -> EngineResult<AttachStream> {
        let c = self.get(r)?;
        let (rec, tty, told) = {
            let _op = c.op_lock();
            let rec = c.record();
            let mut told = false;
            match rec.state.status {
                Status::Running | Status::Paused | Status::Restarting => {}
                Status::Created => {
                    // docker attaches before it starts: the shim must exist now so no
                    // output is lost. A launch failure is reported by start. `attach`
                    // is told first, as dockerd tells it before the start's network
                    // `connect` events, which making the shim now tells.
                    self.emit(&rec, "attach", &[]);
                    told = true;
                    if self.ensure_shim(&c).is_err() {
                        let (mine, _theirs) = UnixStream::pair()
                            .map_err(|e| EngineError::internal("creating a socket pair", e))?;
                        return Ok(AttachStream {
                            stream: mine,
                            tty: rec.config.tty,
                        });
                    }
                }
                _ => {
                    // As dockerd: a stopped container has no live stream, but its logs
                    // are replayed when asked for, and the stream then ends.
                    drop(_op);
                    let logs = opts.logs.then(|| self.attach_logs(&c.id, &opts));
                    return replay(logs, None, rec.config.tty);
                }
            }
            (rec.clone(), rec.config.tty, told)
        };
        let keys = opts
            .detach_keys
            .clone()
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| "ctrl-p,ctrl-q".into());
        let (_, live) = self
            .shim(&c.id)
            .call_stream(
                &json!({
                    "op": "attach",
                    "stdin": opts.stdin && rec.config.open_stdin,
                    "stdout": opts.stdout,
                    "stderr": opts.stderr,
                    "detach_keys": keys,
                }),
                Some(std::time::Duration::from_secs(30)),
            )
            .map_err(|e| match e {
                crate::shim::ShimError::Failed(m) => EngineError::BadParameter(m),
                e => EngineError::Conflict(format!("container {} is not running: {e}", c.id)),
            })?;
        if !told {
            self.emit(&rec, "attach", &[]);
        }
        if !opts.logs {
            return Ok(AttachStream { stream: live, tty });
        }
        // Replay the log, then relay the live stream, through a socket pair.
        let logs = self.attach_logs(&c.id, &opts);
        replay(Some(logs), Some(live), tty)
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

/// An attach stream that first replays the container's log (when asked for), then
/// relays its live stream (when it has one) and ends with it.
fn replay(
    logs: Option<LogReplay>,
    live: Option<UnixStream>,
    tty: bool,
) -> EngineResult<AttachStream> {
    let (mine, theirs) =
        UnixStream::pair().map_err(|e| EngineError::internal("creating a socket pair", e))?;
    let mut out = theirs
        .try_clone()
        .map_err(|e| EngineError::internal("duplicating a socket", e))?;
    let mut live_in = match &live {
        Some(l) => Some(
            l.try_clone()
                .map_err(|e| EngineError::internal("duplicating a socket", e))?,
        ),
        None => None,
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
        if let Some(live_in) = &mut live_in {
            let _ = std::io::copy(live_in, &mut out);
        }
        let _ = out.shutdown(std::net::Shutdown::Both);
    });
    if let Some(mut live_out) = live {
        let mut client_in = theirs;
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut client_in, &mut live_out);
            let _ = live_out.shutdown(std::net::Shutdown::Write);
        });
    }
    Ok(AttachStream { stream: mine, tty })
}
