//! Small filesystem helpers shared by the image table and the lease store: an flock
//! held for the duration of a change, and atomic file replacement.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An exclusive `flock` held until dropped. Each holder opens the lock file itself, so
/// threads of one process exclude each other as other processes do.
#[derive(Debug)]
pub(crate) struct FileLock {
    _file: File,
}

impl FileLock {
    pub(crate) fn exclusive(path: &Path) -> io::Result<FileLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive) {
                Ok(()) => return Ok(FileLock { _file: file }),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Replace `path` with `bytes` atomically: write `<path>.tmp`, fsync, rename, fsync the
/// directory. The caller holds the lock that makes the fixed temporary name safe; a
/// stray one from a crash is simply truncated.
pub(crate) fn write_atomic(
    path: &Path,
    bytes: &[u8],
) -> Result<(), (&'static str, PathBuf, io::Error)> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    fn err<'a>(
        c: &'static str,
        p: &'a Path,
    ) -> impl FnOnce(io::Error) -> (&'static str, PathBuf, io::Error) + 'a {
        move |e| (c, p.to_path_buf(), e)
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(err("creating", &tmp))?;
    f.write_all(bytes).map_err(err("writing", &tmp))?;
    f.sync_all().map_err(err("syncing", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err("replacing", path))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err("syncing", dir))?;
    Ok(())
}

/// Reads until `buf` is full or the stream ends (a short read is not the end, EINTR is
/// retried); how many bytes were read.
pub fn read_full(r: &mut (impl std::io::Read + ?Sized), buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
