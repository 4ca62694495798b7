//! `cp`: copies files and directories between a container and the local filesystem,
//! over the archive endpoints, with docker's naming rules.
//!
//! Naming, as `cp -a` would: copying `SRC` to an existing directory puts it inside
//! (`DEST/basename(SRC)`); to anything else it takes the name `DEST`. `SRC/.` copies
//! a directory's contents. `-` on either side is a tar stream on stdin/stdout.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_api_types::container::ContainerPathStat;
use berth_client::ClientError;

use crate::cli::CpArgs;
use crate::{CliError, Ctx};

/// `CONTAINER:PATH` or a local path, told apart as docker does: a path starting with
/// `/` or `.` is local, so is one without a colon.
fn split_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') || arg.starts_with('.') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) => (Some(c), p),
        None => (None, arg),
    }
}

/// Docker's `SplitPathDirEntry`: the parent and the last element of a path, where a
/// path ending in `/.` has `.` as its last element.
fn split_dir_entry(path: &str) -> (String, String) {
    let dot = path == "." || path.ends_with("/.");
    let clean = clean_path(path);
    if dot {
        return (clean, ".".into());
    }
    if clean == "/" {
        return ("/".into(), "/".into());
    }
    match clean.rsplit_once('/') {
        Some(("", base)) => ("/".into(), base.into()),
        Some((dir, base)) => (dir.into(), base.into()),
        None => (".".into(), clean),
    }
}

