//! Why a pull failed, worded as dockerd words it: clients (the docker CLI, compose,
//! CI scripts) match on these messages.

use berth_types::Digest;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A failed pull. The messages are dockerd's where dockerd has one.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The registry denied access (or the repository does not exist and the registry
    /// will not say so).
    #[error(
        "pull access denied for {name}, repository does not exist or may require 'docker login': {cause}"
    )]
    AccessDenied { name: String, cause: String },
    /// The registry refused a push (the registry's words: `denied: requested access
    /// to the resource is denied`).
    #[error("{0}")]
    Denied(String),
    #[error("manifest for {reference} not found: {cause}")]
    ManifestUnknown { reference: String, cause: String },
    #[error("repository {name} not found: {cause}")]
    NameUnknown { name: String, cause: String },
    /// The registry asks for basic auth and we have no credentials.
    #[error("{method} \"{url}\": no basic auth credentials")]
    NoBasicAuthCredentials { method: &'static str, url: String },
    /// A request failed (transport, TLS, or a status the registry explains).
    #[error("{method} \"{url}\": {cause}")]
    Request {
        method: &'static str,
        url: String,
        cause: String,
        /// Worth trying again (connection trouble, 5xx, 429).
        transient: bool,
    },
    /// Content did not hash to the digest that names it: nothing of it is kept.
    #[error("{what} verification failed for digest {digest}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Verification {
        /// `filesystem layer`, `manifest`, `image config`.
        what: &'static str,
        digest: Digest,
        detail: Option<String>,
    },
    #[error("no matching manifest for {platform} in the manifest list entries")]
    NoMatchingPlatform { platform: String },
    #[error("{0}")]
    Invalid(String),
    #[error("pull of {0} was cancelled")]
    Cancelled(String),
    /// Storing what was fetched failed (content store, snapshots, unpacking).
    #[error("{action}: {source}")]
    Store {
        action: String,
        #[source]
        source: BoxError,
    },
}

impl PullError {
    /// Whether the registry says the image is not there (or not for us): Engine API 404.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            PullError::AccessDenied { .. }
                | PullError::ManifestUnknown { .. }
                | PullError::NameUnknown { .. }
        )
    }

    pub(crate) fn store(action: impl Into<String>, source: impl Into<BoxError>) -> PullError {
        PullError::Store {
            action: action.into(),
            source: source.into(),
        }
    }

    pub(crate) fn is_transient(&self) -> bool {
        matches!(
            self,
            PullError::Request {
                transient: true,
                ..
            }
        )
    }
}

/// Why a login (`/auth`) failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The server address does not parse: Engine API 400.
    #[error("{0}")]
    BadAddress(String),
    /// The registry (or its token server) refused the credentials: Engine API 401,
    /// in dockerd's words (`login attempt to URL failed with status: 401 Unauthorized`,
    /// `Get "URL": unauthorized: …`).
    #[error("{0}")]
    Unauthorized(String),
    /// Anything else: the registry is unreachable, answers oddly, or wants basic
    /// credentials and got none (`Get "URL": no basic auth credentials`).
    #[error(transparent)]
    Failed(#[from] PullError),
}

/// One entry of a registry's JSON error body (`{"errors":[{"code","message"}]}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub(crate) struct ErrorEntry {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Default, serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
    /// Token servers' older form (Docker Hub's `{"details":"incorrect username or
    /// password"}`).
    #[serde(default)]
    details: String,
}

impl ErrorEntry {
    /// `manifest unknown: manifest unknown`, as docker/distribution's errcode prints.
    pub fn describe(&self) -> String {
        let code = self.code.to_ascii_lowercase().replace('_', " ");
        match (code.is_empty(), self.message.is_empty()) {
            (true, _) => self.message.clone(),
            (false, true) => code,
            (false, false) => format!("{code}: {}", self.message),
        }
    }
}

/// The first error of a registry error body, if it has one.
pub(crate) fn parse_error_body(body: &[u8]) -> Option<ErrorEntry> {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.errors.into_iter().next())
}

/// Why a token server refused, as docker/distribution's client words it: its
/// `details` (401: `unauthorized: …`), its first error, or for a 401 with neither
/// `unauthorized: authentication required`.
pub(crate) fn token_refusal(status: u16, body: &[u8]) -> String {
    let parsed = serde_json::from_slice::<ErrorBody>(body).ok();
    match parsed {
        Some(b) if !b.details.is_empty() => {
            if status == 401 {
                format!("unauthorized: {}", b.details)
            } else {
                b.details
            }
        }
        Some(b) if !b.errors.is_empty() => b.errors[0].describe(),
        _ if status == 401 => "unauthorized: authentication required".into(),
        _ => format!("token server answered {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_errors_read_as_distribution_prints_them() {
        let e = parse_error_body(
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#,
        )
        .unwrap();
        assert_eq!(e.describe(), "manifest unknown: manifest unknown");
        let e = PullError::ManifestUnknown {
            reference: "busybox:nope".into(),
            cause: e.describe(),
        };
        assert_eq!(
            e.to_string(),
            "manifest for busybox:nope not found: manifest unknown: manifest unknown"
        );
        assert!(e.is_not_found());
        assert!(parse_error_body(b"<html>").is_none());
        assert_eq!(
            token_refusal(401, br#"{"details":"incorrect username or password"}"#),
            "unauthorized: incorrect username or password"
        );
        assert_eq!(
            token_refusal(
                401,
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"bad"}]}"#
            ),
            "unauthorized: bad"
        );
        assert_eq!(
            token_refusal(401, b"nope"),
            "unauthorized: authentication required"
        );
        assert_eq!(token_refusal(503, b""), "token server answered 503");
        let d: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let v = PullError::Verification {
            what: "filesystem layer",
            digest: d.clone(),
            detail: None,
        };
        assert_eq!(
            v.to_string(),
            format!("filesystem layer verification failed for digest {d}")
        );
    }
}
