//! [`LocalEngine`]: the [`Engine`](crate::Engine) that runs containers on this host,
//! each under a `berth-runc shim`, with its state under the data and exec roots.

use std::path::PathBuf;
use std::sync::Arc;

use berth_api_types::container::Ulimit;

use crate::api::{EngineError, EngineResult};

/// How the daemon configured the engine (from its flags and daemon.json).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// `--data-root` (default /var/lib/berth): images, snapshots, containers.
    pub data_root: PathBuf,
    /// `--exec-root` (default /run/berth): shim sockets, runtime state.
    pub exec_root: PathBuf,
    /// The berth-runc binary (default: `berth-runc` next to the daemon's executable).
    pub runtime: PathBuf,
    /// The init binary bind-mounted at /dev/init for `--init` (None: `--init` fails
    /// with a clear error).
    pub init_path: Option<PathBuf>,
    /// `--default-ulimit`s.
    pub default_ulimits: Vec<Ulimit>,
    /// `--live-restore` (default on): containers keep running while the daemon is down.
    pub live_restore: bool,
    /// `--bridge` / `--bip`: kept for the networking issue; not used yet.
    pub bridge: Option<String>,
    pub bip: Option<String>,
    /// Default seccomp profile in Docker's JSON format; None: berth's built-in default.
    pub seccomp_profile: Option<Vec<u8>>,
    /// Parent cgroup of containers (default `/berth`, made unique per daemon by the
    /// caller when several daemons share a host).
    pub cgroup_parent: String,
}

impl EngineConfig {
    /// Defaults under `data_root` and `exec_root`.
    pub fn new(data_root: impl Into<PathBuf>, exec_root: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            data_root: data_root.into(),
            exec_root: exec_root.into(),
            runtime: PathBuf::from("berth-runc"),
            init_path: None,
            default_ulimits: Vec::new(),
            live_restore: true,
            bridge: None,
            bip: None,
            seccomp_profile: None,
            cgroup_parent: "/berth".into(),
        }
    }
}

/// The engine. Open once per daemon; shared by every connection.
pub struct LocalEngine {
    config: EngineConfig,
}

impl LocalEngine {
    /// Opens (creating if needed) the state under the roots, finds the shims of
    /// containers that were running, and starts restart-policy supervision.
    pub fn open(config: EngineConfig) -> EngineResult<Arc<LocalEngine>> {
        let _ = config;
        Err(EngineError::Internal("engine: not implemented yet".into()))
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Called when the daemon stops: without live-restore, stops every container.
    pub fn shutdown(&self) {}
}
