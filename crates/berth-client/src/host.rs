//! Where the daemon listens: `unix:///path` or `tcp://host:port`, as `DOCKER_HOST` and
//! `-H` spell it.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// berth's default socket.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// A daemon address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    /// `host:port`, as given.
    Tcp(String),
}

/// A host string berth cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid daemon address {host:?}: {reason}")]
pub struct HostError {
    pub host: String,
    pub reason: String,
}

impl Host {
    /// The default socket, `/run/berth/berth.sock`.
    pub fn default_unix() -> Host {
        Host::Unix(PathBuf::from("/run/berth/berth.sock"))
    }

    /// `-H` if given, else `DOCKER_HOST`, else the default socket. The flag wins, as
    /// with docker.
    pub fn resolve(flag: Option<&str>) -> Result<Host, HostError> {
        match flag {
            Some(h) => h.parse(),
            None => match std::env::var("DOCKER_HOST") {
                Ok(h) if !h.is_empty() => h.parse(),
                _ => Ok(Host::default_unix()),
            },
        }
    }

    /// The value of the `Host` header. A unix socket has no host name; dockerd ignores
    /// the header there, so a fixed token does.
    pub(crate) fn header_value(&self) -> &str {
        match self {
            Host::Unix(_) => "localhost",
            Host::Tcp(addr) => addr,
        }
    }
}

impl FromStr for Host {
    type Err = HostError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| HostError {
            host: s.to_string(),
            reason: reason.to_string(),
        };
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Ok(Host::default_unix());
            }
            if !path.starts_with('/') {
                return Err(err("a unix socket path must be absolute"));
            }
            return Ok(Host::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = s.strip_prefix("tcp://") {
            let addr = rest.trim_end_matches('/');
            if addr.is_empty() {
                return Err(err("missing host:port"));
            }
            // Docker's default port for plain TCP when none is given.
            let addr = match addr.rsplit_once(':') {
                Some((h, p)) if !p.is_empty() && !h.is_empty() && !p.contains(']') => {
                    if p.parse::<u16>().is_err() {
                        return Err(err("the port is not a number"));
                    }
                    addr.to_string()
                }
                _ => format!("{addr}:2375"),
            };
            return Ok(Host::Tcp(addr));
        }
        if s.starts_with('/') {
            return Ok(Host::Unix(PathBuf::from(s)));
        }
        Err(err("expected unix:///path or tcp://host:port"))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_host_syntax() {
        assert_eq!(
            "unix:///var/run/x.sock".parse::<Host>().unwrap(),
            Host::Unix("/var/run/x.sock".into())
        );
        assert_eq!(
            "tcp://127.0.0.1:2376".parse::<Host>().unwrap(),
            Host::Tcp("127.0.0.1:2376".into())
        );
        assert_eq!(
            "tcp://localhost".parse::<Host>().unwrap(),
            Host::Tcp("localhost:2375".into())
        );
        assert_eq!(DEFAULT_HOST.parse::<Host>().unwrap(), Host::default_unix());
        assert!("ssh://me@host".parse::<Host>().is_err());
        assert!("unix://relative".parse::<Host>().is_err());
        assert!("tcp://h:port".parse::<Host>().is_err());
    }
}
