//! `unpack LAYER DIR`: apply a layer tar (plain, gzip or zstd) to DIR and print its
//! diff_id. Used by bench/unpack.sh.

use std::fs::File;
use std::path::Path;
use std::process::ExitCode;

use berth_image::layer::apply::{apply_layer, ApplyOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, layer, dir] = &args[..] else {
        eprintln!("usage: unpack LAYER DIR");
        return ExitCode::from(2);
    };
    let file = match File::open(layer) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("unpack: {layer}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match apply_layer(Path::new(dir), file, &ApplyOptions::default()) {
        Ok(r) => {
            println!("{} {}", r.diff_id, r.size);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("unpack: {e}");
            ExitCode::FAILURE
        }
    }
}
