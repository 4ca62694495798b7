//! `docker commit`: what a container changed, frozen as one more layer on its image.

use super::{ArchiveError, ArchiveImage};
use crate::content::ContentStore;
use crate::model::{media, Descriptor, History, ImageConfig, Manifest, RunConfig};
use berth_types::Digest;
use std::io::Write;

/// Bytes of a layer tar that holds no entry: just the two zero blocks that end it.
const EMPTY_TAR_SIZE: u64 = 1024;

/// Writes a container's changes as an uncompressed layer tar; returns its digest (the
/// diff_id) and size, or why it could not.
pub type LayerWriter<'a> = &'a mut dyn FnMut(&mut dyn Write) -> Result<(Digest, u64), String>;

/// What the new image is made of besides the layer.
pub struct CommitRequest<'a> {
    /// The container's image.
    pub parent: &'a ImageConfig,
    /// The layers of the parent's manifest, bottom first.
    pub parent_layers: Vec<Descriptor>,
    /// The new image's run configuration.
    pub config: RunConfig,
    pub author: Option<String>,
    pub comment: Option<String>,
    /// The history's `created_by`: what the container ran.
    pub created_by: String,
    /// The image's and the history entry's time (RFC 3339); None: now.
    pub created: Option<String>,
}

/// Writes the layer with `diff` (which returns the uncompressed tar's digest and size),
/// stores it as it is (uncompressed) with the new config and manifest, and returns the
/// image.
/// A container that changed nothing adds no layer, only a history entry marked empty,
/// as Docker does.
pub fn commit_image(
    store: &ContentStore,
    req: CommitRequest<'_>,
    diff: LayerWriter<'_>,
) -> Result<ArchiveImage, ArchiveError> {
    // Stored as the uncompressed tar (its digest is its diff_id): no compression on
    // the commit's path, and `save` copies it as it is.
    let mut blob = std::io::BufWriter::with_capacity(1 << 20, store.writer(None, None)?);
    let (diff_id, size) = diff(&mut blob)
        .map_err(|e| ArchiveError::Invalid(format!("diffing the container: {e}")))?;
    let empty = size <= EMPTY_TAR_SIZE;
    let mut layers = req.parent_layers;
    let mut rootfs = req.parent.rootfs.clone();
    if !empty {
        let blob = blob
            .into_inner()
            .map_err(|e| ArchiveError::Write(e.into_error()))?;
        let (digest, stored) = blob.commit()?;
        layers.push(descriptor(media::DOCKER_LAYER, digest, stored));
        rootfs.diff_ids.push(diff_id);
    }
    let created = req
        .created
        .clone()
        .unwrap_or_else(super::rootfs::created_now);
    let mut history = req.parent.history.clone();
    history.push(History {
        created: Some(created.clone()),
        created_by: Some(req.created_by),
        author: req.author.clone(),
        comment: req.comment,
        empty_layer: empty,
    });
    let cfg = ImageConfig {
        created: Some(created),
        author: req.author,
        architecture: req.parent.architecture.clone(),
        os: req.parent.os.clone(),
        variant: req.parent.variant.clone(),
        config: Some(req.config),
        rootfs,
        history,
        other: req.parent.other.clone(),
    };
    let cbytes = serde_json::to_vec(&cfg).map_err(super::json_err("new image config"))?;
    let config = store.put(&cbytes, None)?;
    let m = Manifest {
        schema_version: 2,
        media_type: Some(media::DOCKER_MANIFEST.into()),
        config: descriptor(media::DOCKER_CONFIG, config.clone(), cbytes.len() as u64),
        layers,
        annotations: None,
    };
    let mbytes = serde_json::to_vec(&m).map_err(super::json_err("new image manifest"))?;
    let md = store.put(&mbytes, None)?;
    Ok(ArchiveImage {
        names: Vec::new(),
        manifest: descriptor(media::DOCKER_MANIFEST, md, mbytes.len() as u64),
        config,
    })
}

fn descriptor(media_type: &str, digest: Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest,
        size,
        urls: None,
        annotations: None,
        platform: None,
    }
}
