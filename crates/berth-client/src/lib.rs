//! berth-client: a typed, blocking client for Docker's Engine API (v1.41), over a
//! unix socket or TCP. It speaks to berth's daemon and to a real dockerd alike.
//!
//! HTTP/1.1 is written by hand (one request per connection; `httparse` reads response
//! heads), so the client needs no async runtime. The API version is negotiated once,
//! on first use: `GET /_ping`, then every path is prefixed with
//! `/v{min(server, 1.41)}`.

#![forbid(unsafe_code)]

mod api;
mod build;
#[cfg(feature = "fake-server")]
pub mod fake;
mod host;
mod http;
mod stream;

use std::io;
use std::sync::OnceLock;

use berth_api_types::system::{ApiVersion, API_VERSION};

pub use api::*;
pub use build::{NO_REGISTRY_CONFIG, REGISTRY_CONFIG_HEADER};
pub use host::{Host, HostError, DEFAULT_HOST};
pub use http::{Body, BodyReader, Head, Response};
pub use stream::{
    copy_raw, demux_to, Demux, HijackedReader, HijackedStream, HijackedWriter, JsonStream,
    StdStream,
};

/// What went wrong talking to the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answered at the address.
    #[error("cannot connect to the berth daemon at {addr}: {source}. Is the daemon running?")]
    Connect {
        addr: String,
        #[source]
        source: io::Error,
    },
    /// The connection failed mid-request.
    #[error("{what} ({addr}): {source}")]
    Io {
        addr: String,
        what: String,
        #[source]
        source: io::Error,
    },
    /// The daemon answered with an error status; `message` is its `{"message": …}`.
    #[error("Error response from daemon: {message}")]
    Api { status: u16, message: String },
    /// The answer was not HTTP as expected.
    #[error("bad answer from the daemon at {addr}: {message}")]
    Protocol { addr: String, message: String },
    /// A body could not be read (or a request body could not be read from its source).
    #[error("{what}: {source}")]
    Body {
        what: String,
        #[source]
        source: io::Error,
    },
    /// A body was not the JSON expected.
    #[error("decoding {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A streamed answer reported a failure (`errorDetail`): a build step that
    /// failed, with the exit code of its RUN when it had one (else 0).
    #[error("{message}")]
    Stream { message: String, code: i64 },
    #[error(transparent)]
    Host(#[from] HostError),
}

