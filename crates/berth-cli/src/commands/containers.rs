//! Container commands that are one request or a few: ps, stop, restart, kill, rm,
//! logs, inspect, top, wait, pause/unpause, rename, update, port, prune.

use berth_api_types::container::{ContainerUpdateRequest, Resources};
use berth_client::{copy_raw, demux_to, ListContainersOptions, LogsOptions};

use super::{for_each, parse_filters};
use crate::cli::{
    CommitArgs, ContainerArg, ExportArgs, IdsArgs, InspectArgs, KillArgs, LogsArgs, PortArgs,
    PruneArgs, PsArgs, RenameArgs, RestartArgs, RmArgs, StopArgs, TopArgs, UpdateArgs,
};
use crate::create_opts::{memory_swap, nano_cpus, restart_policy};
use crate::format::{indent_json, inspect_array, render_ps};
use crate::template::{tabwriter::TabWriter, Template};
use crate::units::{get_timestamp, now_unix, ram_in_bytes};
use crate::{CliError, Ctx};

fn write(ctx: &mut Ctx<'_>, s: &str) -> Result<(), CliError> {
    ctx.out
        .write_all(s.as_bytes())
        .map_err(CliError::io("writing output"))
}

pub fn ps(ctx: &mut Ctx<'_>, a: &PsArgs) -> Result<i32, CliError> {
    let mut opts = ListContainersOptions {
        all: a.all,
        size: a.size,
        filters: parse_filters(&a.filter)?,
        limit: None,
    };
    if a.latest {
        opts.limit = Some(1);
    }
    if let Some(n) = a.last.filter(|n| *n > 0) {
        opts.limit = Some(n);
    }
    if opts.limit.is_some() {
        opts.all = true;
    }
    let list = ctx.client.list_containers(&opts)?;
    let text = render_ps(
        &list,
        a.format.as_deref(),
        a.quiet,
        a.size,
        !a.no_trunc,
        now_unix(),
    )?;
    write(ctx, &text)?;
    Ok(0)
}

pub fn stop(ctx: &mut Ctx<'_>, a: &StopArgs) -> Result<i32, CliError> {
    for_each(ctx, &a.containers, true, |c, id| {
        Ok(c.stop_container(id, a.time, a.signal.as_deref())?)
    })
}

pub fn restart(ctx: &mut Ctx<'_>, a: &RestartArgs) -> Result<i32, CliError> {
    for_each(ctx, &a.containers, true, |c, id| {
        Ok(c.restart_container(id, a.time)?)
    })
}

pub fn kill(ctx: &mut Ctx<'_>, a: &KillArgs) -> Result<i32, CliError> {
    for_each(ctx, &a.containers, true, |c, id| {
        Ok(c.kill_container(id, &a.signal)?)
    })
}

pub fn rm(ctx: &mut Ctx<'_>, a: &RmArgs) -> Result<i32, CliError> {
    for_each(ctx, &a.containers, true, |c, id| {
        if a.link {
            return Ok(c.remove_link(id)?);
        }
        Ok(c.remove_container(id, a.force, a.volumes)?)
    })
}

pub fn pause(ctx: &mut Ctx<'_>, a: &IdsArgs, pause: bool) -> Result<i32, CliError> {
    for_each(ctx, &a.containers, true, |c, id| {
        if pause {
            Ok(c.pause_container(id)?)
        } else {
            Ok(c.unpause_container(id)?)
        }
    })
}

pub fn wait(ctx: &mut Ctx<'_>, a: &IdsArgs) -> Result<i32, CliError> {
    let mut failed = false;
    for id in &a.containers {
        match ctx.client.wait_container(id, "").and_then(|h| h.result()) {
            Ok(r) => {
                writeln!(ctx.out, "{}", r.status_code).map_err(CliError::io("writing output"))?
            }
            Err(e) => {
                failed = true;
                let _ = writeln!(ctx.err, "{e}");
            }
        }
    }
    Ok(i32::from(failed))
}

pub fn rename(ctx: &mut Ctx<'_>, a: &RenameArgs) -> Result<i32, CliError> {
    let new = a.new_name.trim();
    if new.is_empty() {
        return Err(CliError::msg(
            "Error: Neither old nor new names may be empty",
        ));
    }
    ctx.client.rename_container(&a.container, new)?;
    Ok(0)
}

