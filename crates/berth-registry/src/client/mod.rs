//! The registry client: pulls images from registries speaking the Docker Registry
//! HTTP API v2 / OCI distribution spec into berth-image's content store and
//! snapshots.
//!
//! - [`hosts`]: which endpoints serve a registry (Hub mirrors; insecure registries).
//! - [`certs`]: TLS trust per registry (system CAs plus `certs.d`).
//! - [`auth`]: challenges, credentials, bearer tokens and their cache.
//! - `transport`: HTTP sessions over ureq, authenticated and retried ([`retry`]).
//! - `manifest`, `blob`: verified manifests and blobs; resumable layer streams.
//! - `pull`, `layers`: the pull itself, layers in parallel, streamed into snapshots.
//! - `login`: checking credentials (`/auth`); `search`: a registry's v1 search.

pub mod auth;
mod blob;
pub mod certs;
pub mod compress;
pub mod error;
pub mod hosts;
mod layers;
mod login;
pub mod manifest;
mod pull;
mod push;
pub mod retry;
mod search;
mod transport;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub use auth::Credentials;
pub use error::{LoginError, PullError};
pub use hosts::{InsecureRegistries, RegistryOptions, DOCKER_HUB};
pub use login::{LoginOk, LOGIN_SUCCEEDED};
pub use pull::{Progress, PullTarget, Pulled, LEASE_PREFIX};
pub use push::{PushImage, PushLayer, Pushed};
pub use search::{split_search_term, SearchResult, DEFAULT_SEARCH_LIMIT};

use berth_image::model::{Descriptor, Document, Platform};
use berth_types::Reference;
use transport::{read_small, Answer, Transport};

/// The client, shared by the daemon's pulls (its agents and token cache with them).
pub struct RegistryClient {
    transport: Arc<Transport>,
}

/// `/tags/list`'s answer.
#[derive(Debug, serde::Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

impl RegistryClient {
    /// A client with these settings; an invalid insecure-registry entry or mirror is
    /// an error naming it.
    pub fn new(options: RegistryOptions) -> Result<RegistryClient, String> {
        Ok(RegistryClient {
            transport: Arc::new(Transport::new(options)?),
        })
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.transport.options
    }

    pub fn insecure(&self) -> &InsecureRegistries {
        &self.transport.insecure
    }

    /// Runs `f` with a session on the registry of `reference`: through each endpoint
    /// in turn (Hub mirrors before Hub; HTTPS before HTTP for an insecure registry),
    /// the next one tried when a session cannot be opened or a mirror fails.
    fn on_registry<T>(
        &self,
        reference: &Reference,
        creds: &Credentials,
        cancel: Arc<AtomicBool>,
        f: impl FnMut(&transport::Session) -> Result<T, PullError>,
    ) -> Result<T, PullError> {
        let scope = format!("repository:{}:pull", reference.path());
        self.on_registry_as(reference, &scope, creds, cancel, false, f)
    }

    /// [`Self::on_registry`] asking tokens for `scope` (space-separated scopes);
    /// `origin_only`: never through a mirror (pushes).
    fn on_registry_as<T>(
        &self,
        reference: &Reference,
        scope: &str,
        creds: &Credentials,
        cancel: Arc<AtomicBool>,
        origin_only: bool,
        mut f: impl FnMut(&transport::Session) -> Result<T, PullError>,
    ) -> Result<T, PullError> {
        let mut eps = self.transport.endpoints(reference.domain());
        if origin_only {
            eps.retain(|e| !e.mirror);
        }
        let mut last = None;
        for (i, ep) in eps.iter().enumerate() {
            let final_ep = i + 1 == eps.len();
            let session = match self.transport.session(
                ep,
                reference.path(),
                scope,
                creds,
                final_ep,
                cancel.clone(),
            ) {
                Ok(s) => s,
                Err(e) if !final_ep => {
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            match f(&session) {
                Err(e) if ep.mirror && !final_ep && !matches!(e, PullError::Cancelled(_)) => {
                    last = Some(e)
                }
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| {
            PullError::Invalid(format!("no endpoint for registry {}", reference.domain()))
        }))
    }

    /// Every tag of `name`'s repository (`/tags/list`, following `Link` pages).
    pub fn tags(&self, name: &Reference, creds: &Credentials) -> Result<Vec<String>, PullError> {
        let cancel = Arc::new(AtomicBool::new(false));
        self.on_registry(name, creds, cancel, |s| tags_from(s, name))
    }

    /// What `reference` resolves to on its registry (the descriptor of its manifest or
    /// index) and, for an index, the platforms it offers: `/distribution/{name}/json`.
    pub fn resolve(
        &self,
        reference: &Reference,
        creds: &Credentials,
    ) -> Result<(Descriptor, Vec<Platform>), PullError> {
        let cancel = Arc::new(AtomicBool::new(false));
        self.on_registry(reference, creds, cancel, |s| resolve_on(s, reference))
    }
}

fn tags_from(session: &transport::Session, name: &Reference) -> Result<Vec<String>, PullError> {
    let mut url = session.url("tags/list");
    let mut out = Vec::new();
    for _ in 0..1000 {
        let resp = match session.request("GET", &url, &[])? {
            Answer::Ok(r) => r,
            Answer::Refused(e) => {
                return Err(match e.code() {
                    "DENIED" => PullError::AccessDenied {
                        name: name.familiar_name(),
                        cause: e.cause(),
                    },
                    "NAME_UNKNOWN" => PullError::NameUnknown {
                        name: name.familiar_name(),
                        cause: e.cause(),
                    },
                    _ => e.into_error(),
                })
            }
        };
        let next = resp
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let body = read_small(resp, 16 << 20).map_err(|e| PullError::Request {
            method: "Get",
            url: url.clone(),
            cause: e.to_string(),
            transient: true,
        })?;
        let list: TagList = serde_json::from_slice(&body).map_err(|e| {
            PullError::Invalid(format!(
                "the tag list of {} does not parse: {e}",
                name.familiar_name()
            ))
        })?;
        out.extend(list.tags.unwrap_or_default());
        match next {
            Some(n) if n.starts_with('/') => url = format!("{}{n}", session.endpoint.base),
            Some(n) => url = n,
            None => break,
        }
    }
    Ok(out)
}

fn resolve_on(
    session: &transport::Session,
    reference: &Reference,
) -> Result<(Descriptor, Vec<Platform>), PullError> {
    let r = match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "latest".into(),
    };
    let f = manifest::fetch(session, &r, None)?.map_err(|e| {
        if e.code() == "DENIED" {
            PullError::AccessDenied {
                name: reference.familiar_name(),
                cause: e.cause(),
            }
        } else if e.status == 404 {
            PullError::ManifestUnknown {
                reference: reference.familiar(),
                cause: e.cause(),
            }
        } else {
            e.into_error()
        }
    })?;
    let platforms = match &f.document {
        Document::Index(i) => i
            .manifests
            .iter()
            .filter_map(|m| m.platform.clone())
            .collect(),
        Document::Manifest(_) => Vec::new(),
    };
    Ok((f.descriptor, platforms))
}

/// The `rel="next"` target of a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn link_headers_give_the_next_page() {
        assert_eq!(
            super::next_link(r#"</v2/a/tags/list?last=x&n=2>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?last=x&n=2")
        );
        assert_eq!(super::next_link(r#"<http://x/>; rel="prev""#), None);
    }
}
