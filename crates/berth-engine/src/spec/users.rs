//! Who the process runs as: `User` (`user[:group]`) and `GroupAdd` resolved to ids
//! against the container's own /etc/passwd and /etc/group, read without ever
//! leaving its rootfs.

use std::io;
use std::path::Path;

use oci_spec::runtime::User;

use super::{invalid, SpecError};

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Read `rel` (e.g. `etc/passwd`) inside `rootfs`, resolving every symlink as if
/// `rootfs` were `/` so nothing outside it is ever read. A missing file (or one that is
/// no regular file) reads as empty, as in runc.
fn read_in_root(rootfs: &Path, rel: &str) -> Result<String, SpecError> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let io_err = |e: rustix::io::Errno, p: &Path| SpecError::Io {
        path: p.to_path_buf(),
        source: e.into(),
    };
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err(e, rootfs))?;
    let path = rootfs.join(rel);
    let fd = match rustix::fs::openat2(
        &root,
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP) => {
            return Ok(String::new())
        }
        Err(e) => return Err(io_err(e, &path)),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| io_err(e, &path))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Ok(String::new());
    }
    let mut f = std::fs::File::from(fd);
    let mut s = String::new();
    io::Read::read_to_string(&mut f, &mut s).map_err(|e| SpecError::Io {
        path: path.clone(),
        source: e,
    })?;
    Ok(s)
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn numeric_id(s: &str, field: &'static str) -> Result<Option<u32>, SpecError> {
    match s.parse::<i64>() {
        Ok(n) if (0..=i64::from(i32::MAX)).contains(&n) => Ok(Some(n as u32)),
        Ok(n) => Err(invalid(field, n, "ids must be between 0 and 2147483647")),
        Err(_) => Ok(None),
    }
}

/// `user[:group]` → uid, gid and supplementary groups, as runc's GetExecUser and
/// dockerd's getUser do; `group_add` entries are appended to the groups.
pub(super) fn resolve_user(
    rootfs: &Path,
    spec: &str,
    group_add: &[String],
) -> Result<User, SpecError> {
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = parse_passwd(&read_in_root(rootfs, "etc/passwd")?);
    let groups = parse_group(&read_in_root(rootfs, "etc/group")?);

    // No user means root, still looked up for its supplementary groups (runc does).
    let user_arg = if user_arg.is_empty() { "0" } else { user_arg };
    let num = numeric_id(user_arg, "Config.User")?;
    let (uid, mut gid, name) = match passwd
        .iter()
        .find(|p| p.name == user_arg || Some(p.uid) == num)
    {
        Some(p) => (p.uid, p.gid, Some(p.name.clone())),
        None => match num {
            Some(n) => (n, 0, None),
            None => return Err(SpecError::UnknownUser(user_arg.to_string())),
        },
    };
    let mut additional = Vec::new();
    match group_arg {
        Some(g) if !g.is_empty() => {
            let num = numeric_id(g, "Config.User")?;
            match groups.iter().find(|e| e.name == g || Some(e.gid) == num) {
                Some(e) => gid = e.gid,
                None => match num {
                    Some(n) => gid = n,
                    None => return Err(SpecError::UnknownGroup(g.to_string())),
                },
            }
        }
        _ => {
            // Supplementary groups only in the implicit form (runc).
            if let Some(name) = &name {
                additional.extend(
                    groups
                        .iter()
                        .filter(|g| g.members.contains(name))
                        .map(|g| g.gid),
                );
            }
        }
    }
    for g in group_add {
        let num = numeric_id(g, "HostConfig.GroupAdd")?;
        let found = groups.iter().find(|e| e.name == *g || Some(e.gid) == num);
        let gid = match (found, num) {
            (Some(e), _) => e.gid,
            (None, Some(n)) => n,
            (None, None) => return Err(SpecError::UnknownGroup(g.clone())),
        };
        if !additional.contains(&gid) {
            additional.push(gid);
        }
    }
    let mut user = User::default();
    user.set_uid(uid);
    user.set_gid(gid);
    user.set_umask(None);
    user.set_additional_gids((!additional.is_empty()).then_some(additional));
    Ok(user)
}
