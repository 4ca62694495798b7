//! Which registry a reference names and how to reach it: Docker Hub's real host
//! (`docker.io` is served by `registry-1.docker.io`), its mirrors (tried first, the
//! origin after them), and whether a registry is insecure — 127.0.0.0/8, `::1` and
//! `localhost` by default, plus daemon.json's `insecure-registries` (CIDRs, which also
//! match host names resolving into them, as dockerd's do, or `host[:port]`). An
//! insecure registry is tried over HTTPS without certificate verification, then over
//! plain HTTP.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::PathBuf;

/// Docker Hub, as references name it.
pub const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's registry API is served.
const DOCKER_HUB_API: &str = "https://registry-1.docker.io";
/// The default for `max-concurrent-downloads`.
pub const DEFAULT_CONCURRENT_DOWNLOADS: usize = 3;
/// dockerd's default `max-concurrent-uploads`.
pub const DEFAULT_CONCURRENT_UPLOADS: usize = 5;
/// The default certificate directory (as `/etc/docker/certs.d`).
pub const DEFAULT_CERTS_DIR: &str = "/etc/berth/certs.d";

/// The daemon's registry settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryOptions {
    /// daemon.json `insecure-registries`: CIDRs or `host[:port]`.
    pub insecure_registries: Vec<String>,
    /// daemon.json `registry-mirrors`: `http(s)://host[:port]` mirrors of Docker Hub.
    pub mirrors: Vec<String>,
    /// Per-registry CAs and client certificates: `DIR/HOST[:PORT]/{*.crt,*.cert,*.key}`.
    pub certs_dir: PathBuf,
    /// daemon.json `max-concurrent-downloads` (layers fetched at once per pull).
    pub max_concurrent_downloads: usize,
    /// daemon.json `max-concurrent-uploads` (layers sent at once per push).
    pub max_concurrent_uploads: usize,
    pub user_agent: String,
}

impl Default for RegistryOptions {
    fn default() -> RegistryOptions {
        RegistryOptions {
            insecure_registries: Vec::new(),
            mirrors: Vec::new(),
            certs_dir: PathBuf::from(DEFAULT_CERTS_DIR),
            max_concurrent_downloads: DEFAULT_CONCURRENT_DOWNLOADS,
            max_concurrent_uploads: DEFAULT_CONCURRENT_UPLOADS,
            user_agent: format!("berth/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// One way to reach a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://host[:port]` or `http://host[:port]`, no trailing slash.
    pub base: String,
    /// `host[:port]` (the certs.d directory name).
    pub host: String,
    /// HTTPS without certificate verification.
    pub skip_verify: bool,
    /// A Docker Hub mirror: on failure the next endpoint is tried.
    pub mirror: bool,
}

/// The insecure-registry list, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsecureRegistries {
    cidrs: Vec<(IpAddr, u8)>,
    hosts: Vec<String>,
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = s.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}

fn in_cidr(ip: IpAddr, (net, bits): (IpAddr, u8)) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// `host[:port]` split into the host (brackets removed) and the port.
fn split_host(hostport: &str) -> (&str, Option<&str>) {
    if let Some(rest) = hostport.strip_prefix('[') {
        if let Some((h, tail)) = rest.split_once(']') {
            return (h, tail.strip_prefix(':'));
        }
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (hostport, None),
    }
}

impl InsecureRegistries {
    /// The defaults plus `list`; an entry that is neither a CIDR nor a `host[:port]`
    /// (a URL, say) is an error naming it.
    pub fn new(list: &[String]) -> Result<InsecureRegistries, String> {
        let mut r = InsecureRegistries {
            cidrs: vec![
                parse_cidr("127.0.0.0/8").expect("a valid CIDR"),
                parse_cidr("::1/128").expect("a valid CIDR"),
            ],
            hosts: vec!["localhost".to_string()],
        };
        for entry in list {
            let e = entry.trim();
            if e.contains("://") {
                return Err(format!("insecure registry {e} should not contain '://'"));
            }
            if e.contains('/') {
                let c = parse_cidr(e)
                    .ok_or_else(|| format!("insecure registry {e:?} is not a valid CIDR"))?;
                if !r.cidrs.contains(&c) {
                    r.cidrs.push(c);
                }
            } else if e.is_empty() {
                return Err("insecure registry: empty entry".into());
            } else if !r.hosts.iter().any(|h| h == e) {
                r.hosts.push(e.to_string());
            }
        }
        Ok(r)
    }

    /// Whether `hostport` (`host[:port]`, as in a reference) is insecure.
    pub fn is_insecure(&self, hostport: &str) -> bool {
        let (host, _) = split_host(hostport);
        // Entries match the reference's `host[:port]` exactly, as dockerd's index
        // names do; `localhost` on any port is a loopback registry.
        if self.hosts.iter().any(|h| h == hostport) || host == "localhost" {
            return true;
        }
        let ips: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            // A name: what it resolves to (as dockerd looks it up).
            Err(_) => (host, 0)
                .to_socket_addrs()
                .map(|a| a.map(|s| s.ip()).collect())
                .unwrap_or_default(),
        };
        ips.into_iter()
            .any(|ip| self.cidrs.iter().any(|c| in_cidr(ip, *c)))
    }

    /// The CIDRs, as /info's `InsecureRegistryCIDRs` lists them.
    pub fn cidrs(&self) -> Vec<String> {
        self.cidrs
            .iter()
            .map(|(ip, b)| format!("{ip}/{b}"))
            .collect()
    }

    /// The `host[:port]` entries (`localhost` first).
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }
}

