//! Address management for networks: each network's IPv4 subnet, gateway and optional
//! allocation range (`--ip-range`), its IPv6 subnet likewise when it has one, and which
//! endpoint holds which address. Addresses are handed out in order after the last one
//! given, wrapping around, as Docker's allocator does, so a just-released address is
//! not reused at once (in IPv6 too: the first container after the gateway gets
//! `::2`). The whole state is serde-serialisable; the engine rebuilds it from its
//! running containers rather than writing it.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::subnet::{Ipv4Net, Ipv6Net};

/// Why an address could not be reserved or released. Each names the network, subnet
/// or address at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("network {0} has no address space")]
    UnknownNetwork(String),
    #[error("network {0} has no IPv6 address space")]
    NoIpv6(String),
    #[error("network {0} already has an address space")]
    NetworkExists(String),
    #[error("invalid gateway {gateway}: not in subnet {subnet}")]
    GatewayOutside { gateway: IpAddr, subnet: String },
    #[error("invalid ip range {range}: not in subnet {subnet}")]
    RangeOutside { range: String, subnet: String },
    #[error("invalid address {ip}: not in subnet {subnet}")]
    NotInSubnet { ip: IpAddr, subnet: String },
    #[error("invalid address {ip}: the network or broadcast address of {subnet}")]
    Reserved { ip: IpAddr, subnet: String },
    #[error("Address already in use: {ip}")]
    InUse { ip: IpAddr },
    #[error("no available addresses in {range} (network {network})")]
    Exhausted { network: String, range: String },
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

/// One network's IPv6 address space, as [`Space`] is its IPv4 one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Space6 {
    pub subnet: Ipv6Net,
    pub gateway: Ipv6Addr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<Ipv6Net>,
    pub held: BTreeMap<Ipv6Addr, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Ipv6Addr>,
}

/// The address spaces of every network, by network id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipam {
    pub spaces: BTreeMap<String, Space>,
    /// The IPv6 spaces of the networks that have one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spaces6: BTreeMap<String, Space6>,
}

impl Space6 {
    fn check(&self, ip: Ipv6Addr) -> Result<(), IpamError> {
        let subnet = self.subnet;
        if !subnet.contains(ip) {
            return Err(IpamError::NotInSubnet {
                ip: ip.into(),
                subnet: subnet.to_string(),
            });
        }
        // As dockerd: the subnet-router anycast address counts as taken.
        if ip < subnet.host_range().0 || self.held.contains_key(&ip) {
            return Err(IpamError::InUse { ip: ip.into() });
        }
        Ok(())
    }

    /// The next free address of the range after `last`, wrapping around. A /64 has
    /// 2^64 addresses: only as many candidates are looked at as could be held, plus one.
    fn next_free(&self) -> Option<Ipv6Addr> {
        let range = self.range.unwrap_or(self.subnet);
        // A range's own first address is a host address if the subnet's is not.
        let (sub_first, sub_last) = self.subnet.host_range();
        let first = u128::from(range.network().max(sub_first));
        let last = u128::from(range.last().min(sub_last));
        if first > last {
            return None;
        }
        // last - first < 2^128 - 1, so the count cannot overflow.
        let size = last - first + 1;
        let start = match self.last {
            Some(l) if (first..=last).contains(&u128::from(l)) => u128::from(l) - first + 1,
            _ => 0,
        };
        let tries = size.min(self.held.len() as u128 + 1);
        (0..tries)
            .map(|i| Ipv6Addr::from(first + (start % size + i) % size))
            .find(|ip| !self.held.contains_key(ip))
    }
}

