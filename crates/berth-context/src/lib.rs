//! A build's context as a client sends it: [`ignore`] (`.dockerignore`, Docker's
//! pattern rules) and [`context`] (the tar the docker CLI writes, entry for entry).
//! Both the CLI (which sends it) and the builder (which reads COPY's globs with the
//! same matcher) use it; nothing of the engine is below it.

#![forbid(unsafe_code)]

pub mod context;
pub mod ignore;
