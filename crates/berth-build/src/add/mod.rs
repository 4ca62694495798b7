//! ADD's two special sources, as dockerd's classic builder treats them: a local file
//! that is a tar archive (plain, gzip, bzip2, xz or zstd; told by its bytes, never by
//! its name) is extracted rather than copied ([`open_archive`]), and an http(s) URL is
//! downloaded to a file that is then copied as it is, never extracted ([`download`]).

mod archive;
mod download;
mod proxy;

pub use archive::{decompressed, open_archive};
pub use download::{download, Download};

/// Why an ADD source could not be fetched. Every case names the URL, and the file
/// too when one was being written.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The URL does not parse, or is not http(s) (Go's `url.Error` wording).
    #[error("parse {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// `--checksum` is not a digest (checked before anything is fetched).
    #[error("invalid checksum {checksum:?} for {url}: {source}")]
    InvalidChecksum {
        url: String,
        checksum: String,
        source: berth_types::DigestError,
    },
    /// HTTP_PROXY/HTTPS_PROXY holds something that is no proxy address.
    #[error("invalid proxy address {proxy:?} for {url}: {reason}")]
    InvalidProxy {
        url: String,
        proxy: String,
        reason: String,
    },
    /// No answer: connection, TLS, redirect loop (`Get "<url>": <cause>`, as Go says).
    #[error("Get {url:?}: {cause}")]
    Request { url: String, cause: String },
    /// The server answered 4xx or 5xx (dockerd's words, body included).
    #[error("failed to GET {url} with status {status}: {body}")]
    Status {
        url: String,
        /// Code and reason: `404 Not Found`.
        status: String,
        code: u16,
        body: String,
    },
    /// The body broke off, or the file it goes to could not be written.
    #[error("downloading {url} to {}: {source}", path.display())]
    Write {
        url: String,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The content is not what `--checksum` pinned (BuildKit's words).
    #[error("digest mismatch for {url}: {actual} (expected: {expected})")]
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
    },
}

impl AddError {
    /// The status dockerd's errdefs give this failure on the API: a 400, 401, 403 or
    /// 404 answer is passed on, a bad URL, checksum or proxy is 400, the rest 500.
    pub fn http_status(&self) -> u16 {
        match self {
            AddError::InvalidUrl { .. }
            | AddError::InvalidChecksum { .. }
            | AddError::InvalidProxy { .. } => 400,
            AddError::Status { code, .. } if matches!(code, 400 | 401 | 403 | 404) => *code,
            _ => 500,
        }
    }
}
