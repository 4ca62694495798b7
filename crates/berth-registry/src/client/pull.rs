//! One pull: the reference's manifest (through the index to the platform's), the
//! config, then the layers ([`super::layers`]). Everything fetched is verified before
//! it is stored and held by a lease until the caller has named the image, so garbage
//! collection leaves it alone and a crash leaves only unreferenced content behind —
//! never a half-registered image (naming it is the caller's last, atomic step).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use berth_image::content::ContentStore;
use berth_image::gc::chain_ids;
use berth_image::lease::{LeaseManager, Resource};
use berth_image::model::{media, Descriptor, Document, ImageConfig, Platform};
use berth_image::snapshot::{Kind, Snapshotter};
use berth_types::{Digest, Reference};

use super::auth::Credentials;
use super::error::PullError;
use super::layers::{pull_layers, LayerJob, Work};
use super::manifest::{self, Fetched};
use super::transport::{Session, StatusError};
use super::RegistryClient;

/// A line of progress, as the Engine API's pull stream carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The layer (short blob digest) or tag the line is about; empty for the image.
    pub id: String,
    pub status: String,
    /// Bytes done and to do.
    pub detail: Option<(u64, u64)>,
}

impl Progress {
    pub fn status(id: &str, status: &str) -> Progress {
        Progress {
            id: id.to_string(),
            status: status.to_string(),
            detail: None,
        }
    }

    pub fn bytes(id: &str, status: &str, current: u64, total: u64) -> Progress {
        Progress {
            id: id.to_string(),
            status: status.to_string(),
            detail: Some((current, total)),
        }
    }
}

/// Where a pull puts things, and what it asks of the image table.
pub struct PullTarget<'a> {
    pub content: &'a ContentStore,
    pub snapshotter: &'a dyn Snapshotter,
    pub leases: &'a LeaseManager,
    /// The key of a temporary snapshot a layer (by chain id) is unpacked into: the
    /// engine's own convention, so it removes those a crash leaves.
    pub temp_key: &'a (dyn Fn(&Digest) -> String + Sync),
    /// Whether an image with this id (config digest) is already in the table: its
    /// layers are not fetched again.
    pub has_image: &'a (dyn Fn(&Digest) -> bool + Sync),
}

/// A pulled image, its content stored and held by `lease` until the caller names it
/// (and then deletes the lease).
#[derive(Debug, Clone)]
pub struct Pulled {
    /// What was pulled: the tag or digest reference.
    pub reference: Reference,
    /// The descriptor the reference resolved to: an index or a manifest (its digest is
    /// the repository digest).
    pub target: Descriptor,
    /// The platform's manifest.
    pub manifest: Descriptor,
    /// The config digest: the image id.
    pub config: Digest,
    pub lease: String,
    /// Whether any layer blob was downloaded.
    pub downloaded: bool,
}

/// dockerd's words for a refused manifest request.
fn manifest_refusal(e: StatusError, reference: &Reference) -> PullError {
    let cause = e.cause();
    match e.code() {
        "DENIED" => PullError::AccessDenied {
            name: reference.familiar_name(),
            cause,
        },
        "MANIFEST_UNKNOWN" => PullError::ManifestUnknown {
            reference: reference.familiar(),
            cause,
        },
        "NAME_UNKNOWN" => PullError::NameUnknown {
            name: reference.familiar_name(),
            cause,
        },
        _ if e.status == 404 => PullError::ManifestUnknown {
            reference: reference.familiar(),
            cause: "manifest unknown".into(),
        },
        _ => e.into_error(),
    }
}

fn new_lease(leases: &LeaseManager) -> Result<String, PullError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let id = format!(
        "{LEASE_PREFIX}{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    // A lease of the same id left by an earlier process with our pid is replaced.
    let _ = leases.delete(&id);
    leases
        .create(&id, None)
        .map_err(|e| PullError::store("starting the pull's lease", e))?;
    Ok(id)
}

/// Prefix of the leases pulls take (`pull-<pid>-<n>`).
pub const LEASE_PREFIX: &str = "pull-";

impl RegistryClient {
    /// Pulls `reference` (a tag or digest) for `platform` into `target`, reporting
    /// progress as dockerd does (`progress` returning false cancels: the client went
    /// away). Mirrors (for Docker Hub) are tried first, the origin after them.
    pub fn pull(
        &self,
        reference: &Reference,
        platform: &Platform,
        creds: &Credentials,
        target: &PullTarget<'_>,
        progress: &mut dyn FnMut(Progress) -> bool,
    ) -> Result<Pulled, PullError> {
        let cancel = Arc::new(AtomicBool::new(false));
        self.on_registry(reference, creds, cancel, |session| {
            self.pull_from(session, reference, platform, target, progress)
        })
    }

