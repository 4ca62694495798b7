//! Shared ids, digests and image references for berth. No I/O lives here.

pub mod civil;
mod digest;
mod reference;

pub use digest::{Algorithm, Digest, DigestError};
pub use reference::{Reference, ReferenceError};
