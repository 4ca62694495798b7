//! Host ports for published container ports: what `HostConfig.PortBindings` asks for
//! (a fixed port, a range to pick from, or any port from the ephemeral range for an
//! empty `HostPort` and for `-P`), checked against the ports berth has handed out and
//! against the host's own sockets, so that a port already taken is an error at start
//! that names it.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

/// A protocol a port is published for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn parse(s: &str) -> Result<Proto, PortError> {
        match s.to_ascii_lowercase().as_str() {
            "" | "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "sctp" => Ok(Proto::Sctp),
            _ => Err(PortError::Proto(s.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
}

/// Why a port could not be published; each names the port at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("invalid proto: {0}")]
    Proto(String),
    #[error("invalid port specification: {0:?}")]
    Spec(String),
    #[error("invalid host IP address: {0:?}")]
    HostIp(String),
    #[error("Bind for {ip}:{port} failed: port is already allocated")]
    Allocated { ip: IpAddr, port: u16 },
    #[error("Bind for {ip}:{port}/{proto} failed: address already in use on the host")]
    InUse {
        ip: IpAddr,
        port: u16,
        proto: &'static str,
    },
    #[error("no free host port in {first}-{last} for {ip}/{proto}")]
    Exhausted {
        ip: IpAddr,
        first: u16,
        last: u16,
        proto: &'static str,
    },
}

/// A host port range: `8080` or `8000-8010`; None for an empty `HostPort` (any port).
pub fn parse_host_port(s: &str) -> Result<Option<(u16, u16)>, PortError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || PortError::Spec(s.to_string());
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if a == 0 || b < a {
        return Err(bad());
    }
    Ok(Some((a, b)))
}

/// `HostIp`: empty means every IPv4 address.
pub fn parse_host_ip(s: &str) -> Result<IpAddr, PortError> {
    let t = s.trim().trim_start_matches('[').trim_end_matches(']');
    if t.is_empty() {
        return Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }
    t.parse().map_err(|_| PortError::HostIp(s.to_string()))
}

/// One published port, decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Binding {
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub proto: Proto,
}

impl Binding {
    /// Whether two bindings would take the same port: same protocol and port, and the
    /// same address or either one on every address of its family.
    pub fn clashes(&self, other: &Binding) -> bool {
        self.proto == other.proto
            && self.host_port == other.host_port
            && (self.host_ip == other.host_ip
                || (self.host_ip.is_unspecified()
                    && self.host_ip.is_ipv4() == other.host_ip.is_ipv4())
                || (other.host_ip.is_unspecified()
                    && self.host_ip.is_ipv4() == other.host_ip.is_ipv4()))
    }
}

/// Whether the host itself has the port: a bind of our own (not listening) fails.
/// SCTP is not probed (no std socket for it).
pub fn host_has(b: &Binding) -> bool {
    let addr = SocketAddr::new(b.host_ip, b.host_port);
    match b.proto {
        Proto::Tcp => TcpListener::bind(addr).is_err(),
        Proto::Udp => UdpSocket::bind(addr).is_err(),
        Proto::Sctp => false,
    }
}

/// Docker's ephemeral range for dynamically published ports.
pub const EPHEMERAL: (u16, u16) = (49153, 65535);

