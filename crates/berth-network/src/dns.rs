//! The embedded DNS server of user-defined networks, Docker's 127.0.0.11: containers
//! resolve each other's names and aliases there, and every other name through the
//! host's resolvers.
//!
//! One [`DnsServer`] serves every container. Each container has a *listener*: a UDP
//! and a TCP socket bound to [`RESOLVER`] inside the container's network namespace
//! (made by a short-lived thread that enters it; a socket stays in the namespace it was
//! made in). One serving thread waits on all of them with epoll and answers local
//! names itself; a query for any other name goes to a worker thread (at most
//! [`MAX_WORKERS`] at a time) that asks the upstreams, as does each TCP connection.
//! Forwarded queries leave from the network namespace of the thread that called
//! [`DnsServer::start`] — the daemon's — so upstreams on the host's loopback are
//! reachable.
//!
//! A listener's sockets hold its network namespace alive: the daemon removes the
//! listener when the container's network goes away.
//!
//! The name tables (`dns/table.rs`), the answer to one query (`dns/answer.rs`) and
//! the asking of upstreams (`dns/forward.rs`) are modules of their own, testable
//! without sockets; messages are parsed and written with hickory-proto.

mod answer;
mod forward;
mod table;

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rustix::event::{epoll, eventfd, EventfdFlags};
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use answer::Handling;
use table::{Kind, Local, Names};

pub use answer::TTL;
pub use forward::{ATTEMPT_TIMEOUT, DEADLINE};
pub use table::{LinkAlias, Record};

/// Where containers find the resolver, in their own network namespace.
pub const RESOLVER: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 11), 53));

/// How many forwarded queries and TCP connections are served at once; beyond that a
/// UDP query gets SERVFAIL and a TCP connection is closed.
pub const MAX_WORKERS: usize = 64;

/// How long a TCP client may stay silent before its connection is closed.
const TCP_IDLE: Duration = Duration::from_secs(5);

/// The most queries one TCP connection may ask.
const TCP_MAX_QUERIES: usize = 64;

/// The most datagrams or connections taken from one socket per wake-up, so that a
/// busy container does not starve the others.
const BATCH: usize = 32;

/// How long `remove_listener` waits for the serving thread to close the sockets.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The epoll token of the wake-up eventfd; listeners' tokens are `instance << 1 | tcp`.
const WAKE: u64 = u64::MAX;

