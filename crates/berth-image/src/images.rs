//! The image table: which names point at which image. An image is identified, as in
//! Docker, by the digest of its config; its record remembers the descriptor it was
//! tagged from (a manifest, or an index and the platform manifest chosen from it), its
//! names (normalised tags and digest references) and when it was created.
//!
//! The table is one JSON file, `<root>/images.json`. Every change takes an exclusive
//! `flock` on `<root>/images.lock`, re-reads the file (another process may have changed
//! it), and writes the new table to `images.json.tmp`, fsyncs it, renames it over the
//! old one and fsyncs the directory: a crash leaves the old table or the new one, never
//! a mix. Readers need no lock, since rename is atomic.

use crate::content::{ContentError, ContentStore};
use crate::fsutil::{write_atomic, FileLock};
use crate::model::{
    media, select_platform, Descriptor, Document, ImageConfig, Index, Manifest, Platform,
};
use berth_types::{Digest, Reference, ReferenceError};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

const TABLE: &str = "images.json";
const LOCK: &str = "images.lock";
/// How deep indexes may nest inside indexes before we call it a loop.
const MAX_INDEX_DEPTH: usize = 8;

/// What can go wrong with the image table; every case names the image, reference,
/// digest or path involved.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("No such image: {0}")]
    NotFound(String),
    #[error("image id prefix {prefix:?} is ambiguous: it matches {matches} images")]
    Ambiguous { prefix: String, matches: usize },
    #[error(transparent)]
    InvalidReference(#[from] ReferenceError),
    #[error("{what} {digest} is missing from the content store")]
    MissingBlob { what: &'static str, digest: Digest },
    #[error("{what} {digest} does not parse: {source}")]
    BadDocument {
        what: &'static str,
        digest: Digest,
        #[source]
        source: serde_json::Error,
    },
    #[error("{digest} is not an image index or manifest (media type {media_type:?})")]
    NotAnImage { digest: Digest, media_type: String },
    #[error("no manifest in index {index} matches platform {platform}")]
    NoMatchingPlatform { index: Digest, platform: String },
    #[error("indexes nest more than {MAX_INDEX_DEPTH} deep under {0}")]
    TooDeep(Digest),
    #[error(
        "reference {reference} pins {reference_digest}, but the image was resolved from {target}"
    )]
    DigestMismatch {
        reference: String,
        reference_digest: Digest,
        target: Digest,
    },
    #[error(
        "manifest {manifest} lists {layers} layers but config {config} has {diff_ids} diff_ids"
    )]
    LayerCount {
        manifest: Digest,
        config: Digest,
        layers: usize,
        diff_ids: usize,
    },
    #[error("image table {path} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Content(#[from] ContentError),
}

fn io_err<'a>(context: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ImageError + 'a {
    move |source| ImageError::Io {
        context,
        path: path.to_path_buf(),
        source,
    }
}

/// One image: its id (the config digest), where it came from, and its names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The config digest, as Docker's image ids are.
    pub id: Digest,
    /// What the image was tagged from: a manifest, or an index (manifest list).
    pub target: Descriptor,
    /// The single-platform manifest whose config is `id` (equal to `target` unless
    /// `target` is an index).
    pub manifest: Descriptor,
    /// Normalised references: tags (`docker.io/library/busybox:latest`) and digest
    /// references (`docker.io/library/busybox@sha256:…`), sorted.
    #[serde(with = "reference_strings")]
    pub names: Vec<Reference>,
    /// Seconds since the Unix epoch when the record was first made.
    pub created: u64,
    /// Seconds since the Unix epoch of the last change (tag added, target replaced).
    #[serde(default)]
    pub updated: u64,
    /// The image a build step made this one from (Docker's `Parent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Digest>,
}

impl ImageRecord {
    /// The tag names (Docker's RepoTags).
    pub fn repo_tags(&self) -> impl Iterator<Item = &Reference> {
        self.names.iter().filter(|r| r.digest().is_none())
    }

    /// The digest names (Docker's RepoDigests).
    pub fn repo_digests(&self) -> impl Iterator<Item = &Reference> {
        self.names.iter().filter(|r| r.digest().is_some())
    }

