//! berth-client: a typed client for the Engine API.
