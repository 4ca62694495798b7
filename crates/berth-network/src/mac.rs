//! Docker's container MAC addresses: `02:42` (locally administered) followed by the
//! container's IPv4 address, so 172.17.0.2 is `02:42:ac:11:00:02`.

use std::net::Ipv4Addr;

/// The MAC Docker derives from a container's IPv4 address.
pub fn from_ipv4(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("02:42:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

/// Checks a user-given MAC (`--mac-address`): six hex octets separated by colons, a
/// unicast address. The error names it.
pub fn parse(mac: &str) -> Result<[u8; 6], String> {
    let bad = || format!("{mac} is not a valid mac address");
    let parts: Vec<&str> = mac.split(':').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut out = [0u8; 6];
    for (o, p) in out.iter_mut().zip(&parts) {
        if p.len() != 2 {
            return Err(bad());
        }
        *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if out[0] & 1 == 1 {
        return Err(format!("{mac} is a multicast address, not a container's"));
    }
    Ok(out)
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

    #[test]
    fn user_macs() {
        assert_eq!(
            parse("02:42:AC:11:00:02").unwrap(),
            [2, 0x42, 0xac, 0x11, 0, 2]
        );
        for bad in [
            "02:42:ac:11:00",
            "02:42:ac:11:00:0g",
            "2:42:ac:11:00:02",
            "",
        ] {
            assert!(parse(bad).unwrap_err().contains("not a valid mac"), "{bad}");
        }
        assert!(parse("01:00:5e:00:00:01")
            .unwrap_err()
            .contains("multicast"));
    }
}
