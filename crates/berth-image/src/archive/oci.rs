//! OCI image layouts, as a directory or a tar: import (index.json, nested indexes,
//! names from `io.containerd.image.name` / `org.opencontainers.image.ref.name`,
//! platform selection) and export (blobs copied byte for byte, so digests are kept).

use super::docker::{spool, Spooled};
use super::{json_err, ArchiveError, ArchiveImage, TarOut};
use crate::content::ContentStore;
use crate::model::{
    host_platform, media, select_platform, Descriptor, Document, ImageConfig, Index, Manifest,
    Platform,
};
use berth_types::Reference;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::Path;

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";
const LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Choices for importing an OCI layout.
#[derive(Debug, Clone, Default)]
pub struct OciImportOptions {
    /// The platform to pick from a multi-platform index (default: this host's).
    pub platform: Option<Platform>,
    /// The repository a bare-tag `ref.name` (`v2`, as umoci and skopeo write) is a
    /// tag of, as containerd's `--base-name`. Without it bare tags give no name.
    pub base_name: Option<Reference>,
}

type Ensure<'a> = dyn Fn(&Descriptor) -> Result<bool, ArchiveError> + 'a;

/// Import every image an OCI layout directory's index.json names.
pub fn import_oci_layout(
    store: &ContentStore,
    dir: &Path,
) -> Result<Vec<ArchiveImage>, ArchiveError> {
    import_oci_layout_with(store, dir, &OciImportOptions::default())
}

/// [`import_oci_layout`] with a platform and base name.
pub fn import_oci_layout_with(
    store: &ContentStore,
    dir: &Path,
    opts: &OciImportOptions,
) -> Result<Vec<ArchiveImage>, ArchiveError> {
    let ip = dir.join("index.json");
    let index = match std::fs::read(&ip) {
        Ok(v) => v,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ArchiveError::Missing("index.json"))
        }
        Err(source) => {
            return Err(ArchiveError::Io {
                context: "reading",
                path: ip,
                source,
            })
        }
    };
    let ensure = |d: &Descriptor| -> Result<bool, ArchiveError> {
        if store.exists(&d.digest) {
            return Ok(true);
        }
        let p = dir
            .join("blobs")
            .join(d.digest.algorithm().as_str())
            .join(d.digest.hex());
        let mut f = match std::fs::File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(source) => {
                return Err(ArchiveError::Io {
                    context: "opening",
                    path: p,
                    source,
                })
            }
        };
        store
            .put_reader(&mut f, Some(d.digest.clone()), Some(d.size))
            .map_err(|e| ArchiveError::Invalid(format!("{}: {e}", p.display())))?;
        Ok(true)
    };
    import_index(store, &index, &ensure, opts)
}

/// Import an OCI layout packed in a tar (`skopeo copy … oci-archive:`, `docker save`
/// of Docker 25+ read as OCI).
pub fn import_oci_archive(
    store: &ContentStore,
    r: impl Read,
) -> Result<Vec<ArchiveImage>, ArchiveError> {
    import_oci_archive_with(store, r, &OciImportOptions::default())
}

/// [`import_oci_archive`] with a platform and base name.
pub fn import_oci_archive_with(
    store: &ContentStore,
    r: impl Read,
    opts: &OciImportOptions,
) -> Result<Vec<ArchiveImage>, ArchiveError> {
    let files = spool(store, r)?;
    import_spooled(store, &files, opts)
}

fn spooled_ensure(store: &ContentStore) -> impl Fn(&Descriptor) -> Result<bool, ArchiveError> + '_ {
    move |d: &Descriptor| {
        if !store.exists(&d.digest) {
            return Ok(false);
        }
        let size = store.size(&d.digest)?;
        if size != d.size {
            return Err(ArchiveError::Invalid(format!(
                "blob {}: descriptor says {} bytes, blob has {size}",
                d.digest, d.size
            )));
        }
        Ok(true)
    }
}

pub(super) fn import_spooled(
    store: &ContentStore,
    files: &HashMap<String, Spooled>,
    opts: &OciImportOptions,
) -> Result<Vec<ArchiveImage>, ArchiveError> {
    let index = match files.get("index.json") {
        Some(Spooled::Memory(v)) => v.clone(),
        Some(Spooled::Stored(d)) => store.read(d)?,
        None => return Err(ArchiveError::Missing("index.json")),
    };
    import_index(store, &index, &spooled_ensure(store), opts)
}

