//! berth's packet filter for bridge networks: one nftables table of family `inet` that
//! berth owns alone, holding outbound masquerade, published ports as DNAT in the kernel
//! (no proxy process), hairpin, isolation between networks and `--internal` networks.
//! The desired state is a plain [`Ruleset`]; [`apply`] replaces the whole table in one
//! nft transaction (add it, delete it, add it again with its contents, so the delete
//! works whether or not it existed), so the kernel never holds part of an old state and
//! part of a new one; [`remove`] deletes it. [`render`] is the pure part.
//!
//! The batch is built from the `nftables` crate's JSON types; berth pipes it to
//! `nft -j -f -` itself because the crate's helper leaves nft's stderr uncaptured, and
//! an error must quote it. `BERTH_NFT` names another nft program. Every expression
//! berth needs exists in the crate.
//!
//! The chains:
//! - `guard` (filter, prerouting, priority raw): drops packets from a bridge to
//!   127.0.0.0/8. route_localnet, which `127.0.0.1:PORT` needs, would otherwise let a
//!   container (with CAP_NET_RAW, Docker's default) reach services the host binds to
//!   its loopback (CVE-2020-8558 in kube-proxy). A reply to a host client on
//!   127.0.0.1 is not caught: it arrives masqueraded, addressed to the bridge, and
//!   conntrack restores 127.0.0.1 only after this chain.
//! - `prerouting` and `output` (nat, priority dstnat): a packet for a local address
//!   (`fib daddr type local`) jumps to `ports`, one DNAT rule per published port.
//!   Nothing is excluded by input interface: with no proxy, a container reaching a
//!   published port through the host (itself, a neighbour, another network) must be
//!   DNATed like any other client.
//! - `postrouting` (nat, srcnat): a network's subnets are masqueraded when they leave
//!   its bridge; DNATed connections into a bridge are masqueraded when they come from
//!   the host itself (`127.0.0.1:PORT` needs route_localnet on the bridge, see
//!   [`set_route_localnet`]) or from the bridge's own subnet (hairpin, so that replies
//!   come back through the host).
//! - `forward` (filter, policy accept): an internal network's bridge exchanges nothing
//!   with any other interface; DNATed connections (published ports) are accepted; then
//!   traffic within a bridge is accepted, or dropped for `icc: false`; then traffic
//!   between two berth bridges is dropped.
//!
//! Where br_netfilter is active (bridge-nf-call-iptables: built into many kernels,
//! loaded by dockerd), a DNATed packet whose new destination lies on the bridge it came
//! from is bridged rather than routed, and reaches postrouting with no input interface.
//! Hairpin masquerade therefore matches addresses (source and destination in the
//! network's subnet), not interfaces, and a container reaching its own published port
//! needs hairpin mode on its bridge port ([`crate::link::Netlink::set_hairpin`]).
//! Without br_netfilter, frames bridged between two containers never reach the inet
//! hooks: `icc: false` then stops only routed traffic.
//!
//! IPv6 has no route_localnet: the kernel never routes ::1 off the host, so
//! `[::1]:PORT` reaches no container (Docker's proxy answered there).
//!
//! Around the table: the sysctls it relies on ([`set_ip_forward`],
//! [`set_ipv6_forward`], [`set_route_localnet`]) and, for hosts where dockerd set
//! iptables' FORWARD policy to DROP, the accept rules berth's bridges need there
//! ([`ensure_docker_coexistence`]): a drop in any base chain drops the packet, whatever
//! berth's own table says.

use std::borrow::Cow;
use std::ffi::OsString;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use nftables::batch::Batch;
use nftables::expr::{
    Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField,
    Prefix, SetItem, CT,
};
use nftables::schema::{Chain, NfListObject, Nftables, Rule, Table};
use nftables::stmt::{JumpTarget, Match, NATFamily, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use crate::ports::Proto;

/// Everything berth wants from the packet filter: rendered into the table `table`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ruleset {
    /// The name of berth's `inet` table (`berth` for the daemon).
    pub table: String,
    pub networks: Vec<NetworkRules>,
    pub ports: Vec<PortRule>,
}

/// One bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRules {
    pub bridge: String,
    /// IPv4 and IPv6 subnets as (address, prefix length); host bits are ignored.
    pub subnets: Vec<(IpAddr, u8)>,
    /// `--internal`: no traffic to or from any other interface, no published ports.
    pub internal: bool,
    /// Masquerade the subnets' traffic leaving the bridge (Docker's
    /// `com.docker.network.bridge.enable_ip_masquerade`).
    pub masquerade: bool,
    /// Inter-container communication on the bridge (`enable_icc`).
    pub icc: bool,
}

/// One published port: `[HOST_IP:]HOST_PORT/PROTO` to `CONTAINER_IP:CONTAINER_PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    pub proto: Proto,
    /// None, `0.0.0.0` and `::` all mean every local address of the container
    /// address's family.
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_ip: IpAddr,
    pub container_port: u16,
    /// The bridge of the container's network.
    pub bridge: String,
}

