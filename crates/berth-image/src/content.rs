//! The content store: blobs addressed by digest under `<root>/blobs/<alg>/<hex>`.
//! Every write is verified against the expected digest and size before it becomes
//! visible (written to a private temporary file, fsynced, renamed into place), so a
//! reader never sees a partial or wrong blob, and concurrent writers of the same blob
//! are safe: each writes its own temporary file and the rename is atomic.

use berth_types::{Algorithm, Digest};
use sha2::Digest as _;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// What can go wrong in the content store; every case names the blob or path.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("blob {0} not found in the content store")]
    NotFound(Digest),
    #[error("digest mismatch: expected {expected}, content hashes to {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },
}

fn io_err<'a>(
    context: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> ContentError + 'a {
    move |source| ContentError::Io {
        context,
        path: path.to_path_buf(),
        source,
    }
}

/// A running hash of either algorithm.
#[derive(Clone)]
pub enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn new(a: Algorithm) -> Hasher {
        match a {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
        }
    }

    pub fn finish(self) -> Digest {
        match self {
            Hasher::Sha256(h) => Digest::sha256_from_bytes(&h.finalize().into()),
            Hasher::Sha512(h) => Digest::sha512_from_bytes(&h.finalize().into()),
        }
    }
}

/// The sha256 digest of some bytes.
pub fn sha256(data: &[u8]) -> Digest {
    let mut h = Hasher::new(Algorithm::Sha256);
    h.update(data);
    h.finish()
}

