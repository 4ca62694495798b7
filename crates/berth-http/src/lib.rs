//! berth-http: HTTP/1.1 on blocking streams, for servers that give each connection a
//! thread of its own. Request heads are parsed with httparse; request bodies are read
//! incrementally by Content-Length or chunked transfer coding (never buffered whole);
//! responses go out with a length or chunked. The daemon (Docker's Engine API) and the
//! registry server (`berth registry serve`) both speak HTTP through this crate, so
//! there is one HTTP/1.1 implementation in the tree, and a server keeps the raw socket
//! at hand for what a framework would hide (hijacked attach streams, `sendfile(2)`).

#![forbid(unsafe_code)]

mod conn;
mod date;
mod query;
mod response;
mod socket;

pub use conn::{BodyError, BodyReader, Conn, HeadError, Request};
pub use date::http_date;
pub use query::{percent_decode, percent_encode, Query, QueryError};
pub use response::{head, reason, Chunked, Framing};
pub use socket::Socket;
