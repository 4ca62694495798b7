//! Starting a daemon when none runs: with neither `-H` nor `DOCKER_HOST` given and
//! nothing answering on the default socket, `berth daemon` is spawned in the
//! background (its own process group, output to a log file) and awaited.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_client::{Client, ClientError};

use crate::CliError;

pub const DAEMON_LOG: &str = "/run/berth/berth-daemon.log";

/// A client for `-H`/`DOCKER_HOST`, or for the default socket, starting a daemon
/// there if nothing answers.
pub fn connect(flag: Option<&str>, err: &mut dyn Write) -> Result<Client, CliError> {
    let explicit = flag.is_some() || std::env::var("DOCKER_HOST").is_ok_and(|h| !h.is_empty());
    let client = Client::from_flag(flag)?;
    if explicit {
        return Ok(client);
    }
    match client.ping() {
        Err(ClientError::Connect { .. }) => {
            start_daemon(&client, err)?;
            Ok(Client::new(client.host().clone()))
        }
        _ => Ok(client),
    }
}

fn start_daemon(client: &Client, err: &mut dyn Write) -> Result<(), CliError> {
    let exe = std::env::current_exe().map_err(CliError::io("finding the berth executable"))?;
    fs::create_dir_all("/run/berth").map_err(CliError::io("creating /run/berth"))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(DAEMON_LOG)
        .map_err(CliError::io(format!("opening {DAEMON_LOG}")))?;
    let log2 = log
        .try_clone()
        .map_err(CliError::io(format!("opening {DAEMON_LOG}")))?;
    let mut child = Command::new(&exe)
        .arg("daemon")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        // Its own process group: our terminal's Ctrl-C must not reach it.
        .process_group(0)
        .spawn()
        .map_err(CliError::io(format!("starting {} daemon", exe.display())))?;
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if client.ping().is_ok() {
            let _ = writeln!(
                err,
                "berth: no daemon was running; started one (pid {pid}, log {DAEMON_LOG})"
            );
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(CliError::msg(format!(
                "berth: the daemon started for this command exited ({status}); see {DAEMON_LOG}"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(CliError::msg(format!(
        "berth: the daemon started for this command (pid {pid}) did not answer within 10 s; see {DAEMON_LOG}"
    )))
}
