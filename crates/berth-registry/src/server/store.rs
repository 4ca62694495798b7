//! The registry's storage under `--root`:
//!
//! ```text
//! blobs/sha256/<hex>                                  content (berth-image's ContentStore)
//! ingest/                                             its temporary files
//! _uploads/<uuid>/{name,data}                         upload sessions (uploads.rs)
//! repositories/<name>/_layers/sha256/<hex>            the repository holds this blob
//! repositories/<name>/_manifests/revisions/sha256/<hex>   …this manifest (file: its media type)
//! repositories/<name>/_manifests/tags/<tag>           a tag (file: the digest)
//! repositories/<name>/_referrers/sha256/<subject hex>/sha256-<hex>
//!                                                     a manifest whose subject is <subject>
//!                                                     (file: its descriptor, for the
//!                                                     referrers API)
//! ```
//!
//! Names nest (`a/b/c`); their components start with `[a-z0-9]`, so they never meet
//! the `_`-prefixed directories. Content is written once, verified, and renamed into
//! place; links, tags and revisions are small files replaced atomically (temporary
//! file, fsync, rename), so a crash leaves the old state or the new one.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use berth_image::content::ContentStore;
use berth_types::Digest;

use super::error::{io_err, StoreError};

/// The registry's storage.
#[derive(Debug, Clone)]
pub struct Store {
    blobs: ContentStore,
    repos: PathBuf,
    uploads: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the storage at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let blobs = ContentStore::open(root)?;
        let repos = root.join("repositories");
        let uploads = root.join("_uploads");
        for d in [&repos, &uploads] {
            fs::create_dir_all(d).map_err(io_err("creating", d))?;
        }
        Ok(Store {
            blobs,
            repos,
            uploads,
        })
    }

    pub fn blobs(&self) -> &ContentStore {
        &self.blobs
    }

    /// Where upload sessions live.
    pub fn uploads_dir(&self) -> &Path {
        &self.uploads
    }

    fn repo(&self, name: &str) -> PathBuf {
        self.repos.join(name)
    }

    fn layer_link(&self, name: &str, d: &Digest) -> PathBuf {
        self.repo(name)
            .join("_layers")
            .join(d.algorithm().as_str())
            .join(d.hex())
    }

    fn revision(&self, name: &str, d: &Digest) -> PathBuf {
        self.repo(name)
            .join("_manifests/revisions")
            .join(d.algorithm().as_str())
            .join(d.hex())
    }

    fn tags_dir(&self, name: &str) -> PathBuf {
        self.repo(name).join("_manifests/tags")
    }

    fn referrers_dir(&self, name: &str, subject: &Digest) -> PathBuf {
        self.repo(name)
            .join("_referrers")
            .join(subject.algorithm().as_str())
            .join(subject.hex())
    }

    /// Whether the repository has ever held a blob or a manifest.
    pub fn repo_exists(&self, name: &str) -> bool {
        let r = self.repo(name);
        r.join("_layers").is_dir() || r.join("_manifests").is_dir()
    }

    /// Records that the repository holds a blob (stored already).
    pub fn link_blob(&self, name: &str, d: &Digest) -> Result<(), StoreError> {
        let link = self.layer_link(name, d);
        if link.is_file() {
            return Ok(());
        }
        write_atomic(&link, b"")
    }

    /// The size of a blob the repository holds; None when it holds no such blob.
    pub fn blob_in_repo(&self, name: &str, d: &Digest) -> Option<u64> {
        if !self.layer_link(name, d).is_file() {
            return None;
        }
        self.blobs.size(d).ok()
    }

    /// Forgets that the repository holds a blob (the content stays until `gc`). False
    /// when it held no such blob.
    pub fn unlink_blob(&self, name: &str, d: &Digest) -> Result<bool, StoreError> {
        remove_if_present(&self.layer_link(name, d))
    }

    /// Stores a manifest (verified against `digest`) as a revision of the repository.
    pub fn put_manifest(
        &self,
        name: &str,
        digest: &Digest,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        self.blobs.put(bytes, Some(digest.clone()))?;
        write_atomic(&self.revision(name, digest), media_type.as_bytes())
    }

    /// Whether the repository holds this manifest.
    pub fn has_manifest(&self, name: &str, d: &Digest) -> bool {
        self.revision(name, d).is_file() && self.blobs.exists(d)
    }

    /// A manifest of the repository: its media type and bytes.
    pub fn manifest(
        &self,
        name: &str,
        d: &Digest,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let rev = self.revision(name, d);
        let media_type = match fs::read_to_string(&rev) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("reading", &rev)(e)),
        };
        match self.blobs.read(d) {
            Ok(bytes) => Ok(Some((media_type, bytes))),
            Err(berth_image::content::ContentError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a manifest revision and every tag that names it. False when the
    /// repository held no such manifest.
    pub fn delete_manifest(&self, name: &str, d: &Digest) -> Result<bool, StoreError> {
        let had = remove_if_present(&self.revision(name, d))?;
        for tag in self.tags(name)? {
            if self.tag(name, &tag)?.as_ref() == Some(d) {
                self.delete_tag(name, &tag)?;
            }
        }
        Ok(had)
    }

    /// Points a tag at a manifest.
    pub fn set_tag(&self, name: &str, tag: &str, d: &Digest) -> Result<(), StoreError> {
        write_atomic(&self.tags_dir(name).join(tag), d.to_string().as_bytes())
    }

    /// The manifest a tag names.
    pub fn tag(&self, name: &str, tag: &str) -> Result<Option<Digest>, StoreError> {
        let path = self.tags_dir(name).join(tag);
        match fs::read_to_string(&path) {
            Ok(s) => Ok(s.trim().parse().ok()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("reading", &path)(e)),
        }
    }

    /// Removes a tag (the manifest stays). False when there was no such tag.
    pub fn delete_tag(&self, name: &str, tag: &str) -> Result<bool, StoreError> {
        remove_if_present(&self.tags_dir(name).join(tag))
    }

    /// The repository's tags, sorted.
    pub fn tags(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let mut tags = file_names(&self.tags_dir(name))?;
        tags.retain(|t| super::names::valid_tag(t));
        tags.sort();
        Ok(tags)
    }

    /// The manifests the repository holds.
    pub fn revisions(&self, name: &str) -> Result<Vec<Digest>, StoreError> {
        digests_under(&self.repo(name).join("_manifests/revisions"))
    }

    /// The blobs the repository claims to hold.
    pub fn layer_links(&self, name: &str) -> Result<Vec<Digest>, StoreError> {
        digests_under(&self.repo(name).join("_layers"))
    }

    /// Records `descriptor` (of manifest `d`) as a referrer of `subject`.
    pub fn add_referrer(
        &self,
        name: &str,
        subject: &Digest,
        d: &Digest,
        descriptor: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let path = self.referrers_dir(name, subject).join(referrer_file(d));
        write_atomic(&path, descriptor.to_string().as_bytes())
    }

    /// Forgets that manifest `d` refers to `subject`.
    pub fn remove_referrer(
        &self,
        name: &str,
        subject: &Digest,
        d: &Digest,
    ) -> Result<(), StoreError> {
        remove_if_present(&self.referrers_dir(name, subject).join(referrer_file(d))).map(|_| ())
    }

    /// The descriptors of the manifests whose subject is `subject`, by digest.
    pub fn referrers(
        &self,
        name: &str,
        subject: &Digest,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let dir = self.referrers_dir(name, subject);
        let mut files = file_names(&dir)?;
        files.sort();
        let mut out = Vec::with_capacity(files.len());
        for f in files {
            let path = dir.join(&f);
            let text = match fs::read(&path) {
                Ok(t) => t,
                // Deleted since the listing.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("reading", &path)(e)),
            };
            if let Ok(v) = serde_json::from_slice(&text) {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// Every repository, sorted.
    pub fn repositories(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        self.walk_repos(&self.repos, "", &mut out)?;
        out.sort();
        Ok(out)
    }

    fn walk_repos(
        &self,
        dir: &Path,
        prefix: &str,
        out: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        for child in file_names(dir)? {
            if child.starts_with('_') {
                continue;
            }
            let path = dir.join(&child);
            if !path.is_dir() {
                continue;
            }
            let name = if prefix.is_empty() {
                child
            } else {
                format!("{prefix}/{child}")
            };
            if self.repo_exists(&name) {
                out.push(name.clone());
            }
            self.walk_repos(&path, &name, out)?;
        }
        Ok(())
    }
}

fn referrer_file(d: &Digest) -> String {
    format!("{}-{}", d.algorithm().as_str(), d.hex())
}

/// Writes a small file atomically: temporary file beside it, fsync, rename.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let parent = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io_err("creating", parent))?;
    // A leading dot: no digest, tag or name starts with one, so listings skip it.
    let tmp = parent.join(format!(
        ".{}.tmp-{}-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let write = || -> io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err("writing", path)(e)
    })
}

/// Removes a file; false when it was not there.
fn remove_if_present(path: &Path) -> Result<bool, StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("removing", path)(e)),
    }
}

