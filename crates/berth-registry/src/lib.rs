//! berth-registry: berth's side of the distribution protocol (the OCI distribution
//! spec 1.1, which the Docker Registry HTTP API v2 became), over berth-image's content
//! store. [`client`] pulls images from registries (tag, digest, index → platform; basic
//! and token auth; verified, resumable, parallel layer downloads streamed into overlay
//! snapshots). [`server`] is the registry server, `berth registry serve` (what users
//! otherwise run as `registry:2`), and its garbage collector, `berth registry gc`.

#![forbid(unsafe_code)]

pub mod client;
pub mod server;
