//! `docker save` / `docker load` archives. Reads the classic layout
//! (`manifest.json`, `<id>/layer.tar`, `<config>.json`, `repositories`), the form
//! skopeo writes (`<hex>.tar`), and the Docker 25+ form (an OCI layout in the tar with
//! `manifest.json` pointing into `blobs/sha256/`). Writes the classic layout.

use super::{
    blob_compression, clean_entry_name, copy_entry, decompress, diff_id_of, json_err, oci,
    parse_ref, ArchiveError, ArchiveImage, Compression, TarOut,
};
use crate::content::{sha256, ContentStore, HashingReader};
use crate::model::{media, Descriptor, ImageConfig, Manifest};
use berth_types::{Algorithm, Digest};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};

/// One entry of `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// Metadata small enough to hold in memory; everything else goes to the store.
const MAX_METADATA: u64 = 16 << 20;

pub(super) enum Spooled {
    Memory(Vec<u8>),
    Stored(Digest),
}

/// Stream a tar into memory (metadata) and the content store (blobs and layers),
/// whatever order its entries come in. `blobs/<alg>/<hex>` entries are verified
/// against their names. Links (dockerd writes a layer shared by two images once, and
/// a symlink to it for the other) may come before or after their target.
pub(super) fn spool<R: Read>(
    store: &ContentStore,
    r: R,
) -> Result<HashMap<String, Spooled>, ArchiveError> {
    let mut files = HashMap::new();
    // Link name → the entry it names (resolved against the link's directory).
    let mut links: Vec<(String, String)> = Vec::new();
    let mut ar = tar::Archive::new(r);
    for e in ar.entries().map_err(ArchiveError::Read)? {
        let mut e = e.map_err(ArchiveError::Read)?;
        let name = clean_entry_name(&e.path().map_err(ArchiveError::Read)?);
        let ty = e.header().entry_type();
        if ty.is_dir() || ty.is_pax_global_extensions() || name.is_empty() {
            continue;
        }
        if !ty.is_file() {
            if ty.is_symlink() || ty.is_hard_link() {
                if let Some(t) = e.link_name().map_err(ArchiveError::Read)? {
                    let mut target = clean_entry_name(&t);
                    if ty.is_symlink() {
                        if let Some((dir, _)) = name.rsplit_once('/') {
                            target = normalise(&format!("{dir}/{target}"));
                        }
                    }
                    links.push((name, target));
                    continue;
                }
            }
            return Err(ArchiveError::Invalid(format!(
                "archive entry {name:?} is a {ty:?}, not a regular file or a link to one"
            )));
        }
        let base = name.rsplit('/').next().unwrap_or(&name);
        let metadata = matches!(
            base,
            "manifest.json" | "repositories" | "index.json" | "oci-layout" | "json" | "VERSION"
        ) || base.ends_with(".json");
        if metadata && e.size() <= MAX_METADATA && !name.starts_with("blobs/") {
            let mut v = Vec::with_capacity(e.size() as usize);
            copy_entry(&mut e, &name, &mut v)?;
            files.insert(name, Spooled::Memory(v));
            continue;
        }
        let expected = blob_name_digest(&name)?;
        let mut w = store.writer(expected, Some(e.size()))?;
        copy_entry(&mut e, &name, &mut w)?;
        let (d, _) = w.commit()?;
        files.insert(name, Spooled::Stored(d));
    }
    // Links to links resolve over several rounds; a round that resolves nothing
    // leaves links to nothing (or to each other), which is an error.
    while !links.is_empty() {
        let before = links.len();
        links.retain(|(name, target)| {
            let found = match files.get(target) {
                Some(Spooled::Stored(d)) => Spooled::Stored(d.clone()),
                Some(Spooled::Memory(v)) => Spooled::Memory(v.clone()),
                None => return true,
            };
            files.insert(name.clone(), found);
            false
        });
        if links.len() == before {
            let (name, target) = &links[0];
            return Err(ArchiveError::Invalid(format!(
                "archive entry {name:?} links to {target:?}, which is not a file in the archive"
            )));
        }
    }
    Ok(files)
}

fn normalise(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

/// `blobs/sha256/<hex>` names its digest.
fn blob_name_digest(name: &str) -> Result<Option<Digest>, ArchiveError> {
    let parts: Vec<&str> = name.split('/').collect();
    if let ["blobs", alg, hex] = parts[..] {
        let a = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Ok(None),
        };
        return Digest::new(a, hex)
            .map(Some)
            .map_err(|e| ArchiveError::Invalid(format!("archive entry {name:?}: {e}")));
    }
    Ok(None)
}

