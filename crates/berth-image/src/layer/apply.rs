//! Apply a layer tar onto a directory: detect the compression, decompress, hash the
//! diff_id and extract, all in one streaming pass.
//!
//! Containment: every entry is placed by resolving its *parent* directory with
//! `openat2(root, parent, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` and then operating on
//! the final component with `*at()` calls that never follow it (`O_NOFOLLOW|O_EXCL`,
//! `AT_SYMLINK_NOFOLLOW`, `linkat` without `AT_SYMLINK_FOLLOW`). A symlink planted by an
//! earlier entry is therefore resolved as if `root` were `/`, and can never lead outside.
//! Entry names are cleaned lexically first: a leading `/` is dropped (`/etc/x` lands at
//! `root/etc/x`) and a name whose `..` components climb above the root is rejected with
//! [`ApplyError::Breakout`], as Docker's `pkg/archive` does. Hardlink targets get the
//! same treatment.
//!
//! Pipeline: the calling thread reads and decompresses; a scoped worker thread parses the
//! tar and writes; the uncompressed stream is hashed on whichever side has less to do
//! (the worker for compressed input, the reader for plain tar). Chunks travel through a
//! bounded channel and are recycled, so memory stays bounded whatever the layer holds.
//! Runs of zeros in regular files (including GNU sparse holes) become holes, so
//! "gigabytes of sparse padding" cost neither memory nor disk.
//!
//! Failure: if `root` was absent or empty when the apply began, any error (including a
//! diff_id mismatch) leaves it as it was: emptied again, or removed if we created it. If
//! `root` already held files (a plain-copy snapshot applying on top of its lower layers)
//! they cannot be restored: the caller must discard that snapshot.

use std::cell::Cell;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use berth_sys::open_in_root;
use berth_types::{Algorithm, Digest};
use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, XattrFlags};
use rustix::io::Errno;

use crate::content::Hasher;

/// How whiteout entries are materialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhiteoutMode {
    /// `.wh.NAME` becomes a 0:0 character device `NAME`, `.wh..wh..opq` the xattr
    /// `trusted.overlay.opaque=y` on its directory (an overlayfs upper/lower layer).
    #[default]
    Overlay,
    /// Whiteouts delete what they hide from `root`, which already holds the lower layers
    /// (a plain-copy snapshot).
    Delete,
    /// `.wh.` names are ordinary names (files copied into a container).
    Literal,
}

/// How the layer stream was compressed (detected from its first bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Options for [`apply_layer`].
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// If set, the sha256 of the uncompressed stream must equal this, or the apply fails
    /// and leaves nothing behind.
    pub expected_diff_id: Option<Digest>,
    pub whiteout_mode: WhiteoutMode,
    /// Added to every entry's uid (user-namespace remapping).
    pub uid_offset: u32,
    /// Added to every entry's gid.
    pub gid_offset: u32,
    /// Leave owners as the extracting user instead of applying the tar's uid/gid.
    pub ignore_owners: bool,
    /// Refuse to replace an existing directory by a non-directory, or the other way
    /// round (`docker cp`'s noOverwriteDirNonDir).
    pub no_overwrite_dir_non_dir: bool,
    /// Entries land below this directory of `root` (a relative path, resolved inside
    /// `root` like any entry): names are cleaned first, so `..` in an entry cannot
    /// climb above it.
    pub under: Vec<u8>,
}

/// What [`apply_layer`] did.
#[derive(Debug, Clone)]
pub struct ApplyResult {
    /// sha256 of the uncompressed tar stream.
    pub diff_id: Digest,
    /// Length of the uncompressed tar stream in bytes.
    pub size: u64,
    pub compression: Compression,
    /// Tar entries processed (whiteouts included).
    pub entries: u64,
    /// Things that were skipped: device nodes that could not be made, unsupported
    /// xattrs, unknown entry types.
    pub warnings: Vec<String>,
}

