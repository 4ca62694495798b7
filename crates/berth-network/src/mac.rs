//! Docker's container MAC addresses: `02:42` (locally administered) followed by the
//! container's IPv4 address, so 172.17.0.2 is `02:42:ac:11:00:02`. (A MAC users give
//! is checked by `berth_types::mac::parse`.)

use std::net::Ipv4Addr;

/// The MAC Docker derives from a container's IPv4 address.
pub fn from_ipv4(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("02:42:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_from_the_address() {
        assert_eq!(from_ipv4(Ipv4Addr::new(172, 17, 0, 2)), "02:42:ac:11:00:02");
        assert_eq!(
            from_ipv4(Ipv4Addr::new(192, 168, 240, 254)),
            "02:42:c0:a8:f0:fe"
        );
    }
}