/// Lexical cleaning (Go's `filepath.Clean`).
fn clean_path(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !abs {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// The path names a directory by its form alone (`…/` or `…/.`).
fn asserts_dir(path: &str) -> bool {
    path.ends_with('/') || path == "." || path.ends_with("/.")
}

pub fn cp(ctx: &mut Ctx<'_>, a: &CpArgs) -> Result<i32, CliError> {
    match (split_arg(&a.src), split_arg(&a.dest)) {
        ((Some(_), _), (Some(_), _)) => {
            Err(CliError::msg("copying between containers is not supported"))
        }
        ((None, _), (None, _)) => Err(CliError::msg("must specify at least one container source")),
        ((Some(c), src), (None, dest)) => from_container(ctx, a, c, src, dest),
        ((None, src), (Some(c), dest)) => to_container(ctx, a, src, c, dest),
    }
}

// ------------------------------------------------------------------ from a container

fn from_container(
    ctx: &mut Ctx<'_>,
    a: &CpArgs,
    container: &str,
    src: &str,
    dest: &str,
) -> Result<i32, CliError> {
    let mut src_path = src.to_string();
    let mut rebase = None;
    if a.follow_link {
        let st = ctx.client.stat_path(container, src)?;
        if st.is_symlink() {
            // Copy what it leads to, under the link's own name.
            rebase = Some(split_dir_entry(src).1);
            src_path = st.link_target;
        }
    }
    let (stat, resp) = ctx.client.archive(container, &src_path)?;
    let mut body = resp.body;
    if dest == "-" {
        io::copy(&mut body, &mut ctx.out).map_err(CliError::io("writing the archive to stdout"))?;
        ctx.out
            .flush()
            .map_err(CliError::io("writing the archive to stdout"))?;
        return Ok(0);
    }
    // Entries are named after the path fetched; with -L they take the link's name.
    let fetched_base = split_dir_entry(&src_path).1;
    let src_base = rebase.clone().unwrap_or_else(|| fetched_base.clone());
    let dst = local_dest(dest)?;
    let (dir, renames) = prepare(&src_base, stat.is_dir(), &dst)?;
    let renames = match (renames, rebase) {
        (Some((_, new)), _) | (None, Some(new)) => Some((fetched_base, new)),
        (None, None) => None,
    };
    let opts = Unpack {
        keep_owners: a.archive,
    };
    let copied = unpack(&mut body, &dir, renames.as_ref(), &opts)?;
    report(ctx, a, copied, dest);
    Ok(0)
}

/// What the local destination is.
struct Dest {
    path: String,
    exists: bool,
    is_dir: bool,
}

/// Docker's `CopyInfoDestinationPath`: a destination that is a symlink is followed.
fn local_dest(dest: &str) -> Result<Dest, CliError> {
    match fs::metadata(dest) {
        Ok(md) => Ok(Dest {
            path: dest.to_string(),
            exists: true,
            is_dir: md.is_dir(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if asserts_dir(dest) {
                return Err(CliError::msg("no such directory"));
            }
            // The parent must exist.
            let (parent, _) = split_dir_entry(dest);
            match fs::metadata(&parent) {
                Ok(md) if md.is_dir() => Ok(Dest {
                    path: dest.to_string(),
                    exists: false,
                    is_dir: false,
                }),
                _ => Err(CliError::msg(format!(
                    "stat {parent}: no such file or directory"
                ))),
            }
        }
        Err(e) => Err(CliError::msg(format!("stat {dest}: {e}"))),
    }
}

/// Docker's `PrepareArchiveCopy`: where to extract, and which top name to rename.
fn prepare(
    src_base: &str,
    src_is_dir: bool,
    dst: &Dest,
) -> Result<(PathBuf, Option<(String, String)>), CliError> {
    let (dst_dir, dst_base) = split_dir_entry(&dst.path);
    if dst.exists && dst.is_dir {
        return Ok((PathBuf::from(&dst.path), None));
    }
    if dst.exists && src_is_dir {
        return Err(CliError::msg("cannot copy directory"));
    }
    if !dst.exists && !src_is_dir && asserts_dir(&dst.path) {
        return Err(CliError::msg("no such directory"));
    }
    Ok((
        PathBuf::from(dst_dir),
        Some((src_base.to_string(), dst_base)),
    ))
}

/// `name` with its top element `old` replaced by `new` (Docker's RebaseArchiveEntries).
fn rebase(name: &[u8], old: &str, new: &str) -> Vec<u8> {
    let old = old.as_bytes();
    if old == b"/" {
        let rest: &[u8] = trim_leading_slashes(name);
        let mut out = new.as_bytes().to_vec();
        if !rest.is_empty() {
            out.push(b'/');
            out.extend_from_slice(rest);
        }
        return out;
    }
    if name == old || (name.starts_with(old) && name.get(old.len()) == Some(&b'/')) {
        let mut out = new.as_bytes().to_vec();
        out.extend_from_slice(&name[old.len()..]);
        return out;
    }
    name.to_vec()
}

fn trim_leading_slashes(mut b: &[u8]) -> &[u8] {
    while let Some(rest) = b.strip_prefix(b"/") {
        b = rest;
    }
    b
}

struct Unpack {
    /// `-a`: give entries the archive's owners (as root only).
    keep_owners: bool,
}

/// Extracts a tar into `dir`: names cleaned (`..` refused, a leading `/` dropped),
/// never through a symlink (a path whose parent is a link is refused), an existing
/// directory never replaced by a non-directory or the other way round. Returns the
/// bytes of file data written.
fn unpack(
    r: &mut dyn Read,
    dir: &Path,
    renames: Option<&(String, String)>,
    opts: &Unpack,
) -> Result<u64, CliError> {
    let mut archive = tar::Archive::new(r);
    let mut dirs: Vec<(PathBuf, u32, u64)> = Vec::new();
    let mut copied = 0u64;
    let entries = archive
        .entries()
        .map_err(CliError::io("reading the archive"))?;
    let root_uid = rustix::process::geteuid().is_root();
    for entry in entries {
        let mut e = entry.map_err(CliError::io("reading the archive"))?;
        let raw = e.path_bytes().into_owned();
        let name = match renames {
            Some((old, new)) => rebase(&raw, old, new),
            None => raw.clone(),
        };
        let rel = safe_rel(&name)?;
        let target = dir.join(&rel);
        if rel.as_os_str().is_empty() {
            // The destination directory itself: its mode and time only.
            if e.header().entry_type().is_dir() {
                let h = e.header();
                dirs.push((target, h.mode().unwrap_or(0o755), h.mtime().unwrap_or(0)));
            }
            continue;
        }
        no_links_in(dir, &rel)?;
        let h = e.header().clone();
        let et = h.entry_type();
        let existing = fs::symlink_metadata(&target).ok();
        match (&existing, et.is_dir()) {
            (Some(md), false) if md.is_dir() => {
                return Err(CliError::msg(format!(
                    "cannot overwrite directory {:?} with non-directory",
                    target.display().to_string()
                )))
            }
            (Some(md), true) if !md.is_dir() => {
                return Err(CliError::msg(format!(
                    "cannot overwrite non-directory {:?} with directory",
                    target.display().to_string()
                )))
            }
            (Some(_), false) => {
                fs::remove_file(&target).map_err(io_at("removing", &target))?;
            }
            _ => {}
        }
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let mtime = h.mtime().unwrap_or(0);
        if et.is_dir() {
            if existing.is_none() {
                fs::create_dir(&target).map_err(io_at("creating", &target))?;
            }
            dirs.push((target.clone(), mode, mtime));
        } else if et.is_file() || et.is_contiguous() {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&target)
                .map_err(io_at("creating", &target))?;
            copied += io::copy(&mut e, &mut f).map_err(io_at("writing", &target))?;
            f.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(io_at("setting the mode of", &target))?;
        } else if et.is_symlink() {
            let link = e.link_name_bytes().ok_or_else(|| {
                CliError::msg(format!("{}: symlink without a target", lossy(&raw)))
            })?;
            if climbs_out(&rel, &link) {
                // As the docker CLI does: a relative link must not lead above the
                // destination (an absolute one is read as inside it).
                return Err(CliError::msg(format!(
                    "invalid symlink {:?} -> {:?}",
                    target.display().to_string(),
                    lossy(&link)
                )));
            }
            std::os::unix::fs::symlink(OsString::from_vec(link.into_owned()), &target)
                .map_err(io_at("creating", &target))?;
        } else if et.is_hard_link() {
            let link = e.link_name_bytes().ok_or_else(|| {
                CliError::msg(format!("{}: hard link without a target", lossy(&raw)))
            })?;
            let link = match renames {
                Some((old, new)) => rebase(&link, old, new),
                None => link.into_owned(),
            };
            let to = dir.join(safe_rel(&link)?);
            fs::hard_link(&to, &target).map_err(io_at("linking", &target))?;
        } else if et.is_fifo() || et.is_character_special() || et.is_block_special() {
            let (ft, dev) = if et.is_fifo() {
                (rustix::fs::FileType::Fifo, 0)
            } else {
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                let ft = if et.is_character_special() {
                    rustix::fs::FileType::CharacterDevice
                } else {
                    rustix::fs::FileType::BlockDevice
                };
                (ft, rustix::fs::makedev(major, minor))
            };
            match rustix::fs::mknodat(
                rustix::fs::CWD,
                &target,
                ft,
                rustix::fs::Mode::from_raw_mode(mode),
                dev,
            ) {
                Ok(()) => {}
                // Devices need privileges; like docker, skip what cannot be made.
                Err(rustix::io::Errno::PERM) if !et.is_fifo() => continue,
                Err(e) => return Err(io_at("creating", &target)(e.into())),
            }
        } else {
            continue;
        }
        if opts.keep_owners && root_uid {
            let uid = h.uid().ok().and_then(|u| u32::try_from(u).ok());
            let gid = h.gid().ok().and_then(|g| u32::try_from(g).ok());
            std::os::unix::fs::lchown(&target, uid, gid).map_err(io_at("chown", &target))?;
        }
        if !et.is_dir() {
            set_mtime(&target, mtime, et.is_symlink())?;
        }
    }
    // Directories last, deepest first: their children changed their times.
    for (d, mode, mtime) in dirs.iter().rev() {
        fs::set_permissions(d, fs::Permissions::from_mode(*mode))
            .map_err(io_at("setting the mode of", d))?;
        set_mtime(d, *mtime, false)?;
    }
    Ok(copied)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn io_at<'p>(what: &'static str, p: &'p Path) -> impl FnOnce(io::Error) -> CliError + 'p {
    move |e| CliError::msg(format!("{what} {}: {e}", p.display()))
}

/// A tar name as a relative path: `/` and `.` dropped, `..` refused.
fn safe_rel(name: &[u8]) -> Result<PathBuf, CliError> {
    let mut out = PathBuf::new();
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                return Err(CliError::msg(format!(
                    "archive entry {:?} climbs out of the destination",
                    lossy(name)
                )))
            }
            c => out.push(std::ffi::OsStr::from_bytes(c)),
        }
    }
    Ok(out)
}

/// Whether the symlink at `rel` (relative to the destination) with target `link`
/// leads above the destination, read lexically from the link's directory.
fn climbs_out(rel: &Path, link: &[u8]) -> bool {
    if link.starts_with(b"/") {
        return false;
    }
    let mut depth = rel.components().count().saturating_sub(1) as i64;
    for c in link.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

/// Refuses a path whose parents below `dir` include a symlink (an archive entry must
/// never be written through one).
fn no_links_in(dir: &Path, rel: &Path) -> Result<(), CliError> {
    let mut p = dir.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    for c in &comps[..comps.len().saturating_sub(1)] {
        p.push(c);
        match fs::symlink_metadata(&p) {
            Ok(md) if md.file_type().is_symlink() => {
                return Err(CliError::msg(format!(
                    "refusing to write through the symlink {}",
                    p.display()
                )))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&p).map_err(io_at("creating", &p))?;
            }
            Err(e) => return Err(io_at("stat", &p)(e)),
        }
    }
    Ok(())
}

fn set_mtime(p: &Path, secs: u64, symlink: bool) -> Result<(), CliError> {
    let t = rustix::fs::Timespec {
        tv_sec: secs as i64,
        tv_nsec: 0,
    };
    let flags = if symlink {
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW
    } else {
        rustix::fs::AtFlags::empty()
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        },
        flags,
    )
    .map_err(|e| io_at("setting the time of", p)(e.into()))
}