/// A mirror URL as dockerd normalises it (`https://mirror.example:5000/`), or an
/// error naming it.
pub fn normalize_mirror(m: &str) -> Result<String, String> {
    let m = m.trim();
    let rest = m
        .strip_prefix("https://")
        .or_else(|| m.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("invalid mirror: unsupported scheme in {m:?}: use http:// or https://")
        })?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains(['/', '?', '#']) {
        return Err(format!(
            "invalid mirror: path, query or fragment are not allowed in {m:?}"
        ));
    }
    Ok(format!("{}{host}/", &m[..m.len() - rest.len()]))
}

/// The registry a login's server address names, as dockerd reads it: empty (or a
/// Docker Hub name, such as the docker CLI's `https://index.docker.io/v1/`) is Docker
/// Hub; otherwise the `host[:port]` of `[scheme://]host[:port][/path]` (the scheme and
/// path say nothing: an insecure registry is still tried over HTTPS first).
pub fn login_domain(server_address: &str) -> Result<String, String> {
    let s = server_address.trim();
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if s.is_empty() {
        return Ok(DOCKER_HUB.into());
    }
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains("://") {
        return Err(format!(
            "unable to parse server address {server_address:?}: no registry host in it"
        ));
    }
    let bare = host.to_ascii_lowercase();
    if matches!(
        bare.as_str(),
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    ) {
        return Ok(DOCKER_HUB.into());
    }
    Ok(host.to_string())
}