/// A reader that hashes what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R, a: Algorithm) -> HashingReader<R> {
        HashingReader {
            inner,
            hasher: Hasher::new(a),
            count: 0,
        }
    }

    /// Bytes read so far and their digest.
    pub fn finish(self) -> (Digest, u64) {
        (self.hasher.finish(), self.count)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// The content store rooted at a directory.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// Open (creating if needed) a store at `root`.
    pub fn open(root: &Path) -> Result<ContentStore, ContentError> {
        for a in [Algorithm::Sha256, Algorithm::Sha512] {
            let d = root.join("blobs").join(a.as_str());
            std::fs::create_dir_all(&d).map_err(io_err("creating", &d))?;
        }
        let t = root.join("ingest");
        std::fs::create_dir_all(&t).map_err(io_err("creating", &t))?;
        Ok(ContentStore {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives (whether or not it exists).
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(d.algorithm().as_str())
            .join(d.hex())
    }

    pub fn exists(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    /// Size of a stored blob.
    pub fn size(&self, d: &Digest) -> Result<u64, ContentError> {
        match std::fs::metadata(self.path(d)) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ContentError::NotFound(d.clone())),
            Err(e) => Err(io_err("stat", &self.path(d))(e)),
        }
    }

    /// Open a stored blob for reading.
    pub fn open_blob(&self, d: &Digest) -> Result<File, ContentError> {
        let p = self.path(d);
        match File::open(&p) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ContentError::NotFound(d.clone())),
            Err(e) => Err(io_err("opening", &p)(e)),
        }
    }

    /// Read a whole blob (manifests, configs).
    pub fn read(&self, d: &Digest) -> Result<Vec<u8>, ContentError> {
        let mut f = self.open_blob(d)?;
        let mut v = Vec::new();
        f.read_to_end(&mut v)
            .map_err(io_err("reading", &self.path(d)))?;
        Ok(v)
    }

    /// Start writing a blob. With `expected`, the content must hash to it (and have
    /// `expected_size` bytes when given) or `commit` fails and nothing is kept.
    pub fn writer(
        &self,
        expected: Option<Digest>,
        expected_size: Option<u64>,
    ) -> Result<BlobWriter, ContentError> {
        let dir = self.root.join("ingest");
        let tmp = tempfile_in(&dir)?;
        let alg = expected
            .as_ref()
            .map_or(Algorithm::Sha256, |d| d.algorithm());
        Ok(BlobWriter {
            store: self.clone(),
            file: Some(tmp.0),
            tmp_path: tmp.1,
            hasher: Hasher::new(alg),
            written: 0,
            expected,
            expected_size,
        })
    }

    /// Store bytes; returns their digest.
    pub fn put(&self, data: &[u8], expected: Option<Digest>) -> Result<Digest, ContentError> {
        if let Some(d) = &expected {
            if self.exists(d) {
                let actual = {
                    let mut h = Hasher::new(d.algorithm());
                    h.update(data);
                    h.finish()
                };
                if &actual != d {
                    return Err(ContentError::DigestMismatch {
                        expected: d.clone(),
                        actual,
                    });
                }
                return Ok(d.clone());
            }
        }
        let mut w = self.writer(expected, Some(data.len() as u64))?;
        w.write_all(data)
            .map_err(io_err("writing", &w.tmp_path.clone()))?;
        Ok(w.commit()?.0)
    }

    /// Copy a stream into the store, verifying it.
    pub fn put_reader(
        &self,
        r: &mut dyn Read,
        expected: Option<Digest>,
        expected_size: Option<u64>,
    ) -> Result<(Digest, u64), ContentError> {
        let mut w = self.writer(expected, expected_size)?;
        let tmp = w.tmp_path.clone();
        io::copy(r, &mut w).map_err(io_err("writing", &tmp))?;
        w.commit()
    }

    /// Remove a blob (garbage collection). Missing blobs are fine.
    pub fn delete(&self, d: &Digest) -> Result<(), ContentError> {
        match std::fs::remove_file(self.path(d)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("removing", &self.path(d))(e)),
        }
    }

    /// Every stored blob.
    pub fn list(&self) -> Result<Vec<Digest>, ContentError> {
        let mut out = Vec::new();
        for a in [Algorithm::Sha256, Algorithm::Sha512] {
            let dir = self.root.join("blobs").join(a.as_str());
            let rd = std::fs::read_dir(&dir).map_err(io_err("reading", &dir))?;
            for e in rd.flatten() {
                if let Some(name) = e.file_name().to_str() {
                    if let Ok(d) = Digest::new(a, name) {
                        out.push(d);
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

fn tempfile_in(dir: &Path) -> Result<(File, PathBuf), ContentError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = dir.join(format!("{}-{n}-{}", std::process::id(), nanos()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
        {
            Ok(f) => return Ok((f, p)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err("creating", &p)(e)),
        }
    }
}

fn nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

impl ContentStore {
    /// The resumable download of blob `expected`: `ingest/partial-<alg>-<hex>`, kept
    /// across attempts (and daemon restarts) until it is verified and committed. It is
    /// held under an exclusive flock, so one writer at a time (a second waits, and then
    /// usually finds the blob committed).
    pub fn partial(&self, expected: &Digest) -> Result<PartialBlob, ContentError> {
        let path = self.root.join("ingest").join(format!(
            "partial-{}-{}",
            expected.algorithm().as_str(),
            expected.hex()
        ));
        let file = open_locked(&path)?;
        let mut p = PartialBlob {
            store: self.clone(),
            path,
            file,
            expected: expected.clone(),
            hasher: Hasher::new(expected.algorithm()),
            position: 0,
            stored: 0,
        };
        p.rewind()?;
        Ok(p)
    }
}

/// Opens (creating) a file and takes an exclusive flock on it, waiting for it.
fn open_locked(path: &Path) -> Result<File, ContentError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_err("opening", path))?;
    loop {
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive) {
            Ok(()) => return Ok(file),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(io_err("locking", path)(e.into())),
        }
    }
}

/// A blob downloaded in attempts (see [`ContentStore::partial`]). Each attempt
/// [`rewind`](PartialBlob::rewind)s, reads back what is stored with
/// [`read_stored`](PartialBlob::read_stored) and then [`append`](PartialBlob::append)s
/// what the network brings; everything passes through the hash, so
/// [`commit`](PartialBlob::commit) verifies the whole blob. Dropping it keeps the
/// file for the next attempt.
pub struct PartialBlob {
    store: ContentStore,
    path: PathBuf,
    file: File,
    expected: Digest,
    hasher: Hasher,
    /// Bytes hashed in this attempt (read back or appended).
    position: u64,
    /// Bytes in the file.
    stored: u64,
}

impl PartialBlob {
    /// Bytes already stored: where the next download starts (HTTP `Range`).
    pub fn stored(&self) -> u64 {
        self.stored
    }

    /// The file's path (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Start an attempt over: the hash restarts from the first stored byte.
    pub fn rewind(&mut self) -> Result<(), ContentError> {
        use std::io::Seek;
        self.stored = self
            .file
            .seek(io::SeekFrom::End(0))
            .map_err(io_err("seeking", &self.path))?;
        self.file
            .seek(io::SeekFrom::Start(0))
            .map_err(io_err("seeking", &self.path))?;
        self.hasher = Hasher::new(self.expected.algorithm());
        self.position = 0;
        Ok(())
    }

    /// Throw away what is stored (a resumed download that failed verification) and
    /// start again from nothing.
    pub fn reset(&mut self) -> Result<(), ContentError> {
        if !self.path.exists() {
            // `commit` removed it after a mismatch.
            self.file = open_locked(&self.path)?;
        }
        self.file
            .set_len(0)
            .map_err(io_err("truncating", &self.path))?;
        self.rewind()
    }

    /// The next stored bytes of this attempt, hashed; 0 once all are read.
    pub fn read_stored(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.stored - self.position;
        if left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} shrank while being read", self.path.display()),
            ));
        }
        self.hasher.update(&buf[..n]);
        self.position += n as u64;
        Ok(n)
    }

    /// Add downloaded bytes at the end (every stored byte must have been read back).
    pub fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if self.position != self.stored {
            return Err(io::Error::other(format!(
                "{}: appending before the stored bytes were read back",
                self.path.display()
            )));
        }
        self.file.write_all(data)?;
        self.hasher.update(data);
        self.position += data.len() as u64;
        self.stored = self.position;
        Ok(())
    }

    /// Verify the whole blob (`size` bytes, hashing to the expected digest) and move it
    /// into the store. A mismatch removes the partial file: nothing of it is kept
    /// ([`reset`](PartialBlob::reset) starts a fresh one).
    pub fn commit(&mut self, size: u64) -> Result<(Digest, u64), ContentError> {
        // Hash whatever this attempt did not read back (a caller that stopped early).
        let mut buf = vec![0u8; 1 << 16];
        while self
            .read_stored(&mut buf)
            .map_err(io_err("reading", &self.path))?
            > 0
        {}
        let actual = std::mem::replace(&mut self.hasher, Hasher::new(Algorithm::Sha256)).finish();
        let result = if self.stored != size {
            Err(ContentError::SizeMismatch {
                digest: self.expected.to_string(),
                expected: size,
                actual: self.stored,
            })
        } else if actual != self.expected {
            Err(ContentError::DigestMismatch {
                expected: self.expected.clone(),
                actual: actual.clone(),
            })
        } else {
            Ok(())
        };
        if let Err(e) = result {
            let _ = self.file.set_len(0);
            let _ = std::fs::remove_file(&self.path);
            self.stored = 0;
            self.position = 0;
            return Err(e);
        }
        self.file
            .sync_all()
            .map_err(io_err("syncing", &self.path))?;
        let dest = self.store.path(&self.expected);
        std::fs::rename(&self.path, &dest).map_err(io_err("committing", &dest))?;
        self.stored = 0;
        self.position = 0;
        Ok((actual, size))
    }
}