    /// An image with no name left (`<none>:<none>`).
    pub fn is_dangling(&self) -> bool {
        self.names.is_empty()
    }
}

mod reference_strings {
    use berth_types::Reference;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Reference], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|r| r.to_string()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Reference>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| Reference::parse_named(s).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// The outcome of tagging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub image: ImageRecord,
    /// Another image that held this name until now (Docker's "renaming the old one
    /// with ID … to empty string").
    pub displaced: Option<Digest>,
}

/// The outcome of removing a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untagged {
    pub id: Digest,
    /// The names removed: the one asked for, and, as Docker does, the digest
    /// references of the same repository when no tag of that repository is left.
    pub removed: Vec<Reference>,
    /// Whether the image has no name left (the caller may now delete it).
    pub last_name: bool,
}

/// A resolved single-platform image: its manifest and parsed config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub manifest_descriptor: Descriptor,
    pub manifest: Manifest,
    pub config: ImageConfig,
}

/// A layer blob and its uncompressed digest (the matching `rootfs.diff_ids` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub blob: Descriptor,
    pub diff_id: Digest,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Table {
    version: u32,
    images: Vec<ImageRecord>,
}

/// The name → image table over a content store.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
    content: ContentStore,
}

impl ImageStore {
    /// Open (creating the directory if needed) the table under `root`.
    pub fn open(root: &Path, content: ContentStore) -> Result<ImageStore, ImageError> {
        std::fs::create_dir_all(root).map_err(io_err("creating", root))?;
        Ok(ImageStore {
            root: root.to_path_buf(),
            content,
        })
    }

    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Tag the image reached from `target` (for this host's platform when `target` is
    /// an index) as `reference`. The manifest and config must be in the content store;
    /// layers need not be yet.
    pub fn put(&self, reference: &Reference, target: &Descriptor) -> Result<Tagged, ImageError> {
        self.put_for_platform(Some(reference), target, &crate::model::host_platform())
    }

    /// Add the image reached from `target` for `platform`, named `reference` or, with
    /// `None`, unnamed (a dangling image, as an untagged build or load makes).
    pub fn put_for_platform(
        &self,
        reference: Option<&Reference>,
        target: &Descriptor,
        platform: &Platform,
    ) -> Result<Tagged, ImageError> {
        self.put_child(reference, target, platform, None)
    }

    /// [`ImageStore::put_for_platform`], recording `parent` as the image a build step
    /// made this one from (kept when the image is already known without one).
    pub fn put_child(
        &self,
        reference: Option<&Reference>,
        target: &Descriptor,
        platform: &Platform,
        parent: Option<&Digest>,
    ) -> Result<Tagged, ImageError> {
        let name = reference.map(canonical_name);
        let _lock = self.lock()?;
        // Resolve under the lock so a garbage collection, which holds it while it
        // sweeps, cannot remove the blobs between the check and the record.
        let (manifest_descriptor, manifest) = self.resolve_descriptor(target, platform)?;
        if !self.content.exists(&manifest.config.digest) {
            return Err(ImageError::MissingBlob {
                what: "config",
                digest: manifest.config.digest.clone(),
            });
        }
        if let Some(n) = &name {
            if let Some(d) = n.digest() {
                if d != &target.digest && d != &manifest_descriptor.digest {
                    return Err(ImageError::DigestMismatch {
                        reference: n.familiar(),
                        reference_digest: d.clone(),
                        target: target.digest.clone(),
                    });
                }
            }
        }
        let id = manifest.config.digest.clone();
        let now = now_secs();
        let mut table = self.load()?;
        let mut displaced = None;
        if let Some(n) = &name {
            for img in table.images.iter_mut().filter(|i| i.id != id) {
                let before = img.names.len();
                img.names.retain(|x| x != n);
                if img.names.len() != before {
                    img.updated = now;
                    displaced = Some(img.id.clone());
                }
            }
        }
        let record = match table.images.iter_mut().find(|i| i.id == id) {
            Some(img) => {
                img.target = target.clone();
                img.manifest = manifest_descriptor;
                img.updated = now;
                if img.parent.is_none() {
                    img.parent = parent.cloned();
                }
                if let Some(n) = name {
                    if !img.names.contains(&n) {
                        img.names.push(n);
                        img.names.sort();
                    }
                }
                img.clone()
            }
            None => {
                let img = ImageRecord {
                    id,
                    target: target.clone(),
                    manifest: manifest_descriptor,
                    names: name.into_iter().collect(),
                    created: now,
                    updated: now,
                    parent: parent.cloned(),
                };
                table.images.push(img.clone());
                img
            }
        };
        self.save(&table)?;
        Ok(Tagged {
            image: record,
            displaced,
        })
    }

    /// Give an existing image (found as `get` finds it) another name (`docker tag`).
    pub fn tag(&self, source: &str, reference: &Reference) -> Result<Tagged, ImageError> {
        let src = self.get(source)?;
        let name = canonical_name(reference);
        let _lock = self.lock()?;
        let now = now_secs();
        let mut table = self.load()?;
        if !table.images.iter().any(|i| i.id == src.id) {
            return Err(ImageError::NotFound(source.to_string()));
        }
        let mut displaced = None;
        for img in table.images.iter_mut().filter(|i| i.id != src.id) {
            let before = img.names.len();
            img.names.retain(|x| x != &name);
            if img.names.len() != before {
                img.updated = now;
                displaced = Some(img.id.clone());
            }
        }
        let img = table
            .images
            .iter_mut()
            .find(|i| i.id == src.id)
            .expect("presence checked above under the same lock");
        if !img.names.contains(&name) {
            img.names.push(name);
            img.names.sort();
            img.updated = now;
        }
        let record = img.clone();
        self.save(&table)?;
        Ok(Tagged {
            image: record,
            displaced,
        })
    }

    /// Find an image as Docker does: a full id (`sha256:<hex>` or 64 hex digits), a
    /// reference (`busybox` means `docker.io/library/busybox:latest`;
    /// `busybox@sha256:…` a digest reference), or else a unique prefix of an id
    /// (with or without `sha256:`).
    pub fn get(&self, query: &str) -> Result<ImageRecord, ImageError> {
        let table = self.load()?;
        find(&table, query).cloned()
    }

    /// Every image, newest first.
    pub fn list(&self) -> Result<Vec<ImageRecord>, ImageError> {
        let mut v = self.load()?.images;
        v.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(v)
    }

    /// Remove one name. Removing a tag also removes the digest references of the same
    /// repository when no tag of it is left (as Docker's `rmi` does). The image itself
    /// stays, even when it has no name left; `Untagged::last_name` says so.
    pub fn untag(&self, reference: &Reference) -> Result<Untagged, ImageError> {
        let name = canonical_name(reference);
        let _lock = self.lock()?;
        let mut table = self.load()?;
        let img = table
            .images
            .iter_mut()
            .find(|i| i.names.contains(&name))
            .ok_or_else(|| ImageError::NotFound(name.familiar()))?;
        img.names.retain(|x| x != &name);
        let mut removed = vec![name.clone()];
        if name.digest().is_none() {
            let repo = name.name();
            let tag_left = img
                .names
                .iter()
                .any(|x| x.digest().is_none() && x.name() == repo);
            if !tag_left {
                img.names.retain(|x| {
                    let drop = x.digest().is_some() && x.name() == repo;
                    if drop {
                        removed.push(x.clone());
                    }
                    !drop
                });
            }
        }
        img.updated = now_secs();
        let out = Untagged {
            id: img.id.clone(),
            removed,
            last_name: img.names.is_empty(),
        };
        self.save(&table)?;
        Ok(out)
    }

    /// Remove an image record and all its names. The blobs stay until garbage
    /// collection finds nothing else referencing them.
    pub fn delete(&self, id: &Digest) -> Result<ImageRecord, ImageError> {
        let _lock = self.lock()?;
        let mut table = self.load()?;
        let pos = table
            .images
            .iter()
            .position(|i| &i.id == id)
            .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        let rec = table.images.remove(pos);
        self.save(&table)?;
        Ok(rec)
    }

    /// Follow an image's target for `platform`: index → platform manifest → config.
    pub fn resolve_manifest(
        &self,
        image: &ImageRecord,
        platform: &Platform,
    ) -> Result<Resolved, ImageError> {
        self.resolve(&image.target, platform)
    }

    /// Follow any descriptor (index or manifest) for `platform` to a manifest and config.
    pub fn resolve(
        &self,
        target: &Descriptor,
        platform: &Platform,
    ) -> Result<Resolved, ImageError> {
        let (manifest_descriptor, manifest) = self.resolve_descriptor(target, platform)?;
        let config = self.parse_config(&manifest.config.digest)?;
        Ok(Resolved {
            manifest_descriptor,
            manifest,
            config,
        })
    }

    /// The config of an image, by id.
    pub fn config(&self, id: &Digest) -> Result<ImageConfig, ImageError> {
        self.parse_config(id)
    }

    /// An image's layer blobs, bottom first, each with its diff_id.
    pub fn layers(&self, id: &Digest) -> Result<Vec<Layer>, ImageError> {
        let rec = self
            .load()?
            .images
            .into_iter()
            .find(|i| &i.id == id)
            .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        let manifest = self.parse_manifest(&rec.manifest.digest)?;
        let config = self.parse_config(id)?;
        let diff_ids = config.rootfs.diff_ids;
        if manifest.layers.len() != diff_ids.len() {
            return Err(ImageError::LayerCount {
                manifest: rec.manifest.digest,
                config: id.clone(),
                layers: manifest.layers.len(),
                diff_ids: diff_ids.len(),
            });
        }
        Ok(manifest
            .layers
            .into_iter()
            .zip(diff_ids)
            .map(|(blob, diff_id)| Layer { blob, diff_id })
            .collect())
    }

    /// Write a Docker schema 2 manifest for a config and layers into the content store
    /// and return its descriptor: for importers (docker-archive, rootfs import, build)
    /// that have no manifest of their own, so every image has a target.
    pub fn write_manifest(
        &self,
        config: Descriptor,
        layers: Vec<Descriptor>,
    ) -> Result<Descriptor, ImageError> {
        let m = Manifest {
            schema_version: 2,
            media_type: Some(media::DOCKER_MANIFEST.to_string()),
            config,
            layers,
            annotations: None,
        };
        let bytes = serde_json::to_vec(&m).expect("a manifest always serialises");
        let digest = self.content.put(&bytes, None)?;
        Ok(Descriptor {
            media_type: media::DOCKER_MANIFEST.to_string(),
            digest,
            size: bytes.len() as u64,
            urls: None,
            annotations: None,
            platform: None,
        })
    }

    fn resolve_descriptor(
        &self,
        target: &Descriptor,
        platform: &Platform,
    ) -> Result<(Descriptor, Manifest), ImageError> {
        let mut cur = target.clone();
        for _ in 0..MAX_INDEX_DEPTH {
            let bytes = self.read_blob(kind_of(&cur.media_type), &cur.digest)?;
            let doc = if media::is_index(&cur.media_type) {
                serde_json::from_slice::<Index>(&bytes).map(Document::Index)
            } else if media::is_manifest(&cur.media_type) {
                serde_json::from_slice::<Manifest>(&bytes).map(|m| Document::Manifest(Box::new(m)))
            } else if cur.media_type.is_empty() {
                Document::parse(&bytes)
            } else {
                return Err(ImageError::NotAnImage {
                    digest: cur.digest,
                    media_type: cur.media_type,
                });
            };
            let doc = doc.map_err(|source| ImageError::BadDocument {
                what: kind_of(&cur.media_type),
                digest: cur.digest.clone(),
                source,
            })?;
            match doc {
                Document::Manifest(m) => return Ok((cur, *m)),
                Document::Index(idx) => {
                    let next = select_platform(&idx, platform).ok_or_else(|| {
                        ImageError::NoMatchingPlatform {
                            index: cur.digest.clone(),
                            platform: platform_string(platform),
                        }
                    })?;
                    cur = next.clone();
                }
            }
        }
        Err(ImageError::TooDeep(target.digest.clone()))
    }

    fn parse_manifest(&self, d: &Digest) -> Result<Manifest, ImageError> {
        let bytes = self.read_blob("manifest", d)?;
        serde_json::from_slice(&bytes).map_err(|source| ImageError::BadDocument {
            what: "manifest",
            digest: d.clone(),
            source,
        })
    }

    fn parse_config(&self, d: &Digest) -> Result<ImageConfig, ImageError> {
        let bytes = self.read_blob("config", d)?;
        serde_json::from_slice(&bytes).map_err(|source| ImageError::BadDocument {
            what: "config",
            digest: d.clone(),
            source,
        })
    }

    fn read_blob(&self, what: &'static str, d: &Digest) -> Result<Vec<u8>, ImageError> {
        match self.content.read(d) {
            Ok(b) => Ok(b),
            Err(ContentError::NotFound(digest)) => Err(ImageError::MissingBlob { what, digest }),
            Err(e) => Err(e.into()),
        }
    }

    /// Hold the table's lock (garbage collection holds it while it marks and sweeps).
    pub(crate) fn lock(&self) -> Result<FileLock, ImageError> {
        let p = self.root.join(LOCK);
        FileLock::exclusive(&p).map_err(io_err("locking", &p))
    }

    fn load(&self) -> Result<Table, ImageError> {
        let p = self.root.join(TABLE);
        let bytes = match std::fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Table::default()),
            Err(e) => return Err(io_err("reading", &p)(e)),
        };
        serde_json::from_slice(&bytes).map_err(|source| ImageError::Corrupt { path: p, source })
    }

    fn save(&self, table: &Table) -> Result<(), ImageError> {
        let t = Table {
            version: 1,
            images: table.images.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&t).expect("the image table always serialises");
        let p = self.root.join(TABLE);
        write_atomic(&p, &bytes).map_err(|(context, path, source)| ImageError::Io {
            context,
            path,
            source,
        })
    }
}

