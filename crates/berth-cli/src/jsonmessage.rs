//! A stream of JSON messages shown as the docker CLI's `jsonmessage` package shows
//! it (`DisplayJSONMessagesStream`): `stream` text verbatim, `status` lines, and —
//! on a terminal only — progress bars kept one line per `id`, redrawn in place with
//! cursor movements. Off a terminal, messages carrying byte progress are left out.
//! The build uses it, as the docker CLI does, for the daemon's output.

use std::collections::HashMap;
use std::io::{self, Write};

use berth_api_types::image::{JsonMessage, ProgressDetail};

use crate::units::human_size;

/// Shows messages one after another on `out`.
pub struct Display<'a> {
    out: &'a mut dyn Write,
    terminal: bool,
    /// Terminal columns (a progress bar is drawn only when wider than 110).
    width: u16,
    /// The line, counted from the first progress line, of each id being drawn.
    ids: HashMap<String, usize>,
}

impl<'a> Display<'a> {
    /// `terminal`: whether the output is a terminal of `width` columns.
    pub fn new(out: &'a mut dyn Write, terminal: bool, width: u16) -> Display<'a> {
        Display {
            out,
            terminal,
            width,
            ids: HashMap::new(),
        }
    }

    /// Writes `bytes` as they are (a line of the CLI's own among the messages).
    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.out.flush()
    }

    /// Shows one message (`aux` ones and failures are the caller's business: they
    /// are not shown).
    pub fn message(&mut self, m: &JsonMessage) -> io::Result<()> {
        if m.aux.is_some() {
            return Ok(());
        }
        let mut diff = 0;
        if !m.id.is_empty() && (m.progress_detail.is_some() || !m.progress.is_empty()) {
            let n = self.ids.len();
            let line = *self.ids.entry(m.id.clone()).or_insert(n);
            if line == n && self.terminal {
                self.out.write_all(b"\n")?;
            }
            diff = self.ids.len() - line;
            if self.terminal && diff > 0 {
                write!(self.out, "\x1b[{diff}A")?;
            }
        } else {
            // Anything else ends the block of progress lines being redrawn.
            self.ids.clear();
        }
        self.display(m)?;
        if !m.id.is_empty() && self.terminal && diff > 0 {
            write!(self.out, "\x1b[{diff}B")?;
        }
        self.out.flush()
    }

    /// jsonmessage's `JSONMessage.Display`.
    fn display(&mut self, m: &JsonMessage) -> io::Result<()> {
        let bar = m
            .progress_detail
            .as_ref()
            .map(|d| progress_string(d, self.width))
            .unwrap_or_default();
        let mut endl = "";
        if self.terminal && m.stream.is_empty() && m.progress_detail.is_some() {
            // Clear the line, back to its start.
            self.out.write_all(b"\x1b[2K\r")?;
            endl = "\r";
        } else if m.progress_detail.is_some() && !bar.is_empty() {
            // No progress bars off a terminal.
            return Ok(());
        }
        if !m.id.is_empty() {
            write!(self.out, "{}: ", m.id)?;
        }
        if !m.from.is_empty() {
            write!(self.out, "(from {}) ", m.from)?;
        }
        if m.progress_detail.is_some() && self.terminal {
            write!(self.out, "{} {bar}{endl}", m.status)
        } else if !m.progress.is_empty() {
            write!(self.out, "{} {}{endl}", m.status, m.progress)
        } else if !m.stream.is_empty() {
            write!(self.out, "{}{endl}", m.stream)
        } else {
            writeln!(self.out, "{}{endl}", m.status)
        }
    }
}

/// jsonmessage's `JSONProgress.String()`: the bar (on a terminal wider than 110
/// columns) and the byte counts; nothing when there is nothing to count.
pub fn progress_string(d: &ProgressDetail, width: u16) -> String {
    if d.current <= 0 && d.total <= 0 {
        return String::new();
    }
    let current = human_size(d.current as f64);
    if d.total <= 0 {
        return format!("{current:>8}");
    }
    let percentage = ((d.current as f64 / d.total as f64 * 100.0) as i64 / 2).clamp(0, 50) as usize;
    let bar = if width > 110 {
        format!(
            "[{}>{}] ",
            "=".repeat(percentage),
            " ".repeat(50 - percentage)
        )
    } else {
        String::new()
    };
    let numbers = if d.current > d.total {
        format!("{current:>8}")
    } else {
        format!("{current:>8}/{}", human_size(d.total as f64))
    };
    format!("{bar}{numbers}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(msgs: &[JsonMessage], terminal: bool) -> String {
        let mut out = Vec::new();
        let mut d = Display::new(&mut out, terminal, 200);
        for m in msgs {
            d.message(m).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    fn stream(s: &str) -> JsonMessage {
        JsonMessage {
            stream: s.into(),
            ..JsonMessage::default()
        }
    }

    fn pulling(id: &str, status: &str, current: i64, total: i64) -> JsonMessage {
        JsonMessage {
            id: id.into(),
            status: status.into(),
            progress_detail: Some(ProgressDetail { current, total }),
            ..JsonMessage::default()
        }
    }

    #[test]
    fn off_a_terminal_streams_verbatim_statuses_by_line_and_no_bars() {
        let got = show(
            &[
                stream("Step 1/2 : FROM busybox\n"),
                JsonMessage {
                    status: "Pulling from library/busybox".into(),
                    id: "latest".into(),
                    ..JsonMessage::default()
                },
                pulling("abc", "Downloading", 5, 10),
                pulling("abc", "Pull complete", 0, 0),
                JsonMessage {
                    aux: Some(serde_json::json!({"ID": "sha256:x"})),
                    ..JsonMessage::default()
                },
                stream(" ---> 0123\n"),
            ],
            false,
        );
        assert_eq!(
            got,
            "Step 1/2 : FROM busybox\nlatest: Pulling from library/busybox\nabc: Pull complete\n ---> 0123\n"
        );
    }

    #[test]
    fn on_a_terminal_progress_lines_are_redrawn_in_place() {
        let got = show(
            &[
                pulling("a", "Downloading", 512, 1024),
                pulling("b", "Waiting", 0, 0),
                pulling("a", "Downloading", 1024, 1024),
                stream("done\n"),
            ],
            true,
        );
        let bar = format!("[{}>{}] ", "=".repeat(25), " ".repeat(25));
        let full = format!("[{}>] ", "=".repeat(50));
        assert_eq!(
            got,
            format!(
                "\n\x1b[1A\x1b[2K\ra: Downloading {bar}    512B/1.024kB\r\x1b[1B\
                 \n\x1b[1A\x1b[2K\rb: Waiting \r\x1b[1B\
                 \x1b[2A\x1b[2K\ra: Downloading {full} 1.024kB/1.024kB\r\x1b[2B\
                 done\n"
            )
        );
    }

    #[test]
    fn progress_strings_as_docker_writes_them() {
        let d = |current, total| ProgressDetail { current, total };
        assert_eq!(progress_string(&d(0, 0), 200), "");
        assert_eq!(progress_string(&d(4608, 0), 200), " 4.608kB");
        assert_eq!(progress_string(&d(255, 0), 80), "    255B");
        assert_eq!(progress_string(&d(5, 10), 80), "      5B/10B");
        assert_eq!(progress_string(&d(20, 10), 80), "     20B");
    }
}
