//! berth-image: how images live on disk. A digest-verified content store, the image
//! model (OCI and Docker schema 2), layer apply and diff (tar with whiteouts), overlay
//! snapshots, and image archives (docker save/load, OCI layout, rootfs import/export).

pub mod content;
pub mod model;

pub use content::{ContentError, ContentStore};
