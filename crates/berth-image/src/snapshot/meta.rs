//! Snapshot metadata shared by the snapshotters: the table of keys, kinds, parents and
//! directory ids in `<root>/metadata.json`, replaced atomically (write a temporary
//! file, fsync, rename, fsync the directory) under an exclusive flock on `<root>/lock`,
//! so concurrent processes see the old or the new table and a crash leaves one of them.
//! Snapshot directories are `<root>/snapshots/<id>/`; directories no record names
//! (left by a crash between a metadata change and the file work) are removed on open.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;

use super::{io_err, Info, Kind, SnapshotError};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Record {
    pub id: u64,
    pub kind: Kind,
    pub parent: Option<String>,
    pub created: u64,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct State {
    pub next_id: u64,
    pub snapshots: BTreeMap<String, Record>,
}

impl State {
    pub fn get(&self, key: &str) -> Result<&Record, SnapshotError> {
        self.snapshots
            .get(key)
            .ok_or_else(|| SnapshotError::NotFound {
                key: key.to_string(),
            })
    }

    /// The ids of `key`'s ancestors, nearest first (overlay's lowerdir order).
    pub fn parent_ids(&self, key: &str) -> Result<Vec<u64>, SnapshotError> {
        let mut out = Vec::new();
        let mut cur = self.get(key)?.parent.clone();
        while let Some(p) = cur {
            let r = self.get(&p)?;
            out.push(r.id);
            cur = r.parent.clone();
        }
        Ok(out)
    }

    pub fn info(&self, key: &str) -> Result<Info, SnapshotError> {
        let r = self.get(key)?;
        Ok(Info {
            key: key.to_string(),
            kind: r.kind,
            parent: r.parent.clone(),
            id: r.id,
            created: r.created,
        })
    }
}

pub(crate) struct Core {
    root: PathBuf,
}

struct Lock(File);

impl Drop for Lock {
    fn drop(&mut self) {
        // Closing the file releases the lock as well; unlocking first is a courtesy.
        let _ = rustix::fs::flock(&self.0, FlockOperation::Unlock);
    }
}

impl Core {
    pub fn open(root: &Path) -> Result<Core, SnapshotError> {
        let snaps = root.join("snapshots");
        fs::create_dir_all(&snaps).map_err(io_err(&snaps))?;
        // An optimisation only (see berth_sys::spread_subdirectories).
        let _ = berth_sys::spread_subdirectories(&snaps);
        let core = Core {
            root: root.to_path_buf(),
        };
        // Remove directories no record names.
        let _l = core.lock(true)?;
        let st = core.load()?;
        let ids: std::collections::HashSet<String> =
            st.snapshots.values().map(|r| r.id.to_string()).collect();
        for e in fs::read_dir(&snaps).map_err(io_err(&snaps))? {
            let e = e.map_err(io_err(&snaps))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !ids.contains(&name) {
                // Best effort: another process may be removing it too.
                let _ = fs::remove_dir_all(e.path());
            }
        }
        Ok(core)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    pub fn dir(&self, id: u64) -> PathBuf {
        self.root.join("snapshots").join(id.to_string())
    }

    fn lock(&self, exclusive: bool) -> Result<Lock, SnapshotError> {
        let p = self.root.join("lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err(&p))?;
        let op = if exclusive {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::LockShared
        };
        rustix::fs::flock(&f, op).map_err(|e| SnapshotError::Io {
            path: p.clone(),
            source: e.into(),
        })?;
        Ok(Lock(f))
    }

    fn load(&self) -> Result<State, SnapshotError> {
        let p = self.root.join("metadata.json");
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|source| SnapshotError::Metadata {
                path: p.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State {
                next_id: 1,
                ..State::default()
            }),
            Err(e) => Err(SnapshotError::Io { path: p, source: e }),
        }
    }

    fn store(&self, st: &State) -> Result<(), SnapshotError> {
        let p = self.root.join("metadata.json");
        let tmp = self.root.join("metadata.json.tmp");
        let data = serde_json::to_vec_pretty(st).expect("snapshot state always serialises");
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&data).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        fs::rename(&tmp, &p).map_err(io_err(&p))?;
        File::open(&self.root)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&self.root))?;
        Ok(())
    }

    /// A consistent copy of the table.
    pub fn read(&self) -> Result<State, SnapshotError> {
        let _l = self.lock(false)?;
        self.load()
    }

    /// Change the table under the exclusive lock; nothing is stored if `f` fails.
    pub fn update<T>(
        &self,
        f: impl FnOnce(&mut State) -> Result<T, SnapshotError>,
    ) -> Result<T, SnapshotError> {
        let _l = self.lock(true)?;
        let mut st = self.load()?;
        let out = f(&mut st)?;
        self.store(&st)?;
        Ok(out)
    }

    /// Create a snapshot record and its directory; `init` fills the directory (given
    /// the new directory and the parent's, if any) before the record is stored.
    pub fn create(
        &self,
        key: &str,
        parent: Option<&str>,
        kind: Kind,
        init: impl FnOnce(&Path, Option<&Path>) -> Result<(), SnapshotError>,
    ) -> Result<(), SnapshotError> {
        self.update(|st| {
            if st.snapshots.contains_key(key) {
                return Err(SnapshotError::AlreadyExists {
                    key: key.to_string(),
                });
            }
            let parent_dir = match parent {
                Some(p) => {
                    let r = st.get(p)?;
                    if r.kind != Kind::Committed {
                        return Err(SnapshotError::ParentNotCommitted {
                            key: p.to_string(),
                            kind: r.kind,
                        });
                    }
                    Some(self.dir(r.id))
                }
                None => None,
            };
            let id = st.next_id.max(1);
            st.next_id = id + 1;
            let dir = self.dir(id);
            // A leftover from a crash under the same id cannot exist (open cleans up),
            // but be safe.
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir(&dir).map_err(io_err(&dir))?;
            if let Err(e) = init(&dir, parent_dir.as_deref()) {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
            let created = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            st.snapshots.insert(
                key.to_string(),
                Record {
                    id,
                    kind,
                    parent: parent.map(str::to_string),
                    created,
                },
            );
            Ok(())
        })
    }

    /// Rename active `key` to committed `name`; returns the snapshot's directory.
    pub fn commit(&self, name: &str, key: &str) -> Result<PathBuf, SnapshotError> {
        self.commit_with(name, key, None)
    }

    /// [`Core::commit`], with `Some(parent)` replacing the parent `key` was prepared
    /// with (`Some(None)`: no parent); the new parent must be committed.
    pub fn commit_with(
        &self,
        name: &str,
        key: &str,
        parent: Option<Option<&str>>,
    ) -> Result<PathBuf, SnapshotError> {
        self.update(|st| {
            let mut r = st.get(key)?.clone();
            if let Some(parent) = parent {
                if let Some(p) = parent {
                    let pr = st.get(p)?;
                    if pr.kind != Kind::Committed {
                        return Err(SnapshotError::ParentNotCommitted {
                            key: p.to_string(),
                            kind: pr.kind,
                        });
                    }
                }
                r.parent = parent.map(str::to_string);
            }
            if r.kind != Kind::Active {
                return Err(SnapshotError::NotActive {
                    key: key.to_string(),
                    kind: r.kind,
                });
            }
            if st.snapshots.contains_key(name) {
                return Err(SnapshotError::AlreadyExists {
                    key: name.to_string(),
                });
            }
            st.snapshots.remove(key);
            let dir = self.dir(r.id);
            st.snapshots.insert(
                name.to_string(),
                Record {
                    kind: Kind::Committed,
                    ..r
                },
            );
            Ok(dir)
        })
    }

    /// Drop `key`'s record, then its directory.
    pub fn remove(&self, key: &str) -> Result<(), SnapshotError> {
        let dir = self.update(|st| {
            let r = st.get(key)?;
            let children: Vec<String> = st
                .snapshots
                .iter()
                .filter(|(_, c)| c.parent.as_deref() == Some(key))
                .map(|(k, _)| k.clone())
                .collect();
            if !children.is_empty() {
                return Err(SnapshotError::HasChildren {
                    key: key.to_string(),
                    children,
                });
            }
            let dir = self.dir(r.id);
            st.snapshots.remove(key);
            Ok(dir)
        })?;
        // Rename first so a half-removed directory is never mistaken for a snapshot.
        let trash = self.snapshots_dir().join(format!(
            "removing-{}",
            dir.file_name().and_then(|n| n.to_str()).unwrap_or("x")
        ));
        fs::rename(&dir, &trash).map_err(io_err(&dir))?;
        fs::remove_dir_all(&trash).map_err(io_err(&trash))
    }
}
