//! The image model: OCI image index / manifest / config and their Docker schema 2
//! equivalents (manifest list, manifest). These types are for reading; the store keeps
//! the original bytes, so digests never change through a parse/serialise round trip.

use berth_types::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub mod media {
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const DOCKER_FOREIGN_LAYER: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    /// Whether a media type names an index / manifest list.
    pub fn is_index(m: &str) -> bool {
        m == OCI_INDEX || m == DOCKER_LIST
    }

    /// Whether a media type names a single-platform manifest.
    pub fn is_manifest(m: &str) -> bool {
        m == OCI_MANIFEST || m == DOCKER_MANIFEST
    }
}

/// A platform (os/architecture/variant).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// An OCI image index or Docker manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An OCI image manifest or Docker schema 2 manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The runnable part of an image config (Docker's `config` object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<serde_json::Value>,
    /// Docker-only fields we carry through untouched.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// One history entry of an image config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The rootfs section: the uncompressed layer digests, bottom first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub typ: String,
    pub diff_ids: Vec<Digest>,
}

/// An image config (OCI and Docker share this shape). The image id is its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Other fields (docker_version, container, container_config, …) kept as they are.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// Any top-level document a registry or archive can hand us, told apart by mediaType
/// (or, when absent, by shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    Index(Index),
    Manifest(Box<Manifest>),
}

impl Document {
    /// Parse an index or manifest.
    pub fn parse(data: &[u8]) -> Result<Document, serde_json::Error> {
        let v: serde_json::Value = serde_json::from_slice(data)?;
        let mt = v.get("mediaType").and_then(|m| m.as_str()).unwrap_or("");
        if media::is_index(mt) || (mt.is_empty() && v.get("manifests").is_some()) {
            return Ok(Document::Index(serde_json::from_value(v)?));
        }
        Ok(Document::Manifest(Box::new(serde_json::from_value(v)?)))
    }
}

/// This machine's platform in OCI terms.
pub fn host_platform() -> Platform {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    Platform {
        architecture: arch.to_string(),
        os: "linux".to_string(),
        variant: if arch == "arm64" {
            Some("v8".into())
        } else {
            None
        },
        ..Platform::default()
    }
}

/// Pick the best manifest for `want` from an index: exact os/architecture, and the
/// variant when both name one (arm64's "v8" is the default variant).
pub fn select_platform<'a>(idx: &'a Index, want: &Platform) -> Option<&'a Descriptor> {
    let norm = |v: &Option<String>, arch: &str| -> Option<String> {
        match (arch, v.as_deref()) {
            ("arm64", None) => Some("v8".into()),
            (_, v) => v.map(String::from),
        }
    };
    let wv = norm(&want.variant, &want.architecture);
    let mut fallback = None;
    for d in &idx.manifests {
        let Some(p) = &d.platform else { continue };
        if p.os != want.os || p.architecture != want.architecture {
            continue;
        }
        let pv = norm(&p.variant, &p.architecture);
        if pv == wv {
            return Some(d);
        }
        if fallback.is_none() && (wv.is_none() || pv.is_none()) {
            fallback = Some(d);
        }
    }
    fallback
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(arch: &str, variant: Option<&str>, n: u8) -> Descriptor {
        Descriptor {
            media_type: media::OCI_MANIFEST.into(),
            digest: crate::content::sha256(&[n]),
            size: 1,
            urls: None,
            annotations: None,
            platform: Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                variant: variant.map(String::from),
                ..Platform::default()
            }),
        }
    }

    #[test]
    fn platform_selection() {
        let idx = Index {
            schema_version: 2,
            media_type: Some(media::OCI_INDEX.into()),
            manifests: vec![
                desc("arm", Some("v7"), 1),
                desc("amd64", None, 2),
                desc("arm64", Some("v8"), 3),
            ],
            annotations: None,
        };
        let amd = Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..Default::default()
        };
        assert_eq!(
            select_platform(&idx, &amd).unwrap().digest,
            crate::content::sha256(&[2])
        );
        let arm64 = Platform {
            architecture: "arm64".into(),
            os: "linux".into(),
            ..Default::default()
        };
        assert_eq!(
            select_platform(&idx, &arm64).unwrap().digest,
            crate::content::sha256(&[3])
        );
        let armv6 = Platform {
            architecture: "arm".into(),
            os: "linux".into(),
            variant: Some("v6".into()),
            ..Default::default()
        };
        assert!(select_platform(&idx, &armv6).is_none());
        let s390 = Platform {
            architecture: "s390x".into(),
            os: "linux".into(),
            ..Default::default()
        };
        assert!(select_platform(&idx, &s390).is_none());
    }

    #[test]
    fn documents_are_told_apart() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},"layers":[]}"#;
        assert!(matches!(Document::parse(m).unwrap(), Document::Manifest(_)));
        let i = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(Document::parse(i).unwrap(), Document::Index(_)));
    }
}
