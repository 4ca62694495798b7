//! berth's container networking, under the engine (docs/architecture.md). The address
//! plan, with no I/O of its own: IPv4 subnets ([`subnet`]), the host's routes as the
//! kernel lists them ([`routes`]), Docker's default address pools and the choice of a
//! subnet that overlaps nothing on the host ([`pool`]), the allocation of container
//! addresses within a network ([`ipam`], serialisable so the engine persists it),
//! Docker's address-derived MACs ([`mac`]), a container's /etc/hosts and
//! /etc/resolv.conf ([`etc`]), the environment of legacy links ([`links`]) and the
//! choice of host ports for published ports ([`ports`]). Then the kernel's side:
//! bridges, veth pairs, addresses and routes over a synchronous rtnetlink socket
//! ([`link`]), and the packet filter, in one nftables table or (where nft is missing)
//! chains of berth's own in iptables: published ports as DNAT, masquerade, hairpin,
//! isolation between networks, internal networks, and room for a dockerd on the same
//! host ([`firewall`]), and the embedded DNS server at which
//! containers on user-defined networks resolve each other's names ([`dns`]).

#![forbid(unsafe_code)]

pub mod dns;
pub mod etc;
pub mod firewall;
pub mod ipam;
pub mod link;
pub mod links;
pub mod mac;
pub mod netns;
pub mod pool;
pub mod ports;
pub mod routes;
pub mod subnet;

pub use firewall::FirewallError;
pub use ipam::{Ipam, IpamError};
pub use link::{LinkError, Netlink};
pub use subnet::{Ipv4Net, Ipv6Net, SubnetError};
