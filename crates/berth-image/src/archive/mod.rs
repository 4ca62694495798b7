//! Image archives: `docker save`/`docker load` tarballs (both the classic layout and
//! the OCI-layout-in-tar form Docker 25+ writes), OCI image layouts (directory and tar),
//! rootfs tarball import (`docker import`, with Dockerfile `--change` instructions) and
//! export of a container's filesystem (`docker export`).
//!
//! Everything works on the [`ContentStore`] and hands back plain [`ArchiveImage`]
//! records; naming them in the image table is the caller's business.
//!
//! Layer storage policy: layers are stored exactly as the archive carries them (a
//! `docker save` layer.tar is uncompressed, so its blob digest *is* its diff_id). That
//! keeps save → load → save byte-identical and every digest stable. Layers made here
//! ([`import_rootfs`], [`commit_image`]) are stored uncompressed too: no compression
//! on their path, and `save` copies them as they are.

pub mod changes;
mod commit;
mod docker;
mod oci;
mod rootfs;
pub mod tree;

pub use changes::{apply_changes, parse_change, Change, ChangeError};
pub use commit::{commit_image, CommitRequest, LayerWriter};
pub use docker::{load_docker_archive, save_docker_archive, save_docker_archive_with, LayerSizes};
pub use oci::{
    export_oci_archive, export_oci_layout, import_oci_archive, import_oci_archive_with,
    import_oci_layout, import_oci_layout_with, OciImportOptions,
};
pub use rootfs::{export_rootfs, import_rootfs, ExportSummary};

use crate::content::{ContentError, ContentStore, HashingReader};
use berth_types::{Algorithm, Digest, Reference};
use std::io::{self, Read, Write};
use std::path::PathBuf;

use crate::model::Descriptor;

/// An image found in (or to be written to) an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveImage {
    /// The names the archive gives it (may be empty).
    pub names: Vec<Reference>,
    /// A single-platform manifest (never an index), stored in the content store.
    pub manifest: Descriptor,
    /// The config digest: the image id.
    pub config: Digest,
}

/// What went wrong reading or writing an archive; each case names the file, entry or
/// digest involved.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("reading archive entry {entry:?}: {source}")]
    Entry {
        entry: String,
        #[source]
        source: io::Error,
    },
    #[error("reading archive: {0}")]
    Read(#[source] io::Error),
    #[error("writing archive: {0}")]
    Write(#[source] io::Error),
    #[error("archive entry {entry:?} is truncated: expected {expected} bytes, got {actual}")]
    Truncated {
        entry: String,
        expected: u64,
        actual: u64,
    },
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error("invalid archive: no {0} found")]
    Missing(&'static str),
    #[error("invalid archive: {what} names {path:?}, which is not in the archive")]
    MissingFile { what: String, path: String },
    #[error("{file}: invalid JSON: {source}")]
    Json {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "layer {layer} of image {image}: content has diff_id {actual}, but the config's rootfs.diff_ids says {expected}"
    )]
    DiffIdMismatch {
        image: String,
        layer: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("blob {digest} ({what}) is missing from the layout")]
    MissingBlob { digest: Digest, what: String },
    #[error("{0}")]
    Change(#[from] ChangeError),
}

pub(crate) fn json_err(file: impl Into<String>) -> impl FnOnce(serde_json::Error) -> ArchiveError {
    let file = file.into();
    move |source| ArchiveError::Json { file, source }
}

/// How a blob or stream is compressed, told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

pub(crate) fn detect(magic: &[u8]) -> Compression {
    if magic.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Read up to 4 bytes, tell the compression, and give back a reader of the whole
/// stream (those bytes included).
pub(crate) fn sniff<R: Read>(mut r: R) -> io::Result<(Compression, impl Read)> {
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((
        detect(&head[..n]),
        io::Cursor::new(head[..n].to_vec()).chain(r),
    ))
}

/// A reader of the uncompressed content.
pub(crate) fn decompress<'a, R: Read + 'a>(c: Compression, r: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
    })
}

