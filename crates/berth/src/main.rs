//! berth: the container engine's command line. For now it hosts `berth runtime ARGS…`,
//! the same OCI runtime as `berth-runc ARGS…`.

fn main() {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match args.get(1).and_then(|a| a.to_str()) {
        Some("runtime") => {
            let original = args.clone();
            args.remove(1);
            std::process::exit(berth_runtime::cli::main_as(args, original));
        }
        Some("version") | Some("--version") | Some("-v") => {
            println!("berth version {}", env!("CARGO_PKG_VERSION"));
        }
        _ => {
            eprintln!(
                "usage: berth runtime [--root DIR] COMMAND [ARGS...]   (berth's OCI runtime; see `berth runtime help`)"
            );
            std::process::exit(if args.len() > 1 { 125 } else { 0 });
        }
    }
}
