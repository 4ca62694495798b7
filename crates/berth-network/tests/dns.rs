//! berth-network's embedded DNS server, run entirely inside fresh network namespaces:
//! each test's thread unshares its own, the "daemon's", where the server and a fake
//! upstream resolver run, and makes one more per container, held by an open
//! descriptor (nothing to unmount; each vanishes with its last descriptor and socket).
//! Clients ask from threads that enter a container's namespace, as a container's
//! resolver library would, with hickory-proto messages over std sockets.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use berth_network::dns::{DnsError, DnsServer, Record, RESOLVER};
use berth_network::link::Netlink;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, RecordType};
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

/// Runs `f` in a new thread moved to a new network namespace with `lo` up.
fn in_new_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        berth_sys::unshare(libc::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        Netlink::open()
            .expect("netlink")
            .set_up("lo")
            .expect("lo up");
        f()
    })
    .join()
    .expect("test thread panicked")
}

/// A container's network namespace, alive while this holds its descriptor.
struct Netns(OwnedFd);

impl Netns {
    /// A fresh namespace with `lo` up, where 127.0.0.11 lives.
    fn new() -> Netns {
        std::thread::spawn(|| {
            berth_sys::unshare(libc::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
            Netlink::open()
                .expect("netlink")
                .set_up("lo")
                .expect("lo up");
            let ns = File::open("/proc/thread-self/ns/net").expect("open own netns");
            Netns(OwnedFd::from(ns))
        })
        .join()
        .expect("namespace thread panicked")
    }

    /// A path that opens this namespace, as the daemon's /proc/PID/ns/net would.
    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.0.as_raw_fd()))
    }

    /// Runs `f` on a thread inside the namespace.
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                move_into_link_name_space(self.0.as_fd(), Some(LinkNameSpaceType::Network))
                    .expect("setns");
                f()
            })
            .join()
            .expect("thread in the namespace panicked")
        })
    }
}

fn query(name: &str, rtype: RecordType, id: u16) -> Message {
    let mut q = Message::new(id, MessageType::Query, OpCode::Query);
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    q
}

const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Asks 127.0.0.11 over UDP, from wherever the calling thread is.
fn ask_udp_raw(bytes: &[u8]) -> io::Result<Vec<u8>> {
    ask_udp_raw_timeout(bytes, CLIENT_TIMEOUT)
}

fn ask_udp_raw_timeout(bytes: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let s = UdpSocket::bind("0.0.0.0:0")?;
    s.set_read_timeout(Some(timeout))?;
    s.connect(RESOLVER)?;
    s.send(bytes)?;
    let mut buf = vec![0u8; 65535];
    let n = s.recv(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

fn ask_udp(q: &Message) -> io::Result<Message> {
    let answer = ask_udp_raw(&q.to_vec().unwrap())?;
    let answer = Message::from_vec(&answer).map_err(io::Error::other)?;
    assert_eq!(answer.id, q.id, "answer to another query");
    assert_eq!(answer.message_type, MessageType::Response);
    Ok(answer)
}

fn write_frame(s: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(msg);
    s.write_all(&framed)
}

fn read_frame(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len)?;
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut msg)?;
    Ok(msg)
}

fn tcp_client() -> TcpStream {
    let s = TcpStream::connect_timeout(&RESOLVER, CLIENT_TIMEOUT).expect("connect over TCP");
    s.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    s
}

fn ask_tcp(s: &mut TcpStream, q: &Message) -> Message {
    write_frame(s, &q.to_vec().unwrap()).expect("send over TCP");
    let answer = Message::from_vec(&read_frame(s).expect("answer over TCP")).unwrap();
    assert_eq!(answer.id, q.id);
    answer
}

