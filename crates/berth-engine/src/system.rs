//! `/version` and `/info`: what the daemon says about itself and its host.

use std::path::PathBuf;

use berth_api_types::system::{Info, Version};

/// What `/info` needs from the rest of the engine.
#[derive(Debug, Clone, Default)]
pub struct InfoInputs {
    pub containers_running: usize,
    pub containers_paused: usize,
    pub containers_stopped: usize,
    pub images: usize,
    pub data_root: PathBuf,
    pub live_restore: bool,
    /// Path of the berth-runc binary, shown as the default runtime.
    pub runtime_path: PathBuf,
    pub init_path: Option<PathBuf>,
}

/// `/version`: API 1.41, minimum 1.24, berth's version, Go-style os/arch names.
pub fn version() -> Version {
    Version::default()
}

/// `/info` for this host.
pub fn info(inputs: &InfoInputs) -> Info {
    let _ = inputs;
    Info::default()
}
