//! Blob upload sessions. A session is a directory `_uploads/<uuid>/` holding the
//! repository's `name` and the `data` received so far; chunks are appended in order
//! and hashed as they arrive (the hash state is kept in memory between requests, so
//! finishing an upload does not read the data again). Nothing under `_uploads/` is
//! visible as a blob: finishing verifies the data against the digest the client
//! names, fsyncs it and renames it into the blob store, so a crash mid-upload leaves
//! at most a stale session, never a partial blob. Two uploads of the same blob each
//! have their own file; the last rename wins, with the same bytes.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use berth_image::content::Hasher;
use berth_types::{Algorithm, Digest};

use super::error::{io_err, Code, RegistryError, StoreError};
use super::store::{write_atomic, Store};

/// How much of a request body is read and written at a time.
const COPY_BUF: usize = 256 * 1024;

/// The upload sessions of one registry.
pub struct Uploads {
    dir: PathBuf,
    live: Mutex<HashMap<String, Arc<Mutex<Session>>>>,
}

/// One upload in progress.
pub struct Session {
    pub name: String,
    pub uuid: String,
    dir: PathBuf,
    /// Bytes received so far.
    pub size: u64,
    /// The sha256 of those bytes, when every one of them came through this process
    /// (None after a restart: finishing then hashes the file).
    hasher: Option<Hasher>,
    /// Finished or cancelled: the session is gone.
    done: bool,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a session half-updated on disk in a
    // way the next request would not see (sizes are re-read), so go on.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn unknown(uuid: &str) -> RegistryError {
    RegistryError::new(Code::BlobUploadUnknown, "blob upload unknown to registry")
        .with_detail(uuid.to_string())
}

impl Uploads {
    pub fn new(dir: &Path) -> Uploads {
        Uploads {
            dir: dir.to_path_buf(),
            live: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a session for repository `name`; returns its id.
    pub fn start(&self, name: &str) -> Result<String, StoreError> {
        let uuid = new_uuid()?;
        let dir = self.dir.join(&uuid);
        write_atomic(&dir.join("name"), name.as_bytes())?;
        let data = dir.join("data");
        File::create(&data).map_err(io_err("creating", &data))?;
        let session = Session {
            name: name.to_string(),
            uuid: uuid.clone(),
            dir,
            size: 0,
            hasher: Some(Hasher::new(Algorithm::Sha256)),
            done: false,
        };
        lock(&self.live).insert(uuid.clone(), Arc::new(Mutex::new(session)));
        Ok(uuid)
    }

    /// The session `uuid` of repository `name` (one left by an earlier run of the
    /// server is picked up from disk).
    pub fn get(&self, name: &str, uuid: &str) -> Result<Arc<Mutex<Session>>, RegistryError> {
        let well_formed = uuid.len() == 36
            && uuid
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-');
        if !well_formed {
            return Err(unknown(uuid));
        }
        let mut live = lock(&self.live);
        let session = match live.get(uuid) {
            Some(s) => Arc::clone(s),
            None => {
                let s = Arc::new(Mutex::new(self.load(uuid).ok_or_else(|| unknown(uuid))?));
                live.insert(uuid.to_string(), Arc::clone(&s));
                s
            }
        };
        drop(live);
        if lock(&session).name != name {
            return Err(unknown(uuid));
        }
        Ok(session)
    }

    fn load(&self, uuid: &str) -> Option<Session> {
        let dir = self.dir.join(uuid);
        let name = fs::read_to_string(dir.join("name")).ok()?;
        let size = fs::metadata(dir.join("data")).ok()?.len();
        Some(Session {
            name,
            uuid: uuid.to_string(),
            dir,
            size,
            hasher: None,
            done: false,
        })
    }

    /// Ends a session (finished or cancelled): its files go.
    pub fn remove(&self, session: &mut Session) {
        session.done = true;
        lock(&self.live).remove(&session.uuid);
        let _ = fs::remove_dir_all(&session.dir);
    }
}

impl Session {
    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Fails when the session has ended while the caller waited for it.
    pub fn check_live(&self) -> Result<(), RegistryError> {
        if self.done {
            return Err(unknown(&self.uuid));
        }
        Ok(())
    }

    /// Appends a chunk read from `body`. With `expected_len`, the chunk must have
    /// exactly that many bytes. A chunk that fails (short, or the client went away)
    /// is taken back whole, so the session stays at its last good offset.
    pub fn append(
        &mut self,
        body: &mut dyn Read,
        expected_len: Option<u64>,
    ) -> Result<u64, RegistryError> {
        self.check_live()?;
        let path = self.data();
        let mut file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| RegistryError::storage(io_err("opening", &path)(e)))?;
        let before = (self.size, self.hasher.clone());
        let mut buf = vec![0u8; COPY_BUF];
        let mut written = 0u64;
        let result: Result<(), RegistryError> = loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    break Err(RegistryError::new(
                        Code::BlobUploadInvalid,
                        format!("cannot read the chunk: {e}"),
                    ))
                }
            };
            if let Err(e) = file.write_all(&buf[..n]) {
                break Err(RegistryError::storage(io_err("writing", &path)(e)));
            }
            if let Some(h) = self.hasher.as_mut() {
                h.update(&buf[..n]);
            }
            written += n as u64;
        };
        let result = result.and_then(|()| match expected_len {
            Some(want) if want != written => Err(RegistryError::new(
                Code::BlobUploadInvalid,
                format!("the chunk has {written} bytes, its Content-Range says {want}"),
            )
            .with_status(416)),
            _ => Ok(()),
        });
        match result {
            Ok(()) => {
                self.size += written;
                Ok(written)
            }
            Err(e) => {
                let _ = file.set_len(before.0);
                self.size = before.0;
                self.hasher = before.1;
                Err(e)
            }
        }
    }

    /// Verifies the data against `digest` and moves it into the blob store.
    pub fn commit(&mut self, store: &Store, digest: &Digest) -> Result<(), RegistryError> {
        self.check_live()?;
        let path = self.data();
        let actual = match (&self.hasher, digest.algorithm()) {
            (Some(h), Algorithm::Sha256) => h.clone().finish(),
            _ => hash_file(&path, digest.algorithm()).map_err(RegistryError::storage)?,
        };
        if &actual != digest {
            return Err(RegistryError::new(
                Code::DigestInvalid,
                format!("provided digest did not match uploaded content: it hashes to {actual}"),
            )
            .with_detail(digest.to_string()));
        }
        let file =
            File::open(&path).map_err(|e| RegistryError::storage(io_err("opening", &path)(e)))?;
        file.sync_all()
            .map_err(|e| RegistryError::storage(io_err("syncing", &path)(e)))?;
        let dest = store.blobs().path(digest);
        fs::rename(&path, &dest)
            .map_err(|e| RegistryError::storage(io_err("committing", &dest)(e)))?;
        Ok(())
    }
}

