//! A tar of a directory tree, read only through file descriptors.
//!
//! The tree may belong to a running container that changes it while it is read (swaps
//! a directory for a symlink to `/`, a file for a fifo). Nothing here ever resolves a
//! path: every entry is opened relative to its parent's descriptor with `O_PATH |
//! O_NOFOLLOW`, its type is taken from that descriptor, and only then is it opened for
//! reading — a directory as `"."` below itself, a regular file by re-opening the very
//! inode through `/proc/self/fd` (so a fifo or a device swapped in is never opened, and
//! a symlink is never followed). Whatever the container does, the archive only holds
//! what was inside the tree.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use super::ArchiveError;

/// Pseudo filesystems (`statfs` magic, name): their contents never belong in an
/// archive (a running container's /proc, /sys, /dev/pts, cgroups …), and a copy never
/// writes into them.
const PSEUDO_FS: &[(i64, &str)] = &[
    (0x9fa0, "proc"),
    (0x6265_6572, "sysfs"),
    (0x0027_e0eb, "cgroup"),
    (0x6367_7270, "cgroup2"),
    (0x1cd1, "devpts"),
    (0x1980_0202, "mqueue"),
    (0x7363_6673, "securityfs"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0xcafe_4a11, "bpf"),
];

/// How deep a tree may go. A container can nest directories without end (through
/// `openat`, past PATH_MAX); the walk holds one descriptor per level, so the bound
/// caps what one copy may hold open, far beyond real trees (1024 one-letter
/// directories are already half of PATH_MAX).
pub const MAX_DEPTH: usize = 1024;

/// What to leave out of the walk.
#[derive(Debug, Clone, Default)]
pub struct TreeOptions {
    /// Directories (paths inside the tree, e.g. `dev`) whose contents are left out when
    /// they are mount points: what a runtime mounted there is not the container's.
    pub skip_mounted: Vec<PathBuf>,
    /// Archive extended attributes (`SCHILY.xattr.*` PAX records).
    pub xattrs: bool,
}

/// What the walk could not archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeSummary {
    pub entries: u64,
    /// Sockets: tar has no type for them.
    pub skipped_sockets: Vec<PathBuf>,
}

/// Writes tar entries for trees opened by descriptor.
pub struct TreeWriter<W: Write> {
    b: tar::Builder<W>,
    links: HashMap<(u64, u64), PathBuf>,
    opts: TreeOptions,
    summary: TreeSummary,
}

