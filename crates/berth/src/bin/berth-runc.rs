//! berth-runc: berth's OCI runtime, with runc's command line.

#![forbid(unsafe_code)]

fn main() {
    let code = berth_runtime::cli::main(std::env::args_os().collect());
    std::process::exit(code);
}