impl Space {
    fn check(&self, ip: Ipv4Addr) -> Result<(), IpamError> {
        let subnet = self.subnet;
        if !subnet.contains(ip) {
            return Err(IpamError::NotInSubnet {
                ip: ip.into(),
                subnet: subnet.to_string(),
            });
        }
        let (first, last) = subnet.host_range();
        if ip < first || ip > last {
            return Err(IpamError::Reserved {
                ip: ip.into(),
                subnet: subnet.to_string(),
            });
        }
        if self.held.contains_key(&ip) {
            return Err(IpamError::InUse { ip: ip.into() });
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
            return Err(IpamError::GatewayOutside {
                gateway: gateway.into(),
                subnet: subnet.to_string(),
            });
        }
        if let Some(range) = range {
            if !subnet.covers(&range) {
                return Err(IpamError::RangeOutside {
                    range: range.to_string(),
                    subnet: subnet.to_string(),
                });
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

    /// Gives network `id` (which has its IPv4 space) an IPv6 `subnet` too; the gateway
    /// is `gateway` or the subnet's first address after the network address, held at
    /// once. Returns the gateway.
    pub fn add_network6(
        &mut self,
        id: &str,
        subnet: Ipv6Net,
        gateway: Option<Ipv6Addr>,
        range: Option<Ipv6Net>,
    ) -> Result<Ipv6Addr, IpamError> {
        if !self.spaces.contains_key(id) {
            return Err(IpamError::UnknownNetwork(id.to_string()));
        }
        if self.spaces6.contains_key(id) {
            return Err(IpamError::NetworkExists(id.to_string()));
        }
        let gateway = gateway.unwrap_or_else(|| subnet.host_range().0);
        if !subnet.contains(gateway) {
            return Err(IpamError::GatewayOutside {
                gateway: gateway.into(),
                subnet: subnet.to_string(),
            });
        }
        if let Some(range) = range {
            if !subnet.covers(&range) {
                return Err(IpamError::RangeOutside {
                    range: range.to_string(),
                    subnet: subnet.to_string(),
                });
            }
        }
        let mut space = Space6 {
            subnet,
            gateway,
            range,
            held: BTreeMap::new(),
            last: None,
        };
        space.check(gateway)?;
        space.held.insert(gateway, GATEWAY.to_string());
        self.spaces6.insert(id.to_string(), space);
        Ok(gateway)
    }

    /// Forgets network `id` and every address in it (IPv6 ones included).
    pub fn remove_network(&mut self, id: &str) -> Result<Space, IpamError> {
        self.spaces6.remove(id);
        self.spaces
            .remove(id)
            .ok_or_else(|| IpamError::UnknownNetwork(id.to_string()))
    }

    pub fn space6(&self, id: &str) -> Option<&Space6> {
        self.spaces6.get(id)
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
                range: space.range.unwrap_or(space.subnet).to_string(),
            })?,
        };
        space.held.insert(ip, holder.to_string());
        if want.is_none() {
            space.last = Some(ip);
        }
        Ok(ip)
    }