/// What went wrong, naming the container, namespace or upstream at fault.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("starting the DNS server: {0}")]
    Start(#[source] io::Error),
    #[error("network namespace {path} of container {key}: {source}")]
    Netns {
        key: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("binding the DNS resolver to {addr} in network namespace {path} of container {key}: {source}")]
    Bind {
        key: String,
        path: PathBuf,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("the DNS server has stopped (container {key})")]
    Stopped { key: String },
    #[error("forwarding a DNS query of container {key} to {upstream}: {source}")]
    Upstream {
        key: String,
        upstream: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("serving DNS for container {key}: {source}")]
    Serve {
        key: String,
        #[source]
        source: io::Error,
    },
    #[error("waiting for DNS queries: {0}")]
    Wait(#[source] io::Error),
}

/// The resolver of every container on user-defined networks. Its methods take `&self`
/// and it is `Sync`: share it behind an `Arc`.
pub struct DnsServer {
    shared: Arc<Shared>,
    to_server: mpsc::Sender<ToServer>,
    /// Serialises adding and removing listeners, so that a key's old sockets are
    /// closed before its new ones are bound.
    admin: Mutex<()>,
    next_instance: AtomicU64,
    thread: Option<JoinHandle<()>>,
}

type ErrorHook = Box<dyn Fn(&DnsError) + Send + Sync>;

/// What the serving thread and the workers share.
struct Shared {
    state: Mutex<State>,
    /// An eventfd that wakes the serving thread when something is sent to it.
    wake: OwnedFd,
    upstreams: Vec<SocketAddr>,
    on_error: ErrorHook,
    workers: AtomicUsize,
    /// Turns the order of multi-address answers, round robin.
    turn: AtomicUsize,
    stop: AtomicBool,
}

#[derive(Default)]
struct State {
    names: Names,
    listeners: HashMap<String, View>,
}

/// What one container sees.
struct View {
    networks: Vec<String>,
    /// Its links on those networks, answered before any other name.
    links: Vec<LinkAlias>,
    /// The container's own upstreams (`--dns`), instead of the server's.
    upstreams: Option<Vec<SocketAddr>>,
}

/// Sent to the serving thread, which alone owns the listeners' sockets.
enum ToServer {
    Add {
        key: String,
        instance: u64,
        udp: UdpSocket,
        tcp: TcpListener,
    },
    Remove {
        key: String,
        done: mpsc::SyncSender<()>,
    },
    /// A forwarded answer to send back from listener `instance`.
    Reply {
        instance: u64,
        to: SocketAddr,
        bytes: Vec<u8>,
    },
}

impl DnsServer {
    /// Starts the serving thread. `upstreams` answer every name that is not local
    /// (typically [`nameservers`] of the host's resolv.conf); with none, such names get
    /// SERVFAIL. Forwarding failures are reported to `on_error` (for the daemon's
    /// debug log), from any thread.
    pub fn start(
        upstreams: Vec<SocketAddr>,
        on_error: impl Fn(&DnsError) + Send + Sync + 'static,
    ) -> Result<DnsServer, DnsError> {
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(|e| DnsError::Start(e.into()))?;
        let epoll =
            epoll::create(epoll::CreateFlags::CLOEXEC).map_err(|e| DnsError::Start(e.into()))?;
        epoll::add(
            &epoll,
            &wake,
            epoll::EventData::new_u64(WAKE),
            epoll::EventFlags::IN,
        )
        .map_err(|e| DnsError::Start(e.into()))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake,
            upstreams,
            on_error: Box::new(on_error),
            workers: AtomicUsize::new(0),
            turn: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let (to_server, inbox) = mpsc::channel();
        let thread = {
            let shared = Arc::clone(&shared);
            let outbox = to_server.clone();
            std::thread::Builder::new()
                .name("berth-dns".into())
                .spawn(move || serve(&shared, &epoll, &inbox, &outbox))
                .map_err(DnsError::Start)?
        };
        Ok(DnsServer {
            shared,
            to_server,
            admin: Mutex::new(()),
            next_instance: AtomicU64::new(0),
            thread: Some(thread),
        })
    }

    /// Serves container `key` in the network namespace at `netns` (a
    /// /proc/PID/ns/net or a bind mount of one), seeing the networks `view`. A
    /// listener already there for `key` is replaced.
    pub fn add_listener(&self, key: &str, netns: &Path, view: Vec<String>) -> Result<(), DnsError> {
        let _admin = lock(&self.admin);
        self.remove(key);
        let (udp, tcp) = bind_in(key, netns)?;
        for s in [udp.set_nonblocking(true), tcp.set_nonblocking(true)] {
            s.map_err(|source| DnsError::Bind {
                key: key.to_owned(),
                path: netns.to_owned(),
                addr: RESOLVER,
                source,
            })?;
        }
        lock(&self.shared.state).listeners.insert(
            key.to_owned(),
            View {
                networks: dedup(view),
                links: Vec::new(),
                upstreams: None,
            },
        );
        let instance = self.next_instance.fetch_add(1, Ordering::Relaxed);
        let add = ToServer::Add {
            key: key.to_owned(),
            instance,
            udp,
            tcp,
        };
        if self.to_server.send(add).is_err() {
            lock(&self.shared.state).listeners.remove(key);
            return Err(DnsError::Stopped {
                key: key.to_owned(),
            });
        }
        self.shared.wake();
        Ok(())
    }

    /// Stops serving container `key`: when this returns its sockets are closed.
    pub fn remove_listener(&self, key: &str) {
        let _admin = lock(&self.admin);
        self.remove(key);
    }

    fn remove(&self, key: &str) {
        if lock(&self.shared.state).listeners.remove(key).is_none() {
            return;
        }
        let (done, closed) = mpsc::sync_channel(1);
        let remove = ToServer::Remove {
            key: key.to_owned(),
            done,
        };
        if self.to_server.send(remove).is_ok() {
            self.shared.wake();
            // An error means the serving thread is gone, and the sockets with it.
            let _ = closed.recv_timeout(REMOVE_TIMEOUT);
        }
    }

    /// Changes the networks container `key` sees (connect, disconnect). Unknown keys
    /// are ignored.
    pub fn set_view(&self, key: &str, view: Vec<String>) {
        if let Some(v) = lock(&self.shared.state).listeners.get_mut(key) {
            v.networks = dedup(view);
        }
    }

    /// Gives container `key` its links' aliases (replacing the ones it had). Unknown
    /// keys are ignored.
    pub fn set_links(&self, key: &str, links: Vec<LinkAlias>) {
        if let Some(v) = lock(&self.shared.state).listeners.get_mut(key) {
            v.links = links;
        }
    }

    /// Gives container `key` upstreams of its own (`--dns`) instead of the server's;
    /// `Some(vec![])` forwards nothing (SERVFAIL, for containers without a way out),
    /// `None` returns to the server's. Unknown keys are ignored.
    pub fn set_upstreams(&self, key: &str, upstreams: Option<Vec<SocketAddr>>) {
        if let Some(v) = lock(&self.shared.state).listeners.get_mut(key) {
            v.upstreams = upstreams;
        }
    }

    /// Replaces the whole name table of `network_id`.
    pub fn set_records(&self, network_id: &str, records: Vec<Record>) {
        lock(&self.shared.state).names.set(network_id, records);
    }

    /// Forgets the name table of `network_id`.
    pub fn remove_network(&self, network_id: &str) {
        lock(&self.shared.state).names.remove(network_id);
    }

    /// Stops the serving thread and closes every listener's sockets. Workers still
    /// asking upstreams end on their own, within their timeouts.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Shared {
    fn wake(&self) {
        // Fails only if the counter would overflow, and then the thread is awake.
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }

    /// The table's answer for listener `key`, multi-address answers turned round.
    fn lookup(&self, key: &str, name: &str, kind: Kind) -> Local {
        let state = lock(&self.state);
        let Some(view) = state.listeners.get(key) else {
            return Local::Unknown;
        };
        let mut local = state
            .names
            .lookup_linked(&view.networks, &view.links, name, kind);
        if let Local::Addrs(addrs) = &mut local {
            let n = addrs.len();
            if n > 1 {
                addrs.rotate_left(self.turn.fetch_add(1, Ordering::Relaxed) % n);
            }
        }
        local
    }

    fn upstreams(&self, key: &str) -> Vec<SocketAddr> {
        let state = lock(&self.state);
        match state.listeners.get(key).and_then(|v| v.upstreams.as_ref()) {
            Some(own) => own.clone(),
            None => self.upstreams.clone(),
        }
    }

    /// Runs `job` on a new worker thread; false (and `job` dropped) when
    /// [`MAX_WORKERS`] are busy or no thread can be made.
    fn spawn_worker(self: &Arc<Self>, job: impl FnOnce() + Send + 'static) -> bool {
        let taken = self
            .workers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_WORKERS).then_some(n + 1)
            });
        if taken.is_err() {
            return false;
        }
        let shared = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("berth-dns-worker".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                // A panic ends this query only (where panics unwind).
                let _ = panic::catch_unwind(AssertUnwindSafe(job));
                shared.workers.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            self.workers.fetch_sub(1, Ordering::AcqRel);
        }
        spawned.is_ok()
    }
}

