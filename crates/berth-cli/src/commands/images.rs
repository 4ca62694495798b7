//! Image commands: images, history, tag, rmi, pull, import, load, save, image prune.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use berth_client::{ImportOptions, ListImagesOptions};

use super::parse_filters;
use super::run::show_progress;
use crate::cli::{
    HistoryArgs, ImagePruneArgs, ImagesArgs, ImportArgs, LoadArgs, PullArgs, PushArgs, RmiArgs,
    SaveArgs, TagArgs,
};
use crate::format::{render_history, render_images};
use crate::progress::{self, Display};
use crate::units::now_unix;
use crate::{CliError, Ctx};

pub fn images(ctx: &mut Ctx<'_>, a: &ImagesArgs) -> Result<i32, CliError> {
    let mut filters = parse_filters(&a.filter)?;
    if let Some(repo) = &a.repository {
        filters.add("reference", repo.clone());
    }
    let list = ctx.client.list_images(&ListImagesOptions {
        all: a.all,
        digests: a.digests,
        filters,
    })?;
    let text = render_images(
        &list,
        a.format.as_deref(),
        a.quiet,
        a.digests,
        !a.no_trunc,
        now_unix(),
    )?;
    ctx.out
        .write_all(text.as_bytes())
        .map_err(CliError::io("writing output"))?;
    Ok(0)
}

/// `repo[:tag]` → (repo, tag); a colon before the last `/` is a registry's port.
pub(crate) fn split_tag(reference: &str) -> (String, String) {
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].rfind(':') {
        Some(i) => (
            reference[..slash + i].to_string(),
            reference[slash + i + 1..].to_string(),
        ),
        None => (reference.to_string(), String::new()),
    }
}

pub fn tag(ctx: &mut Ctx<'_>, a: &TagArgs) -> Result<i32, CliError> {
    let (repo, tag) = split_tag(&a.target);
    ctx.client.tag_image(&a.source, &repo, &tag)?;
    Ok(0)
}

pub fn rmi(ctx: &mut Ctx<'_>, a: &RmiArgs) -> Result<i32, CliError> {
    let mut failed = false;
    for img in &a.images {
        match ctx.client.remove_image(img, a.force, a.no_prune) {
            Ok(items) => {
                for item in items {
                    if let Some(u) = item.untagged {
                        let _ = writeln!(ctx.out, "Untagged: {u}");
                    }
                    if let Some(d) = item.deleted {
                        let _ = writeln!(ctx.out, "Deleted: {d}");
                    }
                }
            }
            Err(e) => {
                failed = true;
                let _ = writeln!(ctx.err, "{e}");
            }
        }
    }
    Ok(i32::from(failed))
}

pub fn import(ctx: &mut Ctx<'_>, a: &ImportArgs) -> Result<i32, CliError> {
    let (repo, tag) = match &a.repository {
        Some(r) => split_tag(r),
        None => (String::new(), String::new()),
    };
    let opts = ImportOptions {
        repo,
        tag,
        changes: a.change.clone(),
        message: a.message.clone().unwrap_or_default(),
        platform: a.platform.clone().unwrap_or_default(),
    };
    let mut source: Box<dyn Read + Send> = if a.source == "-" {
        ctx.stdin
            .take()
            .ok_or_else(|| CliError::msg("standard input is not available"))?
    } else if a.source.contains("://") {
        return Err(CliError::msg(format!(
            "importing from a URL is not supported: {}",
            a.source
        )));
    } else {
        Box::new(File::open(&a.source).map_err(CliError::io(format!("open {}", a.source)))?)
    };
    let stream = ctx.client.import_image(&mut source, &opts)?;
    show_progress(stream, ctx.out)?;
    Ok(0)
}

pub fn load(ctx: &mut Ctx<'_>, a: &LoadArgs) -> Result<i32, CliError> {
    let mut source: Box<dyn Read + Send> = match &a.input {
        Some(path) => Box::new(File::open(path).map_err(CliError::io(format!("open {path}")))?),
        // Nothing would ever come from a terminal: refuse, as docker does.
        None if ctx.terminal => {
            return Err(CliError::msg(
                "requested load from stdin, but stdin is empty",
            ))
        }
        None => ctx
            .stdin
            .take()
            .ok_or_else(|| CliError::msg("standard input is not available"))?,
    };
    let stream = ctx.client.load_images(&mut source, a.quiet)?;
    show_progress(stream, ctx.out)?;
    Ok(0)
}

/// `fromImage` and `tag` for a reference, as the docker CLI splits them: the
/// repository, and its tag or digest.
pub fn pull_params(r: &berth_types::Reference) -> (String, String) {
    let name = r.familiar_name();
    match (r.digest(), r.tag()) {
        (Some(d), _) => (name, d.to_string()),
        (None, Some(t)) => (name, t.to_string()),
        (None, None) => (name, String::new()),
    }
}

