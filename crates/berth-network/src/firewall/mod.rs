//! berth's packet filter for bridge networks: outbound masquerade, published ports as
//! DNAT in the kernel (no proxy process), hairpin, isolation between networks and
//! `--internal` networks, in rules berth owns alone. The desired state is a plain
//! [`Ruleset`], put into the kernel by one of two backends, chosen once
//! ([`Firewall::choose`]): [`nft`] renders it into one nftables table and replaces that
//! table atomically; [`iptables`], for hosts without a working nft, renders it into
//! chains of berth's own and replaces each table's share atomically with
//! `iptables-restore`. Both take their rules out again whole.
//!
//! What the rules do, whatever carries them:
//! - the guard (before conntrack, at raw priority): drops packets from a bridge to
//!   127.0.0.0/8. route_localnet, which `127.0.0.1:PORT` needs, would otherwise let a
//!   container (with CAP_NET_RAW, Docker's default) reach services the host binds to
//!   its loopback (CVE-2020-8558 in kube-proxy). A reply to a host client on
//!   127.0.0.1 is not caught: it arrives masqueraded, addressed to the bridge, and
//!   conntrack restores 127.0.0.1 only after the guard.
//! - destination NAT (prerouting and output): a packet for a local address goes
//!   through the published ports, one DNAT rule each. Nothing is excluded by input
//!   interface: with no proxy, a container reaching a published port through the host
//!   (itself, a neighbour, another network) must be DNATed like any other client.
//! - source NAT (postrouting): a network's subnets are masqueraded when they leave its
//!   bridge; DNATed connections into a bridge are masqueraded when they come from the
//!   host itself (`127.0.0.1:PORT` needs route_localnet on the bridge, see
//!   [`set_route_localnet`]) or from the bridge's own subnet (hairpin, so that replies
//!   come back through the host).
//! - forward: an internal network's bridge exchanges nothing with any other
//!   interface; DNATed connections (published ports) are accepted; then traffic within
//!   a bridge is accepted, or dropped for `icc: false`; then traffic between two
//!   berth bridges is dropped.
//!
//! Where br_netfilter is active (bridge-nf-call-iptables: built into many kernels,
//! loaded by dockerd), a DNATed packet whose new destination lies on the bridge it came
//! from is bridged rather than routed, and reaches postrouting with no input interface.
//! Hairpin masquerade therefore matches addresses (source and destination in the
//! network's subnet), not interfaces, and a container reaching its own published port
//! needs hairpin mode on its bridge port ([`crate::link::Netlink::set_hairpin`]).
//! Without br_netfilter, frames bridged between two containers never reach the IP
//! hooks: `icc: false` then stops only routed traffic.
//!
//! IPv6 has no route_localnet: the kernel never routes ::1 off the host, so
//! `[::1]:PORT` reaches no container (Docker's proxy answered there).
//!
//! Around the rules: the sysctls they rely on ([`set_ip_forward`],
//! [`set_ipv6_forward`], [`set_route_localnet`]) and, for hosts where dockerd set
//! iptables' FORWARD policy to DROP, the accept rules berth's bridges need there
//! ([`ensure_docker_coexistence`]): a drop in any base chain drops the packet, whatever
//! berth's own table says.

mod docker;
pub mod iptables;
pub mod nft;
mod sysctl;

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::ports::Proto;

pub use docker::{ensure_docker_coexistence, remove_docker_coexistence};
pub use sysctl::{ip_forward, ipv6_forward, set_ip_forward, set_ipv6_forward, set_route_localnet};

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
    /// Neither backend works on this host, and a bridge network needs rules.
    #[error("no packet filter for berth's bridge networks: {0}")]
    Unavailable(String),
}

pub type Result<T, E = FirewallError> = std::result::Result<T, E>;

/// What carries berth's rules: `--firewall-backend` (Docker 28's option of that name
/// takes the same two values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Nftables,
    Iptables,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Nftables => "nftables",
            Backend::Iptables => "iptables",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Backend, String> {
        match s {
            "nftables" => Ok(Backend::Nftables),
            "iptables" => Ok(Backend::Iptables),
            _ => Err(format!(
                "invalid firewall backend {s:?}: expected nftables or iptables"
            )),
        }
    }
}

