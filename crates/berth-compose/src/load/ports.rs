//! `ports:` and `expose:` — short strings (`"8080:80"`, `"127.0.0.1::80/udp"`,
//! `"[::1]:8080:80"`, ranges expanded one entry per port), plain integers, and the
//! long mapping form, all into [`Port`].

use serde_json::Value;

use super::values;
use super::Fault;
use crate::model::Port;

/// `"80"` or `"8000-8002"` → (first, last).
fn range(s: &str) -> Result<(u16, u16), String> {
    let num = |t: &str| -> Result<u16, String> {
        match t.trim().parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("invalid port {t:?}")),
        }
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return Err(format!("invalid port range {s:?}"));
            }
            Ok((a, b))
        }
        None => num(s).map(|n| (n, n)),
    }
}

fn protocol(p: &str) -> Result<String, String> {
    match p.to_ascii_lowercase().as_str() {
        p @ ("tcp" | "udp" | "sctp") => Ok(p.to_owned()),
        _ => Err(format!("invalid protocol {p:?} (tcp, udp or sctp)")),
    }
}

/// One short-form port, expanded.
pub fn parse_short(spec: &str) -> Result<Vec<Port>, String> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, protocol(p)?),
        None => (spec, "tcp".to_owned()),
    };
    let (host_ip, published, target) = if let Some(after) = rest.strip_prefix('[') {
        let (ip, tail) = after
            .split_once(']')
            .ok_or_else(|| format!("invalid port {spec:?}: unclosed ["))?;
        let tail = tail
            .strip_prefix(':')
            .ok_or_else(|| format!("invalid port {spec:?}"))?;
        let (p, t) = tail
            .split_once(':')
            .ok_or_else(|| format!("invalid port {spec:?}"))?;
        (Some(ip.to_owned()), p, t)
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.as_slice() {
            [t] => (None, "", *t),
            [p, t] => (None, *p, *t),
            [ip, p, t] => (Some((*ip).to_owned()), *p, *t),
            _ => return Err(format!("invalid port {spec:?}")),
        }
    };
    if let Some(ip) = &host_ip {
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("invalid host IP {ip:?} in port {spec:?}"));
        }
    }
    let bad = |e: String| format!("{e} in port {spec:?}");
    let (t0, t1) = range(target).map_err(bad)?;
    let published = if published.is_empty() {
        None
    } else {
        Some(range(published).map_err(bad)?)
    };
    let port = |target: u16, published: Option<String>| Port {
        name: None,
        target,
        published,
        host_ip: host_ip.clone(),
        protocol: proto.clone(),
        mode: "ingress".into(),
        app_protocol: None,
    };
    let count = t1 - t0;
    match published {
        None => Ok((t0..=t1).map(|t| port(t, None)).collect()),
        Some((p0, p1)) if t0 == t1 => {
            let p = if p0 == p1 {
                p0.to_string()
            } else {
                format!("{p0}-{p1}")
            };
            Ok(vec![port(t0, Some(p))])
        }
        Some((p0, p1)) if p1 - p0 == count => Ok((0..=count)
            .map(|i| port(t0 + i, Some((p0 + i).to_string())))
            .collect()),
        Some(_) => Err(format!("port ranges of different lengths in {spec:?}")),
    }
}

