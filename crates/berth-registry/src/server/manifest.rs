//! Pushed manifests, read for what the registry must check and remember: their media
//! type (Docker schema 2 manifest and manifest list, OCI image manifest and index,
//! artifacts being OCI manifests with an `artifactType`), the blobs and child
//! manifests they reference (which must exist), and their `subject` (which makes
//! them a referrer). The bytes themselves are stored untouched.

use berth_image::model::media;
use berth_types::Digest;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{Code, RegistryError};

/// What the registry needs to know of a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub media_type: String,
    /// Blobs it references (config and layers; foreign layers with `urls` left out).
    pub blobs: Vec<Digest>,
    /// Manifests it references (an index's entries).
    pub manifests: Vec<Digest>,
    pub subject: Option<Digest>,
    /// The artifact type the referrers API reports: `artifactType`, or for an image
    /// manifest without one, its config's media type.
    pub artifact_type: Option<String>,
    pub annotations: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Desc>,
    layers: Option<Vec<Desc>>,
    manifests: Option<Vec<Desc>>,
    subject: Option<Desc>,
    annotations: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Desc {
    media_type: Option<String>,
    digest: String,
    #[serde(default)]
    urls: Vec<String>,
}

fn invalid(msg: impl Into<String>) -> RegistryError {
    RegistryError::new(Code::ManifestInvalid, msg)
}

fn digest_of(d: &Desc) -> Result<Digest, RegistryError> {
    d.digest.parse().map_err(|e| {
        invalid(format!(
            "invalid digest {:?} in the manifest: {e}",
            d.digest
        ))
    })
}

fn known(mt: &str) -> bool {
    media::is_manifest(mt) || media::is_index(mt)
}

impl Manifest {
    /// Reads a pushed manifest. `content_type` is the request's `Content-Type`; where
    /// it names a manifest type, the document's own `mediaType` must agree.
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, RegistryError> {
        let doc: Doc = serde_json::from_slice(bytes)
            .map_err(|e| invalid(format!("the manifest is not valid JSON: {e}")))?;
        match doc.schema_version {
            Some(2) => {}
            Some(1) => return Err(invalid("schema 1 manifests are not supported")),
            Some(v) => return Err(invalid(format!("unsupported schemaVersion {v}"))),
            None => return Err(invalid("the manifest has no schemaVersion")),
        }
        let ct = content_type
            .map(|c| c.split(';').next().unwrap_or("").trim())
            .filter(|c| known(c));
        let media_type = match (ct, doc.media_type.as_deref()) {
            (Some(ct), Some(own)) if own != ct => {
                return Err(invalid(format!(
                    "the manifest's mediaType {own} does not match its Content-Type {ct}"
                )))
            }
            (Some(ct), _) => ct.to_string(),
            (None, Some(own)) if known(own) => own.to_string(),
            (None, _) if doc.manifests.is_some() => media::OCI_INDEX.to_string(),
            (None, _) if doc.config.is_some() => media::OCI_MANIFEST.to_string(),
            (None, _) => return Err(invalid("the manifest's media type is unknown")),
        };
        let mut blobs = Vec::new();
        let mut manifests = Vec::new();
        let mut artifact_type = doc.artifact_type.clone().filter(|a| !a.is_empty());
        if media::is_index(&media_type) {
            let list = doc
                .manifests
                .as_ref()
                .ok_or_else(|| invalid("an index needs a manifests list"))?;
            for d in list {
                manifests.push(digest_of(d)?);
            }
        } else {
            let config = doc
                .config
                .as_ref()
                .ok_or_else(|| invalid("an image manifest needs a config"))?;
            blobs.push(digest_of(config)?);
            let layers = doc
                .layers
                .as_ref()
                .ok_or_else(|| invalid("an image manifest needs a layers list"))?;
            for l in layers {
                let d = digest_of(l)?;
                if l.urls.is_empty() {
                    blobs.push(d);
                }
            }
            if artifact_type.is_none() {
                artifact_type = config.media_type.clone();
            }
        }
        let subject = doc.subject.as_ref().map(digest_of).transpose()?;
        Ok(Manifest {
            media_type,
            blobs,
            manifests,
            subject,
            artifact_type,
            annotations: doc.annotations.filter(|a| a.is_object()),
        })
    }