/// berth's packet filter with its backend chosen once ([`Firewall::choose`]): the one
/// thing the engine calls to put its [`Ruleset`] into the kernel and to take it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Firewall {
    Nftables,
    Iptables,
    /// Neither backend works here: why, for the error when a network needs rules.
    Unavailable(String),
}

impl Firewall {
    pub fn new(backend: Backend) -> Firewall {
        match backend {
            Backend::Nftables => Firewall::Nftables,
            Backend::Iptables => Firewall::Iptables,
        }
    }

    /// `want`; or, left to choose, nftables where `nft list tables` works, else
    /// iptables where `iptables-restore` and `ip6tables-restore` are found.
    pub fn choose(want: Option<Backend>) -> Firewall {
        if let Some(b) = want {
            return Firewall::new(b);
        }
        match nft::usable() {
            Ok(()) => Firewall::Nftables,
            Err(_) if iptables::found() => Firewall::Iptables,
            Err(nft) => Firewall::Unavailable(format!(
                "{nft}; and iptables-restore and ip6tables-restore are not both found in PATH, /usr/sbin or /sbin"
            )),
        }
    }

    pub fn backend(&self) -> Option<Backend> {
        match self {
            Firewall::Nftables => Some(Backend::Nftables),
            Firewall::Iptables => Some(Backend::Iptables),
            Firewall::Unavailable(_) => None,
        }
    }

    /// Replaces berth's rules with `r`, atomically. With nftables this also keeps
    /// berth's bridges accepted in iptables' FORWARD chain where iptables works
    /// ([`ensure_docker_coexistence`]; where it does not, there is no dockerd's DROP
    /// to get past); the iptables backend's own chain holds those rules.
    pub fn apply(&self, r: &Ruleset) -> Result<()> {
        match self {
            Firewall::Nftables => {
                nft::apply(r)?;
                let _ = ensure_docker_coexistence(&r.networks);
                Ok(())
            }
            Firewall::Iptables => iptables::apply(r),
            Firewall::Unavailable(why) => Err(FirewallError::Unavailable(why.clone())),
        }
    }

    /// Takes berth's rules for table `table` (and, with nftables, what
    /// [`ensure_docker_coexistence`] added for `bridges`) out of the kernel.
    pub fn remove<S: AsRef<str>>(&self, table: &str, bridges: &[S]) -> Result<()> {
        match self {
            Firewall::Nftables => {
                let table = nft::remove(table);
                remove_docker_coexistence(bridges).and(table)
            }
            Firewall::Iptables => iptables::remove(table),
            Firewall::Unavailable(_) => Ok(()),
        }
    }

