//! Showing a pull's progress messages as docker does: on a terminal, a line per layer
//! with a progress bar (indicatif) under the image's own lines; elsewhere, plain
//! `ID: STATUS` lines without the byte-by-byte ones (`Downloading`, `Extracting`).
//! Either way, an `errorDetail` ends the display as the command's error.

use std::collections::HashMap;
use std::io::Write;

use berth_api_types::image::JsonMessage;
use berth_client::JsonStream;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::CliError;

/// How to show progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// Bars on a terminal.
    Bars,
    /// `ID: STATUS` lines.
    Lines,
    /// Nothing (errors still end the command).
    Quiet,
}

impl Display {
    /// Nothing with `-q`; bars on a terminal; lines elsewhere.
    pub fn choose(quiet: bool, terminal: bool) -> Display {
        if quiet {
            Display::Quiet
        } else if terminal {
            Display::Bars
        } else {
            Display::Lines
        }
    }
}

/// The error a message carries, if any.
fn failure(m: &JsonMessage) -> Option<String> {
    match &m.error_detail {
        Some(e) if !e.message.is_empty() => Some(e.message.clone()),
        _ => (!m.error.is_empty()).then(|| m.error.clone()),
    }
}

/// A plain line for a message, or None for the ones docker leaves out off a terminal.
pub fn plain_line(m: &JsonMessage) -> Option<String> {
    if !m.stream.is_empty() {
        return Some(m.stream.clone());
    }
    if m.status.is_empty()
        || m.progress_detail
            .as_ref()
            .is_some_and(|d| d.total > 0 || d.current > 0)
    {
        return None;
    }
    Some(if m.id.is_empty() {
        format!("{}\n", m.status)
    } else {
        format!("{}: {}\n", m.id, m.status)
    })
}

fn bar_style(with_bar: bool) -> ProgressStyle {
    let t = if with_bar {
        "{prefix}: {msg:<12} [{bar:40.cyan/blue}] {bytes:>9}/{total_bytes}"
    } else {
        "{prefix}: {msg}"
    };
    ProgressStyle::with_template(t)
        .expect("a valid template")
        .progress_chars("=> ")
}

/// Shows a progress stream; returns when it ends, or with its error.
pub fn show(
    stream: JsonStream<JsonMessage>,
    out: &mut dyn Write,
    how: Display,
) -> Result<(), CliError> {
    let multi = (how == Display::Bars)
        .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
    let mut bars: HashMap<String, ProgressBar> = HashMap::new();
    let result = (|| {
        for msg in stream {
            let msg = msg?;
            if let Some(e) = failure(&msg) {
                return Err(CliError::msg(e));
            }
            match (&multi, how) {
                (_, Display::Quiet) => {}
                (Some(mp), _) if !msg.id.is_empty() && msg.stream.is_empty() => {
                    let bar = bars.entry(msg.id.clone()).or_insert_with(|| {
                        let b = mp.add(ProgressBar::new(0));
                        b.set_style(bar_style(false));
                        b.set_prefix(msg.id.clone());
                        b
                    });
                    match &msg.progress_detail {
                        Some(d) if d.total > 0 => {
                            bar.set_style(bar_style(true));
                            bar.set_length(u64::try_from(d.total).unwrap_or(0));
                            bar.set_position(u64::try_from(d.current).unwrap_or(0));
                        }
                        _ => bar.set_style(bar_style(false)),
                    }
                    bar.set_message(msg.status.clone());
                }
                (Some(mp), _) => {
                    if let Some(l) = plain_line(&msg) {
                        let _ = mp.println(l.trim_end());
                    }
                }
                (None, _) => {
                    if let Some(l) = plain_line(&msg) {
                        out.write_all(l.as_bytes())
                            .map_err(CliError::io("writing output"))?;
                        let _ = out.flush();
                    }
                }
            }
        }
        Ok(())
    })();
    for b in bars.values() {
        b.abandon();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api_types::image::ProgressDetail;

    #[test]
    fn plain_lines_leave_out_byte_progress() {
        let m = |id: &str, status: &str, d: Option<(i64, i64)>| JsonMessage {
            id: id.into(),
            status: status.into(),
            progress_detail: d.map(|(current, total)| ProgressDetail { current, total }),
            ..JsonMessage::default()
        };
        assert_eq!(
            plain_line(&m("latest", "Pulling from library/busybox", None)).as_deref(),
            Some("latest: Pulling from library/busybox\n")
        );
        assert_eq!(plain_line(&m("abc", "Downloading", Some((5, 10)))), None);
        assert_eq!(
            plain_line(&m("", "Digest: sha256:x", None)).as_deref(),
            Some("Digest: sha256:x\n")
        );
        assert_eq!(
            plain_line(&m("abc", "Pull complete", Some((0, 0)))).as_deref(),
            Some("abc: Pull complete\n")
        );
    }
}
