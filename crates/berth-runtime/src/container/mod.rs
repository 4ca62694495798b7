//! Container operations, one per file, over the state kept under the runtime root.

mod create;
mod delete;
pub(crate) mod exec;
mod kill;
mod misc;
mod start;

pub use create::{create, create_from, CreateOpts, Created};
pub use delete::{delete, destroy};
pub use exec::{exec, ExecOpts};
pub use kill::{kill, parse_signal};
pub use misc::{events, list, pause, ps, resume, update, ListFormat};
pub use start::start;

use crate::error::{Context, Result, RuntimeError};
use crate::state::{self, ContainerState, Root, Status};
use oci_spec::runtime::Spec;
use std::path::Path;

/// Options every command shares (runc's global flags).
#[derive(Debug, Clone)]
pub struct Global {
    pub root: Root,
    pub systemd_cgroup: bool,
    pub debug: bool,
}

/// OCI state JSON for hooks and `state`.
pub fn state_json(id: &str, status: &str, pid: i32, spec: &Spec, bundle: &Path) -> Vec<u8> {
    let v = serde_json::json!({
        "ociVersion": spec.version(),
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": spec.annotations().clone().unwrap_or_default(),
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// A loaded container: its persisted state and the config it was created with.
pub struct Container {
    pub state: ContainerState,
    pub spec: Spec,
    pub dir: std::path::PathBuf,
}

impl Container {
    pub fn load(g: &Global, id: &str) -> Result<Container> {
        let state = g.root.load(id)?;
        let dir = g.root.dir(id);
        let cfg = dir.join("config.json");
        let data = std::fs::read(&cfg).ctx(|| format!("reading {}", cfg.display()))?;
        let spec: Spec =
            serde_json::from_slice(&data).map_err(|e| RuntimeError::InvalidConfig {
                path: cfg.clone(),
                msg: e.to_string(),
            })?;
        Ok(Container { state, spec, dir })
    }

    pub fn cgroup(&self) -> Result<berth_cgroups::Cgroup> {
        Ok(berth_cgroups::Cgroup::new(
            Some(&self.state.cgroup_path),
            &self.state.id,
            self.state.systemd_cgroup,
        )?)
    }

    /// The live status, worked out from the process, the exec fifo and the freezer.
    pub fn status(&self) -> Status {
        if !state::alive(self.state.pid, self.state.start_time) {
            return Status::Stopped;
        }
        if self.dir.join(state::EXEC_FIFO).exists() {
            return Status::Created;
        }
        if let Ok(cg) = self.cgroup() {
            if cg.is_frozen().unwrap_or(false) {
                return Status::Paused;
            }
        }
        Status::Running
    }

    /// The `state` command's JSON.
    pub fn oci_state(&self) -> serde_json::Value {
        let status = self.status();
        let pid = if status == Status::Stopped {
            0
        } else {
            self.state.pid
        };
        serde_json::json!({
            "ociVersion": self.spec.version(),
            "id": self.state.id,
            "pid": pid,
            "status": status.as_str(),
            "bundle": self.state.bundle,
            "rootfs": self.state.rootfs,
            "created": self.state.created,
            "owner": self.state.owner,
            "annotations": self.state.annotations,
        })
    }

    pub fn hook_state(&self, status: Status) -> Vec<u8> {
        state_json(
            &self.state.id,
            status.as_str(),
            self.state.pid,
            &self.spec,
            &self.state.bundle,
        )
    }

    pub fn bad_state(&self, status: Status, msg: &str) -> RuntimeError {
        RuntimeError::BadState {
            id: self.state.id.clone(),
            status: status.as_str().into(),
            msg: msg.into(),
        }
    }
}

/// Wait (up to `timeout`) for a process that is not our child to disappear.
pub fn wait_gone(pid: i32, start_time: u64, timeout: std::time::Duration) -> bool {
    let end = std::time::Instant::now() + timeout;
    let mut nap = std::time::Duration::from_micros(100);
    while state::alive(pid, start_time) {
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(std::time::Duration::from_millis(10));
    }
    true
}
