//! COPY and ADD: which files a step's sources name (in the context or in another
//! stage's or image's filesystem), their content checksum (the cache key's part), and
//! the tar that places them at the destination by Docker's rules.
//!
//! Sources resolve inside their root (a symlink named as a source is followed, but
//! never out of the root); below a source nothing is followed: symlinks are copied as
//! symlinks. Destination rules: a relative destination is under WORKDIR; several
//! sources (also by a wildcard) need a destination ending in `/`; a directory source
//! copies its contents; a file goes into the destination when it ends in `/` or is an
//! existing directory, else becomes it.

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::AsFd as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::cache::hex;
use super::BuildError;
use crate::ignore::{clean, glob_match, has_wildcard};

/// One source, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// Where it is on the host (inside the root).
    pub host: PathBuf,
    /// Its name as the destination takes it (the last element of what was named).
    pub name: String,
    pub is_dir: bool,
}

/// Resolves `patterns` inside `root` (the context, or a mounted root filesystem).
/// `what` names the instruction for errors (`COPY`).
pub(crate) fn resolve(
    root: &Path,
    patterns: &[String],
    what: &str,
) -> Result<Vec<Source>, BuildError> {
    let root_fd = berth_image::copy::open_root_dir(root)
        .map_err(|e| BuildError::msg(format!("{what} failed: {e}")))?;
    let mut out = Vec::new();
    for raw in patterns {
        let cleaned = clean(raw.trim_start_matches('/'));
        if cleaned == ".." || cleaned.starts_with("../") {
            return Err(BuildError::msg(format!(
                "{what} failed: forbidden path outside the build context: {raw} ()"
            )));
        }
        if has_wildcard(&cleaned) {
            let mut found = Vec::new();
            walk_names(root, Path::new(""), &mut |rel| {
                if glob_match(&cleaned, rel).unwrap_or(false) {
                    found.push(rel.to_string());
                }
            });
            glob_match(&cleaned, "").map_err(|e| {
                BuildError::msg(format!("{what} failed: invalid pattern {raw:?}: {e}"))
            })?;
            found.sort();
            for rel in found {
                out.push(source_at(root, root_fd.as_fd(), &rel, what)?);
            }
            continue;
        }
        out.push(source_at(root, root_fd.as_fd(), &cleaned, what)?);
    }
    if out.is_empty() {
        return Err(BuildError::msg(format!(
            "{what} failed: no source files were specified"
        )));
    }
    Ok(out)
}

fn source_at(
    root: &Path,
    root_fd: std::os::fd::BorrowedFd<'_>,
    rel: &str,
    what: &str,
) -> Result<Source, BuildError> {
    let missing = || {
        BuildError::msg(format!(
            "{what} failed: file not found in build context or excluded by .dockerignore: stat {rel}: file does not exist"
        ))
    };
    let resolved = if rel == "." {
        "/".to_string()
    } else {
        berth_image::copy::resolve_in_root(root_fd, &format!("/{rel}")).map_err(|_| missing())?
    };
    let host = root.join(resolved.trim_start_matches('/'));
    let meta = fs::metadata(&host).map_err(|_| missing())?;
    let name = match rel.rsplit('/').next() {
        Some(".") | None => String::new(),
        Some(n) => n.to_string(),
    };
    Ok(Source {
        host,
        name,
        is_dir: meta.is_dir(),
    })
}

/// Every path below `dir` (relative to the walk's start), parents first.
fn walk_names(base: &Path, rel: &Path, f: &mut dyn FnMut(&str)) {
    let Ok(rd) = fs::read_dir(base.join(rel)) else {
        return;
    };
    let mut names: Vec<_> = rd.flatten().collect();
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let r = rel.join(e.file_name());
        f(&r.to_string_lossy());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk_names(base, &r, f);
        }
    }
}

/// The content checksum of the sources: `file:…` for one file, `dir:…` for one
/// directory, `multi:…` for several. It covers names, types, permission bits, link
/// targets and contents (not times or owners: COPY sets those), so a changed file
/// changes it and a touched one does not.
pub(crate) fn checksum(sources: &[Source]) -> Result<String, BuildError> {
    let mut all = Sha256::new();
    for s in sources {
        let mut h = Sha256::new();
        hash_tree(&s.host, Path::new(""), &mut h)
            .map_err(|e| BuildError::msg(format!("checksum of {}: {e}", s.host.display())))?;
        all.update(h.finalize());
    }
    let kind = match sources {
        [one] if one.is_dir => "dir",
        [_] => "file",
        _ => "multi",
    };
    Ok(format!("{kind}:{}", hex(&all.finalize())))
}

