//! The terminal: raw mode for `-it` (restored when the guard drops, on every exit
//! path), the window size, and the signals `run` reacts to (SIGWINCH, and the ones
//! `--sig-proxy` forwards).

use std::io::{self, IsTerminal};

use rustix::termios::{self, OptionalActions, Termios};

/// Puts stdin in raw mode until dropped.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Raw mode on stdin, if stdin is a terminal.
    pub fn enable() -> io::Result<Option<RawMode>> {
        let stdin = io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        let saved = termios::tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(&stdin, OptionalActions::Now, &raw)?;
        Ok(Some(RawMode { saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(io::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// `(rows, columns)` of the terminal on stdout (or stdin), if there is one.
pub fn size() -> Option<(u16, u16)> {
    let from = |ws: termios::Winsize| (ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col));
    termios::tcgetwinsize(io::stdout())
        .ok()
        .and_then(from)
        .or_else(|| termios::tcgetwinsize(io::stdin()).ok().and_then(from))
}

/// The signals `--sig-proxy` forwards to the container.
pub const PROXIED: &[(i32, &str)] = &[
    (signal_hook::consts::SIGHUP, "SIGHUP"),
    (signal_hook::consts::SIGINT, "SIGINT"),
    (signal_hook::consts::SIGQUIT, "SIGQUIT"),
    (signal_hook::consts::SIGTERM, "SIGTERM"),
    (signal_hook::consts::SIGUSR1, "SIGUSR1"),
    (signal_hook::consts::SIGUSR2, "SIGUSR2"),
    (signal_hook::consts::SIGALRM, "SIGALRM"),
];

/// Calls `f` on a thread for every SIGWINCH.
pub fn on_resize(f: impl Fn() + Send + 'static) -> io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGWINCH])?;
    std::thread::spawn(move || {
        for _ in signals.forever() {
            f();
        }
    });
    Ok(())
}

/// Calls `f` with the signal's name for every proxied signal, on a thread.
pub fn proxy_signals(f: impl Fn(&str) + Send + 'static) -> io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new(PROXIED.iter().map(|(n, _)| *n))?;
    std::thread::spawn(move || {
        for sig in signals.forever() {
            if let Some((_, name)) = PROXIED.iter().find(|(n, _)| *n == sig) {
                f(name);
            }
        }
    });
    Ok(())
}

/// Turns echo off on stdin until dropped (a password prompt), if stdin is a terminal.
pub struct EchoOff {
    saved: Termios,
}

impl EchoOff {
    pub fn enable() -> io::Result<Option<EchoOff>> {
        let stdin = io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        let saved = termios::tcgetattr(&stdin)?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(termios::LocalModes::ECHO);
        termios::tcsetattr(&stdin, OptionalActions::Now, &quiet)?;
        Ok(Some(EchoOff { saved }))
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(io::stdin(), OptionalActions::Now, &self.saved);
    }
}