/// Why applying a layer failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("layer root {path}: {source}")]
    Root { path: PathBuf, source: io::Error },
    #[error("reading the layer stream: {0}")]
    Read(#[source] io::Error),
    #[error("unsupported layer compression: {0}")]
    UnsupportedCompression(&'static str),
    #[error("malformed tar stream after entry {after:?}: {source}")]
    Tar { after: String, source: io::Error },
    #[error("tar entry {path:?}: {op}: {source}")]
    Entry {
        path: String,
        op: &'static str,
        source: io::Error,
    },
    #[error("tar entry {path:?}: {what} escapes the layer root")]
    Breakout { path: String, what: &'static str },
    #[error("cannot overwrite {existing} {path:?} with {entry}")]
    Overwrite {
        path: String,
        existing: &'static str,
        entry: &'static str,
    },
    #[error("layer diff_id mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("layer extraction thread panicked")]
    Panicked,
}

const CHUNK: usize = 1 << 20;
const IN_FLIGHT: usize = 8;
/// Cap on what the tar parser may consume between two entries (PAX records, GNU long
/// names, sparse maps): it buffers these whole.
const META_LIMIT: u64 = 16 << 20;
const MAX_WARNINGS: usize = 256;

/// Apply the layer tar read from `reader` onto `root` (created if absent).
pub fn apply_layer(
    root: &Path,
    mut reader: impl Read,
    opts: &ApplyOptions,
) -> Result<ApplyResult, ApplyError> {
    let root_err = |source| ApplyError::Root {
        path: root.to_path_buf(),
        source,
    };
    let created = match std::fs::symlink_metadata(root) {
        Ok(_) => false,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir(root).map_err(root_err)?;
            true
        }
        Err(e) => return Err(root_err(e)),
    };
    let was_empty = created || std::fs::read_dir(root).map_err(root_err)?.next().is_none();

    let result = apply_inner(root, &mut reader, opts).and_then(|r| match &opts.expected_diff_id {
        Some(want) if *want != r.diff_id => Err(ApplyError::DigestMismatch {
            expected: want.clone(),
            actual: r.diff_id.clone(),
        }),
        _ => Ok(r),
    });
    if result.is_err() && was_empty {
        // Best effort: the original error is what the caller needs to see.
        if created {
            let _ = std::fs::remove_dir_all(root);
        } else if let Ok(rd) = std::fs::read_dir(root) {
            for e in rd.flatten() {
                let p = e.path();
                let _ = match e.file_type() {
                    Ok(t) if t.is_dir() => std::fs::remove_dir_all(&p),
                    _ => std::fs::remove_file(&p),
                };
            }
        }
    }
    result
}

enum Msg {
    Data(Vec<u8>),
    Err(io::Error),
}

fn apply_inner(
    root: &Path,
    reader: &mut dyn Read,
    opts: &ApplyOptions,
) -> Result<ApplyResult, ApplyError> {
    // Sniff the compression from the first bytes.
    let mut head = [0u8; 6];
    let mut n = 0;
    while n < head.len() {
        match reader.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ApplyError::Read(e)),
        }
    }
    let head = &head[..n];
    let compression = if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if head.starts_with(b"BZh") {
        return Err(ApplyError::UnsupportedCompression("bzip2"));
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(ApplyError::UnsupportedCompression("xz"));
    } else {
        Compression::None
    };
    let chained = io::Cursor::new(head.to_vec()).chain(reader);
    let mut input: Box<dyn Read + '_> = match compression {
        Compression::None => Box::new(chained),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::with_capacity(CHUNK, chained),
        )),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(chained).map_err(ApplyError::Read)?)
        }
    };
    // Plain tar: the reader has little to do, so it hashes; otherwise the worker does.
    let hash_in_reader = compression == Compression::None;

    let root_fd = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ApplyError::Root {
        path: root.to_path_buf(),
        source: e.into(),
    })?;

    let (tx, rx) = sync_channel::<Msg>(IN_FLIGHT);
    let (free_tx, free_rx) = sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
    std::thread::scope(|s| {
        let worker = s.spawn(move || {
            let src = ChannelReader {
                rx,
                free: free_tx,
                cur: Vec::new(),
                pos: 0,
                hasher: (!hash_in_reader).then(|| Hasher::new(Algorithm::Sha256)),
                count: 0,
                meta: Rc::new(Cell::new(None)),
            };
            Extractor::new(root_fd, opts).run(src)
        });
        let mut hasher = hash_in_reader.then(|| Hasher::new(Algorithm::Sha256));
        let mut size = 0u64;
        let mut read_err = None;
        loop {
            let mut buf = free_rx
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
            buf.resize(CHUNK, 0);
            let mut filled = 0;
            let mut eof = false;
            while filled < CHUNK {
                match input.read(&mut buf[filled..]) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(k) => filled += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        read_err = Some(e);
                        break;
                    }
                }
            }
            buf.truncate(filled);
            if let Some(h) = hasher.as_mut() {
                h.update(&buf);
            }
            size += filled as u64;
            if filled > 0 && tx.send(Msg::Data(buf)).is_err() {
                break; // the worker stopped: its error explains why
            }
            if let Some(e) = read_err.take() {
                let kind = e.kind();
                let msg = e.to_string();
                let _ = tx.send(Msg::Err(io::Error::new(kind, msg.clone())));
                read_err = Some(io::Error::new(kind, msg));
                break;
            }
            if eof {
                break;
            }
        }
        drop(tx);
        let outcome = worker.join().map_err(|_| ApplyError::Panicked)?;
        if let Some(e) = read_err {
            return Err(ApplyError::Read(e));
        }
        let (worker_digest, worker_size, entries, warnings) = outcome?;
        let (diff_id, size) = match hasher {
            Some(h) => (h.finish(), size),
            None => (
                worker_digest.expect("the worker hashes when the reader does not"),
                worker_size,
            ),
        };
        Ok(ApplyResult {
            diff_id,
            size,
            compression,
            entries,
            warnings,
        })
    })
}

