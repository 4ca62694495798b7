//! The host's IPv4 routes as the kernel lists them in `/proc/net/route` (the main
//! table), so a new network's subnet can avoid every one of them.

use std::net::Ipv4Addr;
use std::path::Path;

use crate::subnet::Ipv4Net;

/// One route: the interface and the destination network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub iface: String,
    pub destination: Ipv4Net,
    /// The next hop; None for a directly connected network.
    pub gateway: Option<Ipv4Addr>,
}

/// A `/proc/net/route` address field: the address's bytes in memory order, printed
/// as a native-endian hex number.
fn addr(field: &str) -> Option<Ipv4Addr> {
    let n = u32::from_str_radix(field, 16).ok()?;
    Some(Ipv4Addr::from(n.to_ne_bytes()))
}

/// Parses the text of `/proc/net/route`; lines it cannot read are skipped (the header
/// among them).
pub fn parse(text: &str) -> Vec<Route> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let dest = addr(f[1])?;
            let gateway = addr(f[2])?;
            let mask = u32::from(addr(f[7])?);
            // A netmask is ones then zeros.
            let prefix = u8::try_from(mask.leading_ones()).ok()?;
            if mask.checked_shl(u32::from(prefix)).unwrap_or(0) != 0 {
                return None;
            }
            Some(Route {
                iface: f[0].to_string(),
                destination: Ipv4Net::new(dest, prefix)?,
                gateway: (!gateway.is_unspecified()).then_some(gateway),
            })
        })
        .collect()
}

/// The host's routes, read from `path` (normally `/proc/net/route`).
pub fn read(path: &Path) -> std::io::Result<Vec<Route>> {
    std::fs::read_to_string(path)
        .map(|t| parse(&t))
        .map_err(|e| std::io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(ip: [u8; 4]) -> String {
        format!("{:08X}", u32::from_ne_bytes(ip))
    }

    #[test]
    fn reads_the_kernels_table() {
        let text = format!(
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
             eth0\t{}\t{}\t0003\t0\t0\t0\t{}\t0\t0\t0\n\
             eth0\t{}\t{}\t0001\t0\t0\t0\t{}\t0\t0\t0\n\
             docker0\t{}\t{}\t0001\t0\t0\t0\t{}\t0\t0\t0\n\
             bad\tzz\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n\
             holey\t{}\t00000000\t0001\t0\t0\t0\t{}\t0\t0\t0\n",
            hex([0, 0, 0, 0]),
            hex([192, 168, 1, 1]),
            hex([0, 0, 0, 0]),
            hex([192, 168, 1, 0]),
            hex([0, 0, 0, 0]),
            hex([255, 255, 255, 0]),
            hex([172, 17, 0, 0]),
            hex([0, 0, 0, 0]),
            hex([255, 255, 0, 0]),
            hex([10, 0, 0, 0]),
            hex([255, 0, 255, 0]),
        );
        let r = parse(&text);
        assert_eq!(r.len(), 3, "{r:?}");
        assert_eq!(r[0].destination.to_string(), "0.0.0.0/0");
        assert_eq!(r[0].gateway, Some(Ipv4Addr::new(192, 168, 1, 1)));
        assert_eq!(r[1].destination.to_string(), "192.168.1.0/24");
        assert_eq!(r[1].gateway, None);
        assert_eq!(r[2].iface, "docker0");
        assert_eq!(r[2].destination.to_string(), "172.17.0.0/16");
    }

    #[test]
    fn reads_this_hosts_routes() {
        let routes = read(Path::new("/proc/net/route")).unwrap();
        // Whatever the host has, the file parses into routes with valid networks.
        for r in &routes {
            assert!(r.destination.prefix() <= 32);
        }
        let e = read(Path::new("/nonexistent/route")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/route"), "{e}");
    }
}
