//! Turn a container's changes into a layer tar: from an overlay upper directory
//! (`diff_upper`) or from two full trees (`diff_dirs`, for the copy snapshotter), and
//! list them as `docker diff` does (`changes_upper`, `changes_dirs`).
//!
//! Output is deterministic: entries sorted by path (byte order), no atime/ctime, empty
//! uname/gname, and with a `source_date_epoch` every later mtime is clamped to it, so
//! the same change yields the same diff_id.

use crate::fsutil::read_full;
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_types::{Algorithm, Digest};

use crate::content::Hasher;

/// Prefix of a whiteout entry in a layer tar.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the opaque-directory marker in a layer tar.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// How to write the diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffOptions {
    /// Clamp every mtime later than this (seconds since the epoch) to it.
    pub source_date_epoch: Option<i64>,
    /// Where the runtime mounts over the container's root (`/proc`, `/etc/hostname`,
    /// …): entries there are its mount points, never the container's own writing, and
    /// are left out, as are directories that only held them (Docker keeps them in an
    /// "init" layer, out of `diff` and `commit`).
    pub mountpoints: Vec<String>,
}

impl Default for DiffOptions {
    /// Takes `source_date_epoch` from the `SOURCE_DATE_EPOCH` environment variable when
    /// it is set to an integer.
    fn default() -> Self {
        DiffOptions {
            source_date_epoch: std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .and_then(|v| v.trim().parse().ok()),
            mountpoints: Vec::new(),
        }
    }
}

/// What a diff wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffResult {
    /// sha256 of the uncompressed tar: the layer's diff_id.
    pub diff_id: Digest,
    /// Bytes written.
    pub size: u64,
}

/// Why a diff failed.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("writing the layer tar (at {path}): {source}")]
    Write { path: String, source: io::Error },
    #[error("{path} changed size while it was being archived (expected {expected} bytes)")]
    Changed { path: PathBuf, expected: u64 },
    #[error("{path} was replaced while it was being archived")]
    Replaced { path: PathBuf },
    #[error(
        "{path} carries overlay {what} metadata (redirect_dir/metacopy); berth mounts \
         overlay without them and cannot diff such an upper directory"
    )]
    Unsupported { path: PathBuf, what: &'static str },
}

/// Kind of change, as `docker diff` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    Modified,
    Added,
    Deleted,
}

impl ChangeKind {
    /// Docker's numeric kind (0 modified, 1 added, 2 deleted).
    pub fn code(self) -> u8 {
        match self {
            ChangeKind::Modified => 0,
            ChangeKind::Added => 1,
            ChangeKind::Deleted => 2,
        }
    }
    /// Docker's letter: C, A or D.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One changed path, absolute inside the container ("/etc/passwd").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.letter(), self.path)
    }
}

fn read_err(path: &Path) -> impl FnOnce(io::Error) -> DiffError + '_ {
    move |source| DiffError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// Extended attributes of `path` (not following symlinks), sorted by name.
