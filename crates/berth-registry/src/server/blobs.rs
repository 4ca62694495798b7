//! Blob endpoints: fetch (with `Range`), delete, and uploads — monolithic
//! (`POST ?digest=`), in a session (`POST`, then `PATCH` chunks in order, `PUT
//! ?digest=` with an optional last chunk), status, cancel, and cross-repository mount
//! (`POST ?mount=&from=`).

use std::io::{self, Read, Write};

use berth_http::{Query, Request};
use berth_image::content::ContentError;
use berth_types::Digest;

use super::error::{Code, RegistryError};
use super::http::{Body, Reply};
use super::range::{parse_content_range, parse_range, upload_range, RangeRequest};
use super::registry::{Registry, Result};
use super::uploads::{lock, Session};

/// Reads a digest from a path or query.
pub(crate) fn parse_digest(s: &str) -> Result<Digest> {
    s.parse().map_err(|e| {
        RegistryError::new(Code::DigestInvalid, format!("invalid digest: {e}"))
            .with_detail(s.to_string())
    })
}

fn blob_unknown(d: &Digest) -> RegistryError {
    RegistryError::new(Code::BlobUnknown, "blob unknown to registry").with_detail(d.to_string())
}

fn blob_location(name: &str, d: &Digest) -> String {
    format!("/v2/{name}/blobs/{d}")
}

fn upload_location(name: &str, uuid: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{uuid}")
}

/// `GET`/`HEAD /v2/<name>/blobs/<digest>`, whole or a `Range` of it.
pub fn get(reg: &Registry, name: &str, digest: &str, req: &Request) -> Result<Reply> {
    let d = parse_digest(digest)?;
    if reg.store.blob_in_repo(name, &d).is_none() {
        return Err(blob_unknown(&d));
    }
    let file = match reg.store.blobs().open_blob(&d) {
        Ok(f) => f,
        Err(ContentError::NotFound(_)) => return Err(blob_unknown(&d)),
        Err(e) => return Err(RegistryError::storage(e.into())),
    };
    let size = file
        .metadata()
        .map_err(|e| RegistryError::new(Code::Unknown, format!("stat of blob {d}: {e}")))?
        .len();
    let (status, offset, len, range) = match parse_range(req.header("range"), size) {
        RangeRequest::Whole => (200, 0, size, None),
        RangeRequest::Part { start, end } => (
            206,
            start,
            end - start + 1,
            Some(format!("bytes {start}-{end}/{size}")),
        ),
        RangeRequest::Unsatisfiable => {
            return Ok(Reply::empty(416).header("Content-Range", format!("bytes */{size}")))
        }
    };
    let mut reply = Reply::file(status, file, offset, len)
        .header("Docker-Content-Digest", d.to_string())
        .header("Accept-Ranges", "bytes")
        .header("ETag", format!("\"{d}\""))
        .header("Cache-Control", "max-age=31536000");
    if let Some(r) = range {
        reply = reply.header("Content-Range", r);
    }
    Ok(reply)
}

/// `DELETE /v2/<name>/blobs/<digest>`: the repository forgets the blob; `gc`
/// removes the content once nothing refers to it.
pub fn delete(reg: &Registry, name: &str, digest: &str) -> Result<Reply> {
    let d = parse_digest(digest)?;
    if !reg.store.unlink_blob(name, &d)? {
        return Err(blob_unknown(&d));
    }
    Ok(Reply::empty(202).header("Docker-Content-Digest", d.to_string()))
}

/// The reply to a blob that is now in the repository.
fn created(name: &str, d: &Digest) -> Reply {
    Reply::empty(201)
        .header("Location", blob_location(name, d))
        .header("Docker-Content-Digest", d.to_string())
}

/// A reply that tells where a session stands.
fn with_session(reply: Reply, name: &str, uuid: &str, size: u64) -> Reply {
    reply
        .header("Location", upload_location(name, uuid))
        .header("Range", upload_range(size))
        .header("Docker-Upload-UUID", uuid)
}

fn session_reply(status: u16, name: &str, uuid: &str, size: u64) -> Reply {
    with_session(Reply::empty(status), name, uuid, size)
}