/// The worker's view of the stream: chunks from the reader thread, hashed here when
/// asked, with a budget on what the tar parser may buffer between entries.
struct ChannelReader {
    rx: Receiver<Msg>,
    free: SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    hasher: Option<Hasher>,
    count: u64,
    /// `Some(n)`: the parser is between entries and may still read `n` bytes.
    meta: Rc<Cell<Option<u64>>>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(Msg::Data(d)) => {
                    if let Some(h) = self.hasher.as_mut() {
                        h.update(&d);
                    }
                    self.count += d.len() as u64;
                    let old = std::mem::replace(&mut self.cur, d);
                    let _ = self.free.try_send(old);
                    self.pos = 0;
                }
                Ok(Msg::Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let mut n = buf.len().min(self.cur.len() - self.pos);
        if let Some(left) = self.meta.get() {
            if left == 0 {
                return Err(io::Error::other(format!(
                    "tar metadata between entries exceeds {} MiB (oversized PAX header, long name or sparse map)",
                    META_LIMIT >> 20
                )));
            }
            n = n.min(usize::try_from(left).unwrap_or(usize::MAX));
            self.meta.set(Some(left - n as u64));
        }
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

type WorkerOutcome = (Option<Digest>, u64, u64, Vec<String>);

struct DirMeta {
    path: Vec<u8>,
    mode: u32,
    mtime: Option<Timespec>,
}

struct Extractor<'o> {
    root: OwnedFd,
    opts: &'o ApplyOptions,
    /// Last resolved parent directory, reused by consecutive entries in one directory.
    cache: Option<(Vec<u8>, Rc<OwnedFd>)>,
    /// Paths this layer created (for opaque directories in Delete mode).
    written: HashSet<Vec<u8>>,
    dirs: Vec<DirMeta>,
    warnings: Vec<String>,
    buf: Vec<u8>,
    entries: u64,
}

/// One cleaned entry name: its components, none empty, `.` or `..`.
struct Name<'a> {
    comps: Vec<&'a [u8]>,
}

impl Name<'_> {
    fn parent(&self) -> &[&[u8]] {
        &self.comps[..self.comps.len().saturating_sub(1)]
    }
    fn base(&self) -> &OsStr {
        OsStr::from_bytes(self.comps.last().copied().unwrap_or(b"."))
    }
    fn joined(&self) -> Vec<u8> {
        join(&self.comps)
    }
}

fn join(comps: &[&[u8]]) -> Vec<u8> {
    comps.join(&b'/')
}

/// Clean a tar name lexically and put it below `under`; `None` if `..` climbs above
/// `under`.
fn place<'a>(under: &'a [u8], raw: &'a [u8]) -> Option<Name<'a>> {
    let mut name = clean(raw)?;
    if !under.is_empty() {
        let mut comps: Vec<&[u8]> = under
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .collect();
        comps.append(&mut name.comps);
        name.comps = comps;
    }
    Some(name)
}

/// Clean a tar name lexically; `None` if `..` climbs above the root.
fn clean(raw: &[u8]) -> Option<Name<'_>> {
    let mut comps: Vec<&[u8]> = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                comps.pop()?;
            }
            c => comps.push(c),
        }
    }
    Some(Name { comps })
}

fn errno(e: Errno) -> io::Error {
    e.into()
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn is_zero(b: &[u8]) -> bool {
    static ZEROS: [u8; 4096] = [0; 4096];
    b.chunks(4096).all(|c| c == &ZEROS[..c.len()])
}

/// A tar path (bytes, relative) as a path for [`open_in_root`].
fn as_path(b: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(b))
}

/// Remove `name` in `dir`, recursively if it is a directory; never follows symlinks.
fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), Errno> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => return Ok(()),
        Err(Errno::ISDIR) | Err(Errno::PERM) => {}
        Err(e) => return Err(e),
    }
    let sub = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for e in rustix::fs::Dir::read_from(&sub)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    for n in names {
        remove_all_at(sub.as_fd(), OsStr::from_bytes(&n))?;
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)
}

fn pax_timespec(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec: i64 = sec.parse().ok()?;
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let tv_nsec: i64 = digits.parse().ok()?;
    // A negative fraction counts back from the negative second.
    let (tv_sec, tv_nsec) = if tv_sec < 0 && tv_nsec > 0 {
        (tv_sec - 1, 1_000_000_000 - tv_nsec)
    } else {
        (tv_sec, tv_nsec)
    };
    Some(Timespec {
        tv_sec,
        tv_nsec: tv_nsec as _,
    })
}

/// Metadata of one entry, gathered before its data is read.
struct Meta {
    uid: u64,
    gid: u64,
    mode: u32,
    mtime: Option<Timespec>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl<'o> Extractor<'o> {
    fn new(root: OwnedFd, opts: &'o ApplyOptions) -> Self {
        Extractor {
            root,
            opts,
            cache: None,
            written: HashSet::new(),
            dirs: Vec::new(),
            warnings: Vec::new(),
            buf: vec![0; CHUNK],
            entries: 0,
        }
    }

    fn warn(&mut self, w: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(w);
        } else if self.warnings.len() == MAX_WARNINGS {
            self.warnings.push("further warnings omitted".into());
        }
    }

