//! Legacy container links (`--link name:alias`): the environment variables the
//! linking container gets for the container it links to, as Docker documents them:
//! `ALIAS_NAME`, `ALIAS_PORT`, one group per exposed port (`ALIAS_PORT_3306_TCP`,
//! `…_ADDR`, `…_PORT`, `…_PROTO`), one `_START`/`_END` group per run of three or more
//! contiguous ports, and the target's own environment as `ALIAS_ENV_*`. And the
//! parsing of a link as Docker writes it (`NAME[:ALIAS]`, or `/NAME:/OWN/ALIAS` as
//! dockerd keeps it).

use std::net::IpAddr;

/// The container a link points at.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// Its address on the network both share.
    pub ip: IpAddr,
    /// Its exposed ports: number and protocol (`tcp`, `udp`, `sctp`).
    pub ports: &'a [(u16, String)],
    /// Its environment (`KEY=value`).
    pub env: &'a [String],
}

/// A link's target and alias, parsed as dockerd's `opts.ParseLink` parses it:
/// `NAME` (aliased as itself), `NAME:ALIAS`, or dockerd's own `/NAME:/OWN/ALIAS`.
/// Errors are dockerd's words.
pub fn parse(link: &str) -> Result<(&str, &str), String> {
    if link.is_empty() {
        return Err("empty string specified for links".into());
    }
    let mut parts = link.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, _) => Ok((name, name)),
        (Some(name), Some(alias), None) => match name.strip_prefix('/') {
            Some(name) => Ok((name, alias.rsplit('/').next().unwrap_or(alias))),
            None => Ok((name, alias)),
        },
        _ => Err(format!("bad format for links: {link}")),
    }
}

/// The environment variable prefix for a link alias: upper case, `-` as `_`.
fn prefix(alias: &str) -> String {
    alias.to_uppercase().replace('-', "_")
}

/// Ports in the order links list them: by number, `tcp` first among equal numbers.
fn sorted(ports: &[(u16, String)]) -> Vec<(u16, String)> {
    let mut p: Vec<(u16, String)> = ports
        .iter()
        .map(|(n, proto)| (*n, proto.to_lowercase()))
        .collect();
    p.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| (a.1 != "tcp").cmp(&(b.1 != "tcp")))
            .then_with(|| a.1.cmp(&b.1))
    });
    p.dedup();
    p
}

