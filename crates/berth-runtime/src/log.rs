//! The runtime's log (`--log`, `--log-format text|json`): errors and warnings as runc
//! writes them, which containerd reads back to report why a command failed.

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

struct Config {
    path: Option<PathBuf>,
    json: bool,
    debug: bool,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

/// Configure the log once, from the global flags.
pub fn init(path: Option<PathBuf>, json: bool, debug: bool) {
    let _ = CONFIG.set(Config { path, json, debug });
}

fn write(level: &str, msg: &str) {
    let Some(c) = CONFIG.get() else {
        let _ = writeln!(std::io::stderr(), "{level}: {msg}");
        return;
    };
    if level == "debug" && !c.debug {
        return;
    }
    let time = crate::state::now_rfc3339();
    let line = if c.json {
        serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
    } else {
        format!("time=\"{time}\" level={level} msg={msg:?}")
    };
    match &c.path {
        Some(p) => {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
            {
                let _ = writeln!(f, "{line}");
            }
        }
        None => {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}

pub fn error(msg: &str) {
    write("error", msg);
}

pub fn warn(msg: &str) {
    write("warning", msg);
}

pub fn debug(msg: &str) {
    write("debug", msg);
}

/// Whether errors also go to a log file (then stderr gets a plain copy too).
pub fn has_file() -> bool {
    CONFIG.get().is_some_and(|c| c.path.is_some())
}