// -------------------------------------------------------------------- to a container

fn to_container(
    ctx: &mut Ctx<'_>,
    a: &CpArgs,
    src: &str,
    container: &str,
    dest: &str,
) -> Result<i32, CliError> {
    // What the destination is; a symlink is followed once.
    let mut dst_path = dest.to_string();
    let mut stat = stat_or_absent(ctx, container, dest)?;
    if let Some(st) = stat.as_ref().filter(|s| s.is_symlink()) {
        let target = if st.link_target.starts_with('/') {
            st.link_target.clone()
        } else {
            let (parent, _) = split_dir_entry(dest);
            format!("{parent}/{}", st.link_target)
        };
        dst_path = target;
        stat = stat_or_absent(ctx, container, &dst_path)?;
    }
    if let Some(st) = &stat {
        let kind = st.mode & berth_api_types::container::go_mode::TYPE;
        if kind != 0 && !st.is_dir() {
            return Err(CliError::msg(format!(
                "destination \"{container}:{dest}\" must be a directory or a regular file"
            )));
        }
    }
    let dst = Dest {
        path: dst_path.clone(),
        exists: stat.is_some(),
        is_dir: stat.as_ref().is_some_and(ContainerPathStat::is_dir),
    };

    if src == "-" {
        if !dst.is_dir {
            return Err(CliError::msg(format!(
                "destination \"{container}:{dest}\" must be a directory"
            )));
        }
        let mut stdin = ctx
            .stdin
            .take()
            .ok_or_else(|| CliError::msg("standard input is not available"))?;
        ctx.client
            .extract(container, &dst.path, true, a.archive, &mut stdin)?;
        return Ok(0);
    }

    // The source, its top-level symlink followed with -L.
    let md = if a.follow_link {
        fs::metadata(src)
    } else {
        fs::symlink_metadata(src)
    }
    .map_err(|e| CliError::msg(format!("lstat {src}: {}", io_text(&e))))?;
    let src_base = split_dir_entry(src).1;
    let (put_dir, renames) = prepare(&src_base, md.is_dir(), &dst)?;
    let top = match &renames {
        Some((_, new)) => new.clone(),
        None => src_base.clone(),
    };
    let real_src = if a.follow_link {
        fs::canonicalize(src).map_err(|e| CliError::msg(format!("lstat {src}: {}", io_text(&e))))?
    } else {
        PathBuf::from(src)
    };

    let (mut reader, writer) = io::pipe().map_err(CliError::io("making a pipe"))?;
    let producer = std::thread::spawn(move || -> Result<u64, CliError> {
        let mut b = tar::Builder::new(writer);
        b.follow_symlinks(false);
        let n = add_local(&mut b, &real_src, Path::new(&top))?;
        b.finish().map_err(CliError::io("writing the archive"))?;
        Ok(n)
    });
    let put_path = put_dir.to_string_lossy().into_owned();
    let sent = ctx
        .client
        .extract(container, &put_path, true, a.archive, &mut reader);
    drop(reader);
    let produced = producer
        .join()
        .map_err(|_| CliError::msg("the archive writer panicked"))?;
    sent?;
    let copied = produced?;
    report(ctx, a, copied, &format!("{container}:{dest}"));
    Ok(0)
}