pub(crate) fn list_xattrs(path: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let n = match rustix::fs::llistxattr_query(path) {
        Ok(n) => n,
        Err(e) if e == rustix::io::Errno::NOTSUP => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut names = vec![0u8; n];
    let n = rustix::fs::llistxattr(path, &mut names[..])?;
    let mut out = Vec::new();
    for name in names[..n].split(|b| *b == 0).filter(|s| !s.is_empty()) {
        let name_os = OsStr::from_bytes(name);
        let len = match rustix::fs::lgetxattr_query(path, name_os) {
            Ok(l) => l,
            Err(e) if e == rustix::io::Errno::NODATA => continue,
            Err(e) => return Err(e.into()),
        };
        let mut val = vec![0u8; len];
        let got = if len == 0 {
            0
        } else {
            rustix::fs::lgetxattr(path, name_os, &mut val[..])?
        };
        val.truncate(got);
        out.push((name.to_vec(), val));
    }
    out.sort();
    Ok(out)
}

fn is_overlay_private(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

fn is_opaque(xattrs: &[(Vec<u8>, Vec<u8>)]) -> bool {
    xattrs
        .iter()
        .any(|(k, v)| (k == b"trusted.overlay.opaque" || k == b"user.overlay.opaque") && v == b"y")
}

fn is_whiteout(md: &fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn check_supported(path: &Path, xattrs: &[(Vec<u8>, Vec<u8>)]) -> Result<(), DiffError> {
    for (k, _) in xattrs {
        let k = k.as_slice();
        if k.ends_with(b"overlay.redirect") && is_overlay_private(k) {
            return Err(DiffError::Unsupported {
                path: path.to_path_buf(),
                what: "redirect",
            });
        }
        if k.ends_with(b"overlay.metacopy") && is_overlay_private(k) {
            return Err(DiffError::Unsupported {
                path: path.to_path_buf(),
                what: "metacopy",
            });
        }
    }
    Ok(())
}

/// Sorted child names of a directory.
fn sorted_children(dir: &Path) -> Result<Vec<Vec<u8>>, DiffError> {
    let mut names = Vec::new();
    for e in fs::read_dir(dir).map_err(read_err(dir))? {
        let e = e.map_err(read_err(dir))?;
        names.push(e.file_name().as_bytes().to_vec());
    }
    names.sort();
    Ok(names)
}

fn join(rel: &[u8], name: &[u8]) -> Vec<u8> {
    if rel.is_empty() {
        name.to_vec()
    } else {
        let mut v = rel.to_vec();
        v.push(b'/');
        v.extend_from_slice(name);
        v
    }
}

fn os(b: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(b))
}

/// What to write for one path.
enum Item {
    /// A real file system object, archived from `src`.
    Node {
        src: PathBuf,
        md: fs::Metadata,
        opaque: bool,
    },
    /// A whiteout for the entry's path; `mtime` from the whiteout node or 0.
    Whiteout { mtime: i64 },
}

/// Accumulates entries (keyed by relative path, sorted) and writes them in order.
#[derive(Default)]
struct Plan {
    items: BTreeMap<Vec<u8>, Item>,
}

impl Plan {
    /// Walk an overlay upper directory.
    fn walk_upper(&mut self, root: &Path, rel: &[u8]) -> Result<(), DiffError> {
        let dir = root.join(os(rel));
        for name in sorted_children(&dir)? {
            let r = join(rel, &name);
            let src = root.join(os(&r));
            let md = fs::symlink_metadata(&src).map_err(read_err(&src))?;
            if is_whiteout(&md) {
                let wh = join(rel, &[WHITEOUT_PREFIX.as_bytes(), &name].concat());
                self.items.insert(wh, Item::Whiteout { mtime: md.mtime() });
                continue;
            }
            let xattrs = list_xattrs(&src).map_err(read_err(&src))?;
            check_supported(&src, &xattrs)?;
            let is_dir = md.is_dir();
            let opaque = is_dir && is_opaque(&xattrs);
            self.items.insert(r.clone(), Item::Node { src, md, opaque });
            if is_dir {
                self.walk_upper(root, &r)?;
            }
        }
        Ok(())
    }

    /// Compare `upper` (a full tree) against `lower`; returns whether anything below
    /// `rel` changed.
    fn walk_dirs(&mut self, lower: &Path, upper: &Path, rel: &[u8]) -> Result<bool, DiffError> {
        let ldir = lower.join(os(rel));
        let udir = upper.join(os(rel));
        let unames = sorted_children(&udir)?;
        let lnames = match fs::symlink_metadata(&ldir) {
            Ok(m) if m.is_dir() => sorted_children(&ldir)?,
            _ => Vec::new(),
        };
        let mut changed = false;
        for name in &lnames {
            if unames.binary_search(name).is_err() {
                let wh = join(rel, &[WHITEOUT_PREFIX.as_bytes(), name].concat());
                self.items.insert(wh, Item::Whiteout { mtime: 0 });
                changed = true;
            }
        }
        for name in &unames {
            let r = join(rel, name);
            let usrc = upper.join(os(&r));
            let umd = fs::symlink_metadata(&usrc).map_err(read_err(&usrc))?;
            let lsrc = lower.join(os(&r));
            let lmd = fs::symlink_metadata(&lsrc).ok();
            let same = match &lmd {
                Some(lmd) => same_node(&lsrc, lmd, &usrc, &umd)?,
                None => false,
            };
            let mut sub = false;
            if umd.is_dir() {
                // A directory that replaced a non-directory: everything below is new.
                let lower_for_sub = lmd.as_ref().is_some_and(|m| m.is_dir());
                sub = if lower_for_sub {
                    self.walk_dirs(lower, upper, &r)?
                } else {
                    self.walk_dirs(Path::new("/nonexistent-berth-lower"), upper, &r)?;
                    true
                };
            }
            if !same || sub {
                // Docker includes a directory whose children changed, to keep its
                // permissions on restore.
                self.items.insert(
                    r,
                    Item::Node {
                        src: usrc,
                        md: umd,
                        opaque: false,
                    },
                );
                changed = true;
            }
        }
        Ok(changed)
    }

    fn write<W: Write>(self, out: W, opts: &DiffOptions) -> Result<DiffResult, DiffError> {
        let hw = HashingWriter {
            inner: out,
            hasher: Hasher::new(Algorithm::Sha256),
            count: 0,
        };
        let mut tw = TarWriter {
            b: tar::Builder::new(hw),
            epoch: opts.source_date_epoch,
            links: HashMap::new(),
        };
        for (rel, item) in &self.items {
            match item {
                Item::Whiteout { mtime } => tw.whiteout(rel, *mtime)?,
                Item::Node { src, md, opaque } => {
                    tw.node(rel, src, md)?;
                    if *opaque {
                        tw.whiteout(&join(rel, OPAQUE_MARKER.as_bytes()), md.mtime())?;
                    }
                }
            }
        }
        let hw = tw.b.into_inner().map_err(|source| DiffError::Write {
            path: "end of archive".into(),
            source,
        })?;
        let mut hw = hw;
        hw.flush().map_err(|source| DiffError::Write {
            path: "end of archive".into(),
            source,
        })?;
        Ok(DiffResult {
            diff_id: hw.hasher.finish(),
            size: hw.count,
        })
    }
}

/// Whether two nodes are the same for diff purposes: type, mode, owner, size, symlink
/// target, device number, xattrs; regular files of equal size but different mtimes are
/// compared by content.
fn same_node(lp: &Path, l: &fs::Metadata, up: &Path, u: &fs::Metadata) -> Result<bool, DiffError> {
    if l.mode() != u.mode() || l.uid() != u.uid() || l.gid() != u.gid() {
        return Ok(false);
    }
    let ft = u.file_type();
    if ft.is_symlink() {
        let a = fs::read_link(lp).map_err(read_err(lp))?;
        let b = fs::read_link(up).map_err(read_err(up))?;
        if a != b {
            return Ok(false);
        }
    } else if ft.is_char_device() || ft.is_block_device() {
        if l.rdev() != u.rdev() {
            return Ok(false);
        }
    } else if ft.is_file() {
        if l.size() != u.size() {
            return Ok(false);
        }
        let same_time = l.mtime() == u.mtime() && l.mtime_nsec() == u.mtime_nsec();
        if !same_time && !same_content(lp, l, up, u)? {
            return Ok(false);
        }
    }
    if !ft.is_dir() && l.mtime() != u.mtime() && !ft.is_file() {
        return Ok(false);
    }
    let lx = list_xattrs(lp).map_err(read_err(lp))?;
    let ux = list_xattrs(up).map_err(read_err(up))?;
    Ok(lx == ux)
}

/// Opens for reading the regular file the walk saw at `path` (`md`), and nothing else.
/// A running container may have replaced it, or a directory above it, by a symlink
/// (to a host file, say) or a fifo since: the path is opened without following its
/// last component and without reading (`O_PATH`), checked to be the very inode the
/// walk saw, and only then reopened for reading through its descriptor.
fn open_walked(path: &Path, md: &fs::Metadata) -> Result<File, DiffError> {
    use rustix::fs::{Mode, OFlags};
    use std::os::fd::AsFd;
    let replaced = || DiffError::Replaced {
        path: path.to_path_buf(),
    };
    let fd = rustix::fs::open(
        path,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| read_err(path)(e.into()))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| read_err(path)(e.into()))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile
        || st.st_dev != md.dev()
        || st.st_ino != md.ino()
    {
        return Err(replaced());
    }
    let file =
        crate::archive::tree::reopen_file(fd.as_fd()).map_err(|e| read_err(path)(e.into()))?;
    Ok(File::from(file))
}

fn same_content(
    a: &Path,
    amd: &fs::Metadata,
    b: &Path,
    bmd: &fs::Metadata,
) -> Result<bool, DiffError> {
    let mut fa = open_walked(a, amd)?;
    let mut fb = open_walked(b, bmd)?;
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    loop {
        let na = read_full(&mut fa, &mut ba).map_err(read_err(a))?;
        let nb = read_full(&mut fb, &mut bb).map_err(read_err(b))?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct TarWriter<W: Write> {
    b: tar::Builder<W>,
    epoch: Option<i64>,
    /// (dev, ino) of multiply-linked files already written → their tar name.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> TarWriter<W> {
    fn mtime(&self, t: i64) -> u64 {
        let t = match self.epoch {
            Some(e) if t > e => e,
            _ => t,
        };
        t.max(0) as u64
    }

    fn werr(rel: &[u8]) -> impl FnOnce(io::Error) -> DiffError + '_ {
        move |source| DiffError::Write {
            path: String::from_utf8_lossy(rel).into_owned(),
            source,
        }
    }

    /// Write `hdr` for `name`, preceded by a PAX header when the name or link target do
    /// not fit in ustar fields or there are xattrs.
    fn append(
        &mut self,
        hdr: &mut tar::Header,
        name: &[u8],
        link: Option<&[u8]>,
        xattrs: &[(Vec<u8>, Vec<u8>)],
        data: impl Read,
    ) -> Result<(), DiffError> {
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        {
            let u = hdr.as_ustar_mut().expect("headers are created as ustar");
            if name.len() <= 100 {
                u.name[..name.len()].copy_from_slice(name);
            } else {
                pax.push((b"path".to_vec(), name.to_vec()));
                let cut = &name[name.len() - 100..];
                u.name.copy_from_slice(cut);
            }
            if let Some(link) = link {
                if link.len() <= 100 {
                    u.linkname[..link.len()].copy_from_slice(link);
                } else {
                    pax.push((b"linkpath".to_vec(), link.to_vec()));
                    u.linkname.copy_from_slice(&link[..100]);
                }
            }
        }
        for (k, v) in xattrs {
            pax.push(([b"SCHILY.xattr.".as_slice(), k].concat(), v.clone()));
        }
        if !pax.is_empty() {
            let mut body = Vec::new();
            for (k, v) in &pax {
                body.extend_from_slice(&pax_record(k, v));
            }
            let mut ph = tar::Header::new_ustar();
            let pname = b"PaxHeaders.0/entry";
            ph.as_ustar_mut().expect("ustar").name[..pname.len()].copy_from_slice(pname);
            ph.set_entry_type(tar::EntryType::XHeader);
            ph.set_size(body.len() as u64);
            ph.set_mode(0o644);
            ph.set_mtime(0);
            ph.set_cksum();
            self.b.append(&ph, &body[..]).map_err(Self::werr(name))?;
        }
        hdr.set_cksum();
        self.b.append(hdr, data).map_err(Self::werr(name))
    }

    fn whiteout(&mut self, name: &[u8], mtime: i64) -> Result<(), DiffError> {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(0);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(self.mtime(mtime));
        self.append(&mut h, name, None, &[], io::empty())
    }

    fn node(&mut self, rel: &[u8], src: &Path, md: &fs::Metadata) -> Result<(), DiffError> {
        let ft = md.file_type();
        let mut h = tar::Header::new_ustar();
        h.set_mode(md.mode() & 0o7777);
        h.set_uid(md.uid() as u64);
        h.set_gid(md.gid() as u64);
        h.set_mtime(self.mtime(md.mtime()));
        h.set_size(0);
        let xattrs: Vec<_> = list_xattrs(src)
            .map_err(read_err(src))?
            .into_iter()
            .filter(|(k, _)| !is_overlay_private(k))
            .collect();
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            let name = [rel, b"/"].concat();
            return self.append(&mut h, &name, None, &xattrs, io::empty());
        }
        if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = fs::read_link(src).map_err(read_err(src))?;
            let t = target.as_os_str().as_bytes().to_vec();
            return self.append(&mut h, rel, Some(&t), &xattrs, io::empty());
        }
        if md.nlink() > 1 && !ft.is_dir() {
            let key = (md.dev(), md.ino());
            if let Some(first) = self.links.get(&key).cloned() {
                h.set_entry_type(tar::EntryType::Link);
                return self.append(&mut h, rel, Some(&first), &[], io::empty());
            }
            self.links.insert(key, rel.to_vec());
        }
        if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            let size = md.size();
            h.set_size(size);
            let f = open_walked(src, md)?;
            let mut r = ExactReader {
                inner: f.take(size),
                left: size,
            };
            self.append(&mut h, rel, None, &xattrs, &mut r)?;
            if r.left != 0 {
                return Err(DiffError::Changed {
                    path: src.to_path_buf(),
                    expected: size,
                });
            }
            return Ok(());
        }
        let (typ, dev) = if ft.is_char_device() {
            (tar::EntryType::Char, true)
        } else if ft.is_block_device() {
            (tar::EntryType::Block, true)
        } else if ft.is_fifo() {
            (tar::EntryType::Fifo, false)
        } else {
            // Sockets cannot be archived; Docker skips them too.
            return Ok(());
        };
        h.set_entry_type(typ);
        if dev {
            let r = md.rdev();
            let major = rustix::fs::major(r);
            let minor = rustix::fs::minor(r);
            h.set_device_major(major).map_err(Self::werr(rel))?;
            h.set_device_minor(minor).map_err(Self::werr(rel))?;
        }
        self.append(&mut h, rel, None, &xattrs, io::empty())
    }
}

