//! Garbage collection: mark everything reachable, sweep the rest.
//!
//! Roots are every image's target (an index marks all of its child manifests that are
//! present, a manifest its config and layers), the roots the caller passes (containers'
//! images, snapshot keys in use), and every live lease's resources. Unmarked blobs are
//! removed from the content store, ingest temporaries untouched for longer than
//! `GcOptions::ingest_max_age` are removed, and — given a [`SnapshotGc`] — committed
//! snapshots nobody references, children before parents. A snapshot's parent chain is
//! kept whenever the snapshot is.
//!
//! The collection holds the lease lock and the image table's lock from marking to the
//! end of the sweep, so a lease change or a new tag waits for it rather than racing it.

use crate::content::{sha256, ContentError};
use crate::images::{ImageError, ImageStore};
use crate::lease::{LeaseError, LeaseManager, Resource};
use crate::model::{media, Document, ImageConfig};
use berth_types::Digest;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Blobs without a media type (caller roots, lease resources) are read to look for
/// children only when they are at most this big: manifests and indexes are small,
/// layers are not.
const SNIFF_LIMIT: u64 = 4 << 20;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a snapshotter offers garbage collection.
pub trait SnapshotGc {
    /// Every committed snapshot the collector may remove, with its parent's key.
    fn list(&self) -> Result<Vec<(String, Option<String>)>, BoxError>;
    /// Remove one snapshot (its children are already gone).
    fn remove(&self, key: &str) -> Result<(), BoxError>;
    /// The key of the committed snapshot holding an image's layers up to `chain_id`
    /// (the OCI ChainID of those layers; see [`chain_ids`]).
    fn image_key(&self, chain_id: &Digest) -> String {
        chain_id.to_string()
    }
}

/// What can go wrong collecting; each case names the blob, snapshot or path.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Lease(#[from] LeaseError),
    #[error("snapshot garbage collection, {context} {key:?}: {source}")]
    Snapshot {
        context: &'static str,
        key: String,
        #[source]
        source: BoxError,
    },
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Roots beyond images and leases.
#[derive(Debug, Clone, Default)]
pub struct Roots {
    /// Blobs to keep (and, for manifests and indexes, what they reference): for example
    /// the manifest or config of a container's image.
    pub content: Vec<Digest>,
    /// Snapshot keys in use (containers' writable layers, their parents follow).
    pub snapshots: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Ingest temporaries untouched for longer than this are abandoned writes.
    pub ingest_max_age: Duration,
    /// Report what would be removed, remove nothing.
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> GcOptions {
        GcOptions {
            ingest_max_age: Duration::from_secs(24 * 60 * 60),
            dry_run: false,
        }
    }
}

/// What a collection removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs removed, with their sizes.
    pub blobs: Vec<(Digest, u64)>,
    /// Bytes of blobs and ingest temporaries removed.
    pub bytes: u64,
    /// Ingest temporaries removed.
    pub ingests: Vec<PathBuf>,
    /// Snapshot keys removed, children before parents.
    pub snapshots: Vec<String>,
    /// Expired leases removed.
    pub expired_leases: Vec<String>,
}

/// The OCI ChainIDs of a layer stack: `ChainID(L0) = DiffID(L0)`,
/// `ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => sha256(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// Mark and sweep. See the module documentation for what counts as a root.
pub fn collect(
    images: &ImageStore,
    leases: &LeaseManager,
    roots: &Roots,
    snapshots: Option<&dyn SnapshotGc>,
    opts: &GcOptions,
) -> Result<GcReport, GcError> {
    let mut report = GcReport::default();
    // Lock order: leases, then the image table. Nothing takes them the other way round.
    let lease_guard = leases.lock_all()?;
    let _table = images.lock()?;
    if !opts.dry_run {
        report.expired_leases = lease_guard.remove_expired()?;
    }
    let live = lease_guard.live()?;
    let cs = images.content();

    // Mark content.
    let mut marked: HashSet<Digest> = HashSet::new();
    let mut stack: Vec<(Digest, Option<String>)> = Vec::new();
    let mut snapshot_roots: BTreeSet<String> = roots.snapshots.iter().cloned().collect();
    let records = images.list()?;
    for img in &records {
        stack.push((
            img.target.digest.clone(),
            Some(img.target.media_type.clone()),
        ));
        stack.push((
            img.manifest.digest.clone(),
            Some(img.manifest.media_type.clone()),
        ));
        stack.push((img.id.clone(), Some(media::OCI_CONFIG.to_string())));
    }
    stack.extend(roots.content.iter().map(|d| (d.clone(), None)));
    for l in &live {
        for r in &l.resources {
            match r {
                Resource::Content(d) => stack.push((d.clone(), None)),
                Resource::Snapshot(k) => {
                    snapshot_roots.insert(k.clone());
                }
            }
        }
    }
    while let Some((d, mt)) = stack.pop() {
        if !marked.insert(d.clone()) {
            continue;
        }
        for child in children(images, &d, mt.as_deref())? {
            if !marked.contains(&child.0) {
                stack.push(child);
            }
        }
    }

    // Sweep content.
    for d in cs.list()? {
        if marked.contains(&d) {
            continue;
        }
        let size = match cs.size(&d) {
            Ok(s) => s,
            Err(ContentError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        if !opts.dry_run {
            cs.delete(&d)?;
        }
        report.bytes += size;
        report.blobs.push((d, size));
    }

    // Abandoned ingests.
    let ingest = cs.root().join("ingest");
    let now = SystemTime::now();
    let rd = std::fs::read_dir(&ingest).map_err(|source| GcError::Io {
        context: "reading",
        path: ingest.clone(),
        source,
    })?;
    for e in rd.flatten() {
        let Ok(meta) = e.metadata() else { continue };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if !meta.is_file() || age <= opts.ingest_max_age {
            continue;
        }
        let p = e.path();
        if !opts.dry_run {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                // Its writer finished or gave up meanwhile.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(GcError::Io {
                        context: "removing",
                        path: p,
                        source,
                    })
                }
            }
        }
        report.bytes += meta.len();
        report.ingests.push(p);
    }

    // Snapshots.
    if let Some(sn) = snapshots {
        for img in &records {
            // An image whose config is gone has nothing to keep; its record is broken
            // and `docker images` will say so, not the collector.
            if let Ok(cfg) = images.config(&img.id) {
                snapshot_roots.extend(image_snapshot_keys(sn, &cfg));
            }
        }
        report.snapshots = sweep_snapshots(sn, &snapshot_roots, opts.dry_run)?;
    }
    Ok(report)
}