/// The variables for a link from the container named `own_name` to `target` under
/// `alias`.
pub fn env(own_name: &str, alias: &str, target: &Target<'_>) -> Vec<String> {
    let a = prefix(alias);
    let ip = target.ip;
    let own = own_name.trim_start_matches('/');
    let mut out = vec![format!("{a}_NAME=/{own}/{alias}")];
    let ports = sorted(target.ports);
    if let Some((n, proto)) = ports.first() {
        out.push(format!("{a}_PORT={proto}://{ip}:{n}"));
    }
    let mut i = 0;
    while i < ports.len() {
        let (n, proto) = &ports[i];
        let up = proto.to_uppercase();
        // The end of the run of contiguous ports of this protocol starting here.
        let mut j = i;
        while j + 1 < ports.len()
            && ports[j + 1].1 == *proto
            && u32::from(ports[j + 1].0) == u32::from(ports[j].0) + 1
        {
            j += 1;
        }
        if j >= i + 2 {
            let end = ports[j].0;
            let g = format!("{a}_PORT_{n}_{up}");
            out.push(format!("{g}_START={proto}://{ip}:{n}"));
            out.push(format!("{g}_ADDR={ip}"));
            out.push(format!("{g}_PROTO={proto}"));
            out.push(format!("{g}_PORT_START={n}"));
            out.push(format!("{g}_END={proto}://{ip}:{end}"));
            out.push(format!("{g}_PORT_END={end}"));
            i = j + 1;
            continue;
        }
        let g = format!("{a}_PORT_{n}_{up}");
        out.push(format!("{g}={proto}://{ip}:{n}"));
        out.push(format!("{g}_ADDR={ip}"));
        out.push(format!("{g}_PORT={n}"));
        out.push(format!("{g}_PROTO={proto}"));
        i += 1;
    }
    for kv in target.env {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        // Set in every image, and meaningless in another container.
        if k == "HOME" || k == "PATH" {
            continue;
        }
        out.push(format!("{a}_ENV_{k}={v}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(v: &[(u16, &str)]) -> Vec<(u16, String)> {
        v.iter().map(|(n, p)| (*n, p.to_string())).collect()
    }

    #[test]
    fn the_seeds_database_link() {
        let p = ports(&[(3306, "tcp")]);
        let e = [
            "MYSQL_ROOT_PASSWORD=secret".to_string(),
            "PATH=/usr/bin".to_string(),
            "HOME=/root".to_string(),
            "MOTTO=a=b".to_string(),
        ];
        let t = Target {
            ip: "172.17.0.5".parse().unwrap(),
            ports: &p,
            env: &e,
        };
        assert_eq!(
            env("/web", "db", &t),
            [
                "DB_NAME=/web/db",
                "DB_PORT=tcp://172.17.0.5:3306",
                "DB_PORT_3306_TCP=tcp://172.17.0.5:3306",
                "DB_PORT_3306_TCP_ADDR=172.17.0.5",
                "DB_PORT_3306_TCP_PORT=3306",
                "DB_PORT_3306_TCP_PROTO=tcp",
                "DB_ENV_MYSQL_ROOT_PASSWORD=secret",
                "DB_ENV_MOTTO=a=b",
            ]
        );
    }

    #[test]
    fn ports_in_order_and_runs_as_ranges() {
        let p = ports(&[
            (8002, "tcp"),
            (53, "udp"),
            (8000, "tcp"),
            (53, "tcp"),
            (8001, "tcp"),
            (9000, "tcp"),
            (9001, "tcp"),
        ]);
        let t = Target {
            ip: "10.0.0.2".parse().unwrap(),
            ports: &p,
            env: &[],
        };
        let e = env("app", "my-cache", &t);
        assert_eq!(e[0], "MY_CACHE_NAME=/app/my-cache");
        assert_eq!(e[1], "MY_CACHE_PORT=tcp://10.0.0.2:53");
        assert_eq!(e[2], "MY_CACHE_PORT_53_TCP=tcp://10.0.0.2:53");
        assert!(
            e.contains(&"MY_CACHE_PORT_53_UDP_PROTO=udp".to_string()),
            "{e:?}"
        );
        // 8000-8002: a range; 9000 and 9001: two ports of their own.
        for want in [
            "MY_CACHE_PORT_8000_TCP_START=tcp://10.0.0.2:8000",
            "MY_CACHE_PORT_8000_TCP_END=tcp://10.0.0.2:8002",
            "MY_CACHE_PORT_8000_TCP_PORT_START=8000",
            "MY_CACHE_PORT_8000_TCP_PORT_END=8002",
            "MY_CACHE_PORT_8000_TCP_ADDR=10.0.0.2",
            "MY_CACHE_PORT_9000_TCP=tcp://10.0.0.2:9000",
            "MY_CACHE_PORT_9001_TCP_PORT=9001",
        ] {
            assert!(e.contains(&want.to_string()), "{want} missing: {e:?}");
        }
        assert!(
            !e.iter().any(|v| v.starts_with("MY_CACHE_PORT_8001")),
            "{e:?}"
        );
    }

    #[test]
    fn links_parse_as_dockerd_parses_them() {
        assert_eq!(parse("db"), Ok(("db", "db")));
        assert_eq!(parse("db:primary"), Ok(("db", "primary")));
        assert_eq!(parse("/db:/web/primary"), Ok(("db", "primary")));
        assert_eq!(parse("/db:primary"), Ok(("db", "primary")));
        assert_eq!(parse("").unwrap_err(), "empty string specified for links");
        assert_eq!(parse("a:b:c").unwrap_err(), "bad format for links: a:b:c");
    }

    #[test]
    fn no_ports_no_port_variables() {
        let t = Target {
            ip: "10.0.0.2".parse().unwrap(),
            ports: &[],
            env: &[],
        };
        assert_eq!(env("a", "b", &t), ["B_NAME=/a/b"]);
    }
}
