//! Volume commands: volume create, ls, inspect, rm, prune.

use std::collections::BTreeMap;

use berth_api_types::volume::VolumeCreateRequest;

use super::{for_each, parse_filters};
use crate::cli::{
    VolumeCreateArgs, VolumeInspectArgs, VolumeLsArgs, VolumePruneArgs, VolumeRmArgs,
};
use crate::format::{inspect_array, render_volumes};
use crate::template::Template;
use crate::{CliError, Ctx};

/// What `volume prune` asks before it removes anything. Against API 1.41 (berth's)
/// every unused volume goes, named ones too, which is what docker's CLI warns of.
const PRUNE_WARNING: &str = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?";

/// `k=v` flags (`--label`, `-o`) as a map; a bare `k` has an empty value.
fn key_values(flags: &[String]) -> BTreeMap<String, String> {
    flags
        .iter()
        .map(|f| match f.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (f.clone(), String::new()),
        })
        .collect()
}

pub fn create(ctx: &mut Ctx<'_>, a: &VolumeCreateArgs) -> Result<i32, CliError> {
    let name = match (&a.name, &a.volume) {
        (Some(n), Some(v)) if n != v => {
            return Err(CliError::msg(
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg",
            ))
        }
        (Some(n), _) => n.clone(),
        (None, Some(v)) => v.clone(),
        (None, None) => String::new(),
    };
    let v = ctx.client.create_volume(&VolumeCreateRequest {
        name,
        driver: a.driver.clone(),
        driver_opts: key_values(&a.opt),
        labels: key_values(&a.label),
    })?;
    writeln!(ctx.out, "{}", v.name).map_err(CliError::io("writing output"))?;
    Ok(0)
}

pub fn ls(ctx: &mut Ctx<'_>, a: &VolumeLsArgs) -> Result<i32, CliError> {
    let filters = parse_filters(&a.filter)?;
    let mut list = ctx.client.list_volumes(&filters)?;
    list.volumes.sort_by(|x, y| x.name.cmp(&y.name));
    for w in &list.warnings {
        let _ = writeln!(ctx.err, "{w}");
    }
    let text = render_volumes(&list.volumes, a.format.as_deref(), a.quiet)?;
    ctx.out
        .write_all(text.as_bytes())
        .map_err(CliError::io("writing output"))?;
    Ok(0)
}

pub fn inspect(ctx: &mut Ctx<'_>, a: &VolumeInspectArgs) -> Result<i32, CliError> {
    let tmpl_err =
        |e: crate::template::TemplateError| CliError::msg(format!("template parsing error: {e}"));
    let template = match &a.format {
        Some(f) if !f.is_empty() => Some(Template::parse(f).map_err(tmpl_err)?),
        _ => None,
    };
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &a.volumes {
        match ctx.client.inspect_volume_bytes(name) {
            Ok(b) => found.push(b),
            Err(e) => errors.push(e.to_string()),
        }
    }
    match &template {
        None => writeln!(ctx.out, "{}", inspect_array(&found))
            .map_err(CliError::io("writing output"))?,
        Some(t) => {
            for bytes in &found {
                let value: serde_json::Value = serde_json::from_slice(bytes)
                    .map_err(|e| CliError::msg(format!("decoding an inspect answer: {e}")))?;
                let text = t.execute(&value).map_err(tmpl_err)?;
                writeln!(ctx.out, "{text}").map_err(CliError::io("writing output"))?;
            }
        }
    }
    for e in &errors {
        let _ = writeln!(ctx.err, "{e}");
    }
    Ok(i32::from(!errors.is_empty()))
}

pub fn rm(ctx: &mut Ctx<'_>, a: &VolumeRmArgs) -> Result<i32, CliError> {
    let force = a.force;
    for_each(ctx, &a.volumes, true, |c, name| {
        Ok(c.remove_volume(name, force)?)
    })
}

pub fn prune(ctx: &mut Ctx<'_>, a: &VolumePruneArgs) -> Result<i32, CliError> {
    let filters = parse_filters(&a.filter)?;
    if !a.force && !super::confirm(ctx, PRUNE_WARNING)? {
        return Ok(0);
    }
    let report = ctx.client.prune_volumes(&filters)?;
    let text = super::prune_report(
        "Deleted Volumes",
        &report.volumes_deleted,
        report.space_reclaimed,
    );
    ctx.out
        .write_all(text.as_bytes())
        .map_err(CliError::io("writing output"))?;
    Ok(0)
}
