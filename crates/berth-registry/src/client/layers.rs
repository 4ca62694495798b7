//! A pull's layers: fetched by a pool of `max-concurrent-downloads` workers, each
//! streaming its blob through decompress → hash → unpack into a snapshot of its own
//! (the snapshotter stacks it on its parent when it is committed), while the calling
//! thread commits the layers bottom first as they finish and passes progress on.
//! Nothing is committed until its blob and its diff_id are verified; on any failure
//! the other workers stop and every uncommitted snapshot is removed.

use std::fs::File;
use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use berth_image::content::{ContentError, PartialBlob};
use berth_image::layer::apply::{apply_layer, ApplyError, ApplyOptions};
use berth_image::lease::Resource;
use berth_image::model::Descriptor;
use berth_image::snapshot::SnapshotError;
use berth_types::Digest;

use super::blob::LayerReader;
use super::error::PullError;
use super::pull::{Progress, PullTarget};
use super::transport::Session;

/// One layer of the image being pulled.
pub(crate) struct LayerJob {
    pub desc: Descriptor,
    pub diff_id: Digest,
    pub chain_id: Digest,
    /// The chain id below it (None for the first layer).
    pub parent: Option<Digest>,
    /// What has to happen.
    pub work: Work,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Work {
    /// Blob and snapshot are here: "Already exists".
    Nothing,
    /// Download the blob, do not unpack (its snapshot exists, or the snapshotter
    /// cannot stack layers: they are unpacked when a container needs them).
    Fetch,
    /// Download and unpack.
    FetchAndUnpack,
    /// The blob is here: unpack it.
    Unpack,
}

/// Docker's id for a layer's lines: its blob digest, short.
pub(crate) fn layer_id(d: &Digest) -> String {
    d.hex().chars().take(12).collect()
}

enum Event {
    Progress(Progress),
    Done(usize, Result<Option<String>, PullError>),
}

/// What a worker left: the temporary snapshot holding the unpacked layer, if any.
type Outcome = Result<Option<String>, PullError>;

/// Runs the jobs; returns whether any blob was downloaded.
pub(crate) fn pull_layers(
    session: &Session,
    target: &PullTarget<'_>,
    lease: &str,
    jobs: &[LayerJob],
    workers: usize,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<bool, PullError> {
    let mut queued = 0;
    for j in jobs {
        let id = layer_id(&j.desc.digest);
        let status = if j.work == Work::Nothing {
            "Already exists"
        } else {
            "Pulling fs layer"
        };
        if !progress(Progress::status(&id, status)) {
            session.cancel.store(true, Ordering::Relaxed);
        }
    }
    for j in jobs.iter().filter(|j| j.work != Work::Nothing) {
        queued += 1;
        if queued > workers && !progress(Progress::status(&layer_id(&j.desc.digest), "Waiting")) {
            session.cancel.store(true, Ordering::Relaxed);
        }
    }
    let downloaded = jobs
        .iter()
        .any(|j| matches!(j.work, Work::Fetch | Work::FetchAndUnpack));
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Event>();
    let mut results: Vec<Option<Outcome>> = jobs
        .iter()
        .map(|j| (j.work == Work::Nothing).then_some(Ok(None)))
        .collect();
    let mut committed = 0usize;
    let mut first_err: Option<PullError> = None;
    std::thread::scope(|s| {
        for _ in 0..workers.max(1).min(jobs.len().max(1)) {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                if job.work == Work::Nothing {
                    continue;
                }
                let report = |p: Progress| {
                    let _ = tx.send(Event::Progress(p));
                };
                let out = if session.cancelled() {
                    Err(PullError::Cancelled(job.desc.digest.to_string()))
                } else {
                    run_job(session, target, lease, job, &report)
                };
                if out.is_err() {
                    session.cancel.store(true, Ordering::Relaxed);
                }
                let _ = tx.send(Event::Done(i, out));
            });
        }
        drop(tx);
        // Commit bottom first as results come in.
        loop {
            while committed < jobs.len() && first_err.is_none() {
                match results[committed].take() {
                    None => break,
                    Some(Err(e)) => {
                        first_err = Some(e);
                    }
                    Some(Ok(temp)) => {
                        let job = &jobs[committed];
                        match commit(target, lease, job, temp.as_deref()) {
                            Ok(()) => {
                                if job.work != Work::Nothing
                                    && !progress(Progress::status(
                                        &layer_id(&job.desc.digest),
                                        "Pull complete",
                                    ))
                                {
                                    session.cancel.store(true, Ordering::Relaxed);
                                }
                                committed += 1;
                            }
                            Err(e) => first_err = Some(e),
                        }
                    }
                }
                if first_err.is_some() {
                    session.cancel.store(true, Ordering::Relaxed);
                }
            }
            match rx.recv() {
                Ok(Event::Progress(p)) => {
                    if !progress(p) {
                        session.cancel.store(true, Ordering::Relaxed);
                    }
                }
                Ok(Event::Done(i, out)) => results[i] = Some(out),
                Err(_) => break, // every worker is done
            }
        }
    });
    // Whatever was not committed: remove its snapshot. The error to report is the
    // first that is not a cancellation (which the others' failure caused).
    let mut errors: Vec<PullError> = first_err.into_iter().collect();
    for r in results.iter_mut().skip(committed) {
        match r.take() {
            Some(Ok(Some(temp))) => {
                let _ = target.snapshotter.remove(&temp);
            }
            Some(Err(e)) => errors.push(e),
            _ => {}
        }
    }
    let pos = errors
        .iter()
        .position(|e| !matches!(e, PullError::Cancelled(_)))
        .unwrap_or(0);
    if !errors.is_empty() {
        return Err(errors.swap_remove(pos));
    }
    if committed < jobs.len() {
        return Err(PullError::Cancelled(session.repo.clone()));
    }
    Ok(downloaded)
}