/// A blob being written. Dropping it without `commit` removes the temporary file.
pub struct BlobWriter {
    store: ContentStore,
    file: Option<File>,
    tmp_path: PathBuf,
    hasher: Hasher,
    written: u64,
    expected: Option<Digest>,
    expected_size: Option<u64>,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already committed"))?;
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl BlobWriter {
    /// Verify and make the blob visible. Returns its digest and size.
    pub fn commit(mut self) -> Result<(Digest, u64), ContentError> {
        let f = self.file.take().expect("commit is called once");
        let actual = std::mem::replace(&mut self.hasher, Hasher::new(Algorithm::Sha256)).finish();
        if let Some(size) = self.expected_size {
            if size != self.written {
                return Err(ContentError::SizeMismatch {
                    digest: self
                        .expected
                        .as_ref()
                        .map_or_else(|| actual.to_string(), |d| d.to_string()),
                    expected: size,
                    actual: self.written,
                });
            }
        }
        if let Some(exp) = &self.expected {
            if exp != &actual {
                return Err(ContentError::DigestMismatch {
                    expected: exp.clone(),
                    actual,
                });
            }
        }
        f.sync_all().map_err(io_err("syncing", &self.tmp_path))?;
        drop(f);
        let dest = self.store.path(&actual);
        std::fs::rename(&self.tmp_path, &dest).map_err(io_err("committing", &dest))?;
        self.tmp_path = PathBuf::new();
        Ok((actual, self.written))
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.tmp_path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_writes() {
        let t = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(t.path()).unwrap();
        let d = cs.put(b"hello", None).unwrap();
        assert_eq!(d, sha256(b"hello"));
        assert_eq!(cs.read(&d).unwrap(), b"hello");
        assert_eq!(cs.size(&d).unwrap(), 5);
        // A wrong expected digest keeps nothing.
        let wrong = sha256(b"other");
        let e = cs.put(b"hello!", Some(wrong.clone())).unwrap_err();
        assert!(e.to_string().contains(&wrong.to_string()), "{e}");
        assert!(!cs.exists(&wrong));
        assert_eq!(
            std::fs::read_dir(t.path().join("ingest")).unwrap().count(),
            0
        );
        // A wrong size keeps nothing.
        let mut w = cs.writer(None, Some(10)).unwrap();
        w.write_all(b"short").unwrap();
        assert!(matches!(w.commit(), Err(ContentError::SizeMismatch { .. })));
        assert_eq!(cs.list().unwrap(), vec![d]);
    }

    #[test]
    fn partial_blobs_resume_and_verify() {
        let t = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(t.path()).unwrap();
        let data = b"0123456789abcdef".repeat(100);
        let d = sha256(&data);
        {
            let mut p = cs.partial(&d).unwrap();
            assert_eq!(p.stored(), 0);
            p.append(&data[..700]).unwrap();
        } // an interrupted attempt: the bytes stay
        let mut p = cs.partial(&d).unwrap();
        assert_eq!(p.stored(), 700);
        // Appending before reading back is refused: the hash would miss bytes.
        assert!(p.append(b"x").is_err());
        let mut back = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            let n = p.read_stored(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            back.extend_from_slice(&buf[..n]);
        }
        assert_eq!(back, &data[..700]);
        p.append(&data[700..]).unwrap();
        assert_eq!(p.commit(data.len() as u64).unwrap().0, d);
        drop(p);
        assert_eq!(cs.read(&d).unwrap(), data);
        assert_eq!(
            std::fs::read_dir(t.path().join("ingest")).unwrap().count(),
            0
        );

        // Wrong bytes: nothing kept, neither blob nor partial file.
        let other = sha256(b"other");
        let mut p = cs.partial(&other).unwrap();
        p.append(b"not it").unwrap();
        let e = p.commit(6).unwrap_err();
        assert!(matches!(e, ContentError::DigestMismatch { .. }), "{e}");
        assert!(!cs.exists(&other));
        assert_eq!(
            std::fs::read_dir(t.path().join("ingest")).unwrap().count(),
            0
        );
    }

    #[test]
    fn concurrent_writers_of_one_blob() {
        let t = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(t.path()).unwrap();
        let data = vec![7u8; 1 << 20];
        let want = sha256(&data);
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let cs = cs.clone();
                let data = data.clone();
                let want = want.clone();
                std::thread::spawn(move || cs.put(&data, Some(want)).unwrap())
            })
            .collect();
        for h in hs {
            assert_eq!(h.join().unwrap(), want);
        }
        assert_eq!(cs.read(&want).unwrap(), data);
        assert_eq!(
            std::fs::read_dir(t.path().join("ingest")).unwrap().count(),
            0
        );
    }
}
