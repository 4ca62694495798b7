//! `GET /images/search`: the registry's v1 search (`/v1/search?q=&n=`), the only
//! search registries have. Docker Hub's is at index.docker.io; registries speaking
//! only the v2 API (`registry:2`, `berth registry serve`) have none, and the error
//! says so, naming the registry.

use super::error::PullError;
use super::hosts::{endpoints, Endpoint, DOCKER_HUB};
use super::transport::read_small;
use super::RegistryClient;

/// Where Docker Hub's search is served.
const DOCKER_HUB_INDEX: &str = "https://index.docker.io";
/// Results asked for when the client names no limit (dockerd's default).
pub const DEFAULT_SEARCH_LIMIT: u32 = 25;

/// One search result, as registries send it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct SearchResult {
    pub name: String,
    pub description: String,
    pub star_count: u32,
    pub is_official: bool,
    pub is_automated: bool,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct SearchAnswer {
    results: Vec<SearchResult>,
}

/// A search term split as dockerd splits it: `host[:port]/term` searches that
/// registry (the first part must look like a host: a dot, a port, or `localhost`);
/// anything else searches Docker Hub.
pub fn split_search_term(term: &str) -> (String, String) {
    match term.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DOCKER_HUB.to_string(), term.to_string()),
    }
}

impl RegistryClient {
    /// Searches the registry `term` names for the rest of it, asking for `limit`
    /// results (1 to 100; 0 means [`DEFAULT_SEARCH_LIMIT`]).
    pub fn search(&self, term: &str, limit: u32) -> Result<Vec<SearchResult>, PullError> {
        if limit > 100 {
            return Err(PullError::Invalid(format!(
                "Limit {limit} is outside the range of [1, 100]"
            )));
        }
        let limit = if limit == 0 {
            DEFAULT_SEARCH_LIMIT
        } else {
            limit
        };
        let (domain, mut q) = split_search_term(term);
        let eps: Vec<Endpoint> = if domain == DOCKER_HUB {
            if let Some(official) = q.strip_prefix("library/") {
                q = official.to_string();
            }
            vec![Endpoint {
                base: DOCKER_HUB_INDEX.into(),
                host: DOCKER_HUB.into(),
                skip_verify: false,
                mirror: false,
            }]
        } else {
            endpoints(&domain, &self.transport.insecure, &[])
        };
        let mut last = None;
        for (i, ep) in eps.iter().enumerate() {
            let final_ep = i + 1 == eps.len();
            let url = format!(
                "{}/v1/search?q={}&n={limit}",
                ep.base,
                super::auth::encode(&q)
            );
            let failed = |cause: String| PullError::Request {
                method: "Get",
                url: url.clone(),
                cause,
                transient: false,
            };
            let agent = self.transport.agent(ep)?;
            let resp = match agent.get(&url).call() {
                Ok(r) => r,
                // Over HTTPS first, then plain HTTP, for an insecure registry.
                Err(e) if !final_ep => {
                    last = Some(failed(e.to_string()));
                    continue;
                }
                Err(e) => return Err(failed(e.to_string())),
            };
            let status = resp.status();
            if !status.is_success() {
                let why = if status.as_u16() == 404 {
                    format!(
                        "registry {domain} offers no search (GET {url} answered 404 Not Found): \
                         registries speaking only the distribution API v2, such as registry:2 \
                         and berth registry serve, have none"
                    )
                } else {
                    format!(
                        "registry {domain} refused the search (GET {url} answered {} {})",
                        status.as_u16(),
                        status.canonical_reason().unwrap_or("")
                    )
                };
                return Err(PullError::Invalid(format!(
                    "Unexpected status code {}: {why}",
                    status.as_u16()
                )));
            }
            let body = read_small(resp, 16 << 20).map_err(|e| failed(e.to_string()))?;
            let answer: SearchAnswer = serde_json::from_slice(&body).map_err(|e| {
                PullError::Invalid(format!(
                    "the search results of registry {domain} do not parse: {e}"
                ))
            })?;
            return Ok(answer.results);
        }
        Err(last
            .unwrap_or_else(|| PullError::Invalid(format!("no endpoint for registry {domain}"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms_name_their_registry_as_dockerd_splits_them() {
        let s = |t: &str| {
            let (a, b) = split_search_term(t);
            (a, b)
        };
        assert_eq!(s("busybox"), ("docker.io".into(), "busybox".into()));
        assert_eq!(
            s("library/busybox"),
            ("docker.io".into(), "library/busybox".into())
        );
        assert_eq!(
            s("127.0.0.1:5000/foo"),
            ("127.0.0.1:5000".into(), "foo".into())
        );
        assert_eq!(s("localhost/a/b"), ("localhost".into(), "a/b".into()));
        assert_eq!(
            s("registry.example.com/x"),
            ("registry.example.com".into(), "x".into())
        );
    }
}
