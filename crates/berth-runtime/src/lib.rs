//! berth-runtime: the OCI runtime library.