fn bytes_of(
    store: &ContentStore,
    files: &HashMap<String, Spooled>,
    name: &str,
    what: &str,
) -> Result<Vec<u8>, ArchiveError> {
    match files.get(&normalise(name)) {
        Some(Spooled::Memory(v)) => Ok(v.clone()),
        Some(Spooled::Stored(d)) => Ok(store.read(d)?),
        None => Err(ArchiveError::MissingFile {
            what: what.to_string(),
            path: name.to_string(),
        }),
    }
}

struct Planned {
    names: Vec<berth_types::Reference>,
    config_bytes: Vec<u8>,
    config: Digest,
    manifest: Result<Descriptor, Vec<u8>>,
}

/// Load a `docker save` archive: every layer and config lands in the content store
/// (verified), and each image gets a manifest stored alongside. Entries may come in
/// any order. On any error no records are returned (blobs already verified and
/// stored stay, unreferenced, for garbage collection).
pub fn load_docker_archive(
    store: &ContentStore,
    r: impl Read,
) -> Result<Vec<ArchiveImage>, ArchiveError> {
    let files = spool(store, r)?;
    let Some(Spooled::Memory(mj)) = files.get("manifest.json") else {
        if files.contains_key("index.json") {
            // Docker 25+ loads a plain OCI layout archive too.
            return oci::import_spooled(store, &files, &oci::OciImportOptions::default());
        }
        return Err(ArchiveError::Missing("manifest.json"));
    };
    let entries: Vec<ManifestEntry> =
        serde_json::from_slice(mj).map_err(json_err("manifest.json"))?;
    // Manifests an OCI index inside the archive already has (Docker 25+): reuse them
    // so the manifest digest survives.
    let oci_manifests = if files.contains_key("index.json") {
        oci::spooled_manifests(store, &files)?
    } else {
        Vec::new()
    };
    let mut planned = Vec::new();
    for (i, ent) in entries.iter().enumerate() {
        let what = format!("manifest.json entry {i} ({})", ent.config);
        let config_bytes = bytes_of(store, &files, &ent.config, &format!("{what} Config"))?;
        let config = sha256(&config_bytes);
        let cfg: ImageConfig =
            serde_json::from_slice(&config_bytes).map_err(json_err(&ent.config))?;
        if cfg.rootfs.diff_ids.len() != ent.layers.len() {
            return Err(ArchiveError::Invalid(format!(
                "{what}: {} layers listed, but the config has {} rootfs.diff_ids",
                ent.layers.len(),
                cfg.rootfs.diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (path, want) in ent.layers.iter().zip(&cfg.rootfs.diff_ids) {
            let d = match files.get(&normalise(path)) {
                Some(Spooled::Stored(d)) => d.clone(),
                Some(Spooled::Memory(v)) => store.put(v, None)?,
                None => {
                    return Err(ArchiveError::MissingFile {
                        what: format!("{what} Layers"),
                        path: path.clone(),
                    })
                }
            };
            let (diff_id, _) = diff_id_of(store, &d)?;
            if &diff_id != want {
                return Err(ArchiveError::DiffIdMismatch {
                    image: ent.config.clone(),
                    layer: path.clone(),
                    expected: want.clone(),
                    actual: diff_id,
                });
            }
            let c = blob_compression(store, &d)?;
            layers.push((d.clone(), store.size(&d)?, c));
        }
        let mut names = Vec::new();
        for t in ent.repo_tags.iter().flatten() {
            names.push(parse_ref(t, &format!("{what} RepoTags"))?);
        }
        let existing = oci_manifests.iter().find(|(_, m)| {
            m.config.digest == config
                && m.layers.len() == layers.len()
                && m.layers.iter().zip(&layers).all(|(a, b)| a.digest == b.0)
        });
        let manifest = match existing {
            Some((desc, _)) => Ok(desc.clone()),
            None => Err(build_manifest(&config, config_bytes.len() as u64, &layers)?),
        };
        planned.push(Planned {
            names,
            config_bytes,
            config,
            manifest,
        });
    }
    // Everything checked: now write configs and manifests.
    let mut out = Vec::new();
    for p in planned {
        store.put(&p.config_bytes, Some(p.config.clone()))?;
        let manifest = match p.manifest {
            Ok(d) => d,
            Err(bytes) => {
                let d = store.put(&bytes, None)?;
                let oci = serde_json::from_slice::<Manifest>(&bytes)
                    .ok()
                    .and_then(|m| m.media_type)
                    .unwrap_or_default();
                Descriptor {
                    media_type: oci,
                    digest: d,
                    size: bytes.len() as u64,
                    urls: None,
                    annotations: None,
                    platform: None,
                }
            }
        };
        out.push(ArchiveImage {
            names: p.names,
            manifest,
            config: p.config,
        });
    }
    Ok(out)
}

/// A Docker schema 2 manifest for uncompressed/gzip layers; OCI when zstd is present
/// (schema 2 has no zstd media type).
fn build_manifest(
    config: &Digest,
    config_size: u64,
    layers: &[(Digest, u64, Compression)],
) -> Result<Vec<u8>, ArchiveError> {
    let oci = layers.iter().any(|l| l.2 == Compression::Zstd);
    let desc = |mt: &str, d: &Digest, size: u64| Descriptor {
        media_type: mt.to_string(),
        digest: d.clone(),
        size,
        urls: None,
        annotations: None,
        platform: None,
    };
    let m = Manifest {
        schema_version: 2,
        media_type: Some(
            if oci {
                media::OCI_MANIFEST
            } else {
                media::DOCKER_MANIFEST
            }
            .into(),
        ),
        config: desc(
            if oci {
                media::OCI_CONFIG
            } else {
                media::DOCKER_CONFIG
            },
            config,
            config_size,
        ),
        layers: layers
            .iter()
            .map(|(d, size, c)| {
                let mt = match (c, oci) {
                    (Compression::None, false) => media::DOCKER_LAYER,
                    (Compression::Gzip, false) => media::DOCKER_LAYER_GZIP,
                    (Compression::None, true) => media::OCI_LAYER,
                    (Compression::Gzip, true) => media::OCI_LAYER_GZIP,
                    (Compression::Zstd, _) => media::OCI_LAYER_ZSTD,
                };
                desc(mt, d, *size)
            })
            .collect(),
        annotations: None,
    };
    serde_json::to_vec(&m).map_err(json_err("generated manifest"))
}

struct SavedLayer {
    /// The first image (config digest) saved with this layer.
    image: String,
    blob: Digest,
    diff_id: Digest,
    compression: Compression,
    size: u64,
    /// Whether the content was already checked against the diff_id (else it is
    /// checked as it streams).
    verified: bool,
}

/// Uncompressed sizes of layers, by diff_id, remembered between saves. A layer.tar
/// entry needs its size before its data, which for a compressed layer costs a whole
/// extra read; with the size remembered the layer is read once, and its diff_id is
/// checked as it streams (a mismatch fails the save, and the size is forgotten).
pub trait LayerSizes {
    fn get(&self, diff_id: &Digest) -> Option<u64>;
    fn put(&self, diff_id: &Digest, size: u64);
    fn forget(&self, diff_id: &Digest);
}

/// Remembers nothing: every compressed layer is read twice.
struct NoSizes;

impl LayerSizes for NoSizes {
    fn get(&self, _: &Digest) -> Option<u64> {
        None
    }
    fn put(&self, _: &Digest, _: u64) {}
    fn forget(&self, _: &Digest) {}
}

/// Write images as a `docker save` archive (classic layout: `<diff_id hex>/layer.tar`
/// uncompressed, `<config hex>.json`, `manifest.json`, `repositories`), readable by
/// `docker load` and skopeo's `docker-archive:`. Output is deterministic: entries
/// sorted, mtimes 0, owner root.
pub fn save_docker_archive(
    store: &ContentStore,
    images: &[ArchiveImage],
    w: impl Write,
) -> Result<(), ArchiveError> {
    save_docker_archive_with(store, images, w, &NoSizes)
}

/// [`save_docker_archive`] with layer sizes remembered in `sizes`.
pub fn save_docker_archive_with(
    store: &ContentStore,
    images: &[ArchiveImage],
    w: impl Write,
    sizes: &dyn LayerSizes,
) -> Result<(), ArchiveError> {
    let mut layers: BTreeMap<String, SavedLayer> = BTreeMap::new();
    let mut configs: BTreeMap<String, Digest> = BTreeMap::new();
    let mut entries = Vec::new();
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for img in images {
        let mbytes = store.read(&img.manifest.digest)?;
        let m: Manifest = serde_json::from_slice(&mbytes)
            .map_err(json_err(format!("manifest {}", img.manifest.digest)))?;
        if m.config.digest != img.config {
            return Err(ArchiveError::Invalid(format!(
                "manifest {} has config {}, but the image record says {}",
                img.manifest.digest, m.config.digest, img.config
            )));
        }
        let cbytes = store.read(&img.config)?;
        let cfg: ImageConfig =
            serde_json::from_slice(&cbytes).map_err(json_err(format!("config {}", img.config)))?;
        if cfg.rootfs.diff_ids.len() != m.layers.len() {
            return Err(ArchiveError::Invalid(format!(
                "image {}: manifest has {} layers, config has {} diff_ids",
                img.config,
                m.layers.len(),
                cfg.rootfs.diff_ids.len()
            )));
        }
        let mut paths = Vec::new();
        for (l, diff_id) in m.layers.iter().zip(&cfg.rootfs.diff_ids) {
            let hex = diff_id.hex().to_string();
            if !layers.contains_key(&hex) {
                let compression = blob_compression(store, &l.digest)?;
                let known = match compression {
                    // Reading an uncompressed layer's size costs nothing.
                    Compression::None => None,
                    _ => sizes.get(diff_id),
                };
                let (size, verified) = match known {
                    Some(size) => (size, false),
                    None => {
                        let (actual, size) = diff_id_of(store, &l.digest)?;
                        if &actual != diff_id {
                            return Err(ArchiveError::DiffIdMismatch {
                                image: img.config.to_string(),
                                layer: l.digest.to_string(),
                                expected: diff_id.clone(),
                                actual,
                            });
                        }
                        if compression != Compression::None {
                            sizes.put(diff_id, size);
                        }
                        (size, true)
                    }
                };
                layers.insert(
                    hex.clone(),
                    SavedLayer {
                        image: img.config.to_string(),
                        blob: l.digest.clone(),
                        diff_id: diff_id.clone(),
                        compression,
                        size,
                        verified,
                    },
                );
            }
            paths.push(format!("{hex}/layer.tar"));
        }
        configs.insert(img.config.hex().to_string(), img.config.clone());
        let tags: Vec<String> = img
            .names
            .iter()
            .filter(|n| n.tag().is_some())
            .map(|n| n.familiar())
            .collect();
        if let Some(top) = cfg.rootfs.diff_ids.last() {
            for n in img.names.iter() {
                if let Some(t) = n.tag() {
                    repos
                        .entry(n.familiar_name())
                        .or_default()
                        .insert(t.to_string(), top.hex().to_string());
                }
            }
        }
        entries.push(ManifestEntry {
            config: format!("{}.json", img.config.hex()),
            repo_tags: if tags.is_empty() { None } else { Some(tags) },
            layers: paths,
        });
    }
    let mut t = TarOut::new(w);
    for (hex, l) in &layers {
        t.dir(&format!("{hex}/"))?;
        t.bytes(&format!("{hex}/VERSION"), b"1.0")?;
        let f = store.open_blob(&l.blob)?;
        let path = store.path(&l.blob);
        let r = decompress(l.compression, f).map_err(|source| ArchiveError::Io {
            context: "decompressing layer",
            path,
            source,
        })?;
        let entry = format!("{hex}/layer.tar");
        if l.verified {
            t.reader(&entry, l.size, r)?;
            continue;
        }
        let mut h = HashingReader::new(r.take(l.size), Algorithm::Sha256);
        t.reader(&entry, l.size, &mut h)?;
        let (actual, n) = h.finish();
        if n != l.size || actual != l.diff_id {
            sizes.forget(&l.diff_id);
            return Err(ArchiveError::DiffIdMismatch {
                image: l.image.clone(),
                layer: format!("{} ({n} bytes where {} were remembered)", l.blob, l.size),
                expected: l.diff_id.clone(),
                actual,
            });
        }
    }
    for (hex, d) in &configs {
        t.bytes(&format!("{hex}.json"), &store.read(d)?)?;
    }
    let mj = serde_json::to_vec(&entries).map_err(json_err("manifest.json"))?;
    t.bytes("manifest.json", &mj)?;
    if !repos.is_empty() {
        let rj = serde_json::to_vec(&repos).map_err(json_err("repositories"))?;
        t.bytes("repositories", &rj)?;
    }
    let mut w = t.finish()?;
    w.flush().map_err(ArchiveError::Write)?;
    Ok(())
}