/// Counts what is left so a file that shrank underneath us is detected (the tar
/// builder would otherwise fail with a less helpful message).
struct ExactReader<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left -= n as u64;
        Ok(n)
    }
}

fn pax_record(k: &[u8], v: &[u8]) -> Vec<u8> {
    // "LEN key=value\n", where LEN counts itself.
    let body = k.len() + v.len() + 3;
    let mut len = body + body.to_string().len();
    if len.to_string().len() + body != len {
        len = body + len.to_string().len();
    }
    let mut r = Vec::with_capacity(len);
    r.extend_from_slice(len.to_string().as_bytes());
    r.push(b' ');
    r.extend_from_slice(k);
    r.push(b'=');
    r.extend_from_slice(v);
    r.push(b'\n');
    r
}

/// Write the changes recorded in an overlay upper directory as a layer tar.
///
/// Whiteouts (char device 0:0) become `.wh.NAME`; opaque directories (xattr
/// `trusted.overlay.opaque=y` or `user.overlay.opaque=y`) get a `DIR/.wh..wh..opq`
/// entry right after the directory; files linked more than once inside the upper
/// become tar hardlinks to the first name in sort order; xattrs other than overlay's
/// own are kept as PAX `SCHILY.xattr.*`. The container must not be writing meanwhile.
pub fn diff_upper(
    upper: &Path,
    out: impl Write,
    opts: &DiffOptions,
) -> Result<DiffResult, DiffError> {
    let mut plan = Plan::default();
    plan.walk_upper(upper, b"")?;
    plan.drop_runtime_made(&opts.mountpoints);
    plan.write(out, opts)
}

