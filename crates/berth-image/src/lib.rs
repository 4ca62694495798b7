//! berth-image: how images live on disk. A digest-verified content store, the image
//! model (OCI and Docker schema 2), layer apply and diff (tar with whiteouts), overlay
//! snapshots, and image archives (docker save/load, OCI layout, rootfs import/export).

#![forbid(unsafe_code)]

pub mod archive;
pub mod content;
pub mod copy;
mod fsutil;
pub mod gc;
pub mod images;
pub mod layer;
pub mod lease;
pub mod model;
pub mod snapshot;

pub use content::{ContentError, ContentStore};
pub use fsutil::read_full;
