//! Containers: the table of every container this engine knows, each with its record
//! and run state, and one file per operation on them. A container is run by its own
//! `berth-runc shim`; a monitor thread per started container waits for the shim to
//! report the exit and applies the restart policy.
//!
//! Locking: the table lock is held only to find or insert a container. Each container
//! has an operation lock (start, stop, remove, … one at a time; held while talking to
//! the shim) and a state lock (the record; never held while blocking), with a condvar
//! woken on every exit and on removal.

mod archive;
mod attach;
mod commit;
mod create;
mod list;
mod logs;
mod remove;
mod start;
mod stop;
mod unsupported;
mod update;
mod volumes;
mod wait;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

use berth_image::snapshot::Snapshotter;

use crate::api::{EngineError, EngineResult};
use crate::engine::EngineConfig;
use crate::events::Events;
use crate::images::ImageService;
use crate::store::{self, ContainerRecord};

pub(crate) use create::{hosts_file, request_of};
pub(crate) use start::{empty_image_config, resolve_in_root, restore};
pub(crate) use volumes::mount_points;

/// What changes under a container's state lock.
pub(crate) struct Live {
    pub rec: ContainerRecord,
    /// Bumped on every exit: waiters for the next exit compare it.
    pub exits: u64,
    /// Bumped on every start.
    pub starts: u64,
    pub removed: bool,
    /// A shim runs for this container (launched by attach or start).
    pub shim_up: bool,
    /// Exec instances of this container.
    pub exec_ids: Vec<String>,
    /// The restart policy's current back-off.
    pub backoff: std::time::Duration,
    /// Attaches waiting for the next run (made while it was not running).
    pub pending_attach: Vec<attach::PendingAttach>,
}

/// One container.
pub(crate) struct Container {
    pub id: String,
    /// Serializes operations that talk to the shim or change the run state.
    pub op: Mutex<()>,
    state: Mutex<Live>,
    pub cond: Condvar,
}

impl Container {
    pub fn new(rec: ContainerRecord) -> Container {
        Container {
            id: rec.id.clone(),
            op: Mutex::new(()),
            state: Mutex::new(Live {
                rec,
                exits: 0,
                starts: 0,
                removed: false,
                shim_up: false,
                exec_ids: Vec::new(),
                backoff: std::time::Duration::ZERO,
                pending_attach: Vec::new(),
            }),
            cond: Condvar::new(),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Live> {
        self.state.lock().expect("container state lock poisoned")
    }

    pub fn op_lock(&self) -> MutexGuard<'_, ()> {
        self.op.lock().expect("container operation lock poisoned")
    }

    /// A copy of the record.
    pub fn record(&self) -> ContainerRecord {
        self.lock().rec.clone()
    }

    /// Waits on the condvar with the state lock.
    pub fn wait_timeout<'a>(
        &self,
        g: MutexGuard<'a, Live>,
        d: std::time::Duration,
    ) -> MutexGuard<'a, Live> {
        self.cond
            .wait_timeout(g, d)
            .expect("container state lock poisoned")
            .0
    }
}

#[derive(Default)]
pub(crate) struct Table {
    pub by_id: HashMap<String, Arc<Container>>,
    /// name (without slash) → id; reserved before the container is in `by_id`.
    pub names: HashMap<String, String>,
}

/// The engine's shared state, held by the engine and by its background threads.
pub(crate) struct Inner {
    pub config: EngineConfig,
    pub images: ImageService,
    pub volumes: crate::volumes::VolumeStore,
    pub networks: crate::networks::Networks,
    /// The embedded DNS server of user-defined networks (None: it could not start).
    pub dns: Option<berth_network::dns::DnsServer>,
    pub snapshotter: Arc<dyn Snapshotter>,
    pub events: Events,
    pub table: RwLock<Table>,
    pub execs: Mutex<HashMap<String, Arc<crate::exec::Exec>>>,
    /// Set when the engine value is dropped or shut down: background threads leave the
    /// containers alone from then on (another engine may own them).
    pub closed: AtomicBool,
    /// The runtime's directory as a read-only detached overlay, from which shims are
    /// spawned already sealed against CVE-2019-5736 (None: the shim seals itself).
    pub sealed_runtime: Option<(berth_runtime::sealed::SealedDir, PathBuf)>,
}

