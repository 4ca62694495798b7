//! System endpoints: `/_ping`, `/version`, `/info`, `/system/df`, `/events`, and the API
//! version berth speaks.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::container::ContainerSummary;
use crate::de::{is_default, nullable};
use crate::image::ImageSummary;
use crate::volume::Volume;

/// The API version berth serves.
pub const API_VERSION: ApiVersion = ApiVersion {
    major: 1,
    minor: 41,
};
/// The oldest API version berth accepts in a request path.
pub const MIN_API_VERSION: ApiVersion = ApiVersion {
    major: 1,
    minor: 24,
};

/// Headers of `/_ping` (and of every response, for `Api-Version`).
pub mod headers {
    /// The server's API version: `1.41`.
    pub const API_VERSION: &str = "Api-Version";
    /// `linux`.
    pub const OS_TYPE: &str = "OSType";
    /// `true` or `false`.
    pub const DOCKER_EXPERIMENTAL: &str = "Docker-Experimental";
    /// `1` (classic builder) or `2` (BuildKit).
    pub const BUILDER_VERSION: &str = "Builder-Version";
    /// The swarm state and whether this node is a manager, e.g. `inactive`.
    pub const SWARM: &str = "Swarm";
}

/// An Engine API version, `major.minor` (`1.41`). Ordered, so a request's version can
/// be checked against [`MIN_API_VERSION`] and [`API_VERSION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

/// An API version that is not `major.minor`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid API version {0:?}: expected MAJOR.MINOR, such as 1.41")]
pub struct ApiVersionError(pub String);

impl FromStr for ApiVersion {
    type Err = ApiVersionError;

