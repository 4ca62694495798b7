//! Streaming routes: logs, events, stats and wait. Each sends its head first and then
//! one chunk per message, flushed as it happens; a client that goes away ends the
//! stream (and the connection) at the next write or idle check.

use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use berth_api_types::container::{ContainerWaitError, ContainerWaitResponse, CpuStats, Stats};
use berth_api_types::Filters;
use berth_engine::api::{LogsOptions, StdStream, WaitCondition};
use berth_engine::EngineError;
use berth_types::time::{format_rfc3339, Precision};
use serde::Serialize;

use super::{json, Ctx, HandlerResult, Reply};
use crate::error::ApiError;
use crate::hijack::RAW_STREAM;
use crate::http::Chunked;
use crate::time;

/// How often a quiet stream checks whether its client is still there.
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// Log output is batched up to this much when not following.
const LOG_BATCH: usize = 32 * 1024;

fn time_param(ctx: &Ctx<'_>, key: &str) -> Result<i64, ApiError> {
    match ctx.query().non_empty(key) {
        None => Ok(0),
        Some(v) => time::parse_timestamp(v)
            .map_err(|e| ApiError::bad(format!("invalid value for query parameter {key}: {e}"))),
    }
}

fn json_line<T: Serialize>(value: &T) -> Vec<u8> {
    let mut line = serde_json::to_vec(value).unwrap_or_default();
    line.push(b'\n');
    line
}

fn finish(out: Chunked<'_>) -> HandlerResult {
    Ok(if out.finish().is_ok() {
        Reply::Written
    } else {
        Reply::Close
    })
}

/// `GET /containers/{id}/logs`.
pub fn logs(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    let q = ctx.query();
    let (stdout, stderr) = (q.bool("stdout"), q.bool("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::bad(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let tail = match q.non_empty("tail") {
        None | Some("all") => None,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n >= 0 => Some(n as usize),
            Ok(_) => None,
            Err(_) => {
                return Err(ApiError::bad(format!(
                    "invalid value for query parameter tail: {v:?} (expected \"all\" or a number)"
                )))
            }
        },
    };
    let follow = q.bool("follow");
    let timestamps = q.bool("timestamps");
    let opts = LogsOptions {
        follow,
        stdout,
        stderr,
        since_nanos: time_param(ctx, "since")?,
        until_nanos: time_param(ctx, "until")?,
        tail,
    };
    let (entries, tty) = ctx.engine.container_logs(id, opts)?;
    let Ok(mut out) = crate::http::chunked(&mut ctx.conn.sock, 200, RAW_STREAM, &[]) else {
        return Ok(Reply::Close);
    };
    let mut batch: Vec<u8> = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                crate::error!("reading the log of container {id}: {e}");
                break;
            }
        };
        let stamp =
            timestamps.then(|| format_rfc3339(i128::from(entry.time_nanos), Precision::NanosFixed));
        let len = entry.bytes.len() + stamp.as_ref().map_or(0, |s| s.len() + 1);
        if !tty {
            let kind = match entry.stream {
                StdStream::Stdout => 1u8,
                StdStream::Stderr => 2u8,
            };
            batch.extend_from_slice(&[kind, 0, 0, 0]);
            batch.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
        }
        if let Some(s) = stamp {
            batch.extend_from_slice(s.as_bytes());
            batch.push(b' ');
        }
        batch.extend_from_slice(&entry.bytes);
        if follow || batch.len() >= LOG_BATCH {
            if out.send(&batch).is_err() {
                return Ok(Reply::Close);
            }
            batch.clear();
        }
    }
    if out.send(&batch).is_err() {
        return Ok(Reply::Close);
    }
    finish(out)
}

