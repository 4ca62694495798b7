//! `berth registry gc`: removes the blobs no manifest references. Every manifest
//! revision of every repository is marked, with its config and layers; every other
//! blob is swept, and the repositories' links to swept blobs go with it. Upload
//! sessions untouched for a week go too (registry:2 purges them after the same time),
//! and temporary files a crash left in `ingest/`. Like registry:2's garbage-collect,
//! run it while the registry is stopped or read-only: a blob pushed for a manifest not
//! yet pushed is unreferenced in between.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use berth_types::Digest;

use super::error::StoreError;
use super::store::Store;

/// What a collection found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs kept (manifests and what they reference).
    pub kept: usize,
    /// Blobs removed (or, in a dry run, that would be), with their sizes.
    pub removed: Vec<(Digest, u64)>,
    /// Stale upload sessions and temporary files removed (or that would be).
    pub stale: usize,
}

/// How long an upload session (or a temporary file) may sit untouched.
pub const STALE_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// The entries of `dir` last modified more than [`STALE_AFTER`] ago.
fn stale_entries(dir: &Path) -> Result<Vec<std::path::PathBuf>, StoreError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(super::error::io_err("reading", dir)(e)),
    };
    let now = SystemTime::now();
    let mut out = Vec::new();
    for entry in rd.flatten() {
        // A session's age is its data's: a chunk appended touches the file only.
        let path = entry.path();
        let probe = if path.is_dir() {
            path.join("data")
        } else {
            path.clone()
        };
        let modified = std::fs::metadata(&probe)
            .or_else(|_| std::fs::metadata(&path))
            .and_then(|m| m.modified());
        if let Ok(m) = modified {
            if now.duration_since(m).is_ok_and(|age| age > STALE_AFTER) {
                out.push(path);
            }
        }
    }
    Ok(out)
}

/// The blobs a stored manifest references, read leniently: config, layers, and the
/// `blobs` of the artifact manifests of OCI 1.1's drafts.
fn references(bytes: &[u8]) -> Vec<Digest> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut push = |d: &serde_json::Value| {
        if let Some(d) = d["digest"].as_str().and_then(|s| s.parse().ok()) {
            out.push(d);
        }
    };
    push(&v["config"]);
    for key in ["layers", "blobs"] {
        for d in v[key].as_array().into_iter().flatten() {
            push(d);
        }
    }
    out
}

/// Collects the storage at `root`; with `dry_run`, only reports.
pub fn collect(root: &Path, dry_run: bool) -> Result<GcReport, StoreError> {
    let store = Store::open(root)?;
    let repos = store.repositories()?;
    let mut marked: HashSet<Digest> = HashSet::new();
    for repo in &repos {
        for d in store.revisions(repo)? {
            if let Some((_, bytes)) = store.manifest(repo, &d)? {
                marked.extend(references(&bytes));
            }
            marked.insert(d);
        }
    }
    let mut report = GcReport::default();
    for d in store.blobs().list()? {
        if marked.contains(&d) {
            report.kept += 1;
            continue;
        }
        let size = store.blobs().size(&d).unwrap_or(0);
        if !dry_run {
            store.blobs().delete(&d)?;
        }
        report.removed.push((d, size));
    }
    let ingest = store.blobs().root().join("ingest");
    for dir in [store.uploads_dir(), ingest.as_path()] {
        for path in stale_entries(dir)? {
            if !dry_run {
                let gone = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                gone.map_err(super::error::io_err("removing", &path))?;
            }
            report.stale += 1;
        }
    }
    if !dry_run {
        let removed: HashSet<&Digest> = report.removed.iter().map(|(d, _)| d).collect();
        for repo in &repos {
            for d in store.layer_links(repo)? {
                if removed.contains(&d) {
                    store.unlink_blob(repo, &d)?;
                }
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_of_manifests_and_artifacts() {
        let a = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
        let b = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
        let m = format!(
            r#"{{"config":{{"digest":"{a}"}},"layers":[{{"digest":"{b}"}},{{"digest":"bad"}}]}}"#
        );
        let want: Vec<Digest> = vec![a.parse().unwrap(), b.parse().unwrap()];
        assert_eq!(references(m.as_bytes()), want);
        let art = format!(r#"{{"blobs":[{{"digest":"{b}"}}]}}"#);
        assert_eq!(
            references(art.as_bytes()),
            vec![b.parse::<Digest>().unwrap()]
        );
        assert!(references(b"not json").is_empty());
    }
}