/// Stacks a finished layer on the one below it.
fn commit(
    target: &PullTarget<'_>,
    lease: &str,
    job: &LayerJob,
    temp: Option<&str>,
) -> Result<(), PullError> {
    let Some(temp) = temp else { return Ok(()) };
    let key = job.chain_id.to_string();
    target
        .leases
        .add_resource(lease, Resource::Snapshot(key.clone()))
        .map_err(|e| PullError::store(format!("protecting layer {key}"), e))?;
    let parent = job.parent.as_ref().map(Digest::to_string);
    match target
        .snapshotter
        .commit_onto(&key, temp, parent.as_deref())
    {
        Ok(()) => Ok(()),
        // Another pull or unpack committed the same layer first.
        Err(SnapshotError::AlreadyExists { .. }) => {
            let _ = target.snapshotter.remove(temp);
            Ok(())
        }
        Err(e) => {
            let _ = target.snapshotter.remove(temp);
            Err(PullError::store(format!("committing layer {key}"), e))
        }
    }
}

fn store_err(what: String) -> impl FnOnce(ContentError) -> PullError {
    move |e| PullError::store(what, e)
}

/// Fetches and/or unpacks one layer; returns its temporary snapshot.
fn run_job(
    session: &Session,
    target: &PullTarget<'_>,
    lease: &str,
    job: &LayerJob,
    report: &(dyn Fn(Progress) + Sync),
) -> Outcome {
    let digest = &job.desc.digest;
    let id = layer_id(digest);
    target
        .leases
        .add_resource(lease, Resource::Content(digest.clone()))
        .map_err(|e| PullError::store(format!("protecting layer {digest}"), e))?;
    let mut work = job.work;
    let mut partial = None;
    if work != Work::Unpack {
        let p = target
            .content
            .partial(digest)
            .map_err(store_err(format!("layer {digest}")))?;
        // Another pull may have finished this blob while we waited for its lock.
        if target.content.exists(digest) {
            work = if work == Work::Fetch {
                Work::Nothing
            } else {
                Work::Unpack
            };
        } else {
            partial = Some(p);
        }
    }
    if work == Work::Nothing {
        report(Progress::status(&id, "Download complete"));
        return Ok(None);
    }
    let unpack = matches!(work, Work::FetchAndUnpack | Work::Unpack);
    let temp = if unpack {
        let key = (target.temp_key)(&job.chain_id);
        target
            .snapshotter
            .prepare(&key, None)
            .map_err(|e| PullError::store(format!("preparing a snapshot for layer {digest}"), e))?;
        Some(key)
    } else {
        None
    };
    let result = match partial.as_mut() {
        Some(p) => fetch(session, target, job, p, temp.as_deref(), report),
        None => unpack_local(target, job, temp.as_deref(), report),
    };
    match result {
        Ok(()) => Ok(temp),
        Err(e) => {
            if let Some(t) = &temp {
                let _ = target.snapshotter.remove(t);
            }
            Err(e)
        }
    }
}

fn apply_into(
    target: &PullTarget<'_>,
    temp: &str,
    job: &LayerJob,
    reader: &mut dyn Read,
) -> Result<(), ApplyError> {
    let at = target
        .snapshotter
        .apply_target(temp)
        .map_err(|e| ApplyError::Root {
            path: temp.into(),
            source: io::Error::other(e.to_string()),
        })?;
    let opts = ApplyOptions {
        expected_diff_id: Some(job.diff_id.clone()),
        whiteout_mode: at.whiteouts.into(),
        ..ApplyOptions::default()
    };
    apply_layer(&at.dir, reader, &opts).map(|_| ())
}

