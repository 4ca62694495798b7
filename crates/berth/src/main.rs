//! berth: the container engine's command line. `berth daemon …` runs the daemon,
//! `berth runtime …` the OCI runtime (the same as `berth-runc …`), `berth registry …`
//! the registry server, `berth compose …` multi-container projects, and every other
//! command is the docker-compatible client.

#![forbid(unsafe_code)]

mod registry;

use std::sync::Arc;

fn main() {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let after = |n: usize| -> Vec<String> {
        args.iter()
            .skip(n)
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    };
    match args.get(1).and_then(|a| a.to_str()) {
        Some("runtime") => {
            let original = args.clone();
            args.remove(1);
            std::process::exit(berth_runtime::cli::main_as(args, original));
        }
        Some("daemon") => {
            std::process::exit(berth_daemon::main(after(2), |config| {
                let engine = berth_engine::LocalEngine::open(config)?;
                let on_stop = Arc::clone(&engine);
                Ok(berth_daemon::DaemonEngine::new(engine).on_shutdown(move || on_stop.shutdown()))
            }));
        }
        Some("registry") => std::process::exit(registry::main(after(2))),
        Some("compose") => std::process::exit(berth_compose::main(after(2))),
        _ => std::process::exit(berth_cli::main(after(1))),
    }
}
