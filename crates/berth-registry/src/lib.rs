//! berth-registry: berth's side of the distribution protocol (the OCI distribution
//! spec 1.1, which the Docker Registry HTTP API v2 became). [`server`] is the registry
//! server, `berth registry serve` (what users otherwise run as `registry:2`), and its
//! garbage collector, `berth registry gc`; the client (pull and push) sits beside it.

#![forbid(unsafe_code)]

pub mod server;
