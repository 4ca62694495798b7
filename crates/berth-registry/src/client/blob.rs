//! Blobs from a registry: small ones (configs) read whole and verified; layers through
//! [`LayerReader`], which resumes. The reader first replays what an earlier attempt
//! stored in the blob's partial file, then streams the rest from the registry with
//! `Range: bytes=N-`, appending it to that file. A connection that breaks (a reset,
//! an early EOF, a registry restarting) is reopened from where it stopped, after a
//! backoff, without the consumer (decompress → hash → unpack) noticing. Every byte
//! passes through the partial file's hash, so the commit verifies the whole blob.

use std::io::{self, Read};
use std::time::Instant;

use berth_image::content::{Hasher, PartialBlob};
use berth_image::model::Descriptor;

use super::error::PullError;
use super::transport::{read_small, Answer, Session};

/// Configs (and other small blobs) larger than this are refused.
const SMALL_BLOB_LIMIT: u64 = 16 << 20;

/// Fetches a small blob whole and verifies its size and digest.
pub(crate) fn fetch_small(
    session: &Session,
    desc: &Descriptor,
    what: &'static str,
) -> Result<Vec<u8>, PullError> {
    if desc.size > SMALL_BLOB_LIMIT {
        return Err(PullError::Invalid(format!(
            "{what} {} is {} bytes, more than berth reads ({SMALL_BLOB_LIMIT})",
            desc.digest, desc.size
        )));
    }
    let url = session.url(&format!("blobs/{}", desc.digest));
    let resp = match session.request("GET", &url, &[])? {
        Answer::Ok(r) => r,
        Answer::Refused(e) => return Err(e.into_error()),
    };
    let bytes = read_small(resp, desc.size + 1).map_err(|e| PullError::Request {
        method: "Get",
        url: url.clone(),
        cause: e.to_string(),
        transient: true,
    })?;
    let mut h = Hasher::new(desc.digest.algorithm());
    h.update(&bytes);
    let actual = h.finish();
    if actual != desc.digest || bytes.len() as u64 != desc.size {
        return Err(PullError::Verification {
            what,
            digest: desc.digest.clone(),
            detail: Some(format!(
                "content hashes to {actual} ({} bytes, {} expected)",
                bytes.len(),
                desc.size
            )),
        });
    }
    Ok(bytes)
}

/// Where the layer's bytes come from.
enum Source {
    /// Replaying the partial file.
    Stored,
    /// The registry's response, from this offset of the blob.
    Network(Box<dyn Read + Send>),
    Done,
}

/// A layer blob as one stream, whatever breaks underneath (see the module docs).
pub(crate) struct LayerReader<'a> {
    session: &'a Session,
    desc: &'a Descriptor,
    partial: &'a mut PartialBlob,
    source: Source,
    /// Blob bytes read so far (replayed or downloaded).
    pub(crate) position: u64,
    /// Ranged requests made (each resumption, and the first one when bytes were
    /// already stored).
    pub(crate) ranged: u32,
    progress: &'a (dyn Fn(u64) + Sync),
    failed: u32,
    skip: u64,
    last_report: Option<Instant>,
}

impl<'a> LayerReader<'a> {
    pub(crate) fn new(
        session: &'a Session,
        desc: &'a Descriptor,
        partial: &'a mut PartialBlob,
        progress: &'a (dyn Fn(u64) + Sync),
    ) -> LayerReader<'a> {
        LayerReader {
            session,
            desc,
            partial,
            source: Source::Stored,
            position: 0,
            ranged: 0,
            progress,
            failed: 0,
            skip: 0,
            last_report: None,
        }
    }

    fn report(&mut self, force: bool) {
        let now = Instant::now();
        let due = self
            .last_report
            .is_none_or(|t| now.duration_since(t).as_millis() >= 100);
        if force || due {
            self.last_report = Some(now);
            (self.progress)(self.position);
        }
    }

    /// Opens the registry's response from `self.position`.
    fn open(&mut self) -> Result<Box<dyn Read + Send>, PullError> {
        let url = self.session.url(&format!("blobs/{}", self.desc.digest));
        let mut headers = Vec::new();
        if self.position > 0 {
            headers.push(("Range", format!("bytes={}-", self.position)));
            self.ranged += 1;
        }
        let resp = match self.session.request("GET", &url, &headers)? {
            Answer::Ok(r) => r,
            Answer::Refused(e) => return Err(e.into_error()),
        };
        // A registry that ignores Range sends the whole blob: skip what we have.
        self.skip = if resp.status().as_u16() == 206 {
            0
        } else {
            self.position
        };
        Ok(Box::new(resp.into_body().into_reader()))
    }

    /// A failure of the network side: wait and reopen, or give up.
    fn retry(&mut self, cause: String) -> io::Result<()> {
        self.failed += 1;
        let err = || {
            io::Error::other(PullError::Request {
                method: "Get",
                url: self.session.url(&format!("blobs/{}", self.desc.digest)),
                cause: cause.clone(),
                transient: true,
            })
        };
        match self.session.backoff().delay(self.failed, None) {
            Some(d) if !self.session.cancelled() => {
                std::thread::sleep(d);
                self.source = Source::Stored; // reopened on the next read
                Ok(())
            }
            _ => Err(err()),
        }
    }
}

impl Read for LayerReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.session.cancelled() {
                return Err(io::Error::other(PullError::Cancelled(
                    self.desc.digest.to_string(),
                )));
            }
            match &mut self.source {
                Source::Done => return Ok(0),
                Source::Stored => {
                    let n = self.partial.read_stored(buf)?;
                    if n > 0 {
                        self.position += n as u64;
                        self.report(false);
                        return Ok(n);
                    }
                    if self.position >= self.desc.size {
                        self.source = Source::Done;
                        self.report(true);
                        continue;
                    }
                    match self.open() {
                        Ok(r) => self.source = Source::Network(r),
                        Err(e) if e.is_transient() => self.retry(e.to_string())?,
                        Err(e) => return Err(io::Error::other(e)),
                    }
                }
                Source::Network(r) => {
                    let got = r.read(buf);
                    match got {
                        Ok(0) if self.position >= self.desc.size => {
                            self.source = Source::Done;
                            self.report(true);
                        }
                        Ok(0) => {
                            let cause = format!(
                                "connection closed after {} of {} bytes",
                                self.position, self.desc.size
                            );
                            self.retry(cause)?;
                        }
                        Ok(got) => {
                            let mut start = 0;
                            if self.skip > 0 {
                                let s = usize::try_from(self.skip).unwrap_or(usize::MAX).min(got);
                                self.skip -= s as u64;
                                start = s;
                                if start == got {
                                    continue;
                                }
                            }
                            let n = got - start;
                            // Bytes past the descriptor's size are kept: the commit fails them.
                            self.partial.append(&buf[start..got])?;
                            if start > 0 {
                                buf.copy_within(start..got, 0);
                            }
                            self.failed = 0;
                            self.position += n as u64;
                            self.report(false);
                            return Ok(n);
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => self.retry(e.to_string())?,
                    }
                }
            }
        }
    }
}