/// `GET /events`.
pub fn events(ctx: &mut Ctx<'_>) -> HandlerResult {
    let since = time_param(ctx, "since")?;
    let until = time_param(ctx, "until")?;
    let filters = Filters::from_query(ctx.query().get("filters").unwrap_or(""))?;
    let stream = ctx.engine.events(since, until, filters)?;
    let until = if stream.until_nanos != 0 {
        stream.until_nanos
    } else {
        until
    };
    let Ok(mut out) = crate::http::chunked(&mut ctx.conn.sock, 200, "application/json", &[]) else {
        return Ok(Reply::Close);
    };
    for ev in &stream.past {
        if out.send(&json_line(ev)).is_err() {
            return Ok(Reply::Close);
        }
    }
    if let Some(live) = stream.live {
        loop {
            let wait = if until > 0 {
                let left = until - time::now_nanos();
                if left <= 0 {
                    break;
                }
                Duration::from_nanos(left as u64).min(IDLE_CHECK)
            } else {
                IDLE_CHECK
            };
            match live.recv_timeout(wait) {
                Ok(ev) => {
                    let at = if ev.time_nano != 0 {
                        ev.time_nano
                    } else {
                        ev.time.saturating_mul(1_000_000_000)
                    };
                    if until > 0 && at > until {
                        break;
                    }
                    if out.send(&json_line(&ev)).is_err() {
                        return Ok(Reply::Close);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if out.socket().peer_closed() {
                        return Ok(Reply::Close);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    }
    finish(out)
}

/// The first sample's `preread`: Go's zero time.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn with_previous(mut sample: Stats, previous: Option<&Stats>) -> Stats {
    match previous {
        Some(p) => {
            sample.precpu_stats = p.cpu_stats.clone();
            sample.preread = p.read.clone();
        }
        None => {
            sample.precpu_stats = CpuStats::default();
            sample.preread = ZERO_TIME.to_string();
        }
    }
    sample
}

/// `GET /containers/{id}/stats`.
pub fn stats(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    let q = ctx.query();
    let stream = q.bool_or("stream", true);
    let one_shot = q.bool("one-shot");
    let first = ctx.engine.container_stats(id)?;
    if !stream {
        if one_shot {
            return json(200, &with_previous(first, None));
        }
        // Two samples apart, so the client can compute a CPU percentage.
        std::thread::sleep(Duration::from_millis(200));
        let second = ctx.engine.container_stats(id)?;
        return json(200, &with_previous(second, Some(&first)));
    }
    let engine = ctx.engine;
    let Ok(mut out) = crate::http::chunked(&mut ctx.conn.sock, 200, "application/json", &[]) else {
        return Ok(Reply::Close);
    };
    let mut previous: Option<Stats> = None;
    let mut current = first;
    loop {
        let doc = with_previous(current.clone(), previous.as_ref());
        if out.send(&json_line(&doc)).is_err() {
            return Ok(Reply::Close);
        }
        previous = Some(current);
        std::thread::sleep(Duration::from_secs(1));
        if out.socket().peer_closed() {
            return Ok(Reply::Close);
        }
        current = match engine.container_stats(id) {
            Ok(s) => s,
            Err(EngineError::NotFound(_)) => break,
            Err(e) => {
                crate::error!("stats of container {id}: {e}");
                break;
            }
        };
    }
    finish(out)
}

/// `POST /containers/{id}/wait`: the head goes out before waiting, as dockerd does,
/// so a client knows the wait is in place before it starts the container.
pub fn wait(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    let condition = match ctx.query().non_empty("condition") {
        None | Some("not-running") => WaitCondition::NotRunning,
        Some("next-exit") => WaitCondition::NextExit,
        Some("removed") => WaitCondition::Removed,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "invalid value for query parameter condition: {other:?} (expected not-running, next-exit or removed)"
            )))
        }
    };
    let waiter = ctx.engine.container_wait(id, condition)?;
    let Ok(mut out) = crate::http::chunked(&mut ctx.conn.sock, 200, "application/json", &[]) else {
        return Ok(Reply::Close);
    };
    let response = waiter().unwrap_or_else(|e| ContainerWaitResponse {
        status_code: -1,
        error: Some(ContainerWaitError {
            message: e.to_string(),
        }),
    });
    if out.send(&json_line(&response)).is_err() {
        return Ok(Reply::Close);
    }
    finish(out)
}
