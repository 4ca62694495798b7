//! berth-network's firewall against the kernel, with real traffic, entirely inside
//! private network namespaces. One suite for both backends: each test runs as
//! `nftables::NAME` and as `iptables::NAME` (iptables being Debian's iptables-nft,
//! whose restore interface is the one berth relies on). Each test's "host" is a thread that unshared its own
//! network namespace; nft, iptables and ip run as its children, so they act there. The
//! "containers" and the "outside world" are further namespaces, kept alive only by
//! descriptors the test owns: when it ends, pass or fail, every namespace, link, table
//! and rule goes with them. Afterwards each test checks that the real host has none of
//! its tables or links.
//!
//! The lab: bridges `fw-*` with 10.88.N.1/24 and fd88:N::1/64 on the host; containers
//! 10.88.N.x behind them; the outside namespace at 192.0.2.2 and 2001:db8:1::2 on a
//! veth whose host end is 192.0.2.1 and 2001:db8:1::1. The outside has no route to the
//! containers' subnets, so only masquerade gets their packets answered.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use berth_network::firewall::iptables::Chains;
use berth_network::firewall::{self, Firewall, NetworkRules, PortRule, Ruleset};
use berth_network::link::Netlink;
use berth_network::ports::Proto;

/// A network namespace, alive while this descriptor is open.
struct Ns(OwnedFd);

