//! A container's resource usage, read from its cgroup (v1, hybrid or v2), in the Engine
//! API's stats shape.

use berth_api_types::container::Stats;

use crate::api::{EngineError, EngineResult};

/// One sample for the container whose OCI `cgroupsPath` is `cgroup_path`. `read` and
/// `preread` timestamps, `num_procs`, `cpu_stats.online_cpus` and
/// `cpu_stats.system_cpu_usage` (from /proc/stat) are filled; `precpu_stats` is left
/// empty. Name and id are filled by the caller.
pub fn cgroup_stats(cgroup_path: &str) -> EngineResult<Stats> {
    let _ = cgroup_path;
    Err(EngineError::Internal("stats: not implemented yet".into()))
}