/// The names in a directory (none when it does not exist), temporary files (dotted)
/// left out.
fn file_names(dir: &Path) -> Result<Vec<String>, StoreError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("reading", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(io_err("reading", dir))?;
        if let Some(n) = entry.file_name().to_str() {
            if !n.starts_with('.') {
                out.push(n.to_string());
            }
        }
    }
    Ok(out)
}

/// The digests named by `<dir>/<alg>/<hex>` files.
fn digests_under(dir: &Path) -> Result<Vec<Digest>, StoreError> {
    let mut out = Vec::new();
    for alg in [
        berth_types::Algorithm::Sha256,
        berth_types::Algorithm::Sha512,
    ] {
        for hex in file_names(&dir.join(alg.as_str()))? {
            if let Ok(d) = Digest::new(alg, &hex) {
                out.push(d);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_image::content::sha256;

    #[test]
    fn repositories_tags_and_links() {
        let t = tempfile::tempdir().expect("tempdir");
        let s = Store::open(t.path()).expect("open");
        let blob = s.blobs().put(b"layer", None).expect("put");
        assert!(!s.repo_exists("a/b"));
        s.link_blob("a/b", &blob).expect("link");
        assert_eq!(s.blob_in_repo("a/b", &blob), Some(5));
        assert_eq!(s.blob_in_repo("a", &blob), None, "links are per repository");

        let m = br#"{"schemaVersion":2}"#;
        let md = sha256(m);
        s.put_manifest("a", &md, "application/vnd.oci.image.manifest.v1+json", m)
            .expect("manifest");
        s.set_tag("a", "v1", &md).expect("tag");
        s.set_tag("a", "v2", &md).expect("tag");
        assert_eq!(s.repositories().expect("repos"), vec!["a", "a/b"]);
        assert_eq!(s.tags("a").expect("tags"), vec!["v1", "v2"]);
        assert_eq!(s.tag("a", "v1").expect("tag"), Some(md.clone()));
        let (mt, bytes) = s.manifest("a", &md).expect("read").expect("present");
        assert_eq!(
            (mt.as_str(), bytes.as_slice()),
            ("application/vnd.oci.image.manifest.v1+json", &m[..])
        );

        // Deleting a manifest takes its tags along.
        assert!(s.delete_manifest("a", &md).expect("delete"));
        assert!(s.tags("a").expect("tags").is_empty());
        assert!(s.manifest("a", &md).expect("read").is_none());
        assert!(!s.delete_manifest("a", &md).expect("delete again"));

        assert!(s.unlink_blob("a/b", &blob).expect("unlink"));
        assert_eq!(s.blob_in_repo("a/b", &blob), None);
        assert!(s.blobs().exists(&blob), "content stays until gc");
    }

    #[test]
    fn referrers_are_listed_by_digest() {
        let t = tempfile::tempdir().expect("tempdir");
        let s = Store::open(t.path()).expect("open");
        let subject = sha256(b"subject");
        let (r1, r2) = (sha256(b"r1"), sha256(b"r2"));
        s.add_referrer(
            "x",
            &subject,
            &r2,
            &serde_json::json!({"digest": r2.to_string()}),
        )
        .expect("add");
        s.add_referrer(
            "x",
            &subject,
            &r1,
            &serde_json::json!({"digest": r1.to_string()}),
        )
        .expect("add");
        let got = s.referrers("x", &subject).expect("list");
        assert_eq!(got.len(), 2);
        s.remove_referrer("x", &subject, &r1).expect("remove");
        assert_eq!(s.referrers("x", &subject).expect("list").len(), 1);
        assert!(s.referrers("x", &r1).expect("none").is_empty());
    }
}
