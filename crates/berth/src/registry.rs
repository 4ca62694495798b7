//! `berth registry serve|gc`: the registry server's command line. The server and the
//! collector are berth-registry's; this parses flags and prints.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use berth_registry::server::{self, Options};
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "berth registry",
    about = "Run a container image registry (OCI distribution spec 1.1, Docker Registry API v2)",
    disable_version_flag = true,
    disable_help_subcommand = true
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Serve the registry API until SIGTERM or SIGINT
    Serve(ServeArgs),
    /// Remove the blobs no manifest references, and uploads untouched for a week (run it while the registry is stopped or read-only)
    Gc(GcArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Address to listen on, host:port
    #[arg(long, default_value = server::DEFAULT_ADDR)]
    addr: String,
    /// Storage directory
    #[arg(long, default_value = server::DEFAULT_ROOT)]
    root: PathBuf,
    /// Require basic authentication against this htpasswd file (bcrypt entries, htpasswd -B)
    #[arg(long)]
    htpasswd: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Refuse every write
    #[arg(long)]
    read_only: bool,
    /// Allow deleting blobs and manifests
    #[arg(long)]
    delete: bool,
}

#[derive(Args, Debug)]
struct GcArgs {
    /// Storage directory
    #[arg(long, default_value = server::DEFAULT_ROOT)]
    root: PathBuf,
    /// Only list what would be removed
    #[arg(long)]
    dry_run: bool,
}

/// `berth registry ARGS…` (`args` starts after `registry`); returns the exit code.
pub fn main(args: Vec<String>) -> i32 {
    let argv = std::iter::once("berth registry".to_string()).chain(args);
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 125 } else { 0 };
        }
    };
    let result = match cli.command {
        Cmd::Serve(a) => serve(a).map_err(|e| e.to_string()),
        Cmd::Gc(a) => gc(a).map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "berth registry: {e}");
            1
        }
    }
}

fn serve(a: ServeArgs) -> Result<(), server::ServeError> {
    let options = Options {
        addr: a.addr,
        root: a.root,
        htpasswd: a.htpasswd,
        tls_cert: a.tls_cert,
        tls_key: a.tls_key,
        read_only: a.read_only,
        delete: a.delete,
    };
    let log: server::AccessLog = Arc::new(|line: &str| {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    });
    server::serve(&options, log, |addr, tls| {
        let scheme = if tls { "https" } else { "http" };
        let _ = writeln!(
            std::io::stderr(),
            "berth registry: listening on {scheme}://{addr}, storage in {}",
            options.root.display()
        );
    })
}

fn gc(a: GcArgs) -> Result<(), server::StoreError> {
    let report = server::gc::collect(&a.root, a.dry_run)?;
    let mut out = std::io::stdout().lock();
    let verb = if a.dry_run { "would remove" } else { "removed" };
    let mut bytes = 0u64;
    for (d, size) in &report.removed {
        bytes += size;
        let _ = writeln!(out, "{verb} {d} ({size} bytes)");
    }
    let _ = writeln!(
        out,
        "{} blobs {verb} ({bytes} bytes), {} kept; {} stale uploads {verb}",
        report.removed.len(),
        report.kept,
        report.stale
    );
    Ok(())
}
