//! IPv4 and IPv6 subnets in CIDR form (`172.17.0.0/16`, `fd00:1::/64`): parsing,
//! containment, overlap, and the addresses a network hands out.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A subnet given in CIDR notation that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubnetError {
    #[error("invalid subnet {0:?}: expected an IPv4 CIDR such as 172.18.0.0/16")]
    Syntax(String),
    #[error("invalid subnet {0:?}: the prefix length must be 0 to 32")]
    Prefix(String),
    #[error("invalid subnet {0:?}: expected an IPv6 CIDR such as fd00:1::/64")]
    Syntax6(String),
}

/// An IPv4 network: its address (host bits cleared) and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    prefix: u8,
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl Ipv4Net {
    /// The network of `addr` with `prefix` bits (host bits are cleared, as `ip route`
    /// shows it). None for a prefix over 32.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Self> {
        (prefix <= 32).then(|| Ipv4Net {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    pub fn network(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(mask(self.prefix))
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !mask(self.prefix))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }

    /// Whether the two share any address.
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        let p = self.prefix.min(other.prefix);
        u32::from(self.addr) & mask(p) == u32::from(other.addr) & mask(p)
    }

    /// Whether all of `other` lies inside this network.
    pub fn covers(&self, other: &Ipv4Net) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }

    /// The first and last address a host may take: the network and broadcast
    /// addresses are excluded, except in /31 and /32 networks (RFC 3021), which have
    /// none. Docker gives the first of them to the gateway.
    pub fn host_range(&self) -> (Ipv4Addr, Ipv4Addr) {
        let first = u32::from(self.addr);
        let last = u32::from(self.broadcast());
        if self.prefix >= 31 {
            (Ipv4Addr::from(first), Ipv4Addr::from(last))
        } else {
            (Ipv4Addr::from(first + 1), Ipv4Addr::from(last - 1))
        }
    }

    /// The subnets of length `prefix` this one splits into, in order (none if `prefix`
    /// is shorter than this network's own).
    pub fn split(&self, prefix: u8) -> impl Iterator<Item = Ipv4Net> + '_ {
        let count: u64 = if prefix < self.prefix || prefix > 32 {
            0
        } else {
            1u64 << (prefix - self.prefix)
        };
        let step = if prefix >= 32 {
            1u64
        } else {
            1u64 << (32 - prefix)
        };
        let base = u64::from(u32::from(self.addr));
        (0..count).filter_map(move |i| {
            let a = u32::try_from(base + i * step).ok()?;
            Ipv4Net::new(Ipv4Addr::from(a), prefix)
        })
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = SubnetError;

    /// `A.B.C.D/N`; host bits are cleared (Docker accepts `172.18.0.1/16` as the
    /// subnet `172.18.0.0/16`).
    fn from_str(s: &str) -> Result<Self, SubnetError> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| SubnetError::Syntax(s.to_string()))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| SubnetError::Syntax(s.to_string()))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| SubnetError::Syntax(s.to_string()))?;
        Ipv4Net::new(addr, prefix).ok_or_else(|| SubnetError::Prefix(s.to_string()))
    }
}

impl Serialize for Ipv4Net {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Net {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An IPv6 network: its address (host bits cleared) and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6Net {
    addr: Ipv6Addr,
    prefix: u8,
}

fn mask6(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

impl Ipv6Net {
    /// The network of `addr` with `prefix` bits (host bits cleared). None for a prefix
    /// over 128.
    pub fn new(addr: Ipv6Addr, prefix: u8) -> Option<Self> {
        (prefix <= 128).then(|| Ipv6Net {
            addr: Ipv6Addr::from(u128::from(addr) & mask6(prefix)),
            prefix,
        })
    }

    pub fn network(&self) -> Ipv6Addr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The subnet's last address.
    pub fn last(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) | !mask6(self.prefix))
    }

    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & mask6(self.prefix) == u128::from(self.addr)
    }

    /// Whether the two share any address.
    pub fn overlaps(&self, other: &Ipv6Net) -> bool {
        let m = mask6(self.prefix.min(other.prefix));
        u128::from(self.addr) & m == u128::from(other.addr) & m
    }

    /// Whether all of `other` lies inside this network.
    pub fn covers(&self, other: &Ipv6Net) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }

    /// The first and last address a host may take: all but the subnet-router anycast
    /// address (the network address itself), except in /127 and /128 networks (RFC
    /// 6164). IPv6 has no broadcast address. Docker gives the first to the gateway.
    pub fn host_range(&self) -> (Ipv6Addr, Ipv6Addr) {
        let first = u128::from(self.addr);
        if self.prefix >= 127 {
            (self.addr, self.last())
        } else {
            (Ipv6Addr::from(first + 1), self.last())
        }
    }
}