/// What went wrong, naming the table or the command at fault.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// A ruleset or name berth cannot express: `what` is the table or the bridge.
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("{what}: cannot run `{command}`: {source}")]
    Spawn {
        what: String,
        command: String,
        #[source]
        source: io::Error,
    },
    #[error("{what}: `{command}` failed: {stderr}")]
    Failed {
        what: String,
        command: String,
        stderr: String,
    },
}

pub type Result<T, E = FirewallError> = std::result::Result<T, E>;

/// Replaces berth's table with `r`, atomically.
pub fn apply(r: &Ruleset) -> Result<()> {
    let doc = render(r)?;
    nft(&format!("replacing table inet {}", r.table), &doc)
}

/// Deletes berth's table `table`; nothing to do when there is none.
pub fn remove(table: &str) -> Result<()> {
    check_table(table)?;
    let mut batch = Batch::new();
    batch.add(NfListObject::Table(inet_table(table)));
    batch.delete(NfListObject::Table(inet_table(table)));
    nft(
        &format!("removing table inet {table}"),
        &batch.to_nftables(),
    )
}

const GUARD: &str = "guard";
const PREROUTING: &str = "prerouting";
const OUTPUT: &str = "output";
const PORTS: &str = "ports";
const POSTROUTING: &str = "postrouting";
const FORWARD: &str = "forward";

// The hook priorities nft calls raw, dstnat, srcnat and filter (nft 1.0.6 accepts the
// names only on some hooks; the JSON API wants numbers anyway).
const RAW: i32 = -300;
const DSTNAT: i32 = -100;
const SRCNAT: i32 = 100;
const FILTER: i32 = 0;

/// The nft batch that [`apply`] runs: pure, so it can be checked without root. Port
/// rules on an internal network are left out (Docker publishes nothing there).
pub fn render(r: &Ruleset) -> Result<Nftables<'static>> {
    check(r)?;
    let mut t = TableBuilder {
        table: r.table.clone(),
        batch: Batch::new(),
    };
    t.batch.add(NfListObject::Table(inet_table(&r.table)));
    t.batch.delete(NfListObject::Table(inet_table(&r.table)));
    t.batch.add(NfListObject::Table(inet_table(&r.table)));
    t.base_chain(GUARD, NfChainType::Filter, NfHook::Prerouting, RAW);
    t.base_chain(PREROUTING, NfChainType::NAT, NfHook::Prerouting, DSTNAT);
    t.base_chain(OUTPUT, NfChainType::NAT, NfHook::Output, DSTNAT);
    t.regular_chain(PORTS);
    t.base_chain(POSTROUTING, NfChainType::NAT, NfHook::Postrouting, SRCNAT);
    t.base_chain(FORWARD, NfChainType::Filter, NfHook::Forward, FILTER);

    if !r.networks.is_empty() {
        t.rule(
            GUARD,
            "nothing from a bridge to the host's loopback",
            vec![
                is(meta(MetaKey::Iifname), bridge_set(&r.networks)),
                is(
                    field("ip", "daddr"),
                    prefix(IpAddr::V4(Ipv4Addr::LOCALHOST), 8),
                ),
                drop(),
            ],
        );
    }
    for chain in [PREROUTING, OUTPUT] {
        t.rule(
            chain,
            "published ports on local addresses",
            vec![
                is(fib_type(FibFlag::Daddr), text("local")),
                Statement::Jump(JumpTarget {
                    target: PORTS.into(),
                }),
            ],
        );
    }

    let internal = |bridge: &str| r.networks.iter().any(|n| n.internal && n.bridge == bridge);
    // A port on one address goes before the same port on every address.
    let (specific, wildcard): (Vec<&PortRule>, Vec<&PortRule>) = r
        .ports
        .iter()
        .filter(|p| !internal(&p.bridge))
        .partition(|p| host_ip(p).is_some());
    for p in specific.into_iter().chain(wildcard) {
        t.port(p);
    }

    for n in r.networks.iter().filter(|n| !n.internal) {
        t.postrouting(n);
    }
    t.forward(&r.networks);
    Ok(t.batch.to_nftables())
}

struct TableBuilder {
    table: String,
    batch: Batch<'static>,
}

impl TableBuilder {
    fn base_chain(&mut self, name: &'static str, kind: NfChainType, hook: NfHook, prio: i32) {
        self.batch.add(NfListObject::Chain(Chain {
            family: NfFamily::INet,
            table: self.table.clone().into(),
            name: name.into(),
            _type: Some(kind),
            hook: Some(hook),
            prio: Some(prio),
            policy: Some(NfChainPolicy::Accept),
            ..Chain::default()
        }));
    }