    fn run(mut self, src: ChannelReader) -> Result<WorkerOutcome, ApplyError> {
        let meta_budget = src.meta.clone();
        let mut archive = tar::Archive::new(src);
        let mut last = String::from("<start>");
        {
            let mut entries = archive.entries().map_err(|e| ApplyError::Tar {
                after: last.clone(),
                source: e,
            })?;
            loop {
                meta_budget.set(Some(META_LIMIT));
                let next = entries.next();
                meta_budget.set(None);
                let mut entry = match next {
                    None => break,
                    Some(Ok(e)) => e,
                    Some(Err(e)) => {
                        return Err(ApplyError::Tar {
                            after: last,
                            source: e,
                        })
                    }
                };
                let raw = entry.path_bytes().into_owned();
                last = lossy(&raw);
                self.entries += 1;
                self.entry(&raw, &mut entry)?;
                // Drain whatever the entry did not consume (data of a hardlink, say) so the
                // metadata budget only ever counts headers.
                io::copy(&mut entry, &mut io::sink()).map_err(|e| ApplyError::Entry {
                    path: last.clone(),
                    op: "read data",
                    source: e,
                })?;
            }
        }
        self.finish_dirs()?;
        // The diff_id covers the whole stream, padding after the end-of-archive included.
        let mut src = archive.into_inner();
        io::copy(&mut src, &mut io::sink()).map_err(ApplyError::Read)?;
        let digest = src.hasher.take().map(Hasher::finish);
        Ok((digest, src.count, self.entries, self.warnings))
    }

    fn meta<R: Read>(
        &mut self,
        path: &str,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<Meta, ApplyError> {
        let h = entry.header();
        let bad = |op, e| ApplyError::Entry {
            path: path.to_string(),
            op,
            source: e,
        };
        let old = h.as_old();
        let mut m = Meta {
            uid: numeric(h.uid(), &old.uid).map_err(|e| bad("read uid", e))?,
            gid: numeric(h.gid(), &old.gid).map_err(|e| bad("read gid", e))?,
            mode: numeric(h.mode(), &old.mode).map_err(|e| bad("read mode", e))? & 0o7777,
            mtime: h.mtime().ok().map(|s| Timespec {
                tv_sec: s as i64,
                tv_nsec: 0,
            }),
            xattrs: Vec::new(),
        };
        if let Some(exts) = entry
            .pax_extensions()
            .map_err(|e| bad("read PAX header", e))?
        {
            for ext in exts {
                let ext = ext.map_err(|e| bad("read PAX header", e))?;
                let key = ext.key_bytes();
                let parse = || {
                    std::str::from_utf8(ext.value_bytes())
                        .ok()
                        .and_then(|v| v.parse::<u64>().ok())
                };
                match key {
                    b"uid" => m.uid = parse().unwrap_or(m.uid),
                    b"gid" => m.gid = parse().unwrap_or(m.gid),
                    b"mtime" => m.mtime = pax_timespec(ext.value_bytes()).or(m.mtime),
                    k if k.starts_with(b"SCHILY.xattr.") => m.xattrs.push((
                        k[b"SCHILY.xattr.".len()..].to_vec(),
                        ext.value_bytes().to_vec(),
                    )),
                    _ => {}
                }
            }
        }
        Ok(m)
    }

    fn ids(&self, path: &str, m: &Meta) -> Result<Option<(Uid, Gid)>, ApplyError> {
        if self.opts.ignore_owners {
            return Ok(None);
        }
        let map = |id: u64, off: u32| {
            id.checked_add(u64::from(off))
                .and_then(|v| u32::try_from(v).ok())
                .filter(|&v| v != u32::MAX)
        };
        match (
            map(m.uid, self.opts.uid_offset),
            map(m.gid, self.opts.gid_offset),
        ) {
            (Some(u), Some(g)) => Ok(Some((Uid::from_raw(u), Gid::from_raw(g)))),
            _ => Err(ApplyError::Entry {
                path: path.to_string(),
                op: "map owner",
                source: io::Error::other(format!(
                    "uid {} / gid {} out of range after remapping",
                    m.uid, m.gid
                )),
            }),
        }
    }

    /// The directory holding `comps`' last component, created (like `mkdir -p`) if absent.
    fn parent(&mut self, comps: &[&[u8]]) -> Result<Rc<OwnedFd>, Errno> {
        let key = join(comps);
        let hit = matches!(&self.cache, Some((k, _)) if *k == key);
        if !hit {
            let fd = match open_in_root(
                self.root.as_fd(),
                as_path(&key),
                OFlags::PATH | OFlags::DIRECTORY,
            ) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => self.mkdir_p(comps)?,
                Err(e) => return Err(e),
            };
            self.cache = Some((key, Rc::new(fd)));
        }
        Ok(self.cache.as_ref().expect("cache filled above").1.clone())
    }

