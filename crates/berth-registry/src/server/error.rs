//! Errors as the distribution spec words them: a code from its table, the HTTP status
//! that goes with it, and the JSON body
//! `{"errors":[{"code":"BLOB_UNKNOWN","message":"…","detail":…}]}`.

use std::path::PathBuf;

use serde_json::{json, Value};

/// The spec's error codes (and `UNKNOWN` for what the server itself got wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    PaginationNumberInvalid,
    SizeInvalid,
    TagInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    Unknown,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
            Code::SizeInvalid => "SIZE_INVALID",
            Code::TagInvalid => "TAG_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Denied => "DENIED",
            Code::Unsupported => "UNSUPPORTED",
            Code::Unknown => "UNKNOWN",
        }
    }

    /// The status the spec (and registry:2) answers this code with.
    pub fn status(self) -> u16 {
        match self {
            Code::BlobUnknown
            | Code::BlobUploadUnknown
            | Code::ManifestBlobUnknown
            | Code::ManifestUnknown
            | Code::NameUnknown => 404,
            Code::BlobUploadInvalid
            | Code::DigestInvalid
            | Code::ManifestInvalid
            | Code::NameInvalid
            | Code::PaginationNumberInvalid
            | Code::SizeInvalid
            | Code::TagInvalid => 400,
            Code::Unauthorized => 401,
            Code::Denied => 403,
            Code::Unsupported => 405,
            Code::Unknown => 500,
        }
    }
}

/// A failed request: what the client is told.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryError {
    pub status: u16,
    pub code: Code,
    pub message: String,
    pub detail: Option<Value>,
}

impl RegistryError {
    pub fn new(code: Code, message: impl Into<String>) -> RegistryError {
        RegistryError {
            status: code.status(),
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// The same error with another status (416 for an upload chunk out of order).
    pub fn with_status(mut self, status: u16) -> RegistryError {
        self.status = status;
        self
    }

    pub fn with_detail(mut self, detail: impl Into<Value>) -> RegistryError {
        self.detail = Some(detail.into());
        self
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        let mut e = json!({ "code": self.code.as_str(), "message": self.message });
        if let Some(d) = &self.detail {
            e["detail"] = d.clone();
        }
        let mut out = json!({ "errors": [e] }).to_string().into_bytes();
        out.push(b'\n');
        out
    }

    /// A failure of the server's own storage: 500, the path in the message.
    pub fn storage(err: StoreError) -> RegistryError {
        RegistryError::new(Code::Unknown, err.to_string())
    }
}

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> Self {
        RegistryError::storage(e)
    }
}

impl From<berth_image::content::ContentError> for RegistryError {
    fn from(e: berth_image::content::ContentError) -> Self {
        RegistryError::storage(e.into())
    }
}

/// What went wrong in the registry's storage; every case names its path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Content(#[from] berth_image::content::ContentError),
}

/// `map_err` for a filesystem call on `path`.
pub(crate) fn io_err<'a>(
    context: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        context,
        path: path.to_path_buf(),
        source,
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot open the registry's storage: {0}")]
    Store(#[from] StoreError),
    #[error("htpasswd file {path}: {message}")]
    Htpasswd { path: PathBuf, message: String },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("cannot set up signal handling: {0}")]
    Signals(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_the_specs_json() {
        let e = RegistryError::new(Code::BlobUnknown, "blob unknown to registry")
            .with_detail("sha256:abc");
        assert_eq!(e.status, 404);
        let v: Value = serde_json::from_slice(&e.body()).expect("json");
        assert_eq!(
            v,
            json!({"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown to registry", "detail": "sha256:abc"}]})
        );
        let e = RegistryError::new(Code::BlobUploadInvalid, "out of order").with_status(416);
        assert_eq!(e.status, 416);
        let v: Value = serde_json::from_slice(&e.body()).expect("json");
        assert!(v["errors"][0].get("detail").is_none());
        assert_eq!(Code::Unsupported.status(), 405);
        assert_eq!(Code::Unauthorized.as_str(), "UNAUTHORIZED");
    }
}
