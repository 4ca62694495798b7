//! The accept loop and the per-connection loop. One thread polls every listener and a
//! stop pipe; each accepted connection gets a thread of its own that reads requests
//! (keep-alive) and hands them to the router. Nothing here can panic on input, so a
//! bad request costs at most its own connection.

use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::thread::JoinHandle;

use berth_engine::Engine;
use rustix::event::{PollFd, PollFlags};

use crate::error::ApiError;
use crate::http::{self, Conn, HeadError, Socket};
use crate::listen::Listener;
use crate::routes::{self, Outcome};

/// The API server: listeners in front of an engine.
pub struct Server {
    engine: Arc<dyn Engine>,
    listeners: Vec<Listener>,
}

impl Server {
    pub fn new(engine: Arc<dyn Engine>, listeners: Vec<Listener>) -> Server {
        Server { engine, listeners }
    }

    pub fn listeners(&self) -> &[Listener] {
        &self.listeners
    }

    /// Serves until `stop` becomes readable (a byte written to its peer, or the peer
    /// closed). Connections already being served go on in their own threads.
    pub fn run(&self, stop: &UnixStream) -> io::Result<()> {
        for l in &self.listeners {
            l.set_nonblocking()?;
        }
        loop {
            let mut fds = Vec::with_capacity(self.listeners.len() + 1);
            fds.push(PollFd::new(stop, PollFlags::IN));
            for l in &self.listeners {
                fds.push(PollFd::from_borrowed_fd(l.fd(), PollFlags::IN));
            }
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
            drop(fds);
            if ready.first().copied().unwrap_or(false) {
                return Ok(());
            }
            for (l, ready) in self.listeners.iter().zip(ready.iter().skip(1)) {
                if *ready {
                    self.accept_all(l);
                }
            }
        }
    }

    fn accept_all(&self, l: &Listener) {
        loop {
            match l.accept() {
                Ok(sock) => {
                    let engine = Arc::clone(&self.engine);
                    let spawned = std::thread::Builder::new()
                        .name("berth-conn".into())
                        .spawn(move || serve_connection(engine, sock));
                    if let Err(e) = spawned {
                        crate::error!(
                            "cannot start a thread for a connection on {}: {e}",
                            l.addr()
                        );
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: log and let poll try again.
                    crate::error!("accept on {} failed: {e}", l.addr());
                    return;
                }
            }
        }
    }

    /// Serves on a thread of its own until the handle is stopped or dropped.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let (stop_tx, stop_rx) = UnixStream::pair()?;
        let thread = std::thread::Builder::new()
            .name("berth-accept".into())
            .spawn(move || {
                if let Err(e) = self.run(&stop_rx) {
                    crate::error!("API server stopped: {e}");
                }
                self
            })?;
        Ok(ServerHandle {
            stop: stop_tx,
            thread: Some(thread),
        })
    }
}

/// A server running on its own thread (for embedding and tests). Stopping it closes
/// the listeners (removing unix socket files); connections being served finish on
/// their own.
pub struct ServerHandle {
    stop: UnixStream,
    thread: Option<JoinHandle<Server>>,
}

impl ServerHandle {
    /// Stops accepting and returns the server (drop it to close its listeners).
    pub fn stop(mut self) -> Option<Server> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Option<Server> {
        let _ = self.stop.write_all(b"x");
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// Reads requests off one connection until it closes or a response ends it.
fn serve_connection(engine: Arc<dyn Engine>, sock: Socket) {
    let mut conn = Conn::new(sock);
    loop {
        let req = match conn.read_head() {
            Ok(Some(req)) => req,
            Ok(None) => return,
            Err(HeadError::Malformed(msg)) => {
                crate::debug!("bad request: {msg}");
                let _ = http::send_error(&mut conn.sock, &ApiError::bad(msg), false);
                return;
            }
            Err(HeadError::Io(e)) => {
                crate::debug!("connection ended: {e}");
                return;
            }
        };
        if conn.has_body()
            && req.expects_continue()
            && conn
                .sock
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .is_err()
        {
            return;
        }
        let keep_alive = req.keep_alive();
        match routes::dispatch(&*engine, &mut conn, &req) {
            Outcome::KeepAlive => {}
            Outcome::Close => return,
        }
        if !keep_alive || !conn.skip_body() {
            let _ = conn.sock.flush();
            return;
        }
    }
}