    /// Parses `1.41`, and also `v1.41` as request paths carry it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ApiVersionError(s.to_string());
        let digits = s.strip_prefix('v').unwrap_or(s);
        let (major, minor) = digits.split_once('.').ok_or_else(err)?;
        let number = |p: &str| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            p.parse::<u32>().map_err(|_| err())
        };
        Ok(ApiVersion {
            major: number(major)?,
            minor: number(minor)?,
        })
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Serialize for ApiVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ApiVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `GET /version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Version {
    #[serde(rename = "Platform")]
    pub platform: VersionPlatform,
    #[serde(rename = "Components", deserialize_with = "nullable")]
    pub components: Vec<ComponentVersion>,
    #[serde(rename = "Version")]
    pub version: String,
    /// Kept as text so that any server's answer parses; see [`ApiVersion`].
    #[serde(rename = "ApiVersion")]
    pub api_version: String,
    #[serde(rename = "MinAPIVersion", skip_serializing_if = "String::is_empty")]
    pub min_api_version: String,
    #[serde(rename = "GitCommit")]
    pub git_commit: String,
    #[serde(rename = "GoVersion")]
    pub go_version: String,
    #[serde(rename = "Os")]
    pub os: String,
    #[serde(rename = "Arch")]
    pub arch: String,
    #[serde(rename = "KernelVersion", skip_serializing_if = "String::is_empty")]
    pub kernel_version: String,
    #[serde(rename = "Experimental", skip_serializing_if = "is_default")]
    pub experimental: bool,
    /// RFC 3339.
    #[serde(rename = "BuildTime", skip_serializing_if = "String::is_empty")]
    pub build_time: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionPlatform {
    #[serde(rename = "Name")]
    pub name: String,
}

/// One part of the server (`Engine`, `containerd`, `runc`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ComponentVersion {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Version")]
    pub version: String,
    /// Free-form; for `Engine`, the same keys as the top level (`ApiVersion`, …).
    #[serde(rename = "Details", skip_serializing_if = "Option::is_none")]
    pub details: Option<BTreeMap<String, String>>,
}

/// `GET /info`: what `docker info` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Info {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Containers")]
    pub containers: i64,
    #[serde(rename = "ContainersRunning")]
    pub containers_running: i64,
    #[serde(rename = "ContainersPaused")]
    pub containers_paused: i64,
    #[serde(rename = "ContainersStopped")]
    pub containers_stopped: i64,
    #[serde(rename = "Images")]
    pub images: i64,
    /// The storage driver (`overlay2`).
    #[serde(rename = "Driver")]
    pub driver: String,
    /// `[["Backing Filesystem", "extfs"], …]`.
    #[serde(rename = "DriverStatus", deserialize_with = "nullable")]
    pub driver_status: Vec<[String; 2]>,
    #[serde(rename = "DockerRootDir")]
    pub docker_root_dir: String,
    #[serde(rename = "Plugins")]
    pub plugins: PluginsInfo,
    #[serde(rename = "MemoryLimit")]
    pub memory_limit: bool,
    #[serde(rename = "SwapLimit")]
    pub swap_limit: bool,
    #[serde(rename = "KernelMemory")]
    pub kernel_memory: bool,
    #[serde(rename = "CpuCfsPeriod")]
    pub cpu_cfs_period: bool,
    #[serde(rename = "CpuCfsQuota")]
    pub cpu_cfs_quota: bool,
    #[serde(rename = "CPUShares")]
    pub cpu_shares: bool,
    #[serde(rename = "CPUSet")]
    pub cpu_set: bool,
    #[serde(rename = "PidsLimit")]
    pub pids_limit: bool,
    #[serde(rename = "OomKillDisable")]
    pub oom_kill_disable: bool,
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    #[serde(rename = "BridgeNfIptables")]
    pub bridge_nf_iptables: bool,
    #[serde(rename = "BridgeNfIp6tables")]
    pub bridge_nf_ip6tables: bool,
    #[serde(rename = "Debug")]
    pub debug: bool,
    #[serde(rename = "NFd")]
    pub nfd: i64,
    #[serde(rename = "NGoroutines")]
    pub ngoroutines: i64,
    /// RFC 3339 with nanoseconds.
    #[serde(rename = "SystemTime")]
    pub system_time: String,
    #[serde(rename = "LoggingDriver")]
    pub logging_driver: String,
    /// `cgroupfs` or `systemd`.
    #[serde(rename = "CgroupDriver")]
    pub cgroup_driver: String,
    /// `1` or `2`.
    #[serde(rename = "CgroupVersion")]
    pub cgroup_version: String,
    #[serde(rename = "NEventsListener")]
    pub nevents_listener: i64,
    #[serde(rename = "KernelVersion")]
    pub kernel_version: String,
    #[serde(rename = "OperatingSystem")]
    pub operating_system: String,
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    /// `linux`.
    #[serde(rename = "OSType")]
    pub os_type: String,
    /// As `uname -m` prints it (`x86_64`).
    #[serde(rename = "Architecture")]
    pub architecture: String,
    #[serde(rename = "NCPU")]
    pub ncpu: i64,
    /// Bytes.
    #[serde(rename = "MemTotal")]
    pub mem_total: i64,
    #[serde(rename = "IndexServerAddress")]
    pub index_server_address: String,
    #[serde(rename = "RegistryConfig")]
    pub registry_config: Option<RegistryServiceConfig>,
    /// Swarm generic resources; berth has none.
    #[serde(rename = "GenericResources")]
    pub generic_resources: Option<Vec<serde_json::Value>>,
    #[serde(rename = "HttpProxy")]
    pub http_proxy: String,
    #[serde(rename = "HttpsProxy")]
    pub https_proxy: String,
    #[serde(rename = "NoProxy")]
    pub no_proxy: String,
    /// The host name.
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Labels", deserialize_with = "nullable")]
    pub labels: Vec<String>,
    #[serde(rename = "ExperimentalBuild")]
    pub experimental_build: bool,
    #[serde(rename = "ServerVersion")]
    pub server_version: String,
    #[serde(rename = "Runtimes", deserialize_with = "nullable")]
    pub runtimes: BTreeMap<String, Runtime>,
    #[serde(rename = "DefaultRuntime")]
    pub default_runtime: String,
    #[serde(rename = "Swarm")]
    pub swarm: SwarmInfo,
    #[serde(rename = "LiveRestoreEnabled")]
    pub live_restore_enabled: bool,
    /// `default` on Linux.
    #[serde(rename = "Isolation")]
    pub isolation: String,
    #[serde(rename = "InitBinary")]
    pub init_binary: String,
    #[serde(rename = "ContainerdCommit")]
    pub containerd_commit: Commit,
    #[serde(rename = "RuncCommit")]
    pub runc_commit: Commit,
    #[serde(rename = "InitCommit")]
    pub init_commit: Commit,
    /// `name=seccomp,profile=default`, `name=cgroupns`, …
    #[serde(rename = "SecurityOptions", deserialize_with = "nullable")]
    pub security_options: Vec<String>,
    #[serde(rename = "ProductLicense", skip_serializing_if = "String::is_empty")]
    pub product_license: String,
    #[serde(
        rename = "DefaultAddressPools",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable"
    )]
    pub default_address_pools: Vec<DefaultAddressPool>,
    /// Printed by `docker info` at the end.
    #[serde(rename = "Warnings", deserialize_with = "nullable")]
    pub warnings: Vec<String>,
}

/// Plugins by kind, as `docker info` lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PluginsInfo {
    #[serde(rename = "Volume", deserialize_with = "nullable")]
    pub volume: Vec<String>,
    #[serde(rename = "Network", deserialize_with = "nullable")]
    pub network: Vec<String>,
    #[serde(rename = "Authorization")]
    pub authorization: Option<Vec<String>>,
    #[serde(rename = "Log", deserialize_with = "nullable")]
    pub log: Vec<String>,
}

/// An OCI runtime the daemon can run containers with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Runtime {
    pub path: String,
    #[serde(
        rename = "runtimeArgs",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable"
    )]
    pub runtime_args: Vec<String>,
}

/// The commit a component was built from, and the one the daemon expects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Commit {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Expected")]
    pub expected: String,
}

/// The daemon's place in a swarm. berth is never in one: `LocalNodeState` `inactive`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SwarmInfo {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    #[serde(rename = "NodeAddr")]
    pub node_addr: String,
    /// `""`, `inactive`, `pending`, `active`, `error`, `locked`.
    #[serde(rename = "LocalNodeState")]
    pub local_node_state: String,
    #[serde(rename = "ControlAvailable")]
    pub control_available: bool,
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "RemoteManagers")]
    pub remote_managers: Option<Vec<PeerNode>>,
    #[serde(rename = "Nodes", skip_serializing_if = "is_default")]
    pub nodes: i64,
    #[serde(rename = "Managers", skip_serializing_if = "is_default")]
    pub managers: i64,
    /// Swarm cluster details, passed through untyped.
    #[serde(rename = "Cluster", skip_serializing_if = "Option::is_none")]
    pub cluster: Option<serde_json::Value>,
}

impl SwarmInfo {
    /// What a daemon outside any swarm reports.
    pub fn inactive() -> Self {
        Self {
            local_node_state: "inactive".into(),
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerNode {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    #[serde(rename = "Addr")]
    pub addr: String,
}

/// Registry settings (`--insecure-registry`, mirrors).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistryServiceConfig {
    #[serde(
        rename = "AllowNondistributableArtifactsCIDRs",
        deserialize_with = "nullable"
    )]
    pub allow_nondistributable_artifacts_cidrs: Vec<String>,
    #[serde(
        rename = "AllowNondistributableArtifactsHostnames",
        deserialize_with = "nullable"
    )]
    pub allow_nondistributable_artifacts_hostnames: Vec<String>,
    #[serde(rename = "InsecureRegistryCIDRs", deserialize_with = "nullable")]
    pub insecure_registry_cidrs: Vec<String>,
    #[serde(rename = "IndexConfigs", deserialize_with = "nullable")]
    pub index_configs: BTreeMap<String, IndexInfo>,
    #[serde(rename = "Mirrors", deserialize_with = "nullable")]
    pub mirrors: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IndexInfo {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Mirrors", deserialize_with = "nullable")]
    pub mirrors: Vec<String>,
    #[serde(rename = "Secure")]
    pub secure: bool,
    #[serde(rename = "Official")]
    pub official: bool,
}

/// A pool networks get their subnets from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DefaultAddressPool {
    #[serde(rename = "Base")]
    pub base: String,
    #[serde(rename = "Size")]
    pub size: i64,
}

/// `GET /system/df`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SystemDf {
    #[serde(rename = "LayersSize")]
    pub layers_size: i64,
    #[serde(rename = "Images", deserialize_with = "nullable")]
    pub images: Vec<ImageSummary>,
    #[serde(rename = "Containers", deserialize_with = "nullable")]
    pub containers: Vec<ContainerSummary>,
    #[serde(rename = "Volumes", deserialize_with = "nullable")]
    pub volumes: Vec<Volume>,
    #[serde(rename = "BuildCache", deserialize_with = "nullable")]
    pub build_cache: Vec<BuildCache>,
}

/// A build cache record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BuildCache {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Parent", skip_serializing_if = "String::is_empty")]
    pub parent: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Description")]
    pub description: String,
    #[serde(rename = "InUse")]
    pub in_use: bool,
    #[serde(rename = "Shared")]
    pub shared: bool,
    #[serde(rename = "Size")]
    pub size: i64,
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
    #[serde(rename = "LastUsedAt")]
    pub last_used_at: Option<String>,
    #[serde(rename = "UsageCount")]
    pub usage_count: i64,
}

/// One event of `GET /events`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventMessage {
    /// Deprecated: the action, for old clients. Sent for container and image events.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Deprecated: the actor's id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Deprecated: the container's image.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// `container`, `image`, `volume`, `network`, `daemon`, `plugin`, …
    #[serde(rename = "Type")]
    pub kind: String,
    /// `create`, `start`, `die`, `health_status: healthy`, `exec_start: sh`, …
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: EventActor,
    /// `local` or `swarm`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// Unix seconds.
    #[serde(skip_serializing_if = "is_default")]
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano", skip_serializing_if = "is_default")]
    pub time_nano: i64,
}

/// What an event is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventActor {
    #[serde(rename = "ID")]
    pub id: String,
    /// For containers: `name`, `image`, the labels, and `exitCode` on `die`.
    #[serde(rename = "Attributes", deserialize_with = "nullable")]
    pub attributes: BTreeMap<String, String>,
}
