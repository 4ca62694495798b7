//! The Docker Engine API v1.41 models, shared by berth's daemon (which serves them) and
//! its client (which reads them, from berth or from a real dockerd).
//!
//! Field names are the API's own, byte for byte. Serialisation follows what dockerd
//! sends: fields the docker CLI and SDKs read are always present (an empty list is `[]`,
//! never missing), and fields dockerd omits when empty are omitted. Deserialisation is
//! tolerant: missing fields take their defaults, `null` stands for empty, and unknown
//! fields are ignored, so requests from older and newer clients parse.

#![forbid(unsafe_code)]

pub mod build;
pub mod container;
pub mod error;
pub mod exec;
pub mod filters;
pub mod gojson;
pub mod image;
pub mod network;
pub mod registry;
pub mod system;
pub mod volume;

mod de;

pub use error::ErrorResponse;
pub use filters::{Filters, FiltersError};