pub fn update(ctx: &mut Ctx<'_>, a: &UpdateArgs) -> Result<i32, CliError> {
    let size = |v: &Option<String>| -> Result<i64, CliError> {
        match v {
            Some(s) => Ok(ram_in_bytes(s).map_err(|e| CliError::msg(e.to_string()))?),
            None => Ok(0),
        }
    };
    let mut r = Resources {
        blkio_weight: a.blkio_weight.unwrap_or(0),
        cpu_period: a.cpu_period.unwrap_or(0),
        cpu_quota: a.cpu_quota.unwrap_or(0),
        cpu_shares: a.cpu_shares.unwrap_or(0),
        cpuset_cpus: a.cpuset_cpus.clone().unwrap_or_default(),
        cpuset_mems: a.cpuset_mems.clone().unwrap_or_default(),
        memory: size(&a.memory)?,
        memory_reservation: size(&a.memory_reservation)?,
        pids_limit: a.pids_limit,
        ..Resources::default()
    };
    if let Some(c) = &a.cpus {
        r.nano_cpus = nano_cpus(c)?;
    }
    if let Some(s) = &a.memory_swap {
        r.memory_swap = memory_swap(s)?;
    }
    let body = ContainerUpdateRequest {
        resources: r,
        restart_policy: a.restart.as_deref().map(restart_policy).transpose()?,
    };
    let mut warnings = Vec::new();
    let code = for_each(ctx, &a.containers, true, |c, id| {
        warnings.extend(c.update_container(id, &body)?.warnings);
        Ok(())
    })?;
    for w in warnings {
        let _ = writeln!(ctx.err, "WARNING: {w}");
    }
    Ok(code)
}

pub fn logs(ctx: &mut Ctx<'_>, a: &LogsArgs) -> Result<i32, CliError> {
    let info = ctx.client.inspect_container(&a.container, false)?;
    let tty = info.config.as_ref().is_some_and(|c| c.tty);
    let now = now_unix();
    let ts = |v: &Option<String>| -> Result<String, CliError> {
        match v {
            Some(s) if !s.is_empty() => {
                get_timestamp(s, now).map_err(|e| CliError::msg(e.to_string()))
            }
            _ => Ok(String::new()),
        }
    };
    let opts = LogsOptions {
        follow: a.follow,
        stdout: true,
        stderr: true,
        since: ts(&a.since)?,
        until: ts(&a.until)?,
        timestamps: a.timestamps,
        tail: a.tail.clone(),
    };
    let resp = ctx.client.logs(&a.container, &opts)?;
    let result = if tty {
        copy_raw(resp.body, ctx.out)
    } else {
        demux_to(resp.body, ctx.out, ctx.err)
    };
    result.map_err(CliError::io(format!("reading the logs of {}", a.container)))?;
    Ok(0)
}

/// `inspect`: containers first, then images (or only `--type`'s), printed as docker
/// prints them: a JSON array indented 4 spaces, or `-f` per object.
pub fn inspect(ctx: &mut Ctx<'_>, a: &InspectArgs) -> Result<i32, CliError> {
    let kind = a.kind.as_deref().unwrap_or("");
    if !matches!(kind, "" | "container" | "image") {
        return Err(CliError::msg(format!(
            "\"{kind}\" is not a valid value for --type"
        )));
    }
    // docker's inspect words every template failure this way.
    let tmpl_err =
        |e: crate::template::TemplateError| CliError::msg(format!("template parsing error: {e}"));
    let template = match &a.format {
        Some(f) if !f.is_empty() => Some(Template::parse(f).map_err(tmpl_err)?),
        _ => None,
    };
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &a.names {
        let mut result = Err(None);
        if kind != "image" {
            result = ctx
                .client
                .inspect_container_bytes(name, a.size)
                .map_err(Some);
        }
        if kind != "container" {
            if let Err(e) = &result {
                if e.as_ref().is_none_or(|e| e.is_not_found()) {
                    result = ctx.client.inspect_image_bytes(name).map_err(Some);
                }
            }
        }
        match result {
            Ok(bytes) => found.push(bytes),
            Err(Some(e)) if e.is_not_found() => errors.push(match kind {
                "container" => format!("Error: No such container: {name}"),
                "image" => format!("Error: No such image: {name}"),
                _ => format!("Error: No such object: {name}"),
            }),
            Err(Some(e)) => errors.push(e.to_string()),
            Err(None) => errors.push(format!("Error: No such object: {name}")),
        }
    }
    match &template {
        None => {
            let text = inspect_array(&found);
            writeln!(ctx.out, "{text}").map_err(CliError::io("writing output"))?;
        }
        Some(t) => {
            for bytes in &found {
                let value: serde_json::Value = serde_json::from_slice(bytes)
                    .map_err(|e| CliError::msg(format!("decoding an inspect answer: {e}")))?;
                let text = match t.execute(&value) {
                    Ok(text) => text,
                    Err(e) => {
                        // docker has written the line's end before it reports.
                        let _ = writeln!(ctx.out);
                        return Err(tmpl_err(e));
                    }
                };
                writeln!(ctx.out, "{text}").map_err(CliError::io("writing output"))?;
            }
        }
    }
    for e in &errors {
        let _ = writeln!(ctx.err, "{e}");
    }
    Ok(i32::from(!errors.is_empty()))
}

