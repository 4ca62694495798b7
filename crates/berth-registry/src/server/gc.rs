//! `berth registry gc`: removes the blobs no manifest references. Every manifest
//! revision of every repository is marked, with its config and layers; every other
//! blob is swept, and the repositories' links to swept blobs go with it. Like
//! registry:2's garbage-collect, run it while the registry is stopped or read-only:
//! a blob pushed for a manifest not yet pushed is unreferenced in between.

use std::collections::HashSet;
use std::path::Path;

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
