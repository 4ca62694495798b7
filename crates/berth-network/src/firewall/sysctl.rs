//! The sysctls berth's rules rely on, in the calling thread's network namespace:
//! forwarding (IPv4, IPv6) and route_localnet on a bridge.

use std::io;
use std::path::Path;

use super::valid_ifname;

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
