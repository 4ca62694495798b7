//! `GET /containers/{id}/logs`: the json-file log (`<id>-json.log` and its rotated
//! `.N` files, oldest first) as entries, with since/until/tail, and with `follow` new
//! entries as they are written — surviving rotation — until the container stops and
//! the file is drained.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{Container, Inner};
use crate::api::{EngineError, EngineResult, LogEntry, LogStream, LogsOptions, StdStream};
use crate::timefmt::{now_nanos, parse_rfc3339};

#[derive(serde::Deserialize)]
struct Line {
    log: String,
    stream: String,
    time: String,
}

/// One json-file line → an entry (None for a line that is not one).
fn parse_line(line: &[u8]) -> Option<LogEntry> {
    let l: Line = serde_json::from_slice(line).ok()?;
    Some(LogEntry {
        stream: if l.stream == "stderr" {
            StdStream::Stderr
        } else {
            StdStream::Stdout
        },
        time_nanos: parse_rfc3339(&l.time).unwrap_or(0),
        bytes: l.log.into_bytes(),
    })
}

/// The log files of `path`, oldest first: `path.N`, …, `path.1`, `path`.
fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut rotated = Vec::new();
    for n in 1.. {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{n}"));
        let p = PathBuf::from(p);
        if !p.exists() {
            break;
        }
        rotated.push(p);
    }
    rotated.reverse();
    rotated.push(path.to_path_buf());
    rotated
}

struct Follower {
    c: Arc<Container>,
    path: PathBuf,
    opts: LogsOptions,
    pending: VecDeque<LogEntry>,
    /// The live file being followed and its inode.
    file: Option<(File, u64)>,
    partial: Vec<u8>,
    done: bool,
}

impl Follower {
    fn wanted(&self, e: &LogEntry) -> bool {
        let s = match e.stream {
            StdStream::Stdout => self.opts.stdout,
            StdStream::Stderr => self.opts.stderr,
        };
        s && e.time_nanos >= self.opts.since_nanos
            && (self.opts.until_nanos == 0 || e.time_nanos <= self.opts.until_nanos)
    }

    /// Reads what is new in the live file; true if anything was read.
    fn read_more(&mut self) -> bool {
        let Some((f, _)) = self.file.as_mut() else {
            return false;
        };
        let mut buf = [0u8; 16 * 1024];
        let mut any = false;
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    any = true;
                    self.partial.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            if let Some(e) = parse_line(&line) {
                if self.opts.until_nanos != 0 && e.time_nanos > self.opts.until_nanos {
                    self.done = true;
                }
                if self.wanted(&e) {
                    self.pending.push_back(e);
                }
            }
        }
        any
    }

    /// Whether the file at `path` is no longer the one we read (rotated).
    fn rotated(&self) -> bool {
        match (&self.file, std::fs::metadata(&self.path)) {
            (Some((_, ino)), Ok(md)) => md.ino() != *ino,
            (None, Ok(_)) => true,
            _ => false,
        }
    }

    fn reopen(&mut self) {
        self.partial.clear();
        self.file = File::open(&self.path)
            .ok()
            .and_then(|f| f.metadata().ok().map(|m| (f, m.ino())));
    }

    fn running(&self) -> bool {
        let g = self.c.lock();
        !g.removed
            && (g.rec.state.status.is_running()
                || g.rec.state.status == crate::store::Status::Restarting)
    }
}

impl Iterator for Follower {
    type Item = EngineResult<LogEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(Ok(e));
            }
            if self.done || !self.opts.follow {
                return None;
            }
            if self.opts.until_nanos != 0 && now_nanos() > self.opts.until_nanos {
                return None;
            }
            let was_running = self.running();
            if self.read_more() {
                continue;
            }
            if self.rotated() {
                // Drained the old file above; continue with the new one.
                self.reopen();
                continue;
            }
            if !was_running {
                // Stopped before this last read found nothing: everything is out.
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Inner {
    /// `GET /containers/{id}/logs`.
    pub fn logs(self: &Arc<Self>, r: &str, opts: LogsOptions) -> EngineResult<(LogStream, bool)> {
        let c = self.get(r)?;
        let rec = c.record();
        if rec.host_config.log_config.kind == "none" {
            return Err(EngineError::BadParameter(
                "configured logging driver does not support reading".into(),
            ));
        }
        let mut f = Follower {
            c: c.clone(),
            path: rec.log_path.clone(),
            opts: opts.clone(),
            pending: VecDeque::new(),
            file: None,
            partial: Vec::new(),
            done: false,
        };
        let files = log_files(&rec.log_path);
        let last = files.len() - 1;
        for (i, p) in files.into_iter().enumerate() {
            if i == last {
                // The live file stays open for following.
                f.path = p;
                f.reopen();
                f.read_more();
            } else if let Ok(data) = std::fs::read(&p) {
                for line in data.split(|b| *b == b'\n') {
                    if let Some(e) = parse_line(line) {
                        if f.wanted(&e) {
                            f.pending.push_back(e);
                        }
                    }
                }
            }
        }
        if let Some(n) = opts.tail {
            while f.pending.len() > n {
                f.pending.pop_front();
            }
        }
        Ok((Box::new(f), rec.config.tty))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_files() {
        let e = parse_line(br#"{"log":"hi\n","stream":"stderr","time":"2026-11-22T16:00:00.5Z"}"#)
            .unwrap();
        assert_eq!(e.stream, StdStream::Stderr);
        assert_eq!(e.bytes, b"hi\n");
        assert_eq!(e.time_nanos, 1_795_363_200_500_000_000);
        assert!(parse_line(b"garbage").is_none());
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x-json.log");
        for f in ["x-json.log", "x-json.log.1", "x-json.log.2"] {
            std::fs::write(d.path().join(f), "").unwrap();
        }
        let files = log_files(&p);
        assert_eq!(files[0], d.path().join("x-json.log.2"));
        assert_eq!(files[2], p);
    }
}
