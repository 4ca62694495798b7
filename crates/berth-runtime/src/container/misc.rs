//! The smaller commands: pause, resume, ps, list, update, events.

use super::{Container, Global};
use crate::error::{Context, Result, RuntimeError};
use crate::state::Status;
use std::io::Write;

pub fn pause(g: &Global, id: &str) -> Result<()> {
    let c = Container::load(g, id)?;
    match c.status() {
        Status::Running | Status::Created => c.cgroup()?.freeze().map_err(Into::into),
        s => Err(c.bad_state(s, "container not running")),
    }
}

pub fn resume(g: &Global, id: &str) -> Result<()> {
    let c = Container::load(g, id)?;
    match c.status() {
        Status::Paused => c.cgroup()?.thaw().map_err(Into::into),
        s => Err(c.bad_state(s, "container not paused")),
    }
}

/// `ps`: JSON prints the pids; table runs the host's `ps` with `ps_args` and keeps the
/// header plus the container's rows.
pub fn ps(g: &Global, id: &str, json: bool, ps_args: &[String], out: &mut dyn Write) -> Result<()> {
    let c = Container::load(g, id)?;
    let mut pids = c.cgroup()?.pids()?;
    pids.sort_unstable();
    if json {
        writeln!(out, "{}", serde_json::to_string(&pids).unwrap_or_default())
            .ctx(|| "writing output".into())?;
        return Ok(());
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let o = std::process::Command::new("ps")
        .args(&args)
        .output()
        .ctx(|| format!("running ps {}", args.join(" ")))?;
    if !o.status.success() {
        return Err(RuntimeError::Usage(format!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&o.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| RuntimeError::Usage("ps output has no PID column".into()))?;
    writeln!(out, "{header}").ctx(|| "writing output".into())?;
    for l in lines {
        if let Some(p) = l
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok())
        {
            if pids.contains(&p) {
                writeln!(out, "{l}").ctx(|| "writing output".into())?;
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    Table,
    Json,
    Quiet,
}

pub fn list(g: &Global, format: ListFormat, out: &mut dyn Write) -> Result<()> {
    let mut rows = Vec::new();
    for id in g.root.list()? {
        if let Ok(c) = Container::load(g, &id) {
            rows.push(c);
        }
    }
    let w = |e: std::io::Error| RuntimeError::Io {
        context: "writing output".into(),
        source: e,
    };
    match format {
        ListFormat::Quiet => {
            for c in rows {
                writeln!(out, "{}", c.state.id).map_err(w)?;
            }
        }
        ListFormat::Json => {
            let v: Vec<serde_json::Value> = rows.iter().map(|c| c.oci_state()).collect();
            writeln!(out, "{}", serde_json::to_string(&v).unwrap_or_default()).map_err(w)?;
        }
        ListFormat::Table => {
            writeln!(
                out,
                "{:<12} {:<10} {:<10} {:<40} {:<30} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            )
            .map_err(w)?;
            for c in rows {
                let s = c.status();
                let pid = if s == Status::Stopped { 0 } else { c.state.pid };
                writeln!(
                    out,
                    "{:<12} {:<10} {:<10} {:<40} {:<30} {}",
                    c.state.id,
                    pid,
                    s.as_str(),
                    c.state.bundle.display(),
                    c.state.created,
                    if c.state.owner.is_empty() {
                        "root"
                    } else {
                        &c.state.owner
                    }
                )
                .map_err(w)?;
            }
        }
    }
    Ok(())
}

/// Apply new resource limits to a running container and remember them.
pub fn update(g: &Global, id: &str, r: &oci_spec::runtime::LinuxResources) -> Result<()> {
    let mut c = Container::load(g, id)?;
    let s = c.status();
    if s == Status::Stopped {
        return Err(c.bad_state(s, "container not running"));
    }
    c.cgroup()?.apply(r)?;
    // Merge into the saved config so later reads see the new limits.
    if let Some(linux) = c.spec.linux_mut() {
        let mut merged = linux.resources().clone().unwrap_or_default();
        if r.memory().is_some() {
            merged.set_memory(*r.memory());
        }
        if r.cpu().is_some() {
            merged.set_cpu(r.cpu().clone());
        }
        if r.pids().is_some() {
            merged.set_pids(*r.pids());
        }
        if r.block_io().is_some() {
            merged.set_block_io(r.block_io().clone());
        }
        if r.unified().is_some() {
            merged.set_unified(r.unified().clone());
        }
        linux.set_resources(Some(merged));
    }
    let data = serde_json::to_vec(&c.spec).unwrap_or_default();
    crate::state::write_atomic(&c.dir.join("config.json"), &data)
}

/// `events`: one stats record with `stats_once`, else one every `interval` until the
/// container stops.
pub fn events(
    g: &Global,
    id: &str,
    stats_once: bool,
    interval: std::time::Duration,
    out: &mut dyn Write,
) -> Result<()> {
    loop {
        let c = Container::load(g, id)?;
        if c.status() == Status::Stopped {
            return Err(c.bad_state(Status::Stopped, "container not running"));
        }
        let stats = c.cgroup()?.stats()?;
        let v = serde_json::json!({"type": "stats", "id": id, "data": stats});
        writeln!(out, "{v}").ctx(|| "writing output".into())?;
        out.flush().ctx(|| "writing output".into())?;
        if stats_once {
            return Ok(());
        }
        std::thread::sleep(interval);
    }
}
