//! The files a container's network identity lives in: /etc/hosts and /etc/resolv.conf,
//! made from the host's and the container's settings as Docker makes them.

use std::net::IpAddr;

/// Docker's /etc/hosts head: localhost and the IPv6 names.
const HOSTS_HEAD: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// Docker's fallback resolvers, for a container in a network namespace of its own
/// whose host file names no resolver it can reach.
pub const FALLBACK_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// /etc/hosts for a container. With the host's network (`host_hosts`: the host's
/// file) it is a copy of the host's; otherwise Docker's head and the container's own
/// name on each of `own_ips` (its IPv4 then its IPv6 address; 127.0.0.1 without an
/// address of its own). `--add-host` entries (`NAME:IP`) are appended in both cases.
pub fn hosts(
    hostname: &str,
    own_ips: &[IpAddr],
    extra_hosts: &[String],
    host_hosts: Option<&str>,
) -> String {
    let mut out = match host_hosts {
        Some(h) => h.to_string(),
        None => {
            let mut out = HOSTS_HEAD.to_string();
            if own_ips.is_empty() {
                out.push_str(&format!("127.0.0.1\t{hostname}\n"));
            }
            for ip in own_ips {
                out.push_str(&format!("{ip}\t{hostname}\n"));
            }
            out
        }
    };
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for e in extra_hosts {
        if let Some((name, ip)) = e.split_once(':') {
            out.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    out
}

/// The DNS settings a container asked for (`--dns`, `--dns-search`, `--dns-option`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Dns<'a> {
    pub servers: &'a [String],
    pub search: &'a [String],
    pub options: &'a [String],
}

fn nameserver(line: &str) -> Option<&str> {
    let mut w = line.split_whitespace();
    (w.next() == Some("nameserver")).then(|| w.next().unwrap_or(""))
}

fn is_loopback(addr: &str) -> bool {
    addr.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
}

/// /etc/resolv.conf for a container: the host's (`host`), with the request's DNS
/// settings replacing the host's nameservers, search and options lines. In a network
/// namespace of its own (`own_netns`) loopback nameservers are unreachable: they are
/// dropped, the upstream file of a local stub resolver (`stub_upstream`, systemd-
/// resolved's /run/systemd/resolve/resolv.conf) is used instead when there is one, and
/// with no nameserver left Docker's fallback resolvers are written.
pub fn resolv_conf(
    host: &str,
    stub_upstream: Option<&str>,
    dns: Dns<'_>,
    own_netns: bool,
) -> String {
    let only_loopback = host.lines().filter_map(nameserver).all(is_loopback)
        && host.lines().any(|l| nameserver(l).is_some());
    let base = match stub_upstream {
        Some(up) if own_netns && only_loopback && dns.servers.is_empty() => up,
        _ => host,
    };
    let mut out = String::new();
    let mut servers = 0;
    for l in base.lines() {
        let t = l.trim();
        if let Some(addr) = nameserver(t) {
            if (own_netns && is_loopback(addr)) || !dns.servers.is_empty() {
                continue;
            }
            servers += 1;
        }
        if (t.starts_with("search") && !dns.search.is_empty())
            || (t.starts_with("options") && !dns.options.is_empty())
        {
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    for d in dns.servers {
        out.push_str(&format!("nameserver {d}\n"));
    }
    if own_netns && servers == 0 && dns.servers.is_empty() {
        for d in FALLBACK_NAMESERVERS {
            out.push_str(&format!("nameserver {d}\n"));
        }
    }
    if !dns.search.is_empty() {
        out.push_str(&format!("search {}\n", dns.search.join(" ")));
    }
    if !dns.options.is_empty() {
        out.push_str(&format!("options {}\n", dns.options.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn hosts_files() {
        let h = hosts("web", &[], &s(&["db:10.0.0.5", "bad"]), None);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"));
        assert!(h.ends_with("127.0.0.1\tweb\n10.0.0.5\tdb\n"), "{h}");
        let h = hosts("web", &["172.17.0.2".parse().unwrap()], &[], None);
        assert!(
            h.ends_with("ff02::2\tip6-allrouters\n172.17.0.2\tweb\n"),
            "{h}"
        );
        let both = ["172.18.0.2".parse().unwrap(), "fd00:1::2".parse().unwrap()];
        let h = hosts("web", &both, &[], None);
        assert!(
            h.ends_with("ff02::2\tip6-allrouters\n172.18.0.2\tweb\nfd00:1::2\tweb\n"),
            "{h}"
        );
        let h = hosts(
            "web",
            &[],
            &s(&["db:10.0.0.5"]),
            Some("127.0.0.1 localhost"),
        );
        assert_eq!(h, "127.0.0.1 localhost\n10.0.0.5\tdb\n");
    }

    #[test]
    fn loopback_resolvers_are_replaced() {
        let host = "nameserver 127.0.0.53\noptions edns0\nsearch lan\n";
        let none = Dns::default();
        // systemd-resolved's upstream file is used where the stub is unreachable.
        let up = "nameserver 10.0.0.1\nsearch lan\n";
        assert_eq!(resolv_conf(host, Some(up), none, true), up);
        // Without one, Docker's fallbacks; the rest of the host's file stays.
        assert_eq!(
            resolv_conf(host, None, none, true),
            "options edns0\nsearch lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        // The host's own network reaches the host's resolver.
        assert_eq!(resolv_conf(host, Some(up), none, false), host);
        // A reachable resolver beside a loopback one: only the loopback one goes.
        assert_eq!(
            resolv_conf(
                "nameserver 127.0.0.1\nnameserver 10.0.0.1\n",
                None,
                none,
                true
            ),
            "nameserver 10.0.0.1\n"
        );
    }

    #[test]
    fn dns_flags_replace_the_hosts_lines() {
        let servers = s(&["10.9.9.9"]);
        let search = s(&["example.org"]);
        let options = s(&["ndots:2"]);
        let dns = Dns {
            servers: &servers,
            search: &search,
            options: &options,
        };
        let host = "nameserver 127.0.0.53\nsearch lan\noptions edns0\n";
        let want = "nameserver 10.9.9.9\nsearch example.org\noptions ndots:2\n";
        assert_eq!(resolv_conf(host, None, dns, true), want);
        assert_eq!(resolv_conf(host, None, dns, false), want);
    }
}