/// Seals the directory of the runtime binary, when it is named by a path.
fn seal_runtime(
    runtime: &Path,
    exec_root: &Path,
) -> Option<(berth_runtime::sealed::SealedDir, PathBuf)> {
    if runtime.parent().is_none_or(|p| p.as_os_str().is_empty()) {
        return None;
    }
    let exe = std::fs::canonicalize(runtime).ok()?;
    let sealed = berth_runtime::sealed::SealedDir::new(exe.parent()?, exec_root).ok()?;
    let name = PathBuf::from(exe.file_name()?);
    // Only if the runtime opens through it (a lower directory it cannot read, say).
    sealed.open(&name).ok()?;
    Some((sealed, name))
}

impl Inner {
    pub fn new(
        config: EngineConfig,
        images: ImageService,
        volumes: crate::volumes::VolumeStore,
        networks: crate::networks::Networks,
    ) -> Inner {
        let snapshotter = images.snapshotter();
        let sealed_runtime = seal_runtime(&config.runtime, &config.exec_root);
        Inner {
            sealed_runtime,
            config,
            images,
            volumes,
            networks,
            dns: crate::networks::dns::start_server().ok(),
            snapshotter,
            events: Events::new(),
            table: RwLock::new(Table::default()),
            execs: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub fn containers_dir(&self) -> PathBuf {
        self.config.data_root.join("containers")
    }

    /// `DATA_ROOT/containers/<id>`: the record, logs, hosts files.
    pub fn data_dir(&self, id: &str) -> PathBuf {
        self.containers_dir().join(id)
    }

    /// `EXEC_ROOT/containers/<id>`: the shim's state directory.
    pub fn exec_dir(&self, id: &str) -> PathBuf {
        self.config.exec_root.join("containers").join(id)
    }

    pub fn bundle(&self, id: &str) -> PathBuf {
        self.exec_dir(id).join("bundle")
    }

    pub fn rootfs(&self, id: &str) -> PathBuf {
        self.bundle(id).join("rootfs")
    }

    pub fn runtime_root(&self) -> PathBuf {
        self.config.exec_root.join("runc")
    }

    pub fn shim(&self, id: &str) -> crate::shim::Shim {
        crate::shim::Shim::new(self.exec_dir(id))
    }

    /// Persists `rec`.
    pub fn save(&self, rec: &ContainerRecord) -> EngineResult<()> {
        store::save(&self.data_dir(&rec.id), rec)
    }

    /// Finds a container by full id, name (with or without `/`) or unique id prefix.
    pub fn get(&self, r: &str) -> EngineResult<Arc<Container>> {
        let t = self.table.read().expect("container table lock poisoned");
        if let Some(c) = t.by_id.get(r) {
            return Ok(c.clone());
        }
        let name = r.strip_prefix('/').unwrap_or(r);
        if let Some(c) = t.names.get(name).and_then(|id| t.by_id.get(id)) {
            return Ok(c.clone());
        }
        if !r.is_empty() {
            let mut found = t.by_id.iter().filter(|(id, _)| id.starts_with(r));
            if let Some((_, c)) = found.next() {
                if found.next().is_some() {
                    return Err(EngineError::NotFound(format!(
                        "multiple IDs found with provided prefix: {r}"
                    )));
                }
                return Ok(c.clone());
            }
        }
        Err(no_such_container(r))
    }

    /// Every container, newest first.
    pub fn all(&self) -> Vec<Arc<Container>> {
        let t = self.table.read().expect("container table lock poisoned");
        let mut v: Vec<(i64, Arc<Container>)> = t
            .by_id
            .values()
            .map(|c| (c.lock().rec.created, c.clone()))
            .collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.0));
        v.into_iter().map(|(_, c)| c).collect()
    }

    /// Emits a container event with Docker's attributes (name, image, labels).
    pub fn emit(&self, rec: &ContainerRecord, action: &str, extra: &[(&str, String)]) {
        let mut attrs: BTreeMap<String, String> = rec.config.labels.clone();
        attrs.insert("name".into(), rec.name.clone());
        attrs.insert("image".into(), rec.image_name.clone());
        for (k, v) in extra {
            attrs.insert((*k).to_string(), v.clone());
        }
        self.events.emit("container", action, &rec.id, attrs);
    }