    fn mkdir_p(&mut self, comps: &[&[u8]]) -> Result<OwnedFd, Errno> {
        let mut fd = open_in_root(
            self.root.as_fd(),
            Path::new(""),
            OFlags::PATH | OFlags::DIRECTORY,
        )?;
        for i in 0..comps.len() {
            let prefix = join(&comps[..=i]);
            fd = match open_in_root(
                self.root.as_fd(),
                as_path(&prefix),
                OFlags::PATH | OFlags::DIRECTORY,
            ) {
                Ok(f) => f,
                Err(Errno::NOENT) => {
                    match rustix::fs::mkdirat(
                        &fd,
                        OsStr::from_bytes(comps[i]),
                        Mode::from_raw_mode(0o755),
                    ) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e),
                    }
                    self.written.insert(prefix.clone());
                    open_in_root(
                        self.root.as_fd(),
                        as_path(&prefix),
                        OFlags::PATH | OFlags::DIRECTORY,
                    )?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(fd)
    }

    fn entry<R: Read>(
        &mut self,
        raw: &[u8],
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<(), ApplyError> {
        let path = lossy(raw);
        let Some(name) = place(&self.opts.under, raw) else {
            return Err(ApplyError::Breakout { path, what: "name" });
        };
        let et = entry.header().entry_type();
        let fail = |op: &'static str| {
            let path = path.clone();
            move |e: Errno| ApplyError::Entry {
                path,
                op,
                source: errno(e),
            }
        };

        if et.is_pax_global_extensions() {
            return Ok(());
        }

        // Whiteouts.
        let whiteout = if self.opts.whiteout_mode == WhiteoutMode::Literal {
            None
        } else {
            name.comps.last().and_then(|b| b.strip_prefix(b".wh."))
        };
        if let Some(hidden) = whiteout {
            if hidden == b".wh..opq" {
                return self.opaque(&path, name.parent());
            }
            if hidden.starts_with(b".wh.") || hidden.is_empty() || hidden == b"." || hidden == b".."
            {
                return Ok(()); // .wh..wh.plnk and friends: AUFS bookkeeping
            }
            let hidden = OsStr::from_bytes(hidden);
            let parent = self
                .parent(name.parent())
                .map_err(fail("open parent directory"))?;
            let parent = parent.as_fd();
            match self.opts.whiteout_mode {
                WhiteoutMode::Overlay => {
                    match remove_all_at(parent, hidden) {
                        Ok(()) | Err(Errno::NOENT) => {}
                        Err(e) => return Err(fail("remove whited-out entry")(e)),
                    }
                    rustix::fs::mknodat(
                        parent,
                        hidden,
                        FileType::CharacterDevice,
                        Mode::empty(),
                        rustix::fs::makedev(0, 0),
                    )
                    .map_err(fail("make overlay whiteout (0:0 character device)"))?;
                }
                WhiteoutMode::Delete | WhiteoutMode::Literal => {
                    match remove_all_at(parent, hidden) {
                        Ok(()) | Err(Errno::NOENT) => {}
                        Err(e) => return Err(fail("remove whited-out entry")(e)),
                    }
                }
            }
            self.cache = None;
            return Ok(());
        }

        let meta = self.meta(&path, entry)?;
        let ids = self.ids(&path, &meta)?;

        if name.comps.is_empty() {
            // "./": the root directory itself.
            if et.is_dir() {
                let root = open_in_root(
                    self.root.as_fd(),
                    Path::new(""),
                    OFlags::RDONLY | OFlags::DIRECTORY,
                )
                .map_err(fail("open"))?;
                if let Some((u, g)) = ids {
                    rustix::fs::fchown(&root, Some(u), Some(g)).map_err(fail("chown"))?;
                }
                self.xattrs(&path, Target::Fd(root.as_fd()), &meta)?;
                self.dirs.push(DirMeta {
                    path: Vec::new(),
                    mode: meta.mode,
                    mtime: meta.mtime,
                });
            } else {
                self.warn(format!(
                    "{path:?}: a non-directory entry naming the root was skipped"
                ));
            }
            return Ok(());
        }

        let base = name.base().to_owned();
        let key = name.joined();
        let is_dir = et.is_dir();
        let parent = self
            .parent(name.parent())
            .map_err(fail("open parent directory"))?;
        let parent = parent.as_fd();

        // What is there now (from a lower layer or an earlier entry)?
        let existing = match rustix::fs::statat(parent, &base, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Some(FileType::from_raw_mode(st.st_mode)),
            Err(Errno::NOENT) => None,
            Err(e) => return Err(fail("stat existing entry")(e)),
        };
        let mut removed_dir = false;
        if self.opts.no_overwrite_dir_non_dir {
            let clash = match existing {
                Some(FileType::Directory) if !is_dir => Some(("directory", "non-directory")),
                Some(t) if is_dir && t != FileType::Directory => {
                    Some(("non-directory", "directory"))
                }
                _ => None,
            };
            if let Some((existing, entry)) = clash {
                return Err(ApplyError::Overwrite {
                    path: format!("/{}", lossy(&name.joined())),
                    existing,
                    entry,
                });
            }
        }
        match existing {
            Some(FileType::Directory) if is_dir => {}
            Some(t) => {
                if et.is_hard_link() && self.same_as_link_target(&path, parent, &base, entry)? {
                    return Ok(());
                }
                removed_dir = t == FileType::Directory;
                remove_all_at(parent, &base).map_err(fail("remove existing entry"))?;
            }
            None => {}
        }
        if removed_dir {
            self.cache = None;
        }
        let parent = self
            .parent(name.parent())
            .map_err(fail("open parent directory"))?;
        let parent = parent.as_fd();
        self.written.insert(key.clone());

        let mode = Mode::from_raw_mode(meta.mode);
        if et.is_file() || et.is_contiguous() || et.is_gnu_sparse() {
            let fd = rustix::fs::openat(
                parent,
                &base,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(fail("create file"))?;
            let mut file = File::from(fd);
            self.write_data(&path, &mut file, entry)?;
            if let Some((u, g)) = ids {
                rustix::fs::fchown(&file, Some(u), Some(g)).map_err(fail("chown"))?;
            }
            rustix::fs::fchmod(&file, mode).map_err(fail("chmod"))?;
            self.xattrs(&path, Target::Fd(file.as_fd()), &meta)?;
            if let Some(t) = meta.mtime {
                rustix::fs::futimens(
                    &file,
                    &Timestamps {
                        last_access: t,
                        last_modification: t,
                    },
                )
                .map_err(fail("set mtime"))?;
            }
        } else if is_dir {
            if existing != Some(FileType::Directory) {
                rustix::fs::mkdirat(parent, &base, Mode::from_raw_mode(0o700))
                    .map_err(fail("mkdir"))?;
            }
            let fd = rustix::fs::openat(
                parent,
                &base,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(fail("open directory"))?;
            if let Some((u, g)) = ids {
                rustix::fs::fchown(&fd, Some(u), Some(g)).map_err(fail("chown"))?;
            }
            self.xattrs(&path, Target::Fd(fd.as_fd()), &meta)?;
            // Mode and mtime at the end: children are still to come.
            self.dirs.push(DirMeta {
                path: key,
                mode: meta.mode,
                mtime: meta.mtime,
            });
        } else if et.is_symlink() {
            let target = entry
                .link_name_bytes()
                .map(|c| c.into_owned())
                .unwrap_or_default();
            rustix::fs::symlinkat(OsStr::from_bytes(&target), parent, &base)
                .map_err(fail("symlink"))?;
            if let Some((u, g)) = ids {
                rustix::fs::chownat(parent, &base, Some(u), Some(g), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(fail("lchown"))?;
            }
            self.xattrs(&path, Target::At(parent, &base), &meta)?;
            self.set_times_at(&path, parent, &base, meta.mtime)?;
        } else if et.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|c| c.into_owned())
                .unwrap_or_default();
            let Some(tname) = place(&self.opts.under, &target) else {
                return Err(ApplyError::Breakout {
                    path,
                    what: "hardlink target",
                });
            };
            if tname.comps.is_empty() {
                return Err(ApplyError::Entry {
                    path,
                    op: "hardlink",
                    source: io::Error::other("link target is the root directory"),
                });
            }
            let tparent = open_in_root(
                self.root.as_fd(),
                as_path(&join(tname.parent())),
                OFlags::PATH | OFlags::DIRECTORY,
            )
            .map_err(fail("open hardlink target's directory"))?;
            // No AT_SYMLINK_FOLLOW: a symlink target is linked as the symlink itself.
            rustix::fs::linkat(&tparent, tname.base(), parent, &base, AtFlags::empty())
                .map_err(fail("hardlink"))?;
        } else if et.is_fifo() || et.is_character_special() || et.is_block_special() {
            let h = entry.header();
            let (ft, dev) = if et.is_fifo() {
                (FileType::Fifo, 0)
            } else {
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                let ft = if et.is_character_special() {
                    FileType::CharacterDevice
                } else {
                    FileType::BlockDevice
                };
                (ft, rustix::fs::makedev(major, minor))
            };
            match rustix::fs::mknodat(parent, &base, ft, Mode::from_raw_mode(0o600), dev) {
                Ok(()) => {}
                Err(e @ (Errno::PERM | Errno::ACCESS)) => {
                    self.written.remove(&key);
                    self.warn(format!(
                        "{path:?}: device node or fifo skipped: mknod: {}",
                        errno(e)
                    ));
                    return Ok(());
                }
                Err(e) => return Err(fail("mknod")(e)),
            }
            if let Some((u, g)) = ids {
                rustix::fs::chownat(parent, &base, Some(u), Some(g), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(fail("chown"))?;
            }
            // The node was just made by us and is not a symlink: chmodat cannot be redirected.
            rustix::fs::chmodat(parent, &base, mode, AtFlags::empty()).map_err(fail("chmod"))?;
            self.xattrs(&path, Target::At(parent, &base), &meta)?;
            self.set_times_at(&path, parent, &base, meta.mtime)?;
        } else {
            self.written.remove(&key);
            self.warn(format!(
                "{path:?}: unsupported tar entry type {:?} skipped",
                et.as_byte() as char
            ));
        }
        Ok(())
    }

    /// A hardlink entry naming an existing file that already is its target: nothing to do.
    fn same_as_link_target<R: Read>(
        &self,
        _path: &str,
        parent: BorrowedFd<'_>,
        base: &OsStr,
        entry: &tar::Entry<'_, R>,
    ) -> Result<bool, ApplyError> {
        let Some(target) = entry.link_name_bytes().map(|c| c.into_owned()) else {
            return Ok(false);
        };
        let Some(t) = place(&self.opts.under, &target) else {
            return Ok(false);
        };
        if t.comps.is_empty() {
            return Ok(false);
        }
        let Ok(tp) = open_in_root(
            self.root.as_fd(),
            as_path(&join(t.parent())),
            OFlags::PATH | OFlags::DIRECTORY,
        ) else {
            return Ok(false);
        };
        let a = rustix::fs::statat(parent, base, AtFlags::SYMLINK_NOFOLLOW);
        let b = rustix::fs::statat(&tp, t.base(), AtFlags::SYMLINK_NOFOLLOW);
        Ok(matches!((a, b), (Ok(a), Ok(b)) if a.st_dev == b.st_dev && a.st_ino == b.st_ino))
    }

    fn write_data<R: Read>(
        &mut self,
        path: &str,
        file: &mut File,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<(), ApplyError> {
        let mut pos: u64 = 0;
        let mut hole_at_end = false;
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ApplyError::Entry {
                        path: path.to_string(),
                        op: "read data",
                        source: e,
                    })
                }
            };
            let chunk = &self.buf[..n];
            if n >= 4096 && is_zero(chunk) {
                // Leave a hole rather than writing zeros.
                file.seek(SeekFrom::Current(n as i64))
                    .map_err(|e| ApplyError::Entry {
                        path: path.to_string(),
                        op: "seek",
                        source: e,
                    })?;
                hole_at_end = true;
            } else {
                file.write_all(chunk).map_err(|e| ApplyError::Entry {
                    path: path.to_string(),
                    op: "write",
                    source: e,
                })?;
                hole_at_end = false;
            }
            pos += n as u64;
        }
        if hole_at_end {
            file.set_len(pos).map_err(|e| ApplyError::Entry {
                path: path.to_string(),
                op: "truncate",
                source: e,
            })?;
        }
        Ok(())
    }

