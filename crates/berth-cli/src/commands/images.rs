//! Image commands: images, tag, rmi, import, load.

use std::fs::File;
use std::io::Read;

use berth_client::{ImportOptions, ListImagesOptions};

use super::parse_filters;
use super::run::show_progress;
use crate::cli::{ImagesArgs, ImportArgs, LoadArgs, RmiArgs, TagArgs};
use crate::format::render_images;
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
fn split_tag(reference: &str) -> (String, String) {
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
        None => ctx
            .stdin
            .take()
            .ok_or_else(|| CliError::msg("standard input is not available"))?,
    };
    let stream = ctx.client.load_images(&mut source, a.quiet)?;
    show_progress(stream, ctx.out)?;
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