impl Ns {
    /// A new, empty namespace (IPv6 duplicate address detection off, so addresses are
    /// usable at once) and a netlink socket in it.
    fn new() -> (Ns, Netlink) {
        std::thread::spawn(|| {
            berth_sys::unshare(libc::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
            no_dad();
            (Ns::current(), Netlink::open().expect("netlink socket"))
        })
        .join()
        .expect("namespace thread panicked")
    }

    /// The calling thread's namespace.
    fn current() -> Ns {
        Ns(File::open("/proc/thread-self/ns/net")
            .expect("open /proc/thread-self/ns/net")
            .into())
    }

    /// Runs `f` on a thread that has joined this namespace; the thread ends with `f`.
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                rustix::thread::move_into_link_name_space(
                    self.0.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .expect("setns(CLONE_NEWNET)");
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }
}

fn write_proc(path: &str, value: &str) {
    std::fs::write(path, value).unwrap_or_else(|e| panic!("writing {value} to {path}: {e}"));
}

fn no_dad() {
    for conf in ["all", "default"] {
        write_proc(&format!("/proc/sys/net/ipv6/conf/{conf}/accept_dad"), "0");
    }
}

/// Runs `f` on a thread in a fresh network namespace, the test's host; then checks that
/// the real host has no table `table` and none of `links`, even when `f` failed.
fn in_private_host(table: &str, links: &[&str], f: impl FnOnce() + Send + 'static) {
    let result = std::thread::spawn(move || {
        berth_sys::unshare(libc::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        no_dad();
        f()
    })
    .join();
    // This thread is in the real host's namespace.
    assert!(
        !nft_tables().contains(&table.to_owned()),
        "table {table} leaked into the host"
    );
    let chains = berth_chains(table);
    assert!(chains.is_empty(), "chains {chains:?} leaked into the host");
    let mut nl = Netlink::open().expect("netlink socket on the host");
    for link in links {
        assert_eq!(
            nl.index_of(link).expect("query host link"),
            None,
            "link {link} leaked into the host"
        );
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// A name no other test (or, most likely, test run) uses, short enough for iptables'
/// chain names.
fn table_name(test: &str, fw: &Firewall) -> String {
    let backend = match fw {
        Firewall::Nftables => "n",
        _ => "i",
    };
    format!("berth-{backend}{}-{test}", std::process::id() % 100_000)
}

/// Runs a command in the calling thread's namespace; its stdout, or a panic with stderr.
fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The inet tables of the calling thread's namespace.
fn nft_tables() -> Vec<String> {
    let listing: serde_json::Value =
        serde_json::from_str(&sh("nft", &["-j", "list", "tables"])).expect("nft -j output");
    listing["nftables"]
        .as_array()
        .expect("nftables array")
        .iter()
        .filter_map(|o| o.get("table"))
        .filter(|t| t["family"] == "inet")
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

/// berth's chains for `table` that the calling thread's namespace has, in iptables
/// and ip6tables.
fn berth_chains(table: &str) -> Vec<String> {
    let suffix = Chains::of(table).expect("chain names").name("");
    ["iptables-save", "ip6tables-save"]
        .iter()
        .flat_map(|tool| {
            sh(tool, &[])
                .lines()
                .filter_map(|l| l.strip_prefix(':')?.split_whitespace().next())
                .filter(|c| c.starts_with("BERTH-") && c.ends_with(&suffix))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The rules of berth's in the calling thread's namespace: those of table `inet table`
/// or in berth's iptables chains for it (jumps to them not counted).
fn kernel_rule_count(fw: &Firewall, table: &str) -> usize {
    if *fw == Firewall::Nftables {
        let listing: serde_json::Value =
            serde_json::from_str(&sh("nft", &["-j", "list", "table", "inet", table]))
                .expect("nft -j output");
        return listing["nftables"]
            .as_array()
            .expect("nftables array")
            .iter()
            .filter(|o| o.get("rule").is_some())
            .count();
    }
    let chains = berth_chains(table);
    ["iptables-save", "ip6tables-save"]
        .iter()
        .map(|tool| {
            sh(tool, &[])
                .lines()
                .filter_map(|l| l.strip_prefix("-A ")?.split_whitespace().next())
                .filter(|c| chains.iter().any(|o| o == c))
                .count()
        })
        .sum()
}

fn rendered_rule_count(fw: &Firewall, r: &Ruleset) -> usize {
    if *fw == Firewall::Nftables {
        let batch = serde_json::to_value(firewall::nft::render(r).expect("render")).expect("json");
        return batch["nftables"]
            .as_array()
            .expect("nftables array")
            .iter()
            .filter(|o| o.get("add").and_then(|a| a.get("rule")).is_some())
            .count();
    }
    let restore = firewall::iptables::render(r).expect("render");
    (restore.v4 + &restore.v6)
        .lines()
        .filter(|l| l.starts_with("-A "))
        .count()
}

/// Every line of iptables' and ip6tables' rulesets that is berth's: its chains' and
/// anything with its comment.
fn berth_iptables_lines() -> Vec<String> {
    ["iptables-save", "ip6tables-save"]
        .iter()
        .flat_map(|tool| {
            sh(tool, &[])
                .lines()
                .filter(|l| l.contains("BERTH-") || l.contains("--comment berth"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A TCP and a UDP server on [::]:port (both families), answering each client with
/// "TAG saw ADDRESS": who answered, and the source address it saw. It also keeps the
/// source of everything that reached it, answerable or not.
struct Server {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<IpAddr>>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(ns: &Ns, port: u16, tag: &str) -> Server {
        let any = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
        // Sockets belong to the namespace they were made in; any thread may serve them.
        let (tcp, udp) = ns.run(|| {
            (
                TcpListener::bind(any).expect("bind tcp"),
                UdpSocket::bind(any).expect("bind udp"),
            )
        });
        tcp.set_nonblocking(true).expect("nonblocking");
        udp.set_read_timeout(Some(Duration::from_millis(10)))
            .expect("udp timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stopped, log) = (Arc::clone(&stop), Arc::clone(&seen));
        let tag = tag.to_owned();
        let note = move |peer: SocketAddr| {
            let ip = peer.ip().to_canonical();
            log.lock().expect("log").push(ip);
            format!("{tag} saw {ip}")
        };
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while !stopped.load(Ordering::Relaxed) {
                if let Ok((mut conn, peer)) = tcp.accept() {
                    let _ = conn.set_nonblocking(false);
                    let _ = writeln!(conn, "{}", note(peer));
                }
                // Also the pause between polls.
                if let Ok((_, peer)) = udp.recv_from(&mut buf) {
                    let _ = udp.send_to(note(peer).as_bytes(), peer);
                }
            }
        });
        Server {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// Forgets what reached the server so far.
    fn forget(&self) {
        self.seen.lock().expect("log").clear();
    }

    /// Whether anything from `ip` reached the server (since [`Server::forget`]).
    fn saw(&self, ip: &str) -> bool {
        let ip: IpAddr = ip.parse().expect("IP address");
        self.seen.lock().expect("log").contains(&ip)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Far longer than any answer takes between namespaces on one machine.
const PATIENCE: Duration = Duration::from_secs(3);
/// How long a client waits before it concludes its packets were dropped.
const SILENCE: Duration = Duration::from_secs(1);

/// Connects from `ns` to `to` over TCP; what the server said.
fn ask(ns: &Ns, to: SocketAddr, wait: Duration) -> io::Result<String> {
    ns.run(|| {
        let mut s = TcpStream::connect_timeout(&to, wait)?;
        s.set_read_timeout(Some(wait))?;
        let mut answer = String::new();
        s.read_to_string(&mut answer)?;
        Ok(answer.trim().to_owned())
    })
}

/// One datagram from `ns` to `to`; the answer.
fn ask_udp(ns: &Ns, to: SocketAddr, wait: Duration) -> io::Result<String> {
    ns.run(|| {
        let local: SocketAddr = match to {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let s = UdpSocket::bind(local)?;
        s.connect(to)?;
        s.set_read_timeout(Some(wait))?;
        s.send(b"?")?;
        let mut buf = [0u8; 64];
        let n = s.recv(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    })
}

#[track_caller]
fn answers(ns: &Ns, to: &str, expected: &str) {
    let to: SocketAddr = to.parse().expect("socket address");
    match ask(ns, to, PATIENCE) {
        Ok(answer) => assert_eq!(answer, expected, "connecting to {to}"),
        Err(e) => panic!("connecting to {to}: {e} (expected {expected:?})"),
    }
}

#[track_caller]
fn no_answer(ns: &Ns, to: &str) {
    let to: SocketAddr = to.parse().expect("socket address");
    if let Ok(answer) = ask(ns, to, SILENCE) {
        panic!("connecting to {to}: {answer:?} answered, expected nothing");
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("IP address")
}

/// The test's host: its namespace, the outside world, bridges and containers.
struct Lab {
    nl: Netlink,
    host: Ns,
    outside: Ns,
    /// The outside world's server, on port 9000.
    world: Server,
    containers: Vec<Container>,
}

struct Container {
    name: String,
    ns: Ns,
    /// Its server on port 80 (which, like the netlink socket, keeps it alive too).
    server: Server,
    _nl: Netlink,
}

impl Lab {
    /// Must run on the thread of the test's host namespace.
    fn new() -> Lab {
        let mut nl = Netlink::open().expect("netlink socket");
        nl.set_up("lo").unwrap();
        firewall::set_ip_forward(true).unwrap();
        firewall::set_ipv6_forward(true).unwrap();

        let (outside, mut onl) = Ns::new();
        nl.create_veth("fw-out", "fw-out-peer").unwrap();
        nl.move_to_netns_fd("fw-out-peer", outside.0.as_fd())
            .unwrap();
        nl.set_up("fw-out").unwrap();
        nl.add_address("fw-out", ip("192.0.2.1"), 24).unwrap();
        nl.add_address("fw-out", ip("2001:db8:1::1"), 64).unwrap();
        onl.rename("fw-out-peer", "eth0").unwrap();
        onl.set_up("lo").unwrap();
        onl.set_up("eth0").unwrap();
        onl.add_address("eth0", ip("192.0.2.2"), 24).unwrap();
        onl.add_address("eth0", ip("2001:db8:1::2"), 64).unwrap();
        let world = Server::start(&outside, 9000, "outside");
        Lab {
            nl,
            host: Ns::current(),
            outside,
            world,
            containers: Vec::new(),
        }
    }

    /// Bridge `fw-N` with 10.88.N.1/24 and fd88:N::1/64, and its network's rules.
    fn network(&mut self, n: u8) -> NetworkRules {
        let bridge = format!("fw-{n}");
        self.nl.create_bridge(&bridge).unwrap();
        self.nl
            .add_address(&bridge, ip(&format!("10.88.{n}.1")), 24)
            .unwrap();
        self.nl
            .add_address(&bridge, ip(&format!("fd88:{n}::1")), 64)
            .unwrap();
        self.nl.set_up(&bridge).unwrap();
        firewall::set_route_localnet(&bridge).unwrap();
        NetworkRules {
            bridge,
            subnets: vec![
                (ip(&format!("10.88.{n}.0")), 24),
                (ip(&format!("fd88:{n}::")), 64),
            ],
            internal: false,
            masquerade: true,
            icc: true,
        }
    }

    /// Container `name` at 10.88.N.host and fd88:N::host on bridge `fw-N`, routed via
    /// the bridge, with a server on port 80 that answers with its name.
    fn container(&mut self, name: &str, n: u8, host: u8) -> &Ns {
        let (ns, mut cnl) = Ns::new();
        let (outer, inner) = (format!("ve-{name}"), format!("ce-{name}"));
        self.nl.create_veth(&outer, &inner).unwrap();
        self.nl.move_to_netns_fd(&inner, ns.0.as_fd()).unwrap();
        self.nl.set_master(&outer, &format!("fw-{n}")).unwrap();
        // As the engine must, for a container reaching its own published port.
        self.nl.set_hairpin(&outer, true).unwrap();
        self.nl.set_up(&outer).unwrap();
        cnl.rename(&inner, "eth0").unwrap();
        cnl.set_up("lo").unwrap();
        cnl.set_up("eth0").unwrap();
        cnl.add_address("eth0", ip(&format!("10.88.{n}.{host}")), 24)
            .unwrap();
        cnl.add_address("eth0", ip(&format!("fd88:{n}::{host}")), 64)
            .unwrap();
        cnl.add_default_route(Ipv4Addr::new(10, 88, n, 1)).unwrap();
        let gateway6 = format!("fd88:{n}::1");
        ns.run(|| sh("ip", &["-6", "route", "add", "default", "via", &gateway6]));
        let server = Server::start(&ns, 80, name);
        self.containers.push(Container {
            name: name.to_owned(),
            ns,
            server,
            _nl: cnl,
        });
        self.ns(name)
    }

    fn container_named(&self, name: &str) -> &Container {
        self.containers
            .iter()
            .find(|c| c.name == name)
            .expect("no such container")
    }

    fn ns(&self, name: &str) -> &Ns {
        &self.container_named(name).ns
    }
}

/// Whether bridged frames pass the IP hooks (br_netfilter) in the calling thread's
/// namespace.
fn set_bridge_netfilter(on: bool) {
    let v = if on { "1" } else { "0" };
    write_proc("/proc/sys/net/bridge/bridge-nf-call-iptables", v);
    write_proc("/proc/sys/net/bridge/bridge-nf-call-ip6tables", v);
}

fn port(
    proto: Proto,
    host: Option<&str>,
    host_port: u16,
    to: &str,
    to_port: u16,
    n: u8,
) -> PortRule {
    PortRule {
        proto,
        host_ip: host.map(ip),
        host_port,
        container_ip: ip(to),
        container_port: to_port,
        bridge: format!("fw-{n}"),
    }
}

fn published_ports_answer_on_local_and_outside_addresses(fw: Firewall) {
    let table = table_name("ports", &fw);
    let t = table.clone();
    in_private_host(&table, &["fw-1", "fw-out", "ve-c1"], move || {
        let mut lab = Lab::new();
        let net = lab.network(1);
        lab.container("c1", 1, 2);
        let (host, outside) = (&lab.host, &lab.outside);

        // Nothing is published yet.
        no_answer(host, "127.0.0.1:8080");
        no_answer(outside, "192.0.2.1:8080");

        let r = Ruleset {
            table: t.clone(),
            networks: vec![net],
            ports: vec![
                port(Proto::Tcp, None, 8080, "10.88.1.2", 80, 1),
                port(Proto::Tcp, Some("::"), 8080, "fd88:1::2", 80, 1),
                port(Proto::Tcp, Some("192.0.2.1"), 8082, "10.88.1.2", 80, 1),
                port(Proto::Udp, Some("0.0.0.0"), 5353, "10.88.1.2", 80, 1),
                port(Proto::Udp, None, 5353, "fd88:1::2", 80, 1),
            ],
        };
        fw.apply(&r).expect("apply");
        let c1 = lab.ns("c1");

        // From the host itself, to loopback and to its own addresses: masqueraded to
        // the bridge's address.
        answers(host, "127.0.0.1:8080", "c1 saw 10.88.1.1");
        answers(host, "192.0.2.1:8080", "c1 saw 10.88.1.1");
        answers(host, "10.88.1.1:8080", "c1 saw 10.88.1.1");
        answers(host, "[2001:db8:1::1]:8080", "c1 saw fd88:1::1");
        // From outside: the client's own address arrives.
        answers(outside, "192.0.2.1:8080", "c1 saw 192.0.2.2");
        answers(outside, "[2001:db8:1::1]:8080", "c1 saw 2001:db8:1::2");
        // A port published on one address only.
        answers(outside, "192.0.2.1:8082", "c1 saw 192.0.2.2");
        no_answer(host, "127.0.0.1:8082");
        no_answer(outside, "[2001:db8:1::1]:8082");
        // UDP.
        let udp =
            |ns: &Ns, to: &str| ask_udp(ns, to.parse().expect("address"), PATIENCE).expect(to);
        assert_eq!(udp(outside, "192.0.2.1:5353"), "c1 saw 192.0.2.2");
        assert_eq!(udp(outside, "[2001:db8:1::1]:5353"), "c1 saw 2001:db8:1::2");
        assert_eq!(udp(host, "127.0.0.1:5353"), "c1 saw 10.88.1.1");
        // The container's own server is where the answers came from.
        answers(c1, "127.0.0.1:80", "c1 saw 127.0.0.1");
    });
}

fn containers_cannot_reach_the_hosts_loopback(fw: Firewall) {
    let table = table_name("lo", &fw);
    let t = table.clone();
    in_private_host(&table, &["fw-1", "fw-out", "ve-a"], move || {
        let mut lab = Lab::new();
        let net = lab.network(1);
        lab.container("a", 1, 2);
        let _service = Server::start(&lab.host, 7777, "host");
        // What a container with CAP_NET_RAW can do with crafted packets: send to
        // 127.0.0.1 through its gateway.
        let a = lab.ns("a");
        a.run(|| {
            write_proc("/proc/sys/net/ipv4/conf/all/route_localnet", "1");
            sh("ip", &["addr", "del", "127.0.0.1/8", "dev", "lo"]);
            sh(
                "ip",
                &[
                    "route",
                    "add",
                    "127.0.0.0/8",
                    "via",
                    "10.88.1.1",
                    "dev",
                    "eth0",
                ],
            );
        });
        // route_localnet on the bridge opens the host's loopback services ...
        answers(a, "127.0.0.1:7777", "host saw 10.88.1.2");
        let r = Ruleset {
            table: t,
            networks: vec![net],
            ports: vec![port(Proto::Tcp, None, 8080, "10.88.1.2", 80, 1)],
        };
        fw.apply(&r).expect("apply");
        // ... which berth's table closes, while 127.0.0.1:PORT still works.
        no_answer(a, "127.0.0.1:7777");
        no_answer(a, "127.0.0.1:8080");
        answers(&lab.host, "127.0.0.1:8080", "a saw 10.88.1.1");
    });
}

fn hairpin_reaches_a_neighbour_and_the_container_itself(fw: Firewall) {
    // Bridged frames pass the IP hooks or not: the kernel routes a hairpin in one case
    // and bridges it in the other; berth's rules must serve both.
    for bridge_netfilter in [false, true] {
        let fw = fw.clone();
        let table = table_name(&format!("hp{}", u8::from(bridge_netfilter)), &fw);
        let t = table.clone();
        in_private_host(&table, &["fw-1", "fw-out", "ve-a", "ve-b"], move || {
            set_bridge_netfilter(bridge_netfilter);
            let mut lab = Lab::new();
            let net = lab.network(1);
            lab.container("a", 1, 2);
            lab.container("b", 1, 3);
            let r = Ruleset {
                table: t,
                networks: vec![net],
                ports: vec![
                    port(Proto::Tcp, None, 8080, "10.88.1.3", 80, 1),
                    port(Proto::Tcp, None, 8081, "10.88.1.2", 80, 1),
                    port(Proto::Tcp, None, 8080, "fd88:1::3", 80, 1),
                    port(Proto::Tcp, None, 8081, "fd88:1::2", 80, 1),
                ],
            };
            fw.apply(&r).expect("apply");
            let a = lab.ns("a");
            // To a neighbour, through the gateway's and another host address; the
            // neighbour sees the host, so its replies go back through it.
            answers(a, "10.88.1.1:8080", "b saw 10.88.1.1");
            answers(a, "192.0.2.1:8080", "b saw 10.88.1.1");
            answers(a, "[fd88:1::1]:8080", "b saw fd88:1::1");
            // To itself.
            answers(a, "10.88.1.1:8081", "a saw 10.88.1.1");
            answers(a, "192.0.2.1:8081", "a saw 10.88.1.1");
            answers(a, "[2001:db8:1::1]:8081", "a saw fd88:1::1");
        });
    }
}

fn containers_reach_the_outside_as_the_host(fw: Firewall) {
    let table = table_name("masq", &fw);
    let t = table.clone();
    in_private_host(&table, &["fw-1", "fw-out", "ve-a"], move || {
        let mut lab = Lab::new();
        let mut net = lab.network(1);
        lab.container("a", 1, 2);
        let a = lab.ns("a");

        // The outside has no route back to the container's subnet.
        no_answer(a, "192.0.2.2:9000");
        let mut r = Ruleset {
            table: t,
            networks: vec![net.clone()],
            ports: vec![],
        };
        fw.apply(&r).expect("apply");
        answers(a, "192.0.2.2:9000", "outside saw 192.0.2.1");
        answers(a, "[2001:db8:1::2]:9000", "outside saw 2001:db8:1::1");

        // Masquerade off: the outside sees (and cannot answer) the container.
        net.masquerade = false;
        r.networks = vec![net];
        fw.apply(&r).expect("apply");
        no_answer(a, "192.0.2.2:9000");
    });
}

fn internal_networks_are_sealed_and_networks_isolated(fw: Firewall) {
    let table = table_name("iso", &fw);
    let t = table.clone();
    let links = ["fw-1", "fw-2", "fw-3", "fw-out", "ve-a", "ve-b", "ve-i"];
    in_private_host(&table, &links, move || {
        let mut lab = Lab::new();
        let net1 = lab.network(1);
        let net2 = lab.network(2);
        let mut net3 = lab.network(3);
        lab.container("a", 1, 2);
        lab.container("b", 2, 2);
        lab.container("i", 3, 2);
        let (a, b, i) = (lab.ns("a"), lab.ns("b"), lab.ns("i"));

        // Without berth's table the host routes between all of them.
        answers(a, "10.88.2.2:80", "b saw 10.88.1.2");
        answers(i, "10.88.1.2:80", "a saw 10.88.3.2");

        net3.internal = true;
        let r = Ruleset {
            table: t,
            networks: vec![net1, net2, net3],
            ports: vec![
                port(Proto::Tcp, None, 8080, "10.88.2.2", 80, 2),
                port(Proto::Tcp, None, 8090, "10.88.3.2", 80, 3),
            ],
        };
        fw.apply(&r).expect("apply");

        // Two networks: isolated from each other, both ways, both families.
        no_answer(a, "10.88.2.2:80");
        no_answer(b, "10.88.1.2:80");
        no_answer(a, "[fd88:2::2]:80");
        // ... but a published port is reachable from anywhere, as through a proxy.
        answers(a, "10.88.1.1:8080", "b saw 10.88.2.1");
        // ... and both reach the outside.
        answers(a, "192.0.2.2:9000", "outside saw 192.0.2.1");
        answers(b, "192.0.2.2:9000", "outside saw 192.0.2.1");

        // The internal network: no way out, no way in, nothing published. Not even
        // one way: the servers log whatever reaches them (the outside now has a route
        // to the containers, so an unmasqueraded packet would be answered too).
        lab.outside
            .run(|| sh("ip", &["route", "add", "10.88.0.0/16", "via", "192.0.2.1"]));
        for c in &lab.containers {
            c.server.forget();
        }
        no_answer(i, "192.0.2.2:9000");
        no_answer(i, "10.88.1.2:80");
        no_answer(i, "[fd88:1::2]:80");
        assert!(ask_udp(i, "192.0.2.2:9000".parse().unwrap(), SILENCE).is_err());
        assert!(
            !lab.world.saw("10.88.3.2"),
            "a packet left the internal network"
        );
        assert!(!lab.container_named("a").server.saw("10.88.3.2"));
        no_answer(a, "10.88.3.2:80");
        no_answer(&lab.outside, "10.88.3.2:80");
        assert!(ask_udp(&lab.outside, "10.88.3.2:80".parse().unwrap(), SILENCE).is_err());
        let inside = &lab.container_named("i").server;
        assert!(
            !inside.saw("192.0.2.2"),
            "a packet entered the internal network"
        );
        assert!(
            !inside.saw("10.88.1.2"),
            "a packet entered the internal network"
        );
        no_answer(&lab.outside, "192.0.2.1:8090");
        no_answer(&lab.host, "127.0.0.1:8090");
        // While a published port's network is open to the outside.
        answers(&lab.outside, "192.0.2.1:8080", "b saw 192.0.2.2");
    });
}

fn icc_off_stops_traffic_within_the_bridge_but_not_published_ports(fw: Firewall) {
    let table = table_name("icc", &fw);
    let t = table.clone();
    in_private_host(&table, &["fw-1", "fw-out", "ve-a", "ve-b"], move || {
        // icc applies to bridged frames only where they pass the IP hooks.
        set_bridge_netfilter(true);
        let mut lab = Lab::new();
        let mut net = lab.network(1);
        lab.container("a", 1, 2);
        lab.container("b", 1, 3);
        let mut r = Ruleset {
            table: t,
            networks: vec![net.clone()],
            ports: vec![port(Proto::Tcp, None, 8080, "10.88.1.3", 80, 1)],
        };
        fw.apply(&r).expect("apply");
        let a = lab.ns("a");
        answers(a, "10.88.1.3:80", "b saw 10.88.1.2");

        net.icc = false;
        r.networks = vec![net];
        fw.apply(&r).expect("apply");
        no_answer(a, "10.88.1.3:80");
        no_answer(a, "[fd88:1::3]:80");
        answers(a, "10.88.1.1:8080", "b saw 10.88.1.1");
    });
}

fn apply_replaces_the_rules_and_remove_deletes_them(fw: Firewall) {
    let table = table_name("replace", &fw);
    let t = table.clone();
    in_private_host(&table, &["fw-1", "fw-out", "ve-c1"], move || {
        let mut lab = Lab::new();
        let net = lab.network(1);
        lab.container("c1", 1, 2);
        let host = &lab.host;
        // Someone else's chain and jump, which berth must leave alone.
        sh("iptables", &["-t", "nat", "-N", "THEIRS"]);
        sh(
            "iptables",
            &["-t", "nat", "-A", "PREROUTING", "-j", "THEIRS"],
        );
        let theirs = || {
            sh("iptables-save", &["-t", "nat"])
                .lines()
                .filter(|l| l.contains("THEIRS"))
                .count()
        };
        assert_eq!(theirs(), 2);
        // The jumps from the built-in chains into berth's.
        let jumps = || {
            berth_iptables_lines()
                .iter()
                .filter(|l| {
                    ["PREROUTING", "OUTPUT", "POSTROUTING", "FORWARD"]
                        .iter()
                        .any(|c| l.starts_with(&format!("-A {c} ")) && l.contains("-j BERTH-"))
                })
                .count()
        };

        let mut r = Ruleset {
            table: t.clone(),
            networks: vec![net],
            ports: vec![port(Proto::Tcp, None, 8080, "10.88.1.2", 80, 1)],
        };
        fw.apply(&r).expect("apply");
        answers(host, "127.0.0.1:8080", "c1 saw 10.88.1.1");
        // Again: same rules, no duplicates.
        fw.apply(&r).expect("apply again");
        assert_eq!(kernel_rule_count(&fw, &t), rendered_rule_count(&fw, &r));
        answers(host, "127.0.0.1:8080", "c1 saw 10.88.1.1");

        // The port moves: the old one is gone.
        r.ports = vec![port(Proto::Tcp, None, 8081, "10.88.1.2", 80, 1)];
        fw.apply(&r).expect("apply with the port moved");
        no_answer(host, "127.0.0.1:8080");
        answers(host, "127.0.0.1:8081", "c1 saw 10.88.1.1");
        assert_eq!(kernel_rule_count(&fw, &t), rendered_rule_count(&fw, &r));
        if fw == Firewall::Nftables {
            assert_eq!(nft_tables(), vec![t.clone()]);
            assert_eq!(berth_chains(&t), Vec::<String>::new());
        } else {
            assert_eq!(nft_tables(), Vec::<String>::new());
            // raw, nat and filter for IPv4; nat and filter for IPv6.
            assert_eq!(berth_chains(&t).len(), 7 + 6, "{:?}", berth_chains(&t));
            assert_eq!(jumps(), 5 + 4, "{:#?}", berth_iptables_lines());
        }

        fw.remove(&t, &["fw-1"]).expect("remove");
        assert!(!nft_tables().contains(&t));
        assert_eq!(berth_iptables_lines(), Vec::<String>::new());
        assert_eq!(theirs(), 2);
        no_answer(host, "127.0.0.1:8081");
        // Removing what is not there is no error.
        fw.remove(&t, &["fw-1"]).expect("remove again");
    });
}

fn coexists_with_dockers_forward_drop(fw: Firewall) {
    let table = table_name("docker", &fw);
    let t = table.clone();
    in_private_host(&table, &["fw-1", "fw-out", "ve-a"], move || {
        let mut lab = Lab::new();
        let net = lab.network(1);
        lab.container("a", 1, 2);
        let r = Ruleset {
            table: t.clone(),
            networks: vec![net],
            ports: vec![port(Proto::Tcp, None, 8080, "10.88.1.2", 80, 1)],
        };
        let (a, outside) = (lab.ns("a"), &lab.outside);

        // What dockerd does, and a rule of someone else's.
        for tool in ["iptables", "ip6tables"] {
            sh(tool, &["-P", "FORWARD", "DROP"]);
        }
        sh(
            "iptables",
            &["-A", "FORWARD", "-s", "203.0.113.0/24", "-j", "ACCEPT"],
        );
        if fw == Firewall::Nftables {
            // berth's own table alone does not get past the DROP.
            firewall::nft::apply(&r).expect("nft apply");
            no_answer(a, "192.0.2.2:9000");
            no_answer(a, "[2001:db8:1::2]:9000");
            no_answer(outside, "192.0.2.1:8080");
        }

        fw.apply(&r).expect("apply");
        fw.apply(&r).expect("apply again");
        answers(a, "192.0.2.2:9000", "outside saw 192.0.2.1");
        answers(a, "[2001:db8:1::2]:9000", "outside saw 2001:db8:1::1");
        answers(outside, "192.0.2.1:8080", "a saw 192.0.2.2");
        let berth: Vec<String> = if fw == Firewall::Nftables {
            [
                "-A FORWARD -i fw-1 -m comment --comment berth -j ACCEPT",
                "-A FORWARD -o fw-1 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment berth -j ACCEPT",
                "-A FORWARD -o fw-1 -m conntrack --ctstate DNAT -m comment --comment berth -j ACCEPT",
            ]
            .map(str::to_owned)
            .to_vec()
        } else {
            let fwd = Chains::of(&t).expect("chain names").name("BERTH-FWD");
            vec![format!("-A FORWARD -m comment --comment berth -j {fwd}")]
        };
        let forward = |tool: &str| -> Vec<String> {
            sh(tool, &["-S", "FORWARD"])
                .lines()
                .map(str::to_owned)
                .collect()
        };
        let mut expected = vec!["-P FORWARD DROP".to_owned()];
        expected.extend(berth.iter().cloned());
        expected.push("-A FORWARD -s 203.0.113.0/24 -j ACCEPT".into());
        assert_eq!(forward("iptables"), expected);
        let mut expected6 = vec!["-P FORWARD DROP".to_owned()];
        expected6.extend(berth);
        assert_eq!(forward("ip6tables"), expected6);

        fw.remove(&t, &["fw-1"]).expect("remove");
        assert_eq!(
            forward("iptables"),
            ["-P FORWARD DROP", "-A FORWARD -s 203.0.113.0/24 -j ACCEPT"]
        );
        assert_eq!(forward("ip6tables"), ["-P FORWARD DROP"]);
        no_answer(a, "192.0.2.2:9000");
        // Nothing left to remove is no error.
        fw.remove(&t, &["fw-1"]).expect("remove again");
    });
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn sysctls_act_on_the_calling_threads_namespace() {
    let on_host = firewall::ip_forward().expect("host ip_forward");
    in_private_host(
        &table_name("sysctl", &Firewall::Nftables),
        &["fw-1"],
        move || {
            firewall::set_ip_forward(!on_host).unwrap();
            assert_eq!(firewall::ip_forward().unwrap(), !on_host);
            firewall::set_ipv6_forward(true).unwrap();
            assert!(firewall::ipv6_forward().unwrap());
            firewall::set_ipv6_forward(false).unwrap();
            assert!(!firewall::ipv6_forward().unwrap());

            let mut nl = Netlink::open().unwrap();
            nl.create_bridge("fw-1").unwrap();
            firewall::set_route_localnet("fw-1").unwrap();
            let path = "/proc/sys/net/ipv4/conf/fw-1/route_localnet";
            assert_eq!(std::fs::read_to_string(path).unwrap().trim(), "1");

            let e = firewall::set_route_localnet("fw-none").unwrap_err();
            assert!(
                e.to_string()
                    .contains("/proc/sys/net/ipv4/conf/fw-none/route_localnet"),
                "{e}"
            );
            let e = firewall::set_route_localnet("../all").unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        },
    );
    assert_eq!(firewall::ip_forward().expect("host ip_forward"), on_host);
}

/// Each test above, once per backend.
macro_rules! for_each_backend {
    ($($test:ident),* $(,)?) => {
        mod nftables {
            use berth_network::firewall::Firewall;
            $(
                #[test]
                #[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
                fn $test() {
                    super::$test(Firewall::Nftables)
                }
            )*
        }
        mod iptables {
            use berth_network::firewall::Firewall;
            $(
                #[test]
                #[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
                fn $test() {
                    super::$test(Firewall::Iptables)
                }
            )*
        }
    };
}

for_each_backend!(
    published_ports_answer_on_local_and_outside_addresses,
    containers_cannot_reach_the_hosts_loopback,
    hairpin_reaches_a_neighbour_and_the_container_itself,
    containers_reach_the_outside_as_the_host,
    internal_networks_are_sealed_and_networks_isolated,
    icc_off_stops_traffic_within_the_bridge_but_not_published_ports,
    apply_replaces_the_rules_and_remove_deletes_them,
    coexists_with_dockers_forward_drop,
);