    fn xattrs(&mut self, path: &str, target: Target<'_>, meta: &Meta) -> Result<(), ApplyError> {
        for (k, v) in &meta.xattrs {
            let key = lossy(k);
            if k.starts_with(b"trusted.") {
                self.warn(format!(
                    "{path:?}: xattr {key} skipped (trusted.* is reserved to the host)"
                ));
                continue;
            }
            let r = match &target {
                Target::Fd(fd) => {
                    rustix::fs::fsetxattr(fd, OsStr::from_bytes(k), v, XattrFlags::empty())
                }
                Target::At(dir, name) => {
                    // The directory is reached through its fd; the final name is not followed.
                    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
                    p.extend_from_slice(name.as_bytes());
                    rustix::fs::lsetxattr(
                        OsStr::from_bytes(&p),
                        OsStr::from_bytes(k),
                        v,
                        XattrFlags::empty(),
                    )
                }
            };
            match r {
                Ok(()) => {}
                Err(
                    e @ (Errno::NOTSUP | Errno::PERM | Errno::ACCESS | Errno::INVAL | Errno::RANGE),
                ) => {
                    self.warn(format!("{path:?}: xattr {key} skipped: {}", errno(e)));
                }
                Err(e) => {
                    return Err(ApplyError::Entry {
                        path: path.to_string(),
                        op: "set xattr",
                        source: errno(e),
                    });
                }
            }
        }
        Ok(())
    }

