//! Network namespaces that outlive whoever made them: a fresh namespace is bound onto a
//! file (as `ip netns add` does, but under berth's exec root), so the engine can wire
//! a container's interfaces before its process exists and the runtime joins it by
//! path. Work inside a namespace runs on a short-lived thread that enters it, so the
//! daemon's own threads never change namespace.

use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use rustix::mount::UnmountFlags;
use rustix::thread::LinkNameSpaceType;

/// What went wrong with a namespace, naming its file.
#[derive(Debug, thiserror::Error)]
#[error("{action} network namespace {}: {source}", path.display())]
pub struct NetnsError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

fn err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> NetnsError + 'a {
    move |source| NetnsError {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Creates a new network namespace and binds it onto `path` (created; its directory
/// must exist), then runs `setup` inside it. A failed setup removes the namespace.
pub fn create<T: Send>(
    path: &Path,
    setup: impl FnOnce() -> io::Result<T> + Send,
) -> Result<T, NetnsError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            berth_sys::unshare(libc::CLONE_NEWNET).map_err(err("creating", path))?;
            std::fs::File::create(path).map_err(err("creating", path))?;
            if let Err(e) = rustix::mount::mount_bind("/proc/thread-self/ns/net", path) {
                let _ = std::fs::remove_file(path);
                return Err(err("binding", path)(e.into()));
            }
            match setup() {
                Ok(v) => Ok(v),
                Err(e) => {
                    let _ = remove(path);
                    Err(err("setting up", path)(e))
                }
            }
        })
        .join()
        .unwrap_or_else(|_| {
            Err(err("creating", path)(io::Error::other(
                "the namespace thread panicked",
            )))
        })
    })
}

/// Runs `f` on a thread inside the namespace bound at `path`.
pub fn enter<T: Send>(
    path: &Path,
    f: impl FnOnce() -> io::Result<T> + Send,
) -> Result<T, NetnsError> {
    let file = std::fs::File::open(path).map_err(err("opening", path))?;
    std::thread::scope(|s| {
        s.spawn(|| {
            rustix::thread::move_into_link_name_space(
                file.as_fd(),
                Some(LinkNameSpaceType::Network),
            )
            .map_err(|e| err("entering", path)(e.into()))?;
            f().map_err(err("working in", path))
        })
        .join()
        .unwrap_or_else(|_| {
            Err(err("entering", path)(io::Error::other(
                "the namespace thread panicked",
            )))
        })
    })
}

/// Unbinds and deletes the namespace file at `path`; the kernel frees the namespace
/// (and the interfaces in it) once no process is left in it. Absent is fine.
pub fn remove(path: &Path) -> Result<(), NetnsError> {
    match rustix::mount::unmount(path, UnmountFlags::DETACH) {
        Ok(()) => {}
        // Not a mount point (a crash between create and bind) or already gone.
        Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(err("unbinding", path)(e.into())),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err("removing", path)(e)),
    }
}

/// Sets a sysctl under /proc/sys/net for the calling thread's namespace (call it inside
/// [`create`] or [`enter`]), e.g. `ipv4/ip_unprivileged_port_start`.
pub fn set_sysctl(key: &str, value: &str) -> io::Result<()> {
    let p = Path::new("/proc/sys/net").join(key);
    std::fs::write(&p, value)
        .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", p.display())))
}
