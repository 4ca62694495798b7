//! berth's container networking, under the engine (docs/architecture.md). This first
//! part is the address plan, with no I/O of its own: IPv4 subnets ([`subnet`]), the
//! host's routes as the kernel lists them ([`routes`]), Docker's default address pools
//! and the choice of a subnet that overlaps nothing on the host ([`pool`]), the
//! allocation of container addresses within a network ([`ipam`], serialisable so the
//! engine persists it), Docker's address-derived MACs ([`mac`]), and a container's
//! /etc/hosts and /etc/resolv.conf ([`etc`]), and the environment of legacy links
//! ([`links`]), and the choice of host ports for published ports ([`ports`]).

#![forbid(unsafe_code)]

pub mod etc;
pub mod ipam;
pub mod links;
pub mod mac;
pub mod pool;
pub mod ports;
pub mod routes;
pub mod subnet;

pub use ipam::{Ipam, IpamError};
pub use subnet::{Ipv4Net, SubnetError};
