//! Mounts: Docker's default ones (/proc, /dev, /sys, …) and the request's binds,
//! volumes and `--tmpfs` mounts.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;

use super::{invalid, SpecError};

pub(super) fn mount(dest: &str, typ: &str, source: impl AsRef<Path>, opts: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(source.as_ref().to_path_buf()));
    m.set_options(Some(opts.iter().map(|s| s.to_string()).collect()));
    m
}

/// Docker's default mounts, /dev/shm apart (it depends on the IPC mode).
pub(super) fn default_mounts(privileged: bool) -> Vec<Mount> {
    let sys_ro: &[&str] = if privileged {
        &["nosuid", "noexec", "nodev"]
    } else {
        &["nosuid", "noexec", "nodev", "ro"]
    };
    let cgroup_opts: &[&str] = if privileged {
        &["nosuid", "noexec", "nodev"]
    } else {
        &["ro", "nosuid", "noexec", "nodev"]
    };
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount("/sys", "sysfs", "sysfs", sys_ro),
        mount("/sys/fs/cgroup", "cgroup", "cgroup", cgroup_opts),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
    ]
}

/// Mutually exclusive tmpfs flags: a later one of a pair replaces an earlier one.
const TMPFS_FLAG_PAIRS: &[(&str, &str)] = &[
    ("ro", "rw"),
    ("exec", "noexec"),
    ("suid", "nosuid"),
    ("dev", "nodev"),
    ("atime", "noatime"),
    ("diratime", "nodiratime"),
    ("relatime", "norelatime"),
    ("strictatime", "nostrictatime"),
    ("sync", "async"),
    ("mand", "nomand"),
    ("dirsync", "dirsync"),
];
const TMPFS_PROPAGATION: &[&str] = &[
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
];
const TMPFS_KEYS: &[&str] = &[
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "mpol",
    "huge",
];

/// A bind or volume (`rbind` unless non-recursive, `rprivate` unless told, `ro` and,
/// where the kernel can, `rro`) or a tmpfs of the request.
pub(super) fn user_mount(m: &UserMount, recursive_readonly: bool) -> Result<Mount, SpecError> {
    let Some(src) = &m.source else {
        return tmpfs_mount(&m.destination, &m.tmpfs_options);
    };
    let mut opts = vec![if m.recursive { "rbind" } else { "bind" }];
    opts.push(if m.propagation.is_empty() {
        "rprivate"
    } else {
        &m.propagation
    });
    if m.read_only {
        opts.push("ro");
        if m.recursive && recursive_readonly {
            opts.push("rro");
        }
    }
    Ok(mount(&m.destination, "bind", src, &opts))
}

/// `--tmpfs /dst:opts`: Docker starts from `noexec,nosuid,nodev,rprivate`, appends the
/// user's options and merges them, a later option winning over an earlier one.
pub(super) fn tmpfs_mount(dest: &str, data: &str) -> Result<Mount, SpecError> {
    if !dest.starts_with('/') || dest == "/" {
        return Err(invalid(
            "HostConfig.Tmpfs",
            dest,
            "the destination must be an absolute path other than /",
        ));
    }
    let mut merged: Vec<String> = Vec::new();
    let user = data.split(',').filter(|s| !s.is_empty());
    for opt in ["noexec", "nosuid", "nodev", "rprivate"]
        .into_iter()
        .chain(user)
    {
        let group: Vec<&str> = if let Some((k, _)) = opt.split_once('=') {
            if !TMPFS_KEYS.contains(&k) {
                return Err(invalid(
                    "HostConfig.Tmpfs",
                    format!("{dest}:{data}"),
                    format!("invalid tmpfs option {opt:?}"),
                ));
            }
            merged.retain(|m| m.split_once('=').is_none_or(|(mk, _)| mk != k));
            merged.push(opt.to_string());
            continue;
        } else if let Some((a, b)) = TMPFS_FLAG_PAIRS
            .iter()
            .find(|(a, b)| *a == opt || *b == opt)
        {
            vec![a, b]
        } else if TMPFS_PROPAGATION.contains(&opt) {
            TMPFS_PROPAGATION.to_vec()
        } else {
            return Err(invalid(
                "HostConfig.Tmpfs",
                format!("{dest}:{data}"),
                format!("invalid tmpfs option {opt:?}"),
            ));
        };
        merged.retain(|m| !group.contains(&m.as_str()));
        merged.push(opt.to_string());
    }
    let opts: Vec<&str> = merged.iter().map(String::as_str).collect();
    Ok(mount(dest, "tmpfs", "tmpfs", &opts))
}

/// A bind, volume or tmpfs mount of the request, resolved on the host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserMount {
    /// Absolute, cleaned.
    pub destination: String,
    /// The host directory or file bound there; None for a tmpfs.
    pub source: Option<PathBuf>,
    /// tmpfs options (`size=64m,mode=1777,ro`).
    pub tmpfs_options: String,
    pub read_only: bool,
    /// `rprivate` (the default), `rshared`, `rslave`, …
    pub propagation: String,
    /// With the source's submounts (`rbind`, the default).
    pub recursive: bool,
}
