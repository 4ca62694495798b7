//! `ContainerConfig`: the portable part of a container's configuration, sent on create
//! and shown under `Config` by inspect (and by image inspect).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::de::{is_default, nil_if_empty, nullable, str_slice};

/// The container's configuration that does not depend on the host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerConfig {
    #[serde(rename = "Hostname")]
    pub hostname: String,
    #[serde(rename = "Domainname")]
    pub domainname: String,
    #[serde(rename = "User")]
    pub user: String,
    #[serde(rename = "AttachStdin")]
    pub attach_stdin: bool,
    #[serde(rename = "AttachStdout")]
    pub attach_stdout: bool,
    #[serde(rename = "AttachStderr")]
    pub attach_stderr: bool,
    /// `"80/tcp"` → `{}`.
    #[serde(
        rename = "ExposedPorts",
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable"
    )]
    pub exposed_ports: BTreeMap<String, EmptyObject>,
    #[serde(rename = "Tty")]
    pub tty: bool,
    #[serde(rename = "OpenStdin")]
    pub open_stdin: bool,
    #[serde(rename = "StdinOnce")]
    pub stdin_once: bool,
    /// Null when neither the image nor the container sets any, as dockerd sends it.
    #[serde(
        rename = "Env",
        serialize_with = "nil_if_empty",
        deserialize_with = "nullable"
    )]
    pub env: Vec<String>,
    /// `None` (null) means "the image's"; a string is accepted as a one-element list.
    #[serde(rename = "Cmd", deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "Healthcheck", skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(rename = "ArgsEscaped", skip_serializing_if = "is_default")]
    pub args_escaped: bool,
    #[serde(rename = "Image")]
    pub image: String,
    /// `"/data"` → `{}`; null when there are none, as dockerd sends.
    #[serde(rename = "Volumes")]
    pub volumes: Option<BTreeMap<String, EmptyObject>>,
    #[serde(rename = "WorkingDir")]
    pub working_dir: String,
    /// `None` means "the image's"; `Some([""])` resets it (`--entrypoint ""`).
    #[serde(rename = "Entrypoint", deserialize_with = "str_slice")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "NetworkDisabled", skip_serializing_if = "is_default")]
    pub network_disabled: bool,
    #[serde(rename = "MacAddress", skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    #[serde(rename = "OnBuild")]
    pub on_build: Option<Vec<String>>,
    #[serde(rename = "Labels", deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "StopSignal", skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    /// Seconds.
    #[serde(rename = "StopTimeout", skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(
        rename = "Shell",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "str_slice"
    )]
    pub shell: Option<Vec<String>>,
}

/// The `{}` Docker uses as the value of set-like maps (ExposedPorts, Volumes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyObject {}

/// A container's health check. Durations are in nanoseconds; 0 means "inherit".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthConfig {
    /// `[]` inherit, `["NONE"]` disable, `["CMD", args…]` or `["CMD-SHELL", command]`.
    #[serde(
        rename = "Test",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable"
    )]
    pub test: Vec<String>,
    #[serde(rename = "Interval", skip_serializing_if = "is_default")]
    pub interval: i64,
    #[serde(rename = "Timeout", skip_serializing_if = "is_default")]
    pub timeout: i64,
    #[serde(rename = "StartPeriod", skip_serializing_if = "is_default")]
    pub start_period: i64,
    #[serde(rename = "Retries", skip_serializing_if = "is_default")]
    pub retries: i64,
}