/// `stat` of a container path, `None` when it is absent (or otherwise unreadable: the
/// copy will then tell); a missing container is an error.
fn stat_or_absent(
    ctx: &mut Ctx<'_>,
    container: &str,
    path: &str,
) -> Result<Option<ContainerPathStat>, CliError> {
    match ctx.client.stat_path(container, path) {
        Ok(st) => Ok(Some(st)),
        Err(ClientError::Api { status: 404, .. }) => {
            // HEAD errors have no body: tell a missing container from a missing path.
            ctx.client.inspect_container(container, false)?;
            Ok(None)
        }
        Err(ClientError::Api { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn io_text(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        _ => e.to_string(),
    }
}

/// Appends `src` as `name` (a directory with everything below it). Returns the bytes
/// of file data.
fn add_local<W: Write>(b: &mut tar::Builder<W>, src: &Path, name: &Path) -> Result<u64, CliError> {
    let md = fs::symlink_metadata(src).map_err(io_at("stat", src))?;
    let mut n = 0;
    if md.is_dir() {
        b.append_dir(name, src).map_err(io_at("archiving", src))?;
        let mut children: Vec<_> = fs::read_dir(src)
            .map_err(io_at("reading", src))?
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        children.sort();
        for c in children {
            n += add_local(b, &src.join(&c), &name.join(&c))?;
        }
    } else if md.file_type().is_socket() {
        // tar has no sockets
    } else {
        if md.is_file() {
            n = md.size();
        }
        b.append_path_with_name(src, name)
            .map_err(io_at("archiving", src))?;
    }
    Ok(n)
}

/// `Successfully copied 2.05kB to DEST` on a terminal, unless -q.
fn report(ctx: &mut Ctx<'_>, a: &CpArgs, bytes: u64, dest: &str) {
    use std::io::IsTerminal;
    if a.quiet || !io::stderr().is_terminal() {
        return;
    }
    let _ = writeln!(
        ctx.err,
        "Successfully copied {} to {dest}",
        crate::units::human_size(bytes as f64)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_as_docker_does() {
        assert_eq!(split_arg("c1:/d"), (Some("c1"), "/d"));
        assert_eq!(split_arg("/tmp/a:b"), (None, "/tmp/a:b"));
        assert_eq!(split_arg("./c1:/d"), (None, "./c1:/d"));
        assert_eq!(split_arg("file"), (None, "file"));
        assert_eq!(split_arg("c1:"), (Some("c1"), ""));
    }

    #[test]
    fn dir_entries_split_as_docker_does() {
        assert_eq!(split_dir_entry("/d/a.txt"), ("/d".into(), "a.txt".into()));
        assert_eq!(split_dir_entry("/d/"), ("/".into(), "d".into()));
        assert_eq!(split_dir_entry("/d/."), ("/d".into(), ".".into()));
        assert_eq!(split_dir_entry("/"), ("/".into(), "/".into()));
        assert_eq!(split_dir_entry("out/x"), ("out".into(), "x".into()));
        assert_eq!(split_dir_entry("x"), (".".into(), "x".into()));
    }

    #[test]
    fn rebasing_renames_only_the_top_element() {
        assert_eq!(rebase(b"d/", "d", "new"), b"new/");
        assert_eq!(rebase(b"d/a", "d", "new"), b"new/a");
        assert_eq!(rebase(b"dd/a", "d", "new"), b"dd/a");
        assert_eq!(rebase(b"./a", ".", "new"), b"new/a");
        assert_eq!(rebase(b"/bin/sh", "/", "root"), b"root/bin/sh");
        assert_eq!(rebase(b"/", "/", "root"), b"root");
    }

    #[test]
    fn prepare_follows_docker_rules() {
        let dest = |path: &str, exists, is_dir| Dest {
            path: path.into(),
            exists,
            is_dir,
        };
        let (d, r) = prepare("a", false, &dest("/out", true, true)).unwrap();
        assert_eq!((d, r), (PathBuf::from("/out"), None));
        let (d, r) = prepare("a", false, &dest("/out/b", true, false)).unwrap();
        assert_eq!(
            (d, r),
            (PathBuf::from("/out"), Some(("a".into(), "b".into())))
        );
        assert!(prepare("d", true, &dest("/out/f", true, false)).is_err());
        let (d, r) = prepare("d", true, &dest("/out/new", false, false)).unwrap();
        assert_eq!(
            (d, r),
            (PathBuf::from("/out"), Some(("d".into(), "new".into())))
        );
        assert!(prepare("a", false, &dest("/out/new/", false, false)).is_err());
    }

    fn symlink_entry(b: &mut tar::Builder<Vec<u8>>, name: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, name, target).unwrap();
    }

    /// Unpacks the archive into `dir`, which must fail; its message.
    fn unpack_err(b: tar::Builder<Vec<u8>>, dir: &Path) -> String {
        let tar = b.into_inner().unwrap();
        unpack(&mut &tar[..], dir, None, &Unpack { keep_owners: false })
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn links_leading_above_the_destination_are_refused() {
        assert!(!climbs_out(Path::new("d/rel"), b"a.txt"));
        assert!(!climbs_out(Path::new("d/sub/x"), b"../a.txt"));
        assert!(!climbs_out(Path::new("d/abs"), b"/etc/passwd"));
        assert!(climbs_out(Path::new("d/up"), b"../.."));
        assert!(climbs_out(Path::new("top"), b".."));
        assert!(climbs_out(Path::new("d/x"), b"sub/../../../etc"));
        let tmp = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        symlink_entry(&mut b, "d/up", "../../../..");
        let e = unpack_err(b, tmp.path());
        assert!(e.contains("invalid symlink"), "{e}");
        assert!(fs::symlink_metadata(tmp.path().join("d/up")).is_err());
    }

    #[test]
    fn unpack_refuses_climbing_and_links() {
        let tmp = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        symlink_entry(&mut b, "l", "/etc");
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "l/evil", &b"x"[..]).unwrap();
        let e = unpack_err(b, tmp.path());
        assert!(e.contains("symlink"), "{e}");
        assert!(!Path::new("/etc/evil").exists());
        assert!(safe_rel(b"../x").is_err());
        assert_eq!(safe_rel(b"/a/./b").unwrap(), PathBuf::from("a/b"));
    }
}
