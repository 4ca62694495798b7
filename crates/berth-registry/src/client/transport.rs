//! HTTP to registries through ureq (rustls; proxies from the environment; redirects
//! followed without credentials): one agent per registry host and trust setting, a
//! [`Session`] per repository that pings `/v2/`, learns the registry's challenge and
//! authenticates every request (basic, or a cached bearer token), refreshing once when
//! a request is still refused, and retries transient failures with backoff.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ureq::http::Response;
use ureq::{Agent, Body};

use super::auth::{
    login_token_url, parse_challenges, token_url, Challenge, Credentials, TokenCache, TokenResponse,
};
use super::certs;
use super::error::{parse_error_body, token_refusal, ErrorEntry, LoginError, PullError};
use super::hosts::{endpoints, Endpoint, InsecureRegistries, RegistryOptions};
use super::retry::{retry_after, transient_status, Backoff};

/// How a registry wants requests authenticated (learnt from `/v2/`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum AuthMode {
    Anonymous,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// The HTTP side of the client, shared by every pull of the daemon.
pub struct Transport {
    pub(crate) options: RegistryOptions,
    pub(crate) insecure: InsecureRegistries,
    /// Agents by host, trust setting and certs.d contents (read again for every
    /// session, as dockerd reads them for every pull: a CA added is used at once).
    agents: Mutex<HashMap<(String, bool, String), Agent>>,
    tokens: TokenCache,
    pub(crate) backoff: Backoff,
}

/// A registry's answer that is not a success, for the caller to word.
#[derive(Debug, Clone)]
pub(crate) struct StatusError {
    pub method: &'static str,
    pub url: String,
    pub status: u16,
    pub entry: Option<ErrorEntry>,
    /// The bearer challenge said `error="insufficient_scope"`.
    pub insufficient_scope: bool,
}

impl StatusError {
    /// The cause as docker/distribution prints it (`manifest unknown: manifest unknown`).
    pub fn cause(&self) -> String {
        if self.insufficient_scope && self.entry.as_ref().is_none_or(|e| e.code != "DENIED") {
            return "denied: requested access to the resource is denied".into();
        }
        match &self.entry {
            Some(e) => e.describe(),
            // A HEAD's refusal has no body to explain it.
            None if self.status == 401 => "unauthorized: authentication required".into(),
            None => format!("unexpected status {}", self.status),
        }
    }

    pub fn code(&self) -> &str {
        if self.insufficient_scope {
            return "DENIED";
        }
        self.entry.as_ref().map_or("", |e| e.code.as_str())
    }

    pub fn into_error(self) -> PullError {
        let cause = self.cause();
        PullError::Request {
            method: self.method,
            url: self.url,
            cause,
            transient: transient_status(self.status),
        }
    }
}

/// A bearer token, how long it lasts, and the refresh token that came with it.
struct Token {
    value: String,
    life: Duration,
    refresh: String,
}

/// Why no token came.
enum TokenFailure {
    /// The token server answered with an error status.
    Refused {
        method: &'static str,
        url: String,
        status: u16,
        cause: String,
    },
    /// It could not be asked, or its answer holds no token.
    Failed(PullError),
}

/// A request's outcome: a response to read, or a status the registry refused with.
pub(crate) enum Answer {
    Ok(Response<Body>),
    Refused(StatusError),
}

/// Go's spelling of a method in a `url.Error` (`Get "https://…": …`).
pub(crate) fn go_method(m: &str) -> &'static str {
    match m {
        "HEAD" => "Head",
        "POST" => "Post",
        "PUT" => "Put",
        "PATCH" => "Patch",
        "DELETE" => "Delete",
        _ => "Get",
    }
}

/// What a request sends.
pub(crate) enum Payload<'a> {
    Empty,
    /// Bytes in memory, sent again on a retry.
    Bytes(&'a [u8]),
    /// A file's first `len` bytes, read again from the start on a retry; `sent` hears
    /// how many have gone out of the current attempt.
    File {
        file: &'a std::fs::File,
        len: u64,
        sent: &'a (dyn Fn(u64) + Sync),
    },
    /// A stream of unknown length (sent chunked): it cannot be sent twice, so a
    /// request carrying it is not retried.
    Stream(&'a mut (dyn std::io::Read + Send)),
}

impl Payload<'_> {
    fn replayable(&self) -> bool {
        !matches!(self, Payload::Stream(_))
    }
}