/// `POST /v2/<name>/blobs/uploads/`: mount, monolithic upload, or a new session.
pub fn start_upload(
    reg: &Registry,
    name: &str,
    req: &Request,
    body: &mut Body<'_>,
) -> Result<Reply> {
    let q: &Query = &req.query;
    if let Some(mount) = q.non_empty("mount") {
        let d = parse_digest(mount)?;
        let from = q.non_empty("from").filter(|f| super::names::valid_name(f));
        if let Some(from) = from {
            if reg.store.blob_in_repo(from, &d).is_some() {
                reg.store.link_blob(name, &d)?;
                return Ok(created(name, &d));
            }
        }
        // Not mountable: an ordinary session, as the spec says.
    } else if let Some(digest) = q.get("digest") {
        let d = parse_digest(digest)?;
        let size = content_length(req)?;
        let mut w = reg.store.blobs().writer(Some(d.clone()), size)?;
        copy_body(body, &mut w).map_err(|e| {
            RegistryError::new(
                Code::BlobUploadInvalid,
                format!("cannot read the blob: {e}"),
            )
        })?;
        match w.commit() {
            Ok(_) => {}
            Err(ContentError::DigestMismatch { actual, .. }) => {
                return Err(RegistryError::new(
                    Code::DigestInvalid,
                    format!(
                        "provided digest did not match uploaded content: it hashes to {actual}"
                    ),
                )
                .with_detail(d.to_string()))
            }
            Err(ContentError::SizeMismatch {
                expected, actual, ..
            }) => {
                return Err(RegistryError::new(
                    Code::SizeInvalid,
                    format!("Content-Length is {expected}, the body had {actual} bytes"),
                ))
            }
            Err(e) => return Err(RegistryError::storage(e.into())),
        }
        reg.store.link_blob(name, &d)?;
        return Ok(created(name, &d));
    }
    let uuid = reg.uploads.start(name)?;
    Ok(session_reply(202, name, &uuid, 0))
}

fn content_length(req: &Request) -> Result<Option<u64>> {
    match req.header("content-length") {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| RegistryError::new(Code::SizeInvalid, "invalid Content-Length")),
    }
}

/// Copies a request body with a buffer that suits large blobs.
fn copy_body(body: &mut Body<'_>, out: &mut dyn Write) -> io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// `GET /v2/<name>/blobs/uploads/<uuid>`: how much has arrived.
pub fn upload_status(reg: &Registry, name: &str, uuid: &str) -> Result<Reply> {
    let session = reg.uploads.get(name, uuid)?;
    let s = lock(&session);
    s.check_live()?;
    Ok(session_reply(204, name, uuid, s.size))
}

/// Appends a request's body to a session, checking its `Content-Range` against what
/// has arrived: a chunk out of order is refused with 416.
fn append_chunk(s: &mut Session, req: &Request, body: &mut Body<'_>) -> Result<()> {
    let length = content_length(req)?;
    let mut expected = None;
    if let Some(cr) = req.header("content-range") {
        let Some((start, end)) = parse_content_range(cr) else {
            return Err(RegistryError::new(
                Code::BlobUploadInvalid,
                format!("invalid Content-Range {cr:?}"),
            )
            .with_status(416));
        };
        let want = end - start + 1;
        if start != s.size || length.is_some_and(|l| l != want) {
            let e = RegistryError::new(
                Code::BlobUploadInvalid,
                format!(
                    "chunk {start}-{end} does not follow the {} bytes received",
                    s.size
                ),
            )
            .with_status(416);
            return Err(e);
        }
        expected = Some(want);
    }
    s.append(body, expected.or(length)).map(|_| ())
}

/// `PATCH /v2/<name>/blobs/uploads/<uuid>`: one more chunk.
pub fn patch_upload(
    reg: &Registry,
    name: &str,
    uuid: &str,
    req: &Request,
    body: &mut Body<'_>,
) -> Result<Reply> {
    let session = reg.uploads.get(name, uuid)?;
    let mut s = lock(&session);
    s.check_live()?;
    if let Err(e) = append_chunk(&mut s, req, body) {
        if e.status == 416 {
            // Say where the session stands, so the client can go on from there.
            return Ok(with_session(Reply::from(e), name, uuid, s.size));
        }
        return Err(e);
    }
    Ok(session_reply(202, name, uuid, s.size))
}

/// `PUT /v2/<name>/blobs/uploads/<uuid>?digest=`: the last chunk (if any), then the
/// data is verified and becomes the blob.
pub fn finish_upload(
    reg: &Registry,
    name: &str,
    uuid: &str,
    req: &Request,
    body: &mut Body<'_>,
) -> Result<Reply> {
    let d = match req.query.non_empty("digest") {
        Some(d) => parse_digest(d)?,
        None => {
            return Err(RegistryError::new(
                Code::DigestInvalid,
                "the digest query parameter is missing",
            ))
        }
    };
    let session = reg.uploads.get(name, uuid)?;
    let mut s = lock(&session);
    s.check_live()?;
    if body.present() {
        append_chunk(&mut s, req, body)?;
    }
    match s.commit(&reg.store, &d) {
        Ok(()) => {}
        Err(e) if e.code == Code::DigestInvalid => {
            // The data is of no use: nothing of it stays.
            reg.uploads.remove(&mut s);
            return Err(e);
        }
        Err(e) => return Err(e),
    }
    reg.store.link_blob(name, &d)?;
    reg.uploads.remove(&mut s);
    Ok(created(name, &d))
}

/// `DELETE /v2/<name>/blobs/uploads/<uuid>`: the session and its data go.
pub fn cancel_upload(reg: &Registry, name: &str, uuid: &str) -> Result<Reply> {
    let session = reg.uploads.get(name, uuid)?;
    let mut s = lock(&session);
    s.check_live()?;
    reg.uploads.remove(&mut s);
    Ok(Reply::empty(204))
}
