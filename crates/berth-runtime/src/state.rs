//! A container's persisted state under the runtime root (`<root>/<id>/state.json`),
//! and how its live status is worked out from it.

use crate::error::{Context, Result, RuntimeError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Name of the fifo whose presence means "created, not yet started".
pub const EXEC_FIFO: &str = "exec.fifo";

/// What the runtime remembers about one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerState {
    pub id: String,
    /// Pid of the container's init in the runtime's pid namespace; 0 once reaped.
    pub pid: i32,
    /// Start time of `pid` (field 22 of /proc/PID/stat), to detect pid reuse.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The cgroupsPath the container was created with (after defaults).
    pub cgroup_path: String,
    #[serde(default)]
    pub systemd_cgroup: bool,
}

/// OCI container statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Check a container id the way runc does: letters, digits, `_ + - .`, not `.`/`..`.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::Usage(format!(
            "invalid container id format: {id:?}"
        )))
    }
}

/// The runtime's state root (`--root`).
#[derive(Debug, Clone)]
pub struct Root {
    pub path: PathBuf,
}

impl Root {
    pub fn new(path: PathBuf) -> Root {
        Root { path }
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.path.join(id)
    }

    /// Create the root (mode 0700) if needed.
    pub fn ensure(&self) -> Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.path)
            .ctx(|| format!("creating runtime root {}", self.path.display()))
    }

    /// Load a container's state; NotFound if there is none.
    pub fn load(&self, id: &str) -> Result<ContainerState> {
        validate_id(id)?;
        let p = self.dir(id).join("state.json");
        let data = match std::fs::read(&p) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RuntimeError::NotFound(id.to_string()))
            }
            Err(e) => return Err(e).ctx(|| format!("reading {}", p.display())),
        };
        serde_json::from_slice(&data).map_err(|e| RuntimeError::Io {
            context: format!("parsing {}", p.display()),
            source: std::io::Error::other(e),
        })
    }

    /// Persist a container's state atomically.
    pub fn save(&self, st: &ContainerState) -> Result<()> {
        let data = serde_json::to_vec(st)
            .map_err(std::io::Error::other)
            .ctx(|| "encoding state".into())?;
        write_atomic(&self.dir(&st.id).join("state.json"), &data)
    }

    /// The ids of every container under the root, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let rd = match std::fs::read_dir(&self.path) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(e).ctx(|| format!("reading {}", self.path.display())),
        };
        for ent in rd.flatten() {
            if ent.path().join("state.json").exists() {
                if let Some(name) = ent.file_name().to_str() {
                    ids.push(name.to_string());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }
}

/// Write `data` to `path` via a temporary file and a rename: readers see the old or
/// the new content, never a torn one. Not synced to disk: the runtime's state describes
/// processes, which a reboot ends as well (the root is under /run by default).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
    f.write_all(data)
        .ctx(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).ctx(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// Parse /proc/PID/stat: (state char, start time). None if the process is gone.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.rsplit_once(')')?.1;
    let mut it = rest.split_whitespace();
    let state = it.next()?.chars().next()?;
    // starttime is field 22; `state` was field 3.
    let start = it.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Whether `pid` is still the process that had `start_time` and is not a zombie.
pub fn alive(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    match proc_stat(pid) {
        Some((state, start)) => start == start_time && state != 'Z' && state != 'X',
        None => false,
    }
}

/// Current UTC time as RFC 3339 with nanoseconds.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    berth_types::time::format_rfc3339(
        d.as_nanos() as i128,
        berth_types::time::Precision::NanosFixed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_has_nine_fraction_digits() {
        // `2026-11-18T11:06:40.000000000Z`, as runc writes `created`.
        let now = now_rfc3339();
        assert_eq!(now.len(), 30, "{now}");
        assert_eq!(&now[19..20], ".");
        assert!(berth_types::time::parse_rfc3339(&now).is_some(), "{now}");
    }

    #[test]
    fn ids() {
        assert!(validate_id("abc-1.2_3+x").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "../x"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn own_process_is_alive() {
        let pid = std::process::id() as i32;
        let (_, start) = proc_stat(pid).expect("own stat");
        assert!(alive(pid, start));
        assert!(!alive(pid, start + 1));
    }
}
