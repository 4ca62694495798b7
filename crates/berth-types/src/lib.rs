//! Shared ids and error kinds for berth. No I/O lives here.
