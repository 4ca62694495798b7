//! Volumes: the model `GET /volumes`, `GET /volumes/{name}` and `GET /system/df` serve,
//! and the bodies of create, list and prune.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::de::nullable;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Volume {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Mountpoint")]
    pub mountpoint: String,
    #[serde(rename = "CreatedAt", skip_serializing_if = "String::is_empty")]
    pub created_at: String,
    #[serde(rename = "Status", skip_serializing_if = "Option::is_none")]
    pub status: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(rename = "Labels", deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    /// `local` or `global`.
    #[serde(rename = "Scope")]
    pub scope: String,
    #[serde(rename = "Options", deserialize_with = "nullable")]
    pub options: BTreeMap<String, String>,
    #[serde(rename = "UsageData", skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<VolumeUsageData>,
}

/// -1 where not known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeUsageData {
    #[serde(rename = "Size")]
    pub size: i64,
    #[serde(rename = "RefCount")]
    pub ref_count: i64,
}

/// The body of `POST /volumes/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeCreateRequest {
    #[serde(rename = "Name", skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(rename = "Driver", skip_serializing_if = "String::is_empty")]
    pub driver: String,
    #[serde(
        rename = "DriverOpts",
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable"
    )]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(
        rename = "Labels",
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable"
    )]
    pub labels: BTreeMap<String, String>,
}

/// `GET /volumes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeListResponse {
    #[serde(rename = "Volumes", deserialize_with = "nullable")]
    pub volumes: Vec<Volume>,
    #[serde(rename = "Warnings", deserialize_with = "nullable")]
    pub warnings: Vec<String>,
}

/// `POST /volumes/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumePruneResponse {
    #[serde(rename = "VolumesDeleted", deserialize_with = "nullable")]
    pub volumes_deleted: Vec<String>,
    #[serde(rename = "SpaceReclaimed")]
    pub space_reclaimed: u64,
}