    /// Reserves an IPv6 address in network `id` for `holder`, as [`Ipam::allocate`]
    /// does an IPv4 one.
    pub fn allocate6(
        &mut self,
        id: &str,
        holder: &str,
        want: Option<Ipv6Addr>,
    ) -> Result<Ipv6Addr, IpamError> {
        let space = self
            .spaces6
            .get_mut(id)
            .ok_or_else(|| IpamError::NoIpv6(id.to_string()))?;
        let ip = match want {
            Some(ip) => {
                space.check(ip)?;
                ip
            }
            None => space.next_free().ok_or_else(|| IpamError::Exhausted {
                network: id.to_string(),
                range: space.range.unwrap_or(space.subnet).to_string(),
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
    pub fn release_holder(&mut self, holder: &str) -> Vec<(String, IpAddr)> {
        let mut out = Vec::new();
        for (id, space) in &mut self.spaces {
            space.held.retain(|ip, h| {
                let mine = h == holder;
                if mine {
                    out.push((id.clone(), IpAddr::V4(*ip)));
                }
                !mine
            });
        }
        for (id, space) in &mut self.spaces6 {
            space.held.retain(|ip, h| {
                let mine = h == holder;
                if mine {
                    out.push((id.clone(), IpAddr::V6(*ip)));
                }
                !mine
            });
        }
        out
    }

    /// Releases the addresses `holder` holds in network `id` only (a container leaving
    /// one of its networks). Returns what was released.
    pub fn release(&mut self, id: &str, holder: &str) -> Vec<IpAddr> {
        let mut out = Vec::new();
        if let Some(space) = self.spaces.get_mut(id) {
            space.held.retain(|ip, h| {
                let mine = h == holder;
                if mine {
                    out.push(IpAddr::V4(*ip));
                }
                !mine
            });
        }
        if let Some(space) = self.spaces6.get_mut(id) {
            space.held.retain(|ip, h| {
                let mine = h == holder;
                if mine {
                    out.push(IpAddr::V6(*ip));
                }
                !mine
            });
        }
        out
    }

    /// Every holder other than gateways, with its addresses: what a leak check or a
    /// start-up sweep compares with the containers that exist.
    pub fn holders(&self) -> BTreeMap<String, Vec<(String, IpAddr)>> {
        let mut out: BTreeMap<String, Vec<(String, IpAddr)>> = BTreeMap::new();
        let v4 = self
            .spaces
            .iter()
            .flat_map(|(id, s)| s.held.iter().map(move |(ip, h)| (id, IpAddr::V4(*ip), h)));
        let v6 = self
            .spaces6
            .iter()
            .flat_map(|(id, s)| s.held.iter().map(move |(ip, h)| (id, IpAddr::V6(*ip), h)));
        for (id, ip, h) in v4.chain(v6) {
            if h != GATEWAY {
                out.entry(h.clone()).or_default().push((id.clone(), ip));
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
            vec![("bridge".to_string(), ip("172.17.0.2").into())]
        );
        assert_eq!(m.allocate("bridge", "c3", None).unwrap(), ip("172.17.0.4"));
        // Releasing in one network leaves the holder's addresses in the others.
        m.add_network("user", net("172.18.0.0/16"), None, None)
            .unwrap();
        assert_eq!(m.allocate("user", "c3", None).unwrap(), ip("172.18.0.2"));
        assert_eq!(
            m.release("user", "c3"),
            vec![IpAddr::from(ip("172.18.0.2"))]
        );
        assert!(m.release("user", "c3").is_empty());
        assert!(m.release("nope", "c3").is_empty());
        assert_eq!(
            m.holders()["c3"],
            vec![("bridge".to_string(), ip("172.17.0.4").into())]
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

    fn ip6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_in_order_after_the_gateway_and_asked_for() {
        let mut m = Ipam::default();
        m.add_network("u", net("172.30.0.0/16"), None, None)
            .unwrap();
        assert_eq!(
            m.add_network6("nope", "fd00:1::/64".parse().unwrap(), None, None)
                .unwrap_err(),
            IpamError::UnknownNetwork("nope".into())
        );
        assert_eq!(
            m.allocate6("u", "a", None).unwrap_err().to_string(),
            "network u has no IPv6 address space"
        );
        let gw = m
            .add_network6("u", "fd00:1::/64".parse().unwrap(), None, None)
            .unwrap();
        assert_eq!(gw, ip6("fd00:1::1"));
        assert_eq!(m.allocate6("u", "a", None).unwrap(), ip6("fd00:1::2"));
        assert_eq!(
            m.allocate6("u", "b", Some(ip6("fd00:1::99"))).unwrap(),
            ip6("fd00:1::99")
        );
        assert_eq!(m.allocate6("u", "c", None).unwrap(), ip6("fd00:1::3"));
        for (want, msg) in [
            ("fd00:1::99", "Address already in use: fd00:1::99"),
            ("fd00:1::1", "Address already in use: fd00:1::1"),
            ("fd00:1::", "Address already in use: fd00:1::"),
            (
                "fd00:2::5",
                "invalid address fd00:2::5: not in subnet fd00:1::/64",
            ),
        ] {
            assert_eq!(
                m.allocate6("u", "x", Some(ip6(want)))
                    .unwrap_err()
                    .to_string(),
                msg
            );
        }
        // Releasing the holder frees both families; released addresses are not
        // reused at once.
        let v4 = m.allocate("u", "a", None).unwrap();
        let mut gone = m.release_holder("a");
        gone.sort();
        assert_eq!(
            gone,
            vec![
                ("u".to_string(), IpAddr::V4(v4)),
                ("u".to_string(), IpAddr::V6(ip6("fd00:1::2")))
            ]
        );
        assert_eq!(m.allocate6("u", "d", None).unwrap(), ip6("fd00:1::4"));
        assert_eq!(m.release("u", "b"), vec![IpAddr::V6(ip6("fd00:1::99"))]);
        assert_eq!(
            m.allocate6("u", "e", Some(ip6("fd00:1::99"))).unwrap(),
            ip6("fd00:1::99")
        );
        assert_eq!(
            m.holders()["e"],
            vec![("u".to_string(), ip6("fd00:1::99").into())]
        );
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Ipam>(&text).unwrap(), m);
        m.remove_network("u").unwrap();
        assert!(m.space6("u").is_none());
    }

    #[test]
    fn ipv6_ranges_wrap_and_run_out() {
        let mut m = Ipam::default();
        m.add_network("n", net("10.9.0.0/24"), None, None).unwrap();
        assert!(matches!(
            m.add_network6(
                "n",
                "fd00:9::/64".parse().unwrap(),
                None,
                Some("fd00:8::/120".parse().unwrap())
            ),
            Err(IpamError::RangeOutside { .. })
        ));
        assert!(matches!(
            m.add_network6(
                "n",
                "fd00:9::/64".parse().unwrap(),
                Some(ip6("fd00:8::1")),
                None
            ),
            Err(IpamError::GatewayOutside { .. })
        ));
        m.add_network6(
            "n",
            "fd00:9::/64".parse().unwrap(),
            None,
            Some("fd00:9::10/126".parse().unwrap()),
        )
        .unwrap();
        let got: Vec<Ipv6Addr> = (0..4)
            .map(|i| m.allocate6("n", &format!("c{i}"), None).unwrap())
            .collect();
        assert_eq!(got.first(), Some(&ip6("fd00:9::10")));
        assert_eq!(got.last(), Some(&ip6("fd00:9::13")));
        assert_eq!(
            m.allocate6("n", "c9", None).unwrap_err().to_string(),
            "no available addresses in fd00:9::10/126 (network n)"
        );
        m.release_holder("c1");
        assert_eq!(m.allocate6("n", "c5", None).unwrap(), ip6("fd00:9::11"));
        // A whole /64 is not searched address by address.
        m.add_network("big", net("10.8.0.0/24"), None, None)
            .unwrap();
        m.add_network6("big", "fd00:7::/64".parse().unwrap(), None, None)
            .unwrap();
        let last = m.spaces6.get_mut("big").unwrap();
        last.last = Some(ip6("fd00:7::ffff:ffff:ffff:fffe"));
        assert_eq!(
            m.allocate6("big", "x", None).unwrap(),
            ip6("fd00:7::ffff:ffff:ffff:ffff")
        );
        assert_eq!(m.allocate6("big", "y", None).unwrap(), ip6("fd00:7::2"));
    }
}
