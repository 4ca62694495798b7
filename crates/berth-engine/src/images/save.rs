//! `GET /images/get` (`docker save`): which images a list of names means, by
//! dockerd's rules, and their `docker save` archive, streamed.
//!
//! A tagged reference means that tag; a repository without a tag means every tag of
//! it (`docker save busybox` saves them all), or else an image id prefix; an id or a
//! digest reference means the image without a tag. Two names of one image give one
//! archive entry carrying both tags.
//!
//! Every name is resolved before anything is written, so an unknown one fails the
//! request with a 404 instead of a truncated archive. From then on a lease holds the
//! images' manifests, configs and layers: an `rmi` (and its garbage collection) while
//! a slow client reads the archive cannot pull the blobs from under it. Leases left by
//! a daemon that died mid-save are dropped when the service next opens.
//!
//! A compressed layer's uncompressed size, which its `layer.tar` entry needs before
//! its data, is remembered in `DATA_ROOT/layer-tar-sizes/` after the first save, so the
//! next ones read each layer once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use berth_image::archive::{save_docker_archive_with, ArchiveImage, LayerSizes};
use berth_image::images::ImageRecord;
use berth_image::lease::{LeaseManager, Resource};
use berth_image::ContentStore;
use berth_types::{Digest, Reference};

use super::{canonical, image_err, ImageService};
use crate::api::{BoxError, EngineError, EngineResult};

/// Prefix of the leases saves take.
pub(super) const LEASE_PREFIX: &str = "save-";

/// Where uncompressed layer sizes are remembered, under the data root.
pub(super) const TAR_SIZES: &str = "layer-tar-sizes";

/// Images resolved for a save, their content held by a lease until this is dropped.
pub struct ImageSave {
    images: Vec<ArchiveImage>,
    content: ContentStore,
    sizes: TarSizes,
    _lease: SaveLease,
}

impl ImageSave {
    /// The images in archive order, each with the tags it is saved under.
    pub fn images(&self) -> &[ArchiveImage] {
        &self.images
    }

    /// Writes the archive (classic `docker save` layout) to `w`.
    pub fn write_to(self, w: &mut dyn Write) -> EngineResult<()> {
        save_docker_archive_with(&self.content, &self.images, w, &self.sizes)
            .map_err(|e| EngineError::internal("writing the image archive", e))
    }
}

/// Uncompressed layer sizes, one file per diff_id (`<hex>`: the size in decimal).
/// A cache: failing to read or write it only costs a second read of a layer.
pub(super) struct TarSizes {
    pub(super) dir: PathBuf,
}

