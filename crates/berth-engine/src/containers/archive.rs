//! The archive endpoints (`docker cp`): stat a path in a container, read it as a tar,
//! extract a tar into it.
//!
//! A running container is reached through its own root (`/proc/PID/root`), so the
//! copy sees what the container sees: its volumes, binds and tmpfs mounts included.
//! A stopped one gets its snapshot mounted for the time of the copy (as `export`
//! does). All path handling is in [`berth_image::copy`]: resolution inside the root,
//! never following a link out of it, race-free against the container.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_api_types::container::{go_mode, ContainerPathStat};
use berth_image::archive::tree::TreeOptions;
use berth_image::copy::{self, CopyError, PathStat};
use rustix::fs::{Mode, OFlags};

use super::{Container, Inner};
use crate::api::{EngineError, EngineResult, ExtractOptions};
use crate::store::ContainerRecord;

/// What the runtime mounts over every container: archived as empty directories.
const RUNTIME_MOUNTS: &[&str] = &["/proc", "/sys", "/dev"];

/// A container's root directory for the time of one copy.
struct Root {
    /// `/proc/self/fd/N` of `fd`.
    path: PathBuf,
    fd: OwnedFd,
    /// The snapshot was mounted for this copy (the container is stopped).
    mounted_here: bool,
}

impl Inner {
    /// Runs `f` on the container's root: a running container's own view, else its
    /// snapshot mounted for the time it takes.
    fn with_root<T>(
        self: &Arc<Self>,
        c: &Arc<Container>,
        f: impl FnOnce(&Root, &ContainerRecord) -> EngineResult<T>,
    ) -> EngineResult<T> {
        let rec = c.record();
        if rec.state.status.is_running() && rec.state.pid > 0 {
            if let Some(root) = self.live_root(&rec)? {
                return f(&root, &rec);
            }
        }
        // Stopped (or it stopped just now): the snapshot, with start held off.
        let _op = c.op_lock();
        let rec = c.record();
        let rootfs = self.rootfs(&c.id);
        let mounted_here = !super::is_mountpoint(&rootfs);
        if mounted_here {
            std::fs::create_dir_all(&rootfs).map_err(|e| {
                EngineError::Internal(format!("creating {}: {e}", rootfs.display()))
            })?;
            let mounts = self
                .snapshotter
                .mounts(&rec.snapshot_key)
                .map_err(|e| EngineError::Internal(format!("snapshot of {}: {e}", c.id)))?;
            berth_image::snapshot::mount_all(&mounts, &rootfs).map_err(|e| {
                EngineError::Internal(format!("mounting the filesystem of {}: {e}", c.id))
            })?;
        }
        let res = open_root(&rootfs, mounted_here).and_then(|root| f(&root, &rec));
        if mounted_here && !c.lock().rec.state.status.is_running() {
            self.unmount_rootfs(&c.id);
        }
        res
    }

