//! MAC addresses users give (`--mac-address`, compose's `mac_address`), checked the
//! same way by the CLI side and the daemon.

/// Checks a user-given MAC: six hex octets separated by colons, a unicast address.
/// The error names it.
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
    fn user_macs() {
        assert_eq!(
            parse("02:42:AC:11:00:02").unwrap(),
            [2, 0x42, 0xac, 0x11, 0, 2]
        );
        for bad in [
            "02:42:ac:11:00",
            "02:42:ac:11:00:0g",
            "2:42:ac:11:00:02",
            "02-42-ac-11-00-02",
            "",
        ] {
            assert!(parse(bad).unwrap_err().contains("not a valid mac"), "{bad}");
        }
        assert!(parse("01:00:5e:00:00:01")
            .unwrap_err()
            .contains("multicast"));
    }
}
