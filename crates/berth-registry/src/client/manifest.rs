//! Manifests from a registry: asked for in all four media types (Docker schema 2 and
//! its manifest list, OCI manifest and index), verified against the digest that names
//! them (the reference's or the parent index's, else the registry's
//! `Docker-Content-Digest`), and, for an index, the platform's manifest chosen.

use berth_image::content::Hasher;
use berth_image::model::{media, select_platform, Descriptor, Document, Index, Platform};
use berth_types::Digest;

use super::error::PullError;
use super::transport::{read_small, Answer, Session, StatusError};

/// What `Accept` asks for.
pub const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// Manifests larger than this are refused (the distribution spec's 4 MiB).
const MANIFEST_LIMIT: u64 = 4 << 20;

/// A fetched, verified manifest or index.
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    pub descriptor: Descriptor,
    pub bytes: Vec<u8>,
    pub document: Document,
}

fn hash(alg: berth_types::Algorithm, bytes: &[u8]) -> Digest {
    let mut h = Hasher::new(alg);
    h.update(bytes);
    h.finish()
}

/// Fetches `reference` (a tag or `sha256:…`) of the session's repository. `expected`:
/// the descriptor an index gave for it. A refusal comes back for the caller to word.
pub(crate) fn fetch(
    session: &Session,
    reference: &str,
    expected: Option<&Descriptor>,
) -> Result<Result<Fetched, StatusError>, PullError> {
    let url = session.url(&format!("manifests/{reference}"));
    let resp = match session.request("GET", &url, &[("Accept", ACCEPT.to_string())])? {
        Answer::Ok(r) => r,
        Answer::Refused(e) => return Ok(Err(e)),
    };
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header("content-type")
        .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_default();
    let registry_digest = header("docker-content-digest").and_then(|d| d.parse::<Digest>().ok());
    let bytes = read_small(resp, MANIFEST_LIMIT + 1).map_err(|e| PullError::Request {
        method: "Get",
        url: url.clone(),
        cause: e.to_string(),
        transient: true,
    })?;
    if bytes.len() as u64 > MANIFEST_LIMIT {
        return Err(PullError::Invalid(format!(
            "manifest {reference} is larger than {MANIFEST_LIMIT} bytes"
        )));
    }
    let named: Option<Digest> = expected
        .map(|d| d.digest.clone())
        .or_else(|| reference.parse::<Digest>().ok());
    let want = named.clone().or(registry_digest);
    let digest = match &want {
        Some(w) => {
            let actual = hash(w.algorithm(), &bytes);
            if &actual != w {
                return Err(PullError::Verification {
                    what: "manifest",
                    digest: w.clone(),
                    detail: Some(format!("content hashes to {actual}")),
                });
            }
            actual
        }
        None => hash(berth_types::Algorithm::Sha256, &bytes),
    };
    if let Some(e) = expected {
        if e.size != bytes.len() as u64 {
            return Err(PullError::Verification {
                what: "manifest",
                digest: digest.clone(),
                detail: Some(format!("{} bytes, the index says {}", bytes.len(), e.size)),
            });
        }
    }
    if content_type.starts_with("application/vnd.docker.distribution.manifest.v1") {
        return Err(PullError::Invalid(format!(
            "{}@{digest}: Docker Image Format v1 and Docker Image manifest version 2, schema 1 are not supported",
            session.repo
        )));
    }
    let document = Document::parse(&bytes).map_err(|e| {
        PullError::Invalid(format!(
            "manifest {digest} of {} does not parse: {e}",
            session.repo
        ))
    })?;
    let body_type = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| {
            v.get("mediaType")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let media_type = [content_type.as_str(), body_type.as_str()]
        .into_iter()
        .find(|m| media::is_index(m) || media::is_manifest(m))
        .map(str::to_string)
        .unwrap_or_else(|| match &document {
            Document::Index(_) => media::OCI_INDEX.to_string(),
            Document::Manifest(_) => media::OCI_MANIFEST.to_string(),
        });
    Ok(Ok(Fetched {
        descriptor: Descriptor {
            media_type,
            digest,
            size: bytes.len() as u64,
            urls: None,
            annotations: None,
            platform: expected.and_then(|e| e.platform.clone()),
        },
        bytes,
        document,
    }))
}

/// `os/arch[/variant]`.
pub fn platform_string(p: &Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{}", p.os, p.architecture, v),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

/// The manifest of an index for `platform` (an index of one entry without a platform
/// is that entry).
pub fn choose<'a>(index: &'a Index, platform: &Platform) -> Result<&'a Descriptor, PullError> {
    if let [only] = index.manifests.as_slice() {
        if only.platform.is_none() {
            return Ok(only);
        }
    }
    select_platform(index, platform).ok_or_else(|| PullError::NoMatchingPlatform {
        platform: platform_string(platform),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A descriptor of manifest `n` for `platform` (`os/arch[/variant]`).
    fn entry(platform: &str, n: u8) -> Descriptor {
        let mut d: Descriptor = serde_json::from_value(serde_json::json!({
            "mediaType": media::OCI_MANIFEST,
            "digest": berth_image::content::sha256(&[n]),
            "size": 1,
        }))
        .unwrap();
        d.platform = Some(plat(platform));
        d
    }

    fn plat(s: &str) -> Platform {
        let p: Vec<&str> = s.split('/').collect();
        Platform {
            os: p[0].into(),
            architecture: p[1].into(),
            variant: p.get(2).map(|v| v.to_string()),
            ..Platform::default()
        }
    }

    #[test]
    fn an_index_gives_the_platforms_manifest() {
        let idx = Index {
            schema_version: 2,
            media_type: Some(media::OCI_INDEX.into()),
            manifests: vec![
                entry("linux/arm64", 1),
                entry("linux/amd64", 2),
                entry("linux/arm/v7", 3),
            ],
            annotations: None,
        };
        let pick = |p: &str| choose(&idx, &plat(p)).map(|d| d.digest.clone());
        assert_eq!(
            pick("linux/amd64").unwrap(),
            berth_image::content::sha256(&[2])
        );
        // arm64 without a variant is arm64/v8.
        assert_eq!(
            pick("linux/arm64/v8").unwrap(),
            berth_image::content::sha256(&[1])
        );
        assert_eq!(
            pick("linux/arm/v7").unwrap(),
            berth_image::content::sha256(&[3])
        );
        let e = pick("linux/s390x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "no matching manifest for linux/s390x in the manifest list entries"
        );
        let one = Index {
            manifests: vec![Descriptor {
                platform: None,
                ..entry("linux/x", 9)
            }],
            ..idx
        };
        assert_eq!(
            choose(&one, &plat("linux/amd64")).unwrap().digest,
            berth_image::content::sha256(&[9])
        );
        assert!(ACCEPT.split(", ").count() == 4);
    }
}
