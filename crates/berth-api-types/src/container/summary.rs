//! `GET /containers/json`: one entry per container.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::MountPoint;
use crate::de::nullable;
use crate::network::{Port, SummaryNetworkSettings};

/// A container in a list. `Names`, `Ports`, `Labels` and `Mounts` are always sent
/// (`[]`, `{}`), because the docker CLI and SDKs index into them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerSummary {
    #[serde(rename = "Id")]
    pub id: String,
    /// With their leading slash: `/name`.
    #[serde(rename = "Names", deserialize_with = "nullable")]
    pub names: Vec<String>,
    /// The image as the user named it (or its id when the name moved on).
    #[serde(rename = "Image")]
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    #[serde(rename = "Command")]
    pub command: String,
    /// Unix seconds.
    #[serde(rename = "Created")]
    pub created: i64,
    #[serde(rename = "Ports", deserialize_with = "nullable")]
    pub ports: Vec<Port>,
    /// Only with `?size=true`.
    #[serde(rename = "SizeRw", skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    #[serde(rename = "SizeRootFs", skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    #[serde(rename = "Labels", deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    /// `running`, `exited`, … (lower case).
    #[serde(rename = "State")]
    pub state: String,
    /// Human-readable: `Up 3 minutes`, `Exited (0) 2 hours ago`.
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "HostConfig")]
    pub host_config: SummaryHostConfig,
    #[serde(rename = "NetworkSettings")]
    pub network_settings: Option<SummaryNetworkSettings>,
    #[serde(rename = "Mounts", deserialize_with = "nullable")]
    pub mounts: Vec<MountPoint>,
}

/// The part of `HostConfig` a list entry carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SummaryHostConfig {
    #[serde(rename = "NetworkMode")]
    pub network_mode: String,
}
