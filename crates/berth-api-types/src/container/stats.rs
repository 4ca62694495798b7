//! `GET /containers/{id}/stats`: the resource usage sample the docker CLI computes
//! `docker stats` from. Keys are lower case here, as the API has them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::de::{is_default, nullable};

/// One stats sample. `precpu_stats` is the previous sample's `cpu_stats`, so a client
/// can compute a CPU percentage from one message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// RFC 3339 with nanoseconds.
    pub read: String,
    /// The previous sample's `read`; `0001-01-01T00:00:00Z` for the first.
    pub preread: String,
    pub pids_stats: PidsStats,
    pub blkio_stats: BlkioStats,
    pub num_procs: u32,
    pub storage_stats: StorageStats,
    pub cpu_stats: CpuStats,
    pub precpu_stats: CpuStats,
    pub memory_stats: MemoryStats,
    /// With its leading slash.
    pub name: String,
    pub id: String,
    /// Per interface (`eth0`); absent for containers without a network namespace of
    /// their own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networks: Option<BTreeMap<String, NetworkStats>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PidsStats {
    #[serde(skip_serializing_if = "is_default")]
    pub current: u64,
    #[serde(skip_serializing_if = "is_default")]
    pub limit: u64,
}

/// Block I/O counters (null lists when the cgroup has none, as dockerd sends).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioStats {
    pub io_service_bytes_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_serviced_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_queue_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_service_time_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_wait_time_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_merged_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_time_recursive: Option<Vec<BlkioStatEntry>>,
    pub sectors_recursive: Option<Vec<BlkioStatEntry>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioStatEntry {
    pub major: u64,
    pub minor: u64,
    /// `read`, `write`, … (as the kernel spells it).
    pub op: String,
    pub value: u64,
}

/// Windows only; kept so that samples from there parse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageStats {
    #[serde(skip_serializing_if = "is_default")]
    pub read_count_normalized: u64,
    #[serde(skip_serializing_if = "is_default")]
    pub read_size_bytes: u64,
    #[serde(skip_serializing_if = "is_default")]
    pub write_count_normalized: u64,
    #[serde(skip_serializing_if = "is_default")]
    pub write_size_bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuStats {
    pub cpu_usage: CpuUsage,
    /// Host CPU time in nanoseconds, over all CPUs.
    #[serde(skip_serializing_if = "is_default")]
    pub system_cpu_usage: u64,
    #[serde(skip_serializing_if = "is_default")]
    pub online_cpus: u32,
    pub throttling_data: ThrottlingData,
}

/// Nanoseconds of CPU time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    pub total_usage: u64,
    /// Per CPU (cgroup v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nullable")]
    pub percpu_usage: Vec<u64>,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottlingData {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

/// Bytes. `stats` holds the cgroup's memory.stat (`inactive_file`, `anon`, …), which
/// the docker CLI subtracts from `usage` for the cache.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryStats {
    #[serde(skip_serializing_if = "is_default")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_default")]
    pub max_usage: u64,
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable"
    )]
    pub stats: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "is_default")]
    pub failcnt: u64,
    #[serde(skip_serializing_if = "is_default")]
    pub limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}
