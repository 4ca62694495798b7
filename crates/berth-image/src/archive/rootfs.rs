//! Rootfs tarballs: `docker import` (a tar, plain/gzip/zstd, becomes a one-layer
//! image, with `--change` instructions applied) and `docker export` (a container's
//! mounted filesystem written as a tar, symlinks not followed).

use super::{changes, decompress, sniff, ArchiveError, ArchiveImage};
use crate::content::{ContentStore, HashingReader};
use crate::model::{
    media, Descriptor, History, ImageConfig, Manifest, Platform, RootFs, RunConfig,
};
use berth_types::Algorithm;
use std::collections::BTreeMap;
use std::os::fd::AsFd;

use rustix::fs::{Mode, OFlags};

use super::tree::{TreeOptions, TreeWriter};
use crate::fsutil::read_full;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Import a rootfs tarball (plain, gzip or zstd, told by content) as a one-layer image.
/// The layer is stored gzip-compressed (DOCKER_LAYER_GZIP); the blob digest and the
/// diff_id are computed in the same pass. `platform` defaults to this host's.
/// The config's `created` honours SOURCE_DATE_EPOCH. The record has no names.
pub fn import_rootfs(
    store: &ContentStore,
    r: impl Read,
    changes: &[String],
    message: Option<&str>,
    platform: Option<&Platform>,
) -> Result<ArchiveImage, ArchiveError> {
    // Refuse bad changes before reading any data.
    let mut run = RunConfig::default();
    changes::apply_changes(&mut run, changes)?;
    let src_err = |source| ArchiveError::Entry {
        entry: "rootfs tarball".into(),
        source,
    };
    let (c, r) = sniff(r).map_err(src_err)?;
    let mut raw = HashingReader::new(decompress(c, r).map_err(src_err)?, Algorithm::Sha256);
    // Stored uncompressed, as `docker save` and `commit` layers are: an import costs
    // no compression, a `save` no decompression.
    let mut gz = io::BufWriter::with_capacity(1 << 20, store.writer(None, None)?);
    // The first block must be a tar header (or the zero block of an empty tar).
    let mut first = vec![0u8; 512];
    let n = read_full(&mut raw, &mut first).map_err(src_err)?;
    if n > 0 && (n < 512 || !tar_header_ok(&first)) {
        return Err(ArchiveError::Invalid(
            "rootfs tarball: not a tar archive (after decompression)".into(),
        ));
    }
    gz.write_all(&first[..n]).map_err(ArchiveError::Write)?;
    io::copy(&mut raw, &mut gz).map_err(src_err)?;
    let blob = gz
        .into_inner()
        .map_err(|e| ArchiveError::Write(e.into_error()))?;
    let (diff_id, _) = raw.finish();
    let (layer, layer_size) = blob.commit()?;

    let p = platform
        .cloned()
        .unwrap_or_else(crate::model::host_platform);
    let created = created_now();
    let cfg = ImageConfig {
        created: Some(created.clone()),
        author: None,
        architecture: p.architecture,
        os: p.os,
        variant: p.variant,
        config: Some(run),
        rootfs: RootFs {
            typ: "layers".into(),
            diff_ids: vec![diff_id],
        },
        history: vec![History {
            created: Some(created),
            comment: Some(message.unwrap_or("Imported from -").to_string()),
            ..History::default()
        }],
        other: BTreeMap::new(),
    };
    let cbytes = serde_json::to_vec(&cfg).map_err(super::json_err("generated config"))?;
    let config = store.put(&cbytes, None)?;
    let desc = |mt: &str, d, size| Descriptor {
        media_type: mt.into(),
        digest: d,
        size,
        urls: None,
        annotations: None,
        platform: None,
    };
    let m = Manifest {
        schema_version: 2,
        media_type: Some(media::DOCKER_MANIFEST.into()),
        config: desc(media::DOCKER_CONFIG, config.clone(), cbytes.len() as u64),
        layers: vec![desc(media::DOCKER_LAYER, layer, layer_size)],
        annotations: None,
    };
    let mbytes = serde_json::to_vec(&m).map_err(super::json_err("generated manifest"))?;
    let md = store.put(&mbytes, None)?;
    Ok(ArchiveImage {
        names: Vec::new(),
        manifest: desc(media::DOCKER_MANIFEST, md, mbytes.len() as u64),
        config,
    })
}

/// A zero block, or a header whose checksum field matches.
fn tar_header_ok(b: &[u8]) -> bool {
    if b.iter().all(|&x| x == 0) {
        return true;
    }
    let field = &b[148..156];
    let s: String = field
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as char)
        .collect();
    let Ok(want) = u32::from_str_radix(s.trim(), 8) else {
        return false;
    };
    let sum: u32 = b
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            if (148..156).contains(&i) {
                0x20
            } else {
                u32::from(x)
            }
        })
        .sum();
    sum == want
}

pub(super) fn created_now() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    berth_types::time::format_rfc3339(
        i128::from(secs) * 1_000_000_000,
        berth_types::time::Precision::Seconds,
    )
}

/// What an export could not put in the tar (tar has no socket type).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSummary {
    pub entries: u64,
    pub skipped_sockets: Vec<PathBuf>,
}

/// Write the tree under `dir` as a tar (paths relative, sorted; files, directories,
/// symlinks (not followed), hardlinks, devices, fifos, xattrs, owners, modes, mtimes).
/// Sockets cannot be represented and are listed in the summary rather than dropped
/// silently.
pub fn export_rootfs(dir: &Path, w: impl Write) -> Result<ExportSummary, ArchiveError> {
    let open_err = |e: rustix::io::Errno| ArchiveError::Io {
        context: "opening",
        path: dir.to_path_buf(),
        source: e.into(),
    };
    let root = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(open_err)?;
    let mut tw = TreeWriter::new(
        w,
        TreeOptions {
            xattrs: true,
            ..TreeOptions::default()
        },
    );
    tw.add_children(root.as_fd(), Path::new(""), dir)?;
    let (mut w, summary) = tw.finish()?;
    w.flush().map_err(ArchiveError::Write)?;
    Ok(ExportSummary {
        entries: summary.entries,
        skipped_sockets: summary.skipped_sockets,
    })
}

/// One PAX record: `<len> <key>=<value>\n`, where len counts itself.
pub(super) fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}=").as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_lengths_count_themselves() {
        let mut v = Vec::new();
        pax_record(&mut v, "SCHILY.xattr.user.a", b"b");
        let s = String::from_utf8(v).unwrap();
        let (len, _) = s.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), s.len());
    }
}
