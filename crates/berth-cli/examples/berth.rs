//! The CLI alone, for trying it against any daemon (`-H`): the `berth` binary wires
//! the same entry point.

fn main() {
    std::process::exit(berth_cli::main(std::env::args().skip(1).collect()));
}