pub fn top(ctx: &mut Ctx<'_>, a: &TopArgs) -> Result<i32, CliError> {
    let top = ctx.client.top(&a.container, &a.ps_args.join(" "))?;
    let mut text = top.titles.join("\t");
    text.push('\n');
    for p in &top.processes {
        text.push_str(&p.join("\t"));
        text.push('\n');
    }
    // docker's top: tabwriter.NewWriter(out, 20, 1, 3, ' ', 0).
    let tw = TabWriter {
        min_width: 20,
        padding: 3,
        pad_char: ' ',
    };
    write(ctx, &tw.format(&text))?;
    Ok(0)
}

/// `docker diff`: one `A`, `C` or `D` line per changed path.
pub fn diff(ctx: &mut Ctx<'_>, a: &ContainerArg) -> Result<i32, CliError> {
    let mut text = String::new();
    for ch in ctx.client.changes(&a.container)? {
        let kind = match ch.kind {
            0 => 'C',
            1 => 'A',
            _ => 'D',
        };
        text.push_str(&format!("{kind} {}\n", ch.path));
    }
    write(ctx, &text)?;
    Ok(0)
}

/// `docker commit`: prints the new image's id.
pub fn commit(ctx: &mut Ctx<'_>, a: &CommitArgs) -> Result<i32, CliError> {
    let (repo, tag) = match a.repository.as_deref().filter(|r| !r.is_empty()) {
        None => (String::new(), String::new()),
        Some(r) => super::images::split_tag(r),
    };
    let id = ctx.client.commit(&berth_client::CommitOptions {
        container: a.container.clone(),
        repo,
        tag,
        comment: a.message.clone().unwrap_or_default(),
        author: a.author.clone().unwrap_or_default(),
        pause: a.pause,
        changes: a.change.clone(),
    })?;
    write(ctx, &format!("{id}\n"))?;
    Ok(0)
}

/// `docker export`: the container's filesystem as a tar, to `-o FILE` or stdout.
pub fn export(ctx: &mut Ctx<'_>, a: &ExportArgs) -> Result<i32, CliError> {
    let output = super::images::archive_output(ctx, a.output.as_deref())?;
    let resp = ctx.client.export(&a.container)?;
    super::images::write_archive(ctx, output, resp.body, "the container's filesystem")?;
    Ok(0)
}

pub fn port(ctx: &mut Ctx<'_>, a: &PortArgs) -> Result<i32, CliError> {
    let info = ctx.client.inspect_container(&a.container, false)?;
    let ports = info.network_settings.map(|n| n.ports).unwrap_or_default();
    let want = a.private_port.as_ref().map(|p| {
        if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut found = false;
    for (port, bindings) in &ports {
        if want.as_ref().is_some_and(|w| w != port) {
            continue;
        }
        for b in bindings.iter().flatten() {
            found = true;
            let ip = if b.host_ip.is_empty() {
                "0.0.0.0"
            } else {
                &b.host_ip
            };
            if want.is_some() {
                writeln!(ctx.out, "{ip}:{}", b.host_port)
            } else {
                writeln!(ctx.out, "{port} -> {ip}:{}", b.host_port)
            }
            .map_err(CliError::io("writing output"))?;
        }
    }
    if let (Some(w), false) = (&want, found) {
        return Err(CliError::msg(format!(
            "Error: No public port '{w}' published for {}",
            a.container
        )));
    }
    Ok(0)
}

pub fn prune(ctx: &mut Ctx<'_>, a: &PruneArgs) -> Result<i32, CliError> {
    let filters = parse_filters(&a.filter)?;
    if !a.force
        && !super::confirm(
            ctx,
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
        )?
    {
        return Ok(0);
    }
    let report = ctx.client.prune_containers(&filters)?;
    let deleted = report.containers_deleted.unwrap_or_default();
    let text = super::prune_report("Deleted Containers", &deleted, report.space_reclaimed);
    write(ctx, &text)?;
    Ok(0)
}

/// Re-indents raw JSON as `inspect` prints it (exposed for the images module).
pub fn pretty(raw: &[u8]) -> String {
    indent_json(raw, "    ")
}
