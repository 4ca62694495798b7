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
        let (rootfs, mounted_here) = self.mount_rootfs_here(c, &rec)?;
        let res = open_root(&rootfs).and_then(|root| {
            if mounted_here {
                mount_for_copy(&root, &rec)?;
            }
            f(&root, &rec)
        });
        self.release_rootfs(c, mounted_here);
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
        let root = open_root(Path::new(&format!("/proc/{}/root", pid.as_raw_nonzero())));
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
        self.with_root(&c, |root, _| {
            let o = copy::ExtractOptions {
                no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
                copy_uid_gid: opts.copy_uid_gid,
            };
            copy::extract_into(&root.path, path, body, o).map_err(|e| copy_error(e, r, true))
        })
    }
}

/// Puts a stopped container's binds and volumes on its root (mounted for the copy),
/// so a copy reaches them as it would in the running container. tmpfs mounts hold
/// nothing while it is stopped and are left out. Destinations are made inside the
/// root as the runtime makes them, and mounted through descriptors, never through a
/// path the container could have turned into a link.
fn mount_for_copy(root: &Root, rec: &ContainerRecord) -> EngineResult<()> {
    use crate::volumes::mounts::{BIND, VOLUME};
    use rustix::mount::MountFlags;
    let mut planned: Vec<_> = rec
        .mounts
        .iter()
        .filter(|m| (m.kind == BIND || m.kind == VOLUME) && !m.source.is_empty())
        .filter(|m| Path::new(&m.source).is_dir() || Path::new(&m.source).is_file())
        .collect();
    // Parents before children.
    planned.sort_by_key(|m| Path::new(&m.destination).components().count());
    for m in planned {
        let fail = |what: &str, e: std::io::Error| {
            EngineError::internal(
                format!(
                    "{what} {} of container {} for the copy",
                    m.destination, rec.id
                ),
                e,
            )
        };
        let dest = Path::new(m.destination.trim_start_matches('/'));
        let target = if Path::new(&m.source).is_dir() {
            berth_runtime::rootfs::mkdir_all_in_root(root.fd.as_fd(), dest)
                .map_err(|e| fail("creating", std::io::Error::other(e.to_string())))?
        } else {
            // A file bind: the file must be there already (the runtime made it).
            match berth_sys::open_in_root(root.fd.as_fd(), dest, OFlags::PATH) {
                Ok(fd) => fd,
                Err(_) => continue,
            }
        };
        let at = format!("/proc/self/fd/{}", target.as_raw_fd());
        let flags = if m.non_recursive {
            MountFlags::BIND
        } else {
            MountFlags::BIND | MountFlags::REC
        };
        rustix::mount::mount(m.source.as_str(), at.as_str(), "", flags, None)
            .map_err(|e| fail("mounting", e.into()))?;
        if !m.rw {
            // The remount needs the new mount's own root: look the path up again.
            let mounted = berth_sys::open_in_root(root.fd.as_fd(), dest, OFlags::PATH)
                .map_err(|e| fail("reopening", e.into()))?;
            let at = format!("/proc/self/fd/{}", mounted.as_raw_fd());
            rustix::mount::mount_remount(at.as_str(), MountFlags::BIND | MountFlags::RDONLY, "")
                .map_err(|e| fail("making read-only", e.into()))?;
        }
    }
    if rec.host_config.readonly_rootfs {
        // As it would be running: the root refuses writes, its volumes need not.
        rustix::mount::mount_remount(
            root.path.as_path(),
            MountFlags::BIND | MountFlags::RDONLY,
            "",
        )
        .map_err(|e| {
            EngineError::internal(
                format!("making the root of {} read-only for the copy", rec.id),
                std::io::Error::from(e),
            )
        })?;
    }
    Ok(())
}

fn open_root(path: &Path) -> EngineResult<Root> {
    let fd = rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        EngineError::io(
            "opening the container's root",
            path,
            std::io::Error::from(e),
        )
    })?;
    Ok(Root {
        path: PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
        fd,
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
                e => EngineError::internal("Error processing tar file", e),
            }
        }
        e => {
            let action = if extracting {
                format!("copying into container {container}")
            } else {
                format!("copying from container {container}")
            };
            EngineError::internal(action, e)
        }
    }
}