/// The nameservers of a resolv.conf, on port 53; lines that do not parse are
/// skipped. Give it [`crate::etc::resolv_conf`]'s file to have the host's resolvers
/// with loopback ones replaced by systemd-resolved's upstreams.
pub fn nameservers(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        .filter_map(|a| a.parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing a panicking holder leaves behind is inconsistent: every update is one
    // insert or remove.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|n| seen.insert(n.clone()));
    v
}

/// Binds the listener's sockets in the network namespace at `netns`, from a thread
/// that enters it and ends; the caller's thread stays where it is.
fn bind_in(key: &str, netns: &Path) -> Result<(UdpSocket, TcpListener), DnsError> {
    let netns_err = |source: io::Error| DnsError::Netns {
        key: key.to_owned(),
        path: netns.to_owned(),
        source,
    };
    let bind_err = |source: io::Error| DnsError::Bind {
        key: key.to_owned(),
        path: netns.to_owned(),
        addr: RESOLVER,
        source,
    };
    let ns = File::open(netns).map_err(netns_err)?;
    std::thread::scope(|s| {
        let entered = std::thread::Builder::new()
            .name("berth-dns-bind".into())
            .spawn_scoped(s, || {
                move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network))
                    .map_err(|e| netns_err(e.into()))?;
                let udp = UdpSocket::bind(RESOLVER).map_err(bind_err)?;
                let tcp = TcpListener::bind(RESOLVER).map_err(bind_err)?;
                Ok((udp, tcp))
            })
            .map_err(netns_err)?;
        entered.join().unwrap_or_else(|_| {
            Err(netns_err(io::Error::other(
                "the thread entering it panicked",
            )))
        })
    })
}