fn hash_tree(path: &Path, rel: &Path, h: &mut Sha256) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    let ft = meta.file_type();
    h.update(rel.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update((meta.permissions().mode() & 0o7777).to_le_bytes());
    if ft.is_symlink() {
        h.update(b"l");
        h.update(fs::read_link(path)?.as_os_str().as_encoded_bytes());
    } else if ft.is_dir() {
        h.update(b"d");
        let mut names: Vec<_> = fs::read_dir(path)?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            hash_tree(&path.join(&n), &rel.join(&n), h)?;
        }
    } else if ft.is_file() {
        h.update(b"f");
        h.update(meta.len().to_le_bytes());
        let mut f = fs::File::open(path)?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    } else {
        h.update(b"o");
        h.update(meta.rdev().to_le_bytes());
    }
    h.update([0]);
    Ok(())
}

/// Who owns what a step writes, and with which mode (`--chown`, `--chmod`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Owner {
    pub uid: u32,
    pub gid: u32,
    pub chmod: Option<u32>,
}

/// Writes `src` as tar entries named `name` (and, for a directory, `name/…` for its
/// contents; an empty `name` puts the contents at the top).
pub(crate) fn append(
    tar: &mut tar::Builder<impl Write>,
    src: &Path,
    name: &str,
    own: Owner,
) -> io::Result<()> {
    let meta = fs::symlink_metadata(src)?;
    let ft = meta.file_type();
    let mut h = tar::Header::new_gnu();
    h.set_uid(own.uid as u64);
    h.set_gid(own.gid as u64);
    h.set_mtime(meta.mtime().max(0) as u64);
    let mode = own.chmod.unwrap_or(meta.permissions().mode() & 0o7777);
    h.set_mode(mode);
    if ft.is_dir() {
        if !name.is_empty() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            tar.append_data(&mut h, format!("{name}/"), io::empty())?;
        }
        let mut names: Vec<_> = fs::read_dir(src)?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            let child = n.to_string_lossy();
            let child_name = if name.is_empty() {
                child.to_string()
            } else {
                format!("{name}/{child}")
            };
            append(tar, &src.join(&n), &child_name, own)?;
        }
    } else if ft.is_symlink() {
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(meta.permissions().mode() & 0o7777);
        tar.append_link(&mut h, name, fs::read_link(src)?)?;
    } else if ft.is_file() {
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(meta.len());
        tar.append_data(&mut h, name, fs::File::open(src)?)?;
    }
    // Sockets, fifos and devices in a context are not copied (as Docker).
    Ok(())
}

/// A user or group name or number from the container's `/etc/passwd` or `/etc/group`.
fn lookup(
    db: Option<&[u8]>,
    name: &str,
    what: &str,
    file: &str,
) -> Result<(u32, Option<u32>), BuildError> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok((n, None));
    }
    let text = db.map(String::from_utf8_lossy).unwrap_or_default();
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 4 && f[0] == name {
            if let Ok(id) = f[2].parse() {
                return Ok((id, f[3].parse().ok()));
            }
        }
    }
    Err(BuildError::msg(format!(
        "unable to convert uid/gid chown string to host mapping: can't find {what} {name:?} in {file}"
    )))
}

/// `--chown=user[:group]` against the destination root's passwd and group files (a
/// name without a group names the group too, as dockerd reads it).
pub(crate) fn chown_ids(root: &Path, spec: &str) -> Result<(u32, u32), BuildError> {
    let (user, group) = crate::instruction::user_and_group(spec);
    let group = group.unwrap_or(user);
    let fd = berth_image::copy::open_root_dir(root).map_err(|e| BuildError::msg(e.to_string()))?;
    let read = |p: &str| {
        berth_image::copy::read_in_root(fd.as_fd(), p, 8 << 20)
            .ok()
            .flatten()
    };
    let passwd = if user.parse::<u32>().is_err() {
        read("/etc/passwd")
    } else {
        None
    };
    let groups = if group.parse::<u32>().is_err() {
        read("/etc/group")
    } else {
        None
    };
    let (uid, _) = lookup(passwd.as_deref(), user, "user", "/etc/passwd")?;
    let (gid, _) = lookup(groups.as_deref(), group, "group", "/etc/group")?;
    Ok((uid, gid))
}

