//! Dockerfiles: the parser (the whole grammar, as dockerd's classic builder and
//! BuildKit's Dockerfile frontend read it), variable substitution and Docker's ARG/ENV
//! scoping; `.dockerignore` and the build context as the docker CLI sends it
//! ([`context`], [`ignore`]). The builder will live here too.
//!
//! ```
//! let df = berth_build::Dockerfile::parse("FROM busybox\nENV MESSAGE \"nothing to say\"\n").unwrap();
//! assert_eq!(df.stages[0].steps[1].original, "ENV MESSAGE \"nothing to say\"");
//! ```

pub mod add;
pub mod builder;
pub use berth_context::{context, ignore};
mod dockerfile;
mod error;
mod flags;
mod instruction;
mod lines;
mod scope;
mod shell;
mod words;

pub use dockerfile::{Dockerfile, Stage, Step};
pub use error::ParseError;
pub use flags::{parse_duration, Mount, MountType, NetworkMode, SecurityMode, Sharing};
pub use instruction::{
    user_and_group, ArgDecl, Command, Copy, From, Healthcheck, Instruction, KeyValue, Run,
};
pub use lines::{Directives, Heredoc};
pub use scope::{expand, BuildArgs, ExpandedStage, GlobalScope, Platform, StageScope, PROXY_ARGS};
pub use shell::{Env, Lexer, SubstError};