/// Write the difference between two full trees as a layer tar: what is new or changed
/// in `upper` relative to `lower`, and a `.wh.` entry for what `upper` lacks. A file is
/// changed when its type, mode, owner, xattrs, size, link target or device differ, or
/// (same size, different mtime) its content differs.
pub fn diff_dirs(
    lower: &Path,
    upper: &Path,
    out: impl Write,
    opts: &DiffOptions,
) -> Result<DiffResult, DiffError> {
    let mut plan = Plan::default();
    plan.walk_dirs(lower, upper, b"")?;
    plan.drop_runtime_made(&opts.mountpoints);
    plan.write(out, opts)
}

/// Of `paths` (relative, no leading slash; whiteouts included as `dir/.wh.name`), those
/// a diff leaves out because of `mountpoints` (see [`DiffOptions::mountpoints`]): the
/// mount points themselves and what is below them, then every ancestor of a mount point
/// with nothing else left below it.
pub fn runtime_made<'a>(
    paths: impl IntoIterator<Item = &'a [u8]>,
    mountpoints: &[String],
) -> std::collections::BTreeSet<Vec<u8>> {
    use std::collections::BTreeSet;
    let mps: Vec<&[u8]> = mountpoints
        .iter()
        .map(|m| m.trim_start_matches('/').as_bytes())
        .filter(|m| !m.is_empty())
        .collect();
    let below =
        |p: &[u8], dir: &[u8]| p.len() > dir.len() && p.starts_with(dir) && p[dir.len()] == b'/';
    let paths: Vec<&[u8]> = paths.into_iter().collect();
    let mut drop: BTreeSet<Vec<u8>> = paths
        .iter()
        .filter(|p| mps.iter().any(|m| *p == m || below(p, m)))
        .map(|p| p.to_vec())
        .collect();
    if drop.is_empty() {
        return drop;
    }
    // Ancestors of mount points, deepest first.
    let mut ancestors: BTreeSet<&[u8]> = BTreeSet::new();
    for m in &mps {
        for (i, b) in m.iter().enumerate() {
            if *b == b'/' {
                ancestors.insert(&m[..i]);
            }
        }
    }
    let mut ancestors: Vec<&[u8]> = ancestors.into_iter().collect();
    ancestors.sort_by_key(|a| std::cmp::Reverse(a.len()));
    for a in ancestors {
        if !paths.contains(&a) {
            continue;
        }
        let kept_below = paths.iter().any(|p| below(p, a) && !drop.contains(*p));
        if !kept_below {
            drop.insert(a.to_vec());
        }
    }
    drop
}

