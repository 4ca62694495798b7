//! Health checks: a thread per started container with a `Healthcheck` runs the test as
//! an exec every `Interval`, keeps the last five results in `State.Health`, and moves
//! the status between starting, healthy and unhealthy as Docker does (failures during
//! `StartPeriod` do not count), emitting `health_status: …` on each change.

use std::io::Read;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use berth_api_types::container::HealthcheckResult;
use berth_api_types::exec::ExecConfig;
use serde_json::json;

use crate::containers::{Container, Inner};
use crate::exec::{Exec, ExecState};
use crate::store::Status;
use crate::timefmt::{now_nanos, rfc3339_nanos};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: i64 = 3;
const KEEP: usize = 5;
/// Docker keeps at most this much of a probe's output.
const MAX_OUTPUT: usize = 4096;

fn dur(nanos: i64, default: Duration) -> Duration {
    if nanos > 0 {
        Duration::from_nanos(nanos as u64)
    } else {
        default
    }
}

/// Starts the health-check thread of `c` for its start number `starts`, if it has a
/// health check.
pub(crate) fn spawn(inner: Arc<Inner>, c: Arc<Container>, starts: u64) {
    let Some(hc) = c.record().config.healthcheck else {
        return;
    };
    let cmd: Vec<String> = match hc.test.first().map(String::as_str) {
        Some("CMD") => hc.test[1..].to_vec(),
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), hc.test[1..].join(" ")],
        _ => return,
    };
    if cmd.is_empty() {
        return;
    }
    let interval = dur(hc.interval, DEFAULT_INTERVAL);
    let timeout = dur(hc.timeout, DEFAULT_TIMEOUT);
    let start_period = dur(hc.start_period, Duration::ZERO);
    let retries = if hc.retries > 0 {
        hc.retries
    } else {
        DEFAULT_RETRIES
    };
    std::thread::spawn(move || {
        let began = Instant::now();
        loop {
            std::thread::sleep(interval);
            let current = {
                let g = c.lock();
                !g.removed && g.starts == starts && g.rec.state.status == Status::Running
            };
            if !current || inner.is_closed() {
                return;
            }
            let result = probe(&inner, &c, &cmd, timeout);
            let in_start = began.elapsed() < start_period;
            {
                let mut g = c.lock();
                if g.starts != starts || g.rec.state.status != Status::Running {
                    return;
                }
                let h = g.rec.state.health.get_or_insert_with(Default::default);
                let before = h.status.clone();
                if result.exit_code == 0 {
                    h.failing_streak = 0;
                    h.status = "healthy".into();
                } else if !in_start {
                    h.failing_streak += 1;
                    if h.failing_streak >= retries {
                        h.status = "unhealthy".into();
                    }
                }
                h.log.push(result);
                let excess = h.log.len().saturating_sub(KEEP);
                h.log.drain(..excess);
                let changed = (h.status != before).then(|| h.status.clone());
                let _ = inner.save(&g.rec);
                // Told before the lock is released, as dockerd does: whoever sees the
                // new status in inspect finds its event too.
                if let Some(s) = changed {
                    inner.emit(&g.rec, &format!("health_status: {s}"), &[]);
                }
            }
        }
    });
}

/// Runs one probe as a hidden exec, collecting its output up to `timeout`.
fn probe(
    inner: &Arc<Inner>,
    c: &Container,
    cmd: &[String],
    timeout: Duration,
) -> HealthcheckResult {
    let start = now_nanos();
    let fail = |msg: String, code: i64| HealthcheckResult {
        start: rfc3339_nanos(start),
        end: rfc3339_nanos(now_nanos()),
        exit_code: code,
        output: msg,
    };
    let id = match crate::names::new_id() {
        Ok(id) => id,
        Err(e) => return fail(e.to_string(), -1),
    };
    let e = Arc::new(Exec {
        id: id.clone(),
        container_id: c.id.clone(),
        config: ExecConfig {
            attach_stdout: true,
            attach_stderr: true,
            cmd: cmd.to_vec(),
            ..Default::default()
        },
        state: Mutex::new(ExecState::default()),
        cond: Condvar::new(),
    });
    // Told as dockerd tells a probe: created, started, died.
    inner.emit(
        &c.record(),
        &crate::exec::action("exec_create", cmd),
        &[("execID", id.clone())],
    );
    let stream = match inner.exec_launch(&e, true, e.config.tty) {
        Ok(Some(s)) => s,
        Ok(None) => return fail("no output stream".into(), -1),
        Err(err) => return fail(err.to_string(), -1),
    };
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut s = stream;
    let mut buf = [0u8; 4096];
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            timed_out = true;
            break;
        }
        let _ = s.set_read_timeout(Some(left));
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                timed_out = true;
                break;
            }
            Err(_) => break,
        }
    }
    if timed_out {
        let _ = inner
            .shim(&c.id)
            .call(&json!({"op": "kill", "exec_id": id, "signal": libc::SIGKILL}));
        return fail(
            format!("Health check exceeded timeout ({}s)", timeout.as_secs()),
            -1,
        );
    }
    let code = e.wait_exit(Duration::from_secs(5)).unwrap_or(-1);
    let mut text = unframe(&out);
    text.truncate(MAX_OUTPUT);
    HealthcheckResult {
        start: rfc3339_nanos(start),
        end: rfc3339_nanos(now_nanos()),
        exit_code: code,
        output: String::from_utf8_lossy(&text).into_owned(),
    }
}

/// The payloads of Docker-framed output, concatenated.
fn unframe(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while b.len() >= 8 {
        let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let end = (8 + n).min(b.len());
        out.extend_from_slice(&b[8..end]);
        b = &b[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn unframes() {
        let mut v = vec![1, 0, 0, 0, 0, 0, 0, 3];
        v.extend_from_slice(b"abc");
        v.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 1, b'd']);
        assert_eq!(super::unframe(&v), b"abcd");
    }
}
