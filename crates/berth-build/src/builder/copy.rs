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
    /// Its path relative to the root, as the checksum names it (`dir1`, `a/b.txt`).
    pub rel: String,
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
    let rel = resolved.trim_start_matches('/').to_string();
    Ok(Source {
        host,
        rel,
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

/// Where sources come from, for their checksum: the build context (entries as the
/// uploaded tar had them: permission bits only, owned by 0:0 without names) or another
/// image's filesystem (the file's own mode with its type bits, uid and gid, `root` as
/// the name of 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Context,
    Image,
}

/// The content checksum of the sources, as dockerd's classic builder computes it:
/// `file:<h>` for one file, `dir:<h>` for one directory, `multi:<h>` for several,
/// where each entry's hash is the tarsum v1 of its header (name, mode, owners, size,
/// type, link target — not its time) and contents. A changed file or mode changes it;
/// a touch does not. It is what the history shows and part of the cache key.
pub(crate) fn checksum(sources: &[Source], origin: Origin) -> Result<String, BuildError> {
    let err = |s: &Source, e: io::Error| {
        BuildError::msg(format!("checksum of {}: {e}", s.host.display()))
    };
    let mut parts = Vec::new();
    for s in sources {
        let part = if s.is_dir {
            let mut hashes = Vec::new();
            // The directory itself, unless it is the root (`.`).
            if !s.rel.is_empty() {
                hashes.push(entry_hash(&s.host, &s.rel, origin).map_err(|e| err(s, e))?);
            }
            dir_hashes(&s.host, &s.rel, origin, &mut hashes).map_err(|e| err(s, e))?;
            hashes.sort();
            format!("dir:{}", hex(&Sha256::digest(hashes.join(",").as_bytes())))
        } else {
            format!(
                "file:{}",
                entry_hash(&s.host, &s.rel, origin).map_err(|e| err(s, e))?
            )
        };
        parts.push(part);
    }
    Ok(match parts.as_slice() {
        [one] => one.clone(),
        _ => format!("multi:{}", hex(&Sha256::digest(parts.join(",").as_bytes()))),
    })
}

fn dir_hashes(dir: &Path, rel: &str, origin: Origin, out: &mut Vec<String>) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir)?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for n in names {
        let child_rel = if rel.is_empty() {
            n.to_string_lossy().into_owned()
        } else {
            format!("{rel}/{}", n.to_string_lossy())
        };
        let p = dir.join(&n);
        out.push(entry_hash(&p, &child_rel, origin)?);
        if fs::symlink_metadata(&p)?.is_dir() {
            dir_hashes(&p, &child_rel, origin, out)?;
        }
    }
    Ok(())
}

/// One entry's tarsum v1 hash (hex).
fn entry_hash(path: &Path, rel: &str, origin: Origin) -> io::Result<String> {
    let meta = fs::symlink_metadata(path)?;
    let ft = meta.file_type();
    let (typeflag, size, link) = if ft.is_dir() {
        ('5', 0, String::new())
    } else if ft.is_symlink() {
        ('2', 0, fs::read_link(path)?.to_string_lossy().into_owned())
    } else {
        ('0', meta.len(), String::new())
    };
    let name = if ft.is_dir() {
        format!("{rel}/")
    } else {
        rel.to_string()
    };
    let (mode, uid, gid, uname, gname) = match origin {
        Origin::Context => (meta.permissions().mode() & 0o7777, 0, 0, "", ""),
        Origin::Image => {
            let root = |id: u32| if id == 0 { "root" } else { "" };
            (
                meta.mode(),
                meta.uid(),
                meta.gid(),
                root(meta.uid()),
                root(meta.gid()),
            )
        }
    };
    let mut h = Sha256::new();
    h.update(format!(
        "name{name}mode{mode}uid{uid}gid{gid}size{size}typeflag{typeflag}linkname{link}uname{uname}gname{gname}devmajor0devminor0"
    ));
    if typeflag == '0' {
        let mut f = fs::File::open(path)?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(hex(&h.finalize()))
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
        let c1 = checksum(&dir, Origin::Context).unwrap();
        assert!(c1.starts_with("dir:"));
        // A touch keeps the checksum; a content change does not.
        let f = fs::File::options()
            .write(true)
            .open(r.join("dir/sub/f"))
            .unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(checksum(&dir, Origin::Context).unwrap(), c1);
        fs::write(r.join("dir/sub/f"), "2").unwrap();
        assert_ne!(checksum(&dir, Origin::Context).unwrap(), c1);
        assert!(checksum(&s, Origin::Context).unwrap().starts_with("multi:"));
    }

    /// The hashes dockerd 20.10 wrote into the history for the recorded context
    /// (tests/dockerd-classic/run-copy).
    #[test]
    fn checksums_are_dockerds() {
        let ctx =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dockerd-classic/run-copy/context");
        // A checkout's modes: what the CLI would send.
        for (p, m) in [
            ("file1", 0o644),
            ("file2", 0o644),
            ("dir1", 0o755),
            ("dir1/a", 0o644),
            ("dir1/exec.sh", 0o755),
            ("dir1/sub", 0o755),
        ] {
            fs::set_permissions(ctx.join(p), fs::Permissions::from_mode(m)).unwrap();
        }
        let sum = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            checksum(&resolve(&ctx, &names, "COPY").unwrap(), Origin::Context).unwrap()
        };
        assert_eq!(
            sum(&["file1"]),
            "file:e7e7ce04d0216788bf729968f0586952ab77516bf966aa8df0f3443391622196"
        );
        assert_eq!(
            sum(&["file2"]),
            "file:1fb0a07a625b1dae2323596705c9f6a079b80ee906a4e929a66eef09cefa9c3a"
        );
        assert_eq!(
            sum(&["file1", "file2"]),
            "multi:a83a64a15b5755e94f2a79e3c05e64fe4e8d1addc2463ade844a4f20f20a76fb"
        );
        assert_eq!(
            sum(&["dir1"]),
            "dir:4a46621f2beedae298b05846ba285e80af6e594e22a9faf2b289dfd8ccce96cf"
        );
        assert_eq!(
            sum(&["local.tar"]),
            "file:77e93edbeb83b10996c10387d7d3b69eb193be8005bfec3af8a5f1dc05558dc4"
        );
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