    fn set_times_at(
        &self,
        path: &str,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        t: Option<Timespec>,
    ) -> Result<(), ApplyError> {
        let Some(t) = t else { return Ok(()) };
        rustix::fs::utimensat(
            dir,
            name,
            &Timestamps {
                last_access: t,
                last_modification: t,
            },
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| ApplyError::Entry {
            path: path.to_string(),
            op: "set mtime",
            source: errno(e),
        })
    }

    fn opaque(&mut self, path: &str, dir: &[&[u8]]) -> Result<(), ApplyError> {
        let fail = |op: &'static str| {
            move |e: Errno| ApplyError::Entry {
                path: path.to_string(),
                op,
                source: errno(e),
            }
        };
        let key = join(dir);
        if !dir.is_empty() {
            self.parent(dir).map_err(fail("open opaque directory"))?;
        }
        let fd = open_in_root(
            self.root.as_fd(),
            as_path(&key),
            OFlags::RDONLY | OFlags::DIRECTORY,
        )
        .map_err(fail("open opaque directory"))?;
        match self.opts.whiteout_mode {
            WhiteoutMode::Overlay => {
                rustix::fs::fsetxattr(&fd, "trusted.overlay.opaque", b"y", XattrFlags::empty())
                    .map_err(fail("set trusted.overlay.opaque"))?;
            }
            WhiteoutMode::Delete => {
                self.clear_lower(fd.as_fd(), key)
                    .map_err(fail("remove lower-layer entries of opaque directory"))?;
                self.cache = None;
            }
            // Literal names never reach here: they are not whiteouts.
            WhiteoutMode::Literal => {}
        }
        Ok(())
    }

    /// Remove what this layer did not write under the directory `fd` (at `key`).
    fn clear_lower(&self, fd: BorrowedFd<'_>, key: Vec<u8>) -> Result<(), Errno> {
        let mut children = Vec::new();
        for e in rustix::fs::Dir::read_from(fd)? {
            let e = e?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                children.push(n.to_vec());
            }
        }
        for c in children {
            let mut ck = key.clone();
            if !ck.is_empty() {
                ck.push(b'/');
            }
            ck.extend_from_slice(&c);
            let name = OsStr::from_bytes(&c);
            if !self.written.contains(&ck) {
                remove_all_at(fd, name)?;
            } else if let Ok(sub) = rustix::fs::openat(
                fd,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                self.clear_lower(sub.as_fd(), ck)?;
            }
        }
        Ok(())
    }

    fn finish_dirs(&mut self) -> Result<(), ApplyError> {
        // Deepest first is not required (a child's mtime change does not touch the parent
        // once all entries are written), but later entries for the same dir must win.
        let dirs = std::mem::take(&mut self.dirs);
        for d in dirs.iter().rev() {
            let path = lossy(&d.path);
            let fail = |op: &'static str| {
                let path = path.clone();
                move |e: Errno| ApplyError::Entry {
                    path,
                    op,
                    source: errno(e),
                }
            };
            let fd = match open_in_root(
                self.root.as_fd(),
                as_path(&d.path),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW,
            ) {
                Ok(fd) => fd,
                // Replaced or whited out by a later entry.
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                Err(e) => return Err(fail("open directory")(e)),
            };
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(d.mode)).map_err(fail("chmod"))?;
            if let Some(t) = d.mtime {
                rustix::fs::futimens(
                    &fd,
                    &Timestamps {
                        last_access: t,
                        last_modification: t,
                    },
                )
                .map_err(fail("set mtime"))?;
            }
        }
        Ok(())
    }
}

