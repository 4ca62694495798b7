//! Mounts: requested (`HostConfig.Mounts`, `--mount`) and in effect (`Mounts` of inspect
//! and list).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::de::{is_default, nullable};

/// A mount requested with `--mount`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Mount {
    #[serde(rename = "Type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(rename = "Source", skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(rename = "Target", skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(rename = "ReadOnly", skip_serializing_if = "is_default")]
    pub read_only: bool,
    #[serde(rename = "Consistency", skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    #[serde(rename = "BindOptions", skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(rename = "VolumeOptions", skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    #[serde(rename = "TmpfsOptions", skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BindOptions {
    #[serde(rename = "Propagation", skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    #[serde(rename = "NonRecursive", skip_serializing_if = "is_default")]
    pub non_recursive: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeOptions {
    #[serde(rename = "NoCopy", skip_serializing_if = "is_default")]
    pub no_copy: bool,
    #[serde(
        rename = "Labels",
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "DriverConfig", skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<VolumeDriverConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeDriverConfig {
    #[serde(rename = "Name", skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(
        rename = "Options",
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable"
    )]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TmpfsOptions {
    #[serde(rename = "SizeBytes", skip_serializing_if = "is_default")]
    pub size_bytes: i64,
    /// File mode, e.g. 0o1777.
    #[serde(rename = "Mode", skip_serializing_if = "is_default")]
    pub mode: u32,
}

/// A mount in effect in a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountPoint {
    /// `bind`, `volume`, `tmpfs`.
    #[serde(rename = "Type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The volume's name, for volumes.
    #[serde(rename = "Name", skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(rename = "Source")]
    pub source: String,
    #[serde(rename = "Destination")]
    pub destination: String,
    #[serde(rename = "Driver", skip_serializing_if = "String::is_empty")]
    pub driver: String,
    #[serde(rename = "Mode")]
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    #[serde(rename = "Propagation")]
    pub propagation: String,
}
