//! The engine's service surface: what the daemon's HTTP routes call. One method per
//! Engine API operation, taking and returning the API's own models, with no HTTP in
//! sight. Streams are plain blocking Rust types (a unix socket, an iterator, a channel)
//! so the daemon can serve each connection on its own thread.
//!
//! [`Engine`] is a trait so the HTTP layer can be tested against a fake.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;

use berth_api_types::container::{
    ContainerChange, ContainerConfig, ContainerCreateRequest, ContainerCreateResponse,
    ContainerInspect, ContainerPathStat, ContainerSummary, ContainerTopResponse,
    ContainerUpdateRequest, ContainerUpdateResponse, ContainerWaitResponse, Stats,
};
use berth_api_types::exec::{ExecConfig, ExecCreateResponse, ExecInspect, ExecStartConfig};
use berth_api_types::image::{
    ImageDeleteResponseItem, ImageHistoryItem, ImageInspect, ImageSummary,
};
use berth_api_types::network::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkResource,
};
use berth_api_types::system::{EventMessage, Info, SystemDf, Version};
use berth_api_types::volume::{Volume, VolumeCreateRequest, VolumeListResponse};
use berth_api_types::Filters;

/// Why an engine operation failed. The daemon maps the kind to an HTTP status once, at
/// the edge; the message is shown to the user as is, so it names the thing at fault.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// 400: the request itself is wrong (a bad field, an invalid filter, a bad name).
    #[error("{0}")]
    BadParameter(String),
    /// 404: no such container, image or exec instance.
    #[error("{0}")]
    NotFound(String),
    /// 409: the request conflicts with the current state (name in use, container
    /// running when it must not be, paused when it must not be).
    #[error("{0}")]
    Conflict(String),
    /// 401: a registry refused the credentials (`/auth`).
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the request is understood and refused (a read-only destination).
    #[error("{0}")]
    Forbidden(String),
    /// 304: nothing to do (start of a running container, stop of a stopped one).
    #[error("{0}")]
    NotModified(String),
    /// 500: a file or directory of berth's own could not be created, read, written or
    /// removed; `action` is the verb ("creating", "replacing", …).
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// 500: the OCI runtime failed to `create` or `exec` a process, worded as dockerd
    /// words it; `message` is the runtime's own.
    #[error("OCI runtime {action} failed: {message}: unknown")]
    Runtime {
        action: &'static str,
        message: String,
    },
    /// 500: a failure whose message is complete as it stands (a registry's refusal
    /// or a failed verification, in dockerd's words, which clients match on).
    #[error("{0}")]
    Failed(String),
    /// 500: anything else. `action` says what berth was doing and names the thing at
    /// fault (the container, image, volume or path); `source` says why it failed.
    #[error("{action}: {source}")]
    Internal {
        action: String,
        #[source]
        source: BoxError,
    },
}

/// The cause of an [`EngineError::Internal`]: any error, or a plain message
/// (`"…".into()`) where berth itself found the fault.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl EngineError {
    /// The HTTP status the Engine API gives this error.
    pub fn status(&self) -> u16 {
        match self {
            EngineError::BadParameter(_) => 400,
            EngineError::Unauthorized(_) => 401,
            EngineError::NotFound(_) => 404,
            EngineError::Conflict(_) => 409,
            EngineError::Forbidden(_) => 403,
            EngineError::NotModified(_) => 304,
            EngineError::Io { .. }
            | EngineError::Runtime { .. }
            | EngineError::Failed(_)
            | EngineError::Internal { .. } => 500,
        }
    }

    /// A 500 for a failed `action` ("exporting container ID"), caused by `source`.
    pub fn internal(action: impl Into<String>, source: impl Into<BoxError>) -> Self {
        EngineError::Internal {
            action: action.into(),
            source: source.into(),
        }
    }

    /// A 500 for a failed filesystem `action` ("creating", "writing", …) on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

pub type EngineResult<T> = Result<T, EngineError>;

/// `GET /containers/json`.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub all: bool,
    /// Only the `limit` most recently created (includes stopped ones, as `-n`).
    pub limit: Option<usize>,
    pub size: bool,
    pub filters: Filters,
}

/// `GET /containers/{id}/logs`.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Unix nanoseconds; 0 means from the start.
    pub since_nanos: i64,
    /// Unix nanoseconds; 0 means no end.
    pub until_nanos: i64,
    /// Number of lines from the end; None means all.
    pub tail: Option<usize>,
}

