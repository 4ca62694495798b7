//! Manifest endpoints — fetch, push, delete, by tag or digest — and the referrers
//! API, which lists the manifests whose `subject` is a given digest.

use berth_http::{Query, Request};
use berth_image::content::Hasher;
use berth_image::model::media;
use berth_types::Digest;
use serde_json::json;

use super::blobs::parse_digest;
use super::error::{Code, RegistryError};
use super::http::{Body, Reply};
use super::manifest::Manifest;
use super::names::valid_tag;
use super::registry::{Registry, Result};

/// The largest manifest accepted (the spec asks registries to take at least 4 MiB).
const MAX_MANIFEST: usize = 4 << 20;

/// A manifest reference: a tag or a digest.
enum Reference {
    Tag(String),
    Digest(Digest),
}

fn reference(s: &str) -> Result<Reference> {
    if s.contains(':') {
        return parse_digest(s).map(Reference::Digest);
    }
    Ok(Reference::Tag(s.to_string()))
}

fn manifest_unknown(reference: &str) -> RegistryError {
    RegistryError::new(Code::ManifestUnknown, "manifest unknown to registry")
        .with_detail(reference.to_string())
}

/// The digest a reference names in the repository, if it names one.
fn resolve(reg: &Registry, name: &str, r: &Reference) -> Result<Option<Digest>> {
    match r {
        Reference::Digest(d) => Ok(reg.store.has_manifest(name, d).then(|| d.clone())),
        Reference::Tag(t) if !valid_tag(t) => Ok(None),
        Reference::Tag(t) => Ok(reg.store.tag(name, t)?),
    }
}

/// `GET`/`HEAD /v2/<name>/manifests/<reference>`: the bytes as pushed, with the
/// media type they were pushed with.
pub fn get(reg: &Registry, name: &str, reference_s: &str) -> Result<Reply> {
    let r = reference(reference_s)?;
    let Some(d) = resolve(reg, name, &r)? else {
        return Err(manifest_unknown(reference_s));
    };
    let Some((media_type, bytes)) = reg.store.manifest(name, &d)? else {
        return Err(manifest_unknown(reference_s));
    };
    Ok(Reply::bytes(200, &media_type, bytes)
        .header("Docker-Content-Digest", d.to_string())
        .header("ETag", format!("\"{d}\"")))
}

/// `PUT /v2/<name>/manifests/<reference>`: checks the manifest (well-formed, its
/// digest right, every blob and child manifest it names present in the repository),
/// stores it, tags it, and records it as a referrer of its subject.
pub fn put(
    reg: &Registry,
    name: &str,
    reference_s: &str,
    req: &Request,
    body: &mut Body<'_>,
) -> Result<Reply> {
    let r = reference(reference_s)?;
    if let Reference::Tag(t) = &r {
        if !valid_tag(t) {
            return Err(RegistryError::new(Code::TagInvalid, "invalid tag").with_detail(t.clone()));
        }
    }
    let mut bytes = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        use std::io::Read;
        let n = body.read(&mut buf).map_err(|e| {
            RegistryError::new(
                Code::ManifestInvalid,
                format!("cannot read the manifest: {e}"),
            )
        })?;
        if n == 0 {
            break;
        }
        if bytes.len() + n > MAX_MANIFEST {
            return Err(RegistryError::new(
                Code::SizeInvalid,
                format!("manifests are limited to {MAX_MANIFEST} bytes"),
            )
            .with_status(413));
        }
        bytes.extend_from_slice(&buf[..n]);
    }
    let m = Manifest::parse(&bytes, req.header("content-type"))?;
    let digest = {
        let alg = match &r {
            Reference::Digest(d) => d.algorithm(),
            Reference::Tag(_) => berth_types::Algorithm::Sha256,
        };
        let mut h = Hasher::new(alg);
        h.update(&bytes);
        h.finish()
    };
    if let Reference::Digest(want) = &r {
        if want != &digest {
            return Err(RegistryError::new(
                Code::DigestInvalid,
                format!("the manifest hashes to {digest}, not to the digest it was pushed by"),
            )
            .with_detail(want.to_string()));
        }
    }
    for b in &m.blobs {
        if reg.store.blob_in_repo(name, b).is_none() {
            return Err(RegistryError::new(
                Code::ManifestBlobUnknown,
                "manifest references a blob unknown to the repository",
            )
            .with_detail(b.to_string()));
        }
    }
    for child in &m.manifests {
        if !reg.store.has_manifest(name, child) {
            return Err(RegistryError::new(
                Code::ManifestBlobUnknown,
                "index references a manifest unknown to the repository",
            )
            .with_detail(child.to_string()));
        }
    }
    reg.store
        .put_manifest(name, &digest, &m.media_type, &bytes)?;
    if let Reference::Tag(t) = &r {
        reg.store.set_tag(name, t, &digest)?;
    }
    let mut reply = Reply::empty(201)
        .header("Location", format!("/v2/{name}/manifests/{digest}"))
        .header("Docker-Content-Digest", digest.to_string());
    if let Some(subject) = &m.subject {
        let descriptor = m.descriptor(&digest, bytes.len() as u64);
        reg.store
            .add_referrer(name, subject, &digest, &descriptor)?;
        reply = reply.header("OCI-Subject", subject.to_string());
    }
    Ok(reply)
}

/// `DELETE /v2/<name>/manifests/<reference>`: by tag, the tag alone goes; by
/// digest, the manifest, every tag naming it, and its place among its subject's
/// referrers.
pub fn delete(reg: &Registry, name: &str, reference_s: &str) -> Result<Reply> {
    match reference(reference_s)? {
        Reference::Tag(t) => {
            if !valid_tag(&t) || !reg.store.delete_tag(name, &t)? {
                return Err(manifest_unknown(reference_s));
            }
        }
        Reference::Digest(d) => {
            let Some((media_type, bytes)) = reg.store.manifest(name, &d)? else {
                return Err(manifest_unknown(reference_s));
            };
            if let Ok(Manifest {
                subject: Some(subject),
                ..
            }) = Manifest::parse(&bytes, Some(&media_type))
            {
                reg.store.remove_referrer(name, &subject, &d)?;
            }
            reg.store.delete_manifest(name, &d)?;
        }
    }
    Ok(Reply::empty(202))
}

/// `GET /v2/<name>/referrers/<digest>[?artifactType=]`: an OCI index of the
/// manifests whose subject is `digest` (empty when there are none).
pub fn referrers(reg: &Registry, name: &str, digest: &str, q: &Query) -> Result<Reply> {
    let d = parse_digest(digest)?;
    let mut manifests = reg.store.referrers(name, &d)?;
    let filter = q.non_empty("artifactType");
    if let Some(want) = filter {
        manifests.retain(|m| m["artifactType"].as_str() == Some(want));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": manifests,
    });
    let mut data = index.to_string().into_bytes();
    data.push(b'\n');
    let mut reply = Reply::bytes(200, media::OCI_INDEX, data);
    if filter.is_some() {
        reply = reply.header("OCI-Filters-Applied", "artifactType");
    }
    Ok(reply)
}
