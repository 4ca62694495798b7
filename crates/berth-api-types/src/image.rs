//! Images: list, inspect, history, delete, prune, and the JSON progress messages of
//! pull, load, import, push and build.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::container::{ContainerConfig, GraphDriverData};
use crate::de::{is_default, nullable};

/// An image in `GET /images/json`. Every field is always sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageSummary {
    #[serde(rename = "Containers")]
    pub containers: i64,
    /// Unix seconds.
    #[serde(rename = "Created")]
    pub created: i64,
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Labels", deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "ParentId")]
    pub parent_id: String,
    #[serde(rename = "RepoDigests", deserialize_with = "nullable")]
    pub repo_digests: Vec<String>,
    #[serde(rename = "RepoTags", deserialize_with = "nullable")]
    pub repo_tags: Vec<String>,
    /// -1 when not computed.
    #[serde(rename = "SharedSize")]
    pub shared_size: i64,
    #[serde(rename = "Size")]
    pub size: i64,
    #[serde(rename = "VirtualSize")]
    pub virtual_size: i64,
}

/// `GET /images/{name}/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageInspect {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "RepoTags", deserialize_with = "nullable")]
    pub repo_tags: Vec<String>,
    #[serde(rename = "RepoDigests", deserialize_with = "nullable")]
    pub repo_digests: Vec<String>,
    #[serde(rename = "Parent")]
    pub parent: String,
    #[serde(rename = "Comment")]
    pub comment: String,
    /// RFC 3339 with nanoseconds.
    #[serde(rename = "Created")]
    pub created: String,
    #[serde(rename = "Container")]
    pub container: String,
    #[serde(rename = "ContainerConfig", serialize_with = "image_config")]
    pub container_config: Option<ContainerConfig>,
    #[serde(rename = "DockerVersion")]
    pub docker_version: String,
    #[serde(rename = "Author")]
    pub author: String,
    #[serde(rename = "Config", serialize_with = "image_config")]
    pub config: Option<ContainerConfig>,
    #[serde(rename = "Architecture")]
    pub architecture: String,
    /// `v7`, `v8`, … (sent by dockerd since 20.10; in the API since 1.42).
    #[serde(rename = "Variant", skip_serializing_if = "String::is_empty")]
    pub variant: String,
    #[serde(rename = "Os")]
    pub os: String,
    #[serde(rename = "OsVersion", skip_serializing_if = "String::is_empty")]
    pub os_version: String,
    #[serde(rename = "Size")]
    pub size: i64,
    #[serde(rename = "VirtualSize")]
    pub virtual_size: i64,
    #[serde(rename = "GraphDriver")]
    pub graph_driver: GraphDriverData,
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
    #[serde(rename = "Metadata")]
    pub metadata: ImageMetadata,
}

/// An image's config as dockerd sends it: no labels is a nil map (`null`), where a
/// container's config has `{}`.
fn image_config<S: serde::Serializer>(
    c: &Option<ContainerConfig>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match c {
        None => s.serialize_none(),
        Some(c) if c.labels.is_empty() => crate::gojson::serialize_with_nil(s, c, &["Labels"]),
        Some(c) => c.serialize(s),
    }
}

/// The image's layers as the config lists them (diff ids).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RootFs {
    /// `layers`.
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(
        rename = "Layers",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable"
    )]
    pub layers: Vec<String>,
    #[serde(rename = "BaseLayer", skip_serializing_if = "String::is_empty")]
    pub base_layer: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageMetadata {
    /// RFC 3339; omitted when never tagged locally.
    #[serde(rename = "LastTagTime", skip_serializing_if = "String::is_empty")]
    pub last_tag_time: String,
}

/// One layer in `GET /images/{name}/history`, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageHistoryItem {
    /// The image id for layers that are images, else `<missing>`.
    #[serde(rename = "Id")]
    pub id: String,
    /// Unix seconds.
    #[serde(rename = "Created")]
    pub created: i64,
    #[serde(rename = "CreatedBy")]
    pub created_by: String,
    #[serde(rename = "Tags", deserialize_with = "nullable")]
    pub tags: Vec<String>,
    #[serde(rename = "Size")]
    pub size: i64,
    #[serde(rename = "Comment")]
    pub comment: String,
}

/// One entry of `DELETE /images/{name}`: exactly one of the two is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageDeleteResponseItem {
    #[serde(rename = "Untagged", skip_serializing_if = "Option::is_none")]
    pub untagged: Option<String>,
    #[serde(rename = "Deleted", skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}

/// The answer to `POST /images/prune`. dockerd sends `null` for no deletions; berth
/// sends an empty list (the swagger's type) and reads either.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImagePruneResponse {
    #[serde(rename = "ImagesDeleted", deserialize_with = "nullable")]
    pub images_deleted: Vec<ImageDeleteResponseItem>,
    #[serde(rename = "SpaceReclaimed")]
    pub space_reclaimed: u64,
}

/// One line of a JSON progress stream (pull, push, load, import, build). Keys are lower
/// case, as the API has them, and every field is omitted when empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JsonMessage {
    /// Build output, verbatim.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stream: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    /// A rendered progress bar, for clients that do not draw their own.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub progress: String,
    /// The layer or image the line is about.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(skip_serializing_if = "is_default")]
    pub time: i64,
    #[serde(rename = "timeNano", skip_serializing_if = "is_default")]
    pub time_nano: i64,
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    /// Deprecated by the API in favour of `errorDetail`, still read by clients.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// Out-of-band data, e.g. `{"ID": "sha256:…"}` at the end of a build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

impl JsonMessage {
    pub fn status(status: impl Into<String>) -> Self {
        Self {
            status: status.into(),
            ..Self::default()
        }
    }

    /// A failure line: `error` and `errorDetail.message` both carry the message, as
    /// dockerd sends them.
    pub fn error(message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            error_detail: Some(ErrorDetail {
                code: 0,
                message: message.clone(),
            }),
            error: message,
            ..Self::default()
        }
    }
}

/// Bytes done and to do, for a progress line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProgressDetail {
    #[serde(skip_serializing_if = "is_default")]
    pub current: i64,
    #[serde(skip_serializing_if = "is_default")]
    pub total: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorDetail {
    #[serde(skip_serializing_if = "is_default")]
    pub code: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_response_reads_dockerds_null_and_sends_a_list() {
        let r: ImagePruneResponse =
            serde_json::from_str(r#"{"ImagesDeleted":null,"SpaceReclaimed":0}"#).unwrap();
        assert!(r.images_deleted.is_empty());
        let r: ImagePruneResponse = serde_json::from_str(
            r#"{"ImagesDeleted":[{"Untagged":"a:1"},{"Deleted":"sha256:ab"}],"SpaceReclaimed":12}"#,
        )
        .unwrap();
        assert_eq!(r.images_deleted[0].untagged.as_deref(), Some("a:1"));
        assert_eq!(r.images_deleted[1].deleted.as_deref(), Some("sha256:ab"));
        assert_eq!(r.space_reclaimed, 12);
        assert_eq!(
            serde_json::to_string(&ImagePruneResponse::default()).unwrap(),
            r#"{"ImagesDeleted":[],"SpaceReclaimed":0}"#
        );
    }
}