impl Plan {
    fn drop_runtime_made(&mut self, mountpoints: &[String]) {
        let gone = runtime_made(self.items.keys().map(|k| k.as_slice()), mountpoints);
        // An opaque directory hides the lower's content: never drop one.
        self.items
            .retain(|k, item| !gone.contains(k) || matches!(item, Item::Node { opaque: true, .. }));
    }
}

/// Leaves out of `changes` what the runtime made (see [`DiffOptions::mountpoints`]).
pub fn without_runtime_made(changes: Vec<Change>, mountpoints: &[String]) -> Vec<Change> {
    let rels: Vec<Vec<u8>> = changes
        .iter()
        .map(|c| c.path.trim_start_matches('/').as_bytes().to_vec())
        .collect();
    let gone = runtime_made(rels.iter().map(|r| r.as_slice()), mountpoints);
    changes
        .into_iter()
        .zip(rels)
        .filter(|(_, r)| !gone.contains(r))
        .map(|(c, _)| c)
        .collect()
}

fn abs(rel: &[u8]) -> String {
    format!("/{}", String::from_utf8_lossy(rel))
}

fn exists_in(lowers: &[PathBuf], rel: &[u8]) -> bool {
    lowers
        .iter()
        .any(|l| fs::symlink_metadata(l.join(os(rel))).is_ok())
}