    fn regular_chain(&mut self, name: &'static str) {
        self.batch.add(NfListObject::Chain(Chain {
            family: NfFamily::INet,
            table: self.table.clone().into(),
            name: name.into(),
            ..Chain::default()
        }));
    }

    fn rule(&mut self, chain: &'static str, comment: &str, expr: Vec<Statement<'static>>) {
        self.batch.add(NfListObject::Rule(Rule {
            family: NfFamily::INet,
            table: self.table.clone().into(),
            chain: chain.into(),
            expr: expr.into(),
            comment: Some(format!("berth: {comment}").into()),
            ..Rule::default()
        }));
    }

    /// `[ip daddr HOST_IP | meta nfproto ipv4] tcp dport PORT dnat ip to CIP:CPORT`
    fn port(&mut self, p: &PortRule) {
        let family = Family::of(p.container_ip);
        let mut expr = vec![match host_ip(p) {
            Some(ip) => is(family.field("daddr"), text(ip.to_string())),
            None => is(meta(MetaKey::Nfproto), text(family.nfproto())),
        }];
        expr.push(is(
            field(p.proto.as_str(), "dport"),
            Expression::Number(p.host_port.into()),
        ));
        expr.push(Statement::DNAT(Some(NAT {
            addr: Some(text(p.container_ip.to_string())),
            family: Some(family.nat()),
            port: Some(Expression::Number(p.container_port.into())),
            flags: None,
        })));
        let host = match host_ip(p) {
            Some(ip) => socket_text(ip, p.host_port),
            None => p.host_port.to_string(),
        };
        self.rule(
            PORTS,
            &format!(
                "publish {host}/{} to {}",
                p.proto.as_str(),
                socket_text(p.container_ip, p.container_port)
            ),
            expr,
        );
    }

    fn postrouting(&mut self, n: &NetworkRules) {
        let bridge = || text(n.bridge.clone());
        for &(addr, len) in &n.subnets {
            let family = Family::of(addr);
            let subnet = || prefix(addr, len);
            if n.masquerade {
                self.rule(
                    POSTROUTING,
                    &format!("masquerade {} leaving {}", subnet_text(addr, len), n.bridge),
                    vec![
                        is(family.field("saddr"), subnet()),
                        is_not(meta(MetaKey::Oifname), bridge()),
                        masquerade(),
                    ],
                );
            }
            // Not by interface: a bridged hairpin (br_netfilter) has no input interface.
            self.rule(
                POSTROUTING,
                &format!("hairpin on {}", n.bridge),
                vec![
                    is(meta(MetaKey::Oifname), bridge()),
                    is_in(ct_status(), text("dnat")),
                    is(family.field("saddr"), subnet()),
                    is(family.field("daddr"), subnet()),
                    masquerade(),
                ],
            );
        }
        self.rule(
            POSTROUTING,
            &format!("published ports reached from the host into {}", n.bridge),
            vec![
                is(meta(MetaKey::Oifname), bridge()),
                is_in(ct_status(), text("dnat")),
                is(fib_type(FibFlag::Saddr), text("local")),
                masquerade(),
            ],
        );
    }

    fn forward(&mut self, networks: &[NetworkRules]) {
        if networks.is_empty() {
            return;
        }
        for n in networks.iter().filter(|n| n.internal) {
            let bridge = || text(n.bridge.clone());
            self.rule(
                FORWARD,
                &format!("internal network {}: nothing out", n.bridge),
                vec![
                    is(meta(MetaKey::Iifname), bridge()),
                    is_not(meta(MetaKey::Oifname), bridge()),
                    drop(),
                ],
            );
            self.rule(
                FORWARD,
                &format!("internal network {}: nothing in", n.bridge),
                vec![
                    is(meta(MetaKey::Oifname), bridge()),
                    is_not(meta(MetaKey::Iifname), bridge()),
                    drop(),
                ],
            );
        }
        self.rule(
            FORWARD,
            "published ports, from any network",
            vec![is_in(ct_status(), text("dnat")), accept()],
        );
        for n in networks {
            let bridge = || text(n.bridge.clone());
            let (verdict, what) = if n.icc {
                (accept(), "traffic within")
            } else {
                (drop(), "icc off: nothing within")
            };
            self.rule(
                FORWARD,
                &format!("{what} {}", n.bridge),
                vec![
                    is(meta(MetaKey::Iifname), bridge()),
                    is(meta(MetaKey::Oifname), bridge()),
                    verdict,
                ],
            );
        }
        if networks.len() > 1 {
            self.rule(
                FORWARD,
                "isolation between networks",
                vec![
                    is(meta(MetaKey::Iifname), bridge_set(networks)),
                    is(meta(MetaKey::Oifname), bridge_set(networks)),
                    drop(),
                ],
            );
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    fn field(self, name: &'static str) -> Expression<'static> {
        field(
            match self {
                Family::V4 => "ip",
                Family::V6 => "ip6",
            },
            name,
        )
    }

    fn nfproto(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }

    fn nat(self) -> NATFamily {
        match self {
            Family::V4 => NATFamily::IP,
            Family::V6 => NATFamily::IP6,
        }
    }
}

/// The rule's host address, None for every address.
fn host_ip(p: &PortRule) -> Option<IpAddr> {
    p.host_ip.filter(|ip| !ip.is_unspecified())
}

fn text(s: impl Into<String>) -> Expression<'static> {
    Expression::String(Cow::Owned(s.into()))
}

/// `{ "br-a", "br-b" }`: the networks' bridges.
fn bridge_set(networks: &[NetworkRules]) -> Expression<'static> {
    Expression::Named(NamedExpression::Set(
        networks
            .iter()
            .map(|n| SetItem::Element(text(n.bridge.clone())))
            .collect(),
    ))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn field(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: protocol.into(),
            field: field.into(),
        },
    )))
}

