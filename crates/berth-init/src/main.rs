//! berth-init: the init process `docker run --init` puts in a container. It is
//! bind-mounted at /dev/init and started as PID 1 with the user's command after `--`:
//! `/dev/init -- CMD ARG…`.
//!
//! A program that is not written to be PID 1 misbehaves there in two ways: the kernel
//! drops signals it has no handler for (so `docker stop` waits out its timeout), and
//! orphaned processes, which the kernel re-parents to PID 1, stay zombies because
//! nothing waits for them. This init runs the command as its only direct child, relays
//! every signal it receives to that child, reaps every process re-parented to it, and
//! exits with the child's status (128 + the signal when a signal killed it) as soon as
//! the child exits; the kernel then ends whatever else is left in the pid namespace.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use berth_sys::Forked;

use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions, WaitStatus};

const USAGE: &str = "\
Usage: berth-init [OPTIONS] [--] COMMAND [ARG...]

Run COMMAND as the child of a minimal init: forward signals to it, reap zombies,
and exit with its exit status (128+N when signal N killed it).

Options:
  -h, --help     print this help and exit
      --version  print the version and exit
";

/// Exit status for a usage error, as getopt-style tools use.
const EXIT_USAGE: u8 = 2;
/// Exit statuses a shell (and `docker run`) uses when the command cannot run.
const EXIT_CANNOT_EXECUTE: u8 = 126;
const EXIT_NOT_FOUND: u8 = 127;

/// How often to sweep for zombies even without a SIGCHLD: a safety net, since
/// SIGCHLDs coalesce and a signal is never the only way to learn of a child's end.
const SWEEP_INTERVAL_MS: u64 = 1000;

#[derive(Debug, PartialEq)]
enum Invocation {
    Help,
    Version,
    Run(Vec<OsString>),
}

/// Every option ends the parsing (help, version), so only the first word can be one;
/// a leading `--` is dropped and the rest is the command.
fn parse(args: Vec<OsString>) -> Result<Invocation, String> {
    let mut rest = args.into_iter().peekable();
    match rest.peek().and_then(|a| a.to_str()) {
        Some("--") => {
            rest.next();
        }
        Some("-h" | "--help") => return Ok(Invocation::Help),
        Some("--version") => return Ok(Invocation::Version),
        Some(opt) if opt.starts_with('-') && opt != "-" => {
            return Err(format!("unknown option {opt:?}"))
        }
        _ => {}
    }
    let command: Vec<OsString> = rest.collect();
    if command.is_empty() {
        return Err("no command given".to_string());
    }
    Ok(Invocation::Run(command))
}