/// Where to send requests for registry `domain`, in the order to try them.
pub fn endpoints(domain: &str, insecure: &InsecureRegistries, mirrors: &[String]) -> Vec<Endpoint> {
    let mut out = Vec::new();
    if domain == DOCKER_HUB {
        for m in mirrors {
            let base = m.trim_end_matches('/').to_string();
            let host = base
                .split_once("://")
                .map_or(base.as_str(), |(_, h)| h)
                .to_string();
            let plain = base.starts_with("http://");
            out.push(Endpoint {
                skip_verify: !plain && insecure.is_insecure(&host),
                base,
                host,
                mirror: true,
            });
        }
        out.push(Endpoint {
            base: DOCKER_HUB_API.into(),
            host: DOCKER_HUB.into(),
            skip_verify: false,
            mirror: false,
        });
        return out;
    }
    let https = Endpoint {
        base: format!("https://{domain}"),
        host: domain.to_string(),
        skip_verify: false,
        mirror: false,
    };
    if insecure.is_insecure(domain) {
        out.push(Endpoint {
            skip_verify: true,
            ..https
        });
        out.push(Endpoint {
            base: format!("http://{domain}"),
            host: domain.to_string(),
            skip_verify: false,
            mirror: false,
        });
    } else {
        out.push(https);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_registries_match_cidrs_and_hosts() {
        let r = InsecureRegistries::new(&[
            "10.1.0.0/16".into(),
            "registry.internal:5000".into(),
            "plain.example".into(),
        ])
        .unwrap();
        for yes in [
            "127.0.0.1:5000",
            "127.9.9.9",
            "localhost:5000",
            "localhost",
            "[::1]:5000",
            "10.1.200.3:443",
            "registry.internal:5000",
            "plain.example",
        ] {
            assert!(r.is_insecure(yes), "{yes}");
        }
        // (Names not in the list would be looked up: the test sticks to addresses.)
        for no in ["10.2.0.1", "192.168.1.1:5000", "[::2]:5000"] {
            assert!(!r.is_insecure(no), "{no}");
        }
        assert_eq!(
            r.cidrs(),
            vec![
                "127.0.0.0/8".to_string(),
                "::1/128".into(),
                "10.1.0.0/16".into()
            ]
        );
        assert!(InsecureRegistries::new(&["http://x:5000".into()])
            .unwrap_err()
            .contains("://"));
        assert!(InsecureRegistries::new(&["10.0.0.0/99".into()])
            .unwrap_err()
            .contains("10.0.0.0/99"));
    }

    #[test]
    fn login_addresses_name_a_registry_as_dockerd_reads_them() {
        for hub in [
            "",
            "https://index.docker.io/v1/",
            "docker.io",
            "registry-1.docker.io",
        ] {
            assert_eq!(login_domain(hub).unwrap(), DOCKER_HUB, "{hub:?}");
        }
        for (addr, host) in [
            ("127.0.0.1:5000", "127.0.0.1:5000"),
            ("http://127.0.0.1:5000/v2/", "127.0.0.1:5000"),
            ("https://registry.example.com", "registry.example.com"),
            ("localhost:5000/", "localhost:5000"),
        ] {
            assert_eq!(login_domain(addr).unwrap(), host, "{addr}");
        }
        assert!(login_domain("http:///x").unwrap_err().contains("http:///x"));
    }

    #[test]
    fn hub_goes_to_mirrors_first_others_to_https_then_http_when_insecure() {
        let ins = InsecureRegistries::new(&[]).unwrap();
        let m = normalize_mirror("https://10.9.9.9:5000").unwrap();
        assert_eq!(m, "https://10.9.9.9:5000/");
        let e = endpoints(DOCKER_HUB, &ins, &[m, "http://127.0.0.1:6000/".into()]);
        let bases: Vec<&str> = e.iter().map(|e| e.base.as_str()).collect();
        assert_eq!(
            bases,
            [
                "https://10.9.9.9:5000",
                "http://127.0.0.1:6000",
                "https://registry-1.docker.io"
            ]
        );
        assert!(e[0].mirror && e[1].mirror && !e[2].mirror);
        let e = endpoints("127.0.0.1:5000", &ins, &[]);
        assert_eq!(e.len(), 2);
        assert!(e[0].skip_verify && e[0].base.starts_with("https://"));
        assert_eq!(e[1].base, "http://127.0.0.1:5000");
        let e = endpoints("registry.example.com", &ins, &[]);
        assert_eq!(e.len(), 1);
        assert!(!e[0].skip_verify);
        assert!(normalize_mirror("ftp://x").is_err());
        assert!(normalize_mirror("https://x/path").is_err());
    }
}
