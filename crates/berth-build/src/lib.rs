//! berth-build: Dockerfile builds.

pub mod context;
pub mod ignore;