    /// Mounts a container's snapshot at its rootfs path for reading or copying, unless
    /// it is mounted already (running); returns the path and whether this call mounted
    /// it. The caller holds the container's operation lock, so it cannot start
    /// meanwhile, and hands the answer back to [`Inner::release_rootfs`].
    pub(crate) fn mount_rootfs_here(
        &self,
        c: &Container,
        rec: &ContainerRecord,
    ) -> EngineResult<(PathBuf, bool)> {
        let rootfs = self.rootfs(&c.id);
        if is_mountpoint(&rootfs) {
            return Ok((rootfs, false));
        }
        std::fs::create_dir_all(&rootfs).map_err(|e| EngineError::io("creating", &rootfs, e))?;
        let mounts = self
            .snapshotter
            .mounts(&rec.snapshot_key)
            .map_err(|e| EngineError::internal(format!("snapshot of {}", c.id), e))?;
        berth_image::snapshot::mount_all(&mounts, &rootfs).map_err(|e| {
            EngineError::internal(format!("mounting the filesystem of {}", c.id), e)
        })?;
        Ok((rootfs, true))
    }

    /// Undoes [`Inner::mount_rootfs_here`]: lazily, so whatever was mounted below the
    /// root for the time goes with it.
    pub(crate) fn release_rootfs(&self, c: &Container, mounted_here: bool) {
        if mounted_here && !c.lock().rec.state.status.is_running() {
            let _ = rustix::mount::unmount(self.rootfs(&c.id), rustix::mount::UnmountFlags::DETACH);
            self.unmount_rootfs(&c.id);
        }
    }

    /// Unmounts the container's root filesystem if it is mounted.
    pub fn unmount_rootfs(&self, id: &str) {
        let rootfs = self.rootfs(id);
        while is_mountpoint(&rootfs) {
            if berth_image::snapshot::unmount(&rootfs).is_err() {
                break;
            }
        }
    }
}

/// `No such container: X` (404).
pub(crate) fn no_such_container(r: &str) -> EngineError {
    EngineError::NotFound(format!("No such container: {r}"))
}

/// Whether `p` is a mount point: one statx where the kernel tells (Linux 5.8 and
/// later), else from /proc/self/mountinfo, whose size grows with every running
/// container.
pub(crate) fn is_mountpoint(p: &Path) -> bool {
    use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};
    match statx(CWD, p, AtFlags::SYMLINK_NOFOLLOW, StatxFlags::empty()) {
        Err(_) => false,
        Ok(st) if st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) => {
            st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT)
        }
        Ok(_) => is_mountpoint_by_mountinfo(p),
    }
}

fn is_mountpoint_by_mountinfo(p: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    info.lines()
        .filter_map(berth_sys::mountinfo::MountInfo::parse)
        .any(|m| m.mount_point.as_os_str() == p.as_os_str())
}

/// A signal by name (`KILL`, `SIGKILL`, `sigkill`, `RTMIN+1`) or number.
pub(crate) fn parse_signal(s: &str) -> EngineResult<i32> {
    berth_sys::signal_number(s)
        .ok_or_else(|| EngineError::BadParameter(format!("Invalid signal: {s}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("1").unwrap(), 1);
        assert_eq!(parse_signal("RTMIN+2").unwrap(), 36);
        assert!(parse_signal("BOGUS").is_err());
        assert!(parse_signal("0").is_err());
    }

    #[test]
    fn mount_points_found_both_ways() {
        for p in ["/", "/proc"] {
            assert!(is_mountpoint(Path::new(p)), "{p}");
            assert!(is_mountpoint_by_mountinfo(Path::new(p)), "{p}");
        }
        let t = tempfile::tempdir().expect("tempdir");
        for p in [t.path().to_path_buf(), t.path().join("missing")] {
            assert!(!is_mountpoint(&p), "{}", p.display());
            assert!(!is_mountpoint_by_mountinfo(&p), "{}", p.display());
        }
    }
}