    fn pull_from(
        &self,
        session: &Session,
        reference: &Reference,
        platform: &Platform,
        target: &PullTarget<'_>,
        progress: &mut dyn FnMut(Progress) -> bool,
    ) -> Result<Pulled, PullError> {
        let tag_or_digest = match (reference.digest(), reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => "latest".to_string(),
        };
        let top = manifest::fetch(session, &tag_or_digest, None)?
            .map_err(|e| manifest_refusal(e, reference))?;
        let (chosen, m) = match &top.document {
            Document::Manifest(m) => (top.clone(), (**m).clone()),
            Document::Index(idx) => {
                let entry = manifest::choose(idx, platform)?;
                let child = manifest::fetch(session, &entry.digest.to_string(), Some(entry))?
                    .map_err(|e| manifest_refusal(e, reference))?;
                match &child.document {
                    Document::Manifest(m) => {
                        let m = (**m).clone();
                        (child, m)
                    }
                    Document::Index(_) => {
                        return Err(PullError::Invalid(format!(
                            "index {} names index {} for {}: nested indexes are not supported",
                            top.descriptor.digest,
                            entry.digest,
                            manifest::platform_string(platform)
                        )))
                    }
                }
            }
        };
        if !progress(Progress::status(
            &tag_or_digest,
            &format!("Pulling from {}", reference.path()),
        )) {
            return Err(PullError::Cancelled(reference.familiar()));
        }
        let lease = new_lease(target.leases)?;
        let result = self.pull_content(session, &top, &chosen, &m, target, &lease, progress);
        match result {
            Ok((config, downloaded)) => Ok(Pulled {
                reference: reference.clone(),
                target: top.descriptor,
                manifest: chosen.descriptor,
                config,
                lease,
                downloaded,
            }),
            Err(e) => {
                let _ = target.leases.delete(&lease);
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn pull_content(
        &self,
        session: &Session,
        top: &Fetched,
        chosen: &Fetched,
        m: &berth_image::model::Manifest,
        target: &PullTarget<'_>,
        lease: &str,
        progress: &mut dyn FnMut(Progress) -> bool,
    ) -> Result<(Digest, bool), PullError> {
        let protect = |d: &Digest| {
            target
                .leases
                .add_resource(lease, Resource::Content(d.clone()))
                .map_err(|e| PullError::store(format!("protecting {d}"), e))
        };
        let put = |f: &Fetched| -> Result<(), PullError> {
            protect(&f.descriptor.digest)?;
            target
                .content
                .put(&f.bytes, Some(f.descriptor.digest.clone()))
                .map(|_| ())
                .map_err(|e| {
                    PullError::store(format!("storing manifest {}", f.descriptor.digest), e)
                })
        };
        put(top)?;
        if chosen.descriptor.digest != top.descriptor.digest {
            put(chosen)?;
        }
        let config_desc = &m.config;
        protect(&config_desc.digest)?;
        let known_image =
            (target.has_image)(&config_desc.digest) && target.content.exists(&config_desc.digest);
        let config_bytes = if target.content.exists(&config_desc.digest) {
            target
                .content
                .read(&config_desc.digest)
                .map_err(|e| PullError::store("reading the image config", e))?
        } else {
            let b = super::blob::fetch_small(session, config_desc, "image config")?;
            target
                .content
                .put(&b, Some(config_desc.digest.clone()))
                .map_err(|e| PullError::store("storing the image config", e))?;
            b
        };
        let config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(|e| {
            PullError::Invalid(format!(
                "image config {} does not parse: {e}",
                config_desc.digest
            ))
        })?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != m.layers.len() {
            return Err(PullError::Invalid(format!(
                "manifest {} lists {} layers but config {} has {} diff_ids",
                chosen.descriptor.digest,
                m.layers.len(),
                config_desc.digest,
                diff_ids.len()
            )));
        }
        let chains = chain_ids(diff_ids);
        let unpacked = |i: usize| match target.snapshotter.stat(&chains[i].to_string()) {
            Ok(info) => info.kind == Kind::Committed,
            Err(_) => false,
        };
        // An image of this id is here, and so is every layer of this manifest, as its
        // blob or unpacked: nothing to fetch. (The same image may be here with other
        // blobs — stored uncompressed by an import, say — and not yet unpacked: then
        // this manifest's blobs are fetched, since it is what the image is named by.)
        if known_image
            && (0..m.layers.len())
                .all(|i| target.content.exists(&m.layers[i].digest) || unpacked(i))
        {
            return Ok((config_desc.digest.clone(), false));
        }
        let stacks = target.snapshotter.stacks_on_commit();
        let mut jobs = Vec::with_capacity(m.layers.len());
        for (i, l) in m.layers.iter().enumerate() {
            let known = l.media_type == media::OCI_LAYER
                || l.media_type == media::OCI_LAYER_GZIP
                || l.media_type == media::OCI_LAYER_ZSTD
                || l.media_type == media::DOCKER_LAYER
                || l.media_type == media::DOCKER_LAYER_GZIP
                || l.media_type == media::DOCKER_FOREIGN_LAYER
                || l.media_type
                    .starts_with("application/vnd.oci.image.layer.nondistributable.v1.tar");
            if !known {
                return Err(PullError::Invalid(format!(
                    "layer {} has media type {:?}, which berth cannot unpack",
                    l.digest, l.media_type
                )));
            }
            let unpacked = unpacked(i);
            let have_blob = target.content.exists(&l.digest);
            let work = match (have_blob, unpacked) {
                (true, true) => Work::Nothing,
                (false, true) => Work::Fetch,
                (false, false) if stacks => Work::FetchAndUnpack,
                (false, false) => Work::Fetch,
                (true, false) if stacks => Work::Unpack,
                (true, false) => Work::Nothing,
            };
            jobs.push(LayerJob {
                desc: l.clone(),
                diff_id: diff_ids[i].clone(),
                chain_id: chains[i].clone(),
                parent: i.checked_sub(1).map(|p| chains[p].clone()),
                work,
            });
        }
        let workers = self.transport.options.max_concurrent_downloads.max(1);
        let downloaded = pull_layers(session, target, lease, &jobs, workers, progress)?;
        Ok((config_desc.digest.clone(), downloaded))
    }
}
