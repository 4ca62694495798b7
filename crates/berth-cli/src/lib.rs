//! berth's docker-compatible command line: definitions and output.

pub mod template;
