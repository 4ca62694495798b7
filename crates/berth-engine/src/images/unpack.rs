//! Unpacking an image: each layer becomes a committed snapshot named by its chain id
//! (`sha256:…`, the OCI ChainID of the layers up to it), stacked on the one below.
//!
//! A layer is applied into a temporary active snapshot
//! (`berth-unpack/<pid>/<n>/<chain hex>`) and committed under its chain id only once
//! the apply (and its diff_id check) succeeded, so a failure never leaves a committed
//! half-layer; the temporary snapshot is removed on failure, and those left by a crash
//! are removed when the service next opens. Two unpacks of the same layer (threads or
//! processes) are serialised by an flock on `DATA_ROOT/locks/unpack-<chain hex>.lock`;
//! the second finds the committed snapshot and does nothing. A commit that still finds
//! the name taken (by an unpacker not using the lock) counts as success.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use berth_image::gc::chain_ids;
use berth_image::images::Layer;
use berth_image::layer::apply::{apply_layer, ApplyOptions};
use berth_image::snapshot::{Kind, SnapshotError};
use berth_types::Digest;

use super::{image_err, ImageService};
use crate::api::{EngineError, EngineResult};

const TEMP_PREFIX: &str = "berth-unpack/";

/// An exclusive flock, released when dropped (closing the file releases it).
struct LayerLock {
    _file: File,
}

impl LayerLock {
    fn take(path: &Path) -> EngineResult<LayerLock> {
        let err = |e: std::io::Error| EngineError::io("locking", path, e);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(err)?;
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive) {
                Ok(()) => return Ok(LayerLock { _file: file }),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(err(e.into())),
            }
        }
    }
}

fn snap_err(what: String) -> impl FnOnce(SnapshotError) -> EngineError {
    move |e| EngineError::internal(what, e)
}

impl ImageService {
    /// The unpack itself; the caller holds the writers' side of the GC lock.
    pub(super) fn unpack_id(&self, id: &Digest) -> EngineResult<Option<String>> {
        let layers = self.store.layers(id).map_err(image_err)?;
        let diff_ids: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let chain = chain_ids(&diff_ids);
        let mut parent: Option<String> = None;
        for (n, (layer, chain_id)) in layers.iter().zip(&chain).enumerate() {
            let key = chain_id.to_string();
            if !self.is_committed(&key)? {
                let lock = self
                    .root
                    .join("locks")
                    .join(format!("unpack-{}.lock", chain_id.hex()));
                let _l = LayerLock::take(&lock)?;
                // Someone may have finished it while we waited for the lock.
                if !self.is_committed(&key)? {
                    self.unpack_layer(id, n, layer, chain_id, parent.as_deref())?;
                }
            }
            parent = Some(key);
        }
        Ok(parent)
    }

    fn is_committed(&self, key: &str) -> EngineResult<bool> {
        match self.snapshotter.stat(key) {
            Ok(info) if info.kind == Kind::Committed => Ok(true),
            Ok(info) => Err(EngineError::internal(
                format!("snapshot {key}"),
                format!("it is {:?}, expected a committed layer", info.kind),
            )),
            Err(SnapshotError::NotFound { .. }) => Ok(false),
            Err(e) => Err(EngineError::internal(format!("snapshot {key}"), e)),
        }
    }

    fn unpack_layer(
        &self,
        image: &Digest,
        index: usize,
        layer: &Layer,
        chain_id: &Digest,
        parent: Option<&str>,
    ) -> EngineResult<()> {
        let temp = self.temp_unpack_key(chain_id);
        let what = format!(
            "unpacking layer {} ({}) of image {}",
            index + 1,
            layer.blob.digest,
            image
        );
        self.snapshotter
            .prepare(&temp, parent)
            .map_err(snap_err(what.clone()))?;
        let result = self.fill(&temp, layer, &what).and_then(|()| {
            match self.snapshotter.commit(&chain_id.to_string(), &temp) {
                Ok(()) => Ok(true),
                // Another unpacker got there first: the same content, already there.
                Err(SnapshotError::AlreadyExists { .. }) => Ok(false),
                Err(e) => Err(snap_err(what.clone())(e)),
            }
        });
        match result {
            Ok(true) => Ok(()),
            Ok(false) => {
                let _ = self.snapshotter.remove(&temp);
                Ok(())
            }
            Err(e) => {
                // Best effort: a leftover is removed when the service next opens.
                let _ = self.snapshotter.remove(&temp);
                Err(e)
            }
        }
    }

    fn fill(&self, temp: &str, layer: &Layer, what: &str) -> EngineResult<()> {
        let target = self
            .snapshotter
            .apply_target(temp)
            .map_err(snap_err(what.to_string()))?;
        let blob = self
            .store
            .content()
            .open_blob(&layer.blob.digest)
            .map_err(|e| EngineError::internal(what, e))?;
        let opts = ApplyOptions {
            expected_diff_id: Some(layer.diff_id.clone()),
            whiteout_mode: target.whiteouts.into(),
            ..ApplyOptions::default()
        };
        apply_layer(&target.dir, std::io::BufReader::new(blob), &opts)
            .map_err(|e| EngineError::internal(what, e))?;
        Ok(())
    }

    /// A fresh key for a temporary snapshot unpacking the layer `chain_id` (as unpack
    /// and pull name theirs, so those a crash leaves are found on the next open).
    pub(super) fn temp_unpack_key(&self, chain_id: &Digest) -> String {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        format!(
            "{TEMP_PREFIX}{}/{}/{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            chain_id.hex()
        )
    }

    /// Removes temporary unpack snapshots whose process is gone (left by a crash).
    pub(super) fn remove_abandoned_unpacks(&self) {
        let Ok(all) = self.snapshotter.list() else {
            return;
        };
        let me = std::process::id().to_string();
        for info in all {
            let Some(rest) = info.key.strip_prefix(TEMP_PREFIX) else {
                continue;
            };
            let pid = rest.split('/').next().unwrap_or("");
            if info.kind == Kind::Committed || pid == me {
                continue;
            }
            if !pid.is_empty() && Path::new("/proc").join(pid).exists() {
                continue;
            }
            let _ = self.snapshotter.remove(&info.key);
        }
    }
}
