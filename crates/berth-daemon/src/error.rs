//! The daemon's errors: [`ApiError`] is what one request answers with (a status and
//! Docker's `{"message": …}`); [`DaemonError`] is why the daemon could not start.

use std::path::PathBuf;

use berth_engine::EngineError;

/// A failed request: the HTTP status and the message the client shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400: a bad query parameter or body.
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// 404 `page not found`: no such route.
    pub fn no_route() -> Self {
        Self::new(404, "page not found")
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        Self::new(e.status(), e.to_string())
    }
}

impl From<berth_http::QueryError> for ApiError {
    fn from(e: berth_http::QueryError) -> Self {
        Self::bad(e.to_string())
    }
}

impl From<berth_http::BodyError> for ApiError {
    fn from(e: berth_http::BodyError) -> Self {
        match e {
            berth_http::BodyError::Read(_) => Self::bad(e.to_string()),
            berth_http::BodyError::TooLarge(_) => Self::new(413, e.to_string()),
        }
    }
}

impl From<berth_api_types::FiltersError> for ApiError {
    fn from(e: berth_api_types::FiltersError) -> Self {
        Self::bad(e.to_string())
    }
}

/// Why the daemon could not start (or stop cleanly). Each names what was at fault.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// A command-line flag or daemon.json problem.
    #[error("{0}")]
    Config(String),
    #[error("cannot read config file {path}: {source}")]
    ReadConfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("another daemon is listening on {0}")]
    SocketInUse(PathBuf),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("pid file {path} names running process {pid}: is another berth daemon using this exec root?")]
    PidfileInUse { path: PathBuf, pid: i32 },
    #[error("cannot write pid file {path}: {source}")]
    Pidfile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot set up signal handling: {0}")]
    Signals(std::io::Error),
    #[error("cannot start the engine: {0}")]
    Engine(EngineError),
}
