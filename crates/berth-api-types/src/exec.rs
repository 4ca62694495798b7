//! Exec instances: create, start and inspect bodies.

use serde::{Deserialize, Serialize};

use crate::de::{nullable, str_slice_or_empty};

/// The body of `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecConfig {
    #[serde(rename = "User")]
    pub user: String,
    #[serde(rename = "Privileged")]
    pub privileged: bool,
    #[serde(rename = "Tty")]
    pub tty: bool,
    /// Initial TTY `[height, width]` (newer clients send it).
    #[serde(rename = "ConsoleSize", skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u64; 2]>,
    #[serde(rename = "AttachStdin")]
    pub attach_stdin: bool,
    #[serde(rename = "AttachStderr")]
    pub attach_stderr: bool,
    #[serde(rename = "AttachStdout")]
    pub attach_stdout: bool,
    /// Sent by the docker CLI; the daemon takes detaching from the start request.
    #[serde(rename = "Detach")]
    pub detach: bool,
    #[serde(rename = "DetachKeys")]
    pub detach_keys: String,
    #[serde(rename = "Env", deserialize_with = "nullable")]
    pub env: Vec<String>,
    #[serde(rename = "WorkingDir")]
    pub working_dir: String,
    #[serde(rename = "Cmd", deserialize_with = "str_slice_or_empty")]
    pub cmd: Vec<String>,
}

/// `201` of exec create: `{"Id": "…"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecCreateResponse {
    #[serde(rename = "Id")]
    pub id: String,
}

/// The body of `POST /exec/{id}/start`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecStartConfig {
    #[serde(rename = "Detach")]
    pub detach: bool,
    #[serde(rename = "Tty")]
    pub tty: bool,
    #[serde(rename = "ConsoleSize", skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u64; 2]>,
}

/// `GET /exec/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecInspect {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Running")]
    pub running: bool,
    /// Null while it runs.
    #[serde(rename = "ExitCode")]
    pub exit_code: Option<i64>,
    #[serde(rename = "ProcessConfig")]
    pub process_config: ProcessConfig,
    #[serde(rename = "OpenStdin")]
    pub open_stdin: bool,
    #[serde(rename = "OpenStderr")]
    pub open_stderr: bool,
    #[serde(rename = "OpenStdout")]
    pub open_stdout: bool,
    #[serde(rename = "CanRemove")]
    pub can_remove: bool,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    #[serde(rename = "DetachKeys")]
    pub detach_keys: String,
    #[serde(rename = "Pid")]
    pub pid: i64,
}

/// The process an exec runs. Keys are lower case, as the API has them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessConfig {
    pub privileged: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    pub tty: bool,
    pub entrypoint: String,
    #[serde(deserialize_with = "nullable")]
    pub arguments: Vec<String>,
}