/// The compression of a stored blob.
pub(crate) fn blob_compression(
    store: &ContentStore,
    d: &Digest,
) -> Result<Compression, ArchiveError> {
    let mut f = store.open_blob(d)?;
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        let k = f.read(&mut head[n..]).map_err(|e| ArchiveError::Io {
            context: "reading",
            path: store.path(d),
            source: e,
        })?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(detect(&head[..n]))
}

/// The uncompressed digest and size of a stored layer blob.
pub(crate) fn diff_id_of(store: &ContentStore, d: &Digest) -> Result<(Digest, u64), ArchiveError> {
    let c = blob_compression(store, d)?;
    if c == Compression::None && d.algorithm() == Algorithm::Sha256 {
        return Ok((d.clone(), store.size(d)?));
    }
    let f = store.open_blob(d)?;
    let path = store.path(d);
    let io = |source| ArchiveError::Io {
        context: "decompressing layer",
        path: path.clone(),
        source,
    };
    let mut h = HashingReader::new(decompress(c, f).map_err(io)?, Algorithm::Sha256);
    io::copy(&mut h, &mut io::sink()).map_err(io)?;
    Ok(h.finish())
}

/// Writes deterministic tar entries: fixed mtime 0, root-owned, sorted by the caller.
pub(crate) struct TarOut<W: Write> {
    pub(crate) b: tar::Builder<W>,
}

impl<W: Write> TarOut<W> {
    pub(crate) fn new(w: W) -> TarOut<W> {
        TarOut {
            b: tar::Builder::new(w),
        }
    }

    fn header(size: u64, mode: u32, ty: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(ty);
        h
    }

    pub(crate) fn dir(&mut self, path: &str) -> Result<(), ArchiveError> {
        let mut h = Self::header(0, 0o755, tar::EntryType::Directory);
        self.b
            .append_data(&mut h, path, io::empty())
            .map_err(ArchiveError::Write)
    }

    pub(crate) fn bytes(&mut self, path: &str, data: &[u8]) -> Result<(), ArchiveError> {
        self.reader(path, data.len() as u64, data)
    }

    pub(crate) fn reader(
        &mut self,
        path: &str,
        size: u64,
        r: impl Read,
    ) -> Result<(), ArchiveError> {
        let mut h = Self::header(size, 0o644, tar::EntryType::Regular);
        self.b
            .append_data(&mut h, path, r)
            .map_err(ArchiveError::Write)
    }

    pub(crate) fn finish(mut self) -> Result<W, ArchiveError> {
        self.b.finish().map_err(ArchiveError::Write)?;
        self.b.into_inner().map_err(ArchiveError::Write)
    }
}

/// An entry name as a plain relative path (`./a/b` → `a/b`).
pub(crate) fn clean_entry_name(p: &std::path::Path) -> String {
    let s = p.to_string_lossy();
    let s = s.trim_start_matches("./").trim_start_matches('/');
    s.trim_end_matches('/').to_string()
}

/// Copy an entry's data to `w`, failing if the tar ends before the entry does.
pub(crate) fn copy_entry<R: Read>(
    e: &mut tar::Entry<'_, R>,
    name: &str,
    w: &mut dyn Write,
) -> Result<u64, ArchiveError> {
    let expected = e.size();
    let n = io::copy(e, w).map_err(|source| ArchiveError::Entry {
        entry: name.to_string(),
        source,
    })?;
    if n != expected {
        return Err(ArchiveError::Truncated {
            entry: name.to_string(),
            expected,
            actual: n,
        });
    }
    Ok(n)
}

/// A parsed reference or an error naming where it came from.
pub(crate) fn parse_ref(s: &str, from: &str) -> Result<Reference, ArchiveError> {
    Reference::parse(s).map_err(|e| ArchiveError::Invalid(format!("{from}: {e}")))
}
