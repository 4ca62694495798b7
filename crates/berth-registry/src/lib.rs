//! berth-registry: the Docker Registry HTTP API v2 / OCI distribution protocol, over
//! berth-image's content store. [`client`] pulls images from registries (tag, digest,
//! index → platform; basic and token auth; verified, resumable, parallel layer
//! downloads streamed into overlay snapshots).

#![forbid(unsafe_code)]

pub mod client;