fn find<'a>(table: &'a Table, query: &str) -> Result<&'a ImageRecord, ImageError> {
    let by_id = |d: &Digest| {
        table
            .images
            .iter()
            .find(|i| &i.id == d)
            .ok_or_else(|| ImageError::NotFound(query.to_string()))
    };
    if query.is_empty() {
        return Err(ImageError::NotFound(query.to_string()));
    }
    // A full id, with or without its algorithm, is always an id (64 hex digits cannot
    // be a repository name in Docker either).
    if let Ok(d) = query.parse::<Digest>() {
        return by_id(&d);
    }
    if is_hex(query) && query.len() == 64 {
        if let Ok(d) = format!("sha256:{query}").parse::<Digest>() {
            return by_id(&d);
        }
    }
    let parsed = Reference::parse(query);
    if let Ok(r) = &parsed {
        let name = canonical_name(r);
        if let Some(i) = table.images.iter().find(|i| i.names.contains(&name)) {
            return Ok(i);
        }
    }
    let prefix = query.strip_prefix("sha256:").unwrap_or(query);
    if is_hex(prefix) {
        let mut hits = table.images.iter().filter(|i| {
            i.id.algorithm() == berth_types::Algorithm::Sha256 && i.id.hex().starts_with(prefix)
        });
        match (hits.next(), hits.count()) {
            (Some(i), 0) => return Ok(i),
            (Some(_), more) => {
                return Err(ImageError::Ambiguous {
                    prefix: query.to_string(),
                    matches: more + 1,
                })
            }
            (None, _) => {}
        }
    }
    match parsed {
        Ok(r) => Err(ImageError::NotFound(r.familiar())),
        Err(e) if !is_hex(prefix) => Err(e.into()),
        Err(_) => Err(ImageError::NotFound(query.to_string())),
    }
}

fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A name as the table stores it: a reference with a digest keeps only the digest
/// (Docker's reference store favours the digest over the tag).
fn canonical_name(r: &Reference) -> Reference {
    match r.digest() {
        Some(d) if r.tag().is_some() => r.with_digest(d.clone()),
        _ => r.clone(),
    }
}

fn kind_of(media_type: &str) -> &'static str {
    if media::is_index(media_type) {
        "index"
    } else if media::is_manifest(media_type) {
        "manifest"
    } else {
        "image document"
    }
}

fn platform_string(p: &Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{}", p.os, p.architecture, v),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
