//! Signalling a container: stop (StopSignal, then SIGKILL after the timeout), kill,
//! restart, pause and unpause.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{parse_signal, Container, Inner};
use crate::api::{EngineError, EngineResult};
use crate::shim::runtime_cmd;
use crate::store::Status;

/// How long to wait for a container to die after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(30);

impl Inner {
    /// Sends `sig` to the container's init through its shim.
    fn signal(&self, c: &Container, sig: i32, all: bool) -> EngineResult<()> {
        self.shim(&c.id)
            .call(&json!({"op": "kill", "signal": sig, "all": all}))
            .map(|_| ())
            .map_err(|e| EngineError::internal(format!("cannot kill container {}", c.id), e))
    }

    /// Waits until the exit counter moves past `exits0` (None: forever).
    fn wait_exit(&self, c: &Container, exits0: u64, timeout: Option<Duration>) -> bool {
        let end = timeout.map(|t| Instant::now() + t);
        let mut g = c.lock();
        while g.exits == exits0 && g.rec.state.status.is_running() {
            let step = match end {
                Some(e) => {
                    let now = Instant::now();
                    if now >= e {
                        return false;
                    }
                    e - now
                }
                None => Duration::from_secs(3600),
            };
            g = c.wait_timeout(g, step);
        }
        true
    }

    /// `POST /containers/{id}/stop`.
    pub fn stop(
        self: &Arc<Self>,
        r: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> EngineResult<()> {
        let c = self.get(r)?;
        let _op = c.op_lock();
        self.stop_locked(&c, timeout, signal)
    }

    /// Stops `c` (caller holds its operation lock): the stop signal, up to `timeout`
    /// seconds, then SIGKILL. Disables the restart policy until the next start.
    pub(crate) fn stop_locked(
        self: &Arc<Self>,
        c: &Arc<Container>,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> EngineResult<()> {
        let (rec, exits0) = {
            let mut g = c.lock();
            match g.rec.state.status {
                Status::Restarting => {
                    // Between two runs: cancelling the restart is the stop.
                    g.rec.manually_stopped = true;
                    g.rec.state.status = Status::Exited;
                    let _ = self.save(&g.rec);
                    c.cond.notify_all();
                    let rec = g.rec.clone();
                    drop(g);
                    self.emit(&rec, "stop", &[]);
                    return Ok(());
                }
                Status::Running | Status::Paused => {}
                _ => return Err(EngineError::NotModified("Container already stopped".into())),
            }
            g.rec.manually_stopped = true;
            let _ = self.save(&g.rec);
            (g.rec.clone(), g.exits)
        };
        let sig_name = signal
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| {
                (!rec.config.stop_signal.is_empty()).then(|| rec.config.stop_signal.clone())
            })
            .unwrap_or_else(|| "SIGTERM".into());
        let sig = parse_signal(&sig_name)?;
        let timeout = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        if rec.state.status == Status::Paused && sig != libc::SIGKILL {
            // A frozen process cannot handle the signal: thaw it first.
            let _ = runtime_cmd(
                &self.config.runtime,
                &self.runtime_root(),
                &["resume", &c.id],
            );
            let mut g = c.lock();
            if g.rec.state.status == Status::Paused {
                g.rec.state.status = Status::Running;
            }
        }
        self.emit(&rec, "kill", &[("signal", sig.to_string())]);
        let sent = self.signal(c, sig, false);
        let graceful = match (sent, timeout) {
            (Err(_), _) => false,
            (Ok(()), t) if t < 0 => self.wait_exit(c, exits0, None),
            (Ok(()), t) => self.wait_exit(c, exits0, Some(Duration::from_secs(t as u64))),
        };
        if !graceful {
            self.emit(&rec, "kill", &[("signal", libc::SIGKILL.to_string())]);
            let _ = self.signal(c, libc::SIGKILL, true);
            if !self.wait_exit(c, exits0, Some(KILL_WAIT)) {
                let _ = self.shim(&c.id).call(&json!({"op": "shutdown"}));
                if !self.wait_exit(c, exits0, Some(KILL_WAIT)) {
                    return Err(EngineError::internal(
                        format!("stopping container {}", c.id),
                        "it did not exit after SIGKILL",
                    ));
                }
            }
        }
        self.emit(&c.record(), "stop", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/kill`.
    pub fn kill(self: &Arc<Self>, r: &str, signal: Option<&str>) -> EngineResult<()> {
        let c = self.get(r)?;
        let _op = c.op_lock();
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => parse_signal(s)?,
            None => libc::SIGKILL,
        };
        let (rec, exits0) = {
            let mut g = c.lock();
            match g.rec.state.status {
                Status::Running => {}
                Status::Paused if sig == libc::SIGKILL => {}
                Status::Paused => {
                    return Err(EngineError::Conflict(format!(
                        "Container {} is paused. Unpause the container before stopping or killing",
                        c.id
                    )))
                }
                _ => {
                    return Err(EngineError::Conflict(format!(
                        "Container {} is not running",
                        c.id
                    )))
                }
            }
            let stop_sig = parse_signal(if g.rec.config.stop_signal.is_empty() {
                "SIGTERM"
            } else {
                &g.rec.config.stop_signal
            })
            .unwrap_or(libc::SIGTERM);
            if sig == libc::SIGKILL || sig == stop_sig {
                g.rec.manually_stopped = true;
                let _ = self.save(&g.rec);
            }
            (g.rec.clone(), g.exits)
        };
        self.signal(&c, sig, false)?;
        self.emit(&rec, "kill", &[("signal", sig.to_string())]);
        if sig == libc::SIGKILL {
            // As dockerd, return once the container is gone.
            self.wait_exit(&c, exits0, Some(KILL_WAIT));
        }
        Ok(())
    }

    /// `POST /containers/{id}/restart`.
    pub fn restart(
        self: &Arc<Self>,
        r: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> EngineResult<()> {
        let c = self.get(r)?;
        let _op = c.op_lock();
        match self.stop_locked(&c, timeout, signal) {
            Ok(()) | Err(EngineError::NotModified(_)) => {}
            Err(e) => return Err(e),
        }
        self.start_locked(&c, false)?;
        self.emit(&c.record(), "restart", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/pause` (`unpause: false`) and `/unpause`.
    pub fn pause(self: &Arc<Self>, r: &str, unpause: bool) -> EngineResult<()> {
        let c = self.get(r)?;
        let _op = c.op_lock();
        let status = c.lock().rec.state.status;
        match (status, unpause) {
            (Status::Running, false) | (Status::Paused, true) => {}
            (Status::Paused, false) => {
                return Err(EngineError::Conflict(format!(
                    "Container {} is already paused",
                    c.id
                )))
            }
            (Status::Running, true) => {
                return Err(EngineError::Conflict(format!(
                    "Container {} is not paused",
                    c.id
                )))
            }
            _ => {
                return Err(EngineError::Conflict(format!(
                    "Container {} is not running",
                    c.id
                )))
            }
        }
        let verb = if unpause { "resume" } else { "pause" };
        runtime_cmd(&self.config.runtime, &self.runtime_root(), &[verb, &c.id])
            .map_err(|m| EngineError::internal(format!("cannot {verb} container {}", c.id), m))?;
        let rec = {
            let mut g = c.lock();
            if g.rec.state.status.is_running() {
                g.rec.state.status = if unpause {
                    Status::Running
                } else {
                    Status::Paused
                };
            }
            let _ = self.save(&g.rec);
            g.rec.clone()
        };
        self.emit(&rec, if unpause { "unpause" } else { "pause" }, &[]);
        Ok(())
    }
}