    /// Its descriptor in a referrers index.
    pub fn descriptor(&self, digest: &Digest, size: u64) -> Value {
        let mut d = json!({
            "mediaType": self.media_type,
            "digest": digest.to_string(),
            "size": size,
        });
        if let Some(a) = &self.artifact_type {
            d["artifactType"] = json!(a);
        }
        if let Some(a) = &self.annotations {
            d["annotations"] = a.clone();
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":2}},
               "layers":[{{"mediaType":"l","digest":"{D2}","size":1}},
                         {{"mediaType":"foreign","digest":"{D3}","size":1,"urls":["http://x"]}}]{extra}}}"#
        )
    }

    #[test]
    fn image_manifests_name_their_blobs() {
        let m = Manifest::parse(image("").as_bytes(), Some(media::OCI_MANIFEST)).expect("parse");
        assert_eq!(m.media_type, media::OCI_MANIFEST);
        let want: Vec<Digest> = vec![D1.parse().unwrap(), D2.parse().unwrap()];
        assert_eq!(m.blobs, want, "foreign layers are not required");
        assert_eq!(
            m.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
        assert_eq!(m.subject, None);
        // Docker's type by Content-Type; by the body's mediaType when there is none.
        let m = Manifest::parse(image("").as_bytes(), Some(media::DOCKER_MANIFEST)).expect("parse");
        assert_eq!(m.media_type, media::DOCKER_MANIFEST);
        let body = image(&format!(r#","mediaType":"{}""#, media::DOCKER_MANIFEST));
        let m = Manifest::parse(body.as_bytes(), None).expect("parse");
        assert_eq!(m.media_type, media::DOCKER_MANIFEST);
        let e = Manifest::parse(body.as_bytes(), Some(media::OCI_MANIFEST)).unwrap_err();
        assert_eq!(e.code, Code::ManifestInvalid);
    }

    #[test]
    fn artifacts_and_subjects() {
        let body = image(&format!(
            r#","artifactType":"application/vnd.example","subject":{{"mediaType":"x","digest":"{D3}","size":1}},"annotations":{{"k":"v"}}"#
        ));
        let m = Manifest::parse(body.as_bytes(), Some(media::OCI_MANIFEST)).expect("parse");
        assert_eq!(m.artifact_type.as_deref(), Some("application/vnd.example"));
        assert_eq!(m.subject, Some(D3.parse().unwrap()));
        let d = m.descriptor(&D1.parse().unwrap(), 42);
        assert_eq!(
            d,
            json!({"mediaType": media::OCI_MANIFEST, "digest": D1, "size": 42,
                   "artifactType": "application/vnd.example", "annotations": {"k": "v"}})
        );
    }

    #[test]
    fn indexes_name_their_manifests() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"m","digest":"{D1}","size":1}}]}}"#,
            media::DOCKER_LIST
        );
        let m = Manifest::parse(body.as_bytes(), Some("application/json")).expect("parse");
        assert_eq!(m.media_type, media::DOCKER_LIST);
        assert_eq!(m.manifests, vec![D1.parse::<Digest>().unwrap()]);
        assert!(m.blobs.is_empty());
        assert_eq!(m.artifact_type, None);
    }

    #[test]
    fn broken_manifests_are_invalid() {
        for (body, ct) in [
            ("blablabla", Some(media::OCI_MANIFEST)),
            (r#"{"schemaVersion":1,"fsLayers":[]}"#, None),
            (r#"{"schemaVersion":2}"#, None),
            (
                r#"{"schemaVersion":2,"config":{"digest":"sha256:zz"},"layers":[]}"#,
                None,
            ),
            (
                r#"{"schemaVersion":2,"manifests":[]}"#,
                Some(media::OCI_MANIFEST),
            ),
        ] {
            let e = Manifest::parse(body.as_bytes(), ct).unwrap_err();
            assert_eq!(e.code, Code::ManifestInvalid, "{body}");
            assert_eq!(e.status, 400);
        }
    }
}
