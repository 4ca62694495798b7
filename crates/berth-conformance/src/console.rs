//! The receiving end of `--console-socket`: a unix socket the runtime connects
//! to and sends the container's pty master over (SCM_RIGHTS); a thread then
//! reads the master until the container side closes.

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use std::fs::File;
use std::io::{IoSliceMut, Read};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct ConsoleSocket {
    path: PathBuf,
    reader: Option<JoinHandle<Result<Vec<u8>, String>>>,
}

impl ConsoleSocket {
    /// Listens at `path`; output is collected for at most `timeout`.
    pub fn listen(path: &Path, timeout: Duration) -> ConsoleSocket {
        let listener = UnixListener::bind(path)
            .unwrap_or_else(|e| panic!("binding console socket {}: {e}", path.display()));
        listener
            .set_nonblocking(true)
            .expect("setting the console socket non-blocking");
        let reader = std::thread::spawn(move || receive(listener, timeout));
        ConsoleSocket {
            path: path.to_path_buf(),
            reader: Some(reader),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for the reader: everything read from the pty master, or what went wrong.
    pub fn output(mut self) -> Result<String, String> {
        let handle = self.reader.take().expect("output is called once");
        let bytes = handle
            .join()
            .map_err(|_| "console reader thread panicked".to_string())??;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

fn receive(listener: UnixListener, timeout: Duration) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + timeout;
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(format!(
                        "nobody connected to the console socket within {timeout:?}"
                    ));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("accept on the console socket: {e}")),
        }
    };
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;

    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut name = [0u8; 256];
    let msg = rustix::net::recvmsg(
        &stream,
        &mut [IoSliceMut::new(&mut name)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(|e| format!("recvmsg on the console socket: {e}"))?;
    let mut master: Option<OwnedFd> = None;
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = m {
            master = fds.next();
        }
    }
    let master = master.ok_or_else(|| {
        format!(
            "the runtime sent {} bytes ({:?}) but no file descriptor over the console socket",
            msg.bytes,
            String::from_utf8_lossy(&name[..msg.bytes.min(name.len())])
        )
    })?;
    rustix::fs::fcntl_setfl(&master, rustix::fs::OFlags::NONBLOCK)
        .map_err(|e| format!("making the pty master non-blocking: {e}"))?;
    let mut master = File::from(master);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            // EIO: every slave end is closed, the container has exited.
            Err(_) => break,
        }
    }
    Ok(out)
}