impl ClientError {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for a 404 answer.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// A query string, percent-encoded as it is built.
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, key: &str, value: impl ToString) -> &mut Self {
        self.0.push((key.to_string(), value.to_string()));
        self
    }

    /// Adds `key=1` when `flag` holds (how docker's client sends booleans).
    pub fn flag(&mut self, key: &str, flag: bool) -> &mut Self {
        if flag {
            self.push(key, "1");
        }
        self
    }

    /// Adds `key=value` when `value` is not empty.
    pub fn opt(&mut self, key: &str, value: &str) -> &mut Self {
        if !value.is_empty() {
            self.push(key, value);
        }
        self
    }

    fn encode(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect();
        format!("?{}", parts.join("&"))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub use berth_http::percent_encode;

/// A connection to one daemon. Cheap to share by reference between threads: every
/// request opens its own connection.
#[derive(Debug)]
pub struct Client {
    host: Host,
    version: OnceLock<ApiVersion>,
}

impl Client {
    pub fn new(host: Host) -> Client {
        Client {
            host,
            version: OnceLock::new(),
        }
    }

    /// A client for `-H` if given, else `DOCKER_HOST`, else the default socket.
    pub fn from_flag(flag: Option<&str>) -> Result<Client, ClientError> {
        Ok(Client::new(Host::resolve(flag)?))
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The API version in use, negotiating it first if needed.
    pub fn api_version(&self) -> Result<ApiVersion, ClientError> {
        if let Some(v) = self.version.get() {
            return Ok(*v);
        }
        let resp = self.send_raw("GET", "/_ping", &[], Body::Empty, false)?;
        let status = resp.status();
        let server = resp
            .header(berth_api_types::system::headers::API_VERSION)
            .and_then(|v| v.parse::<ApiVersion>().ok());
        if status >= 400 && server.is_none() {
            return Err(api_error(resp));
        }
        // A server that names no version is an old one; docker assumes 1.24.
        let server = server.unwrap_or(ApiVersion {
            major: 1,
            minor: 24,
        });
        let v = server.min(API_VERSION);
        Ok(*self.version.get_or_init(|| v))
    }

    /// Sends one request without a version prefix and returns the raw response,
    /// whatever its status.
    pub fn send_raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Body<'_>,
        upgrade: bool,
    ) -> Result<Response, ClientError> {
        let mut conn = http::Conn::connect(&self.host)?;
        let sent = http::write_request(&mut conn, &self.host, method, path, headers, body, upgrade);
        if let Err(err) = sent {
            // The daemon may have refused the body early and already answered (a bad
            // tarball): its answer says more than the broken pipe does.
            if let ClientError::Io { source, .. } = &err {
                if matches!(
                    source.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) {
                    if let Ok((head, rest)) = http::read_head(&mut conn, &self.host) {
                        let body = BodyReader::new(&head, method, rest, conn);
                        return Ok(Response {
                            head,
                            body,
                            what: format!("the answer to {method} {path}"),
                        });
                    }
                }
            }
            return Err(err);
        }
        let (head, rest) = http::read_head(&mut conn, &self.host)?;
        let body = BodyReader::new(&head, method, rest, conn);
        Ok(Response {
            head,
            body,
            what: format!("the answer to {method} {path}"),
        })
    }

    fn versioned(&self, path: &str, query: &Query) -> Result<String, ClientError> {
        let v = self.api_version()?;
        Ok(format!("/v{v}{path}{}", query.encode()))
    }

    /// Sends a versioned request; an error status becomes [`ClientError::Api`].
    pub fn request(
        &self,
        method: &str,
        path: &str,
        query: &Query,
        body: Body<'_>,
    ) -> Result<Response, ClientError> {
        self.request_with_headers(method, path, query, &[], body)
    }

    /// [`Client::request`] with extra headers (`X-Registry-Auth`).
    pub fn request_with_headers(
        &self,
        method: &str,
        path: &str,
        query: &Query,
        headers: &[(&str, String)],
        body: Body<'_>,
    ) -> Result<Response, ClientError> {
        let full = self.versioned(path, query)?;
        let resp = self.send_raw(method, &full, headers, body, false)?;
        if resp.status() >= 400 {
            return Err(api_error(resp));
        }
        Ok(resp)
    }

    /// Sends a versioned request asking to hijack the connection; on `101` (or `200`)
    /// the raw stream is returned.
    pub fn hijack(
        &self,
        method: &str,
        path: &str,
        query: &Query,
        body: Body<'_>,
    ) -> Result<HijackedStream, ClientError> {
        let full = self.versioned(path, query)?;
        let mut conn = http::Conn::connect(&self.host)?;
        http::write_request(&mut conn, &self.host, method, &full, &[], body, true)?;
        let (head, rest) = http::read_head(&mut conn, &self.host)?;
        match head.status {
            101 | 200 => HijackedStream::new(conn, rest).map_err(|source| ClientError::Io {
                addr: self.host.to_string(),
                what: format!("taking over the connection of {method} {full}"),
                source,
            }),
            _ => {
                let body = BodyReader::new(&head, method, rest, conn);
                Err(api_error(Response {
                    head,
                    body,
                    what: format!("the answer to {method} {full}"),
                }))
            }
        }
    }
}

/// Turns an error response into [`ClientError::Api`], with the daemon's message.
fn api_error(resp: Response) -> ClientError {
    let status = resp.status();
    let body = resp.bytes().unwrap_or_default();
    let message = match serde_json::from_slice::<berth_api_types::ErrorResponse>(&body) {
        Ok(e) if !e.message.is_empty() => e.message,
        _ => {
            let text = String::from_utf8_lossy(&body).trim().to_string();
            if text.is_empty() {
                format!("HTTP status {status}")
            } else {
                text
            }
        }
    };
    ClientError::Api { status, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_percent_encoded() {
        let mut q = Query::new();
        q.push("filters", r#"{"status":{"running":true}}"#)
            .flag("all", true)
            .flag("size", false)
            .opt("name", "");
        assert_eq!(
            q.encode(),
            "?filters=%7B%22status%22%3A%7B%22running%22%3Atrue%7D%7D&all=1"
        );
        assert_eq!(Query::new().encode(), "");
    }
}
