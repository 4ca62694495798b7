//! The daemon's log: one `time=… level=… msg="…"` line per event on stderr, filtered
//! by `--log-level`. Small on purpose: the daemon logs little and must stay light.

use berth_types::time::{format_rfc3339, Precision};
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

/// Severity, most verbose first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
    Fatal = 4,
}

impl Level {
    /// Parses a `--log-level` value.
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "debug" => Level::Debug,
            "info" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" => Level::Error,
            "fatal" => Level::Fatal,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warning",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Sets the lowest level that is written.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Whether a line at `level` would be written (to skip building costly messages).
pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed)
}

/// Writes one line at `level`, if enabled.
pub fn log(level: Level, msg: &str) {
    if !enabled(level) {
        return;
    }
    let line = format_line(crate::time::now_nanos(), level, msg);
    // One write call per line, so lines from different threads never interleave.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

fn format_line(now_nanos: i64, level: Level, msg: &str) -> String {
    let mut line = String::with_capacity(msg.len() + 64);
    line.push_str("time=\"");
    line.push_str(&format_rfc3339(i128::from(now_nanos), Precision::Millis));
    line.push_str("\" level=");
    line.push_str(level.name());
    line.push_str(" msg=\"");
    for c in msg.chars() {
        match c {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            c if c.is_control() => line.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => line.push(c),
        }
    }
    line.push_str("\"\n");
    line
}

/// `debug!("…{}", x)`: formats only when debug lines are written.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::log::enabled($crate::log::Level::Debug) {
            $crate::log::log($crate::log::Level::Debug, &format!($($arg)*));
        }
    };
}

#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => {
        if $crate::log::enabled($crate::log::Level::Info) {
            $crate::log::log($crate::log::Level::Info, &format!($($arg)*));
        }
    };
}

#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {
        if $crate::log::enabled($crate::log::Level::Warn) {
            $crate::log::log($crate::log::Level::Warn, &format!($($arg)*));
        }
    };
}

#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => {
        if $crate::log::enabled($crate::log::Level::Error) {
            $crate::log::log($crate::log::Level::Error, &format!($($arg)*));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_logfmt_with_escaped_messages() {
        let line = format_line(0, Level::Warn, "bad \"name\"\nnext");
        assert_eq!(
            line,
            "time=\"1970-01-01T00:00:00.000Z\" level=warning msg=\"bad \\\"name\\\"\\nnext\"\n"
        );
    }

    #[test]
    fn levels_parse() {
        assert_eq!(Level::parse("debug"), Some(Level::Debug));
        assert_eq!(Level::parse("fatal"), Some(Level::Fatal));
        assert_eq!(Level::parse("loud"), None);
        assert!(Level::Error > Level::Info);
    }
}