/// The manifests reachable from a spooled archive's index.json (for Docker 25+
/// archives, whose manifest.json entries we match to them).
pub(super) fn spooled_manifests(
    store: &ContentStore,
    files: &HashMap<String, Spooled>,
) -> Result<Vec<(Descriptor, Manifest)>, ArchiveError> {
    let index = match files.get("index.json") {
        Some(Spooled::Memory(v)) => v.clone(),
        Some(Spooled::Stored(d)) => store.read(d)?,
        None => return Ok(Vec::new()),
    };
    let idx: Index = serde_json::from_slice(&index).map_err(json_err("index.json"))?;
    let mut out = Vec::new();
    let mut todo: Vec<Descriptor> = idx.manifests;
    let mut n = 0;
    while let Some(d) = todo.pop() {
        n += 1;
        if n > 10_000 || !store.exists(&d.digest) {
            continue;
        }
        let bytes = store.read(&d.digest)?;
        match Document::parse(&bytes) {
            Ok(Document::Index(i)) => todo.extend(i.manifests),
            Ok(Document::Manifest(m)) => {
                let mt = m.media_type.clone().unwrap_or_else(|| d.media_type.clone());
                out.push((clean_desc(&d, &mt), *m));
            }
            Err(_) => {}
        }
    }
    Ok(out)
}

fn clean_desc(d: &Descriptor, media_type: &str) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest: d.digest.clone(),
        size: d.size,
        urls: None,
        annotations: None,
        platform: d.platform.clone(),
    }
}

