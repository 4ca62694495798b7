//! berth-runc: berth's OCI runtime, with runc's command line.

fn main() {
    let code = berth_runtime::cli::main(std::env::args_os().collect());
    std::process::exit(code);
}
