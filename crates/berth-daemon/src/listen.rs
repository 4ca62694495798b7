//! The daemon's sockets and pid file: binding `unix://` and `tcp://` hosts (a stale
//! socket file is replaced only when nothing answers on it), and the pid file that
//! keeps two daemons off one exec root. Both clean up after themselves when dropped.

use std::fs;
use std::io::{self, Write};
use std::net::TcpListener;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use crate::config::Host;
use crate::error::DaemonError;
use crate::http::Socket;

/// A bound API socket. Dropping a unix listener removes its socket file.
#[derive(Debug)]
pub struct Listener {
    kind: Kind,
    addr: String,
}

#[derive(Debug)]
enum Kind {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener),
}

impl Listener {
    /// Binds `host`. A unix socket gets its parent directory created, mode 0660 and,
    /// when the group exists, group `berth` (so its members can use the API).
    pub fn bind(host: &Host) -> Result<Listener, DaemonError> {
        let addr = host.to_string();
        let listen_err = |source: io::Error| DaemonError::Listen {
            addr: addr.clone(),
            source,
        };
        match host {
            Host::Unix(path) => {
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(|e| DaemonError::Listen {
                        addr: addr.clone(),
                        source: io::Error::new(
                            e.kind(),
                            format!("cannot create {}: {e}", parent.display()),
                        ),
                    })?;
                }
                remove_stale_socket(path, &addr)?;
                let listener = UnixListener::bind(path).map_err(listen_err)?;
                // From here on the file is ours: remove it if the rest fails.
                let l = Listener {
                    kind: Kind::Unix(listener, path.clone()),
                    addr: addr.clone(),
                };
                fs::set_permissions(path, fs::Permissions::from_mode(0o660)).map_err(listen_err)?;
                if let Some(gid) = group_id("berth") {
                    if let Err(e) =
                        rustix::fs::chown(path, None, Some(rustix::fs::Gid::from_raw(gid)))
                    {
                        crate::warn!("cannot give {} to group berth: {e}", path.display());
                    }
                }
                Ok(l)
            }
            Host::Tcp(a) => {
                let listener = TcpListener::bind(a.as_str()).map_err(listen_err)?;
                crate::warn!(
                    "API listening on {addr} without TLS or authentication: anyone who can reach it controls this host"
                );
                Ok(Listener {
                    kind: Kind::Tcp(listener),
                    addr,
                })
            }
        }
    }

    /// `unix:///run/berth/berth.sock`, `tcp://127.0.0.1:2375`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The bound TCP address (useful with port 0).
    pub fn local_tcp_addr(&self) -> Option<std::net::SocketAddr> {
        match &self.kind {
            Kind::Tcp(l) => l.local_addr().ok(),
            Kind::Unix(..) => None,
        }
    }

    pub(crate) fn set_nonblocking(&self) -> io::Result<()> {
        match &self.kind {
            Kind::Unix(l, _) => l.set_nonblocking(true),
            Kind::Tcp(l) => l.set_nonblocking(true),
        }
    }

    /// Accepts one connection (the listener is non-blocking: WouldBlock when none).
    pub(crate) fn accept(&self) -> io::Result<Socket> {
        match &self.kind {
            Kind::Unix(l, _) => {
                let (s, _) = l.accept()?;
                s.set_nonblocking(false)?;
                Ok(Socket::Unix(s))
            }
            Kind::Tcp(l) => {
                let (s, _) = l.accept()?;
                s.set_nonblocking(false)?;
                let _ = s.set_nodelay(true);
                Ok(Socket::Tcp(s))
            }
        }
    }

    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        match &self.kind {
            Kind::Unix(l, _) => l.as_fd(),
            Kind::Tcp(l) => l.as_fd(),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Kind::Unix(_, path) = &self.kind {
            let _ = fs::remove_file(path);
        }
    }
}

/// Removes a socket file left by a daemon that died, refusing when one still answers.
fn remove_stale_socket(path: &Path, addr: &str) -> Result<(), DaemonError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(DaemonError::Listen {
                addr: addr.to_string(),
                source,
            })
        }
    };
    if !meta.file_type().is_socket() {
        return Err(DaemonError::Listen {
            addr: addr.to_string(),
            source: io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ),
        });
    }
    if UnixStream::connect(path).is_ok() {
        return Err(DaemonError::SocketInUse(path.to_path_buf()));
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(DaemonError::Listen {
            addr: addr.to_string(),
            source,
        }),
    }
}

/// The gid of `name` in /etc/group, if it has one.
fn group_id(name: &str) -> Option<u32> {
    let text = fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        fields.nth(1)?.parse().ok()
    })
}

/// The daemon's pid file; removed when dropped.
#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
}

impl Pidfile {
    /// Writes our pid to `path` atomically, unless it names another live process.
    pub fn create(path: &Path) -> Result<Pidfile, DaemonError> {
        let own = std::process::id() as i32;
        if let Ok(text) = fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse::<i32>() {
                if pid != own && process_alive(pid) {
                    return Err(DaemonError::PidfileInUse {
                        path: path.to_path_buf(),
                        pid,
                    });
                }
            }
        }
        let err = |source: io::Error| DaemonError::Pidfile {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(err)?;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp{own}"));
        let tmp = PathBuf::from(tmp);
        let write = || -> io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(format!("{own}\n").as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(err(e));
        }
        Ok(Pidfile {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn process_alive(pid: i32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(pid) else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        // It exists but belongs to someone else.
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfile_refuses_a_live_process_and_replaces_a_dead_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/berth.pid");
        // pid 1 is always alive.
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, "1\n").expect("write");
        let e = Pidfile::create(&path).unwrap_err().to_string();
        assert!(e.contains("names running process 1"), "{e}");
        assert!(e.contains(&path.display().to_string()), "{e}");
        // A pid that cannot exist.
        fs::write(&path, "2147483646\n").expect("write");
        let p = Pidfile::create(&path).expect("stale pid file is replaced");
        assert_eq!(
            fs::read_to_string(&path).expect("read").trim(),
            std::process::id().to_string()
        );
        drop(p);
        assert!(!path.exists());
    }

    #[test]
    fn live_socket_is_not_stolen_and_stale_one_is_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run/api.sock");
        let host = Host::Unix(path.clone());
        let first = Listener::bind(&host).expect("bind");
        let mode = fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        let e = Listener::bind(&host).unwrap_err();
        assert!(matches!(e, DaemonError::SocketInUse(_)), "{e}");
        assert!(e.to_string().contains("another daemon is listening on"));
        // Leave a stale file behind: bind a listener and forget it without unlinking.
        drop(first);
        let stale = UnixListener::bind(&path).expect("bind stale");
        drop(stale);
        assert!(path.exists());
        let again = Listener::bind(&host).expect("stale socket replaced");
        drop(again);
        assert!(!path.exists());
    }
}
