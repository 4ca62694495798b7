//! The engine's image service: the image table, the content store and the overlay
//! snapshotter under one data root, and the Engine API's image operations over them.
//!
//! Layout: `DATA_ROOT/content` (blobs), `DATA_ROOT/images` (the name table),
//! `DATA_ROOT/snapshots` (overlay layers), `DATA_ROOT/leases`, `DATA_ROOT/locks`
//! (per-layer unpack locks), `DATA_ROOT/layer-sizes` (a cache of each layer's
//! content size, which docker reports and which costs a full read to compute) and
//! `DATA_ROOT/layer-tar-sizes` (each compressed layer's uncompressed size, for save).
//!
//! Submodules: [`unpack`] (layers → committed snapshots), `query` (list, inspect,
//! history, sizes), `remove` (untag, delete, garbage collection), `prune`, [`save`]
//! (`docker save`), [`pull`] (from registries).

mod prune;
pub mod pull;
pub mod push;
mod query;
mod remove;
pub mod save;
mod unpack;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use berth_api_types::image::{
    ImageDeleteResponseItem, ImageHistoryItem, ImageInspect, ImageSummary,
};
use berth_api_types::Filters;
use berth_image::archive::{self, ArchiveError};
use berth_image::images::{ImageError, ImageRecord, ImageStore};
use berth_image::lease::LeaseManager;
use berth_image::model::{ImageConfig, Platform};
use berth_image::snapshot::{OverlaySnapshotter, Snapshotter};
use berth_image::ContentStore;
use berth_types::{Digest, Reference};

use crate::api::{BoxError, EngineError, EngineResult, ImportOptions};

pub use remove::ImageUser;
pub use save::ImageSave;

/// An image a container is about to be created from.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// `sha256:…` of the config.
    pub id: String,
    /// The name as a user would show it (`busybox:latest`), or the id when the user
    /// gave an id.
    pub name: String,
    pub config: ImageConfig,
}

/// Images on disk: `DATA_ROOT/{content,images,snapshots}`.
pub struct ImageService {
    root: PathBuf,
    store: ImageStore,
    snapshotter: Arc<dyn Snapshotter>,
    leases: LeaseManager,
    /// Writers of new content (import, load, unpack) hold it shared; garbage
    /// collection holds it exclusively, so it never sweeps blobs or snapshots that are
    /// written but not yet named in the image table.
    gc_lock: RwLock<()>,
    /// Set while an image prune runs (a second one is refused, as dockerd does).
    pruning: AtomicBool,
}

/// A message for an image table error, with the status the API gives it.
pub(crate) fn image_err(e: ImageError) -> EngineError {
    match e {
        ImageError::NotFound(_) | ImageError::Ambiguous { .. } => {
            EngineError::NotFound(e.to_string())
        }
        ImageError::InvalidReference(_) => EngineError::BadParameter(e.to_string()),
        other => EngineError::internal("image store", other),
    }
}

/// Archive problems that are the input's fault are 400; the rest are ours (500).
fn archive_err(what: &str, e: ArchiveError) -> EngineError {
    match e {
        ArchiveError::Io { .. } | ArchiveError::Content(_) | ArchiveError::Write(_) => {
            EngineError::internal(what, e)
        }
        ArchiveError::Change(_) => EngineError::BadParameter(e.to_string()),
        other => EngineError::BadParameter(format!("{what}: {other}")),
    }
}

fn parse_digest(id: &str) -> EngineResult<Digest> {
    id.parse::<Digest>()
        .map_err(|e| EngineError::BadParameter(format!("invalid image id {id:?}: {e}")))
}

/// A name as the image table keeps it: a reference with both a tag and a digest
/// keeps the digest only (as berth-image's table does).
fn canonical(r: &Reference) -> Reference {
    match r.digest() {
        Some(d) if r.tag().is_some() => r.with_digest(d.clone()),
        _ => r.clone(),
    }
}

impl ResolvedImage {
    /// A build's `FROM scratch`: no id, no layers, no config.
    pub fn scratch() -> ResolvedImage {
        ResolvedImage {
            id: String::new(),
            name: String::new(),
            config: scratch_config(),
        }
    }
}

/// What a commit writes besides its layer.
struct NewImage {
    config: berth_image::model::RunConfig,
    author: Option<String>,
    comment: Option<String>,
    created_by: String,
    created: Option<String>,
}