/// Which stream a log entry or an output chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    Stdout,
    Stderr,
}

/// One entry of a container's log (one json-file line, or a part of one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub stream: StdStream,
    /// Unix nanoseconds.
    pub time_nanos: i64,
    /// The bytes as the container wrote them, including the trailing newline if any.
    pub bytes: Vec<u8>,
}

/// A container's log as a blocking iterator. With `follow` it ends when the container
/// stops (after its last output) or the daemon shuts down.
pub type LogStream = Box<dyn Iterator<Item = EngineResult<LogEntry>> + Send>;

/// `POST /containers/{id}/attach`.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Stream output as it comes (docker always sets it for attach).
    pub stream: bool,
    /// Replay the log first.
    pub logs: bool,
    /// Docker syntax (`ctrl-p,ctrl-q`); None means the container's/daemon's default.
    pub detach_keys: Option<String>,
}

/// An attach or exec stream: bytes from the client go to the process's stdin; output
/// comes back raw with a TTY, else in Docker's 8-byte framing (`[1|2,0,0,0,len_be32]`).
/// The daemon copies both ways between this and the hijacked connection; EOF from the
/// engine side means the process is gone (or the client detached).
pub struct AttachStream {
    pub stream: UnixStream,
    pub tty: bool,
}

/// A build whose context is received; running it streams its messages.
pub type BuildRun<'e> = Box<
    dyn FnOnce(&mut dyn FnMut(berth_api_types::image::JsonMessage) -> bool) -> EngineResult<()>
        + 'e,
>;

/// `POST /containers/{id}/wait?condition=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitCondition {
    #[default]
    NotRunning,
    NextExit,
    Removed,
}

/// A wait that has been validated (the container exists) and can now block. The daemon
/// sends the response headers before calling it, as dockerd does.
pub type Waiter = Box<dyn FnOnce() -> EngineResult<ContainerWaitResponse> + Send>;

/// `GET /events`: what happened already (from `since`), then live events until `until`
/// (or forever). Filters are applied by the engine.
pub struct EventStream {
    pub past: Vec<EventMessage>,
    /// Live events; None when `until` is already in the past.
    pub live: Option<Receiver<EventMessage>>,
    /// Unix nanoseconds at which the stream must end (0: never).
    pub until_nanos: i64,
}

/// `POST /containers/prune`, `POST /images/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub deleted: Vec<String>,
    pub space_reclaimed: u64,
}

/// `POST /images/prune`: what was untagged and deleted, as `DELETE /images/{name}`
/// reports it, and the bytes of layer content that went with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImagePruneReport {
    pub deleted: Vec<ImageDeleteResponseItem>,
    pub space_reclaimed: u64,
}

/// `GET /images/get`: the `docker save` archive, written once the response head is
/// out. The names were resolved (and their content protected from garbage collection)
/// when it was made, so an error here is the store's or the connection's.
pub type ImageExport = Box<dyn FnOnce(&mut dyn Write) -> EngineResult<()> + Send>;

/// `POST /images/create?fromImage=` (pull).
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `fromImage`: a repository, possibly with a tag or digest.
    pub image: String,
    /// `tag`: a tag or a digest; with neither here nor in `image`, every tag.
    pub tag: String,
    /// `platform`: `os/arch[/variant]` (default: this host's).
    pub platform: Option<String>,
    /// From `X-Registry-Auth`.
    pub auth: berth_api_types::registry::AuthConfig,
}

/// `POST /images/{name}/push`.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// The repository, possibly with a tag.
    pub name: String,
    /// `tag`: the tag to push; with none here nor in `name`, every tag of the
    /// repository.
    pub tag: String,
    /// From `X-Registry-Auth`.
    pub auth: berth_api_types::registry::AuthConfig,
}

/// `POST /images/create?fromSrc=-` (import).
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `repo` query parameter (may carry a tag).
    pub repo: Option<String>,
    pub tag: Option<String>,
    /// Dockerfile instructions (`CMD ["sh"]`, `ENV A=B`, …).
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub platform: Option<String>,
}

