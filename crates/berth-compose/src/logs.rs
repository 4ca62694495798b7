//! Several containers' logs on one output, each line behind its container's name in
//! the container's colour (`shop-web-1  | GET /`), as `compose logs` and attached
//! `up` print them.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use berth_client::{Client, LogsOptions};

use crate::state::Existing;

/// The colours docker compose cycles through (ANSI SGR codes).
const COLOURS: [&str; 10] = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

/// Where the lines go, and how they are prefixed.
#[derive(Clone)]
pub struct LogOutput {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    colour: bool,
    prefix: bool,
    width: usize,
}

impl LogOutput {
    pub fn new(out: Box<dyn Write + Send>, colour: bool, prefix: bool, names: &[&str]) -> Self {
        LogOutput {
            out: Arc::new(Mutex::new(out)),
            colour,
            prefix,
            width: names.iter().map(|n| n.len()).max().unwrap_or(0),
        }
    }

    /// A writer that prefixes every complete line with `name`'s prefix; `index`
    /// picks the colour.
    pub fn writer(&self, name: &str, index: usize) -> LineWriter {
        let prefix = if !self.prefix {
            String::new()
        } else if self.colour {
            let c = COLOURS[index % COLOURS.len()];
            format!("\x1b[{c}m{name:<w$}  |\x1b[0m ", w = self.width)
        } else {
            format!("{name:<w$}  | ", w = self.width)
        };
        LineWriter {
            out: self.clone(),
            prefix,
            pending: Vec::new(),
        }
    }

    /// One line as it is (no prefix): "shop-web-1 exited with code 0".
    pub fn line(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

/// Buffers partial lines; writes whole ones with the prefix.
pub struct LineWriter {
    out: LogOutput,
    prefix: String,
    pending: Vec<u8>,
}

impl LineWriter {
    fn emit(&mut self, line: &[u8]) -> io::Result<()> {
        let mut out = self.out.out.lock().unwrap_or_else(|e| e.into_inner());
        out.write_all(self.prefix.as_bytes())?;
        out.write_all(line)?;
        out.write_all(b"\n")?;
        out.flush()
    }
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            let line = &line[..line.len() - 1];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.emit(line)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            let _ = self.emit(&rest);
        }
    }
}

/// Copies one container's logs (until they end: with `follow`, when it stops).
pub fn copy_logs(
    client: &Client,
    c: &Existing,
    opts: &LogsOptions,
    output: &LogOutput,
    index: usize,
) -> io::Result<()> {
    let tty = client
        .inspect_container(&c.id, false)
        .map_err(|e| io::Error::other(e.to_string()))?
        .config
        .is_some_and(|c| c.tty);
    let resp = client
        .logs(&c.id, opts)
        .map_err(|e| io::Error::other(e.to_string()))?;
    let mut out = output.writer(&c.name, index);
    let mut err = output.writer(&c.name, index);
    if tty {
        berth_client::copy_raw(resp.body, &mut out)
    } else {
        berth_client::demux_to(resp.body, &mut out, &mut err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_get_aligned_prefixes() {
        let sink = Sink::default();
        let out = LogOutput::new(Box::new(sink.clone()), false, true, &["p-db-1", "p-app-10"]);
        {
            let mut w = out.writer("p-db-1", 0);
            w.write_all(b"one\ntw").unwrap();
            w.write_all(b"o\r\nthree").unwrap();
        }
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "p-db-1    | one\np-db-1    | two\np-db-1    | three\n"
        );
        let coloured = LogOutput::new(Box::new(sink.clone()), true, true, &["a"]);
        let w = coloured.writer("a", 1);
        assert_eq!(w.prefix, "\x1b[33ma  |\x1b[0m ");
    }
}
