//! `docker top`: the host's `ps` output, restricted to a container's processes.

use berth_api_types::container::ContainerTopResponse;

use crate::api::{EngineError, EngineResult};

/// Runs the host's `ps` (`-ef` unless `ps_args` is given) and keeps the rows whose PID
/// column is one of `pids`. Bad `ps_args` are a BadParameter error naming them.
pub fn top(pids: &[i32], ps_args: Option<&str>) -> EngineResult<ContainerTopResponse> {
    let _ = (pids, ps_args);
    Err(EngineError::Internal("top: not implemented yet".into()))
}
