//! The engine's image service: the image table, the content store and the overlay
//! snapshotter under one data root, and the Engine API's image operations over them.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use berth_api_types::image::{
    ImageDeleteResponseItem, ImageHistoryItem, ImageInspect, ImageSummary,
};
use berth_api_types::Filters;
use berth_image::model::ImageConfig;
use berth_image::snapshot::Snapshotter;

use crate::api::{EngineError, EngineResult, ImportOptions};

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
    snapshotter: Arc<dyn Snapshotter>,
}

fn todo_err() -> EngineError {
    EngineError::Internal("image service: not implemented yet".into())
}

impl ImageService {
    pub fn open(data_root: &Path) -> EngineResult<ImageService> {
        let _ = data_root;
        Err(todo_err())
    }

    /// The snapshotter containers' root filesystems are prepared in.
    pub fn snapshotter(&self) -> Arc<dyn Snapshotter> {
        self.snapshotter.clone()
    }

    /// By reference (`busybox`, `busybox:1.36`, `docker.io/library/busybox@sha256:…`),
    /// full id (`sha256:…`), or unambiguous id prefix. NotFound: `No such image: NAME`.
    pub fn resolve(&self, name: &str) -> EngineResult<ResolvedImage> {
        let _ = name;
        Err(todo_err())
    }

    /// Makes sure every layer of the image is unpacked as a committed snapshot (key: the
    /// layer's chain id, `sha256:…`), and returns the key of the top one to use as the
    /// parent of a container's snapshot (None for an image with no layers).
    pub fn unpack(&self, image: &ResolvedImage) -> EngineResult<Option<String>> {
        let _ = image;
        Err(todo_err())
    }

    /// Number of images (for /info).
    pub fn count(&self) -> EngineResult<usize> {
        Err(todo_err())
    }

    pub fn list(
        &self,
        all: bool,
        filters: Filters,
        digests: bool,
    ) -> EngineResult<Vec<ImageSummary>> {
        let _ = (all, filters, digests);
        Err(todo_err())
    }

    pub fn inspect(&self, name: &str) -> EngineResult<ImageInspect> {
        let _ = name;
        Err(todo_err())
    }

    pub fn history(&self, name: &str) -> EngineResult<Vec<ImageHistoryItem>> {
        let _ = name;
        Err(todo_err())
    }

    /// Returns the new image's id.
    pub fn import(&self, src: &mut dyn Read, opts: ImportOptions) -> EngineResult<String> {
        let _ = (src, opts);
        Err(todo_err())
    }

    /// Returns docker's `Loaded image: …` lines.
    pub fn load(&self, src: &mut dyn Read) -> EngineResult<Vec<String>> {
        let _ = src;
        Err(todo_err())
    }

    pub fn tag(&self, name: &str, repo: &str, tag: Option<&str>) -> EngineResult<()> {
        let _ = (name, repo, tag);
        Err(todo_err())
    }

    /// `in_use`: image ids that containers use (removal refused without force, and
    /// even with force the image content stays while a container needs it).
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        no_prune: bool,
        in_use: &[String],
    ) -> EngineResult<Vec<ImageDeleteResponseItem>> {
        let _ = (name, force, no_prune, in_use);
        Err(todo_err())
    }

    /// Total bytes of layer content on disk, for /system/df.
    pub fn layers_size(&self) -> EngineResult<i64> {
        Err(todo_err())
    }
}
