//! Address pools: where a network's subnet comes from when none is given. Docker's
//! defaults are 172.17.0.0/16 to 172.31.0.0/16 (one /16 each), then 192.168.0.0/16 cut
//! into /20s; the first that overlaps no route on the host (another engine's bridge
//! included) and no other network of berth's is taken.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::routes::Route;
use crate::subnet::Ipv4Net;

/// A base network cut into subnets of `size` bits (daemon.json
/// `default-address-pools`: `{"base": "172.17.0.0/16", "size": 16}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub base: Ipv4Net,
    pub size: u8,
}

/// Docker's default address pools.
pub fn docker_default_pools() -> Vec<Pool> {
    let mut pools: Vec<Pool> = (17..=31)
        .filter_map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16))
        .map(|base| Pool { base, size: 16 })
        .collect();
    if let Some(base) = Ipv4Net::new(Ipv4Addr::new(192, 168, 0, 0), 16) {
        pools.push(Pool { base, size: 20 });
    }
    pools
}

/// The first subnet of the pools that overlaps neither a network in `taken` nor a
/// route of the host's (the default route aside, which covers everything). None when
/// the pools are used up.
pub fn pick(pools: &[Pool], taken: &[Ipv4Net], routes: &[Route]) -> Option<Ipv4Net> {
    let busy: Vec<Ipv4Net> = taken
        .iter()
        .copied()
        .chain(
            routes
                .iter()
                .map(|r| r.destination)
                .filter(|d| d.prefix() > 0),
        )
        .collect();
    pools
        .iter()
        .flat_map(|p| p.base.split(p.size))
        .find(|candidate| !busy.iter().any(|b| b.overlaps(candidate)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn route(dest: &str) -> Route {
        Route {
            iface: "eth0".into(),
            destination: net(dest),
            gateway: None,
        }
    }

    #[test]
    fn dockers_pools() {
        let p = docker_default_pools();
        assert_eq!(p.len(), 16);
        assert_eq!(p[0].base.to_string(), "172.17.0.0/16");
        assert_eq!(p[14].base.to_string(), "172.31.0.0/16");
        assert_eq!(
            (p[15].base.to_string(), p[15].size),
            ("192.168.0.0/16".into(), 20)
        );
    }

    #[test]
    fn picks_the_first_free_subnet() {
        let pools = docker_default_pools();
        assert_eq!(
            pick(&pools, &[], &[route("0.0.0.0/0")]),
            Some(net("172.17.0.0/16"))
        );
        // Another engine's docker0, a wider route over the next, and berth's own.
        let routes = [
            route("0.0.0.0/0"),
            route("172.17.0.0/16"),
            route("172.18.0.0/15"),
        ];
        assert_eq!(
            pick(&pools, &[net("172.20.0.0/16")], &routes),
            Some(net("172.21.0.0/16"))
        );
        // A narrow route inside a candidate rules the whole candidate out.
        assert_eq!(
            pick(&pools, &[], &[route("172.17.3.0/24")]),
            Some(net("172.18.0.0/16"))
        );
        // Everything in 172.16/12 taken: 192.168.0.0/20, unless the LAN is there.
        let all = [route("172.16.0.0/12")];
        assert_eq!(pick(&pools, &[], &all), Some(net("192.168.0.0/20")));
        let lan = [route("172.16.0.0/12"), route("192.168.1.0/24")];
        assert_eq!(pick(&pools, &[], &lan), Some(net("192.168.16.0/20")));
        assert_eq!(
            pick(
                &pools,
                &[],
                &[route("172.0.0.0/8"), route("192.168.0.0/16")]
            ),
            None
        );
    }
}