/// `docker diff` for an overlay container: the upper directory and its lower
/// directories (top first). Paths present in a lower are Modified (C), others Added
/// (A), whiteouts Deleted (D); an opaque directory reports the lower entries it hides
/// as deleted. Sorted by path.
pub fn changes_upper(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<Change>, DiffError> {
    let mut out = Vec::new();
    changes_upper_at(upper, lowers, b"", &mut out)?;
    out.sort();
    Ok(out)
}

fn changes_upper_at(
    upper: &Path,
    lowers: &[PathBuf],
    rel: &[u8],
    out: &mut Vec<Change>,
) -> Result<(), DiffError> {
    let dir = upper.join(os(rel));
    for name in sorted_children(&dir)? {
        let r = join(rel, &name);
        let src = upper.join(os(&r));
        let md = fs::symlink_metadata(&src).map_err(read_err(&src))?;
        if is_whiteout(&md) {
            if exists_in(lowers, &r) {
                out.push(Change {
                    path: abs(&r),
                    kind: ChangeKind::Deleted,
                });
            }
            continue;
        }
        let kind = if exists_in(lowers, &r) {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        out.push(Change {
            path: abs(&r),
            kind,
        });
        if md.is_dir() {
            let xattrs = list_xattrs(&src).map_err(read_err(&src))?;
            if is_opaque(&xattrs) {
                // Lower entries hidden by the opaque directory are deleted.
                let here: Vec<Vec<u8>> = sorted_children(&src)?;
                let mut hidden = std::collections::BTreeSet::new();
                for l in lowers {
                    let ld = l.join(os(&r));
                    if fs::symlink_metadata(&ld).is_ok_and(|m| m.is_dir()) {
                        for n in sorted_children(&ld)? {
                            if here.binary_search(&n).is_err() {
                                hidden.insert(n);
                            }
                        }
                    }
                }
                for n in hidden {
                    out.push(Change {
                        path: abs(&join(&r, &n)),
                        kind: ChangeKind::Deleted,
                    });
                }
                // Below an opaque directory nothing from the lowers shows through.
                changes_upper_at(upper, &[], &r, out)?;
            } else {
                changes_upper_at(upper, lowers, &r, out)?;
            }
        }
    }
    Ok(())
}

/// `docker diff` for two full trees (the copy snapshotter): what `upper` added,
/// changed or deleted relative to `lower`. Sorted by path.
pub fn changes_dirs(lower: &Path, upper: &Path) -> Result<Vec<Change>, DiffError> {
    let mut plan = Plan::default();
    plan.walk_dirs(lower, upper, b"")?;
    let mut out = Vec::new();
    for (rel, item) in plan.items {
        match item {
            Item::Whiteout { .. } => {
                let (dir, name) = match rel.iter().rposition(|b| *b == b'/') {
                    Some(i) => (&rel[..i + 1], &rel[i + 1..]),
                    None => (&rel[..0], &rel[..]),
                };
                let orig = [dir, &name[WHITEOUT_PREFIX.len()..]].concat();
                out.push(Change {
                    path: abs(&orig),
                    kind: ChangeKind::Deleted,
                });
            }
            Item::Node { .. } => {
                let kind = if fs::symlink_metadata(lower.join(os(&rel))).is_ok() {
                    ChangeKind::Modified
                } else {
                    ChangeKind::Added
                };
                out.push(Change {
                    path: abs(&rel),
                    kind,
                });
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A running container swaps a file it wrote for a symlink to a host file (or a
    /// fifo) between the walk and the read: the read refuses, nothing of the host's
    /// is read, nothing blocks.
    #[test]
    fn a_file_swapped_after_the_walk_is_not_read() {
        let t = tempfile::tempdir().unwrap();
        let (upper, host) = (t.path().join("upper"), t.path().join("host-secret"));
        fs::create_dir_all(upper.join("dir")).unwrap();
        fs::write(&host, "HOST").unwrap();
        // Host files exist before the container's (as they do): no inode reuse.
        let hostdir = t.path().join("hostdir");
        fs::create_dir(&hostdir).unwrap();
        fs::write(hostdir.join("f"), "HOST").unwrap();
        let f = upper.join("dir/f");
        fs::write(&f, "mine").unwrap();
        let md = fs::symlink_metadata(&f).unwrap();
        let mut s = String::new();
        open_walked(&f, &md)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "mine");
        // The file becomes a link to the host file.
        fs::remove_file(&f).unwrap();
        std::os::unix::fs::symlink(&host, &f).unwrap();
        assert!(matches!(
            open_walked(&f, &md),
            Err(DiffError::Replaced { .. })
        ));
        // A directory above it becomes a link to a host directory holding a file of
        // that name.
        fs::remove_file(&f).unwrap();
        fs::remove_dir(upper.join("dir")).unwrap();
        std::os::unix::fs::symlink(&hostdir, upper.join("dir")).unwrap();
        assert!(matches!(
            open_walked(&f, &md),
            Err(DiffError::Replaced { .. })
        ));
        // A fifo is never opened (opening it for reading would block).
        fs::remove_file(upper.join("dir")).unwrap();
        fs::create_dir(upper.join("dir")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &f,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(matches!(
            open_walked(&f, &md),
            Err(DiffError::Replaced { .. })
        ));
    }

    #[test]
    fn runtime_made_mount_points_and_their_parents_are_left_out() {
        let mps: Vec<String> = [
            "/proc",
            "/dev",
            "/etc/hostname",
            "/etc/hosts",
            "/sys/fs/cgroup",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let paths: Vec<&[u8]> = vec![
            b"dev",
            b"etc",
            b"etc/hostname",
            b"etc/hosts",
            b"proc",
            b"sys",
            b"sys/fs",
            b"sys/fs/cgroup",
            b"usr",
            b"usr/bin",
            b"var",
            b"var/.wh.log",
        ];
        let gone = runtime_made(paths.clone(), &mps);
        let gone: Vec<&[u8]> = gone.iter().map(|v| v.as_slice()).collect();
        assert_eq!(
            gone,
            vec![
                &b"dev"[..],
                b"etc",
                b"etc/hostname",
                b"etc/hosts",
                b"proc",
                b"sys",
                b"sys/fs",
                b"sys/fs/cgroup"
            ]
        );
        // A parent that holds something else stays.
        let mut more = paths.clone();
        more.push(b"etc/motd");
        let gone = runtime_made(more, &mps);
        assert!(!gone.contains(b"etc".as_slice()) && gone.contains(b"etc/hosts".as_slice()));
        // A deletion below a parent counts as something else.
        let gone = runtime_made(vec![&b"etc"[..], b"etc/hosts", b"etc/.wh.passwd"], &mps);
        assert_eq!(gone.len(), 1);
        // Nothing named: nothing dropped.
        assert!(runtime_made(paths, &[]).is_empty());
        let ch = without_runtime_made(
            vec![
                Change {
                    path: "/etc".into(),
                    kind: ChangeKind::Added,
                },
                Change {
                    path: "/etc/hosts".into(),
                    kind: ChangeKind::Added,
                },
                Change {
                    path: "/tmp".into(),
                    kind: ChangeKind::Modified,
                },
            ],
            &mps,
        );
        assert_eq!(
            ch,
            vec![Change {
                path: "/tmp".into(),
                kind: ChangeKind::Modified
            }]
        );
    }

    #[test]
    fn pax_record_length_counts_itself() {
        let r = pax_record(b"path", b"a");
        assert_eq!(r, b"9 path=a\n");
        let long = vec![b'x'; 95];
        let r = pax_record(b"path", &long);
        let s = String::from_utf8(r.clone()).unwrap();
        let n: usize = s.split(' ').next().unwrap().parse().unwrap();
        assert_eq!(n, r.len());
    }

    #[test]
    fn diff_dirs_without_root_finds_added_changed_deleted() {
        let t = tempfile::tempdir().unwrap();
        let (l, u) = (t.path().join("l"), t.path().join("u"));
        for d in [&l, &u] {
            fs::create_dir_all(d.join("etc")).unwrap();
            fs::write(d.join("etc/same"), "x").unwrap();
        }
        let copy_time = |p: &Path, q: &Path| {
            let m = fs::metadata(p).unwrap();
            let f = File::options().write(true).open(q).unwrap();
            f.set_modified(m.modified().unwrap()).unwrap();
        };
        copy_time(&l.join("etc/same"), &u.join("etc/same"));
        fs::write(l.join("gone"), "1").unwrap();
        fs::write(l.join("etc/changed"), "old").unwrap();
        fs::write(u.join("etc/changed"), "newer").unwrap();
        fs::write(u.join("new"), "n").unwrap();
        let ch = changes_dirs(&l, &u).unwrap();
        let s: Vec<String> = ch.iter().map(|c| c.to_string()).collect();
        assert_eq!(s, ["C /etc", "C /etc/changed", "D /gone", "A /new"]);
    }
}
