//! Leases: what an in-flight pull, build or load is using, so garbage collection run by
//! this or another process leaves it alone. A lease names blobs and snapshot keys; it
//! lives in `<root>/leases/<id>.json` (written atomically) until deleted or, when it has
//! an expiry, until that passes — an expired lease protects nothing and is removed by
//! the next collection.
//!
//! To be safe against a concurrent collection, add a blob to the lease *before*
//! writing it (its digest is known from the descriptor being fetched): every lease
//! change and the whole mark-and-sweep take the same lock, `<root>/leases/.lock`.

use crate::fsutil::{write_atomic, FileLock};
use berth_types::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

const LOCK: &str = ".lock";

/// What can go wrong with leases; every case names the lease or path.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("lease {0:?} not found (or expired)")]
    NotFound(String),
    #[error("lease {0:?} already exists")]
    Exists(String),
    #[error("invalid lease id {0:?}: use 1-128 of [A-Za-z0-9._-], not starting with '.'")]
    InvalidId(String),
    #[error("lease file {path} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err<'a>(context: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LeaseError + 'a {
    move |source| LeaseError::Io {
        context,
        path: path.to_path_buf(),
        source,
    }
}

/// Something a lease keeps alive.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "lowercase")]
pub enum Resource {
    /// A blob in the content store.
    Content(Digest),
    /// A snapshot, by its key in the snapshotter.
    Snapshot(String),
}

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// When it stops protecting anything (milliseconds since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<u64>,
    #[serde(default)]
    pub resources: BTreeSet<Resource>,
}

impl Lease {
    pub fn is_expired(&self) -> bool {
        self.expires_ms.is_some_and(|e| now_ms() >= e)
    }
}

/// The leases under a root directory.
#[derive(Debug, Clone)]
pub struct LeaseManager {
    dir: PathBuf,
}

impl LeaseManager {
    /// Open (creating if needed) `<root>/leases`.
    pub fn open(root: &Path) -> Result<LeaseManager, LeaseError> {
        let dir = root.join("leases");
        std::fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        Ok(LeaseManager { dir })
    }

    /// Start a lease. An id held by a live lease is refused; an expired one is replaced.
    pub fn create(&self, id: &str, expires: Option<Duration>) -> Result<Lease, LeaseError> {
        check_id(id)?;
        let _lock = self.lock()?;
        if let Some(old) = self.read(id)? {
            if !old.is_expired() {
                return Err(LeaseError::Exists(id.to_string()));
            }
        }
        let now = now_ms();
        let lease = Lease {
            id: id.to_string(),
            created_ms: now,
            expires_ms: expires
                .map(|d| now.saturating_add(d.as_millis().try_into().unwrap_or(u64::MAX))),
            resources: BTreeSet::new(),
        };
        self.write(&lease)?;
        Ok(lease)
    }

    /// Protect `resource` for as long as the lease lives.
    pub fn add_resource(&self, id: &str, resource: Resource) -> Result<(), LeaseError> {
        self.update(id, |l| {
            l.resources.insert(resource);
        })
    }

    /// Stop protecting `resource` (it stays if something else references it).
    pub fn remove_resource(&self, id: &str, resource: &Resource) -> Result<(), LeaseError> {
        self.update(id, |l| {
            l.resources.remove(resource);
        })
    }

    /// A live lease.
    pub fn get(&self, id: &str) -> Result<Lease, LeaseError> {
        check_id(id)?;
        match self.read(id)? {
            Some(l) if !l.is_expired() => Ok(l),
            _ => Err(LeaseError::NotFound(id.to_string())),
        }
    }

