//! Request and response bodies of the container operations: create, wait, top, update,
//! changes.

use serde::{Deserialize, Serialize};

use super::{ContainerConfig, HostConfig, Resources, RestartPolicy};
use crate::de::nullable;
use crate::network::NetworkingConfig;

/// The body of `POST /containers/create`: the `ContainerConfig` fields at the top level,
/// with `HostConfig` and `NetworkingConfig` beside them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", default)]
pub struct ContainerCreateRequest {
    /// Embedded, as in Go: its fields sit beside the others (see `go_embeds!`).
    #[serde(skip)]
    pub config: ContainerConfig,
    #[serde(rename = "HostConfig", skip_serializing_if = "Option::is_none")]
    pub host_config: Option<HostConfig>,
    #[serde(rename = "NetworkingConfig", skip_serializing_if = "Option::is_none")]
    pub networking_config: Option<NetworkingConfig>,
}

crate::gojson::go_embeds!(ContainerCreateRequest, config);

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
#[serde(remote = "Self", default)]
pub struct ContainerUpdateRequest {
    /// Embedded, as in Go: its fields sit beside the others (see `go_embeds!`).
    #[serde(skip)]
    pub resources: Resources,
    #[serde(rename = "RestartPolicy", skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
}

crate::gojson::go_embeds!(ContainerUpdateRequest, resources);

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

/// `X-Docker-Container-Path-Stat` of the archive endpoints (base64 of this JSON).
/// `mode` is Go's `os.FileMode` (what the docker CLI decodes), not `st_mode`; `mtime`
/// is RFC 3339 with nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerPathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

impl ContainerPathStat {
    /// The header that carries it.
    pub const HEADER: &'static str = "X-Docker-Container-Path-Stat";

    /// The header's value: base64 of the JSON.
    pub fn to_header(&self) -> String {
        use base64::Engine as _;
        let json = serde_json::to_vec(self).expect("a path stat always serialises");
        base64::engine::general_purpose::STANDARD.encode(json)
    }

    /// Reads the header's value; `None` if it is not base64 of a path stat.
    pub fn from_header(value: &str) -> Option<ContainerPathStat> {
        use base64::Engine as _;
        let json = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .ok()?;
        serde_json::from_slice(&json).ok()
    }

    pub fn is_dir(&self) -> bool {
        self.mode & go_mode::DIR != 0
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & go_mode::SYMLINK != 0
    }
}

/// Go's `os.FileMode` type bits.
pub mod go_mode {
    pub const DIR: u32 = 1 << 31;
    pub const SYMLINK: u32 = 1 << 27;
    pub const DEVICE: u32 = 1 << 26;
    pub const NAMED_PIPE: u32 = 1 << 25;
    pub const SOCKET: u32 = 1 << 24;
    pub const SETUID: u32 = 1 << 23;
    pub const SETGID: u32 = 1 << 22;
    pub const CHAR_DEVICE: u32 = 1 << 21;
    pub const STICKY: u32 = 1 << 20;
    /// Every type bit.
    pub const TYPE: u32 = DIR | SYMLINK | NAMED_PIPE | SOCKET | DEVICE | CHAR_DEVICE | (1 << 19);

    /// Go's `os.FileMode` for a Unix `st_mode`.
    pub fn from_unix(st_mode: u32) -> u32 {
        let mut m = st_mode & 0o777;
        m |= match st_mode & 0o170000 {
            0o040000 => DIR,
            0o120000 => SYMLINK,
            0o010000 => NAMED_PIPE,
            0o140000 => SOCKET,
            0o060000 => DEVICE,
            0o020000 => DEVICE | CHAR_DEVICE,
            _ => 0,
        };
        if st_mode & 0o4000 != 0 {
            m |= SETUID;
        }
        if st_mode & 0o2000 != 0 {
            m |= SETGID;
        }
        if st_mode & 0o1000 != 0 {
            m |= STICKY;
        }
        m
    }

    /// The Unix `st_mode` for Go's `os.FileMode`.
    pub fn to_unix(m: u32) -> u32 {
        let mut st = m & 0o777;
        st |= if m & DIR != 0 {
            0o040000
        } else if m & SYMLINK != 0 {
            0o120000
        } else if m & NAMED_PIPE != 0 {
            0o010000
        } else if m & SOCKET != 0 {
            0o140000
        } else if m & CHAR_DEVICE != 0 {
            0o020000
        } else if m & DEVICE != 0 {
            0o060000
        } else {
            0o100000
        };
        if m & SETUID != 0 {
            st |= 0o4000;
        }
        if m & SETGID != 0 {
            st |= 0o2000;
        }
        if m & STICKY != 0 {
            st |= 0o1000;
        }
        st
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_header_round_trips_and_reads_dockerd_s() {
            use crate::container::ContainerPathStat;
            // dockerd 20.10's header for a 0644 file.
            let st = ContainerPathStat {
                name: "a.txt".into(),
                size: 3,
                mode: 420,
                mtime: "2026-11-22T22:51:41.753169068Z".into(),
                link_target: String::new(),
            };
            let h = st.to_header();
            assert_eq!(ContainerPathStat::from_header(&h), Some(st.clone()));
            let json = r#"{"name":"a.txt","size":3,"mode":420,"mtime":"2026-11-22T22:51:41.753169068Z","linkTarget":""}"#;
            use base64::Engine as _;
            let theirs = base64::engine::general_purpose::STANDARD.encode(json);
            assert_eq!(h, theirs, "same JSON, same key order");
            assert_eq!(ContainerPathStat::from_header("not base64!"), None);
        }

        #[test]
        fn modes_match_what_dockerd_sends() {
            // Values recorded from dockerd's X-Docker-Container-Path-Stat.
            assert_eq!(from_unix(0o100644), 420);
            assert_eq!(from_unix(0o040755), 2147484141);
            assert_eq!(from_unix(0o120777), 134218239);
            assert_eq!(from_unix(0o010644), 33554852);
            for st in [
                0o100644, 0o040755, 0o120777, 0o010644, 0o020620, 0o060660, 0o104755, 0o041777,
            ] {
                assert_eq!(to_unix(from_unix(st)), st, "{st:o}");
            }
        }
    }
}
