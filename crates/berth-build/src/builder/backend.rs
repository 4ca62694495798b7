//! What the builder needs from the engine: images, working containers, commits and
//! tags. The engine implements [`Backend`] over its own services, so this crate stays
//! below it (DESIGN.md: berth-build depends on berth-image only).

use std::path::{Path, PathBuf};

use berth_image::model::{ImageConfig, RunConfig};

use super::BuildError;

/// An image the build starts from or made.
#[derive(Debug, Clone)]
pub struct Image {
    /// `sha256:…` (the config digest).
    pub id: String,
    pub config: ImageConfig,
}

/// Where the build's output goes: the classic builder's stream.
pub trait Sink {
    /// Text for the user (`Step 1/3 : …\n`, a RUN's output). Returns false once the
    /// client went away: the build stops.
    fn stream(&mut self, text: &str) -> bool;
    /// A message passed through as it is (a FROM's pull progress), as JSON.
    fn message(&mut self, m: serde_json::Value) -> bool;
    /// `{"aux": …}`.
    fn aux(&mut self, v: serde_json::Value) -> bool;
}

/// Limits and settings every RUN container gets (`docker build`'s flags).
#[derive(Debug, Clone, Default)]
pub struct RunLimits {
    /// `--network`: `default`, `bridge`, `host`, `none` or a network's name; empty is
    /// the default bridge.
    pub network_mode: String,
    /// `--add-host host:ip`.
    pub extra_hosts: Vec<String>,
    pub shm_size: i64,
    pub memory: i64,
    pub memory_swap: i64,
    pub cpu_shares: i64,
    pub cpuset_cpus: String,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    /// `(name, soft, hard)`.
    pub ulimits: Vec<(String, i64, i64)>,
}

/// A directory bind-mounted into a RUN container (`RUN --mount=type=cache`).
#[derive(Debug, Clone)]
pub struct BindMount {
    pub source: PathBuf,
    pub target: String,
    pub readonly: bool,
}

/// A working container: for RUN the process to run; for COPY, ADD and WORKDIR a
/// container that is never started, only written into.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub working_dir: String,
    pub limits: RunLimits,
    /// `RUN --network` (over `limits.network_mode`).
    pub network: Option<String>,
    pub binds: Vec<BindMount>,
    /// `tmpfs` mount points (`RUN --mount=type=tmpfs`).
    pub tmpfs: Vec<String>,
}

/// A new image's description (one Dockerfile step).
#[derive(Debug, Clone)]
pub struct Commit<'a> {
    /// The image the step started from (None: scratch).
    pub parent: Option<&'a str>,
    /// The container whose changes become the layer (None: a metadata-only step).
    pub container: Option<&'a str>,
    pub config: &'a RunConfig,
    /// The history entry's `created_by`.
    pub created_by: &'a str,
    /// `SOURCE_DATE_EPOCH`: the image's and history's time, and the newest mtime a
    /// layer's entries may have.
    pub epoch: Option<i64>,
    /// Written into the history entry (MAINTAINER's author).
    pub author: Option<&'a str>,
}

/// The engine's half of a build.
pub trait Backend: Sync {
    /// A FROM image: the local one, or pulled (always pulled with `pull`).
    fn base_image(
        &self,
        name: &str,
        platform: Option<&str>,
        pull: bool,
        sink: &mut dyn Sink,
    ) -> Result<Image, BuildError>;
    /// An image by id, if it (still) exists.
    fn image(&self, id: &str) -> Option<Image>;
    /// Creates a working container over `parent` (None: scratch); returns its id.
    fn create(&self, parent: Option<&str>, spec: &ContainerSpec) -> Result<String, BuildError>;
    /// Starts a created container, passes its output to `out` as it comes (`true`:
    /// from stderr), returns its exit code.
    fn run(&self, container: &str, out: &mut dyn FnMut(bool, &[u8])) -> Result<i64, BuildError>;
    /// Runs `f` on the container's root filesystem, mounted for the time it takes.
    fn with_rootfs(
        &self,
        container: &str,
        f: &mut dyn FnMut(&Path) -> Result<(), BuildError>,
    ) -> Result<(), BuildError>;
    /// Makes the image; returns its id.
    fn commit(&self, c: &Commit<'_>) -> Result<String, BuildError>;
    /// `--cache-from`: a new image over `parent` (None: scratch) taking the history
    /// entry `index` of `source` (and its layer, unless the entry is an empty layer)
    /// with `config`; returns its id.
    fn restore(
        &self,
        parent: Option<&str>,
        source: &str,
        index: usize,
        config: &RunConfig,
    ) -> Result<String, BuildError>;
    /// Removes a working container (best effort).
    fn remove(&self, container: &str);
    /// Tags an image (`name` as the user gave it).
    fn tag(&self, id: &str, name: &str) -> Result<(), BuildError>;
    /// Where the build cache's index and `RUN --mount=type=cache` directories live.
    fn cache_root(&self) -> PathBuf;
}