/// A listener, as the serving thread holds it.
struct Served {
    key: String,
    instance: u64,
    udp: UdpSocket,
    tcp: TcpListener,
}

/// The serving thread: waits on every listener and the wake-up eventfd.
fn serve(
    shared: &Arc<Shared>,
    epoll: &OwnedFd,
    inbox: &mpsc::Receiver<ToServer>,
    outbox: &mpsc::Sender<ToServer>,
) {
    let mut served: HashMap<u64, Served> = HashMap::new();
    let mut by_key: HashMap<String, u64> = HashMap::new();
    let mut events: Vec<epoll::Event> = Vec::with_capacity(64);
    // One buffer for every datagram: the largest a UDP message can be.
    let mut buf = vec![0u8; usize::from(u16::MAX)];
    while !shared.stop.load(Ordering::SeqCst) {
        events.clear();
        match epoll::wait(epoll, rustix::buffer::spare_capacity(&mut events), None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                (shared.on_error)(&DnsError::Wait(e.into()));
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        }
        for ev in &events {
            let token = ev.data.u64();
            if token == WAKE {
                let mut counter = [0u8; 8];
                let _ = rustix::io::read(&shared.wake, &mut counter);
                for msg in inbox.try_iter() {
                    apply(msg, epoll, &mut served, &mut by_key, shared);
                }
                continue;
            }
            let Some(listener) = served.get(&(token >> 1)) else {
                // Removed earlier in this batch.
                continue;
            };
            // Where panics unwind, one bad packet costs one answer, not the server.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                if token & 1 == 0 {
                    serve_udp(shared, listener, &mut buf, outbox);
                } else {
                    serve_tcp(shared, listener);
                }
            }));
        }
    }
}

fn apply(
    msg: ToServer,
    epoll: &OwnedFd,
    served: &mut HashMap<u64, Served>,
    by_key: &mut HashMap<String, u64>,
    shared: &Shared,
) {
    match msg {
        ToServer::Add {
            key,
            instance,
            udp,
            tcp,
        } => {
            let registered = epoll::add(
                epoll,
                &udp,
                epoll::EventData::new_u64(instance << 1),
                epoll::EventFlags::IN,
            )
            .and_then(|()| {
                epoll::add(
                    epoll,
                    &tcp,
                    epoll::EventData::new_u64(instance << 1 | 1),
                    epoll::EventFlags::IN,
                )
            });
            if let Err(e) = registered {
                (shared.on_error)(&DnsError::Serve {
                    key,
                    source: e.into(),
                });
                return;
            }
            if let Some(old) = by_key.insert(key.clone(), instance) {
                served.remove(&old);
            }
            served.insert(
                instance,
                Served {
                    key,
                    instance,
                    udp,
                    tcp,
                },
            );
        }
        ToServer::Remove { key, done } => {
            if let Some(instance) = by_key.remove(&key) {
                // Closing the sockets takes them out of the epoll set.
                served.remove(&instance);
            }
            let _ = done.try_send(());
        }
        ToServer::Reply {
            instance,
            to,
            bytes,
        } => {
            if let Some(l) = served.get(&instance) {
                // A full socket buffer drops the answer; the client asks again.
                let _ = l.udp.send_to(&bytes, to);
            }
        }
    }
}

