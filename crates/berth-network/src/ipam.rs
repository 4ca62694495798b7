//! Address management for IPv4 networks: each network's subnet, gateway and optional
//! allocation range (`--ip-range`), and which endpoint holds which address. Addresses
//! are handed out in order after the last one given, wrapping around, as Docker's
//! allocator does, so a just-released address is not reused at once. The whole state
//! is serde-serialisable: the engine writes it atomically after every change, which
//! keeps allocations across daemon restarts.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::subnet::Ipv4Net;

/// Why an address could not be reserved or released. Each names the network, subnet
/// or address at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("network {0} has no address space")]
    UnknownNetwork(String),
    #[error("network {0} already has an address space")]
    NetworkExists(String),
    #[error("invalid gateway {gateway}: not in subnet {subnet}")]
    GatewayOutside { gateway: Ipv4Addr, subnet: Ipv4Net },
    #[error("invalid ip range {range}: not in subnet {subnet}")]
    RangeOutside { range: Ipv4Net, subnet: Ipv4Net },
    #[error("invalid address {ip}: not in subnet {subnet}")]
    NotInSubnet { ip: Ipv4Addr, subnet: Ipv4Net },
    #[error("invalid address {ip}: the network or broadcast address of {subnet}")]
    Reserved { ip: Ipv4Addr, subnet: Ipv4Net },
    #[error("Address already in use: {ip}")]
    InUse { ip: Ipv4Addr },
    #[error("no available addresses in {range} (network {network})")]
    Exhausted { network: String, range: Ipv4Net },
}

/// One network's address space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Space {
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    /// Where container addresses come from when none is asked for; the subnet if
    /// unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<Ipv4Net>,
    /// Held addresses and who holds them (an endpoint id; the gateway is held by
    /// [`GATEWAY`]).
    pub held: BTreeMap<Ipv4Addr, String>,
    /// The last address handed out, where the next search starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Ipv4Addr>,
}

/// The holder recorded for a network's gateway address.
pub const GATEWAY: &str = "gateway";

/// The address spaces of every network, by network id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipam {
    pub spaces: BTreeMap<String, Space>,
}

impl Space {
    fn check(&self, ip: Ipv4Addr) -> Result<(), IpamError> {
        let subnet = self.subnet;
        if !subnet.contains(ip) {
            return Err(IpamError::NotInSubnet { ip, subnet });
        }
        let (first, last) = subnet.host_range();
        if ip < first || ip > last {
            return Err(IpamError::Reserved { ip, subnet });
        }
        if self.held.contains_key(&ip) {
            return Err(IpamError::InUse { ip });
        }
        Ok(())
    }

    /// The next free address of the range after `last`, wrapping around.
    fn next_free(&self) -> Option<Ipv4Addr> {
        let range = self.range.unwrap_or(self.subnet);
        let (sub_first, sub_last) = self.subnet.host_range();
        let (r_first, r_last) = range.host_range();
        let first = u32::from(r_first.max(sub_first));
        let last = u32::from(r_last.min(sub_last));
        if first > last {
            return None;
        }
        let size = u64::from(last - first) + 1;
        let start = match self.last {
            Some(l) if (first..=last).contains(&u32::from(l)) => {
                u64::from(u32::from(l) - first) + 1
            }
            _ => 0,
        };
        (0..size)
            .map(|i| Ipv4Addr::from(first + u32::try_from((start + i) % size).unwrap_or(0)))
            .find(|ip| !self.held.contains_key(ip))
    }
}

impl Ipam {
    /// Adds network `id` with `subnet`; the gateway is `gateway` or the subnet's first
    /// host address, and is held at once. Returns the gateway.
    pub fn add_network(
        &mut self,
        id: &str,
        subnet: Ipv4Net,
        gateway: Option<Ipv4Addr>,
        range: Option<Ipv4Net>,
    ) -> Result<Ipv4Addr, IpamError> {
        if self.spaces.contains_key(id) {
            return Err(IpamError::NetworkExists(id.to_string()));
        }
        let gateway = gateway.unwrap_or_else(|| subnet.host_range().0);
        if !subnet.contains(gateway) {
            return Err(IpamError::GatewayOutside { gateway, subnet });
        }
        if let Some(range) = range {
            if !subnet.covers(&range) {
                return Err(IpamError::RangeOutside { range, subnet });
            }
        }
        let mut space = Space {
            subnet,
            gateway,
            range,
            held: BTreeMap::new(),
            last: None,
        };
        space.check(gateway)?;
        space.held.insert(gateway, GATEWAY.to_string());
        self.spaces.insert(id.to_string(), space);
        Ok(gateway)
    }

