//! Which proxy a download goes through, by Go's rules (`httpproxy.FromEnvironment`,
//! what dockerd's `http.Get` uses): HTTPS_PROXY for https URLs and HTTP_PROXY for http
//! ones (the upper-case name first, the first non-empty value counting, no fallback
//! from one scheme to the other), except for hosts NO_PROXY names and for localhost
//! and loopback addresses, which are never proxied.

use std::net::IpAddr;

/// The proxy for a request to `scheme://host:port`, from `env`; None to go direct.
pub(crate) fn proxy_for(
    scheme: &str,
    host: &str,
    port: u16,
    env: &[(String, String)],
) -> Option<String> {
    let proxy = match scheme {
        "https" => lookup(env, "HTTPS_PROXY", "https_proxy"),
        "http" => lookup(env, "HTTP_PROXY", "http_proxy"),
        _ => None,
    }?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return None;
    }
    if host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
        return None;
    }
    match lookup(env, "NO_PROXY", "no_proxy") {
        Some(list) if excluded(&list, host, port) => None,
        _ => Some(proxy),
    }
}

/// The first non-empty value of `upper`, then `lower`.
fn lookup(env: &[(String, String)], upper: &str, lower: &str) -> Option<String> {
    [upper, lower].iter().find_map(|name| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    })
}

/// Whether NO_PROXY's `list` (comma-separated) excludes `host:port`. An entry is `*`
/// (everything), an IP address or CIDR block, or a domain, each maybe with a port:
/// `example.com` matches it and its subdomains, `.example.com` and `*.example.com`
/// its subdomains only.
fn excluded(list: &str, host: &str, port: u16) -> bool {
    let host = host.to_ascii_lowercase();
    let ip = host.parse::<IpAddr>().ok();
    list.split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            if let Some((net, bits)) = entry.split_once('/') {
                return match (ip, net.parse::<IpAddr>(), bits.parse::<u32>()) {
                    (Some(ip), Ok(net), Ok(bits)) => in_block(ip, net, bits),
                    _ => false,
                };
            }
            let (name, want_port) = split_port(&entry);
            if want_port.is_some_and(|p| p != port) {
                return false;
            }
            if let Ok(e) = name.parse::<IpAddr>() {
                return ip == Some(e);
            }
            let name = name.strip_prefix('*').unwrap_or(name);
            match name.strip_prefix('.') {
                Some(suffix) => host.ends_with(&format!(".{suffix}")),
                None => host == name || host.ends_with(&format!(".{name}")),
            }
        })
}

/// `host:port`, `[v6]:port`, or a bare host or address.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((addr, tail)) = rest.split_once(']') {
            return (addr, tail.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match entry.rsplit_once(':') {
        // More than one colon without brackets: an IPv6 address, no port.
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(p) => (h, Some(p)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

fn in_block(ip: IpAddr, net: IpAddr, bits: u32) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_scheme_has_its_own_variable() {
        let e = env(&[("HTTP_PROXY", "http://p:3128"), ("https_proxy", "p2:8080")]);
        assert_eq!(
            proxy_for("http", "example.com", 80, &e).as_deref(),
            Some("http://p:3128")
        );
        assert_eq!(
            proxy_for("https", "example.com", 443, &e).as_deref(),
            Some("p2:8080")
        );
        let only_http = env(&[("HTTP_PROXY", "http://p:3128")]);
        assert_eq!(proxy_for("https", "example.com", 443, &only_http), None);
        // Upper case wins; an empty value counts as unset.
        let both = env(&[("http_proxy", "lower:1"), ("HTTP_PROXY", "upper:1")]);
        assert_eq!(
            proxy_for("http", "a.b", 80, &both).as_deref(),
            Some("upper:1")
        );
        let empty = env(&[("HTTP_PROXY", ""), ("http_proxy", "lower:1")]);
        assert_eq!(
            proxy_for("http", "a.b", 80, &empty).as_deref(),
            Some("lower:1")
        );
    }

    #[test]
    fn loopback_is_never_proxied() {
        let e = env(&[("HTTP_PROXY", "http://p:3128")]);
        for host in ["localhost", "LOCALHOST", "127.0.0.1", "127.9.9.9", "[::1]"] {
            assert_eq!(proxy_for("http", host, 80, &e), None, "{host}");
        }
    }

    #[test]
    fn no_proxy_entries_match_as_go_matches_them() {
        let list =
            "foo.com, .bar.com,*.baz.com,10.0.0.0/8,192.168.1.7,qux.com:8080,[2001:db8::1]:443";
        let e = env(&[("HTTPS_PROXY", "p:1"), ("no_proxy", list)]);
        let direct = |host: &str, port: u16| proxy_for("https", host, port, &e).is_none();
        assert!(direct("foo.com", 443));
        assert!(direct("www.foo.com", 443));
        assert!(!direct("notfoo.com", 443));
        assert!(!direct("bar.com", 443));
        assert!(direct("a.bar.com", 443));
        assert!(!direct("baz.com", 443));
        assert!(direct("x.baz.com", 443));
        assert!(direct("10.2.3.4", 443));
        assert!(!direct("11.2.3.4", 443));
        assert!(direct("192.168.1.7", 443));
        assert!(!direct("192.168.1.8", 443));
        assert!(direct("qux.com", 8080));
        assert!(!direct("qux.com", 443));
        assert!(direct("[2001:db8::1]", 443));
        assert!(!direct("[2001:db8::2]", 443));
        let all = env(&[("HTTPS_PROXY", "p:1"), ("NO_PROXY", "*")]);
        assert_eq!(proxy_for("https", "example.com", 443, &all), None);
    }
}
