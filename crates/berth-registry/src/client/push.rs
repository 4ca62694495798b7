//! One push: an image's layers, then its config, then its manifest, as dockerd pushes
//! them and with its progress statuses.
//!
//! Each layer is first looked for on the registry (`HEAD`: "Layer already exists"),
//! then mounted from another repository of the same registry that has it ("Mounted
//! from …"), and only then uploaded ("Pushing", "Pushed"): a blob whose digest is
//! known goes monolithically (`POST` + `PUT ?digest=`, its file sent again on a
//! retry); a layer stored uncompressed is gzip-compressed on every core as it streams
//! out (`POST`, a `PATCH` of the stream, `PUT ?digest=` of what the stream hashed to),
//! the whole layer tried again on a transient failure. Layers go
//! `max-concurrent-uploads` at a time. The manifest names what the registry now holds:
//! the local manifest itself, byte for byte, when no layer changed on the way out, so
//! a pulled image pushed elsewhere keeps its digest.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use berth_image::content::{ContentStore, Hasher};
use berth_image::model::{media, Descriptor, Manifest};
use berth_types::{Digest, Reference};

use super::auth::Credentials;
use super::compress::ParallelGzip;
use super::error::PullError;
use super::pull::Progress;
use super::transport::{read_small, Answer, Payload, Session, StatusError};
use super::RegistryClient;

/// gzip level for layers compressed on the way out (Go's and zlib's default).
const GZIP_LEVEL: u32 = 6;
/// Tries of one layer upload whose failure is transient.
const LAYER_TRIES: u32 = 3;

/// A layer of the image to push.
#[derive(Debug, Clone)]
pub struct PushLayer {
    /// Its diff_id: the id its progress lines carry.
    pub diff_id: Digest,
    /// Its blob in the content store.
    pub local: Descriptor,
    /// For a blob stored uncompressed: the gzip blob an earlier push made of it, if
    /// any (it is looked for on the registry before compressing again).
    pub known: Option<Descriptor>,
}

/// What a push sends.
pub struct PushImage<'a> {
    pub content: &'a ContentStore,
    /// The single-platform manifest, as stored, and its descriptor.
    pub manifest: Descriptor,
    pub manifest_bytes: Vec<u8>,
    /// Its layers, in manifest order (`local` equal to the manifest's entries).
    pub layers: Vec<PushLayer>,
    /// Repositories on the same registry that may hold the layers already (the
    /// image's other names there): mount sources.
    pub mount_from: Vec<String>,
}

/// What the registry holds after a push.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The manifest pushed (its digest is what `RepoDigests` records).
    pub manifest: Descriptor,
    /// Blobs stored uncompressed locally and the gzip blobs they were pushed as.
    pub compressed: Vec<(Digest, Descriptor)>,
}

/// Docker's id for a push line: the layer's diff_id, short.
fn push_id(d: &Digest) -> String {
    d.hex().chars().take(12).collect()
}

fn is_uncompressed(media_type: &str) -> bool {
    media_type == media::DOCKER_LAYER || media_type == media::OCI_LAYER
}

/// The gzip media type of the family (Docker or OCI) of an uncompressed one.
fn gzip_type(media_type: &str) -> &'static str {
    if media_type == media::OCI_LAYER {
        media::OCI_LAYER_GZIP
    } else {
        media::DOCKER_LAYER_GZIP
    }
}

fn push_refusal(e: StatusError) -> PullError {
    if e.code() == "DENIED" || e.status == 401 || e.status == 403 {
        PullError::Denied(e.cause())
    } else {
        e.into_error()
    }
}

/// A header of a response, as text.
fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Where an upload continues: the `Location` of a response, made absolute.
fn location(
    session: &Session,
    resp: &ureq::http::Response<ureq::Body>,
) -> Result<String, PullError> {
    let loc = header(resp, "location").ok_or_else(|| {
        PullError::Invalid(format!(
            "registry {} started an upload without a Location",
            session.endpoint.host
        ))
    })?;
    Ok(if loc.starts_with('/') {
        format!("{}{loc}", session.endpoint.base)
    } else {
        loc
    })
}

/// `url` with `name=value` added to its query.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{name}={}", super::auth::encode(value))
}

impl RegistryClient {
    /// Pushes `image` as `reference` (a tag), reporting progress as dockerd does
    /// (`progress` returning false cancels). Pushes go to the registry itself, never
    /// to a mirror.
    pub fn push(
        &self,
        reference: &Reference,
        image: &PushImage<'_>,
        creds: &Credentials,
        progress: &mut dyn FnMut(Progress) -> bool,
    ) -> Result<Pushed, PullError> {
        let mut scope = format!("repository:{}:pull,push", reference.path());
        for m in &image.mount_from {
            scope.push_str(&format!(" repository:{m}:pull"));
        }
        let cancel = Arc::new(AtomicBool::new(false));
        let workers = self.options().max_concurrent_uploads.max(1);
        self.on_registry_as(reference, &scope, creds, cancel, true, |session| {
            push_on(session, reference, image, workers, progress)
        })
    }
}

