//! Volumes: berth's `local` volume driver and the references containers hold on
//! volumes. A volume is a directory, `DATA_ROOT/volumes/<name>/_data`, with its record
//! beside it in `volume.json` (written durably, so volumes outlive daemon restarts).
//! A volume created with mount options (`-o type=tmpfs,device=tmpfs`,
//! `-o type=none,o=bind,device=/srv`) has that filesystem mounted on `_data` while at
//! least one running container uses it.
//!
//! [`mounts`] turns a create request's `Binds`, `Mounts`, `VolumesFrom` and
//! `Config.Volumes` into the container's mount points; [`copyup`] fills an empty
//! volume from the image the first time it is mounted.
//!
//! Locking: one mutex over the table, the references and the active mounts, so that
//! taking a reference (container create) and removing a volume cannot interleave.

pub(crate) mod copyup;
pub(crate) mod mounts;
mod service;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::CString;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use berth_api_types::volume::{Volume, VolumeUsageData};
use berth_api_types::Filters;
use serde::{Deserialize, Serialize};

use crate::api::{EngineError, EngineResult};
use crate::timefmt::now_nanos;

/// The only driver berth has.
pub const DEFAULT_DRIVER: &str = "local";
/// The label Docker puts on volumes created without a name.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";
/// A volume's record, beside its data.
const RECORD: &str = "volume.json";
/// A volume's data directory.
const DATA: &str = "_data";
/// Prefix of a volume directory being removed (names cannot start with a dot).
const REMOVING: &str = ".removing-";
/// The options the local driver takes.
const LOCAL_OPTIONS: &[&str] = &["type", "device", "o", "size"];

/// What berth keeps about a volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    /// The local driver's options (`type`, `device`, `o`).
    pub options: BTreeMap<String, String>,
    /// Unix nanoseconds.
    pub created: i64,
}

impl VolumeRecord {
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// `get NAME: no such volume` (404), as dockerd words it.
pub fn no_such_volume(name: &str) -> EngineError {
    EngineError::NotFound(format!("get {name}: no such volume"))
}

/// Docker's rule for local volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate_name(name: &str) -> EngineResult<()> {
    let ok = name.len() >= 2
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(EngineError::BadParameter(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )))
    }
}

/// Checks the local driver's options: known keys only, `type` and `device` together,
/// and no `size` (that needs filesystem quotas berth does not manage).
pub fn validate_options(name: &str, opts: &BTreeMap<String, String>) -> EngineResult<()> {
    let bad = |m: String| EngineError::BadParameter(format!("create {name}: {m}"));
    if let Some(k) = opts.keys().find(|k| !LOCAL_OPTIONS.contains(&k.as_str())) {
        return Err(bad(format!("invalid option: {k:?}")));
    }
    if opts.contains_key("size") {
        return Err(bad(
            "quota size requested but no quota support: the local driver of berth does not limit volume sizes (use -o type=tmpfs,device=tmpfs,o=size=…)".into(),
        ));
    }
    let typ = opts.get("type").filter(|v| !v.is_empty());
    let dev = opts.get("device").filter(|v| !v.is_empty());
    match (typ, dev) {
        (Some(_), None) => return Err(bad("missing required option: \"device\"".into())),
        (None, Some(_)) => return Err(bad("missing required option: \"type\"".into())),
        _ => {}
    }
    if opts.get("o").is_some_and(|o| !o.is_empty()) && typ.is_none() {
        return Err(bad("missing required option: \"type\"".into()));
    }
    let binds = opts
        .get("o")
        .is_some_and(|o| o.split(',').any(|x| x == "bind" || x == "rbind"));
    if let (true, Some(dev)) = (binds, dev) {
        if !Path::new(dev).is_absolute() {
            return Err(bad(format!(
                "device {dev:?} of a bind volume must be an absolute host path"
            )));
        }
    }
    Ok(())
}