    /// Takes out what the other backend left for table `table` and `bridges` (a daemon
    /// that ran with it and was killed): its DNAT rules would outlive the containers,
    /// and with iptables, accept rules left at the top of FORWARD would come before
    /// berth's own chain. Best effort: a backend that does not work left nothing.
    pub fn remove_other<S: AsRef<str>>(&self, table: &str, bridges: &[S]) {
        match self {
            Firewall::Nftables => {
                let _ = iptables::remove(table);
            }
            Firewall::Iptables => {
                let _ = Firewall::Nftables.remove(table, bridges);
            }
            Firewall::Unavailable(_) => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// An address family.
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
}

/// The rule's host address, None for every address.
fn host_ip(p: &PortRule) -> Option<IpAddr> {
    p.host_ip.filter(|ip| !ip.is_unspecified())
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

/// `what` names the table (or what stands for it) in the error.
fn check_table(table: &str, what: &str) -> Result<()> {
    let ok = !table.is_empty()
        && table.len() <= 64
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(FirewallError::Invalid {
            what: what.to_owned(),
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

/// Checks what the backends cannot express; `what` names the table in the error.
fn check(r: &Ruleset, what: &str) -> Result<()> {
    let invalid = |reason: String| FirewallError::Invalid {
        what: what.to_owned(),
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

/// `publish [HOST_IP:]HOST_PORT/PROTO to CONTAINER_IP:PORT`, the comment on a port's
/// rule.
fn describe_port(p: &PortRule) -> String {
    let host = match host_ip(p) {
        Some(ip) => socket_text(ip, p.host_port),
        None => p.host_port.to_string(),
    };
    format!(
        "publish {host}/{} to {}",
        p.proto.as_str(),
        socket_text(p.container_ip, p.container_port)
    )
}

/// The ports to publish, in rule order: a port on one address goes before the same port
/// on every address. Those on internal networks are left out.
fn specific_ports_first(r: &Ruleset) -> Vec<&PortRule> {
    let internal = |bridge: &str| r.networks.iter().any(|n| n.internal && n.bridge == bridge);
    let (specific, wildcard): (Vec<&PortRule>, Vec<&PortRule>) = r
        .ports
        .iter()
        .filter(|p| !internal(&p.bridge))
        .partition(|p| host_ip(p).is_some());
    specific.into_iter().chain(wildcard).collect()
}

/// Runs `program ARGS` with `input` on its stdin; an error quotes its stderr.
fn pipe_to(what: &str, program: &OsStr, args: &[&str], input: &[u8]) -> Result<()> {
    let command = format!("{} {}", program.to_string_lossy(), args.join(" "));
    let spawn_error = |source| FirewallError::Spawn {
        what: what.to_owned(),
        command: command.clone(),
        source,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    // Both programs read all their input before they say anything, so writing all of
    // it first cannot deadlock; a write error is reported after the program's own,
    // which explains it.
    let written = match child.stdin.take() {
        Some(mut stdin) => stdin.write_all(input),
        None => Err(io::Error::other("stdin was not piped")),
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

/// Runs `program ARGS`: the command as text (for errors) and what it did.
fn run(what: &str, program: &OsStr, args: &[&str]) -> Result<(String, Output)> {
    let command = format!("{} {}", program.to_string_lossy(), args.join(" "));
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| FirewallError::Spawn {
            what: what.to_owned(),
            command: command.clone(),
            source,
        })?;
    Ok((command, out))
}

/// Runs `program ARGS`; its stdout, or an error quoting its stderr.
fn run_for_stdout(what: &str, program: &OsStr, args: &[&str]) -> Result<String> {
    let (command, out) = run(what, program, args)?;
    if !out.status.success() {
        return Err(FirewallError::Failed {
            what: what.to_owned(),
            command,
            stderr: stderr_of(&out),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn stderr_of(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if stderr.is_empty() {
        format!("{} and printed nothing", out.status)
    } else {
        stderr
    }
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

    pub(super) fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The ruleset the backends' rendering tests share: two networks (one internal,
    /// with icc off), ports on every address and on one, in both families.
    pub(super) fn sample() -> Ruleset {
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

    #[test]
    fn backends_by_name() {
        for b in [Backend::Nftables, Backend::Iptables] {
            assert_eq!(b.as_str().parse::<Backend>(), Ok(b));
            assert_eq!(Firewall::new(b).backend(), Some(b));
            assert_eq!(Firewall::choose(Some(b)), Firewall::new(b));
        }
        let e = "nft".parse::<Backend>().unwrap_err();
        assert_eq!(
            e,
            "invalid firewall backend \"nft\": expected nftables or iptables"
        );
    }

    #[test]
    fn without_a_backend_rules_are_an_error_saying_why() {
        let fw = Firewall::Unavailable("`nft list tables` failed: no nft".into());
        assert_eq!(fw.backend(), None);
        let e = fw.apply(&sample()).unwrap_err().to_string();
        assert_eq!(
            e,
            "no packet filter for berth's bridge networks: `nft list tables` failed: no nft"
        );
        // Nothing was put in, so there is nothing to take out.
        assert!(fw.remove("berth", &["br-web"]).is_ok());
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