/// Where the upload workers send their progress: the calling thread passes it on.
type Report = mpsc::Sender<Progress>;

fn say(report: &Report, p: Progress) {
    let _ = report.send(p);
}

fn push_on(
    session: &Session,
    reference: &Reference,
    image: &PushImage<'_>,
    workers: usize,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<Pushed, PullError> {
    let mut tell = |p: Progress| {
        if !progress(p) {
            session.cancel.store(true, Ordering::Relaxed);
        }
    };
    // One job per distinct blob; foreign layers stay where their URLs point.
    let mut jobs: Vec<&PushLayer> = Vec::new();
    for l in &image.layers {
        if l.local.media_type == media::DOCKER_FOREIGN_LAYER {
            tell(Progress::status(
                &push_id(&l.diff_id),
                "Skipped foreign layer",
            ));
        } else if !jobs.iter().any(|j| j.local.digest == l.local.digest) {
            jobs.push(l);
        }
    }
    for j in &jobs {
        tell(Progress::status(&push_id(&j.diff_id), "Preparing"));
    }
    for j in jobs.iter().skip(workers) {
        tell(Progress::status(&push_id(&j.diff_id), "Waiting"));
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Descriptor, PullError>>>> =
        Mutex::new(jobs.iter().map(|_| None).collect());
    let (tx, rx) = mpsc::channel::<Progress>();
    std::thread::scope(|s| {
        for _ in 0..workers.min(jobs.len()) {
            let tx = tx.clone();
            let (next, results, jobs) = (&next, &results, &jobs);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let out = if session.cancelled() {
                    Err(PullError::Cancelled(job.local.digest.to_string()))
                } else {
                    push_layer(session, image, job, &tx)
                };
                if out.is_err() {
                    session.cancel.store(true, Ordering::Relaxed);
                }
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(out);
            });
        }
        drop(tx);
        // Every sender gone: the workers (and the compressors they started) are done.
        for p in rx {
            tell(p);
        }
    });
    let mut sent = Vec::new();
    let mut first_err = None;
    for (job, r) in jobs
        .iter()
        .zip(results.into_inner().unwrap_or_else(|e| e.into_inner()))
    {
        match r {
            Some(Ok(d)) => sent.push((job.local.digest.clone(), d)),
            // A cancellation is what another layer's failure caused: report that one.
            Some(Err(e))
                if first_err.is_none() || matches!(first_err, Some(PullError::Cancelled(_))) =>
            {
                first_err = Some(e)
            }
            Some(Err(_)) => {}
            None => {
                first_err = first_err.or(Some(PullError::Cancelled(job.local.digest.to_string())))
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }

    // The config, then the manifest naming what was pushed.
    let manifest: Manifest = serde_json::from_slice(&image.manifest_bytes).map_err(|e| {
        PullError::Invalid(format!(
            "manifest {} does not parse: {e}",
            image.manifest.digest
        ))
    })?;
    let config = manifest.config.clone();
    if !blob_exists(session, &config.digest)? {
        let bytes = image
            .content
            .read(&config.digest)
            .map_err(|e| PullError::store(format!("reading image config {}", config.digest), e))?;
        upload_known(session, &config.digest, Payload::Bytes(&bytes))?;
    }
    let changed: Vec<(Digest, Descriptor)> = sent
        .into_iter()
        .filter(|(local, remote)| local != &remote.digest)
        .collect();
    let (bytes, media_type) = if changed.is_empty() {
        (
            image.manifest_bytes.clone(),
            image.manifest.media_type.clone(),
        )
    } else {
        let mut m = manifest;
        for l in &mut m.layers {
            if let Some((_, remote)) = changed.iter().find(|(local, _)| local == &l.digest) {
                l.media_type = remote.media_type.clone();
                l.digest = remote.digest.clone();
                l.size = remote.size;
            }
        }
        let bytes = serde_json::to_vec(&m).expect("a manifest always serialises");
        (bytes, image.manifest.media_type.clone())
    };
    let digest = berth_image::content::sha256(&bytes);
    let tag = reference.tag().unwrap_or("latest");
    let url = session.url(&format!("manifests/{tag}"));
    let resp = match session.request_with(
        "PUT",
        &url,
        &[("Content-Type", media_type.clone())],
        Payload::Bytes(&bytes),
    )? {
        Answer::Ok(r) => r,
        Answer::Refused(e) => return Err(push_refusal(e)),
    };
    if let Some(said) = header(&resp, "docker-content-digest") {
        if said != digest.to_string() {
            return Err(PullError::Invalid(format!(
                "registry {} stored manifest {tag} as {said}, but it hashes to {digest}",
                session.endpoint.host
            )));
        }
    }
    Ok(Pushed {
        manifest: Descriptor {
            media_type,
            digest,
            size: bytes.len() as u64,
            urls: None,
            annotations: None,
            platform: None,
        },
        compressed: changed,
    })
}

/// Whether the repository has the blob.
fn blob_exists(session: &Session, digest: &Digest) -> Result<bool, PullError> {
    let url = session.url(&format!("blobs/{digest}"));
    match session.request("HEAD", &url, &[])? {
        Answer::Ok(_) => Ok(true),
        Answer::Refused(e) if e.status == 404 => Ok(false),
        Answer::Refused(e) => Err(push_refusal(e)),
    }
}

/// How a mount attempt ended.
enum Mount {
    Mounted,
    /// The registry opened an upload instead (at this URL).
    Upload(String),
    Refused,
}

fn try_mount(session: &Session, digest: &Digest, from: &str) -> Result<Mount, PullError> {
    let url = with_param(
        &with_param(&session.url("blobs/uploads/"), "mount", &digest.to_string()),
        "from",
        from,
    );
    match session.request_with("POST", &url, &[], Payload::Empty)? {
        Answer::Ok(r) if r.status().as_u16() == 201 => Ok(Mount::Mounted),
        Answer::Ok(r) if r.status().as_u16() == 202 => Ok(Mount::Upload(location(session, &r)?)),
        Answer::Ok(_) => Ok(Mount::Refused),
        Answer::Refused(e) if e.status == 401 || e.status == 403 || e.status == 404 => {
            Ok(Mount::Refused)
        }
        Answer::Refused(e) => Err(push_refusal(e)),
    }
}

/// Opens an upload session; its URL.
fn start_upload(session: &Session) -> Result<String, PullError> {
    let url = session.url("blobs/uploads/");
    match session.request_with("POST", &url, &[], Payload::Empty)? {
        Answer::Ok(r) => location(session, &r),
        Answer::Refused(e) => Err(push_refusal(e)),
    }
}

/// Finishes an upload as `digest`, sending `payload` (the whole blob, or nothing
/// after a PATCH).
fn finish_upload(
    session: &Session,
    at: &str,
    digest: &Digest,
    payload: Payload<'_>,
) -> Result<(), PullError> {
    let url = with_param(at, "digest", &digest.to_string());
    let headers = [("Content-Type", "application/octet-stream".to_string())];
    match session.request_with("PUT", &url, &headers, payload)? {
        Answer::Ok(_) => Ok(()),
        Answer::Refused(e) => Err(push_refusal(e)),
    }
}

/// A blob whose digest is known, uploaded monolithically.
fn upload_known(session: &Session, digest: &Digest, payload: Payload<'_>) -> Result<(), PullError> {
    let at = start_upload(session)?;
    finish_upload(session, &at, digest, payload)
}

/// Pushes one layer; the descriptor it has on the registry.
fn push_layer(
    session: &Session,
    image: &PushImage<'_>,
    layer: &PushLayer,
    progress: &Report,
) -> Result<Descriptor, PullError> {
    let id = push_id(&layer.diff_id);
    let compress = is_uncompressed(&layer.local.media_type);
    let candidate = if compress {
        layer.known.clone()
    } else {
        Some(layer.local.clone())
    };
    let mut open_upload = None;
    if let Some(c) = &candidate {
        if blob_exists(session, &c.digest)? {
            say(progress, Progress::status(&id, "Layer already exists"));
            return Ok(c.clone());
        }
        for from in &image.mount_from {
            match try_mount(session, &c.digest, from)? {
                Mount::Mounted => {
                    say(
                        progress,
                        Progress::status(&id, &format!("Mounted from {from}")),
                    );
                    return Ok(c.clone());
                }
                Mount::Upload(at) => {
                    open_upload = Some(at);
                    break;
                }
                Mount::Refused => {}
            }
        }
    }
    let mut failed = 0;
    loop {
        let at = match open_upload.take() {
            Some(at) => at,
            None => start_upload(session)?,
        };
        let outcome = if compress {
            upload_compressed(session, image, layer, &at, &id, progress)
        } else {
            upload_file(session, image, layer, &at, &id, progress).map(|()| layer.local.clone())
        };
        match outcome {
            Ok(d) => {
                say(progress, Progress::status(&id, "Pushed"));
                return Ok(d);
            }
            Err(e) if e.is_transient() && failed + 1 < LAYER_TRIES && !session.cancelled() => {
                failed += 1;
                if let Some(d) = session.backoff().delay(failed, None) {
                    std::thread::sleep(d);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// A compressed blob from the content store, monolithically.
fn upload_file(
    session: &Session,
    image: &PushImage<'_>,
    layer: &PushLayer,
    at: &str,
    id: &str,
    progress: &Report,
) -> Result<(), PullError> {
    let d = &layer.local;
    let file = image
        .content
        .open_blob(&d.digest)
        .map_err(|e| PullError::store(format!("opening layer {}", d.digest), e))?;
    let pushing = Pushing::new(id, d.size, progress);
    finish_upload(
        session,
        at,
        &d.digest,
        Payload::File {
            file: &file,
            len: d.size,
            sent: &|n| pushing.at(n),
        },
    )
}

/// A layer's `Pushing` lines: one per 512 KiB sent, the last one, and one when a
/// retry starts again from the beginning.
struct Pushing {
    id: String,
    total: u64,
    reported: AtomicU64,
    report: Report,
}

impl Pushing {
    fn new(id: &str, total: u64, report: &Report) -> Pushing {
        Pushing {
            id: id.to_string(),
            total,
            reported: AtomicU64::new(0),
            report: report.clone(),
        }
    }

    fn at(&self, n: u64) {
        let before = self.reported.load(Ordering::Relaxed);
        if n >= before + (512 << 10) || n < before || (n == self.total && n != before) {
            self.reported.store(n, Ordering::Relaxed);
            say(
                &self.report,
                Progress::bytes(&self.id, "Pushing", n, self.total),
            );
        }
    }
}

/// Counts and hashes what passes, reporting progress on the uncompressed side.
struct Tee<R> {
    inner: R,
    hasher: Hasher,
    bytes: u64,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Reads a layer's file, reporting (every 512 KiB, and at the end) how much.
struct Counting {
    file: std::fs::File,
    read: u64,
    pushing: Pushing,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.read += n as u64;
        self.pushing.at(self.read);
        Ok(n)
    }
}

/// An uncompressed layer, gzip-compressed as it streams out: PATCH, then PUT the
/// digest the stream hashed to.
fn upload_compressed(
    session: &Session,
    image: &PushImage<'_>,
    layer: &PushLayer,
    at: &str,
    id: &str,
    progress: &Report,
) -> Result<Descriptor, PullError> {
    let d = &layer.local;
    let file = image
        .content
        .open_blob(&d.digest)
        .map_err(|e| PullError::store(format!("opening layer {}", d.digest), e))?;
    let counting = Counting {
        file,
        read: 0,
        pushing: Pushing::new(id, d.size, progress),
    };
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let gz = ParallelGzip::new(counting, GZIP_LEVEL, threads);
    let mut tee = Tee {
        inner: gz,
        hasher: Hasher::new(d.digest.algorithm()),
        bytes: 0,
    };
    let headers = [("Content-Type", "application/octet-stream".to_string())];
    let patched = session.request_with("PATCH", at, &headers, Payload::Stream(&mut tee));
    let resp = match patched? {
        Answer::Ok(r) => r,
        Answer::Refused(e) => return Err(push_refusal(e)),
    };
    let next = location(session, &resp)?;
    let _ = read_small(resp, 64 << 10);
    let Tee { hasher, bytes, .. } = tee;
    let digest = hasher.finish();
    finish_upload(session, &next, &digest, Payload::Empty)?;
    Ok(Descriptor {
        media_type: gzip_type(&d.media_type).to_string(),
        digest,
        size: bytes,
        urls: None,
        annotations: None,
        platform: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_added_and_encoded() {
        assert_eq!(
            with_param("http://r/v2/a/blobs/uploads/", "mount", "sha256:ab"),
            "http://r/v2/a/blobs/uploads/?mount=sha256%3Aab"
        );
        assert_eq!(
            with_param("http://r/u?_state=x", "digest", "sha256:ab"),
            "http://r/u?_state=x&digest=sha256%3Aab"
        );
    }

    #[test]
    fn pushing_lines_every_512_kib_the_last_and_after_a_restart() {
        let (tx, rx) = mpsc::channel();
        let p = Pushing::new("abc", 2 << 20, &tx);
        for n in [1000, 600 << 10, 700 << 10, 1 << 20, 2 << 20, 2 << 20, 5, 10] {
            p.at(n);
        }
        drop((p, tx));
        let seen: Vec<u64> = rx.iter().map(|m| m.detail.unwrap().0).collect();
        assert_eq!(seen, [600 << 10, 2 << 20, 5]);
    }

    #[test]
    fn uncompressed_layers_become_gzip_of_their_family() {
        assert!(is_uncompressed(media::DOCKER_LAYER));
        assert!(is_uncompressed(media::OCI_LAYER));
        assert!(!is_uncompressed(media::DOCKER_LAYER_GZIP));
        assert_eq!(gzip_type(media::OCI_LAYER), media::OCI_LAYER_GZIP);
        assert_eq!(gzip_type(media::DOCKER_LAYER), media::DOCKER_LAYER_GZIP);
    }
}