fn names_of(d: &Descriptor, opts: &OciImportOptions) -> Result<Vec<Reference>, ArchiveError> {
    let mut out = Vec::new();
    let Some(a) = &d.annotations else {
        return Ok(out);
    };
    let bad = |k: &str, v: &str, e: berth_types::ReferenceError| {
        ArchiveError::Invalid(format!(
            "index.json: annotation {k}={v:?} of {}: {e}",
            d.digest
        ))
    };
    if let Some(v) = a.get(CONTAINERD_NAME) {
        out.push(Reference::parse(v).map_err(|e| bad(CONTAINERD_NAME, v, e))?);
    }
    if let Some(v) = a.get(REF_NAME) {
        let r = if v.contains(['/', ':', '@']) {
            Some(Reference::parse(v).map_err(|e| bad(REF_NAME, v, e))?)
        } else if let Some(base) = &opts.base_name {
            Some(base.with_tag(v).map_err(|e| bad(REF_NAME, v, e))?)
        } else {
            None
        };
        if let Some(r) = r {
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

fn import_index(
    store: &ContentStore,
    index: &[u8],
    ensure: &Ensure<'_>,
    opts: &OciImportOptions,
) -> Result<Vec<ArchiveImage>, ArchiveError> {
    let idx: Index = serde_json::from_slice(index).map_err(json_err("index.json"))?;
    let platform = opts.platform.clone().unwrap_or_else(host_platform);
    let mut out: Vec<ArchiveImage> = Vec::new();
    for d in &idx.manifests {
        let names = names_of(d, opts)?;
        let (desc, m) = resolve(store, d, ensure, &platform, 0)?;
        if let Some(x) = out.iter_mut().find(|x| x.manifest.digest == desc.digest) {
            for n in names {
                if !x.names.contains(&n) {
                    x.names.push(n);
                }
            }
        } else {
            out.push(ArchiveImage {
                names,
                config: m.config.digest.clone(),
                manifest: desc,
            });
        }
    }
    Ok(out)
}

fn require(ensure: &Ensure<'_>, d: &Descriptor, what: String) -> Result<(), ArchiveError> {
    if ensure(d)? {
        Ok(())
    } else {
        Err(ArchiveError::MissingBlob {
            digest: d.digest.clone(),
            what,
        })
    }
}

fn parse_doc(store: &ContentStore, d: &Descriptor) -> Result<Document, ArchiveError> {
    let bytes = store.read(&d.digest)?;
    Document::parse(&bytes).map_err(json_err(format!("blob {}", d.digest)))
}

/// Copy whatever of a tree is present (the platforms we do not pick are kept too).
fn keep_all(
    store: &ContentStore,
    d: &Descriptor,
    ensure: &Ensure<'_>,
    depth: u32,
) -> Result<(), ArchiveError> {
    if depth > 8 || !ensure(d)? {
        return Ok(());
    }
    match parse_doc(store, d) {
        Ok(Document::Index(i)) => {
            for c in &i.manifests {
                keep_all(store, c, ensure, depth + 1)?;
            }
        }
        Ok(Document::Manifest(m)) => {
            ensure(&m.config)?;
            for l in &m.layers {
                ensure(l)?;
            }
        }
        Err(_) => {}
    }
    Ok(())
}

fn resolve(
    store: &ContentStore,
    d: &Descriptor,
    ensure: &Ensure<'_>,
    platform: &Platform,
    depth: u32,
) -> Result<(Descriptor, Manifest), ArchiveError> {
    if depth > 8 {
        return Err(ArchiveError::Invalid(format!(
            "index {} nests too deeply",
            d.digest
        )));
    }
    require(ensure, d, d.media_type.clone())?;
    match parse_doc(store, d)? {
        Document::Index(i) => {
            for c in &i.manifests {
                keep_all(store, c, ensure, depth + 1)?;
            }
            let chosen = if i.manifests.len() == 1 {
                &i.manifests[0]
            } else {
                select_platform(&i, platform).ok_or_else(|| {
                    ArchiveError::Invalid(format!(
                        "index {} has no manifest for platform {}/{}{}",
                        d.digest,
                        platform.os,
                        platform.architecture,
                        platform
                            .variant
                            .as_deref()
                            .map(|v| format!("/{v}"))
                            .unwrap_or_default()
                    ))
                })?
            };
            resolve(store, chosen, ensure, platform, depth + 1)
        }
        Document::Manifest(m) => {
            require(
                ensure,
                &m.config,
                format!("config of manifest {}", d.digest),
            )?;
            for (i, l) in m.layers.iter().enumerate() {
                let present = ensure(l)?;
                let foreign = l.urls.is_some()
                    || l.media_type.contains("nondistributable")
                    || l.media_type == media::DOCKER_FOREIGN_LAYER;
                if !present && !foreign {
                    return Err(ArchiveError::MissingBlob {
                        digest: l.digest.clone(),
                        what: format!("layer {i} of manifest {}", d.digest),
                    });
                }
            }
            let cbytes = store.read(&m.config.digest)?;
            let cfg: ImageConfig = serde_json::from_slice(&cbytes)
                .map_err(json_err(format!("config {}", m.config.digest)))?;
            if cfg.rootfs.diff_ids.len() != m.layers.len() {
                return Err(ArchiveError::Invalid(format!(
                    "manifest {} has {} layers but config {} has {} rootfs.diff_ids",
                    d.digest,
                    m.layers.len(),
                    m.config.digest,
                    cfg.rootfs.diff_ids.len()
                )));
            }
            for (l, want) in m.layers.iter().zip(&cfg.rootfs.diff_ids) {
                let plain = l.media_type == media::OCI_LAYER || l.media_type == media::DOCKER_LAYER;
                if plain && &l.digest != want {
                    return Err(ArchiveError::DiffIdMismatch {
                        image: m.config.digest.to_string(),
                        layer: l.digest.to_string(),
                        expected: want.clone(),
                        actual: l.digest.clone(),
                    });
                }
            }
            let mt = m.media_type.clone().unwrap_or_else(|| d.media_type.clone());
            Ok((clean_desc(d, &mt), *m))
        }
    }
}

/// A Docker schema 2 manifest rewritten with OCI media types (config and layer blobs
/// unchanged), because OCI-layout readers such as skopeo only accept OCI manifests.
fn to_oci(m: &Manifest) -> Manifest {
    let map = |mt: &str| {
        match mt {
            media::DOCKER_CONFIG => media::OCI_CONFIG,
            media::DOCKER_LAYER => media::OCI_LAYER,
            media::DOCKER_LAYER_GZIP => media::OCI_LAYER_GZIP,
            media::DOCKER_FOREIGN_LAYER => {
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            }
            other => other,
        }
        .to_string()
    };
    let mut o = m.clone();
    o.media_type = Some(media::OCI_MANIFEST.into());
    o.config.media_type = map(&o.config.media_type);
    for l in &mut o.layers {
        l.media_type = map(&l.media_type);
    }
    o
}

type Parts = (
    BTreeSet<berth_types::Digest>,
    BTreeMap<berth_types::Digest, Vec<u8>>,
    Vec<u8>,
);

/// The store blobs (sorted, deduplicated), converted manifests written from memory,
/// and index.json of a layout holding `images`.
fn layout_parts(store: &ContentStore, images: &[ArchiveImage]) -> Result<Parts, ArchiveError> {
    let mut blobs = BTreeSet::new();
    let mut converted = BTreeMap::new();
    let mut manifests = Vec::new();
    for img in images {
        let mut bytes = store.read(&img.manifest.digest)?;
        let mut m: Manifest = serde_json::from_slice(&bytes)
            .map_err(json_err(format!("manifest {}", img.manifest.digest)))?;
        let docker = m.media_type.as_deref() == Some(media::DOCKER_MANIFEST)
            || img.manifest.media_type == media::DOCKER_MANIFEST;
        let mut digest = img.manifest.digest.clone();
        if docker {
            m = to_oci(&m);
            bytes = serde_json::to_vec(&m).map_err(json_err("converted manifest"))?;
            digest = crate::content::sha256(&bytes);
            converted.insert(digest.clone(), bytes.clone());
        } else {
            blobs.insert(digest.clone());
        }
        blobs.insert(m.config.digest.clone());
        for l in &m.layers {
            if store.exists(&l.digest) {
                blobs.insert(l.digest.clone());
            } else if l.urls.is_none() {
                return Err(ArchiveError::MissingBlob {
                    digest: l.digest.clone(),
                    what: format!("layer of manifest {}", img.manifest.digest),
                });
            }
        }
        let mt = if docker || img.manifest.media_type.is_empty() {
            m.media_type
                .clone()
                .unwrap_or_else(|| media::OCI_MANIFEST.into())
        } else {
            img.manifest.media_type.clone()
        };
        let base = Descriptor {
            media_type: mt,
            digest,
            size: bytes.len() as u64,
            urls: None,
            annotations: None,
            platform: img.manifest.platform.clone(),
        };
        if img.names.is_empty() {
            manifests.push(base.clone());
        }
        for n in &img.names {
            let mut a = BTreeMap::new();
            a.insert(CONTAINERD_NAME.to_string(), n.to_string());
            if let Some(t) = n.tag() {
                a.insert(REF_NAME.to_string(), t.to_string());
            }
            manifests.push(Descriptor {
                annotations: Some(a),
                ..base.clone()
            });
        }
    }
    let idx = Index {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.into()),
        manifests,
        annotations: None,
    };
    let index = serde_json::to_vec(&idx).map_err(json_err("index.json"))?;
    Ok((blobs, converted, index))
}

/// Write images as an OCI layout directory (created if needed; an existing
/// index.json is replaced). Blobs are copied byte for byte, except that a Docker
/// schema 2 manifest is rewritten with OCI media types (a new manifest digest; config
/// and layer digests unchanged) so OCI tools (skopeo, umoci) can read it. Each name
/// becomes an index entry with `io.containerd.image.name` (full) and
/// `org.opencontainers.image.ref.name` (the tag), as Docker writes them.
pub fn export_oci_layout(
    store: &ContentStore,
    images: &[ArchiveImage],
    dir: &Path,
) -> Result<(), ArchiveError> {
    let (blobs, converted, index) = layout_parts(store, images)?;
    let io = |context: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Io {
            context,
            path,
            source,
        }
    };
    for d in &blobs {
        let bdir = dir.join("blobs").join(d.algorithm().as_str());
        std::fs::create_dir_all(&bdir).map_err(io("creating", &bdir))?;
        let dest = bdir.join(d.hex());
        if std::fs::metadata(&dest).map(|m| m.len()).ok() == Some(store.size(d)?) {
            continue;
        }
        std::fs::copy(store.path(d), &dest).map_err(io("writing", &dest))?;
    }
    for (d, bytes) in &converted {
        let bdir = dir.join("blobs").join(d.algorithm().as_str());
        std::fs::create_dir_all(&bdir).map_err(io("creating", &bdir))?;
        let dest = bdir.join(d.hex());
        std::fs::write(&dest, bytes).map_err(io("writing", &dest))?;
    }
    for (name, data) in [("oci-layout", LAYOUT), ("index.json", &index[..])] {
        let p = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, data).map_err(io("writing", &tmp))?;
        std::fs::rename(&tmp, &p).map_err(io("writing", &p))?;
    }
    Ok(())
}

/// Write images as a tar of an OCI layout (deterministic: sorted, mtimes 0).
pub fn export_oci_archive(
    store: &ContentStore,
    images: &[ArchiveImage],
    w: impl Write,
) -> Result<(), ArchiveError> {
    let (blobs, converted, index) = layout_parts(store, images)?;
    let mut t = TarOut::new(w);
    t.bytes("oci-layout", LAYOUT)?;
    t.dir("blobs/")?;
    let mut all: BTreeSet<&berth_types::Digest> = blobs.iter().collect();
    all.extend(converted.keys());
    let mut algs = BTreeSet::new();
    for d in all {
        if algs.insert(d.algorithm()) {
            t.dir(&format!("blobs/{}/", d.algorithm().as_str()))?;
        }
        let name = format!("blobs/{}/{}", d.algorithm().as_str(), d.hex());
        match converted.get(d) {
            Some(bytes) => t.bytes(&name, bytes)?,
            None => t.reader(&name, store.size(d)?, store.open_blob(d)?)?,
        }
    }
    t.bytes("index.json", &index)?;
    let mut w = t.finish()?;
    w.flush().map_err(ArchiveError::Write)
}