/// Chooses the host port for one request: `range` (None: the ephemeral range), the
/// first port in it that is neither in `taken` (berth's own bindings) nor in use on
/// the host (`probe`, normally [`host_has`]). A fixed port that is taken is an error
/// naming it.
pub fn choose(
    host_ip: IpAddr,
    proto: Proto,
    range: Option<(u16, u16)>,
    taken: &BTreeSet<Binding>,
    probe: &dyn Fn(&Binding) -> bool,
) -> Result<Binding, PortError> {
    let (first, last) = range.unwrap_or(EPHEMERAL);
    let candidate = |port: u16| Binding {
        host_ip,
        host_port: port,
        proto,
    };
    if first == last {
        let b = candidate(first);
        if taken.iter().any(|t| t.clashes(&b)) {
            return Err(PortError::Allocated {
                ip: host_ip,
                port: first,
            });
        }
        if probe(&b) {
            return Err(PortError::InUse {
                ip: host_ip,
                port: first,
                proto: proto.as_str(),
            });
        }
        return Ok(b);
    }
    (first..=last)
        .map(candidate)
        .find(|b| !taken.iter().any(|t| t.clashes(b)) && !probe(b))
        .ok_or(PortError::Exhausted {
            ip: host_ip,
            first,
            last,
            proto: proto.as_str(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any4() -> IpAddr {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }

    fn lo() -> IpAddr {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }

    #[test]
    fn parses_what_port_bindings_hold() {
        assert_eq!(parse_host_port("").unwrap(), None);
        assert_eq!(parse_host_port("8080").unwrap(), Some((8080, 8080)));
        assert_eq!(parse_host_port("8000-8010").unwrap(), Some((8000, 8010)));
        for bad in ["0", "x", "10-5", "70000", "1-"] {
            assert!(parse_host_port(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_host_ip("").unwrap(), any4());
        assert_eq!(
            parse_host_ip("[::1]").unwrap(),
            "::1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            parse_host_ip("nope").unwrap_err().to_string(),
            "invalid host IP address: \"nope\""
        );
        assert_eq!(Proto::parse("UDP").unwrap(), Proto::Udp);
        assert_eq!(
            Proto::parse("icmp").unwrap_err().to_string(),
            "invalid proto: icmp"
        );
    }

    #[test]
    fn clashes_by_address_family() {
        let b = |ip: &str, port| Binding {
            host_ip: ip.parse().unwrap(),
            host_port: port,
            proto: Proto::Tcp,
        };
        assert!(b("0.0.0.0", 80).clashes(&b("127.0.0.1", 80)));
        assert!(b("127.0.0.1", 80).clashes(&b("0.0.0.0", 80)));
        assert!(!b("127.0.0.1", 80).clashes(&b("127.0.0.2", 80)));
        assert!(!b("0.0.0.0", 80).clashes(&b("::1", 80)));
        assert!(!b("0.0.0.0", 80).clashes(&b("0.0.0.0", 81)));
        let mut u = b("0.0.0.0", 80);
        u.proto = Proto::Udp;
        assert!(!u.clashes(&b("0.0.0.0", 80)));
    }

    #[test]
    fn chooses_free_ports() {
        let never = |_: &Binding| false;
        let mut taken = BTreeSet::new();
        let b = choose(any4(), Proto::Tcp, Some((8080, 8080)), &taken, &never).unwrap();
        taken.insert(b);
        assert_eq!(
            choose(lo(), Proto::Tcp, Some((8080, 8080)), &taken, &never)
                .unwrap_err()
                .to_string(),
            "Bind for 127.0.0.1:8080 failed: port is already allocated"
        );
        // A range skips what is taken, by berth or by the host.
        let host = |b: &Binding| b.host_port == 8081;
        assert_eq!(
            choose(lo(), Proto::Tcp, Some((8080, 8082)), &taken, &host)
                .unwrap()
                .host_port,
            8082
        );
        assert!(matches!(
            choose(lo(), Proto::Tcp, Some((8080, 8081)), &taken, &host),
            Err(PortError::Exhausted { .. })
        ));
        // Any port: the ephemeral range.
        assert_eq!(
            choose(lo(), Proto::Udp, None, &taken, &never)
                .unwrap()
                .host_port,
            EPHEMERAL.0
        );
        assert_eq!(
            choose(
                lo(),
                Proto::Tcp,
                Some((8081, 8081)),
                &BTreeSet::new(),
                &host
            )
            .unwrap_err()
            .to_string(),
            "Bind for 127.0.0.1:8081/tcp failed: address already in use on the host"
        );
    }

    #[test]
    fn probes_the_hosts_sockets() {
        // A listener of our own on loopback: the probe sees it; once closed, it does not.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let b = Binding {
            host_ip: lo(),
            host_port: port,
            proto: Proto::Tcp,
        };
        assert!(host_has(&b));
        drop(l);
        assert!(!host_has(&b));
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let ub = Binding {
            host_ip: lo(),
            host_port: u.local_addr().unwrap().port(),
            proto: Proto::Udp,
        };
        assert!(host_has(&ub));
    }
}
