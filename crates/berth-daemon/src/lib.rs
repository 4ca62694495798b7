//! berth-daemon: the HTTP face of berth-engine. Docker's Engine API (v1.41, and
//! v1.24 onwards in request paths) over HTTP/1.1 on unix sockets and TCP, served
//! synchronously: one thread per connection, blocking I/O, no async runtime.
//!
//! [`main`] is `berth daemon`: flags and daemon.json ([`config`]), pid file and
//! sockets ([`listen`]), signals, and the [`server::Server`] that routes requests to
//! an [`Engine`].

#![forbid(unsafe_code)]

pub mod config;
pub mod error;
pub mod hijack;
pub mod http;
#[macro_use]
pub mod log;
pub mod listen;
mod routes;
pub mod server;
pub mod time;

use std::os::unix::net::UnixStream;
use std::sync::Arc;

use berth_engine::{Engine, EngineConfig, EngineResult};

pub use config::{Command, DaemonConfig, Host};
pub use error::{ApiError, DaemonError};
pub use listen::{Listener, Pidfile};
pub use server::{Server, ServerHandle};

/// The engine the daemon serves, and what to run when the daemon stops (for example
/// `LocalEngine::shutdown`, which stops containers without live-restore).
pub struct DaemonEngine {
    pub engine: Arc<dyn Engine>,
    pub on_shutdown: Option<Box<dyn FnOnce() + Send>>,
}

impl DaemonEngine {
    pub fn new(engine: Arc<dyn Engine>) -> DaemonEngine {
        DaemonEngine {
            engine,
            on_shutdown: None,
        }
    }

    /// Runs `f` once, after the API stops accepting and before the daemon exits.
    pub fn on_shutdown(mut self, f: impl FnOnce() + Send + 'static) -> DaemonEngine {
        self.on_shutdown = Some(Box::new(f));
        self
    }
}

impl From<Arc<dyn Engine>> for DaemonEngine {
    fn from(engine: Arc<dyn Engine>) -> Self {
        DaemonEngine::new(engine)
    }
}

/// So that `berth_daemon::main(args, LocalEngine::open)` works as it is.
impl<T: Engine> From<Arc<T>> for DaemonEngine {
    fn from(engine: Arc<T>) -> Self {
        DaemonEngine::new(engine)
    }
}

/// `berth daemon ARGS…`: runs until SIGTERM or SIGINT; returns the exit code.
///
/// `make_engine` opens the engine once the pid file and sockets are in place; it may
/// return an `Arc<dyn Engine>` or a [`DaemonEngine`] carrying a shutdown hook.
pub fn main<E: Into<DaemonEngine>>(
    args: Vec<String>,
    make_engine: impl FnOnce(EngineConfig) -> EngineResult<E>,
) -> i32 {
    match run(&args, make_engine) {
        Ok(()) => 0,
        Err(e) => {
            log::log(log::Level::Error, &e.to_string());
            1
        }
    }
}

fn run<E: Into<DaemonEngine>>(
    args: &[String],
    make_engine: impl FnOnce(EngineConfig) -> EngineResult<E>,
) -> Result<(), DaemonError> {
    use std::io::Write;
    let config = match config::parse_args(args)? {
        Command::Help => {
            let _ = std::io::stdout().write_all(config::USAGE.as_bytes());
            return Ok(());
        }
        Command::Version => {
            let _ = writeln!(
                std::io::stdout(),
                "berth daemon version {}, API version 1.41 (minimum 1.24)",
                env!("CARGO_PKG_VERSION")
            );
            return Ok(());
        }
        Command::Run(c) => c,
    };
    log::set_level(config.log_level);
    info!("Starting up berth daemon {}", env!("CARGO_PKG_VERSION"));
    berth_engine::system::check_kernel().map_err(DaemonError::Config)?;
    let fallbacks = berth_engine::system::kernel_fallbacks();
    if fallbacks.is_empty() {
        info!(
            "Kernel {}: every kernel feature berth uses is present",
            berth_engine::system::kernel_version()
        );
    }
    for f in fallbacks {
        info!("Kernel {}: {f}", berth_engine::system::kernel_version());
    }

    // Signals first, so a SIGTERM that comes while the engine opens is not lost.
    let signals = Signals::install()?;
    let pidfile = Pidfile::create(&config.pidfile)?;
    let mut listeners = Vec::with_capacity(config.hosts.len());
    for host in &config.hosts {
        listeners.push(Listener::bind(host)?);
    }
    let engine: DaemonEngine = make_engine(config.engine_config())
        .map_err(DaemonError::Engine)?
        .into();
    let server = Server::new(engine.engine, listeners);
    info!("Daemon has completed initialization");
    for l in server.listeners() {
        info!("API listen on {}", l.addr());
    }
    if let Err(e) = server.run(&signals.read) {
        error!("API server failed: {e}");
    }
    info!("Processing signal: stopping the API server");
    // Stop accepting first (the listeners close and their socket files go), then let
    // the engine shut down, then drop the pid file.
    drop(server);
    if let Some(hook) = engine.on_shutdown {
        hook();
    }
    drop(pidfile);
    signals.uninstall();
    info!("Daemon shutdown complete");
    Ok(())
}

/// SIGTERM and SIGINT, delivered through a self-pipe the accept loop polls.
struct Signals {
    read: UnixStream,
    ids: Vec<signal_hook::SigId>,
}

impl Signals {
    fn install() -> Result<Signals, DaemonError> {
        let (read, write) = UnixStream::pair().map_err(DaemonError::Signals)?;
        write.set_nonblocking(true).map_err(DaemonError::Signals)?;
        let mut ids = Vec::new();
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            let w = write.try_clone().map_err(DaemonError::Signals)?;
            ids.push(signal_hook::low_level::pipe::register(sig, w).map_err(DaemonError::Signals)?);
        }
        Ok(Signals { read, ids })
    }

    fn uninstall(self) {
        for id in self.ids {
            signal_hook::low_level::unregister(id);
        }
    }
}