/// `--chmod=0755` (octal).
pub(crate) fn chmod_bits(spec: &str) -> Result<u32, BuildError> {
    u32::from_str_radix(spec, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| BuildError::msg(format!("invalid chmod parameter: {spec:?}")))
}

/// The absolute destination: a relative one is under `workdir`; a trailing `/` (or
/// `/.`) is kept, as it means "a directory".
pub(crate) fn absolute_dest(dest: &str, workdir: &str) -> String {
    let dir_marked = dest.ends_with('/') || dest.ends_with("/.") || dest == ".";
    let joined = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("{}/{dest}", if workdir.is_empty() { "/" } else { workdir })
    };
    let mut c = clean(&joined);
    if dir_marked && !c.ends_with('/') {
        c.push('/');
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_under_workdir_and_keep_their_slash() {
        assert_eq!(absolute_dest("a", "/w"), "/w/a");
        assert_eq!(absolute_dest("a/", "/w"), "/w/a/");
        assert_eq!(absolute_dest(".", "/w"), "/w/");
        assert_eq!(absolute_dest("/x/../y", "/w"), "/y");
        assert_eq!(absolute_dest("b", ""), "/b");
    }

    #[test]
    fn sources_resolve_in_the_context_and_checksums_follow_content() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("dir/sub")).unwrap();
        fs::write(r.join("dir/sub/f"), "1").unwrap();
        fs::write(r.join("a.txt"), "a").unwrap();
        fs::write(r.join("b.txt"), "b").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", r.join("link")).unwrap();
        let s = resolve(r, &["*.txt".into()], "COPY").unwrap();
        assert_eq!(
            s.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["a.txt", "b.txt"]
        );
        let e = resolve(r, &["nosuch".into()], "COPY").unwrap_err();
        assert!(
            e.message.contains("stat nosuch: file does not exist"),
            "{e}"
        );
        let e = resolve(r, &["../x".into()], "COPY").unwrap_err();
        assert!(e.message.contains("outside the build context"), "{e}");
        // An absolute link resolves inside the context: no /etc/passwd there.
        assert!(resolve(r, &["link".into()], "COPY").is_err());
        let e = resolve(r, &["*.none".into()], "COPY").unwrap_err();
        assert!(e.message.contains("no source files"), "{e}");
        let dir = resolve(r, &["dir".into()], "COPY").unwrap();
        assert!(dir[0].is_dir);
        let c1 = checksum(&dir).unwrap();
        assert!(c1.starts_with("dir:"));
        // A touch keeps the checksum; a content change does not.
        let f = fs::File::options()
            .write(true)
            .open(r.join("dir/sub/f"))
            .unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(checksum(&dir).unwrap(), c1);
        fs::write(r.join("dir/sub/f"), "2").unwrap();
        assert_ne!(checksum(&dir).unwrap(), c1);
        assert!(checksum(&s).unwrap().starts_with("multi:"));
    }

    #[test]
    fn owners_come_from_the_roots_files() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("etc")).unwrap();
        fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0::/:/bin/sh\napp:x:1000:1001::/:/bin/sh\n",
        )
        .unwrap();
        fs::write(
            d.path().join("etc/group"),
            "root:x:0:\napp:x:1001:\nstaff:x:50:\n",
        )
        .unwrap();
        assert_eq!(chown_ids(d.path(), "app").unwrap(), (1000, 1001));
        assert_eq!(chown_ids(d.path(), "app:staff").unwrap(), (1000, 50));
        assert_eq!(chown_ids(d.path(), "7:8").unwrap(), (7, 8));
        assert_eq!(chown_ids(d.path(), "7").unwrap(), (7, 7));
        let e = chown_ids(d.path(), "nobody").unwrap_err();
        assert!(e.message.contains("can't find user \"nobody\""), "{e}");
        assert_eq!(chmod_bits("755").unwrap(), 0o755);
        assert!(chmod_bits("9").is_err());
    }
}