/// One `ports:` entry (`key` is `services.NAME.ports[I]`).
pub fn parse_entry(v: &Value, key: &str) -> Result<Vec<Port>, Fault> {
    match v {
        Value::String(s) => parse_short(s).map_err(|e| Fault::new(key, e)),
        Value::Number(_) => parse_short(&values::string(v, key)?).map_err(|e| Fault::new(key, e)),
        Value::Object(m) => {
            let tkey = format!("{key}.target");
            let target = match m.get("target") {
                None | Some(Value::Null) => return Err(Fault::new(tkey, "is required")),
                Some(t) => {
                    let t = values::int(t, &tkey)?;
                    u16::try_from(t)
                        .ok()
                        .filter(|t| *t > 0)
                        .ok_or_else(|| Fault::new(&tkey, format!("invalid port {t}")))?
                }
            };
            let published = values::opt_string(m.get("published"), &format!("{key}.published"))?;
            if let Some(p) = &published {
                range(p).map_err(|e| Fault::new(format!("{key}.published"), e))?;
            }
            let proto = values::opt_string(m.get("protocol"), &format!("{key}.protocol"))?;
            let protocol = match proto {
                Some(p) => protocol(&p).map_err(|e| Fault::new(format!("{key}.protocol"), e))?,
                None => "tcp".into(),
            };
            let mode = values::opt_string(m.get("mode"), &format!("{key}.mode"))?
                .unwrap_or_else(|| "ingress".into());
            if mode != "ingress" && mode != "host" {
                return Err(Fault::new(
                    format!("{key}.mode"),
                    format!("invalid mode {mode:?} (ingress or host)"),
                ));
            }
            Ok(vec![Port {
                name: values::opt_string(m.get("name"), &format!("{key}.name"))?,
                target,
                published,
                host_ip: values::opt_string(m.get("host_ip"), &format!("{key}.host_ip"))?,
                protocol,
                mode,
                app_protocol: values::opt_string(
                    m.get("app_protocol"),
                    &format!("{key}.app_protocol"),
                )?,
            }])
        }
        _ => Err(Fault::new(key, "must be a string, a number or a mapping")),
    }
}

/// One `expose:` entry: `"80"`, `80`, `"8000-8010/udp"`.
pub fn parse_expose(v: &Value, key: &str) -> Result<String, Fault> {
    let s = match v {
        Value::String(_) | Value::Number(_) => values::string(v, key)?,
        _ => return Err(Fault::new(key, "must be a string or a number")),
    };
    let (ports, proto) = match s.rsplit_once('/') {
        Some((p, pr)) => (p, Some(pr)),
        None => (s.as_str(), None),
    };
    range(ports).map_err(|e| Fault::new(key, e))?;
    if let Some(p) = proto {
        protocol(p).map_err(|e| Fault::new(key, e))?;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(target: u16, published: Option<&str>, ip: Option<&str>, proto: &str) -> Port {
        Port {
            name: None,
            target,
            published: published.map(str::to_owned),
            host_ip: ip.map(str::to_owned),
            protocol: proto.into(),
            mode: "ingress".into(),
            app_protocol: None,
        }
    }

    #[test]
    fn short_forms() {
        assert_eq!(parse_short("80"), Ok(vec![p(80, None, None, "tcp")]));
        assert_eq!(
            parse_short("8080:80"),
            Ok(vec![p(80, Some("8080"), None, "tcp")])
        );
        assert_eq!(
            parse_short("127.0.0.1:8080:80/udp"),
            Ok(vec![p(80, Some("8080"), Some("127.0.0.1"), "udp")])
        );
        assert_eq!(
            parse_short("127.0.0.1::80"),
            Ok(vec![p(80, None, Some("127.0.0.1"), "tcp")])
        );
        assert_eq!(
            parse_short("[::1]:8080:80"),
            Ok(vec![p(80, Some("8080"), Some("::1"), "tcp")])
        );
        assert_eq!(
            parse_short("8000-8001:80-81"),
            Ok(vec![
                p(80, Some("8000"), None, "tcp"),
                p(81, Some("8001"), None, "tcp")
            ])
        );
        assert_eq!(
            parse_short("9000-9005:80"),
            Ok(vec![p(80, Some("9000-9005"), None, "tcp")])
        );
        assert_eq!(parse_short("3000-3001").map(|v| v.len()), Ok(2));
    }

    #[test]
    fn bad_forms() {
        for bad in [
            "",
            "abc",
            "70000",
            "80:80:80:80",
            "1-2:80-85",
            "80/xdp",
            "1.2.3:80:80",
            "0",
        ] {
            assert!(parse_short(bad).is_err(), "{bad}");
        }
    }
}
