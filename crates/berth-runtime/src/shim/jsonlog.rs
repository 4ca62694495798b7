//! Docker's json-file log driver: one JSON object per line,
//! `{"log":"…\n","stream":"stdout","time":"RFC3339 with nanoseconds"}`, written as
//! moby's `jsonlog` encoder escapes strings, rotated at a size into `F.1 … F.(N-1)`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// As Docker's log copier: a line longer than this is written in pieces, each piece
/// without a newline (a "partial" entry).
const MAX_LINE: usize = 16 * 1024;

/// Where a json-file log goes and when it rotates.
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub path: PathBuf,
    /// Rotate once the file has reached this many bytes; 0 never rotates.
    pub max_size: u64,
    /// Files kept, the live one included (Docker's max-file, at least 1).
    pub max_files: u32,
}

/// An open json-file log.
pub struct JsonLog {
    cfg: LogConfig,
    file: File,
    size: u64,
    /// Unterminated line per stream (stdout, stderr), joined with what comes next;
    /// allocated only when a line spans reads.
    pending: [Vec<u8>; 2],
}

fn open_append(p: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(p)
}

impl JsonLog {
    pub fn open(cfg: LogConfig) -> std::io::Result<JsonLog> {
        if let Some(dir) = cfg.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = open_append(&cfg.path)?;
        let size = file.metadata()?.len();
        Ok(JsonLog {
            cfg,
            file,
            size,
            pending: [Vec::new(), Vec::new()],
        })
    }

    /// Log a chunk of output from `stream` (1 stdout, 2 stderr): complete lines are
    /// written at once; a trailing partial line waits for the rest (or [`flush`]).
    pub fn write(&mut self, stream: u8, data: &[u8]) -> std::io::Result<()> {
        let i = usize::from(stream == 2);
        let mut rest = data;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(nl + 1);
            if self.pending[i].is_empty() {
                self.entry(stream, line)?;
            } else {
                let mut joined = std::mem::take(&mut self.pending[i]);
                joined.extend_from_slice(line);
                self.entry(stream, &joined)?;
            }
            rest = tail;
        }
        if !rest.is_empty() {
            self.pending[i].extend_from_slice(rest);
            while self.pending[i].len() >= MAX_LINE {
                let piece: Vec<u8> = self.pending[i].drain(..MAX_LINE).collect();
                self.entry(stream, &piece)?;
            }
        }
        if self.pending[i].is_empty() {
            self.pending[i] = Vec::new();
        }
        Ok(())
    }

    /// Write out the unterminated lines as partial entries (when the stream ends).
    pub fn flush(&mut self) -> std::io::Result<()> {
        for stream in [1u8, 2] {
            let p = std::mem::take(&mut self.pending[usize::from(stream == 2)]);
            if !p.is_empty() {
                self.entry(stream, &p)?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, stream: u8, line: &[u8]) -> std::io::Result<()> {
        let mut rec = Vec::with_capacity(line.len() + 80);
        rec.extend_from_slice(b"{\"log\":\"");
        escape(line, &mut rec);
        rec.extend_from_slice(if stream == 2 {
            b"\",\"stream\":\"stderr\",\"time\":\""
        } else {
            b"\",\"stream\":\"stdout\",\"time\":\""
        });
        rec.extend_from_slice(crate::state::now_rfc3339().as_bytes());
        rec.extend_from_slice(b"\"}\n");
        // As Docker: rotate before a write once the file has reached the limit.
        if self.cfg.max_size > 0 && self.size >= self.cfg.max_size {
            self.rotate()?;
        }
        self.file.write_all(&rec)?;
        self.size += rec.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let base = self.cfg.path.as_os_str().to_owned();
        let numbered = |n: u32| {
            let mut s = base.clone();
            s.push(format!(".{n}"));
            PathBuf::from(s)
        };
        let keep = self.cfg.max_files.max(1);
        if keep > 1 {
            let _ = std::fs::remove_file(numbered(keep - 1));
            for n in (1..keep - 1).rev() {
                let from = numbered(n);
                if from.exists() {
                    std::fs::rename(&from, numbered(n + 1))?;
                }
            }
            std::fs::rename(&self.cfg.path, numbered(1))?;
            self.file = open_append(&self.cfg.path)?;
        } else {
            self.file.set_len(0)?;
        }
        self.size = 0;
        Ok(())
    }
}

/// Escape bytes as a JSON string body the way moby's jsonlog does: invalid UTF-8
/// becomes U+FFFD, control characters `\u00XX` (`\n`, `\r`, `\t` short), and `<`, `>`,
/// `&`, U+2028 and U+2029 are escaped as Go's encoder does.
pub fn escape(bytes: &[u8], out: &mut Vec<u8>) {
    for ch in String::from_utf8_lossy(bytes).chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.extend_from_slice(format!("\\u{:04x}", ch as u32).as_bytes())
            }
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(p: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    }

    #[test]
    fn escapes_as_go_does() {
        let mut v = Vec::new();
        escape(b"a\"b\\<x>&\x01\t\n\xff", &mut v);
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "a\\\"b\\\\\\u003cx\\u003e\\u0026\\u0001\\t\\n\u{fffd}"
        );
    }

    #[test]
    fn lines_streams_and_partials() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut l = JsonLog::open(LogConfig {
            path: p.clone(),
            max_size: 0,
            max_files: 1,
        })
        .unwrap();
        l.write(1, b"one\ntw").unwrap();
        l.write(2, b"err\n").unwrap();
        l.write(1, b"o\nlast").unwrap();
        l.flush().unwrap();
        let v = lines(&p);
        let got: Vec<(&str, &str)> = v
            .iter()
            .map(|e| (e["log"].as_str().unwrap(), e["stream"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("one\n", "stdout"),
                ("err\n", "stderr"),
                ("two\n", "stdout"),
                ("last", "stdout")
            ]
        );
        let t = v[0]["time"].as_str().unwrap();
        assert_eq!(t.len(), "2026-11-22T16:00:00.123456789Z".len(), "{t}");
        assert!(t.ends_with('Z'));
    }

    #[test]
    fn rotates_into_numbered_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut l = JsonLog::open(LogConfig {
            path: p.clone(),
            max_size: 100,
            max_files: 3,
        })
        .unwrap();
        for i in 0..20 {
            l.write(1, format!("line {i}\n").as_bytes()).unwrap();
        }
        let cur = lines(&p);
        let one = lines(&d.path().join("c-json.log.1"));
        let two = lines(&d.path().join("c-json.log.2"));
        assert!(!d.path().join("c-json.log.3").exists());
        assert!(!one.is_empty() && !two.is_empty() && !cur.is_empty());
        assert_eq!(cur.last().unwrap()["log"], "line 19\n");
        // Files are in order: .2 is older than .1, which is older than the live one.
        let first = |v: &[serde_json::Value]| v[0]["log"].as_str().unwrap().to_string();
        let n = |s: String| s[5..s.len() - 1].parse::<u32>().unwrap();
        assert!(n(first(&two)) < n(first(&one)) && n(first(&one)) < n(first(&cur)));
        // Nothing older than max-files is kept: the oldest lines are gone.
        assert!(n(first(&two)) > 0);
    }
}