/// `fib saddr|daddr type`
fn fib_type(flag: FibFlag) -> Expression<'static> {
    Expression::Named(NamedExpression::Fib(Fib {
        result: FibResult::Type,
        flags: [flag].into_iter().collect(),
    }))
}

fn ct_status() -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: "status".into(),
        family: None,
        dir: None,
    }))
}

fn prefix(addr: IpAddr, len: u8) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(text(network(addr, len).to_string())),
        len: len.into(),
    }))
}

fn matches(
    left: Expression<'static>,
    op: Operator,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

fn is(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    matches(left, Operator::EQ, right)
}

fn is_not(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    matches(left, Operator::NEQ, right)
}

/// A flag test (`ct status dnat`).
fn is_in(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    matches(left, Operator::IN, right)
}

fn masquerade() -> Statement<'static> {
    Statement::Masquerade(None)
}

fn accept() -> Statement<'static> {
    Statement::Accept(None)
}

fn drop() -> Statement<'static> {
    Statement::Drop(None)
}

/// `addr` with the host bits of a /`len` cleared (`len` already checked).
fn network(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

fn subnet_text(addr: IpAddr, len: u8) -> String {
    format!("{}/{len}", network(addr, len))
}

fn socket_text(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(ip) => format!("{ip}:{port}"),
        IpAddr::V6(ip) => format!("[{ip}]:{port}"),
    }
}

fn inet_table(name: &str) -> Table<'static> {
    Table {
        family: NfFamily::INet,
        name: name.to_owned().into(),
        handle: None,
    }
}

fn check_table(table: &str) -> Result<()> {
    let ok = !table.is_empty()
        && table.len() <= 64
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(FirewallError::Invalid {
            what: format!("table inet {table:?}"),
            reason: "a table name is 1 to 64 letters, digits, '_' and '-'".to_owned(),
        })
    }
}

/// A name the kernel could give a link (and /proc/sys may be joined with).
fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
}

fn check(r: &Ruleset) -> Result<()> {
    check_table(&r.table)?;
    let invalid = |reason: String| FirewallError::Invalid {
        what: format!("table inet {}", r.table),
        reason,
    };
    for n in &r.networks {
        if !valid_ifname(&n.bridge) {
            return Err(invalid(format!("invalid bridge name {:?}", n.bridge)));
        }
        for &(addr, len) in &n.subnets {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            if len > max {
                return Err(invalid(format!(
                    "subnet {addr}/{len} of {}: the prefix length must be 0 to {max}",
                    n.bridge
                )));
            }
        }
    }
    for p in &r.ports {
        let what = || {
            format!(
                "port {}/{} to {}",
                p.host_port,
                p.proto.as_str(),
                socket_text(p.container_ip, p.container_port)
            )
        };
        if p.host_port == 0 || p.container_port == 0 {
            return Err(invalid(format!("{}: port 0", what())));
        }
        if let Some(ip) = host_ip(p) {
            if ip.is_ipv4() != p.container_ip.is_ipv4() {
                return Err(invalid(format!(
                    "{}: host address {ip} is not of the container address's family",
                    what()
                )));
            }
        }
        if !valid_ifname(&p.bridge) {
            return Err(invalid(format!(
                "{}: invalid bridge name {:?}",
                what(),
                p.bridge
            )));
        }
    }
    Ok(())
}

/// The nft program: `BERTH_NFT`, else `nft` from PATH.
fn nft_program() -> OsString {
    std::env::var_os("BERTH_NFT").unwrap_or_else(|| "nft".into())
}

