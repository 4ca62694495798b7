//! Shared ids, digests and image references for berth. No I/O lives here.

#![forbid(unsafe_code)]

pub mod civil;
pub mod detach;
pub mod device;
mod digest;
pub mod gofmt;
pub mod mac;
mod reference;
pub mod time;
pub mod ulimit;

pub use digest::{Algorithm, Digest, DigestError};
pub use reference::{Reference, ReferenceError};
