//! `GET /containers/{id}/json`: everything about one container.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ContainerConfig, HostConfig, MountPoint};
use crate::de::nullable;
use crate::network::NetworkSettings;

/// The body of a container inspect (Docker's `ContainerJSON`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerInspect {
    #[serde(rename = "Id")]
    pub id: String,
    /// RFC 3339 with nanoseconds.
    #[serde(rename = "Created")]
    pub created: String,
    #[serde(rename = "Path")]
    pub path: String,
    #[serde(rename = "Args", deserialize_with = "nullable")]
    pub args: Vec<String>,
    #[serde(rename = "State")]
    pub state: Option<ContainerState>,
    /// The image's id (`sha256:…`).
    #[serde(rename = "Image")]
    pub image: String,
    #[serde(rename = "ResolvConfPath")]
    pub resolv_conf_path: String,
    #[serde(rename = "HostnamePath")]
    pub hostname_path: String,
    #[serde(rename = "HostsPath")]
    pub hosts_path: String,
    #[serde(rename = "LogPath")]
    pub log_path: String,
    /// With its leading slash: `/name`.
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "RestartCount")]
    pub restart_count: i64,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Platform")]
    pub platform: String,
    #[serde(rename = "MountLabel")]
    pub mount_label: String,
    #[serde(rename = "ProcessLabel")]
    pub process_label: String,
    #[serde(rename = "AppArmorProfile")]
    pub app_armor_profile: String,
    /// Running exec instances; null when none, as dockerd sends.
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    #[serde(rename = "HostConfig")]
    pub host_config: Option<HostConfig>,
    #[serde(rename = "GraphDriver")]
    pub graph_driver: GraphDriverData,
    /// Only with `?size=true`.
    #[serde(rename = "SizeRw", skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    #[serde(rename = "SizeRootFs", skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    #[serde(rename = "Mounts", deserialize_with = "nullable")]
    pub mounts: Vec<MountPoint>,
    #[serde(rename = "Config")]
    pub config: Option<ContainerConfig>,
    #[serde(rename = "NetworkSettings")]
    pub network_settings: Option<NetworkSettings>,
}

/// The storage driver's view of a container or image filesystem.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GraphDriverData {
    #[serde(rename = "Name")]
    pub name: String,
    /// `LowerDir`, `UpperDir`, `MergedDir`, `WorkDir` for overlay2.
    #[serde(rename = "Data", deserialize_with = "nullable")]
    pub data: BTreeMap<String, String>,
}

/// A container's run state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerState {
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited`, `dead`.
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "Running")]
    pub running: bool,
    #[serde(rename = "Paused")]
    pub paused: bool,
    #[serde(rename = "Restarting")]
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    #[serde(rename = "Dead")]
    pub dead: bool,
    #[serde(rename = "Pid")]
    pub pid: i64,
    #[serde(rename = "ExitCode")]
    pub exit_code: i64,
    #[serde(rename = "Error")]
    pub error: String,
    /// RFC 3339; `0001-01-01T00:00:00Z` when never.
    #[serde(rename = "StartedAt")]
    pub started_at: String,
    #[serde(rename = "FinishedAt")]
    pub finished_at: String,
    /// Only for containers with a health check.
    #[serde(rename = "Health", skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// Health-check state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Health {
    /// `none`, `starting`, `healthy`, `unhealthy`.
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "FailingStreak")]
    pub failing_streak: i64,
    /// The last few probes, oldest first.
    #[serde(rename = "Log", deserialize_with = "nullable")]
    pub log: Vec<HealthcheckResult>,
}

/// One health probe.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthcheckResult {
    #[serde(rename = "Start")]
    pub start: String,
    #[serde(rename = "End")]
    pub end: String,
    #[serde(rename = "ExitCode")]
    pub exit_code: i64,
    #[serde(rename = "Output")]
    pub output: String,
}