/// Runs one nft transaction.
fn nft(what: &str, doc: &Nftables<'_>) -> Result<()> {
    let program = nft_program();
    let command = format!("{} -j -f -", program.to_string_lossy());
    let spawn_error = |source| FirewallError::Spawn {
        what: what.to_owned(),
        command: command.clone(),
        source,
    };
    let payload = serde_json::to_vec(doc).map_err(|e| spawn_error(io::Error::other(e)))?;
    let mut child = Command::new(&program)
        .args(["-j", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    // nft reads the whole batch before it says anything, so writing all of it first
    // cannot deadlock; a write error is reported after nft's own, which explains it.
    let written = match child.stdin.take() {
        Some(mut stdin) => stdin.write_all(&payload),
        None => Err(io::Error::other("nft's stdin was not piped")),
    };
    let out = child.wait_with_output().map_err(spawn_error)?;
    if !out.status.success() {
        return Err(FirewallError::Failed {
            what: what.to_owned(),
            command,
            stderr: stderr_of(&out),
        });
    }
    written.map_err(spawn_error)
}

fn stderr_of(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if stderr.is_empty() {
        format!("{} and printed nothing", out.status)
    } else {
        stderr
    }
}

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
const IPV6_FORWARD: &str = "/proc/sys/net/ipv6/conf/all/forwarding";

/// Turns IPv4 forwarding on or off (`net.ipv4.ip_forward`) in the calling thread's
/// network namespace.
pub fn set_ip_forward(on: bool) -> io::Result<()> {
    write_sysctl(Path::new(IP_FORWARD), on)
}

/// Whether IPv4 forwarding is on in the calling thread's network namespace.
pub fn ip_forward() -> io::Result<bool> {
    read_sysctl(Path::new(IP_FORWARD))
}

/// Turns IPv6 forwarding on or off on every interface (`net.ipv6.conf.all.forwarding`).
/// Separate from IPv4 because it has a cost: interfaces that forward ignore router
/// advertisements unless their accept_ra is 2, so only a host with an IPv6 network
/// should turn it on.
pub fn set_ipv6_forward(on: bool) -> io::Result<()> {
    write_sysctl(Path::new(IPV6_FORWARD), on)
}

/// Whether IPv6 forwarding is on for all interfaces.
pub fn ipv6_forward() -> io::Result<bool> {
    read_sysctl(Path::new(IPV6_FORWARD))
}

/// `net.ipv4.conf.BRIDGE.route_localnet=1`: lets packets from 127.0.0.0/8, DNATed to a
/// container, leave through the bridge (and their replies come back), so that
/// `127.0.0.1:PORT` reaches a published port. In the calling thread's network namespace.
pub fn set_route_localnet(bridge: &str) -> io::Result<()> {
    if !valid_ifname(bridge) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid bridge name {bridge:?}"),
        ));
    }
    write_sysctl(
        &Path::new("/proc/sys/net/ipv4/conf")
            .join(bridge)
            .join("route_localnet"),
        true,
    )
}

fn write_sysctl(path: &Path, on: bool) -> io::Result<()> {
    let value = if on { "1" } else { "0" };
    std::fs::write(path, value).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("writing {value} to {}: {e}", path.display()),
        )
    })
}

fn read_sysctl(path: &Path) -> io::Result<bool> {
    let s = std::fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?;
    match s.trim() {
        "0" => Ok(false),
        "1" => Ok(true),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: expected 0 or 1, found {other:?}", path.display()),
        )),
    }
}

/// The comment berth's iptables rules carry.
const COMMENT: &str = "berth";

/// The FORWARD rules a bridge needs where dockerd set the policy to DROP: everything
/// leaving the bridge, and what comes back to it (replies, and published ports).
fn coexistence_rules(bridge: &str) -> [Vec<&str>; 3] {
    let tail = ["-m", "comment", "--comment", COMMENT, "-j", "ACCEPT"];
    let rule = |head: &[&'static str]| -> Vec<&str> {
        let mut v: Vec<&str> = head.to_vec();
        v.insert(1, bridge);
        v.extend(tail);
        v
    };
    [
        rule(&["-i"]),
        rule(&["-o", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"]),
        rule(&["-o", "-m", "conntrack", "--ctstate", "DNAT"]),
    ]
}

/// Accepts berth's bridges in iptables' (and, for networks with IPv6, ip6tables')
/// FORWARD chain, at its top, each rule once. dockerd sets that chain's policy to DROP;
/// without these rules it would drop what berth's own table lets through. Also needed
/// for traffic within a bridge where br_netfilter is active. Where there is no iptables
/// there is nothing to do.
pub fn ensure_docker_coexistence(networks: &[NetworkRules]) -> Result<()> {
    for (tool, v6) in [("iptables", false), ("ip6tables", true)] {
        let Some(program) = find_program(tool) else {
            continue;
        };
        for n in networks {
            if v6 && !n.subnets.iter().any(|(a, _)| a.is_ipv6()) {
                continue;
            }
            check_bridge(&n.bridge, "accepting it in FORWARD")?;
            let what = format!("accepting bridge {} in {tool}'s FORWARD chain", n.bridge);
            // Each goes to the top; in reverse, they end up in order.
            for rule in coexistence_rules(&n.bridge).iter().rev() {
                if !iptables_has(&program, &what, rule)? {
                    iptables(&program, &what, "-I", rule)?;
                }
            }
        }
    }
    Ok(())
}

/// Removes what [`ensure_docker_coexistence`] added for `bridges`, from iptables and
/// ip6tables alike, and nothing else.
pub fn remove_docker_coexistence<S: AsRef<str>>(bridges: &[S]) -> Result<()> {
    for tool in ["iptables", "ip6tables"] {
        let Some(program) = find_program(tool) else {
            continue;
        };
        for bridge in bridges {
            let bridge = bridge.as_ref();
            check_bridge(bridge, "removing its FORWARD rules")?;
            let what = format!("removing bridge {bridge}'s rules from {tool}'s FORWARD chain");
            for rule in &coexistence_rules(bridge) {
                // Duplicates (added by hand, or by two racing daemons) go too.
                while iptables_has(&program, &what, rule)? {
                    iptables(&program, &what, "-D", rule)?;
                }
            }
        }
    }
    Ok(())
}

fn check_bridge(bridge: &str, doing: &str) -> Result<()> {
    if valid_ifname(bridge) {
        Ok(())
    } else {
        Err(FirewallError::Invalid {
            what: format!("{doing} for bridge {bridge:?}"),
            reason: "not a valid interface name".to_owned(),
        })
    }
}

/// `iptables -w -C FORWARD RULE`: exit 0 when the rule is there, 1 when it is not.
fn iptables_has(program: &Path, what: &str, rule: &[&str]) -> Result<bool> {
    let (command, out) = run_iptables(program, what, "-C", rule)?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(FirewallError::Failed {
            what: what.to_owned(),
            command,
            stderr: stderr_of(&out),
        }),
    }
}

fn iptables(program: &Path, what: &str, op: &str, rule: &[&str]) -> Result<()> {
    let (command, out) = run_iptables(program, what, op, rule)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(FirewallError::Failed {
            what: what.to_owned(),
            command,
            stderr: stderr_of(&out),
        })
    }
}