/// Reads a file from the start, counting what has been read.
struct Counted<'a> {
    file: &'a std::fs::File,
    at: u64,
    len: u64,
    sent: &'a (dyn Fn(u64) + Sync),
}

impl std::io::Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let want = (self.len - self.at).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.at)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the blob's file is shorter than its size",
            ));
        }
        self.at += n as u64;
        (self.sent)(self.at);
        Ok(n)
    }
}

/// Whether an I/O error is TLS refusing the peer (an unknown issuer, a wrong name, a
/// client certificate the server wants): trying again changes nothing.
fn is_tls_refusal(e: &std::io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

fn transport_error(method: &str, url: &str, e: ureq::Error) -> PullError {
    let transient = match &e {
        ureq::Error::Io(io) => !is_tls_refusal(io),
        other => matches!(
            other,
            ureq::Error::Timeout(_)
                | ureq::Error::ConnectionFailed
                | ureq::Error::HostNotFound
                | ureq::Error::Protocol(_)
                | ureq::Error::BodyStalled
        ),
    };
    PullError::Request {
        method: go_method(method),
        url: url.to_string(),
        cause: e.to_string(),
        transient,
    }
}

/// Reads a small body (error documents, tokens); at most `limit` bytes.
pub(crate) fn read_small(resp: Response<Body>, limit: u64) -> Result<Vec<u8>, ureq::Error> {
    resp.into_body()
        .into_with_config()
        .limit(limit)
        .read_to_vec()
}

impl Transport {
    pub fn new(options: RegistryOptions) -> Result<Transport, String> {
        let insecure = InsecureRegistries::new(&options.insecure_registries)?;
        for m in &options.mirrors {
            super::hosts::normalize_mirror(m)?;
        }
        Ok(Transport {
            options,
            insecure,
            agents: Mutex::new(HashMap::new()),
            tokens: TokenCache::default(),
            backoff: Backoff::default(),
        })
    }

    /// Where a registry domain is reached, in the order to try.
    pub(crate) fn endpoints(&self, domain: &str) -> Vec<Endpoint> {
        endpoints(domain, &self.insecure, &self.options.mirrors)
    }

    pub(crate) fn agent(&self, ep: &Endpoint) -> Result<Agent, PullError> {
        let host_certs = certs::load(&self.options.certs_dir, &ep.host)
            .map_err(|e| PullError::Invalid(format!("registry {}: {e}", ep.host)))?;
        let key = (ep.host.clone(), ep.skip_verify, host_certs.fingerprint());
        let mut agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = agents.get(&key) {
            return Ok(a.clone());
        }
        // An agent made with other certs.d contents is stale.
        agents.retain(|k, _| !(k.0 == key.0 && k.1 == key.1));
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(self.options.user_agent.as_str())
            .tls_config(certs::tls_config(&host_certs, ep.skip_verify))
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .max_idle_connections_per_host(self.options.max_concurrent_downloads.max(1) + 2)
            .build();
        let agent: Agent = config.into();
        agents.insert(key, agent.clone());
        Ok(agent)
    }

    /// A session with repository `repo` on `ep`: pings `/v2/` (which says whether the
    /// endpoint answers at all, and how it wants us to authenticate). `retry`: whether
    /// transient failures of the ping are tried again (not when a fallback follows).
    pub(crate) fn session(
        self: &Arc<Self>,
        ep: &Endpoint,
        repo: &str,
        scope: &str,
        creds: &Credentials,
        retry: bool,
        cancel: Arc<AtomicBool>,
    ) -> Result<Session, PullError> {
        let agent = self.agent(ep)?;
        let mut s = Session {
            transport: self.clone(),
            endpoint: ep.clone(),
            agent,
            repo: repo.to_string(),
            scope: scope.to_string(),
            creds: creds.clone(),
            mode: AuthMode::Anonymous,
            cancel,
        };
        let url = format!("{}/v2/", ep.base);
        let resp = if retry {
            s.send("GET", &url, &[], Payload::Empty, false)?
        } else {
            s.agent
                .get(&url)
                .call()
                .map_err(|e| transport_error("GET", &url, e))?
        };
        let status = resp.status().as_u16();
        if status == 401 {
            let challenges = resp
                .headers()
                .get_all("www-authenticate")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(parse_challenges)
                .collect::<Vec<Challenge>>();
            s.mode = if let Some(b) = challenges.iter().find(|c| c.scheme == "bearer") {
                AuthMode::Bearer {
                    realm: b.param("realm").unwrap_or_default().to_string(),
                    service: b.param("service").map(str::to_string),
                }
            } else if challenges.iter().any(|c| c.scheme == "basic") {
                AuthMode::Basic
            } else {
                return Err(PullError::Request {
                    method: "Get",
                    url,
                    cause:
                        "unauthorized: the registry names no authentication scheme berth supports"
                            .into(),
                    transient: false,
                });
            };
        } else if !(200..300).contains(&status) {
            return Err(PullError::Request {
                method: "Get",
                url,
                cause: format!(
                    "unexpected status {status}: is this a Docker Registry HTTP API v2 / OCI distribution registry?"
                ),
                transient: transient_status(status),
            });
        }
        Ok(s)
    }
}

/// Requests to one repository through one endpoint, authenticated.
pub struct Session {
    transport: Arc<Transport>,
    pub(crate) endpoint: Endpoint,
    agent: Agent,
    pub(crate) repo: String,
    /// The token scopes requests need, space-separated (`repository:NAME:pull`).
    scope: String,
    creds: Credentials,
    mode: AuthMode,
    pub(crate) cancel: Arc<AtomicBool>,
}

impl Session {
    pub(crate) fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.endpoint.base, self.repo)
    }

    pub(crate) fn backoff(&self) -> Backoff {
        self.transport.backoff
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    fn scope(&self) -> String {
        self.scope.clone()
    }

    /// The Authorization header to send (None: anonymous). `fresh`: do not use a
    /// cached token (the registry refused it).
    fn authorization(
        &self,
        method: &str,
        url: &str,
        fresh: bool,
    ) -> Result<Option<String>, PullError> {
        match &self.mode {
            AuthMode::Anonymous => Ok(None),
            AuthMode::Basic => match self.creds.basic() {
                Some(b) => Ok(Some(b)),
                None => Err(PullError::NoBasicAuthCredentials {
                    method: go_method(method),
                    url: url.to_string(),
                }),
            },
            AuthMode::Bearer { realm, service } => {
                if !self.creds.registry_token.is_empty() {
                    return Ok(Some(format!("Bearer {}", self.creds.registry_token)));
                }
                let scope = self.scope();
                let svc = service.as_deref().unwrap_or("");
                let user = &self.creds.username;
                if fresh {
                    self.transport.tokens.forget(realm, svc, &scope, user);
                } else if let Some(t) = self.transport.tokens.get(realm, svc, &scope, user) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let (token, life) = self.fetch_token(realm, service.as_deref(), &scope)?;
                self.transport
                    .tokens
                    .put(realm, svc, &scope, user, token.clone(), life);
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<(String, Duration), PullError> {
        match self.request_token(realm, service, Some(scope)) {
            Ok(t) => Ok((t.value, t.life)),
            Err(TokenFailure::Failed(e)) => Err(e),
            Err(TokenFailure::Refused {
                method,
                url,
                status,
                cause,
            }) => Err(PullError::Request {
                method,
                url,
                cause,
                transient: transient_status(status),
            }),
        }
    }

    /// Asks the token server for a token for `scope` (None: a login, which asks for
    /// none and for a refresh token), with the session's credentials: an OAuth2
    /// refresh-token grant (POST) for an identity token, else a GET with basic
    /// credentials when there are some.
    fn request_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
    ) -> Result<Token, TokenFailure> {
        if realm.is_empty() {
            return Err(TokenFailure::Failed(PullError::Invalid(format!(
                "registry {} asks for a bearer token but names no realm",
                self.endpoint.host
            ))));
        }
        let (method, url, resp) = if !self.creds.identity_token.is_empty() {
            use super::auth::encode;
            let mut form = format!(
                "grant_type=refresh_token&refresh_token={}&service={}&client_id=berth",
                encode(&self.creds.identity_token),
                encode(service.unwrap_or("")),
            );
            match scope {
                Some(sc) => form.push_str(&format!("&scope={}", encode(sc))),
                None => form.push_str("&access_type=offline"),
            }
            let r = self
                .agent
                .post(realm)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .send(form.as_bytes());
            ("POST", realm.to_string(), r)
        } else {
            let url = match scope {
                Some(sc) => token_url(realm, service, sc),
                None => login_token_url(realm, service, &self.creds.username),
            };
            let mut req = self.agent.get(&url);
            if let Some(b) = self.creds.basic() {
                req = req.header("Authorization", &b);
            }
            ("GET", url.clone(), req.call())
        };
        let failed = |e| TokenFailure::Failed(transport_error(method, &url, e));
        let resp = resp.map_err(failed)?;
        let status = resp.status().as_u16();
        let body = read_small(resp, 1 << 20).map_err(failed)?;
        if !(200..300).contains(&status) {
            return Err(TokenFailure::Refused {
                method: go_method(method),
                url,
                status,
                cause: token_refusal(status, &body),
            });
        }
        let answer = serde_json::from_slice::<TokenResponse>(&body).ok();
        let refresh = answer
            .as_ref()
            .map(|a| a.refresh_token.clone())
            .unwrap_or_default();
        answer
            .and_then(TokenResponse::into_token)
            .map(|(value, life)| Token {
                value,
                life,
                refresh,
            })
            .ok_or_else(|| {
                TokenFailure::Failed(PullError::Request {
                    method: go_method(method),
                    url,
                    cause: "the token server's answer holds no token".into(),
                    transient: false,
                })
            })
    }

    /// Checks the session's credentials as dockerd's login does: with the registry's
    /// challenge learnt, `GET /v2/` authenticated (basic; or a bearer token asked for
    /// no scope) must answer 2xx. Returns the identity token (the token server's
    /// refresh token) when there is one.
    pub(crate) fn check_login(&self) -> Result<String, LoginError> {
        let url = format!("{}/v2/", self.endpoint.base);
        let (auth, identity) = match &self.mode {
            AuthMode::Anonymous => (None, String::new()),
            AuthMode::Basic => (self.authorization("GET", &url, false)?, String::new()),
            AuthMode::Bearer { .. } if !self.creds.registry_token.is_empty() => (
                Some(format!("Bearer {}", self.creds.registry_token)),
                String::new(),
            ),
            AuthMode::Bearer { realm, service } => {
                match self.request_token(realm, service.as_deref(), None) {
                    Ok(t) => (Some(format!("Bearer {}", t.value)), t.refresh),
                    // dockerd names the request the token was for.
                    Err(TokenFailure::Refused { status, cause, .. }) => {
                        let m = format!("Get \"{url}\": {cause}");
                        return Err(if status == 401 {
                            LoginError::Unauthorized(m)
                        } else {
                            LoginError::Failed(PullError::Invalid(m))
                        });
                    }
                    Err(TokenFailure::Failed(e)) => return Err(e.into()),
                }
            }
        };
        let mut req = self.agent.get(&url);
        if let Some(a) = &auth {
            req = req.header("Authorization", a.as_str());
        }
        let resp = req.call().map_err(|e| transport_error("GET", &url, e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(identity);
        }
        let m = format!(
            "login attempt to {url} failed with status: {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        Err(if status.as_u16() == 401 {
            LoginError::Unauthorized(m)
        } else {
            LoginError::Failed(PullError::Invalid(m))
        })
    }

    /// Sends a request, authenticated, retrying transient failures with backoff and a
    /// refused authentication once with a fresh token. Answers with any status.
    pub(crate) fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        mut payload: Payload<'_>,
        authenticate: bool,
    ) -> Result<Response<Body>, PullError> {
        let backoff = self.backoff();
        let mut failed = 0u32;
        let mut refreshed = false;
        let replayable = payload.replayable();
        loop {
            if self.cancelled() {
                return Err(PullError::Cancelled(url.to_string()));
            }
            let auth = if authenticate {
                self.authorization(method, url, refreshed)?
            } else {
                None
            };
            let outcome = self.attempt(method, url, headers, &mut payload, auth.as_deref());
            let (err, wait) = match outcome {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if status == 401
                        && auth.is_some()
                        && !refreshed
                        && replayable
                        && matches!(self.mode, AuthMode::Bearer { .. })
                    {
                        refreshed = true;
                        continue;
                    }
                    if !transient_status(status) || !replayable {
                        return Ok(resp);
                    }
                    let ra = retry_after(
                        resp.headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok()),
                    );
                    let e = self.refusal(method, url, resp).into_error();
                    (e, ra)
                }
                Err(e) => (transport_error(method, url, e), None),
            };
            if !err.is_transient() || !replayable {
                return Err(err);
            }
            failed += 1;
            match backoff.delay(failed, wait) {
                Some(d) => std::thread::sleep(d),
                None => return Err(err),
            }
        }
    }

    /// One try of a request.
    fn attempt(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        payload: &mut Payload<'_>,
        auth: Option<&str>,
    ) -> Result<Response<Body>, ureq::Error> {
        macro_rules! with_headers {
            ($req:expr) => {{
                let mut req = $req;
                for (k, v) in headers {
                    req = req.header(*k, v.as_str());
                }
                if let Some(a) = auth {
                    req = req.header("Authorization", a);
                }
                req
            }};
        }
        let req = match method {
            "HEAD" => return with_headers!(self.agent.head(url)).call(),
            "GET" => return with_headers!(self.agent.get(url)).call(),
            "DELETE" => return with_headers!(self.agent.delete(url)).call(),
            "POST" => with_headers!(self.agent.post(url)),
            "PUT" => with_headers!(self.agent.put(url)),
            _ => with_headers!(self.agent.patch(url)),
        };
        match payload {
            Payload::Empty => req.header("Content-Length", "0").send(&[][..]),
            Payload::Bytes(b) => req.send(*b),
            Payload::File { file, len, sent } => {
                let mut r = Counted {
                    file,
                    at: 0,
                    len: *len,
                    sent: *sent,
                };
                req.header("Content-Length", len.to_string())
                    .send(ureq::SendBody::from_reader(&mut r))
            }
            Payload::Stream(r) => req.send(ureq::SendBody::from_reader(*r)),
        }
    }

    /// Sends an authenticated request; a non-2xx status is a [`StatusError`].
    pub(crate) fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<Answer, PullError> {
        self.request_with(method, url, headers, Payload::Empty)
    }

    /// [`Session::request`] with something to send.
    pub(crate) fn request_with(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        payload: Payload<'_>,
    ) -> Result<Answer, PullError> {
        let resp = self.send(method, url, headers, payload, true)?;
        if resp.status().is_success() {
            Ok(Answer::Ok(resp))
        } else {
            Ok(Answer::Refused(self.refusal(method, url, resp)))
        }
    }

    /// A refused request, with the registry's error document and challenge.
    pub(crate) fn refusal(&self, method: &str, url: &str, resp: Response<Body>) -> StatusError {
        let status = resp.status().as_u16();
        let insufficient_scope = resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_challenges)
            .any(|c| c.scheme == "bearer" && c.param("error") == Some("insufficient_scope"));
        let entry = read_small(resp, 64 << 10)
            .ok()
            .and_then(|b| parse_error_body(&b));
        StatusError {
            method: go_method(method),
            url: url.to_string(),
            status,
            entry,
            insufficient_scope,
        }
    }
}
