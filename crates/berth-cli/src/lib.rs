//! berth's docker-compatible command line: definitions, the commands over
//! berth-client, and docker's output formats.
//!
//! [`main`] takes the arguments after the program name and returns the exit status,
//! with docker's codes: 125 when the CLI or the daemon failed to run a container,
//! 126/127 when its command could not be invoked or found, else the container's own.

#![forbid(unsafe_code)]

pub mod autostart;
pub mod build_context;
pub mod cli;
pub mod commands;
pub mod create_opts;
pub mod credentials;
pub mod format;
pub mod jsonmessage;
pub mod progress;
pub mod template;
pub mod term;
pub mod units;

use std::io::{self, IsTerminal, Read, Write};

use berth_client::{Client, ClientError};

use crate::cli::Cli;
use crate::create_opts::FlagError;
use crate::template::TemplateError;

/// A command's failure, printed on stderr by [`main`] (exit status 1 unless said).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Flag(#[from] FlagError),
    /// A `--format` that failed, in docker's words for list commands.
    #[error("{}", template_message(.0))]
    Template(#[from] TemplateError),
    #[error("{0}")]
    Msg(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// Already reported: exit with this status.
    #[error("exit status {0}")]
    Status(i32),
}

fn template_message(e: &TemplateError) -> String {
    match e {
        TemplateError::Parse { .. } => format!("failed to parse template: {e}"),
        TemplateError::Exec { .. } => format!("failed to execute template: {e}"),
    }
}

impl CliError {
    pub fn msg(m: impl Into<String>) -> CliError {
        CliError::Msg(m.into())
    }

    pub fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> CliError {
        let what = what.into();
        move |source| CliError::Io { what, source }
    }
}

/// What a command works with: the daemon, our output streams, our input.
pub struct Ctx<'a> {
    pub client: &'a Client,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    /// Our stdin, for `-i`; taken by the first command that attaches it.
    pub stdin: Option<Box<dyn Read + Send>>,
    /// Whether stdin is a terminal (raw mode and the window size apply).
    pub terminal: bool,
    /// Whether stdout is a terminal (`save` refuses to write an archive to one).
    pub out_terminal: bool,
    /// Whether to install signal handlers (SIGWINCH, `--sig-proxy`): the real CLI
    /// does, tests driving commands in-process do not.
    pub signals: bool,
}

/// Runs the CLI on `args` (without the program name); returns the exit status.
pub fn main(args: Vec<String>) -> i32 {
    use clap::FromArgMatches;
    let parsed = cli::command()
        .try_get_matches_from(std::iter::once("berth".to_string()).chain(args.clone()))
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let (code, text) = usage_error(&e, &args);
            if code == 0 {
                print!("{text}");
            } else {
                eprint!("{text}");
            }
            return code;
        }
    };
    if cli.version {
        println!("berth version {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let Some(command) = cli.command else {
        let _ = cli::command().print_help();
        return 0;
    };
    let mut stderr = io::stderr();
    let client = match autostart::connect(cli.host.as_deref(), &mut stderr) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(stderr, "{e}");
            return 1;
        }
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let terminal = io::stdin().is_terminal();
    let mut ctx = Ctx {
        client: &client,
        out: &mut out,
        err: &mut stderr,
        stdin: Some(Box::new(io::stdin())),
        terminal,
        out_terminal: io::stdout().is_terminal(),
        signals: true,
    };
    let code = commands::dispatch(&mut ctx, command);
    let _ = ctx.out.flush();
    code
}

/// Runs one docker-style command line (`["exec", "-i", "ID", "sh"]`, without the
/// program name) with `ctx`: how other front ends (compose) reuse these commands
/// with their exact behaviour. A usage error is printed on `ctx.err`.
pub fn run_in(ctx: &mut Ctx<'_>, args: &[String]) -> i32 {
    use clap::FromArgMatches;
    let parsed = cli::command()
        .try_get_matches_from(std::iter::once("berth".to_string()).chain(args.iter().cloned()))
        .and_then(|m| Cli::from_arg_matches(&m));
    match parsed {
        Ok(Cli {
            command: Some(command),
            ..
        }) => commands::dispatch(ctx, command),
        Ok(_) => 1,
        Err(e) => {
            let (code, text) = usage_error(&e, args);
            let _ = ctx.err.write_all(text.as_bytes());
            code
        }
    }
}

/// The command path the user typed (`ps`, `container ls`), for usage messages.
fn command_path(args: &[String]) -> String {
    let mut words = Vec::new();
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
            continue;
        }
        if matches!(a.as_str(), "-H" | "--host" | "-l" | "--log-level") {
            skip = true;
            continue;
        }
        if a.starts_with('-') {
            if words.is_empty() {
                continue;
            }
            break;
        }
        words.push(a.as_str());
        if words.len() == 2 || !matches!(words[0], "builder" | "container" | "image" | "system") {
            break;
        }
    }
    words.join(" ")
}

/// A parse failure as docker reports it: the text and the exit status (125 for a bad
/// flag, 1 for missing arguments or an unknown command, 0 for help).
fn usage_error(e: &clap::Error, args: &[String]) -> (i32, String) {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let path = command_path(args);
    let usage = match e.get(ContextKind::Usage) {
        Some(ContextValue::StyledStr(u)) => u.to_string().replacen("Usage: ", "Usage:  ", 1),
        _ => format!("Usage:  berth {path}"),
    };
    let invalid = match e
        .get(ContextKind::InvalidArg)
        .or_else(|| e.get(ContextKind::InvalidSubcommand))
    {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => (0, e.to_string()),
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => (0, e.to_string()),
        ErrorKind::UnknownArgument => {
            let flag = invalid.split('=').next().unwrap_or("").to_string();
            (
                125,
                format!("unknown flag: {flag}\n\n{usage}\n\nRun 'berth {path} --help' for more information\n"),
            )
        }
        ErrorKind::InvalidSubcommand => (
            1,
            format!("berth: unknown command: berth {invalid}\n\nRun 'berth --help' for more information\n"),
        ),
        ErrorKind::MissingRequiredArgument | ErrorKind::TooFewValues => (
            1,
            format!("berth: 'berth {path}' requires at least 1 argument\n\n{usage}\n\nSee 'berth {path} --help' for more information\n"),
        ),
        _ => (125, format!("{e}\nSee 'berth {path} --help' for more information\n")),
    }
}
