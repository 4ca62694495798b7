//! The accept loop and the per-connection loop. One thread polls the listener and a
//! stop pipe; each connection gets a thread of its own that reads requests
//! (keep-alive), hands them to the [`Registry`], writes the replies, and reports one
//! access-log line per request.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use berth_http::{Conn, HeadError};
use rustix::event::{PollFd, PollFlags};

use super::error::{Code, RegistryError, ServeError};
use super::http::{self, Body, Reply, Stream};
use super::registry::Registry;
use super::{tls, Options};

/// An idle connection (or a stalled body) is dropped after this long.
const IO_TIMEOUT: Duration = Duration::from_secs(300);

/// Where access-log lines go.
pub type AccessLog = Arc<dyn Fn(&str) + Send + Sync>;

/// A registry server: a listener in front of a [`Registry`].
pub struct Server {
    registry: Arc<Registry>,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    log: Option<AccessLog>,
}

impl Server {
    /// Opens the registry and binds its address.
    pub fn bind(options: &Options) -> Result<Server, ServeError> {
        let tls = match (&options.tls_cert, &options.tls_key) {
            (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
            (None, None) => None,
            _ => {
                return Err(ServeError::Tls(
                    "--tls-cert and --tls-key go together".into(),
                ))
            }
        };
        let registry = Arc::new(Registry::open(options)?);
        let listener = TcpListener::bind(&options.addr).map_err(|source| ServeError::Listen {
            addr: options.addr.clone(),
            source,
        })?;
        Ok(Server {
            registry,
            listener,
            tls,
            log: None,
        })
    }

    /// Sends one line per request to `log`.
    pub fn with_access_log(mut self, log: AccessLog) -> Server {
        self.log = Some(log);
        self
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until `stop` becomes readable (a byte written to its peer, or the peer
    /// closed). Connections already accepted go on in their own threads.
    pub fn run(&self, stop: &UnixStream) -> io::Result<()> {
        self.listener.set_nonblocking(true)?;
        loop {
            let mut fds = [
                PollFd::new(stop, PollFlags::IN),
                PollFd::new(&self.listener, PollFlags::IN),
            ];
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            if !fds[0].revents().is_empty() {
                return Ok(());
            }
            self.accept_all();
        }
    }

    fn accept_all(&self) {
        loop {
            match self.listener.accept() {
                Ok((sock, peer)) => {
                    let registry = Arc::clone(&self.registry);
                    let tls = self.tls.clone();
                    let log = self.log.clone();
                    let spawned = std::thread::Builder::new()
                        .name("registry-conn".into())
                        .spawn(move || {
                            if let Some(stream) = open_stream(sock, tls) {
                                serve_connection(&registry, stream, peer, log.as_ref());
                            }
                        });
                    if let (Err(e), Some(log)) = (spawned, &self.log) {
                        log(&format!(
                            "cannot start a thread for a connection from {peer}: {e}"
                        ));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: say so and let poll try again.
                    if let Some(log) = &self.log {
                        log(&format!("accept failed: {e}"));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                    return;
                }
            }
        }
    }

    /// Serves on a thread of its own until the handle is stopped or dropped.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let addr = self.local_addr()?;
        let (stop_tx, stop_rx) = UnixStream::pair()?;
        let thread = std::thread::Builder::new()
            .name("registry-accept".into())
            .spawn(move || {
                let _ = self.run(&stop_rx);
            })?;
        Ok(ServerHandle {
            addr,
            stop: stop_tx,
            thread: Some(thread),
        })
    }
}

/// A server running on its own thread. Stopping it (or dropping it) closes the
/// listener; connections being served finish on their own.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: UnixStream,
    thread: Option<JoinHandle<()>>,
}

impl ServerHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        let _ = self.stop.write_all(b"x");
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

fn open_stream(sock: TcpStream, tls: Option<Arc<rustls::ServerConfig>>) -> Option<Stream> {
    sock.set_nonblocking(false).ok()?;
    let _ = sock.set_nodelay(true);
    let _ = sock.set_read_timeout(Some(IO_TIMEOUT));
    let _ = sock.set_write_timeout(Some(IO_TIMEOUT));
    Some(match tls {
        None => Stream::Plain(sock),
        // The handshake happens on the first read, on this connection's thread.
        Some(config) => Stream::Tls(Box::new(rustls::StreamOwned::new(
            rustls::ServerConnection::new(config).ok()?,
            sock,
        ))),
    })
}

/// Reads requests off one connection until it closes or cannot be reused.
fn serve_connection(
    registry: &Registry,
    stream: Stream,
    peer: SocketAddr,
    log: Option<&AccessLog>,
) {
    let mut conn = Conn::new(stream);
    loop {
        let req = match conn.read_head() {
            Ok(Some(req)) => req,
            Ok(None) | Err(HeadError::Io(_)) => return,
            Err(HeadError::Malformed(msg)) => {
                let e = RegistryError::new(Code::Unsupported, msg).with_status(400);
                let _ = http::send(&mut conn.sock, Reply::from(e), false);
                return;
            }
        };
        let started = Instant::now();
        let (handled, left_unsent) = {
            let mut body = Body::new(&mut conn, &req);
            let handled = registry.handle(&req, &mut body);
            let left_unsent = body.left_unsent();
            (handled, left_unsent)
        };
        let status = handled.reply.status;
        let sent = http::send(&mut conn.sock, handled.reply, req.method == "HEAD");
        if let Some(log) = log {
            log(&access_line(
                peer,
                handled.user.as_deref(),
                &req,
                status,
                sent.as_ref().ok().copied(),
                started.elapsed(),
            ));
        }
        if sent.is_err() || !req.keep_alive() || left_unsent || !conn.skip_body() {
            return;
        }
    }
}

/// One access-log line, as registry:2 and web servers write them:
/// `127.0.0.1 - alice [2026-12-06T02:30:00.123Z] "GET /v2/ HTTP/1.1" 200 2 0.412ms`.
fn access_line(
    peer: SocketAddr,
    user: Option<&str>,
    req: &berth_http::Request,
    status: u16,
    sent: Option<u64>,
    took: Duration,
) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    format!(
        "{} - {} [{}] \"{} {} HTTP/1.{}\" {} {} {:.3}ms",
        peer.ip(),
        user.unwrap_or("-"),
        berth_types::time::format_rfc3339(now, berth_types::time::Precision::Millis),
        req.method,
        req.path,
        if req.http10 { 0 } else { 1 },
        status,
        sent.map_or_else(|| "-".to_string(), |n| n.to_string()),
        took.as_secs_f64() * 1000.0
    )
}

/// `berth registry serve`: serves until SIGTERM or SIGINT. `on_ready` is told the
/// address bound (port 0 picks one), then `log` gets one line per request.
pub fn serve(
    options: &Options,
    log: AccessLog,
    on_ready: impl FnOnce(SocketAddr, bool),
) -> Result<(), ServeError> {
    let (stop_rx, stop_tx) = UnixStream::pair().map_err(ServeError::Signals)?;
    stop_tx.set_nonblocking(true).map_err(ServeError::Signals)?;
    let mut ids = Vec::new();
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let w = stop_tx.try_clone().map_err(ServeError::Signals)?;
        ids.push(signal_hook::low_level::pipe::register(sig, w).map_err(ServeError::Signals)?);
    }
    let server = Server::bind(options)?.with_access_log(log);
    let addr = server.local_addr().map_err(|source| ServeError::Listen {
        addr: options.addr.clone(),
        source,
    })?;
    on_ready(addr, server.is_tls());
    let result = server.run(&stop_rx).map_err(|source| ServeError::Listen {
        addr: addr.to_string(),
        source,
    });
    for id in ids {
        signal_hook::low_level::unregister(id);
    }
    result
}