/// `docker pull`: `Using default tag: latest` for a bare name, progress (bars on a
/// terminal), and the full reference at the end.
pub fn pull(ctx: &mut Ctx<'_>, a: &PullArgs) -> Result<i32, CliError> {
    let bad = |e: String| CliError::msg(format!("invalid reference format: {e}"));
    let mut r = berth_types::Reference::parse_named(&a.name).map_err(|e| bad(e.to_string()))?;
    if a.all_tags {
        if r.tag().is_some() || r.digest().is_some() {
            return Err(CliError::msg("tag can't be used with --all-tags/-a"));
        }
    } else if r.tag().is_none() && r.digest().is_none() {
        if !a.quiet {
            writeln_out(ctx, "Using default tag: latest")?;
        }
        r = r.with_tag("latest").map_err(|e| bad(e.to_string()))?;
    }
    let (image, tag) = pull_params(&r);
    let auth = crate::credentials::registry_auth_header(r.domain());
    let stream = ctx.client.pull_image(
        &image,
        &tag,
        a.platform.as_deref().unwrap_or(""),
        auth.as_deref(),
    )?;
    let how = Display::choose(a.quiet, ctx.out_terminal);
    progress::show(stream, ctx.out, how)?;
    writeln_out(ctx, &r.to_string())?;
    Ok(0)
}

/// `docker push`: `Using default tag: latest` for a bare name (unless `-a`), the
/// progress, and with `-q` only the reference pushed.
pub fn push(ctx: &mut Ctx<'_>, a: &PushArgs) -> Result<i32, CliError> {
    let bad = |e: String| CliError::msg(format!("invalid reference format: {e}"));
    let mut r = berth_types::Reference::parse_named(&a.name).map_err(|e| bad(e.to_string()))?;
    if r.digest().is_some() {
        return Err(CliError::msg(format!(
            "cannot push a digest reference: {}",
            a.name
        )));
    }
    if a.all_tags {
        if r.tag().is_some() {
            return Err(CliError::msg("tag can't be used with --all-tags/-a"));
        }
    } else if r.tag().is_none() {
        if !a.quiet {
            writeln_out(ctx, "Using default tag: latest")?;
        }
        r = r.with_tag("latest").map_err(|e| bad(e.to_string()))?;
    }
    if let Some(p) = a.platform.as_deref().filter(|p| !p.is_empty()) {
        // An image here is one platform's: `--platform` can only name that one.
        let i = ctx.client.inspect_image(&r.to_string())?;
        let mut have = format!("{}/{}", i.os, i.architecture);
        if !i.variant.is_empty() {
            have = format!("{have}/{}", i.variant);
        }
        let want = p.trim_end_matches('/');
        if want != have && !have.starts_with(&format!("{want}/")) {
            return Err(CliError::msg(format!(
                "image {} is for {have}, not {p}: berth keeps one platform per image",
                r.familiar()
            )));
        }
    }
    let (image, tag) = pull_params(&r);
    let auth = crate::credentials::registry_auth_header(r.domain());
    let stream = ctx.client.push_image(&image, &tag, auth.as_deref())?;
    let how = Display::choose(a.quiet, ctx.out_terminal);
    progress::show(stream, ctx.out, how)?;
    if a.quiet {
        writeln_out(ctx, &r.familiar())?;
    }
    Ok(0)
}

fn writeln_out(ctx: &mut Ctx<'_>, line: &str) -> Result<(), CliError> {
    writeln!(ctx.out, "{line}").map_err(CliError::io("writing output"))
}

pub fn history(ctx: &mut Ctx<'_>, a: &HistoryArgs) -> Result<i32, CliError> {
    let items = ctx.client.image_history(&a.image)?;
    let text = render_history(
        &items,
        a.format.as_deref(),
        a.quiet,
        a.human,
        !a.no_trunc,
        now_unix(),
    )?;
    ctx.out
        .write_all(text.as_bytes())
        .map_err(CliError::io("writing output"))?;
    Ok(0)
}

/// docker's `ValidateOutputPath`: the directory must exist, and an existing path must
/// be a file or a directory (not a device or a socket).
fn check_output_path(path: &str) -> Result<(), CliError> {
    let p = Path::new(path);
    let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(d) = dir {
        if !d.exists() {
            return Err(CliError::msg(format!(
                "failed to save image: invalid output path: directory {:?} does not exist",
                d.display().to_string()
            )));
        }
    }
    if let Ok(meta) = std::fs::metadata(p) {
        if !meta.is_file() && !meta.is_dir() {
            return Err(CliError::msg(format!(
                "failed to save image: invalid output path: {path:?} must be a directory or a regular file"
            )));
        }
    }
    Ok(())
}