impl LayerSizes for TarSizes {
    fn get(&self, diff_id: &Digest) -> Option<u64> {
        std::fs::read_to_string(self.dir.join(diff_id.hex()))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn put(&self, diff_id: &Digest, size: u64) {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let path = self.dir.join(diff_id.hex());
        let tmp = path.with_extension(format!(
            "{}.{}.tmp",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        if std::fs::write(&tmp, size.to_string()).is_ok() && std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    fn forget(&self, diff_id: &Digest) {
        let _ = std::fs::remove_file(self.dir.join(diff_id.hex()));
    }
}

/// Deletes its lease when dropped, whether the archive was written or not.
pub(super) struct SaveLease {
    leases: LeaseManager,
    id: String,
}

impl Drop for SaveLease {
    fn drop(&mut self) {
        // Failing to delete it only keeps some blobs until the next open.
        let _ = self.leases.delete(&self.id);
    }
}

fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// What one name asks to save: image ids, each with the tag it is saved under (None:
/// by id or digest, no tag).
type Targets = Vec<(Digest, Option<Reference>)>;

impl ImageService {
    /// Resolves `names` for `docker save` and takes a lease on their content.
    pub fn save(&self, names: &[String]) -> EngineResult<ImageSave> {
        if names.is_empty() {
            return Err(EngineError::BadParameter(
                "no image to save: give at least one name".into(),
            ));
        }
        // No collection may run between reading the table and leasing what it names.
        let _w = self.writing();
        let records = self.store.list().map_err(image_err)?;
        let mut picked: Vec<(Digest, Vec<Reference>)> = Vec::new();
        for name in names {
            for (id, tag) in self.save_targets(name, &records)? {
                let at = match picked.iter().position(|(i, _)| *i == id) {
                    Some(at) => at,
                    None => {
                        picked.push((id, Vec::new()));
                        picked.len() - 1
                    }
                };
                if let Some(t) = tag {
                    if !picked[at].1.contains(&t) {
                        picked[at].1.push(t);
                    }
                }
            }
        }
        let mut images = Vec::with_capacity(picked.len());
        let mut held = Vec::new();
        for (id, names) in picked {
            let rec = records
                .iter()
                .find(|r| r.id == id)
                .expect("picked ids come from the records");
            held.push(Resource::Content(rec.manifest.digest.clone()));
            held.push(Resource::Content(rec.id.clone()));
            for l in self.store.layers(&rec.id).map_err(image_err)? {
                held.push(Resource::Content(l.blob.digest));
            }
            images.push(ArchiveImage {
                names,
                manifest: rec.manifest.clone(),
                config: rec.id.clone(),
            });
        }
        let lease = self.lease(held)?;
        Ok(ImageSave {
            images,
            content: self.store.content().clone(),
            sizes: TarSizes {
                dir: self.root.join(TAR_SIZES),
            },
            _lease: lease,
        })
    }

    pub(super) fn lease(&self, resources: Vec<Resource>) -> EngineResult<SaveLease> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let id = format!(
            "{LEASE_PREFIX}{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let err = |e: BoxError| {
            EngineError::internal(format!("holding the images to save (lease {id})"), e)
        };
        self.leases.create(&id, None).map_err(|e| err(e.into()))?;
        let lease = SaveLease {
            leases: self.leases.clone(),
            id: id.clone(),
        };
        for r in resources {
            self.leases
                .add_resource(&id, r)
                .map_err(|e| err(e.into()))?;
        }
        Ok(lease)
    }

    /// Drops the leases of saves whose process is gone (a daemon that died mid-save).
    /// Deletes the leases named `<prefix><pid>-…` whose process is gone (saves and
    /// pulls a dead daemon left).
    pub(super) fn remove_abandoned_leases(&self, prefix: &str) {
        let Ok(leases) = self.leases.list() else {
            return;
        };
        let me = std::process::id().to_string();
        for l in leases {
            let Some(rest) = l.id.strip_prefix(prefix) else {
                continue;
            };
            let pid = rest.split('-').next().unwrap_or("");
            let alive = pid == me || (!pid.is_empty() && Path::new("/proc").join(pid).exists());
            if !alive {
                let _ = self.leases.delete(&l.id);
            }
        }
    }

    fn save_targets(&self, name: &str, records: &[ImageRecord]) -> EngineResult<Targets> {
        let missing = || EngineError::NotFound(format!("No such image: {name}"));
        let by_id = || -> EngineResult<Targets> {
            let rec = self.store.get(name).map_err(|e| match image_err(e) {
                EngineError::NotFound(_) => missing(),
                other => other,
            })?;
            Ok(vec![(rec.id, None)])
        };
        // `sha256:…` (whole or a prefix) and 64 hex digits are ids, never names.
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if name.starts_with("sha256:") || (hex.len() == 64 && is_hex(hex)) {
            return by_id();
        }
        let named = Reference::parse_named(name).map_err(|e| {
            EngineError::BadParameter(format!("invalid reference format: {name:?}: {e}"))
        })?;
        if named.tag().is_none() && named.digest().is_none() {
            let repo = named.name();
            let tagged: Targets = records
                .iter()
                .flat_map(|rec| {
                    rec.repo_tags()
                        .filter(|t| t.name() == repo)
                        .map(|t| (rec.id.clone(), Some(t.clone())))
                })
                .collect();
            if !tagged.is_empty() {
                return Ok(tagged);
            }
            if is_hex(name) {
                return by_id();
            }
            return Err(missing());
        }
        let wanted = canonical(&named);
        let rec = records
            .iter()
            .find(|r| r.names.contains(&wanted))
            .ok_or_else(missing)?;
        let tag = wanted.digest().is_none().then_some(wanted);
        Ok(vec![(rec.id.clone(), tag)])
    }
}
