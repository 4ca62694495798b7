//! `POST /images/{name}/push`: an image's tags pushed through berth-registry's
//! client, with dockerd's progress messages, its closing `TAG: digest: … size: …` line
//! and `aux` record, and the pushed manifest's digest recorded in `RepoDigests`.
//!
//! A lease holds the image's manifest, config and layers while they go out, so an
//! `rmi` meanwhile cannot take them away. Layers stored uncompressed leave as gzip;
//! which gzip blob each became is remembered under `DATA_ROOT/pushed-gzip/` (one file
//! per uncompressed blob: the descriptor as JSON), so the next push of the layer asks
//! the registry for that blob before compressing it again.

use std::path::PathBuf;

use berth_api_types::image::JsonMessage;
use berth_image::images::ImageRecord;
use berth_image::lease::Resource;
use berth_image::model::{media, Descriptor};
use berth_registry::client::{PushImage, PushLayer, RegistryClient};
use berth_types::{Digest, Reference};

use super::pull::{credentials, message, pull_err};
use super::{image_err, ImageService};
use crate::api::{EngineError, EngineResult, PushOptions};

/// Where the gzip blobs of uncompressed layers are remembered, under the data root.
pub(super) const PUSHED_GZIP: &str = "pushed-gzip";

/// The gzip blobs uncompressed layers were pushed as (a cache: losing it costs a
/// compression).
struct GzipMemo {
    dir: PathBuf,
}

impl GzipMemo {
    fn get(&self, local: &Digest) -> Option<Descriptor> {
        let bytes = std::fs::read(self.dir.join(local.hex())).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn put(&self, local: &Digest, gz: &Descriptor) {
        let path = self.dir.join(local.hex());
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        let Ok(bytes) = serde_json::to_vec(gz) else {
            return;
        };
        if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// The tags a push means: the one named, or (no tag) every tag of the repository.
fn push_tags(name: &Reference, records: &[ImageRecord]) -> Vec<Reference> {
    if name.tag().is_some() {
        return vec![name.clone()];
    }
    let mut tags: Vec<Reference> = records
        .iter()
        .flat_map(|r| r.repo_tags())
        .filter(|t| t.domain() == name.domain() && t.path() == name.path())
        .cloned()
        .collect();
    tags.sort_by(|a, b| a.tag().cmp(&b.tag()));
    tags
}

impl ImageService {
    /// Pushes as dockerd does; returns the names pushed (for events).
    pub fn push(
        &self,
        client: &RegistryClient,
        opts: &PushOptions,
        out: &mut dyn FnMut(JsonMessage) -> bool,
    ) -> EngineResult<Vec<String>> {
        let bad = |e: String| EngineError::BadParameter(format!("invalid reference format: {e}"));
        let named = Reference::parse_named(&opts.name).map_err(|e| bad(e.to_string()))?;
        if named.digest().is_some() {
            return Err(EngineError::BadParameter(format!(
                "cannot push a digest reference ({}): push a tag",
                opts.name
            )));
        }
        let named = if opts.tag.is_empty() {
            named
        } else {
            named.with_tag(&opts.tag).map_err(|e| bad(e.to_string()))?
        };
        let records = self.store.list().map_err(image_err)?;
        let tags = push_tags(&named, &records);
        let tagged: Vec<(Reference, &ImageRecord)> = tags
            .iter()
            .filter_map(|t| {
                records
                    .iter()
                    .find(|r| r.names.contains(t))
                    .map(|r| (t.clone(), r))
            })
            .collect();
        if tagged.is_empty() {
            return Err(EngineError::NotFound(format!(
                "An image does not exist locally with the tag: {}",
                named.familiar_name()
            )));
        }
        let creds = credentials(&opts.auth);
        let memo = GzipMemo {
            dir: self.root.join(PUSHED_GZIP),
        };
        out(JsonMessage::status(format!(
            "The push refers to repository [{}]",
            named.name()
        )));
        let mut pushed_names = Vec::new();
        for (tag, rec) in tagged {
            let layers = self.store.layers(&rec.id).map_err(image_err)?;
            let mut held = vec![
                Resource::Content(rec.manifest.digest.clone()),
                Resource::Content(rec.id.clone()),
            ];
            held.extend(
                layers
                    .iter()
                    .map(|l| Resource::Content(l.blob.digest.clone())),
            );
            let _lease = {
                let _w = self.writing();
                // The record may have gone between the listing and the lease.
                self.store.get(&rec.id.to_string()).map_err(image_err)?;
                self.lease(held)?
            };
            let manifest_bytes = self
                .store
                .content()
                .read(&rec.manifest.digest)
                .map_err(|e| {
                    EngineError::internal(format!("reading manifest {}", rec.manifest.digest), e)
                })?;
            let mount_from: Vec<String> = {
                let mut v: Vec<String> = rec
                    .names
                    .iter()
                    .filter(|n| n.domain() == tag.domain() && n.path() != tag.path())
                    .map(|n| n.path().to_string())
                    .collect();
                v.sort();
                v.dedup();
                v
            };
            let image = PushImage {
                content: self.store.content(),
                manifest: rec.manifest.clone(),
                manifest_bytes,
                layers: layers
                    .iter()
                    .map(|l| PushLayer {
                        diff_id: l.diff_id.clone(),
                        local: l.blob.clone(),
                        known: (l.blob.media_type == media::DOCKER_LAYER
                            || l.blob.media_type == media::OCI_LAYER)
                            .then(|| memo.get(&l.blob.digest))
                            .flatten(),
                    })
                    .collect(),
                mount_from,
            };
            let mut forward = |p| out(message(p));
            let pushed = client
                .push(&tag, &image, &creds, &mut forward)
                .map_err(pull_err)?;
            for (local, gz) in &pushed.compressed {
                memo.put(local, gz);
            }
            {
                let _w = self.writing();
                self.store
                    .tag(
                        &rec.id.to_string(),
                        &tag.with_digest(pushed.manifest.digest.clone()),
                    )
                    .map_err(image_err)?;
            }
            let t = tag.tag().unwrap_or("latest").to_string();
            out(JsonMessage::status(format!(
                "{t}: digest: {} size: {}",
                pushed.manifest.digest, pushed.manifest.size
            )));
            out(JsonMessage {
                progress_detail: Some(Default::default()),
                aux: Some(serde_json::json!({
                    "Tag": t,
                    "Digest": pushed.manifest.digest.to_string(),
                    "Size": pushed.manifest.size,
                })),
                ..JsonMessage::default()
            });
            pushed_names.push(tag.familiar());
        }
        Ok(pushed_names)
    }
}