    /// `/proc/PID/root` of a running container, checked to still be that container's
    /// after it was opened (a pid is reused only once its process is gone).
    fn live_root(&self, rec: &ContainerRecord) -> EngineResult<Option<Root>> {
        let Some(pid) = rustix::process::Pid::from_raw(rec.state.pid as i32) else {
            return Ok(None);
        };
        let Ok(pidfd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        else {
            return Ok(None); // gone already
        };
        let root = open_root(
            Path::new(&format!("/proc/{}/root", pid.as_raw_nonzero())),
            false,
        );
        // A pidfd polls readable once its process has exited.
        let mut fds = [rustix::event::PollFd::new(
            &pidfd,
            rustix::event::PollFlags::IN,
        )];
        let exited = rustix::event::poll(&mut fds, Some(&rustix::time::Timespec::default()))
            .map_or(true, |n| n > 0);
        if exited {
            return Ok(None);
        }
        root.map(Some)
    }

    /// `HEAD /containers/{id}/archive`.
    pub fn stat_path(self: &Arc<Self>, r: &str, path: &str) -> EngineResult<ContainerPathStat> {
        let path = check_path(path)?;
        let c = self.get(r)?;
        self.with_root(&c, |root, _| {
            copy::stat_path(root.fd.as_fd(), path)
                .map(api_stat)
                .map_err(|e| copy_error(e, r, false))
        })
    }

    /// `GET /containers/{id}/archive`: `started` gets the stat before the tar goes out.
    pub fn archive(
        self: &Arc<Self>,
        r: &str,
        path: &str,
        started: &mut dyn FnMut(&ContainerPathStat) -> std::io::Result<()>,
        out: &mut dyn Write,
    ) -> EngineResult<()> {
        let path = check_path(path)?;
        let c = self.get(r)?;
        self.with_root(&c, |root, _| {
            let opts = TreeOptions {
                skip_mounted: RUNTIME_MOUNTS.iter().map(PathBuf::from).collect(),
                xattrs: false,
            };
            copy::archive_path(
                root.fd.as_fd(),
                path,
                opts,
                &mut |st| started(&api_stat(st.clone())),
                out,
            )
            .map(|_| ())
            .map_err(|e| copy_error(e, r, false))
        })
    }

    /// `PUT /containers/{id}/archive`: extracts `body` into the directory `path`.
    pub fn extract(
        self: &Arc<Self>,
        r: &str,
        path: &str,
        opts: ExtractOptions,
        body: &mut dyn Read,
    ) -> EngineResult<()> {
        let path = check_path(path)?;
        let c = self.get(r)?;
        self.with_root(&c, |root, rec| {
            if root.mounted_here && rec.host_config.readonly_rootfs {
                return Err(EngineError::Forbidden(
                    "container rootfs is marked read-only".into(),
                ));
            }
            let o = copy::ExtractOptions {
                no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
                copy_uid_gid: opts.copy_uid_gid,
            };
            copy::extract_into(&root.path, path, body, o).map_err(|e| copy_error(e, r, true))
        })
    }
}

fn open_root(path: &Path, mounted_here: bool) -> EngineResult<Root> {
    let fd = rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        EngineError::Internal(format!(
            "opening the container's root {}: {}",
            path.display(),
            std::io::Error::from(e)
        ))
    })?;
    Ok(Root {
        path: PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
        fd,
        mounted_here,
    })
}

fn check_path(path: &str) -> EngineResult<&str> {
    if path.is_empty() {
        return Err(EngineError::BadParameter(
            "bad parameter: path cannot be empty".into(),
        ));
    }
    Ok(path)
}

fn api_stat(st: PathStat) -> ContainerPathStat {
    ContainerPathStat {
        name: st.name,
        size: st.size,
        mode: go_mode::from_unix(st.mode),
        mtime: match st.mtime_sec.saturating_mul(1_000_000_000) + i64::from(st.mtime_nsec) {
            // rfc3339_nanos reads 0 as "unset"; here it is the epoch.
            0 => "1970-01-01T00:00:00Z".to_string(),
            n => crate::timefmt::rfc3339_nanos(n),
        },
        link_target: st.link_target,
    }
}

/// Docker's statuses and messages for copy failures.
fn copy_error(e: CopyError, container: &str, extracting: bool) -> EngineError {
    match e {
        CopyError::NotFound { path } => EngineError::NotFound(format!(
            "Could not find the file {path} in container {container}"
        )),
        CopyError::NotADirectory { .. } if extracting => {
            EngineError::BadParameter("extraction point is not a directory".into())
        }
        CopyError::NotADirectory { path } => {
            EngineError::BadParameter(format!("{path}: not a directory"))
        }
        CopyError::ReadOnly { on_root: true, .. } => {
            EngineError::Forbidden("container rootfs is marked read-only".into())
        }
        CopyError::ReadOnly { on_root: false, .. } => {
            EngineError::Forbidden("mounted volume is marked read-only".into())
        }
        e @ CopyError::PseudoFs { .. } => EngineError::Forbidden(e.to_string()),
        CopyError::Extract(e) => {
            use berth_image::layer::apply::ApplyError as A;
            match e {
                A::Breakout { .. }
                | A::Overwrite { .. }
                | A::Tar { .. }
                | A::UnsupportedCompression(_)
                | A::Read(_) => {
                    EngineError::BadParameter(format!("Error processing tar file: {e}"))
                }
                e => EngineError::Internal(format!("Error processing tar file: {e}")),
            }
        }
        e => EngineError::Internal(e.to_string()),
    }
}