/// `save`: the archive to stdout (never a terminal) or to `-o` (see [`write_archive`]).
pub fn save(ctx: &mut Ctx<'_>, a: &SaveArgs) -> Result<i32, CliError> {
    let output = archive_output(ctx, a.output.as_deref())?;
    let body = ctx.client.save_images(&a.images)?;
    write_archive(ctx, output, body, "the image archive")?;
    Ok(0)
}

/// Where a command that writes a tar (`save`, `export`) sends it: `-o FILE` (checked as
/// docker does), or stdout, which must not be a terminal. Asked before the request.
pub(crate) fn archive_output<'a>(
    ctx: &Ctx<'_>,
    output: Option<&'a str>,
) -> Result<Option<&'a str>, CliError> {
    let output = output.filter(|o| !o.is_empty() && *o != "-");
    if output.is_none() && ctx.out_terminal {
        return Err(CliError::msg(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    if let Some(path) = output {
        check_output_path(path)?;
    }
    Ok(output)
}

/// Copies `body` to stdout, or to a temporary file beside `output` renamed over it
/// once complete, so a failure leaves no half-written archive behind (and an existing
/// file untouched).
pub(crate) fn write_archive(
    ctx: &mut Ctx<'_>,
    output: Option<&str>,
    mut body: impl std::io::Read,
    what: &str,
) -> Result<(), CliError> {
    let Some(path) = output else {
        std::io::copy(&mut body, ctx.out).map_err(CliError::io(format!("writing {what}")))?;
        ctx.out
            .flush()
            .map_err(CliError::io(format!("writing {what}")))?;
        return Ok(());
    };
    let target = Path::new(path);
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".berth_temp_")
        .tempfile_in(dir)
        .map_err(CliError::io(format!(
            "creating a temporary file in {}",
            dir.display()
        )))?;
    // On any error the temporary file is removed when `tmp` drops.
    std::io::copy(&mut body, tmp.as_file_mut())
        .map_err(CliError::io(format!("saving {what} to {path}")))?;
    tmp.as_file()
        .sync_all()
        .map_err(CliError::io(format!("writing {}", tmp.path().display())))?;
    tmp.persist(target)
        .map_err(|e| CliError::io(format!("renaming {what} to {path}"))(e.error))?;
    Ok(())
}

const PRUNE_ALL_WARNING: &str = "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?";
const PRUNE_DANGLING_WARNING: &str =
    "WARNING! This will remove all dangling images.\nAre you sure you want to continue?";

/// `image prune`: asks first (unless `-f`), as docker does on stdout; anything but
/// `y` cancels quietly.
pub fn prune(ctx: &mut Ctx<'_>, a: &ImagePruneArgs) -> Result<i32, CliError> {
    let mut filters = parse_filters(&a.filter)?;
    filters.add("dangling", if a.all { "false" } else { "true" });
    if !a.force {
        let warning = if a.all {
            PRUNE_ALL_WARNING
        } else {
            PRUNE_DANGLING_WARNING
        };
        if !super::confirm(ctx, warning)? {
            return Ok(0);
        }
    }
    let report = ctx.client.prune_images(&filters)?;
    let lines: Vec<String> = report
        .images_deleted
        .iter()
        .filter_map(|item| match (&item.untagged, &item.deleted) {
            (Some(u), _) if !u.is_empty() => Some(format!("untagged: {u}")),
            (_, Some(d)) => Some(format!("deleted: {d}")),
            _ => None,
        })
        .collect();
    // dockerd's list may hold only empty items: the heading still shows then.
    let text = if report.images_deleted.is_empty() || !lines.is_empty() {
        super::prune_report("Deleted Images", &lines, report.space_reclaimed)
    } else {
        format!(
            "Deleted Images:\n\n{}",
            super::prune_report("", &[], report.space_reclaimed)
        )
    };
    ctx.out
        .write_all(text.as_bytes())
        .map_err(CliError::io("writing output"))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::split_tag;

    #[test]
    fn tags_split_after_the_last_slash() {
        assert_eq!(split_tag("busybox:1"), ("busybox".into(), "1".into()));
        assert_eq!(split_tag("busybox"), ("busybox".into(), "".into()));
        assert_eq!(
            split_tag("localhost:5000/app"),
            ("localhost:5000/app".into(), "".into())
        );
        assert_eq!(
            split_tag("localhost:5000/app:v2"),
            ("localhost:5000/app".into(), "v2".into())
        );
    }
}