/// The platform an image config names (the host's features otherwise).
fn platform_of(cfg: &ImageConfig) -> Platform {
    Platform {
        architecture: cfg.architecture.clone(),
        os: cfg.os.clone(),
        variant: cfg.variant.clone(),
        ..berth_image::model::host_platform()
    }
}

/// The config of an image with nothing in it.
pub(crate) fn scratch_config() -> ImageConfig {
    let p = berth_image::model::host_platform();
    ImageConfig {
        created: None,
        author: None,
        architecture: p.architecture,
        os: p.os,
        variant: p.variant,
        config: None,
        rootfs: berth_image::model::RootFs {
            typ: "layers".into(),
            diff_ids: Vec::new(),
        },
        history: Vec::new(),
        other: Default::default(),
    }
}

/// Docker's short id: 12 hex digits, no algorithm.
pub(crate) fn short_id(id: &str) -> String {
    let hex = id.split_once(':').map_or(id, |(_, h)| h);
    hex.chars().take(12).collect()
}

/// `repo[:tag]` plus an optional separate tag, as import and tag take them.
fn target_reference(repo: &str, tag: Option<&str>) -> EngineResult<Reference> {
    let bad = |e: String| EngineError::BadParameter(e);
    let named = Reference::parse_named(repo).map_err(|e| bad(e.to_string()))?;
    if named.digest().is_some() {
        return Err(bad(format!(
            "refusing to create a tag with a digest reference: {repo}"
        )));
    }
    match tag.filter(|t| !t.is_empty()) {
        Some(t) => named.with_tag(t).map_err(|e| bad(e.to_string())),
        None if named.tag().is_some() => Ok(named),
        None => named.with_tag("latest").map_err(|e| bad(e.to_string())),
    }
}

/// `os/arch[/variant]`.
fn parse_platform(s: &str) -> EngineResult<Platform> {
    let parts: Vec<&str> = s.split('/').collect();
    let bad = || {
        EngineError::BadParameter(format!(
            "invalid platform {s:?}: expected os/arch[/variant]"
        ))
    };
    match parts[..] {
        [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
            os: os.into(),
            architecture: arch.into(),
            ..Platform::default()
        }),
        [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
            Ok(Platform {
                os: os.into(),
                architecture: arch.into(),
                variant: Some(variant.into()),
                ..Platform::default()
            })
        }
        _ => Err(bad()),
    }
}

impl ImageService {
    pub fn open(data_root: &Path) -> EngineResult<ImageService> {
        let internal = |what: &str, e: BoxError| {
            EngineError::internal(
                format!("image service under {}: {what}", data_root.display()),
                e,
            )
        };
        for sub in ["locks", "layer-sizes", save::TAR_SIZES, push::PUSHED_GZIP] {
            let d = data_root.join(sub);
            std::fs::create_dir_all(&d)
                .map_err(|e| internal(&format!("creating {}", d.display()), e.into()))?;
        }
        let content = ContentStore::open(&data_root.join("content"))
            .map_err(|e| internal("content store", e.into()))?;
        let store = ImageStore::open(&data_root.join("images"), content)
            .map_err(|e| internal("image table", e.into()))?;
        let snapshotter: Arc<dyn Snapshotter> = Arc::new(
            OverlaySnapshotter::open(&data_root.join("snapshots"))
                .map_err(|e| internal("snapshotter", e.into()))?,
        );
        let leases = LeaseManager::open(data_root).map_err(|e| internal("leases", e.into()))?;
        let svc = ImageService {
            root: data_root.to_path_buf(),
            store,
            snapshotter,
            leases,
            gc_lock: RwLock::new(()),
            pruning: AtomicBool::new(false),
        };
        svc.remove_abandoned_unpacks();
        svc.remove_abandoned_leases(save::LEASE_PREFIX);
        svc.remove_abandoned_leases(berth_registry::client::LEASE_PREFIX);
        Ok(svc)
    }

    /// The snapshotter containers' root filesystems are prepared in.
    pub fn snapshotter(&self) -> Arc<dyn Snapshotter> {
        self.snapshotter.clone()
    }

    /// The image table (for the engine's own bookkeeping: commit, build, pull).
    pub fn store(&self) -> &ImageStore {
        &self.store
    }