/// A failed apply, worded: a diff_id mismatch is a verification failure of the layer.
fn apply_failure(job: &LayerJob, e: ApplyError) -> PullError {
    match e {
        ApplyError::DigestMismatch { expected, actual } => PullError::Verification {
            what: "filesystem layer",
            digest: job.desc.digest.clone(),
            detail: Some(format!(
                "its content has diff_id {actual}, the image config says {expected}"
            )),
        },
        // The network gave up under the unpacker: say so plainly.
        ApplyError::Read(io) if io.get_ref().is_some_and(|r| r.is::<PullError>()) => {
            match io.into_inner().map(|b| b.downcast::<PullError>()) {
                Some(Ok(p)) => *p,
                _ => PullError::Invalid(format!("layer {}: read failed", job.desc.digest)),
            }
        }
        other => PullError::store(format!("extracting layer {}", job.desc.digest), other),
    }
}

fn fetch(
    session: &Session,
    target: &PullTarget<'_>,
    job: &LayerJob,
    partial: &mut PartialBlob,
    temp: Option<&str>,
    report: &(dyn Fn(Progress) + Sync),
) -> Result<(), PullError> {
    let digest = &job.desc.digest;
    let id = layer_id(digest);
    let total = job.desc.size;
    // A blob resumed from an earlier attempt that then fails verification may hold
    // bytes gone bad on disk: it is fetched once more from the start.
    let mut tries = if partial.stored() > 0 { 2 } else { 1 };
    loop {
        tries -= 1;
        partial
            .rewind()
            .map_err(store_err(format!("layer {digest}")))?;
        let on_bytes = |n: u64| report(Progress::bytes(&id, "Downloading", n, total));
        let mut reader = LayerReader::new(session, &job.desc, partial, &on_bytes);
        let applied = match temp {
            Some(t) => apply_into(target, t, job, &mut reader),
            None => Ok(()),
        };
        // Read what the unpacker left (tar padding, the compression trailer) so the
        // blob is whole, then verify it.
        let drained = io::copy(&mut reader, &mut io::sink());
        drop(reader);
        if let Err(e) = drained {
            return Err(match e.into_inner().map(|b| b.downcast::<PullError>()) {
                Some(Ok(p)) => *p,
                Some(Err(other)) => PullError::store(format!("downloading layer {digest}"), other),
                None => PullError::Invalid(format!("downloading layer {digest} failed")),
            });
        }
        report(Progress::status(&id, "Verifying Checksum"));
        let verified = match partial.commit(total) {
            Ok(_) => Ok(()),
            Err(ContentError::DigestMismatch { actual, .. }) => Err(PullError::Verification {
                what: "filesystem layer",
                digest: digest.clone(),
                detail: Some(format!("the blob hashes to {actual}")),
            }),
            Err(ContentError::SizeMismatch {
                actual, expected, ..
            }) => Err(PullError::Verification {
                what: "filesystem layer",
                digest: digest.clone(),
                detail: Some(format!("{actual} bytes, the manifest says {expected}")),
            }),
            Err(e) => Err(PullError::store(format!("storing layer {digest}"), e)),
        };
        match verified {
            Err(PullError::Verification { .. }) if tries > 0 => {
                partial
                    .reset()
                    .map_err(store_err(format!("layer {digest}")))?;
                if let Some(t) = temp {
                    // Empty the snapshot again: the apply ran on bad bytes.
                    let _ = clear_dir(target, t);
                }
                continue;
            }
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        applied.map_err(|e| apply_failure(job, e))?;
        report(Progress::status(&id, "Download complete"));
        if temp.is_some() {
            report(Progress::bytes(&id, "Extracting", total, total));
        }
        return Ok(());
    }
}

fn clear_dir(target: &PullTarget<'_>, temp: &str) -> io::Result<()> {
    let at = target
        .snapshotter
        .apply_target(temp)
        .map_err(|e| io::Error::other(e.to_string()))?;
    for e in std::fs::read_dir(&at.dir)? {
        let p = e?.path();
        if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(&p)?;
        } else {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

fn unpack_local(
    target: &PullTarget<'_>,
    job: &LayerJob,
    temp: Option<&str>,
    report: &(dyn Fn(Progress) + Sync),
) -> Result<(), PullError> {
    let digest = &job.desc.digest;
    let Some(temp) = temp else { return Ok(()) };
    let id = layer_id(digest);
    report(Progress::bytes(&id, "Extracting", 0, job.desc.size));
    let f: File = target
        .content
        .open_blob(digest)
        .map_err(store_err(format!("layer {digest}")))?;
    let mut r = io::BufReader::with_capacity(1 << 20, f);
    apply_into(target, temp, job, &mut r).map_err(|e| apply_failure(job, e))?;
    report(Progress::bytes(
        &id,
        "Extracting",
        job.desc.size,
        job.desc.size,
    ));
    Ok(())
}