/// `POST /commit`.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub container: String,
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    /// Freeze a running container while its changes are read (docker's default).
    pub pause: bool,
    /// Dockerfile instructions applied to the new image's config.
    pub changes: Vec<String>,
    /// The request body: config fields that override the container's.
    pub config: Option<ContainerConfig>,
}

/// `PUT /containers/{id}/archive`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    /// Refuse to replace a directory by a non-directory or the other way round.
    pub no_overwrite_dir_non_dir: bool,
    /// Keep the archive's owners (`cp -a`); otherwise everything is root's.
    pub copy_uid_gid: bool,
}

/// Everything the daemon's routes need from the engine.
pub trait Engine: Send + Sync + 'static {
    // --- system ---
    fn version(&self) -> Version;
    fn info(&self) -> EngineResult<Info>;
    fn system_df(&self) -> EngineResult<SystemDf>;
    /// `since`/`until` are unix nanoseconds (0: unset).
    fn events(
        &self,
        since_nanos: i64,
        until_nanos: i64,
        filters: Filters,
    ) -> EngineResult<EventStream>;

    // --- containers ---
    fn container_create(
        &self,
        name: Option<&str>,
        req: ContainerCreateRequest,
    ) -> EngineResult<ContainerCreateResponse>;
    fn container_list(&self, opts: ListOptions) -> EngineResult<Vec<ContainerSummary>>;
    fn container_inspect(&self, id: &str, size: bool) -> EngineResult<ContainerInspect>;
    fn container_top(&self, id: &str, ps_args: Option<&str>) -> EngineResult<ContainerTopResponse>;
    /// `GET /containers/{id}/changes`: what the container changed in its filesystem.
    fn container_changes(&self, id: &str) -> EngineResult<Vec<ContainerChange>>;
    /// `GET /containers/{id}/export`: the container's filesystem as a tar.
    fn container_export(&self, id: &str, out: &mut dyn std::io::Write) -> EngineResult<()>;
    /// `HEAD /containers/{id}/archive`: what `path` names in the container.
    fn container_stat_path(&self, id: &str, path: &str) -> EngineResult<ContainerPathStat>;
    /// `GET /containers/{id}/archive`: `path` as a tar; `started` gets its stat before
    /// the first byte is written.
    fn container_archive(
        &self,
        id: &str,
        path: &str,
        started: &mut dyn FnMut(&ContainerPathStat) -> std::io::Result<()>,
        out: &mut dyn std::io::Write,
    ) -> EngineResult<()>;
    /// `PUT /containers/{id}/archive`: extracts the tar `body` into the directory `path`.
    fn container_extract(
        &self,
        id: &str,
        path: &str,
        opts: ExtractOptions,
        body: &mut dyn std::io::Read,
    ) -> EngineResult<()>;
    /// `POST /commit`: returns the new image's id.
    fn commit(&self, opts: CommitOptions) -> EngineResult<String>;
    fn container_logs(&self, id: &str, opts: LogsOptions) -> EngineResult<(LogStream, bool)>;
    fn container_start(&self, id: &str) -> EngineResult<()>;
    /// `timeout` seconds before SIGKILL (None: the container's StopTimeout, else 10;
    /// negative: wait forever); `signal` overrides the container's StopSignal.
    fn container_stop(
        &self,
        id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> EngineResult<()>;
    fn container_restart(
        &self,
        id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> EngineResult<()>;
    /// `signal` by name (`KILL`, `SIGTERM`) or number; None means SIGKILL.
    fn container_kill(&self, id: &str, signal: Option<&str>) -> EngineResult<()>;
    fn container_update(
        &self,
        id: &str,
        req: ContainerUpdateRequest,
    ) -> EngineResult<ContainerUpdateResponse>;
    fn container_rename(&self, id: &str, new_name: &str) -> EngineResult<()>;
    fn container_pause(&self, id: &str) -> EngineResult<()>;
    fn container_unpause(&self, id: &str) -> EngineResult<()>;
    fn container_attach(&self, id: &str, opts: AttachOptions) -> EngineResult<AttachStream>;
    fn container_wait(&self, id: &str, condition: WaitCondition) -> EngineResult<Waiter>;
    fn container_remove(&self, id: &str, force: bool, volumes: bool) -> EngineResult<()>;
    /// `DELETE /containers/{/PARENT/ALIAS}?link=1`: removes a legacy link.
    fn container_remove_link(&self, link: &str) -> EngineResult<()>;
    fn container_resize(&self, id: &str, height: u16, width: u16) -> EngineResult<()>;
    /// One sample; `precpu_stats` is left empty (the daemon fills it from the previous
    /// sample when streaming).
    fn container_stats(&self, id: &str) -> EngineResult<Stats>;
    fn containers_prune(&self, filters: Filters) -> EngineResult<PruneReport>;

    // --- exec ---
    fn exec_create(&self, container: &str, config: ExecConfig) -> EngineResult<ExecCreateResponse>;
    /// Starts the exec instance. With `Detach` it returns None once the process runs;
    /// otherwise the stream of its stdio.
    fn exec_start(
        &self,
        exec_id: &str,
        config: ExecStartConfig,
    ) -> EngineResult<Option<AttachStream>>;
    fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> EngineResult<()>;
    fn exec_inspect(&self, exec_id: &str) -> EngineResult<ExecInspect>;

    // --- builds ---
    /// `POST /build`: receives the context `context` (the request body) and returns
    /// the build, which streams the classic builder's messages to its `out` (false:
    /// the client went away). An error before any message is the request's; a later
    /// one ends the stream.
    fn build<'e>(
        &'e self,
        opts: berth_api_types::build::BuildOptions,
        auth: std::collections::HashMap<String, berth_api_types::registry::AuthConfig>,
        context: &mut (dyn Read + Send),
    ) -> EngineResult<BuildRun<'e>> {
        let _ = (opts, auth, context);
        Err(EngineError::NotFound(
            "builds are not available from this engine".into(),
        ))
    }
    /// `POST /build/prune`.
    fn build_prune(
        &self,
        all: bool,
    ) -> EngineResult<berth_api_types::build::BuildCachePruneReport> {
        let _ = all;
        Err(EngineError::NotFound(
            "this engine has no build cache".into(),
        ))
    }

    // --- images ---
    fn image_list(
        &self,
        all: bool,
        filters: Filters,
        digests: bool,
    ) -> EngineResult<Vec<ImageSummary>>;
    fn image_inspect(&self, name: &str) -> EngineResult<ImageInspect>;
    fn image_history(&self, name: &str) -> EngineResult<Vec<ImageHistoryItem>>;
    /// Imports a rootfs tarball (plain or compressed); returns the new image id.
    fn image_import(&self, src: &mut dyn Read, opts: ImportOptions) -> EngineResult<String>;
    /// Loads a `docker save` archive or OCI layout tarball; returns one line per image
    /// as docker prints them (`Loaded image: busybox:latest`, `Loaded image ID: sha256:…`).
    fn image_load(&self, src: &mut dyn Read) -> EngineResult<Vec<String>>;
    /// Resolves every name as `docker save` does (a repository without a tag means
    /// all its tags; ids and digest references give untagged entries) before any byte
    /// is written: an unknown name is NotFound, naming it.
    fn image_save(&self, names: &[String]) -> EngineResult<ImageExport>;
    fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> EngineResult<()>;
    /// Pulls an image, sending dockerd's progress messages to `progress` (which
    /// returns false when the client went away: the pull stops). An error before any
    /// message is the request's error; after one, the caller reports it in the stream.
    fn image_pull(
        &self,
        opts: PullOptions,
        progress: &mut dyn FnMut(berth_api_types::image::JsonMessage) -> bool,
    ) -> EngineResult<()> {
        let _ = progress;
        Err(EngineError::NotFound(format!(
            "pull access is not available: this engine has no registry client (image {})",
            opts.image
        )))
    }
    /// Pushes an image's tag (or every tag of a repository), sending dockerd's progress
    /// messages to `progress` as [`Engine::image_pull`] does.
    fn image_push(
        &self,
        opts: PushOptions,
        progress: &mut dyn FnMut(berth_api_types::image::JsonMessage) -> bool,
    ) -> EngineResult<()> {
        let _ = progress;
        Err(EngineError::NotFound(format!(
            "push is not available: this engine has no registry client (image {})",
            opts.name
        )))
    }
    /// `POST /auth`: checks credentials against the registry `auth.serveraddress`
    /// names (empty: Docker Hub), as dockerd's login does. Refused credentials are
    /// [`EngineError::Unauthorized`].
    fn registry_login(
        &self,
        auth: berth_api_types::registry::AuthConfig,
    ) -> EngineResult<berth_api_types::registry::AuthenticateOkBody> {
        Err(EngineError::Failed(format!(
            "this engine has no registry client (registry {:?})",
            auth.serveraddress
        )))
    }
    /// `GET /images/search?term=&limit=&filters=`: the registry the term names,
    /// searched; filters `stars` (at least), `is-official`, `is-automated`.
    fn image_search(
        &self,
        term: &str,
        limit: u32,
        filters: Filters,
    ) -> EngineResult<Vec<berth_api_types::registry::ImageSearchResult>> {
        let _ = (limit, filters);
        Err(EngineError::Failed(format!(
            "this engine has no registry client (search for {term:?})"
        )))
    }
    /// `GET /distribution/{name}/json`: what a reference resolves to on its registry.
    fn distribution_inspect(
        &self,
        name: &str,
        auth: berth_api_types::registry::AuthConfig,
    ) -> EngineResult<berth_api_types::registry::DistributionInspect> {
        let _ = auth;
        Err(EngineError::NotFound(format!(
            "this engine has no registry client (image {name})"
        )))
    }
    fn image_remove(
        &self,
        name: &str,
        force: bool,
        no_prune: bool,
    ) -> EngineResult<Vec<ImageDeleteResponseItem>>;
    /// Filters `dangling` (default true: untagged images only), `until`, `label`,
    /// `label!`. Images that containers use are left alone.
    fn images_prune(&self, filters: Filters) -> EngineResult<ImagePruneReport>;

    // --- volumes ---
    /// Creates a volume (a random name when none is given), or returns the one of
    /// that name.
    fn volume_create(&self, req: VolumeCreateRequest) -> EngineResult<Volume>;
    /// Filters `dangling`, `name`, `label`, `driver`.
    fn volume_list(&self, filters: Filters) -> EngineResult<VolumeListResponse>;
    fn volume_inspect(&self, name: &str) -> EngineResult<Volume>;
    /// 409 while a container (running or not) uses it; `force` only makes a missing
    /// volume not an error.
    fn volume_remove(&self, name: &str, force: bool) -> EngineResult<()>;
    /// Removes unused volumes: filters `label`, `label!`, and `all` (default true,
    /// API 1.41's behaviour; false: only anonymous volumes).
    fn volumes_prune(&self, filters: Filters) -> EngineResult<PruneReport>;

    // --- networks ---
    /// Creates a user-defined bridge network; 409 when the name is taken.
    fn network_create(&self, req: NetworkCreateRequest) -> EngineResult<NetworkCreateResponse>;
    /// Filters `name`, `id`, `driver`, `label`, `type`, `dangling`, `scope`.
    fn network_list(&self, filters: Filters) -> EngineResult<Vec<NetworkResource>>;
    /// By id, name or unique id prefix, with the running containers on it.
    fn network_inspect(&self, id: &str) -> EngineResult<NetworkResource>;
    /// 403 for the built-in networks and while a running container is on it.
    fn network_remove(&self, id: &str) -> EngineResult<()>;
    /// Connects a container (wired at once when it runs).
    fn network_connect(&self, id: &str, req: NetworkConnectRequest) -> EngineResult<()>;
    fn network_disconnect(&self, id: &str, req: NetworkDisconnectRequest) -> EngineResult<()>;
    /// Removes the user-defined networks no running container is on (filters `until`,
    /// `label`, `label!`); returns their names.
    fn networks_prune(&self, filters: Filters) -> EngineResult<Vec<String>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn server_errors_say_what_failed_and_keep_why() {
        let io = || std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let e = EngineError::io("creating", "/var/lib/berth/containers/abc", io());
        assert_eq!(
            e.to_string(),
            "creating /var/lib/berth/containers/abc: permission denied"
        );
        assert_eq!(e.status(), 500);
        let e = EngineError::internal("exporting container abc", io());
        assert_eq!(e.to_string(), "exporting container abc: permission denied");
        let cause = e.source().expect("the cause is kept");
        assert!(cause.downcast_ref::<std::io::Error>().is_some());
        let e = EngineError::Runtime {
            action: "create",
            message: "exec: \"nope\": boom".into(),
        };
        assert_eq!(
            e.to_string(),
            "OCI runtime create failed: exec: \"nope\": boom: unknown"
        );
        assert_eq!(e.status(), 500);
    }
}