    /// Forgets network `id` and every address in it.
    pub fn remove_network(&mut self, id: &str) -> Result<Space, IpamError> {
        self.spaces
            .remove(id)
            .ok_or_else(|| IpamError::UnknownNetwork(id.to_string()))
    }

    pub fn space(&self, id: &str) -> Option<&Space> {
        self.spaces.get(id)
    }

    /// Reserves an address in network `id` for `holder`: `want` if given (it must be
    /// free and a host address of the subnet), else the next free one of the range.
    pub fn allocate(
        &mut self,
        id: &str,
        holder: &str,
        want: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr, IpamError> {
        let space = self
            .spaces
            .get_mut(id)
            .ok_or_else(|| IpamError::UnknownNetwork(id.to_string()))?;
        let ip = match want {
            Some(ip) => {
                space.check(ip)?;
                ip
            }
            None => space.next_free().ok_or_else(|| IpamError::Exhausted {
                network: id.to_string(),
                range: space.range.unwrap_or(space.subnet),
            })?,
        };
        space.held.insert(ip, holder.to_string());
        if want.is_none() {
            space.last = Some(ip);
        }
        Ok(ip)
    }

    /// Releases every address `holder` holds, in every network (a container's
    /// teardown, also after a crash). Returns what was released.
    pub fn release_holder(&mut self, holder: &str) -> Vec<(String, Ipv4Addr)> {
        let mut out = Vec::new();
        for (id, space) in &mut self.spaces {
            space.held.retain(|ip, h| {
                let mine = h == holder;
                if mine {
                    out.push((id.clone(), *ip));
                }
                !mine
            });
        }
        out
    }

    /// Releases the addresses `holder` holds in network `id` only (a container leaving
    /// one of its networks). Returns what was released.
    pub fn release(&mut self, id: &str, holder: &str) -> Vec<Ipv4Addr> {
        let mut out = Vec::new();
        if let Some(space) = self.spaces.get_mut(id) {
            space.held.retain(|ip, h| {
                let mine = h == holder;
                if mine {
                    out.push(*ip);
                }
                !mine
            });
        }
        out
    }

    /// Every holder other than gateways, with its addresses: what a leak check or a
    /// start-up sweep compares with the containers that exist.
    pub fn holders(&self) -> BTreeMap<String, Vec<(String, Ipv4Addr)>> {
        let mut out: BTreeMap<String, Vec<(String, Ipv4Addr)>> = BTreeMap::new();
        for (id, space) in &self.spaces {
            for (ip, h) in &space.held {
                if h != GATEWAY {
                    out.entry(h.clone()).or_default().push((id.clone(), *ip));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn gateway_first_then_containers_in_order() {
        let mut m = Ipam::default();
        assert_eq!(
            m.add_network("bridge", net("172.17.0.0/16"), None, None)
                .unwrap(),
            ip("172.17.0.1")
        );
        assert_eq!(m.allocate("bridge", "c1", None).unwrap(), ip("172.17.0.2"));
        assert_eq!(m.allocate("bridge", "c2", None).unwrap(), ip("172.17.0.3"));
        // Released addresses are not reused at once.
        assert_eq!(
            m.release_holder("c1"),
            vec![("bridge".to_string(), ip("172.17.0.2"))]
        );
        assert_eq!(m.allocate("bridge", "c3", None).unwrap(), ip("172.17.0.4"));
        // Releasing in one network leaves the holder's addresses in the others.
        m.add_network("user", net("172.18.0.0/16"), None, None)
            .unwrap();
        assert_eq!(m.allocate("user", "c3", None).unwrap(), ip("172.18.0.2"));
        assert_eq!(m.release("user", "c3"), vec![ip("172.18.0.2")]);
        assert!(m.release("user", "c3").is_empty());
        assert!(m.release("nope", "c3").is_empty());
        assert_eq!(
            m.holders()["c3"],
            vec![("bridge".to_string(), ip("172.17.0.4"))]
        );
        assert_eq!(
            m.add_network("bridge", net("10.0.0.0/8"), None, None)
                .unwrap_err(),
            IpamError::NetworkExists("bridge".into())
        );
    }

    #[test]
    fn wraps_around_and_runs_out() {
        let mut m = Ipam::default();
        m.add_network("n", net("10.9.0.0/29"), None, None).unwrap();
        let got: Vec<Ipv4Addr> = (0..5)
            .map(|i| m.allocate("n", &format!("c{i}"), None).unwrap())
            .collect();
        assert_eq!(got.first(), Some(&ip("10.9.0.2")));
        assert_eq!(got.last(), Some(&ip("10.9.0.6")));
        let e = m.allocate("n", "c5", None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no available addresses in 10.9.0.0/29 (network n)"
        );
        m.release_holder("c1");
        assert_eq!(m.allocate("n", "c6", None).unwrap(), ip("10.9.0.3"));
    }

    #[test]
    fn asked_for_addresses_and_ranges() {
        let mut m = Ipam::default();
        let gw = m
            .add_network(
                "u",
                net("172.30.0.0/16"),
                Some(ip("172.30.255.254")),
                Some(net("172.30.5.0/24")),
            )
            .unwrap();
        assert_eq!(gw, ip("172.30.255.254"));
        assert_eq!(m.allocate("u", "a", None).unwrap(), ip("172.30.5.1"));
        assert_eq!(
            m.allocate("u", "b", Some(ip("172.30.9.9"))).unwrap(),
            ip("172.30.9.9")
        );
        let errs = [
            (Some(ip("172.30.9.9")), "Address already in use: 172.30.9.9"),
            (
                Some(ip("172.30.255.254")),
                "Address already in use: 172.30.255.254",
            ),
            (
                Some(ip("10.0.0.1")),
                "invalid address 10.0.0.1: not in subnet 172.30.0.0/16",
            ),
            (
                Some(ip("172.30.255.255")),
                "invalid address 172.30.255.255: the network or broadcast address of 172.30.0.0/16",
            ),
        ];
        for (want, msg) in errs {
            assert_eq!(m.allocate("u", "x", want).unwrap_err().to_string(), msg);
        }
        assert_eq!(
            m.allocate("nope", "x", None).unwrap_err().to_string(),
            "network nope has no address space"
        );
        assert!(matches!(
            m.add_network("v", net("10.1.0.0/16"), Some(ip("10.2.0.1")), None),
            Err(IpamError::GatewayOutside { .. })
        ));
        assert!(matches!(
            m.add_network("v", net("10.1.0.0/16"), None, Some(net("10.0.0.0/8"))),
            Err(IpamError::RangeOutside { .. })
        ));
    }

    #[test]
    fn survives_a_round_trip_through_json() {
        let mut m = Ipam::default();
        m.add_network("bridge", net("172.17.0.0/16"), None, None)
            .unwrap();
        m.allocate("bridge", "c1", None).unwrap();
        m.add_network("user", net("172.18.0.0/16"), None, None)
            .unwrap();
        m.allocate("user", "c1", None).unwrap();
        m.allocate("user", "c2", None).unwrap();
        let text = serde_json::to_string(&m).unwrap();
        let mut back: Ipam = serde_json::from_str(&text).unwrap();
        assert_eq!(back, m);
        // The cursor persists too: the next address follows the last one given.
        assert_eq!(
            back.allocate("bridge", "c3", None).unwrap(),
            ip("172.17.0.3")
        );
        let holders = back.holders();
        assert_eq!(holders["c1"].len(), 2);
        assert!(!holders.contains_key(GATEWAY));
        assert_eq!(back.remove_network("user").unwrap().held.len(), 3);
        assert!(back.remove_network("user").is_err());
    }
}
