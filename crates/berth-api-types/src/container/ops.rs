//! Request and response bodies of the container operations: create, wait, top, update,
//! changes.

use serde::{Deserialize, Serialize};

use super::{ContainerConfig, HostConfig, Resources, RestartPolicy};
use crate::de::nullable;
use crate::network::NetworkingConfig;

/// The body of `POST /containers/create`: the `ContainerConfig` fields at the top level,
/// with `HostConfig` and `NetworkingConfig` beside them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerCreateRequest {
    #[serde(flatten)]
    pub config: ContainerConfig,
    #[serde(rename = "HostConfig", skip_serializing_if = "Option::is_none")]
    pub host_config: Option<HostConfig>,
    #[serde(rename = "NetworkingConfig", skip_serializing_if = "Option::is_none")]
    pub networking_config: Option<NetworkingConfig>,
}

/// `201 Created` of `POST /containers/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerCreateResponse {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Warnings", deserialize_with = "nullable")]
    pub warnings: Vec<String>,
}

/// `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerWaitResponse {
    #[serde(rename = "StatusCode")]
    pub status_code: i64,
    /// Null unless waiting itself failed.
    #[serde(rename = "Error")]
    pub error: Option<ContainerWaitError>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerWaitError {
    #[serde(rename = "Message")]
    pub message: String,
}

/// `GET /containers/{id}/top`: `ps` output as columns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerTopResponse {
    #[serde(rename = "Titles", deserialize_with = "nullable")]
    pub titles: Vec<String>,
    /// One row per process, one value per title.
    #[serde(rename = "Processes", deserialize_with = "nullable")]
    pub processes: Vec<Vec<String>>,
}

/// The body of `POST /containers/{id}/update`. Zero (or null) fields stay unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerUpdateRequest {
    #[serde(flatten)]
    pub resources: Resources,
    #[serde(rename = "RestartPolicy", skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
}

/// `200` of `POST /containers/{id}/update`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerUpdateResponse {
    #[serde(rename = "Warnings", deserialize_with = "nullable")]
    pub warnings: Vec<String>,
}

/// One entry of `GET /containers/{id}/changes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerChange {
    #[serde(rename = "Path")]
    pub path: String,
    /// [`ContainerChange::MODIFIED`], [`ContainerChange::ADDED`] or
    /// [`ContainerChange::DELETED`].
    #[serde(rename = "Kind")]
    pub kind: u8,
}

impl ContainerChange {
    pub const MODIFIED: u8 = 0;
    pub const ADDED: u8 = 1;
    pub const DELETED: u8 = 2;
}