fn io_at<'p>(context: &'static str, path: &'p Path) -> impl FnOnce(Errno) -> ArchiveError + 'p {
    move |e| ArchiveError::Io {
        context,
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// Opens `name` below `dir` without following it, retrying on EINTR/EAGAIN.
fn open_nofollow(dir: BorrowedFd<'_>, name: &OsStr) -> Result<OwnedFd, Errno> {
    loop {
        match rustix::fs::openat(
            dir,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Err(Errno::INTR) | Err(Errno::AGAIN) => continue,
            r => return r,
        }
    }
}

/// A readable descriptor of the directory `path_fd` (an `O_PATH` descriptor) names.
pub(crate) fn reopen_dir(path_fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        path_fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// A readable descriptor of the regular file `path_fd` names: the same inode, never a
/// path looked up again.
pub(crate) fn reopen_file(path_fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    use std::os::fd::AsRawFd;
    let proc_path = format!("/proc/self/fd/{}", path_fd.as_raw_fd());
    rustix::fs::open(
        proc_path.as_str(),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
}

/// The names in a directory (`.` and `..` left out), sorted.
fn list(dirfd: BorrowedFd<'_>, inside: &Path) -> Result<Vec<OsString>, ArchiveError> {
    let mut names = Vec::new();
    let rd = rustix::fs::Dir::read_from(dirfd).map_err(io_at("reading directory", inside))?;
    for e in rd {
        let e = e.map_err(io_at("reading directory", inside))?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsStr::from_bytes(n).to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The pseudo filesystem `fd` is on, if it is on one.
// f_type's width differs between architectures.
#[allow(clippy::unnecessary_cast)]
pub(crate) fn pseudo_fs(fd: BorrowedFd<'_>) -> Option<&'static str> {
    let f_type = rustix::fs::fstatfs(fd).ok()?.f_type as i64;
    PSEUDO_FS
        .iter()
        .find(|(m, _)| *m == f_type)
        .map(|(_, n)| *n)
}

fn is_mount_root(fd: BorrowedFd<'_>) -> bool {
    rustix::fs::statx(
        fd,
        "",
        AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW,
        rustix::fs::StatxFlags::BASIC_STATS,
    )
    .is_ok_and(|s| {
        let root = rustix::fs::StatxAttributes::MOUNT_ROOT;
        s.stx_attributes_mask.contains(root) && s.stx_attributes.contains(root)
    })
}

impl<W: Write> TreeWriter<W> {
    pub fn new(w: W, opts: TreeOptions) -> Self {
        let mut b = tar::Builder::new(w);
        b.follow_symlinks(false);
        TreeWriter {
            b,
            links: HashMap::new(),
            opts,
            summary: TreeSummary::default(),
        }
    }

    /// Archives `name` (below the directory `dir`, not followed if a symlink) as the
    /// entry `entry`, and everything below it if it is a directory. `inside` is its path
    /// inside the tree, for [`TreeOptions::skip_mounted`] and error messages.
    pub fn add(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        entry: &Path,
        inside: &Path,
    ) -> Result<(), ArchiveError> {
        let fd = open_nofollow(dir, name).map_err(io_at("opening", inside))?;
        self.add_fd(fd.as_fd(), entry, inside)
    }

    /// Like [`TreeWriter::add`] for something already opened (`O_PATH` is enough).
    pub fn add_fd(
        &mut self,
        fd: BorrowedFd<'_>,
        entry: &Path,
        inside: &Path,
    ) -> Result<(), ArchiveError> {
        if let Some(dirfd) = self.add_one(fd, entry, inside)? {
            self.walk(dirfd, entry, inside)?;
        }
        Ok(())
    }

    /// Archives the children of the directory `dirfd` (readable) as `prefix/NAME`.
    pub fn add_children(
        &mut self,
        dirfd: BorrowedFd<'_>,
        prefix: &Path,
        inside: &Path,
    ) -> Result<(), ArchiveError> {
        let dup = rustix::io::fcntl_dupfd_cloexec(dirfd, 0)
            .map_err(io_at("reading directory", inside))?;
        self.walk(dup, prefix, inside)
    }

    /// Archives one thing (its header, and a file's data); a directory whose contents
    /// are to be archived comes back, readable.
    fn add_one(
        &mut self,
        fd: BorrowedFd<'_>,
        entry: &Path,
        inside: &Path,
    ) -> Result<Option<OwnedFd>, ArchiveError> {
        let st = rustix::fs::fstat(fd).map_err(io_at("stat", inside))?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let dirfd = reopen_dir(fd).map_err(io_at("opening directory", inside))?;
                if !entry.as_os_str().is_empty() {
                    self.header(&st, entry, inside, Payload::Dir(dirfd.as_fd()))?;
                }
                let skip = pseudo_fs(dirfd.as_fd()).is_some()
                    || (self.opts.skip_mounted.iter().any(|p| p == inside)
                        && is_mount_root(dirfd.as_fd()));
                Ok((!skip).then_some(dirfd))
            }
            FileType::RegularFile => {
                if st.st_nlink > 1 && self.hardlink(&st, entry)? {
                    return Ok(None);
                }
                let file = reopen_file(fd).map_err(io_at("opening", inside))?;
                self.header(&st, entry, inside, Payload::File(file))?;
                Ok(None)
            }
            FileType::Socket => {
                self.summary.skipped_sockets.push(entry.to_path_buf());
                Ok(None)
            }
            _ => {
                if st.st_nlink > 1 && self.hardlink(&st, entry)? {
                    return Ok(None);
                }
                // Symlinks, devices and fifos are never opened: only the O_PATH
                // descriptor is used (readlinkat with an empty path for a symlink).
                let payload = if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
                    let t = rustix::fs::readlinkat(fd, "", Vec::new())
                        .map_err(io_at("reading link", inside))?;
                    Payload::Link(PathBuf::from(OsStr::from_bytes(t.as_bytes())))
                } else {
                    Payload::None
                };
                self.header(&st, entry, inside, payload)?;
                Ok(None)
            }
        }
    }

    /// Walks the tree below `dirfd` depth first, names sorted, without recursion (a
    /// container can nest directories as deep as it likes): one open directory per
    /// level, at most [`MAX_DEPTH`] of them.
    fn walk(&mut self, dirfd: OwnedFd, prefix: &Path, inside: &Path) -> Result<(), ArchiveError> {
        struct Level {
            fd: OwnedFd,
            names: std::vec::IntoIter<OsString>,
            prefix: PathBuf,
            inside: PathBuf,
        }
        let names = list(dirfd.as_fd(), inside)?;
        let mut stack = vec![Level {
            fd: dirfd,
            names: names.into_iter(),
            prefix: prefix.to_path_buf(),
            inside: inside.to_path_buf(),
        }];
        while let Some(top) = stack.last_mut() {
            let Some(n) = top.names.next() else {
                stack.pop();
                continue;
            };
            let entry = top.prefix.join(&n);
            let ins = top.inside.join(&n);
            let fd = match open_nofollow(top.fd.as_fd(), &n) {
                Ok(fd) => fd,
                // Removed since the listing: nothing to archive.
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(io_at("opening", &ins)(e)),
            };
            if let Some(sub) = self.add_one(fd.as_fd(), &entry, &ins)? {
                if stack.len() >= MAX_DEPTH {
                    return Err(ArchiveError::Invalid(format!(
                        "{}: the tree is deeper than {MAX_DEPTH} levels",
                        ins.display()
                    )));
                }
                let names = list(sub.as_fd(), &ins)?;
                stack.push(Level {
                    fd: sub,
                    names: names.into_iter(),
                    prefix: entry,
                    inside: ins,
                });
            }
        }
        Ok(())
    }

    /// Ends the archive and hands back the writer.
    pub fn finish(self) -> Result<(W, TreeSummary), ArchiveError> {
        let mut b = self.b;
        b.finish().map_err(ArchiveError::Write)?;
        let w = b.into_inner().map_err(ArchiveError::Write)?;
        Ok((w, self.summary))
    }

    /// A second name of an inode already archived becomes a hardlink entry.
    // Kept out of the recursive frames (a tar header is 512 bytes).
    #[inline(never)]
    fn hardlink(&mut self, st: &Stat, entry: &Path) -> Result<bool, ArchiveError> {
        let key = (st.st_dev, st.st_ino);
        if let Some(first) = self.links.get(&key).cloned() {
            let mut h = base_header(st);
            h.set_entry_type(tar::EntryType::Link);
            self.append(h, entry, Some(first.as_os_str().as_bytes()), io::empty())
                .map_err(ArchiveError::Write)?;
            self.summary.entries += 1;
            return Ok(true);
        }
        self.links.insert(key, entry.to_path_buf());
        Ok(false)
    }

    // Kept out of the recursive frames (a tar header is 512 bytes).
    #[inline(never)]
    fn header(
        &mut self,
        st: &Stat,
        entry: &Path,
        inside: &Path,
        payload: Payload<'_>,
    ) -> Result<(), ArchiveError> {
        use tar::EntryType;
        let wr = ArchiveError::Write;
        if self.opts.xattrs {
            match &payload {
                Payload::Dir(fd) => self.xattrs(*fd, inside)?,
                Payload::File(f) => self.xattrs(f.as_fd(), inside)?,
                _ => {}
            }
        }
        let mut h = base_header(st);
        match (FileType::from_raw_mode(st.st_mode), payload) {
            (FileType::Directory, _) => {
                h.set_entry_type(EntryType::Directory);
                self.append(h, entry, None, io::empty()).map_err(wr)?;
            }
            (FileType::RegularFile, Payload::File(file)) => {
                let file = std::fs::File::from(file);
                // The size the header announces is what goes out, whatever the file
                // does meanwhile: cut if it grew, padded with zeros if it shrank.
                let size = st.st_size as u64;
                h.set_entry_type(EntryType::Regular);
                h.set_size(size);
                let reader = Exact {
                    inner: file,
                    left: size,
                };
                self.append(h, entry, None, reader)
                    .map_err(|e| ArchiveError::Io {
                        context: "archiving",
                        path: inside.to_path_buf(),
                        source: e,
                    })?;
            }
            (FileType::Symlink, Payload::Link(target)) => {
                h.set_entry_type(EntryType::Symlink);
                self.append(h, entry, Some(target.as_os_str().as_bytes()), io::empty())
                    .map_err(wr)?;
            }
            (t @ (FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo), _) => {
                h.set_entry_type(match t {
                    FileType::CharacterDevice => EntryType::Char,
                    FileType::BlockDevice => EntryType::Block,
                    _ => EntryType::Fifo,
                });
                if t != FileType::Fifo {
                    h.set_device_major(rustix::fs::major(st.st_rdev))
                        .map_err(wr)?;
                    h.set_device_minor(rustix::fs::minor(st.st_rdev))
                        .map_err(wr)?;
                }
                self.append(h, entry, None, io::empty()).map_err(wr)?;
            }
            _ => {
                return Err(ArchiveError::Invalid(format!(
                    "{}: unsupported file type",
                    inside.display()
                )))
            }
        }
        self.summary.entries += 1;
        Ok(())
    }

    /// Appends an entry named exactly `name` (a directory's with a trailing `/`), as
    /// Docker writes them: a leading `./` is kept. Names and link targets longer than
    /// the header holds go in GNU long-name entries before it.
    // Kept out of the recursive frames (a tar header is 512 bytes).
    #[inline(never)]
    fn append(
        &mut self,
        mut h: tar::Header,
        name: &Path,
        link: Option<&[u8]>,
        data: impl Read,
    ) -> io::Result<()> {
        let mut name = name.as_os_str().as_bytes().to_vec();
        if h.entry_type().is_dir() && !name.ends_with(b"/") {
            name.push(b'/');
        }
        if name.len() > 100 {
            self.long_name(b'L', &name)?;
            name.truncate(100);
        }
        let field = &mut h.as_old_mut().name;
        field.fill(0);
        field[..name.len()].copy_from_slice(&name);
        if let Some(link) = link {
            if link.len() > 100 {
                self.long_name(b'K', link)?;
            }
            let field = &mut h.as_old_mut().linkname;
            field.fill(0);
            let n = link.len().min(100);
            field[..n].copy_from_slice(&link[..n]);
        }
        h.set_cksum();
        self.b.append(&h, data)
    }

    /// A GNU `././@LongLink` entry carrying a long name (`L`) or link target (`K`).
    fn long_name(&mut self, kind: u8, value: &[u8]) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        let field = &mut h.as_old_mut().name;
        field.fill(0);
        field[..13].copy_from_slice(b"././@LongLink");
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(value.len() as u64 + 1);
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_cksum();
        self.b.append(&h, value.chain(&[0u8][..]))
    }

    /// Extended attributes go in a PAX header (`SCHILY.xattr.NAME`) before the entry.
    // Kept out of the recursive frames (a tar header is 512 bytes).
    #[inline(never)]
    fn xattrs(&mut self, fd: BorrowedFd<'_>, inside: &Path) -> Result<(), ArchiveError> {
        let mut list = vec![0u8; 65536];
        let n = match rustix::fs::flistxattr(fd, &mut list[..]) {
            Ok(n) => n,
            Err(Errno::NOTSUP) => return Ok(()),
            Err(e) => return Err(io_at("listing xattrs of", inside)(e)),
        };
        let mut records = Vec::new();
        for name in list[..n].split(|&c| c == 0).filter(|s| !s.is_empty()) {
            let name_s = String::from_utf8_lossy(name).into_owned();
            let mut val = vec![0u8; 65536];
            let k = match rustix::fs::fgetxattr(fd, name, &mut val[..]) {
                Ok(k) => k,
                Err(Errno::NODATA) => continue,
                Err(e) => return Err(io_at("reading xattr of", inside)(e)),
            };
            super::rootfs::pax_record(&mut records, &format!("SCHILY.xattr.{name_s}"), &val[..k]);
        }
        if records.is_empty() {
            return Ok(());
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_mode(0o644);
        h.set_size(records.len() as u64);
        h.set_path("PaxHeader").map_err(ArchiveError::Write)?;
        h.set_cksum();
        self.b.append(&h, &records[..]).map_err(ArchiveError::Write)
    }
}

fn base_header(st: &Stat) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

/// What an entry's header is written with.
enum Payload<'a> {
    None,
    /// A directory, readable (for its xattrs).
    Dir(BorrowedFd<'a>),
    /// A regular file's data.
    File(OwnedFd),
    /// A symlink's target.
    Link(PathBuf),
}

/// Exactly `left` bytes of `inner`: cut short, or padded with zeros.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = loop {
            match self.inner.read(&mut buf[..want]) {
                Ok(0) => {
                    buf[..want].fill(0);
                    break want;
                }
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(root: &Path, depth: usize) {
        let mut p = root.to_path_buf();
        for _ in 0..depth {
            p.push("d");
        }
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("leaf"), "x").unwrap();
    }

    /// Archives `root` on a thread with a small stack: the walk does not recurse.
    fn archive_on_small_stack(root: &Path) -> Result<u64, String> {
        let root = root.to_path_buf();
        std::thread::Builder::new()
            .stack_size(128 << 10)
            .spawn(move || {
                let fd = rustix::fs::open(
                    &root,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .unwrap();
                let mut tw = TreeWriter::new(io::sink(), TreeOptions::default());
                tw.add_children(fd.as_fd(), Path::new(""), Path::new("/"))
                    .and_then(|()| tw.finish())
                    .map(|(_, s)| s.entries)
                    .map_err(|e| e.to_string())
            })
            .unwrap()
            .join()
            .expect("the walk must not overflow its stack")
    }

    #[test]
    fn deep_trees_are_walked_to_the_bound_and_refused_past_it() {
        let t = tempfile::tempdir().unwrap();
        nested(&t.path().join("ok"), MAX_DEPTH - 1);
        assert_eq!(
            archive_on_small_stack(&t.path().join("ok")),
            Ok(MAX_DEPTH as u64)
        );
        nested(&t.path().join("deep"), MAX_DEPTH + 5);
        let e = archive_on_small_stack(&t.path().join("deep")).unwrap_err();
        assert!(e.contains("deeper than"), "{e}");
    }
}