#[derive(Default)]
struct State {
    vols: BTreeMap<String, VolumeRecord>,
    /// Volume → the containers created with it (until they are removed).
    refs: HashMap<String, BTreeSet<String>>,
    /// Volume → the containers running with it mounted.
    active: HashMap<String, BTreeSet<String>>,
}

/// The volumes under one data root.
pub struct VolumeStore {
    root: PathBuf,
    state: Mutex<State>,
}

/// What [`VolumeStore::acquire`] asks for.
#[derive(Debug, Clone, Copy)]
pub struct Want<'a> {
    /// None: a new anonymous volume.
    pub name: Option<&'a str>,
    pub driver: &'a str,
    /// For a volume created here.
    pub options: &'a BTreeMap<String, String>,
    pub labels: &'a BTreeMap<String, String>,
}

impl VolumeStore {
    /// Opens (creating) `root`, loading every volume in it and finishing removals a
    /// crash interrupted.
    pub fn open(root: &Path) -> EngineResult<VolumeStore> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o701)
            .create(root)
            .map_err(|e| EngineError::io("creating", root, e))?;
        let mut vols = BTreeMap::new();
        let entries = std::fs::read_dir(root).map_err(|e| EngineError::io("reading", root, e))?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if name.starts_with(REMOVING) {
                let data = path.join(DATA);
                if crate::containers::is_mountpoint(&data) {
                    let _ = berth_image::snapshot::unmount(&data);
                }
                let _ = std::fs::remove_dir_all(&path);
                continue;
            }
            if !path.is_dir() || validate_name(&name).is_err() {
                continue;
            }
            let rec = match std::fs::read(path.join(RECORD)) {
                Ok(d) => serde_json::from_slice::<VolumeRecord>(&d).map_err(|e| {
                    EngineError::internal(
                        format!("reading volume record {}", path.join(RECORD).display()),
                        e,
                    )
                })?,
                // A directory without its record (a crash right after mkdir, or one
                // put there by hand): a plain local volume, as dockerd takes it.
                Err(_) => VolumeRecord {
                    name: name.clone(),
                    driver: DEFAULT_DRIVER.into(),
                    created: e
                        .metadata()
                        .map(|m| m.mtime() * 1_000_000_000 + m.mtime_nsec())
                        .unwrap_or(0),
                    ..VolumeRecord::default()
                },
            };
            vols.insert(name, rec);
        }
        Ok(VolumeStore {
            root: root.to_path_buf(),
            state: Mutex::new(State {
                vols,
                ..State::default()
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("volume table lock poisoned")
    }

    /// Where the volume's data lives on the host.
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.root.join(name).join(DATA)
    }

    /// Creates a volume, or returns the existing one of that name (as dockerd, which
    /// ignores the options and labels then). The bool tells whether it was created.
    pub fn create(
        &self,
        name: &str,
        driver: &str,
        options: &BTreeMap<String, String>,
        labels: &BTreeMap<String, String>,
    ) -> EngineResult<(VolumeRecord, bool)> {
        let mut st = self.lock();
        self.create_locked(&mut st, name, driver, options, labels)
    }

    fn create_locked(
        &self,
        st: &mut State,
        name: &str,
        driver: &str,
        options: &BTreeMap<String, String>,
        labels: &BTreeMap<String, String>,
    ) -> EngineResult<(VolumeRecord, bool)> {
        let (name, mut labels) = if name.is_empty() {
            let mut l = labels.clone();
            l.insert(ANONYMOUS_LABEL.into(), String::new());
            (crate::names::new_id()?, l)
        } else {
            (name.to_string(), labels.clone())
        };
        let driver = if driver.is_empty() {
            DEFAULT_DRIVER
        } else {
            driver
        };
        if let Some(v) = st.vols.get(&name) {
            if v.driver != driver {
                return Err(EngineError::Conflict(format!(
                    "create {name}: a volume with the name {name} already exists with driver {:?}",
                    v.driver
                )));
            }
            return Ok((v.clone(), false));
        }
        if driver != DEFAULT_DRIVER {
            return Err(EngineError::NotFound(format!(
                "create {name}: error looking up volume plugin {driver}: plugin {driver:?} not found"
            )));
        }
        validate_name(&name)?;
        validate_options(&name, options)?;
        labels.retain(|k, _| !k.is_empty());
        let rec = VolumeRecord {
            name: name.clone(),
            driver: driver.into(),
            labels,
            options: options.clone(),
            created: now_nanos(),
        };
        let dir = self.root.join(&name);
        let res = (|| {
            std::fs::DirBuilder::new()
                .mode(0o755)
                .create(&dir)
                .map_err(|e| EngineError::io("creating", &dir, e))?;
            let data = dir.join(DATA);
            std::fs::DirBuilder::new()
                .mode(0o755)
                .create(&data)
                .map_err(|e| EngineError::io("creating", &data, e))?;
            let json = serde_json::to_vec_pretty(&rec).expect("a volume record always serializes");
            crate::store::write_atomic(&dir.join(RECORD), &json)?;
            File::open(&self.root)
                .and_then(|d| d.sync_all())
                .map_err(|e| EngineError::io("syncing", &self.root, e))
        })();
        if let Err(e) = res {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        st.vols.insert(name, rec.clone());
        Ok((rec, true))
    }

    /// Finds (or creates) a volume and records that `container` uses it: from now on
    /// it cannot be removed until [`VolumeStore::release`].
    pub fn acquire(&self, want: &Want<'_>, container: &str) -> EngineResult<(VolumeRecord, bool)> {
        let mut st = self.lock();
        let (rec, created) = self.create_locked(
            &mut st,
            want.name.unwrap_or(""),
            want.driver,
            want.options,
            want.labels,
        )?;
        st.refs
            .entry(rec.name.clone())
            .or_default()
            .insert(container.to_string());
        Ok((rec, created))
    }

    /// Records a reference found in a container's record (when the engine opens).
    pub fn add_reference(&self, name: &str, container: &str) {
        self.lock()
            .refs
            .entry(name.to_string())
            .or_default()
            .insert(container.to_string());
    }

    /// Drops `container`'s reference on `name`.
    pub fn release(&self, name: &str, container: &str) {
        let mut st = self.lock();
        if let Some(r) = st.refs.get_mut(name) {
            r.remove(container);
            if r.is_empty() {
                st.refs.remove(name);
            }
        }
    }

    /// The containers referencing `name`.
    pub fn users(&self, name: &str) -> Vec<String> {
        self.lock()
            .refs
            .get(name)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn get(&self, name: &str) -> EngineResult<VolumeRecord> {
        self.lock()
            .vols
            .get(name)
            .cloned()
            .ok_or_else(|| no_such_volume(name))
    }

    /// Every volume with the number of containers referencing it.
    pub fn list(&self) -> Vec<(VolumeRecord, usize)> {
        let st = self.lock();
        st.vols
            .values()
            .map(|v| (v.clone(), st.refs.get(&v.name).map_or(0, |r| r.len())))
            .collect()
    }

    /// Removes a volume no container references. `force` only makes a missing volume
    /// not an error (as dockerd: it never removes a volume in use).
    pub fn remove(&self, name: &str, force: bool) -> EngineResult<bool> {
        let mut st = self.lock();
        if !st.vols.contains_key(name) {
            return if force {
                Ok(false)
            } else {
                Err(no_such_volume(name))
            };
        }
        if let Some(users) = st.refs.get(name).filter(|r| !r.is_empty()) {
            let ids: Vec<&str> = users.iter().map(String::as_str).collect();
            return Err(EngineError::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                ids.join(", ")
            )));
        }
        self.remove_locked(&mut st, name)?;
        Ok(true)
    }

    fn remove_locked(&self, st: &mut State, name: &str) -> EngineResult<()> {
        let dir = self.root.join(name);
        let data = dir.join(DATA);
        if crate::containers::is_mountpoint(&data) {
            berth_image::snapshot::unmount(&data).map_err(|e| {
                EngineError::internal(format!("remove {name}: unmounting {}", data.display()), e)
            })?;
        }
        // Out of the table's sight first, so a crash half-way leaves no half volume.
        let gone = self.root.join(format!("{REMOVING}{name}"));
        match std::fs::rename(&dir, &gone) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(EngineError::internal(
                    format!("remove {name}: renaming {}", dir.display()),
                    e,
                ))
            }
        }
        let _ = File::open(&self.root).and_then(|d| d.sync_all());
        st.vols.remove(name);
        st.active.remove(name);
        std::fs::remove_dir_all(&gone).map_err(|e| {
            EngineError::internal(format!("remove {name}: removing {}", gone.display()), e)
        })
    }

    /// `POST /volumes/prune`: removes the unused volumes the filters select (`label`,
    /// `label!`, and `all`: false keeps named volumes). Returns names and bytes freed.
    pub fn prune(&self, filters: &Filters) -> EngineResult<(Vec<String>, u64)> {
        filters
            .validate(&["label", "label!", "all"])
            .map_err(|e| EngineError::BadParameter(e.to_string()))?;
        let all = match filters.get("all") {
            [] => true,
            [v] => parse_bool(v)
                .ok_or_else(|| EngineError::BadParameter(format!("invalid filter 'all={v}'")))?,
            _ => {
                return Err(EngineError::BadParameter(
                    "invalid filter 'all': only one value is allowed".into(),
                ))
            }
        };
        let mut st = self.lock();
        let candidates: Vec<VolumeRecord> = st
            .vols
            .values()
            .filter(|v| st.refs.get(&v.name).is_none_or(|r| r.is_empty()))
            .filter(|v| all || v.is_anonymous())
            .filter(|v| filters.match_label(&v.labels))
            .filter(|v| {
                !filters
                    .get("label!")
                    .iter()
                    .any(|l| match l.split_once('=') {
                        Some((k, val)) => v.labels.get(k).is_some_and(|have| have == val),
                        None => v.labels.contains_key(l.as_str()),
                    })
            })
            .cloned()
            .collect();
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for v in candidates {
            let size = dir_size(&self.data_path(&v.name));
            if self.remove_locked(&mut st, &v.name).is_ok() {
                reclaimed += size;
                deleted.push(v.name);
            }
        }
        Ok((deleted, reclaimed))
    }

    /// Makes the volume ready for `container` to mount: mounts its filesystem on
    /// `_data` the first time (volumes with options). Returns the data path and
    /// whether this container had not mounted it yet.
    pub fn mount(&self, name: &str, container: &str) -> EngineResult<(PathBuf, bool)> {
        let mut st = self.lock();
        let rec = st
            .vols
            .get(name)
            .cloned()
            .ok_or_else(|| no_such_volume(name))?;
        let data = self.data_path(name);
        let users = st.active.entry(name.to_string()).or_default();
        if users.contains(container) {
            return Ok((data, false));
        }
        let wants_fs = rec.options.get("type").is_some_and(|t| !t.is_empty());
        if wants_fs && !crate::containers::is_mountpoint(&data) {
            mount_local(&rec, &data)?;
        }
        users.insert(container.to_string());
        Ok((data, true))
    }

    /// How many running containers have the volume mounted.
    pub fn mounted_by(&self, name: &str) -> usize {
        self.lock().active.get(name).map_or(0, |u| u.len())
    }

    /// Records that a running container (found again after a restart) has the volume
    /// mounted.
    pub fn mark_mounted(&self, name: &str, container: &str) {
        self.lock()
            .active
            .entry(name.to_string())
            .or_default()
            .insert(container.to_string());
    }

    /// `container` no longer has the volume mounted; the last one out unmounts the
    /// volume's filesystem. Tells whether the container had it mounted.
    pub fn unmount(&self, name: &str, container: &str) -> bool {
        let mut st = self.lock();
        let Some(users) = st.active.get_mut(name) else {
            return false;
        };
        if !users.remove(container) {
            return false;
        }
        if users.is_empty() {
            st.active.remove(name);
            self.unmount_fs(&st, name);
        }
        true
    }

    fn unmount_fs(&self, st: &State, name: &str) {
        let has_fs = st
            .vols
            .get(name)
            .is_some_and(|v| v.options.get("type").is_some_and(|t| !t.is_empty()));
        let data = self.data_path(name);
        if has_fs && crate::containers::is_mountpoint(&data) {
            // Left mounted on failure: the next mount of the volume reuses it.
            let _ = berth_image::snapshot::unmount(&data);
        }
    }

    /// Unmounts the filesystems of volumes no running container uses (after the
    /// engine found its containers again: those that stopped meanwhile left theirs).
    pub fn unmount_unused(&self) {
        let st = self.lock();
        for name in st.vols.keys() {
            if st.active.get(name).is_none_or(|u| u.is_empty()) {
                self.unmount_fs(&st, name);
            }
        }
    }

    /// The API model of `rec`; `usage` for `/system/df`.
    pub fn to_api(&self, rec: &VolumeRecord, usage: Option<(i64, i64)>) -> Volume {
        Volume {
            name: rec.name.clone(),
            driver: rec.driver.clone(),
            mountpoint: self.data_path(&rec.name).to_string_lossy().into_owned(),
            created_at: crate::timefmt::rfc3339_nanos(
                rec.created - rec.created.rem_euclid(1_000_000_000),
            ),
            status: None,
            labels: rec.labels.clone(),
            scope: "local".into(),
            options: rec.options.clone(),
            usage_data: usage.map(|(size, ref_count)| VolumeUsageData { size, ref_count }),
        }
    }

    /// Bytes used by the volume's files.
    pub fn size(&self, name: &str) -> u64 {
        dir_size(&self.data_path(name))
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

/// Mounts the filesystem the volume's options describe on `data`, as the local
/// driver does: `device` of `type` with `o` (flags such as `bind`, `ro`, and data
/// such as `size=64m,uid=1000`).
fn mount_local(rec: &VolumeRecord, data: &Path) -> EngineResult<()> {
    let typ = rec.options.get("type").map(String::as_str).unwrap_or("");
    let dev = rec.options.get("device").map(String::as_str).unwrap_or("");
    let o = rec.options.get("o").map(String::as_str).unwrap_or("");
    let opts: Vec<String> = o
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let parsed = berth_runtime::rootfs::parse_options(&opts);
    let err = |e: std::io::Error| {
        EngineError::internal(
            format!(
                "error while mounting volume '{}': failed to mount local volume: mount {dev}:{}, flags: {:#x}, data: {:?}",
                data.display(),
                data.display(),
                parsed.flags,
                parsed.data
            ),
            e,
        )
    };
    let c = |s: &[u8]| {
        CString::new(s).map_err(|_| EngineError::BadParameter("NUL in a volume option".into()))
    };
    let src = c(dev.as_bytes())?;
    let target = c(data.as_os_str().as_bytes())?;
    let fstype = c(typ.as_bytes())?;
    let fsdata = c(parsed.data.as_bytes())?;
    let bind = parsed.flags & libc::MS_BIND != 0;
    berth_sys::mount(
        Some(&src),
        &target,
        Some(&fstype),
        parsed.flags & !libc::MS_RDONLY,
        (!parsed.data.is_empty()).then_some(fsdata.as_c_str()),
    )
    .map_err(err)?;
    if parsed.flags & libc::MS_RDONLY != 0 {
        // A bind ignores MS_RDONLY on the first call; a filesystem takes it either way.
        let flags = libc::MS_REMOUNT | libc::MS_RDONLY | if bind { libc::MS_BIND } else { 0 };
        if let Err(e) = berth_sys::mount(None, &target, None, flags, None) {
            let _ = berth_image::snapshot::unmount(data);
            return Err(err(e));
        }
    }
    Ok(())
}

/// Total size of the regular files under `dir` (hard links counted once), without
/// following symlinks.
pub fn dir_size(dir: &Path) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                todo.push(e.path());
            } else if md.nlink() <= 1 || seen.insert((md.dev(), md.ino())) {
                total += md.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests;
