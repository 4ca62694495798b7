//! `HostConfig`: the host-dependent part of a container's configuration — isolation,
//! security, restart policy, logging — with the cgroup `Resources` inline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Mount;
use crate::de::{nil_if_empty, nullable, str_slice_or_empty};
use crate::network::PortMap;

/// Cgroup limits. Inline in `HostConfig`, and the body of `POST /containers/{id}/update`.
/// Zero means "unset" for the plain integers, as in Docker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    #[serde(rename = "CpuShares")]
    pub cpu_shares: i64,
    /// Bytes.
    #[serde(rename = "Memory")]
    pub memory: i64,
    /// CPU quota in units of 10⁻⁹ CPUs.
    #[serde(rename = "NanoCpus")]
    pub nano_cpus: i64,
    #[serde(rename = "CgroupParent")]
    pub cgroup_parent: String,
    #[serde(rename = "BlkioWeight")]
    pub blkio_weight: u16,
    #[serde(
        rename = "BlkioWeightDevice",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub blkio_weight_device: Vec<WeightDevice>,
    #[serde(
        rename = "BlkioDeviceReadBps",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub blkio_device_read_bps: Vec<ThrottleDevice>,
    #[serde(
        rename = "BlkioDeviceWriteBps",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub blkio_device_write_bps: Vec<ThrottleDevice>,
    #[serde(
        rename = "BlkioDeviceReadIOps",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub blkio_device_read_iops: Vec<ThrottleDevice>,
    #[serde(
        rename = "BlkioDeviceWriteIOps",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub blkio_device_write_iops: Vec<ThrottleDevice>,
    /// Microseconds.
    #[serde(rename = "CpuPeriod")]
    pub cpu_period: i64,
    /// Microseconds per `CpuPeriod`.
    #[serde(rename = "CpuQuota")]
    pub cpu_quota: i64,
    #[serde(rename = "CpuRealtimePeriod")]
    pub cpu_realtime_period: i64,
    #[serde(rename = "CpuRealtimeRuntime")]
    pub cpu_realtime_runtime: i64,
    #[serde(rename = "CpusetCpus")]
    pub cpuset_cpus: String,
    #[serde(rename = "CpusetMems")]
    pub cpuset_mems: String,
    #[serde(
        rename = "Devices",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub devices: Vec<DeviceMapping>,
    #[serde(
        rename = "DeviceCgroupRules",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub device_cgroup_rules: Vec<String>,
    #[serde(
        rename = "DeviceRequests",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub device_requests: Vec<DeviceRequest>,
    /// Deprecated by the kernel; 0, as dockerd 20.10 sends it.
    #[serde(rename = "KernelMemory")]
    pub kernel_memory: i64,
    #[serde(rename = "KernelMemoryTCP")]
    pub kernel_memory_tcp: i64,
    #[serde(rename = "MemoryReservation")]
    pub memory_reservation: i64,
    /// Memory plus swap; -1 for unlimited swap.
    #[serde(rename = "MemorySwap")]
    pub memory_swap: i64,
    /// 0–100; null means "the host's default".
    #[serde(rename = "MemorySwappiness")]
    pub memory_swappiness: Option<i64>,
    #[serde(rename = "OomKillDisable")]
    pub oom_kill_disable: Option<bool>,
    /// Run an init inside the container. Omitted when unset, as dockerd does.
    #[serde(rename = "Init", skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// 0 or -1 for unlimited; null for "unchanged" (update) or "default".
    #[serde(rename = "PidsLimit")]
    pub pids_limit: Option<i64>,
    #[serde(
        rename = "Ulimits",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub ulimits: Vec<Ulimit>,
    #[serde(rename = "CpuCount")]
    pub cpu_count: i64,
    #[serde(rename = "CpuPercent")]
    pub cpu_percent: i64,
    #[serde(rename = "IOMaximumIOps")]
    pub io_maximum_iops: u64,
    #[serde(rename = "IOMaximumBandwidth")]
    pub io_maximum_bandwidth: u64,
}

/// `{Path, Weight}` for `BlkioWeightDevice`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WeightDevice {
    #[serde(rename = "Path")]
    pub path: String,
    #[serde(rename = "Weight")]
    pub weight: u16,
}

/// `{Path, Rate}` for the `BlkioDevice*` limits (bytes or operations per second).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottleDevice {
    #[serde(rename = "Path")]
    pub path: String,
    #[serde(rename = "Rate")]
    pub rate: u64,
}

/// A host device made available in the container (`--device`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceMapping {
    #[serde(rename = "PathOnHost")]
    pub path_on_host: String,
    #[serde(rename = "PathInContainer")]
    pub path_in_container: String,
    /// Some of `rwm`.
    #[serde(rename = "CgroupPermissions")]
    pub cgroup_permissions: String,
}

/// A request for devices from a device driver (`--gpus`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceRequest {
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Count")]
    pub count: i64,
    #[serde(rename = "DeviceIDs", deserialize_with = "nullable")]
    pub device_ids: Vec<String>,
    /// OR of ANDs of capabilities.
    #[serde(rename = "Capabilities", deserialize_with = "nullable")]
    pub capabilities: Vec<Vec<String>>,
    #[serde(rename = "Options", deserialize_with = "nullable")]
    pub options: BTreeMap<String, String>,
}

