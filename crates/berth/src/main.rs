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
    if let Some(compose) = compose_args(&after(1)) {
        std::process::exit(berth_compose::main(compose));
    }
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
        _ => std::process::exit(berth_cli::main(after(1))),
    }
}

/// `compose ARGS` or `-H HOST compose ARGS` (the docker CLI's global flag before the
/// command): compose's own arguments, the host passed on as its `-H`.
fn compose_args(args: &[String]) -> Option<Vec<String>> {
    let mut host = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "compose" => {
                let mut out: Vec<String> = host
                    .into_iter()
                    .flat_map(|h| ["-H".to_string(), h])
                    .collect();
                out.extend(args[i + 1..].iter().cloned());
                return Some(out);
            }
            "-H" | "--host" => {
                host = Some(args.get(i + 1)?.clone());
                i += 2;
            }
            _ if a.starts_with("--host=") => {
                host = Some(a["--host=".len()..].to_string());
                i += 1;
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::compose_args;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn compose_is_found_behind_the_host_flag() {
        assert_eq!(compose_args(&v(&["compose", "ps"])), Some(v(&["ps"])));
        assert_eq!(
            compose_args(&v(&["-H", "unix:///x.sock", "compose", "up", "-d"])),
            Some(v(&["-H", "unix:///x.sock", "up", "-d"]))
        );
        assert_eq!(
            compose_args(&v(&["--host=tcp://h:1", "compose"])),
            Some(v(&["-H", "tcp://h:1"]))
        );
        assert_eq!(compose_args(&v(&["ps", "compose"])), None);
        assert_eq!(compose_args(&v(&["-H"])), None);
    }
}
