//! `docker top`: the host's `ps` output, restricted to a container's processes.
//!
//! As dockerd does, berth runs the host's procps `ps` with the user's arguments (never
//! anything from the container's filesystem), finds the PID column in the header and
//! keeps the rows of the container's processes. Columns are split on whitespace, but
//! the last one (CMD or COMMAND) keeps its inner spaces.

use std::path::Path;
use std::process::Command;

use berth_api_types::container::ContainerTopResponse;

use crate::api::{EngineError, EngineResult};

/// The arguments `docker top` uses when given none.
pub const DEFAULT_PS_ARGS: &str = "-ef";

/// Runs the host's `ps` (`-ef` unless `ps_args` is given) and keeps the rows whose PID
/// column is one of `pids`. Bad `ps_args` are a BadParameter error naming them.
pub fn top(pids: &[i32], ps_args: Option<&str>) -> EngineResult<ContainerTopResponse> {
    let args = match ps_args.map(str::trim) {
        Some(a) if !a.is_empty() => a.to_string(),
        _ => DEFAULT_PS_ARGS.to_string(),
    };
    let ps = ps_binary();
    let out = Command::new(ps)
        .args(args.split_whitespace())
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| EngineError::internal(format!("running {ps} {args}"), e))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(EngineError::BadParameter(format!(
            "ps {args} failed ({}): {}",
            out.status,
            stderr.trim()
        )));
    }
    parse_ps(&String::from_utf8_lossy(&out.stdout), pids)
}

/// procps' `ps` at its usual place, else whatever `ps` is on PATH.
fn ps_binary() -> &'static str {
    ["/bin/ps", "/usr/bin/ps"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .unwrap_or("ps")
}

/// Splits `ps` output into titles and the rows of `pids`.
pub fn parse_ps(output: &str, pids: &[i32]) -> EngineResult<ContainerTopResponse> {
    let mut lines = output.lines();
    let header = lines.next().unwrap_or("");
    let titles: Vec<String> = header.split_whitespace().map(str::to_string).collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| EngineError::BadParameter("Couldn't find PID field in ps output".into()))?;
    let mut processes = Vec::new();
    for line in lines {
        let row = split_row(line, titles.len());
        let Some(pid) = row.get(pid_col).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if pids.contains(&pid) {
            processes.push(row);
        }
    }
    Ok(ContainerTopResponse { titles, processes })
}

/// The first `columns - 1` whitespace-separated fields, then the rest of the line.
fn split_row(line: &str, columns: usize) -> Vec<String> {
    let mut row = Vec::with_capacity(columns);
    let mut rest = line.trim_start();
    while row.len() + 1 < columns && !rest.is_empty() {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        row.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
    }
    if !rest.is_empty() {
        row.push(rest.trim_end().to_string());
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_the_command_whole() {
        let out = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                   root           1       0  0 10:00 ?        00:00:01 /sbin/init splash\n\
                   root          42       1  0 10:01 pts/0    00:00:00 sh -c  echo  hi\n";
        let t = parse_ps(out, &[42]).unwrap();
        assert_eq!(t.titles.len(), 8);
        assert_eq!(t.processes.len(), 1);
        assert_eq!(t.processes[0][1], "42");
        assert_eq!(t.processes[0][7], "sh -c  echo  hi");
        let none = parse_ps(out, &[7]).unwrap();
        assert!(none.processes.is_empty());
    }

    #[test]
    fn no_pid_column_is_an_error() {
        let e = parse_ps("COMMAND\nsh\n", &[1]).unwrap_err();
        assert_eq!(e.status(), 400);
        assert_eq!(e.to_string(), "Couldn't find PID field in ps output");
    }
}