fn serve_udp(
    shared: &Arc<Shared>,
    listener: &Served,
    buf: &mut [u8],
    outbox: &mpsc::Sender<ToServer>,
) {
    for _ in 0..BATCH {
        let (n, from) = match listener.udp.recv_from(buf) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            // An ICMP error queued on the socket, or a signal: try the next datagram.
            Err(_) => continue,
        };
        let query = buf.get(..n).unwrap_or_default();
        let key = &listener.key;
        match answer::handle(query, false, |name, kind| shared.lookup(key, name, kind)) {
            Handling::Answer(bytes) => {
                let _ = listener.udp.send_to(&bytes, from);
            }
            Handling::Drop => {}
            Handling::Forward { max_udp, servfail } => {
                let upstreams = shared.upstreams(key);
                if upstreams.is_empty() {
                    let _ = listener.udp.send_to(&servfail, from);
                    continue;
                }
                let query = query.to_vec();
                let (worker_shared, outbox) = (Arc::clone(shared), outbox.clone());
                let (key, instance) = (key.clone(), listener.instance);
                let fallback = servfail.clone();
                let job = move || {
                    let failed = |upstream, source| {
                        (worker_shared.on_error)(&DnsError::Upstream {
                            key: key.clone(),
                            upstream,
                            source,
                        })
                    };
                    let bytes = forward::forward(&query, &upstreams, false, max_udp, failed)
                        .unwrap_or(servfail);
                    let reply = ToServer::Reply {
                        instance,
                        to: from,
                        bytes,
                    };
                    if outbox.send(reply).is_ok() {
                        worker_shared.wake();
                    }
                };
                if !shared.spawn_worker(job) {
                    // Too busy: SERVFAIL at once rather than a queue.
                    let _ = listener.udp.send_to(&fallback, from);
                }
            }
        }
    }
}

fn serve_tcp(shared: &Arc<Shared>, listener: &Served) {
    for _ in 0..BATCH {
        let stream = match listener.tcp.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            // The connection went before it was taken.
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
            // Out of file descriptors, most likely: the connections wait in the
            // backlog, and a pause keeps the level-triggered wait from spinning.
            Err(e) => {
                (shared.on_error)(&DnsError::Serve {
                    key: listener.key.clone(),
                    source: e,
                });
                std::thread::sleep(Duration::from_millis(10));
                return;
            }
        };
        let worker_shared = Arc::clone(shared);
        let key = listener.key.clone();
        // Beyond MAX_WORKERS the connection is closed; the client tries again.
        shared.spawn_worker(move || serve_connection(&worker_shared, &key, stream));
    }
}

/// Answers the queries of one TCP connection, in order, until the client closes it,
/// stays silent for [`TCP_IDLE`] or has asked [`TCP_MAX_QUERIES`].
fn serve_connection(shared: &Shared, key: &str, mut stream: TcpStream) {
    let setup = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(TCP_IDLE)))
        .and_then(|()| stream.set_write_timeout(Some(TCP_IDLE)));
    if setup.is_err() {
        return;
    }
    for _ in 0..TCP_MAX_QUERIES {
        let Ok(Some(query)) = forward::read_frame_or_end(&mut stream) else {
            return;
        };
        let bytes = match answer::handle(&query, true, |name, kind| shared.lookup(key, name, kind))
        {
            Handling::Answer(bytes) => bytes,
            Handling::Drop => return,
            Handling::Forward { max_udp, servfail } => {
                let failed = |upstream, source| {
                    (shared.on_error)(&DnsError::Upstream {
                        key: key.to_owned(),
                        upstream,
                        source,
                    })
                };
                forward::forward(&query, &shared.upstreams(key), true, max_udp, failed)
                    .unwrap_or(servfail)
            }
        };
        if forward::write_frame(&mut stream, &bytes).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_is_shared_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<DnsServer>();
    }

    #[test]
    fn nameservers_of_a_resolv_conf() {
        let conf = "# generated\nnameserver 10.0.0.1\nnameserver  2001:db8::53 \nnameserver fe80::1%eth0\nnameserver\nsearch lan\noptions ndots:2\n";
        assert_eq!(
            nameservers(conf),
            vec![
                "10.0.0.1:53".parse::<SocketAddr>().unwrap(),
                "[2001:db8::53]:53".parse().unwrap(),
            ]
        );
        // With etc's rewrite for a namespace of its own, loopback stubs give way.
        let conf = crate::etc::resolv_conf(
            "nameserver 127.0.0.53\n",
            Some("nameserver 192.0.2.53\n"),
            crate::etc::Dns::default(),
            true,
        );
        assert_eq!(nameservers(&conf), vec!["192.0.2.53:53".parse().unwrap()]);
    }

    #[test]
    fn views_are_deduplicated_in_order() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(dedup(v(&["b", "a", "b", "c", "a"])), v(&["b", "a", "c"]));
    }
}