fn main() -> ExitCode {
    // Writes to a closed stdout/stderr are not worth failing over: ignore their errors.
    match parse(std::env::args_os().skip(1).collect()) {
        Ok(Invocation::Help) => {
            let _ = io::stdout().write_all(USAGE.as_bytes());
            ExitCode::SUCCESS
        }
        Ok(Invocation::Version) => {
            let _ = writeln!(io::stdout(), "berth-init {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Invocation::Run(command)) => ExitCode::from(run(&command)),
        Err(msg) => {
            let _ = write!(io::stderr(), "berth-init: {msg}\n\n{USAGE}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Runs `command` under supervision; returns the status to exit with.
fn run(command: &[OsString]) -> u8 {
    let (program, args) = command
        .split_first()
        .expect("parse refuses an empty command");

    // Block every signal before the child exists, so none meant for it is lost in
    // between; they then queue for sigtimedwait instead of running handlers. (Blocked
    // signals also reach PID 1 without a handler; the kernel would drop them
    // otherwise.) The child unblocks them before it execs the command.
    berth_sys::block_all_signals();
    // As PID 1 orphans come to us anyway; anywhere else (a test, `berth-init` run by
    // hand) this makes them come to us too, so reaping behaves the same.
    if rustix::process::getpid() != Pid::INIT {
        if let Err(e) = berth_sys::set_child_subreaper() {
            let _ = writeln!(io::stderr(), "berth-init: cannot become a subreaper: {e}");
        }
    }

    let child = match berth_sys::fork() {
        Ok(Forked::Child) => exec_command(program, args),
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => {
            let _ = writeln!(io::stderr(), "berth-init: cannot fork: {e}");
            return 1;
        }
    };
    let Some(child) = Pid::from_raw(child) else {
        let _ = writeln!(io::stderr(), "berth-init: fork returned pid {child}");
        return 1;
    };

    loop {
        match berth_sys::wait_signal(SWEEP_INTERVAL_MS) {
            Some(sig) if sig == Signal::CHILD.as_raw() => {}
            Some(sig) => forward(child, sig),
            None => {} // timeout or interrupted: sweep anyway
        }
        if let Some(status) = reap(child) {
            return status;
        }
    }
}

/// In the forked child: give the command a clean signal state (nothing blocked,
/// default dispositions, including SIGPIPE which Rust's runtime ignores) and exec it,
/// searching PATH. Only returns by exiting with 127/126 when it cannot run; the parent
/// sees that as the command's status, as a shell would report it.
fn exec_command(program: &OsString, args: &[OsString]) -> ! {
    // std's spawn keeps the parent's signal mask, so a plain `Command::spawn` would
    // start the command with every signal blocked: hence fork + exec here.
    berth_sys::reset_signal_handlers();
    berth_sys::unblock_all_signals();
    let e = Command::new(program).args(args).exec();
    let _ = writeln!(
        io::stderr(),
        "berth-init: cannot run {}: {e}",
        program.to_string_lossy()
    );
    berth_sys::exit_now(i32::from(exec_failure_status(&e)))
}

/// 127 when the program does not exist (or a directory on its path does not), 126
/// when it exists but cannot be executed — the statuses shells and Docker use.
fn exec_failure_status(e: &io::Error) -> u8 {
    match e.raw_os_error().map(Errno::from_raw_os_error) {
        Some(Errno::NOENT | Errno::NOTDIR) => EXIT_NOT_FOUND,
        _ => EXIT_CANNOT_EXECUTE,
    }
}

fn forward(child: Pid, sig: i32) {
    match berth_sys::kill(child.as_raw_nonzero().get(), sig) {
        Ok(()) => {}
        // The child exited before we could tell it: its SIGCHLD is already queued.
        Err(e) if e.raw_os_error() == Some(Errno::SRCH.raw_os_error()) => {}
        Err(e) => {
            let _ = writeln!(
                io::stderr(),
                "berth-init: forwarding signal {sig} to pid {child}: {e}",
                child = child.as_raw_nonzero()
            );
        }
    }
}

/// Waits for every child that has ended (the command and any orphan re-parented to
/// us); returns the command's exit status once it is among them.
fn reap(child: Pid) -> Option<u8> {
    let mut status = None;
    loop {
        // Any child (wait4(-1)), not just those in our process group: orphans keep
        // the group they were in.
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some((pid, st))) => {
                if pid == child {
                    status = Some(exit_status(st));
                }
            }
            // Children remain, none has ended; or none remain at all.
            Ok(None) | Err(Errno::CHILD) => return status,
            Err(Errno::INTR) => continue,
            Err(e) => {
                let _ = writeln!(io::stderr(), "berth-init: waitpid: {e}");
                return status;
            }
        }
    }
}

/// A shell's view of how a process ended: its exit code, or 128 + the signal.
fn exit_status(st: WaitStatus) -> u8 {
    if let Some(code) = st.exit_status() {
        return u8::try_from(code & 0xff).expect("masked to a byte");
    }
    if let Some(sig) = st.terminating_signal() {
        return u8::try_from((128 + sig) & 0xff).expect("masked to a byte");
    }
    // Stopped or continued are not reported without WUNTRACED/WCONTINUED.
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_options_and_the_command() {
        let run = |w: &[&str]| Ok(Invocation::Run(args(w)));
        assert_eq!(
            parse(args(&["--", "sh", "-c", "true"])),
            run(&["sh", "-c", "true"])
        );
        assert_eq!(parse(args(&["sh", "-h"])), run(&["sh", "-h"]));
        assert_eq!(parse(args(&["--", "--version"])), run(&["--version"]));
        assert_eq!(parse(args(&["-h"])), Ok(Invocation::Help));
        assert_eq!(parse(args(&["--help", "--", "x"])), Ok(Invocation::Help));
        assert_eq!(parse(args(&["--version"])), Ok(Invocation::Version));
        assert!(parse(args(&[])).is_err());
        assert!(parse(args(&["--"])).is_err());
        let err = parse(args(&["-x", "sh"])).unwrap_err();
        assert!(err.contains("-x"), "{err}");
    }

    #[test]
    fn exec_errors_map_to_shell_statuses() {
        let e = |n: Errno| io::Error::from_raw_os_error(n.raw_os_error());
        assert_eq!(exec_failure_status(&e(Errno::NOENT)), 127);
        assert_eq!(exec_failure_status(&e(Errno::NOTDIR)), 127);
        assert_eq!(exec_failure_status(&e(Errno::ACCESS)), 126);
        assert_eq!(exec_failure_status(&e(Errno::NOEXEC)), 126);
    }
}