    /// End a lease. Returns whether it existed (deleting twice is not an error, so
    /// clean-up paths can call it unconditionally).
    pub fn delete(&self, id: &str) -> Result<bool, LeaseError> {
        check_id(id)?;
        let _lock = self.lock()?;
        let p = self.path(id);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("removing", &p)(e)),
        }
    }

    /// Every live lease, by id.
    pub fn list(&self) -> Result<Vec<Lease>, LeaseError> {
        Ok(self
            .scan()?
            .into_iter()
            .filter(|l| !l.is_expired())
            .collect())
    }

    /// Remove expired leases; returns their ids.
    pub fn remove_expired(&self) -> Result<Vec<String>, LeaseError> {
        let lock = self.lock()?;
        LeaseGuard {
            leases: self,
            _lock: lock,
        }
        .remove_expired()
    }

    /// Hold the lease lock: no lease changes until the guard drops. Garbage collection
    /// holds it from reading the leases to the end of its sweep.
    pub fn lock_all(&self) -> Result<LeaseGuard<'_>, LeaseError> {
        Ok(LeaseGuard {
            leases: self,
            _lock: self.lock()?,
        })
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut Lease)) -> Result<(), LeaseError> {
        check_id(id)?;
        let _lock = self.lock()?;
        let mut l = match self.read(id)? {
            Some(l) if !l.is_expired() => l,
            _ => return Err(LeaseError::NotFound(id.to_string())),
        };
        f(&mut l);
        self.write(&l)
    }

    fn lock(&self) -> Result<FileLock, LeaseError> {
        let p = self.dir.join(LOCK);
        FileLock::exclusive(&p).map_err(io_err("locking", &p))
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn read(&self, id: &str) -> Result<Option<Lease>, LeaseError> {
        let p = self.path(id);
        let bytes = match std::fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("reading", &p)(e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| LeaseError::Corrupt { path: p, source })
    }

    fn write(&self, l: &Lease) -> Result<(), LeaseError> {
        let bytes = serde_json::to_vec(l).expect("a lease always serialises");
        write_atomic(&self.path(&l.id), &bytes).map_err(|(context, path, source)| LeaseError::Io {
            context,
            path,
            source,
        })
    }

    /// All lease files, expired or not.
    fn scan(&self) -> Result<Vec<Lease>, LeaseError> {
        let rd = std::fs::read_dir(&self.dir).map_err(io_err("reading", &self.dir))?;
        let mut out = Vec::new();
        for e in rd {
            let e = e.map_err(io_err("reading", &self.dir))?;
            let name = e.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if check_id(id).is_err() {
                continue;
            }
            // A lease deleted between listing and reading is simply gone.
            if let Some(l) = self.read(id)? {
                out.push(l);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

/// The lease lock, held.
#[derive(Debug)]
pub struct LeaseGuard<'a> {
    leases: &'a LeaseManager,
    _lock: FileLock,
}

impl LeaseGuard<'_> {
    /// Every live lease.
    pub fn live(&self) -> Result<Vec<Lease>, LeaseError> {
        Ok(self
            .leases
            .scan()?
            .into_iter()
            .filter(|l| !l.is_expired())
            .collect())
    }

    /// Remove expired leases; returns their ids.
    pub fn remove_expired(&self) -> Result<Vec<String>, LeaseError> {
        let mut gone = Vec::new();
        for l in self.leases.scan()? {
            if l.is_expired() {
                let p = self.leases.path(&l.id);
                match std::fs::remove_file(&p) {
                    Ok(()) => gone.push(l.id),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err("removing", &p)(e)),
                }
            }
        }
        Ok(gone)
    }
}

fn check_id(id: &str) -> Result<(), LeaseError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(LeaseError::InvalidId(id.to_string()))
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis().try_into().unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_escape_the_directory() {
        for bad in ["", "../x", "a/b", ".lock", ".hidden", "a b"] {
            assert!(
                matches!(check_id(bad), Err(LeaseError::InvalidId(_))),
                "{bad:?}"
            );
        }
        assert!(check_id("pull-docker.io_busybox-1").is_ok());
    }

    #[test]
    fn resources_round_trip_through_json() {
        let d = crate::content::sha256(b"x");
        let r = vec![Resource::Content(d.clone()), Resource::Snapshot("k".into())];
        let j = serde_json::to_string(&r).unwrap();
        assert!(j.contains(r#"{"type":"content","id":"sha256:"#), "{j}");
        assert_eq!(serde_json::from_str::<Vec<Resource>>(&j).unwrap(), r);
    }
}
