//! Reading and writing cgroup control files, with errors that name the file
//! and the value. cgroupfs wants each value in a single write(2) on a file
//! that already exists: files are never created here.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::CgroupError;

/// Writes `value` to `dir/file`.
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    write_path(&dir.join(file), value)
}

/// Writes `value` to `path` in one write(2).
pub(crate) fn write_path(path: &Path, value: &str) -> Result<(), CgroupError> {
    let result = OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .and_then(|mut f| {
            let n = f.write(value.as_bytes())?;
            if n != value.len() {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("short write ({n} of {} bytes)", value.len()),
                ));
            }
            Ok(())
        });
    match result {
        Ok(()) => {
            #[cfg(test)]
            log::record(path, value);
            Ok(())
        }
        Err(error) => Err(CgroupError::Write {
            path: path.to_path_buf(),
            value: value.to_string(),
            error,
        }),
    }
}

/// Reads `dir/file`.
pub(crate) fn read(dir: &Path, file: &str) -> Result<String, CgroupError> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map_err(|error| CgroupError::Read { path, error })
}

/// Reads `dir/file`, or `None` when it does not exist.
pub(crate) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>, CgroupError> {
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if is_enoent(&e) => Ok(None),
        Err(error) => Err(CgroupError::Read { path, error }),
    }
}

pub(crate) fn is_enoent(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENODEV)
}

/// Whether `dir/file` exists.
pub(crate) fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

/// Reads a single unsigned value ("max" is `u64::MAX`, negatives are 0).
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64, CgroupError> {
    let s = read(dir, file)?;
    parse_u64(&dir.join(file), &s)
}

/// As [`read_u64`], `None` when the file does not exist.
pub(crate) fn read_u64_opt(dir: &Path, file: &str) -> Result<Option<u64>, CgroupError> {
    match read_opt(dir, file)? {
        Some(s) => parse_u64(&dir.join(file), &s).map(Some),
        None => Ok(None),
    }
}

/// Parses one cgroup value the way runc does: "max" is unlimited, and a
/// negative number (v1 prints -1 for "unset" in places) counts as 0.
pub(crate) fn parse_u64(path: &Path, s: &str) -> Result<u64, CgroupError> {
    let t = s.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    if let Ok(v) = t.parse::<u64>() {
        return Ok(v);
    }
    if let Ok(v) = t.parse::<i64>() {
        if v < 0 {
            return Ok(0);
        }
    }
    Err(parse_error(path, s, "not an unsigned number"))
}

pub(crate) fn parse_error(path: &Path, content: &str, reason: impl Into<String>) -> CgroupError {
    CgroupError::Parse {
        path: path.to_path_buf(),
        content: content.chars().take(200).collect(),
        reason: reason.into(),
    }
}

/// Parses "key value" lines (memory.stat, cpu.stat, ...).
pub(crate) fn parse_flat_keyed(
    path: &Path,
    content: &str,
) -> Result<BTreeMap<String, u64>, CgroupError> {
    let mut out = BTreeMap::new();
    for line in content.lines().filter(|l| !l.trim().is_empty()) {
        let mut it = line.split_whitespace();
        match (it.next(), it.next(), it.next()) {
            (Some(k), Some(v), None) => {
                out.insert(k.to_string(), parse_u64(path, v)?);
            }
            _ => return Err(parse_error(path, line, "expected \"key value\"")),
        }
    }
    Ok(out)
}

/// Reads a flat-keyed file; an absent file is an empty map.
pub(crate) fn read_flat_keyed_opt(
    dir: &Path,
    file: &str,
) -> Result<Option<BTreeMap<String, u64>>, CgroupError> {
    match read_opt(dir, file)? {
        Some(s) => parse_flat_keyed(&dir.join(file), &s).map(Some),
        None => Ok(None),
    }
}

/// Every directory under `dir`, `dir` first (depth-first, parents before
/// children).
pub(crate) fn walk_dirs(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let d = out[i].clone();
        i += 1;
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            // A child cgroup removed while we walk is not an error.
            Err(e) if is_enoent(&e) && d != dir => continue,
            Err(error) => return Err(CgroupError::Read { path: d, error }),
        };
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.push(entry.path());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod log {
    //! A per-thread record of successful writes, so unit tests can assert the
    //! exact sequence of values written (a file in a fake tree only keeps the
    //! last one).
    use std::cell::RefCell;
    use std::path::{Path, PathBuf};

    thread_local! {
        static WRITES: RefCell<Vec<(PathBuf, String)>> = const { RefCell::new(Vec::new()) };
    }

    pub(crate) fn record(path: &Path, value: &str) {
        WRITES.with(|w| w.borrow_mut().push((path.to_path_buf(), value.to_string())));
    }

    /// Takes the writes made so far, as (path relative to `root`, value).
    pub(crate) fn take(root: &Path) -> Vec<(String, String)> {
        WRITES.with(|w| {
            w.borrow_mut()
                .drain(..)
                .map(|(p, v)| {
                    let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
                    (rel, v)
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values_like_runc() {
        let p = Path::new("/x");
        assert_eq!(parse_u64(p, "max\n").unwrap(), u64::MAX);
        assert_eq!(parse_u64(p, "42\n").unwrap(), 42);
        assert_eq!(parse_u64(p, "-1").unwrap(), 0);
        let e = parse_u64(p, "lots").unwrap_err().to_string();
        assert!(e.contains("/x") && e.contains("lots"), "{e}");
    }

    #[test]
    fn flat_keyed_rejects_garbage() {
        let p = Path::new("/cg/memory.stat");
        let m = parse_flat_keyed(p, "cache 10\nrss 20\n\n").unwrap();
        assert_eq!(m["rss"], 20);
        assert!(parse_flat_keyed(p, "cache 10 11\n").is_err());
        assert!(parse_flat_keyed(p, "cache\n").is_err());
    }

    #[test]
    fn write_never_creates_files() {
        let t = crate::testutil::TempDir::new();
        let e = write(t.path(), "memory.max", "100").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        assert!(e.to_string().contains("memory.max"));
        assert!(!t.path().join("memory.max").exists());
    }
}
