//! berth-sys: the only crate with `unsafe`; safe wrappers over raw syscalls.