fn run_iptables(program: &Path, what: &str, op: &str, rule: &[&str]) -> Result<(String, Output)> {
    let mut args = vec!["-w", op, "FORWARD"];
    args.extend_from_slice(rule);
    let command = format!("{} {}", program.display(), args.join(" "));
    let out = Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| FirewallError::Spawn {
            what: what.to_owned(),
            command: command.clone(),
            source,
        })?;
    Ok((command, out))
}

/// `name` on PATH, or in /usr/sbin or /sbin (a daemon's PATH may lack them).
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn sample() -> Ruleset {
        Ruleset {
            table: "berth-unit".into(),
            networks: vec![
                NetworkRules {
                    bridge: "br-web".into(),
                    subnets: vec![(ip("172.18.0.0"), 16), (ip("fd00:18::1"), 64)],
                    internal: false,
                    masquerade: true,
                    icc: true,
                },
                NetworkRules {
                    bridge: "br-db".into(),
                    subnets: vec![(ip("172.19.0.0"), 16)],
                    internal: true,
                    masquerade: true,
                    icc: false,
                },
            ],
            ports: vec![
                PortRule {
                    proto: Proto::Tcp,
                    host_ip: None,
                    host_port: 8080,
                    container_ip: ip("172.18.0.2"),
                    container_port: 80,
                    bridge: "br-web".into(),
                },
                PortRule {
                    proto: Proto::Udp,
                    host_ip: Some(ip("192.0.2.10")),
                    host_port: 5353,
                    container_ip: ip("172.18.0.3"),
                    container_port: 53,
                    bridge: "br-web".into(),
                },
                PortRule {
                    proto: Proto::Sctp,
                    host_ip: Some(ip("::")),
                    host_port: 9999,
                    container_ip: ip("fd00:18::2"),
                    container_port: 99,
                    bridge: "br-web".into(),
                },
                PortRule {
                    proto: Proto::Tcp,
                    host_ip: None,
                    host_port: 5432,
                    container_ip: ip("172.19.0.2"),
                    container_port: 5432,
                    bridge: "br-db".into(),
                },
            ],
        }
    }

    fn rendered(r: &Ruleset) -> Vec<Value> {
        let v = serde_json::to_value(render(r).unwrap()).unwrap();
        v["nftables"].as_array().unwrap().clone()
    }

    /// The `add rule` objects of `chain`, as (comment, expr) pairs.
    fn rules(objs: &[Value], chain: &str) -> Vec<(String, Vec<Value>)> {
        objs.iter()
            .filter_map(|o| o.get("add")?.get("rule"))
            .filter(|r| r["chain"] == chain)
            .map(|r| {
                assert_eq!(r["family"], "inet");
                assert_eq!(r["table"], "berth-unit");
                (
                    r["comment"].as_str().unwrap_or_default().to_owned(),
                    r["expr"].as_array().unwrap().clone(),
                )
            })
            .collect()
    }

    fn mentions(exprs: &[Value], s: &str) -> bool {
        exprs.iter().any(|e| e.to_string().contains(s))
    }

    #[test]
    fn replaces_the_whole_table_in_one_batch() {
        let objs = rendered(&sample());
        let table = json!({"table": {"family": "inet", "name": "berth-unit"}});
        assert_eq!(objs[0], json!({"add": table}));
        assert_eq!(objs[1], json!({"delete": table}));
        assert_eq!(objs[2], json!({"add": table}));
        let chains: Vec<&Value> = objs
            .iter()
            .filter_map(|o| o.get("add")?.get("chain"))
            .collect();
        let base = |name: &str| {
            chains
                .iter()
                .find(|c| c["name"] == name)
                .map(|c| (c["type"].clone(), c["hook"].clone(), c["prio"].clone()))
        };
        assert_eq!(
            base("guard"),
            Some((json!("filter"), json!("prerouting"), json!(-300)))
        );
        assert_eq!(
            base("prerouting"),
            Some((json!("nat"), json!("prerouting"), json!(-100)))
        );
        assert_eq!(
            base("output"),
            Some((json!("nat"), json!("output"), json!(-100)))
        );
        assert_eq!(
            base("postrouting"),
            Some((json!("nat"), json!("postrouting"), json!(100)))
        );
        assert_eq!(
            base("forward"),
            Some((json!("filter"), json!("forward"), json!(0)))
        );
        assert_eq!(base("ports"), Some((Value::Null, Value::Null, Value::Null)));
        // Nothing outside the table.
        for o in &objs[3..] {
            let (_, obj) = o["add"].as_object().unwrap().iter().next().unwrap();
            assert_eq!(obj["table"], "berth-unit", "{o}");
        }
    }

    #[test]
    fn bridges_cannot_reach_the_hosts_loopback() {
        let guard = rules(&rendered(&sample()), "guard");
        assert_eq!(guard.len(), 1);
        assert_eq!(
            guard[0].1,
            vec![
                json!({"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": {"set": ["br-web", "br-db"]}}}),
                json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "127.0.0.0", "len": 8}}}}),
                json!({"drop": null}),
            ]
        );
    }

    #[test]
    fn local_addresses_jump_to_the_ports() {
        let objs = rendered(&sample());
        for chain in ["prerouting", "output"] {
            let r = rules(&objs, chain);
            assert_eq!(r.len(), 1, "{chain}");
            assert_eq!(
                r[0].1,
                vec![
                    json!({"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}}),
                    json!({"jump": {"target": "ports"}}),
                ]
            );
        }
    }

    #[test]
    fn one_dnat_per_port_specific_addresses_first() {
        let ports = rules(&rendered(&sample()), "ports");
        // The internal network's port is not published.
        assert_eq!(ports.len(), 3, "{ports:?}");
        assert!(!ports.iter().any(|(_, e)| mentions(e, "172.19.0.2")));

        // 192.0.2.10:5353/udp, the one rule with an address, comes first.
        assert_eq!(
            ports[0].1,
            vec![
                json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "192.0.2.10"}}),
                json!({"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 5353}}),
                json!({"dnat": {"addr": "172.18.0.3", "family": "ip", "port": 53}}),
            ]
        );
        assert_eq!(
            ports[0].0,
            "berth: publish 192.0.2.10:5353/udp to 172.18.0.3:53"
        );
        // Every IPv4 address.
        assert_eq!(
            ports[1].1,
            vec![
                json!({"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv4"}}),
                json!({"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8080}}),
                json!({"dnat": {"addr": "172.18.0.2", "family": "ip", "port": 80}}),
            ]
        );
        // `::` is every IPv6 address.
        assert_eq!(
            ports[2].1,
            vec![
                json!({"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv6"}}),
                json!({"match": {"op": "==", "left": {"payload": {"protocol": "sctp", "field": "dport"}}, "right": 9999}}),
                json!({"dnat": {"addr": "fd00:18::2", "family": "ip6", "port": 99}}),
            ]
        );
    }

    #[test]
    fn masquerade_and_hairpin_but_not_for_the_internal_network() {
        let post = rules(&rendered(&sample()), "postrouting");
        assert!(!post.iter().any(|(_, e)| mentions(e, "br-db")), "{post:?}");
        let masq = |family: &str, net: &str, len: u8| {
            vec![
                json!({"match": {"op": "==", "left": {"payload": {"protocol": family, "field": "saddr"}}, "right": {"prefix": {"addr": net, "len": len}}}}),
                json!({"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": "br-web"}}),
                json!({"masquerade": null}),
            ]
        };
        assert!(post.iter().any(|(_, e)| *e == masq("ip", "172.18.0.0", 16)));
        // Host bits are cleared.
        assert!(post.iter().any(|(_, e)| *e == masq("ip6", "fd00:18::", 64)));
        let hairpin = vec![
            json!({"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "br-web"}}),
            json!({"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}}),
            json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "172.18.0.0", "len": 16}}}}),
            json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "172.18.0.0", "len": 16}}}}),
            json!({"masquerade": null}),
        ];
        assert!(post.iter().any(|(_, e)| *e == hairpin), "{post:?}");
        assert!(post
            .iter()
            .any(|(_, e)| mentions(e, r#""flags":["saddr"]"#) && mentions(e, "br-web")));

        // Without masquerade, only what published ports need.
        let mut r = sample();
        r.networks[0].masquerade = false;
        let post = rules(&rendered(&r), "postrouting");
        assert!(
            !post.iter().any(|(_, e)| mentions(e, r#""op":"!=""#)),
            "{post:?}"
        );
        assert_eq!(post.len(), 3);
    }

    #[test]
    fn forward_isolates_networks_and_seals_internal_ones() {
        let fwd = rules(&rendered(&sample()), "forward");
        let comments: Vec<&str> = fwd.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            comments,
            [
                "berth: internal network br-db: nothing out",
                "berth: internal network br-db: nothing in",
                "berth: published ports, from any network",
                "berth: traffic within br-web",
                "berth: icc off: nothing within br-db",
                "berth: isolation between networks",
            ]
        );
        assert_eq!(
            fwd[0].1,
            vec![
                json!({"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "br-db"}}),
                json!({"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": "br-db"}}),
                json!({"drop": null}),
            ]
        );
        assert_eq!(fwd[4].1.last(), Some(&json!({"drop": null})));
        assert_eq!(fwd[3].1.last(), Some(&json!({"accept": null})));
        let set = json!({"set": ["br-web", "br-db"]});
        assert_eq!(
            fwd[5].1,
            vec![
                json!({"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": set}}),
                json!({"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": set}}),
                json!({"drop": null}),
            ]
        );
    }

    #[test]
    fn an_empty_ruleset_is_an_empty_table() {
        let objs = rendered(&Ruleset {
            table: "berth-unit".into(),
            ..Ruleset::default()
        });
        let rule_count = objs
            .iter()
            .filter(|o| o.get("add").and_then(|a| a.get("rule")).is_some())
            .count();
        // Only the two jumps to the (empty) ports chain.
        assert_eq!(rule_count, 2);
    }

    #[test]
    fn bad_input_is_an_error_naming_the_table() {
        let mut r = sample();
        r.ports[1].host_ip = Some(ip("2001:db8::1"));
        let e = render(&r).unwrap_err().to_string();
        assert!(
            e.starts_with("table inet berth-unit: port 5353/udp to 172.18.0.3:53"),
            "{e}"
        );
        assert!(e.contains("2001:db8::1"), "{e}");

        let mut r = sample();
        r.networks[0].subnets.push((ip("10.0.0.0"), 33));
        assert!(render(&r).unwrap_err().to_string().contains("10.0.0.0/33"));

        let mut r = sample();
        r.networks[0].bridge = "a-name-far-too-long".into();
        assert!(render(&r)
            .unwrap_err()
            .to_string()
            .contains("a-name-far-too-long"));

        for bad in ["", "has space", "semi;colon", "x".repeat(65).as_str()] {
            let r = Ruleset {
                table: bad.to_owned(),
                ..Ruleset::default()
            };
            assert!(
                matches!(render(&r), Err(FirewallError::Invalid { .. })),
                "{bad:?}"
            );
        }
        assert!(remove("../x").is_err());
    }

    #[test]
    fn nft_errors_name_the_table_the_command_and_stderr() {
        let e = FirewallError::Failed {
            what: "replacing table inet berth".into(),
            command: "nft -j -f -".into(),
            stderr: "Error: Could not process rule: No such file or directory".into(),
        };
        assert_eq!(
            e.to_string(),
            "replacing table inet berth: `nft -j -f -` failed: Error: Could not process rule: No such file or directory"
        );
    }

    #[test]
    fn coexistence_rules_name_the_bridge() {
        let [i, rel, dnat] = coexistence_rules("br-x");
        assert_eq!(i.join(" "), "-i br-x -m comment --comment berth -j ACCEPT");
        assert_eq!(
            rel.join(" "),
            "-o br-x -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment berth -j ACCEPT"
        );
        assert_eq!(
            dnat.join(" "),
            "-o br-x -m conntrack --ctstate DNAT -m comment --comment berth -j ACCEPT"
        );
    }

    #[test]
    fn networks_have_their_host_bits_cleared() {
        assert_eq!(network(ip("172.18.3.4"), 16), ip("172.18.0.0"));
        assert_eq!(network(ip("10.1.2.3"), 0), ip("0.0.0.0"));
        assert_eq!(network(ip("10.1.2.3"), 32), ip("10.1.2.3"));
        assert_eq!(network(ip("fd00:1:2:3::9"), 48), ip("fd00:1:2::"));
        assert_eq!(network(ip("fd00::9"), 128), ip("fd00::9"));
        assert_eq!(network(ip("fd00::9"), 0), ip("::"));
    }
}