/// The A/AAAA/PTR data of an answer.
fn data(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .map(|r| match &r.data {
            RData::A(A(a)) => a.to_string(),
            RData::AAAA(AAAA(a)) => a.to_string(),
            RData::PTR(PTR(n)) => n.to_ascii(),
            other => format!("{other:?}"),
        })
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn rec(names: &[&str], v4: &str, v6: Option<&str>) -> Record {
    Record {
        names: names.iter().map(|n| n.to_string()).collect(),
        v4: Some(v4.parse().unwrap()),
        v6: v6.map(|a| a.parse().unwrap()),
    }
}

fn view(v: &[&str]) -> Vec<String> {
    v.iter().map(|n| n.to_string()).collect()
}

/// What the fake upstream answers: `*.example.` is 192.0.2.1 (and `big.example.`
/// is forty addresses, truncated over UDP); every other name is NXDOMAIN.
struct Upstream {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<(String, bool)>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

const BIG: usize = 40;

fn upstream_answer(query: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let q = Message::from_vec(query).ok()?;
    let question = q.queries.first()?.clone();
    let name = question.name().to_ascii();
    let mut r = Message::response(q.id, OpCode::Query);
    r.metadata.recursion_available = true;
    r.add_query(question.clone());
    if q.edns.is_some() {
        r.set_edns(Edns::new().set_max_payload(4096).clone());
    }
    let a = |ip: Ipv4Addr| {
        hickory_proto::rr::Record::from_rdata(question.name().clone(), 60, RData::A(A(ip)))
    };
    if name == "big.example." {
        if tcp {
            for i in 0..BIG {
                r.add_answer(a(Ipv4Addr::new(198, 51, 100, i as u8)));
            }
        } else {
            r.metadata.truncation = true;
        }
    } else if name.ends_with(".example.") && question.query_type() == RecordType::A {
        r.add_answer(a(Ipv4Addr::new(192, 0, 2, 1)));
    } else if !name.ends_with(".example.") {
        r.metadata.response_code = ResponseCode::NXDomain;
    }
    r.to_vec().ok()
}

impl Upstream {
    /// Starts on 127.0.0.1 of the calling thread's namespace, UDP and TCP.
    fn start() -> Upstream {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = TcpListener::bind(addr).unwrap();
        udp.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        tcp.set_nonblocking(true).unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, s) = (asked.clone(), stop.clone());
        let udp_thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65535];
            while !s.load(Ordering::SeqCst) {
                let Ok((n, from)) = udp.recv_from(&mut buf) else {
                    continue;
                };
                if let Ok(q) = Message::from_vec(&buf[..n]) {
                    a.lock()
                        .unwrap()
                        .push((q.queries[0].name().to_ascii(), false));
                }
                if let Some(r) = upstream_answer(&buf[..n], false) {
                    udp.send_to(&r, from).unwrap();
                }
            }
        });
        let (a, s) = (asked.clone(), stop.clone());
        let tcp_thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Ok((mut conn, _)) = tcp.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                while let Ok(q) = read_frame(&mut conn) {
                    if let Ok(m) = Message::from_vec(&q) {
                        a.lock()
                            .unwrap()
                            .push((m.queries[0].name().to_ascii(), true));
                    }
                    let Some(r) = upstream_answer(&q, true) else {
                        break;
                    };
                    if write_frame(&mut conn, &r).is_err() {
                        break;
                    }
                }
            }
        });
        Upstream {
            addr,
            asked,
            stop,
            threads: vec![udp_thread, tcp_thread],
        }
    }

    /// The names asked so far, and whether over TCP.
    fn asked(&self) -> Vec<(String, bool)> {
        self.asked.lock().unwrap().clone()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Errors the server reported, kept for the test to read.
fn error_log() -> (
    Arc<Mutex<Vec<String>>>,
    impl Fn(&DnsError) + Send + Sync + 'static,
) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    (log, move |e: &DnsError| {
        l.lock().unwrap().push(e.to_string())
    })
}

