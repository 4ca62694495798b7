//! berth-daemon: the HTTP face of berth-engine.