/// An rlimit (`--ulimit nofile=1024:2048`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ulimit {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Soft")]
    pub soft: i64,
    #[serde(rename = "Hard")]
    pub hard: i64,
}

/// The log driver and its options (`--log-driver`, `--log-opt`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// `json-file`, `none`, …; empty means the daemon's default.
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Config", deserialize_with = "nullable")]
    pub config: BTreeMap<String, String>,
}

/// When to restart the container after it exits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RestartPolicy {
    /// `""` or `no`, `always`, `unless-stopped`, `on-failure`.
    #[serde(rename = "Name")]
    pub name: String,
    /// For `on-failure` only.
    #[serde(rename = "MaximumRetryCount")]
    pub maximum_retry_count: i64,
}

/// The host-dependent configuration of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", default)]
pub struct HostConfig {
    /// `host:container[:opts]` or `volume:container[:opts]`.
    #[serde(
        rename = "Binds",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub binds: Vec<String>,
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    #[serde(rename = "LogConfig", deserialize_with = "nullable")]
    pub log_config: LogConfig,
    /// `default`, `bridge`, `host`, `none`, `container:<id>` or a network name.
    #[serde(rename = "NetworkMode")]
    pub network_mode: String,
    #[serde(
        rename = "PortBindings",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub port_bindings: PortMap,
    #[serde(rename = "RestartPolicy", deserialize_with = "nullable")]
    pub restart_policy: RestartPolicy,
    #[serde(rename = "AutoRemove")]
    pub auto_remove: bool,
    #[serde(rename = "VolumeDriver")]
    pub volume_driver: String,
    #[serde(
        rename = "VolumesFrom",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub volumes_from: Vec<String>,
    /// Initial TTY `[height, width]`.
    #[serde(rename = "ConsoleSize", deserialize_with = "nullable")]
    pub console_size: [u64; 2],
    /// OCI annotations (API 1.43 and later; omitted when empty).
    #[serde(
        rename = "Annotations",
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable"
    )]
    pub annotations: BTreeMap<String, String>,
    #[serde(
        rename = "CapAdd",
        serialize_with = "nil_if_empty",
        deserialize_with = "str_slice_or_empty"
    )]
    pub cap_add: Vec<String>,
    #[serde(
        rename = "CapDrop",
        serialize_with = "nil_if_empty",
        deserialize_with = "str_slice_or_empty"
    )]
    pub cap_drop: Vec<String>,
    /// `private`, `host`, or empty for the daemon's default.
    #[serde(rename = "CgroupnsMode")]
    pub cgroupns_mode: String,
    #[serde(
        rename = "Dns",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub dns: Vec<String>,
    #[serde(
        rename = "DnsOptions",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub dns_options: Vec<String>,
    #[serde(
        rename = "DnsSearch",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub dns_search: Vec<String>,
    #[serde(
        rename = "ExtraHosts",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub extra_hosts: Vec<String>,
    #[serde(
        rename = "GroupAdd",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub group_add: Vec<String>,
    /// `""`, `none`, `private`, `shareable`, `container:<id>`, `host`.
    #[serde(rename = "IpcMode")]
    pub ipc_mode: String,
    #[serde(rename = "Cgroup")]
    pub cgroup: String,
    #[serde(
        rename = "Links",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub links: Vec<String>,
    #[serde(rename = "OomScoreAdj")]
    pub oom_score_adj: i64,
    /// `""`, `host`, `container:<id>`.
    #[serde(rename = "PidMode")]
    pub pid_mode: String,
    #[serde(rename = "Privileged")]
    pub privileged: bool,
    #[serde(rename = "PublishAllPorts")]
    pub publish_all_ports: bool,
    #[serde(rename = "ReadonlyRootfs")]
    pub readonly_rootfs: bool,
    /// `no-new-privileges`, `seccomp=…`, `apparmor=…`, `label=…`.
    #[serde(
        rename = "SecurityOpt",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub security_opt: Vec<String>,
    #[serde(
        rename = "StorageOpt",
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable"
    )]
    pub storage_opt: BTreeMap<String, String>,
    /// Mount point → tmpfs options (`--tmpfs /run:size=64m`).
    #[serde(
        rename = "Tmpfs",
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable"
    )]
    pub tmpfs: BTreeMap<String, String>,
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    #[serde(rename = "UsernsMode")]
    pub userns_mode: String,
    /// Bytes of /dev/shm; 0 means the daemon's default (64 MiB).
    #[serde(rename = "ShmSize")]
    pub shm_size: i64,
    #[serde(
        rename = "Sysctls",
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable"
    )]
    pub sysctls: BTreeMap<String, String>,
    #[serde(rename = "Runtime", skip_serializing_if = "String::is_empty")]
    pub runtime: String,
    #[serde(rename = "Isolation")]
    pub isolation: String,
    /// Embedded, as in Go: its fields sit beside the others (see `go_embeds!`).
    #[serde(skip)]
    pub resources: Resources,
    #[serde(
        rename = "Mounts",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable"
    )]
    pub mounts: Vec<Mount>,
    /// Null means the default masked paths.
    #[serde(rename = "MaskedPaths")]
    pub masked_paths: Option<Vec<String>>,
    /// Null means the default read-only paths.
    #[serde(rename = "ReadonlyPaths")]
    pub readonly_paths: Option<Vec<String>>,
}

crate::gojson::go_embeds!(HostConfig, resources);