fn image_snapshot_keys(sn: &dyn SnapshotGc, cfg: &ImageConfig) -> Vec<String> {
    chain_ids(&cfg.rootfs.diff_ids)
        .iter()
        .map(|c| sn.image_key(c))
        .collect()
}

/// What a blob references, for blobs that are indexes or manifests.
fn children(
    images: &ImageStore,
    d: &Digest,
    media_type: Option<&str>,
) -> Result<Vec<(Digest, Option<String>)>, GcError> {
    let cs = images.content();
    let known_doc = media_type.is_some_and(|m| media::is_index(m) || media::is_manifest(m));
    let sniff = matches!(media_type, None | Some(""));
    if !known_doc && !sniff {
        return Ok(Vec::new());
    }
    let mut f = match cs.open_blob(d) {
        Ok(f) => f,
        // Not present (another platform's manifest, a blob not pulled yet): nothing
        // below it to keep.
        Err(ContentError::NotFound(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut bytes = Vec::new();
    let path = cs.path(d);
    (&mut f)
        .take(SNIFF_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| GcError::Io {
            context: "reading",
            path,
            source,
        })?;
    if bytes.len() as u64 > SNIFF_LIMIT || bytes.first() != Some(&b'{') {
        return Ok(Vec::new());
    }
    let doc = match Document::parse(&bytes) {
        Ok(doc) => doc,
        // A blob labelled a manifest that does not parse keeps only itself; a sniffed
        // blob that is not a manifest is simply a leaf (a config, say).
        Err(_) => return Ok(Vec::new()),
    };
    Ok(match doc {
        Document::Index(i) => i
            .manifests
            .into_iter()
            .map(|c| (c.digest, Some(c.media_type)))
            .collect(),
        Document::Manifest(m) => std::iter::once(m.config)
            .chain(m.layers)
            .map(|c| (c.digest, Some(c.media_type)))
            .collect(),
    })
}

fn sweep_snapshots(
    sn: &dyn SnapshotGc,
    roots: &BTreeSet<String>,
    dry_run: bool,
) -> Result<Vec<String>, GcError> {
    let all = sn.list().map_err(|source| GcError::Snapshot {
        context: "listing",
        key: String::new(),
        source,
    })?;
    let parent: HashMap<&str, Option<&str>> = all
        .iter()
        .map(|(k, p)| (k.as_str(), p.as_deref()))
        .collect();
    // Keep the roots and every ancestor of a root.
    let mut keep: HashSet<&str> = HashSet::new();
    for r in roots {
        let mut cur = Some(r.as_str());
        while let Some(k) = cur {
            if !keep.insert(k) {
                break;
            }
            cur = parent.get(k).copied().flatten();
        }
    }
    // Remove the rest deepest first, so a child always goes before its parent.
    let depth = |k: &str| {
        let mut n = 0usize;
        let mut cur = parent.get(k).copied().flatten();
        while let Some(p) = cur {
            n += 1;
            if n > all.len() {
                break; // a cycle in the snapshotter's answer; do not loop
            }
            cur = parent.get(p).copied().flatten();
        }
        n
    };
    let mut doomed: Vec<(usize, &str)> = all
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !keep.contains(k))
        .map(|k| (depth(k), k))
        .collect();
    doomed.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let mut removed = Vec::new();
    for (_, k) in doomed {
        if !dry_run {
            sn.remove(k).map_err(|source| GcError::Snapshot {
                context: "removing",
                key: k.to_string(),
                source,
            })?;
        }
        removed.push(k.to_string());
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_definition() {
        let a = sha256(b"a");
        let b = sha256(b"b");
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        assert_eq!(c[1], sha256(format!("{a} {b}").as_bytes()));
        assert!(chain_ids(&[]).is_empty());
    }
}