enum Target<'a> {
    Fd(BorrowedFd<'a>),
    At(BorrowedFd<'a>, &'a OsStr),
}

/// A numeric header field as Go's archive/tar (and so dockerd) reads it: a field of
/// only NULs and spaces is 0, where the tar crate refuses it.
fn numeric<T: From<u8>>(parsed: io::Result<T>, raw: &[u8]) -> io::Result<T> {
    match parsed {
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(T::from(0)),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &str) -> Option<Vec<String>> {
        clean(s.as_bytes()).map(|n| n.comps.iter().map(|c| lossy(c)).collect())
    }

    #[test]
    fn clean_strips_root_and_dots() {
        assert_eq!(names("/etc/./passwd").unwrap(), ["etc", "passwd"]);
        assert_eq!(names("./a//b/../c").unwrap(), ["a", "c"]);
        assert_eq!(names("./").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn clean_rejects_climbing_above_root() {
        assert!(names("../victim/x").is_none());
        assert!(names("a/../../x").is_none());
        assert!(names("/../x").is_none());
    }

    #[test]
    fn pax_time_parses_fraction() {
        let t = pax_timespec(b"1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        let t = pax_timespec(b"-1.25").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (-2, 750_000_000));
    }

    #[test]
    fn zero_detection() {
        assert!(is_zero(&[0; 10000]));
        let mut v = vec![0; 10000];
        v[9999] = 1;
        assert!(!is_zero(&v));
    }

    /// Empty numeric fields (left as NULs by some tar writers) read as 0, as Go's
    /// archive/tar reads them; a field with garbage is still refused.
    #[test]
    fn empty_numeric_fields_are_zero() {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        let old = h.as_old();
        assert!(h.uid().is_err(), "the tar crate refuses an empty uid");
        assert_eq!(numeric(h.uid(), &old.uid).unwrap(), 0);
        assert_eq!(numeric(h.mode(), &old.mode).unwrap(), 0);
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().uid.copy_from_slice(b"12x4\0\0\0\0");
        assert!(numeric(h.uid(), &h.as_old().uid).is_err());
    }
}
