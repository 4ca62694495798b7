//! berth's record of a container, `DATA_ROOT/containers/<id>/container.json`: what it
//! was created as and its last known state, replaced atomically (temporary file, fsync,
//! rename, fsync of the directory) on every change so a crash never leaves half a
//! record.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use berth_api_types::container::{ContainerConfig, Health, HostConfig};
use berth_api_types::network::NetworkSettings;
use serde::{Deserialize, Serialize};

use crate::api::{EngineError, EngineResult};

/// The record's file name.
pub const RECORD: &str = "container.json";

/// Docker's container states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Whether a process (the shim's container) exists: running or paused.
    pub fn is_running(self) -> bool {
        matches!(self, Status::Running | Status::Paused)
    }
}

/// The run state. Times are unix nanoseconds, 0 when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StateRecord {
    pub status: Status,
    pub pid: i64,
    pub exit_code: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub oom_killed: bool,
    /// The OOM kills of this run told as `oom` events (the shim's count).
    pub oom_kills: u64,
    pub error: String,
    pub health: Option<Health>,
}

/// Everything berth keeps about a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerRecord {
    pub id: String,
    /// Without the leading slash.
    pub name: String,
    /// Unix nanoseconds.
    pub created: i64,
    /// `sha256:…`.
    pub image_id: String,
    /// The image as the user named it.
    pub image_name: String,
    /// The create request's config merged with the image's defaults.
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    /// The command: `path` + `args`.
    pub path: String,
    pub args: Vec<String>,
    pub state: StateRecord,
    pub restart_count: i64,
    pub log_path: PathBuf,
    pub snapshot_key: String,
    /// The OCI `cgroupsPath` (`/berth/<id>`).
    pub cgroups_path: String,
    /// A user stop or kill: no restart until the next start.
    pub manually_stopped: bool,
    /// The resolv.conf, hosts and hostname files given to the container.
    pub resolv_conf_path: PathBuf,
    pub hosts_path: PathBuf,
    pub hostname_path: PathBuf,
    /// Its binds, volumes and tmpfs mounts (`Mounts` of inspect), resolved at create.
    pub mounts: Vec<crate::volumes::mounts::MountRecord>,
    /// Its networks (what it asked for on each) and, while it runs, its endpoints,
    /// addresses and published ports: `NetworkSettings` of inspect.
    pub network_settings: NetworkSettings,
    /// While it runs: the host end of its veth pair on each bridge network, by network
    /// id (what `network disconnect` deletes).
    pub host_veths: std::collections::BTreeMap<String, String>,
}

/// Writes `data` to `path` atomically (a temporary file, then a rename) but without
/// syncing: for what the daemon hands to the runtime or the shim under the exec root,
/// which is written again at every start and means nothing after a reboot.
pub fn replace_file(path: &Path, data: &[u8]) -> EngineResult<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, data).map_err(|e| EngineError::io("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| EngineError::io("replacing", path, e))
}

/// Writes `data` to `path` durably and atomically.
pub fn write_atomic(path: &Path, data: &[u8]) -> EngineResult<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp).map_err(|e| EngineError::io("creating", &tmp, e))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(|e| EngineError::io("writing", &tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| EngineError::io("replacing", path, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| EngineError::io("syncing", dir, e))?;
    Ok(())
}

/// Saves `rec` as `dir/container.json`.
pub fn save(dir: &Path, rec: &ContainerRecord) -> EngineResult<()> {
    let data = serde_json::to_vec_pretty(rec).expect("a container record always serializes");
    write_atomic(&dir.join(RECORD), &data)
}

/// Every record under `containers_dir`, skipping (and naming) unreadable ones.
pub fn load_all(containers_dir: &Path) -> EngineResult<(Vec<ContainerRecord>, Vec<String>)> {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    let entries = match std::fs::read_dir(containers_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((out, bad)),
        Err(e) => return Err(EngineError::io("reading", containers_dir, e)),
    };
    for e in entries.flatten() {
        let p = e.path().join(RECORD);
        match std::fs::read(&p)
            .map_err(|e| e.to_string())
            .and_then(|d| serde_json::from_slice::<ContainerRecord>(&d).map_err(|e| e.to_string()))
        {
            Ok(r) => out.push(r),
            Err(e) => bad.push(format!("{}: {e}", p.display())),
        }
    }
    Ok((out, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let d = tempfile::tempdir().unwrap();
        let mut r = ContainerRecord {
            id: "abc".into(),
            name: "n".into(),
            ..Default::default()
        };
        r.state.status = Status::Exited;
        r.state.exit_code = 3;
        std::fs::create_dir(d.path().join("abc")).unwrap();
        save(&d.path().join("abc"), &r).unwrap();
        std::fs::create_dir(d.path().join("junk")).unwrap();
        std::fs::write(d.path().join("junk").join(RECORD), "{").unwrap();
        let (all, bad) = load_all(d.path()).unwrap();
        assert_eq!(all, vec![r]);
        assert_eq!(bad.len(), 1);
    }
}