impl fmt::Display for Ipv6Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv6Net {
    type Err = SubnetError;

    /// `ADDR/N`; host bits are cleared, as for [`Ipv4Net`].
    fn from_str(s: &str) -> Result<Self, SubnetError> {
        let bad = || SubnetError::Syntax6(s.to_string());
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv6Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        Ipv6Net::new(addr, prefix).ok_or_else(bad)
    }
}

impl Serialize for Ipv6Net {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv6Net {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_clears_host_bits() {
        assert_eq!(net("172.18.0.1/16").to_string(), "172.18.0.0/16");
        assert_eq!(net("10.1.2.3/32").to_string(), "10.1.2.3/32");
        assert_eq!(net("0.0.0.0/0").netmask(), Ipv4Addr::new(0, 0, 0, 0));
        assert_eq!(
            net("192.168.4.0/22").netmask(),
            Ipv4Addr::new(255, 255, 252, 0)
        );
        for bad in [
            "172.18.0.0",
            "172.18.0/16",
            "x/8",
            "1.2.3.4/33",
            "1.2.3.4/-1",
            "",
        ] {
            let e = bad.parse::<Ipv4Net>().unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn containment_and_overlap() {
        let a = net("172.17.0.0/16");
        assert!(a.contains(Ipv4Addr::new(172, 17, 255, 255)));
        assert!(!a.contains(Ipv4Addr::new(172, 18, 0, 0)));
        assert!(a.overlaps(&net("172.17.5.0/24")));
        assert!(net("172.17.5.0/24").overlaps(&a));
        assert!(!a.overlaps(&net("172.18.0.0/16")));
        assert!(net("0.0.0.0/0").overlaps(&a));
        assert!(a.covers(&net("172.17.5.0/24")));
        assert!(!net("172.17.5.0/24").covers(&a));
    }

    #[test]
    fn host_ranges() {
        assert_eq!(
            net("172.17.0.0/16").host_range(),
            (
                Ipv4Addr::new(172, 17, 0, 1),
                Ipv4Addr::new(172, 17, 255, 254)
            )
        );
        assert_eq!(
            net("172.17.0.0/16").broadcast(),
            Ipv4Addr::new(172, 17, 255, 255)
        );
        assert_eq!(
            net("10.0.0.0/31").host_range(),
            (Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(10, 0, 0, 1))
        );
    }

    #[test]
    fn splits_into_equal_parts() {
        let parts: Vec<String> = net("192.168.0.0/16")
            .split(20)
            .map(|n| n.to_string())
            .collect();
        assert_eq!(parts.len(), 16);
        assert_eq!(parts[0], "192.168.0.0/20");
        assert_eq!(parts[1], "192.168.16.0/20");
        assert_eq!(parts[15], "192.168.240.0/20");
        assert_eq!(net("10.0.0.0/24").split(16).count(), 0);
        assert_eq!(
            net("255.255.255.0/24")
                .split(32)
                .last()
                .unwrap()
                .to_string(),
            "255.255.255.255/32"
        );
    }

    #[test]
    fn serde_as_a_string() {
        let n = net("172.20.0.0/16");
        let j = serde_json::to_string(&n).unwrap();
        assert_eq!(j, "\"172.20.0.0/16\"");
        assert_eq!(serde_json::from_str::<Ipv4Net>(&j).unwrap(), n);
        assert!(serde_json::from_str::<Ipv4Net>("\"nope\"").is_err());
    }

    #[test]
    fn ipv6_networks() {
        let n: Ipv6Net = "fd00:1::5/64".parse().unwrap();
        assert_eq!(n.to_string(), "fd00:1::/64");
        assert_eq!(
            n.last(),
            "fd00:1::ffff:ffff:ffff:ffff".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(n.host_range().0, "fd00:1::1".parse::<Ipv6Addr>().unwrap());
        assert!(n.contains("fd00:1::9".parse().unwrap()));
        assert!(!n.contains("fd00:2::9".parse().unwrap()));
        assert!(n.covers(&"fd00:1::/80".parse().unwrap()));
        assert!(!n.covers(&"fd00::/16".parse().unwrap()));
        assert!(n.overlaps(&"fd00::/16".parse().unwrap()));
        assert!(!n.overlaps(&"fd00:2::/64".parse().unwrap()));
        let host: Ipv6Net = "fd00::7/128".parse().unwrap();
        assert_eq!(host.host_range(), (host.network(), host.network()));
        for bad in ["fd00::", "fd00::/129", "10.0.0.0/8", "x/64"] {
            let e = bad.parse::<Ipv6Net>().unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
        let j = serde_json::to_string(&n).unwrap();
        assert_eq!(j, "\"fd00:1::/64\"");
        assert_eq!(serde_json::from_str::<Ipv6Net>(&j).unwrap(), n);
    }
}