/// Two containers: `web` (alias `www`) in namespace A on network `front`, `db` in B
/// on `front` and `back`, `cache` only on `back`, and two `replica`s on `back`.
fn two_containers(server: &DnsServer) -> (Netns, Netns) {
    server.set_records(
        "front",
        vec![
            rec(&["web", "www", "0123456789ab"], "10.1.0.2", None),
            rec(&["db"], "10.1.0.3", Some("fd00::3")),
        ],
    );
    server.set_records(
        "back",
        vec![
            rec(&["db", "primary"], "10.2.0.3", None),
            rec(&["cache"], "10.2.0.4", None),
            rec(&["replica"], "10.2.0.5", None),
            rec(&["replica"], "10.2.0.6", None),
        ],
    );
    let (a, b) = (Netns::new(), Netns::new());
    server
        .add_listener("ctr-a", &a.path(), view(&["front"]))
        .expect("listener A");
    server
        .add_listener("ctr-b", &b.path(), view(&["front", "back"]))
        .expect("listener B");
    (a, b)
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn containers_resolve_each_other_and_the_rest_is_forwarded() {
    in_new_netns(|| {
        let upstream = Upstream::start();
        let (errors, on_error) = error_log();
        let server = DnsServer::start(vec![upstream.addr], on_error).unwrap();
        let (a, b) = two_containers(&server);
        a.run(|| {
            let r = ask_udp(&query("Db.", RecordType::A, 1)).unwrap();
            assert_eq!(r.response_code, ResponseCode::NoError);
            assert_eq!(data(&r), ["10.1.0.3"]);
            assert_eq!(r.answers[0].ttl, 600);
            assert_eq!(r.answers[0].name.to_ascii(), "Db.");
            let r = ask_udp(&query("DB.", RecordType::AAAA, 2)).unwrap();
            assert_eq!(data(&r), ["fd00::3"]);
            let r = ask_udp(&query("WWW.", RecordType::A, 3)).unwrap();
            assert_eq!(data(&r), ["10.1.0.2"]);
            // Known, but without IPv6: NOERROR and nothing, not asked upstream.
            let r = ask_udp(&query("web.", RecordType::AAAA, 4)).unwrap();
            assert_eq!(r.response_code, ResponseCode::NoError);
            assert!(r.answers.is_empty());
            let r = ask_udp(&query("3.0.1.10.in-addr.arpa.", RecordType::PTR, 5)).unwrap();
            assert_eq!(data(&r), ["db."]);
            // Everything else is the upstream's answer, under the client's id.
            let r = ask_udp(&query("www.example.", RecordType::A, 6)).unwrap();
            assert_eq!(r.response_code, ResponseCode::NoError);
            assert_eq!(data(&r), ["192.0.2.1"]);
            let r = ask_udp(&query("nowhere.", RecordType::A, 7)).unwrap();
            assert_eq!(r.response_code, ResponseCode::NXDomain);
            // Truncated over UDP: the server takes the whole answer over TCP, as it
            // fits what this client takes.
            let mut q = query("big.example.", RecordType::A, 8);
            q.set_edns(Edns::new().set_max_payload(4096).clone());
            let r = ask_udp(&q).unwrap();
            assert!(!r.truncation);
            assert_eq!(r.answers.len(), BIG);
            // A client that takes 512 bytes gets the truncated answer, and would ask
            // over TCP itself.
            let r = ask_udp(&query("big.example.", RecordType::A, 11)).unwrap();
            assert!(r.truncation);
            assert!(r.answers.is_empty());
        });
        // B is on both networks, and db on both: B gets db's address on the first of
        // its networks that has the name, as dockerd answers.
        b.run(|| {
            let r = ask_udp(&query("db", RecordType::A, 9)).unwrap();
            assert_eq!(data(&r), ["10.1.0.3"]);
            // Two containers behind one name (replicas): both addresses, round robin
            // (the next answer starts elsewhere).
            let r = ask_udp(&query("replica", RecordType::A, 18)).unwrap();
            assert_eq!(sorted(data(&r)), ["10.2.0.5", "10.2.0.6"]);
            let again = ask_udp(&query("replica", RecordType::A, 19)).unwrap();
            assert_ne!(data(&again)[0], data(&r)[0]);
            let r = ask_udp(&query("web", RecordType::A, 10)).unwrap();
            assert_eq!(data(&r), ["10.1.0.2"]);
        });
        assert_eq!(
            upstream.asked(),
            [
                ("www.example.".to_string(), false),
                ("nowhere.".to_string(), false),
                ("big.example.".to_string(), false),
                ("big.example.".to_string(), true),
                ("big.example.".to_string(), false),
                ("big.example.".to_string(), true),
            ],
            "only unknown names go upstream"
        );
        server.shutdown();
        assert!(errors.lock().unwrap().is_empty(), "{errors:?}");
    });
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn views_and_tables_change_answers_live() {
    in_new_netns(|| {
        let upstream = Upstream::start();
        let server = DnsServer::start(vec![upstream.addr], |_| {}).unwrap();
        let (a, _b) = two_containers(&server);
        let ask = |name: &str| a.run(|| ask_udp(&query(name, RecordType::A, 1)).unwrap());
        // Not on `back`: its names are not A's, they go upstream (NXDOMAIN there).
        let r = ask("cache");
        assert_eq!(r.response_code, ResponseCode::NXDomain);
        assert!(upstream.asked().contains(&("cache.".to_string(), false)));
        let r = ask("primary");
        assert_eq!(r.response_code, ResponseCode::NXDomain);
        assert_eq!(data(&ask("db")), ["10.1.0.3"]);

        // Connected to `back`.
        server.set_view("ctr-a", view(&["front", "back"]));
        assert_eq!(data(&ask("cache")), ["10.2.0.4"]);
        // db is on both: the first of A's networks answers.
        assert_eq!(data(&ask("db")), ["10.1.0.3"]);
        // The table of `back` replaced: cache moved, primary went.
        server.set_records("back", vec![rec(&["cache"], "10.2.0.9", None)]);
        assert_eq!(data(&ask("cache")), ["10.2.0.9"]);
        assert_eq!(ask("primary").response_code, ResponseCode::NXDomain);
        // The network removed.
        server.remove_network("back");
        assert_eq!(ask("cache").response_code, ResponseCode::NXDomain);
        // Disconnected from everything: even `web` is not local any more.
        server.set_view("ctr-a", vec![]);
        assert_eq!(ask("web").response_code, ResponseCode::NXDomain);
        server.shutdown();
    });
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn link_aliases_answer_only_the_linking_container() {
    in_new_netns(|| {
        let upstream = Upstream::start();
        let server = DnsServer::start(vec![upstream.addr], |_| {}).unwrap();
        let (a, b) = two_containers(&server);
        let link = |alias: &str, target: &str| berth_network::dns::LinkAlias {
            network: "front".into(),
            alias: alias.into(),
            target: target.into(),
        };
        server.set_links("ctr-b", vec![link("site", "www"), link("db", "web")]);
        b.run(|| {
            let r = ask_udp(&query("SITE.", RecordType::A, 1)).unwrap();
            assert_eq!(data(&r), ["10.1.0.2"]);
            // The alias wins over the containers named db, on every network.
            let r = ask_udp(&query("db", RecordType::A, 2)).unwrap();
            assert_eq!(data(&r), ["10.1.0.2"]);
        });
        // Only the container that linked: for A, `site` is nobody's name.
        a.run(|| {
            let r = ask_udp(&query("site", RecordType::A, 3)).unwrap();
            assert_eq!(r.response_code, ResponseCode::NXDomain);
        });
        assert!(upstream.asked().contains(&("site.".to_string(), false)));
        // Replaced by a listener's new links; a re-added listener has none.
        server.set_links("ctr-b", vec![]);
        b.run(|| {
            let r = ask_udp(&query("site", RecordType::A, 4)).unwrap();
            assert_eq!(r.response_code, ResponseCode::NXDomain);
        });
        server.shutdown();
    });
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn removing_a_listener_closes_its_sockets() {
    in_new_netns(|| {
        let server = DnsServer::start(vec![], |_| {}).unwrap();
        let (a, b) = two_containers(&server);
        a.run(|| assert!(ask_udp(&query("db", RecordType::A, 1)).is_ok()));
        server.remove_listener("ctr-a");
        a.run(|| {
            // Nothing listens: refused (ICMP port unreachable) or no answer.
            let err = ask_udp(&query("db", RecordType::A, 2)).unwrap_err();
            assert!(
                matches!(
                    err.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::WouldBlock
                ),
                "{err:?}"
            );
            let err = TcpStream::connect_timeout(&RESOLVER, CLIENT_TIMEOUT).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err:?}");
            // Both ports are free again.
            drop(UdpSocket::bind(RESOLVER).expect("udp port 53 free"));
            drop(TcpListener::bind(RESOLVER).expect("tcp port 53 free"));
        });
        // B is still served, and A can be served again.
        b.run(|| assert!(ask_udp(&query("db", RecordType::A, 3)).is_ok()));
        server
            .add_listener("ctr-a", &a.path(), view(&["front"]))
            .unwrap();
        // Adding it again replaces it (the old sockets close before new ones bind).
        server
            .add_listener("ctr-a", &a.path(), view(&["back"]))
            .unwrap();
        let r = a.run(|| ask_udp(&query("cache", RecordType::A, 4)).unwrap());
        assert_eq!(data(&r), ["10.2.0.4"]);
        // Shutting down closes every listener.
        server.shutdown();
        b.run(|| drop(UdpSocket::bind(RESOLVER).expect("udp port 53 free after shutdown")));
    });
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn queries_over_tcp() {
    in_new_netns(|| {
        let upstream = Upstream::start();
        let server = DnsServer::start(vec![upstream.addr], |_| {}).unwrap();
        let (a, _b) = two_containers(&server);
        a.run(|| {
            // Several queries on one connection, local and forwarded.
            let mut s = tcp_client();
            assert_eq!(
                data(&ask_tcp(&mut s, &query("web", RecordType::A, 1))),
                ["10.1.0.2"]
            );
            let r = ask_tcp(&mut s, &query("www.example.", RecordType::A, 2));
            assert_eq!(data(&r), ["192.0.2.1"]);
            let r = ask_tcp(&mut s, &query("big.example.", RecordType::A, 3));
            assert_eq!(r.answers.len(), BIG);
            let r = ask_tcp(&mut s, &query("nowhere.", RecordType::A, 4));
            assert_eq!(r.response_code, ResponseCode::NXDomain);
        });
        // The client used TCP, so the server did too.
        assert_eq!(
            upstream.asked(),
            [
                ("www.example.".to_string(), true),
                ("big.example.".to_string(), true),
                ("nowhere.".to_string(), true),
            ]
        );
        server.shutdown();
    });
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn garbage_does_not_stop_the_server() {
    in_new_netns(|| {
        let server = DnsServer::start(vec![], |_| {}).unwrap();
        let (a, _b) = two_containers(&server);
        a.run(|| {
            let s = UdpSocket::bind("0.0.0.0:0").unwrap();
            s.connect(RESOLVER).unwrap();
            let mut seed = 0x2545_f491_4f6c_dd1du64;
            for len in 0..300usize {
                let bytes: Vec<u8> = (0..len % 90)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed as u8
                    })
                    .collect();
                s.send(&bytes).unwrap();
            }
            // The flood overflows the socket's buffer: like a resolver library, ask
            // again until answered, then expect every answer at the first try.
            let settled = (0..5).any(|i| {
                ask_udp_raw_timeout(
                    &query("web", RecordType::A, i).to_vec().unwrap(),
                    Duration::from_secs(1),
                )
                .is_ok()
            });
            assert!(settled, "no answer after the flood");
            // A header whose question is missing: FORMERR, with its id.
            let r = ask_udp_raw(&[0xbe, 0xef, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
            let r = Message::from_vec(&r).unwrap();
            assert_eq!((r.id, r.response_code), (0xbeef, ResponseCode::FormErr));
            // A response is not answered.
            let resp = query("web", RecordType::A, 5)
                .into_response()
                .to_vec()
                .unwrap();
            let err = ask_udp_raw_timeout(&resp, Duration::from_millis(500)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
            // Garbage over TCP, and a connection that stalls half-way through a frame.
            let mut stalled = tcp_client();
            stalled.write_all(&[0, 40, 1, 2]).unwrap();
            let mut s = tcp_client();
            write_frame(&mut s, b"\xff\xfe garbage that is no message").unwrap();
            let r = Message::from_vec(&read_frame(&mut s).unwrap()).unwrap();
            assert_eq!(r.response_code, ResponseCode::FormErr);
            // Still serving, over both.
            assert_eq!(
                data(&ask_udp(&query("web", RecordType::A, 6)).unwrap()),
                ["10.1.0.2"]
            );
            let mut s = tcp_client();
            assert_eq!(
                data(&ask_tcp(&mut s, &query("db", RecordType::A, 7))),
                ["10.1.0.3"]
            );
            drop(stalled);
        });
        server.shutdown();
    });
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn upstreams_down_give_servfail() {
    in_new_netns(|| {
        // One upstream refuses (nothing on its port), one never answers.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let closed = {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        let (errors, on_error) = error_log();
        let server =
            DnsServer::start(vec![closed, silent.local_addr().unwrap()], on_error).unwrap();
        let (a, b) = two_containers(&server);
        a.run(|| {
            let started = Instant::now();
            let r = ask_udp(&query("www.example.", RecordType::A, 1)).unwrap();
            assert_eq!(r.response_code, ResponseCode::ServFail);
            assert_eq!(r.queries[0].name().to_ascii(), "www.example.");
            // Within the forwarding deadline, well inside the client's 5 s.
            assert!(started.elapsed() < Duration::from_secs(4) + Duration::from_millis(500));
            // Local names do not wait for upstreams.
            assert_eq!(
                data(&ask_udp(&query("web", RecordType::A, 2)).unwrap()),
                ["10.1.0.2"]
            );
            let mut s = tcp_client();
            let r = ask_tcp(&mut s, &query("www.example.", RecordType::A, 3));
            assert_eq!(r.response_code, ResponseCode::ServFail);
        });
        let errors = errors.lock().unwrap().clone();
        assert!(
            errors
                .iter()
                .any(|e| e.contains(&closed.to_string()) && e.contains("ctr-a")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains(&silent.local_addr().unwrap().to_string())),
            "{errors:?}"
        );
        // A container without a way out forwards nothing: SERVFAIL at once.
        server.set_upstreams("ctr-b", Some(vec![]));
        b.run(|| {
            let started = Instant::now();
            let r = ask_udp(&query("www.example.", RecordType::A, 4)).unwrap();
            assert_eq!(r.response_code, ResponseCode::ServFail);
            assert!(started.elapsed() < Duration::from_secs(1));
        });
        server.shutdown();
        // No upstreams at all.
        let server = DnsServer::start(vec![], |_| {}).unwrap();
        let (a, _b) = two_containers(&server);
        let r = a.run(|| ask_udp(&query("www.example.", RecordType::A, 5)).unwrap());
        assert_eq!(r.response_code, ResponseCode::ServFail);
        server.shutdown();
    });
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn errors_name_the_container_and_namespace() {
    in_new_netns(|| {
        let server = DnsServer::start(vec![], |_| {}).unwrap();
        let err = server
            .add_listener("ctr-x", "/nonexistent/ns/net".as_ref(), vec![])
            .unwrap_err();
        assert!(matches!(err, DnsError::Netns { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("/nonexistent/ns/net") && msg.contains("ctr-x"),
            "{msg}"
        );
        // Not a network namespace.
        let err = server
            .add_listener("ctr-y", "/proc/self/ns/uts".as_ref(), vec![])
            .unwrap_err();
        assert!(matches!(err, DnsError::Netns { .. }), "{err:?}");
        // Port 53 already taken in the container.
        let ns = Netns::new();
        let taken = ns.run(|| UdpSocket::bind(RESOLVER).unwrap());
        let err = server
            .add_listener("ctr-z", &ns.path(), vec![])
            .unwrap_err();
        assert!(
            matches!(&err, DnsError::Bind { key, source, .. }
                if key == "ctr-z" && source.kind() == io::ErrorKind::AddrInUse),
            "{err:?}"
        );
        drop(taken);
        assert!(err.to_string().contains("127.0.0.11:53"), "{err}");
        server.shutdown();
    });
}