    /// The data root this service keeps its files under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn writing(&self) -> RwLockReadGuard<'_, ()> {
        // A writer that panicked holding the lock left nothing half-done that the lock
        // protects (the table and snapshots are changed atomically), so go on.
        self.gc_lock.read().unwrap_or_else(|p| p.into_inner())
    }

    fn collecting(&self) -> RwLockWriteGuard<'_, ()> {
        self.gc_lock.write().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, name: &str) -> EngineResult<ImageRecord> {
        self.store.get(name).map_err(image_err)
    }

    fn config(&self, id: &Digest) -> EngineResult<ImageConfig> {
        self.store.config(id).map_err(image_err)
    }

    /// By reference (`busybox`, `busybox:1.36`, `docker.io/library/busybox@sha256:…`),
    /// full id (`sha256:…`), or unambiguous id prefix. NotFound: `No such image: NAME`.
    pub fn resolve(&self, name: &str) -> EngineResult<ResolvedImage> {
        let rec = self.get(name)?;
        let config = self.config(&rec.id)?;
        let display = match Reference::parse(name) {
            Ok(r) if rec.names.contains(&canonical(&r)) => canonical(&r).familiar(),
            _ => rec.id.to_string(),
        };
        Ok(ResolvedImage {
            id: rec.id.to_string(),
            name: display,
            config,
        })
    }

    /// Makes sure every layer of the image is unpacked as a committed snapshot (key: the
    /// layer's chain id, `sha256:…`), and returns the key of the top one to use as the
    /// parent of a container's snapshot (None for an image with no layers).
    pub fn unpack(&self, image: &ResolvedImage) -> EngineResult<Option<String>> {
        let id = parse_digest(&image.id)?;
        let _w = self.writing();
        self.unpack_id(&id)
    }

    /// Number of images (for /info).
    pub fn count(&self) -> EngineResult<usize> {
        Ok(self.store.list().map_err(image_err)?.len())
    }

    pub fn list(
        &self,
        all: bool,
        filters: Filters,
        digests: bool,
    ) -> EngineResult<Vec<ImageSummary>> {
        // dockerd fills RepoDigests whatever `digests` says (the CLI uses it only to
        // choose columns); `all` adds the intermediate images builds leave.
        let _ = digests;
        self.list_images(&filters, all)
    }

    pub fn inspect(&self, name: &str) -> EngineResult<ImageInspect> {
        self.inspect_image(name)
    }

    pub fn history(&self, name: &str) -> EngineResult<Vec<ImageHistoryItem>> {
        self.image_history(name)
    }

    /// Returns the new image's id.
    pub fn import(&self, src: &mut dyn Read, opts: ImportOptions) -> EngineResult<String> {
        // Check the name and platform before reading any data.
        let reference = match opts.repo.as_deref().filter(|r| !r.is_empty()) {
            Some(repo) => Some(target_reference(repo, opts.tag.as_deref())?),
            None => None,
        };
        let platform = opts
            .platform
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(parse_platform)
            .transpose()?;
        let _w = self.writing();
        let img = archive::import_rootfs(
            self.store.content(),
            src,
            &opts.changes,
            opts.message.as_deref(),
            platform.as_ref(),
        )
        .map_err(|e| archive_err("importing the rootfs tarball", e))?;
        let platform = platform.unwrap_or_else(berth_image::model::host_platform);
        self.store
            .put_for_platform(reference.as_ref(), &img.manifest, &platform)
            .map_err(image_err)?;
        Ok(img.config.to_string())
    }

    /// `docker commit`'s image half: a new image on top of `parent_id` with the layer
    /// `diff` writes, tagged `repo[:tag]` when a repo is given. Returns the new id.
    #[allow(clippy::too_many_arguments)]
    pub fn commit(
        &self,
        parent_id: &str,
        repo: Option<&str>,
        tag: Option<&str>,
        config: berth_image::model::RunConfig,
        author: Option<String>,
        comment: Option<String>,
        created_by: String,
        diff: archive::LayerWriter<'_>,
    ) -> EngineResult<String> {
        // Check the name before writing anything.
        let reference = match repo.filter(|r| !r.is_empty()) {
            Some(repo) => Some(target_reference(repo, tag)?),
            None => None,
        };
        let req = NewImage {
            config,
            author,
            comment,
            created_by,
            created: None,
        };
        self.commit_over(Some(parent_id), reference.as_ref(), false, req, diff)
    }

    /// A new image over `parent` (None: scratch) with the layer `diff` writes (none
    /// when it writes an empty tar) and one history entry, named `reference` or
    /// untagged, recording `parent` as its build parent when `record_parent`.
    fn commit_over(
        &self,
        parent: Option<&str>,
        reference: Option<&Reference>,
        record_parent: bool,
        new: NewImage,
        diff: archive::LayerWriter<'_>,
    ) -> EngineResult<String> {
        let _w = self.writing();
        let (parent_cfg, parent_layers, parent_id) = self.build_parent(parent)?;
        let req = archive::CommitRequest {
            parent: &parent_cfg,
            parent_layers,
            config: new.config,
            author: new.author,
            comment: new.comment,
            created_by: new.created_by,
            created: new.created,
        };
        let img = archive::commit_image(self.store.content(), req, diff)
            .map_err(|e| archive_err("committing the container", e))?;
        let recorded = parent_id.as_ref().filter(|_| record_parent);
        self.store
            .put_child(
                reference,
                &img.manifest,
                &platform_of(&parent_cfg),
                recorded,
            )
            .map_err(image_err)?;
        Ok(img.config.to_string())
    }

    /// A build step's parent: its config, its layers' blobs and its id; for scratch
    /// (None) an empty config and no layers.
    fn build_parent(
        &self,
        parent: Option<&str>,
    ) -> EngineResult<(
        ImageConfig,
        Vec<berth_image::model::Descriptor>,
        Option<Digest>,
    )> {
        let Some(p) = parent else {
            return Ok((scratch_config(), Vec::new(), None));
        };
        let id = parse_digest(p)?;
        let cfg = self.store.config(&id).map_err(image_err)?;
        let layers = self
            .store
            .layers(&id)
            .map_err(image_err)?
            .into_iter()
            .map(|l| l.blob)
            .collect();
        Ok((cfg, layers, Some(id)))
    }

    /// A build step's image: `parent`'s layers (none for scratch) and the layer `diff`
    /// writes (none when it writes an empty tar), `config`, one history entry; recorded
    /// untagged with its parent. Returns the new id.
    #[allow(clippy::too_many_arguments)]
    pub fn commit_build(
        &self,
        parent: Option<&str>,
        config: berth_image::model::RunConfig,
        author: Option<String>,
        created_by: String,
        created: Option<String>,
        diff: archive::LayerWriter<'_>,
    ) -> EngineResult<String> {
        let req = NewImage {
            config,
            author,
            comment: None,
            created_by,
            created,
        };
        self.commit_over(parent, None, true, req, diff)
    }

    /// `--cache-from`'s reuse of another image's step (dockerd's restoreCachedImage):
    /// `parent`'s layers and history, then `source`'s history entry `index` and, unless
    /// it is an empty layer, the layer it made; `config` as the run config. Returns the
    /// new image's id.
    pub fn restore_cached(
        &self,
        parent: Option<&str>,
        source: &str,
        index: usize,
        config: berth_image::model::RunConfig,
    ) -> EngineResult<String> {
        use berth_image::model::{media, Descriptor, Manifest};
        let _w = self.writing();
        let src_id = parse_digest(source)?;
        let src = self.store.config(&src_id).map_err(image_err)?;
        let src_layers = self.store.layers(&src_id).map_err(image_err)?;
        let (mut cfg, mut layers, parent_id) = self.build_parent(parent)?;
        let entry = src.history.get(index).cloned().ok_or_else(|| {
            EngineError::BadParameter(format!("{source} has no history entry {index}"))
        })?;
        if !entry.empty_layer {
            let n = src.history[..index]
                .iter()
                .filter(|h| !h.empty_layer)
                .count();
            let (Some(layer), Some(diff)) = (src_layers.get(n), src.rootfs.diff_ids.get(n)) else {
                return Err(EngineError::BadParameter(format!(
                    "{source}: history entry {index} names a layer the image does not have"
                )));
            };
            layers.push(layer.blob.clone());
            cfg.rootfs.diff_ids.push(diff.clone());
        }
        cfg.created = entry.created.clone();
        cfg.history.push(entry);
        cfg.author = src.author.clone();
        cfg.config = Some(config);
        cfg.architecture = src.architecture.clone();
        cfg.os = src.os.clone();
        cfg.variant = src.variant.clone();
        cfg.other = Default::default();
        let content = self.store.content();
        let cbytes = serde_json::to_vec(&cfg)
            .map_err(|e| EngineError::internal("encoding the restored image config", e))?;
        let config_digest = content
            .put(&cbytes, None)
            .map_err(|e| EngineError::internal("storing the restored image config", e))?;
        let desc = |media_type: &str, digest, size| Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            urls: None,
            annotations: None,
            platform: None,
        };
        let m = Manifest {
            schema_version: 2,
            media_type: Some(media::DOCKER_MANIFEST.into()),
            config: desc(
                media::DOCKER_CONFIG,
                config_digest.clone(),
                cbytes.len() as u64,
            ),
            layers,
            annotations: None,
        };
        let mbytes = serde_json::to_vec(&m)
            .map_err(|e| EngineError::internal("encoding the restored manifest", e))?;
        let md = content
            .put(&mbytes, None)
            .map_err(|e| EngineError::internal("storing the restored manifest", e))?;
        self.store
            .put_child(
                None,
                &desc(media::DOCKER_MANIFEST, md, mbytes.len() as u64),
                &platform_of(&cfg),
                parent_id.as_ref(),
            )
            .map_err(image_err)?;
        Ok(config_digest.to_string())
    }

    /// Returns docker's `Loaded image: …` lines.
    pub fn load(&self, src: &mut dyn Read) -> EngineResult<Vec<String>> {
        let _w = self.writing();
        let images = archive::load_docker_archive(self.store.content(), src)
            .map_err(|e| archive_err("loading the image archive", e))?;
        let platform = berth_image::model::host_platform();
        let mut lines = Vec::new();
        for img in images {
            if img.names.is_empty() {
                self.store
                    .put_for_platform(None, &img.manifest, &platform)
                    .map_err(image_err)?;
                lines.push(format!("Loaded image ID: {}", img.config));
                continue;
            }
            for name in &img.names {
                let tagged = self
                    .store
                    .put_for_platform(Some(name), &img.manifest, &platform)
                    .map_err(image_err)?;
                if let Some(old) = tagged.displaced {
                    lines.push(format!(
                        "The image {} already exists, renaming the old one with ID {old} to empty string",
                        name.familiar()
                    ));
                }
                lines.push(format!("Loaded image: {}", name.familiar()));
            }
        }
        Ok(lines)
    }

    pub fn tag(&self, name: &str, repo: &str, tag: Option<&str>) -> EngineResult<()> {
        // As dockerd: the source must exist before the new name is looked at.
        let rec = self.get(name)?;
        let target = target_reference(repo, tag)?;
        self.store
            .tag(&rec.id.to_string(), &target)
            .map_err(image_err)?;
        Ok(())
    }

    /// `in_use`: image ids that containers use (removal refused without force, and
    /// even with force the image content stays while a container needs it).
    /// [`ImageService::remove_image`] takes the containers themselves, for dockerd's
    /// exact messages and its running/stopped distinction.
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        no_prune: bool,
        in_use: &[String],
    ) -> EngineResult<Vec<ImageDeleteResponseItem>> {
        let users: Vec<ImageUser> = in_use
            .iter()
            .map(|id| ImageUser {
                image_id: id.clone(),
                container_id: String::new(),
                running: false,
            })
            .collect();
        self.remove_image(name, force, no_prune, &users)
    }

    /// Total bytes of layer content on disk, for /system/df.
    pub fn layers_size(&self) -> EngineResult<i64> {
        self.total_layers_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_of_tag_and_import() {
        let t = |r, tag| target_reference(r, tag).map(|r| r.familiar());
        assert_eq!(t("busybox", None).unwrap(), "busybox:latest");
        assert_eq!(t("busybox:1", None).unwrap(), "busybox:1");
        assert_eq!(t("busybox:1", Some("2")).unwrap(), "busybox:2");
        assert_eq!(
            t("localhost:5000/a/b", Some("")).unwrap(),
            "localhost:5000/a/b:latest"
        );
        let e = t("Busybox", None).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("Busybox"), "{e}");
        assert_eq!(t("busybox", Some("bad tag")).unwrap_err().status(), 400);
        let dig = format!("busybox@sha256:{}", "a".repeat(64));
        assert_eq!(t(&dig, None).unwrap_err().status(), 400);
    }

    #[test]
    fn the_service_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<ImageService>();
    }

    #[test]
    fn platforms_and_short_ids() {
        assert_eq!(
            parse_platform("linux/arm64/v8").unwrap().variant.as_deref(),
            Some("v8")
        );
        assert_eq!(parse_platform("linux/amd64").unwrap().architecture, "amd64");
        assert!(parse_platform("linux").is_err());
        assert_eq!(
            short_id(&format!("sha256:{}", "ab".repeat(32))),
            "abababababab"
        );
        assert_eq!(short_id("0123456789abcdef"), "0123456789ab");
    }
}