fn hash_file(path: &Path, alg: Algorithm) -> Result<Digest, StoreError> {
    let mut f = File::open(path).map_err(io_err("opening", path))?;
    let mut h = Hasher::new(alg);
    let mut buf = vec![0u8; COPY_BUF];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Ok(h.finish()),
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err("reading", path)(e)),
        }
    }
}

/// A random (version 4) UUID from the kernel's generator.
fn new_uuid() -> Result<String, StoreError> {
    let path = Path::new("/dev/urandom");
    let mut b = [0u8; 16];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(io_err("reading", path))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_image::content::sha256;

    /// A reader that fails after its bytes, as a client that goes away mid-chunk.
    struct Broken<'a>(&'a [u8]);

    impl Read for Broken<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "gone"));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn chunks_append_roll_back_and_commit_verified() {
        let t = tempfile::tempdir().expect("tempdir");
        let store = Store::open(t.path()).expect("store");
        let uploads = Uploads::new(store.uploads_dir());
        let uuid = uploads.start("a/b").expect("start");
        assert!(
            uploads.get("other", &uuid).is_err(),
            "bound to its repository"
        );
        assert!(uploads.get("a/b", "../../etc").is_err());
        let s = uploads.get("a/b", &uuid).expect("session");
        let mut s = lock(&s);
        s.append(&mut &b"hello "[..], Some(6)).expect("chunk");
        // A broken chunk leaves nothing behind.
        assert!(s.append(&mut Broken(b"xx"), None).is_err());
        let e = s.append(&mut &b"wor"[..], Some(5)).unwrap_err();
        assert_eq!(e.status, 416);
        assert_eq!(s.size, 6);
        s.append(&mut &b"world"[..], None).expect("chunk");
        let wrong = sha256(b"hello");
        let e = s.commit(&store, &wrong).unwrap_err();
        assert_eq!(e.code, Code::DigestInvalid);
        assert!(!store.blobs().exists(&wrong));
        let right = sha256(b"hello world");
        s.commit(&store, &right).expect("commit");
        assert_eq!(store.blobs().read(&right).expect("blob"), b"hello world");
        uploads.remove(&mut s);
        assert!(s.check_live().is_err());
        drop(s);
        assert!(uploads.get("a/b", &uuid).is_err());
        assert_eq!(fs::read_dir(store.uploads_dir()).expect("dir").count(), 0);
    }

    #[test]
    fn sessions_survive_a_restart() {
        let t = tempfile::tempdir().expect("tempdir");
        let store = Store::open(t.path()).expect("store");
        let uuid = {
            let uploads = Uploads::new(store.uploads_dir());
            let uuid = uploads.start("x").expect("start");
            let s = uploads.get("x", &uuid).expect("session");
            lock(&s).append(&mut &b"abc"[..], None).expect("chunk");
            uuid
        };
        let uploads = Uploads::new(store.uploads_dir());
        let s = uploads.get("x", &uuid).expect("picked up from disk");
        let mut s = lock(&s);
        assert_eq!(s.size, 3);
        s.append(&mut &b"def"[..], None).expect("chunk");
        s.commit(&store, &sha256(b"abcdef"))
            .expect("hashed from the file");
    }
}
