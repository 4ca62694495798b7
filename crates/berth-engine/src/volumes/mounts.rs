//! A container's mount points, from what its create request says: `Binds` (`-v`),
//! `Mounts` (`--mount`), `VolumesFrom` and `Config.Volumes` (the image's `VOLUME`s and
//! `-v /path`), checked and combined as dockerd does. Pure: volumes are created and
//! referenced by the caller.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use berth_api_types::container::{HostConfig, Mount};
use serde::{Deserialize, Serialize};

use crate::api::{EngineError, EngineResult};

/// One mount point of a container, as its record keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountRecord {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// The volume's name (volumes only).
    pub name: String,
    /// On the host: the bind's source or the volume's data directory; empty for tmpfs.
    pub source: String,
    pub destination: String,
    /// `local` for volumes.
    pub driver: String,
    /// As given (`ro`, `ro,rshared`, …); `z` for a volume of the local driver given
    /// without one, as dockerd shows it.
    pub mode: String,
    pub rw: bool,
    /// Binds: `rprivate` unless given.
    pub propagation: String,
    /// Fill the volume from the image at its first mount, while it is empty.
    pub copy_data: bool,
    /// A volume nobody named: `rm -v` and `--rm` remove it with the container.
    pub anonymous: bool,
    /// A `-v` bind: a missing host directory is created at start (`--mount` refuses).
    pub create_source: bool,
    /// Bind without the source's submounts (`bind-recursive=disabled`).
    pub non_recursive: bool,
    /// tmpfs: its options (`size=64m,mode=1777`).
    pub tmpfs_options: String,
}

pub const BIND: &str = "bind";
pub const VOLUME: &str = "volume";
pub const TMPFS: &str = "tmpfs";

/// A mount point to be: a volume's name is empty for a new anonymous volume, and the
/// options and labels are those of a volume created on use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Planned {
    pub mount: MountRecord,
    pub volume_options: BTreeMap<String, String>,
    pub volume_labels: BTreeMap<String, String>,
    /// Already resolved (from `VolumesFrom`): nothing to create or copy.
    pub inherited: bool,
    /// An anonymous volume for a `Config.Volumes` destination.
    pub from_config: bool,
}

fn bad(m: impl Into<String>) -> EngineError {
    EngineError::BadParameter(m.into())
}

/// `filepath.Clean` for absolute container paths.
pub fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().unwrap_or("")),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    format!("/{}", parts.join("/"))
}

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// What a `-v` mode string (`ro,Z,rshared,nocopy`) says.
#[derive(Debug, Default, PartialEq, Eq)]
struct Mode {
    read_only: bool,
    propagation: Option<String>,
    nocopy: bool,
}

/// Docker's mode rules: comma-separated, at most one of each kind (rw/ro, z/Z,
/// propagation, nocopy, consistency). None when invalid.
fn parse_mode(mode: &str) -> Option<Mode> {
    let mut m = Mode::default();
    if mode.is_empty() {
        return Some(m);
    }
    let (mut rw, mut label, mut prop, mut copy, mut cons) = (0, 0, 0, 0, 0);
    for o in mode.split(',') {
        match o {
            "rw" | "ro" => {
                rw += 1;
                m.read_only = o == "ro";
            }
            "z" | "Z" => label += 1,
            "nocopy" => {
                copy += 1;
                m.nocopy = true;
            }
            "consistent" | "cached" | "delegated" => cons += 1,
            p if PROPAGATIONS.contains(&p) => {
                prop += 1;
                m.propagation = Some(p.to_string());
            }
            _ => return None,
        }
    }
    (rw <= 1 && label <= 1 && prop <= 1 && copy <= 1 && cons <= 1).then_some(m)
}

fn mount_config_error(kind: &str, what: impl std::fmt::Display) -> String {
    format!("invalid mount config for type \"{kind}\": {what}")
}

fn check_destination(kind: &str, dst: &str) -> Result<(), String> {
    if dst.is_empty() {
        return Err(mount_config_error(kind, "field Target must not be empty"));
    }
    if !dst.starts_with('/') {
        return Err(mount_config_error(
            kind,
            format!("invalid mount path: '{dst}' mount path must be absolute"),
        ));
    }
    if clean(dst) == "/" {
        return Err(mount_config_error(
            kind,
            "invalid specification: destination can't be '/'",
        ));
    }
    Ok(())
}

/// One `HostConfig.Binds` entry: `[SRC:]DST[:MODE]`, SRC a host path (absolute) or a
/// volume name.
pub fn parse_bind(raw: &str, volume_driver: &str) -> EngineResult<Planned> {
    let invalid = || bad(format!("invalid volume specification: '{raw}'"));
    let parts: Vec<&str> = raw.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => {
            if parse_mode(d).is_some() {
                // `/foo:rw`: a mode without a source.
                return Err(invalid());
            }
            (*s, *d, "")
        }
        [s, d, m] => (*s, *d, *m),
        _ => return Err(invalid()),
    };
    if parts.iter().take(2).any(|p| p.is_empty()) {
        return Err(invalid());
    }
    let m = parse_mode(mode).ok_or_else(|| bad(format!("invalid mode: {mode}")))?;
    let kind = if src.starts_with('/') { BIND } else { VOLUME };
    check_destination(kind, dst).map_err(|e| bad(format!("{}: {e}", invalid())))?;
    let mut rec = MountRecord {
        kind: kind.into(),
        destination: clean(dst),
        mode: mode.to_string(),
        rw: !m.read_only,
        ..MountRecord::default()
    };
    if kind == BIND {
        if m.nocopy {
            return Err(bad(format!(
                "{}: {}",
                invalid(),
                mount_config_error(kind, "field VolumeOptions must not be specified")
            )));
        }
        rec.source = clean(src);
        rec.propagation = m.propagation.unwrap_or_else(|| "rprivate".into());
        rec.create_source = true;
    } else {
        if m.propagation.is_some() {
            return Err(bad(format!(
                "{}: {}",
                invalid(),
                mount_config_error(kind, "field BindOptions must not be specified")
            )));
        }
        rec.name = src.to_string();
        rec.driver = if volume_driver.is_empty() {
            super::DEFAULT_DRIVER.into()
        } else {
            volume_driver.into()
        };
        rec.copy_data = !m.nocopy;
        rec.anonymous = src.is_empty();
    }
    Ok(Planned {
        mount: rec,
        ..Planned::default()
    })
}

/// Docker's tmpfs options from `TmpfsOptions`: the size with the largest exact unit,
/// the mode in octal, `ro` when read-only.
fn tmpfs_options(m: &Mount) -> EngineResult<String> {
    let mut out = Vec::new();
    if let Some(t) = &m.tmpfs_options {
        if t.size_bytes < 0 {
            return Err(bad(mount_config_error(
                TMPFS,
                format!("invalid tmpfs size {}: must not be negative", t.size_bytes),
            )));
        }
        if t.size_bytes > 0 {
            let s = t.size_bytes;
            out.push(match () {
                _ if s % (1 << 30) == 0 => format!("size={}g", s >> 30),
                _ if s % (1 << 20) == 0 => format!("size={}m", s >> 20),
                _ if s % (1 << 10) == 0 => format!("size={}k", s >> 10),
                _ => format!("size={s}"),
            });
        }
        if t.mode != 0 {
            out.push(format!("mode={:o}", t.mode));
        }
    }
    if m.read_only {
        out.push("ro".into());
    }
    Ok(out.join(","))
}

/// One `HostConfig.Mounts` entry (`--mount`), checked as dockerd checks it: a bind's
/// source must exist.
pub fn parse_mount(m: &Mount) -> EngineResult<Planned> {
    let kind = m.kind.as_str();
    let err = |what: &str| bad(mount_config_error(kind, what));
    let extra = |field: &str| err(&format!("field {field} must not be specified"));
    if !matches!(kind, BIND | VOLUME | TMPFS) {
        return Err(err("mount type unknown"));
    }
    check_destination(kind, &m.target).map_err(bad)?;
    let mut rec = MountRecord {
        kind: kind.into(),
        destination: clean(&m.target),
        rw: !m.read_only,
        ..MountRecord::default()
    };
    let mut p = Planned::default();
    match kind {
        BIND => {
            if m.volume_options.is_some() {
                return Err(extra("VolumeOptions"));
            }
            if m.tmpfs_options.is_some() {
                return Err(extra("TmpfsOptions"));
            }
            if m.source.is_empty() {
                return Err(err("field Source must not be empty"));
            }
            if !m.source.starts_with('/') {
                return Err(err(&format!(
                    "invalid mount path: '{}' mount path must be absolute",
                    m.source
                )));
            }
            if std::fs::symlink_metadata(&m.source).is_err() {
                return Err(err(&format!(
                    "bind source path does not exist: {}",
                    m.source
                )));
            }
            rec.source = clean(&m.source);
            let b = m.bind_options.clone().unwrap_or_default();
            if !b.propagation.is_empty() && !PROPAGATIONS.contains(&b.propagation.as_str()) {
                return Err(err(&format!("invalid propagation mode: {}", b.propagation)));
            }
            rec.propagation = if b.propagation.is_empty() {
                "rprivate".into()
            } else {
                b.propagation
            };
            rec.non_recursive = b.non_recursive;
        }
        VOLUME => {
            if m.bind_options.is_some() {
                return Err(extra("BindOptions"));
            }
            if m.tmpfs_options.is_some() {
                return Err(extra("TmpfsOptions"));
            }
            let v = m.volume_options.clone().unwrap_or_default();
            rec.name = m.source.clone();
            rec.anonymous = m.source.is_empty();
            rec.copy_data = !v.no_copy;
            let driver = v.driver_config.clone().unwrap_or_default();
            rec.driver = if driver.name.is_empty() {
                super::DEFAULT_DRIVER.into()
            } else {
                driver.name
            };
            p.volume_options = driver.options;
            p.volume_labels = v.labels;
        }
        _ => {
            if !m.source.is_empty() {
                return Err(extra("Source"));
            }
            if m.bind_options.is_some() {
                return Err(extra("BindOptions"));
            }
            if m.volume_options.is_some() {
                return Err(extra("VolumeOptions"));
            }
            rec.tmpfs_options = tmpfs_options(m)?;
        }
    }
    p.mount = rec;
    Ok(p)
}

/// `VolumesFrom` entry: `CONTAINER[:ro|rw]` → (container, read-only override).
pub fn parse_volumes_from(spec: &str) -> EngineResult<(String, Option<bool>)> {
    match spec.split_once(':') {
        None => Ok((spec.to_string(), None)),
        Some((c, "ro")) => Ok((c.to_string(), Some(true))),
        Some((c, "rw")) => Ok((c.to_string(), Some(false))),
        Some((_, m)) => Err(bad(format!("invalid mode: {m}"))),
    }
}

/// The mount points another container's give through `--volumes-from` (binds and
/// volumes; its tmpfs mounts are its own), with the read-only override applied.
pub fn inherit(from: &[MountRecord], read_only: Option<bool>) -> Vec<Planned> {
    from.iter()
        .filter(|m| m.kind == BIND || m.kind == VOLUME)
        .map(|m| Planned {
            mount: MountRecord {
                rw: m.rw && read_only != Some(true),
                copy_data: false,
                create_source: false,
                mode: String::new(),
                ..m.clone()
            },
            inherited: true,
            ..Planned::default()
        })
        .collect()
}

/// Every mount point of a new container, by destination: what `VolumesFrom` gave
/// (`inherited`, already resolved), overridden by `Binds`, then `Mounts` (these two
/// may not share a destination, nor with `Tmpfs`), then an anonymous volume for each
/// `Config.Volumes` destination nothing else covers.
pub fn plan(
    config_volumes: &[String],
    hc: &HostConfig,
    inherited: Vec<Planned>,
) -> EngineResult<Vec<Planned>> {
    let mut by_dest: BTreeMap<String, Planned> = BTreeMap::new();
    for p in inherited {
        by_dest.insert(p.mount.destination.clone(), p);
    }
    let tmpfs: Vec<String> = hc.tmpfs.keys().map(|k| clean(k)).collect();
    let mut taken: Vec<String> = Vec::new();
    let mut requested = Vec::new();
    for b in &hc.binds {
        requested.push(parse_bind(b, &hc.volume_driver)?);
    }
    for m in &hc.mounts {
        requested.push(parse_mount(m)?);
    }
    for p in requested {
        let d = p.mount.destination.clone();
        if taken.contains(&d) || tmpfs.contains(&d) {
            return Err(bad(format!("Duplicate mount point: {d}")));
        }
        taken.push(d.clone());
        by_dest.insert(d, p);
    }
    for v in config_volumes {
        let d = clean(v);
        if d == "/" || by_dest.contains_key(&d) || tmpfs.contains(&d) {
            continue;
        }
        by_dest.insert(
            d.clone(),
            Planned {
                mount: MountRecord {
                    kind: VOLUME.into(),
                    destination: d,
                    driver: if hc.volume_driver.is_empty() {
                        super::DEFAULT_DRIVER.into()
                    } else {
                        hc.volume_driver.clone()
                    },
                    rw: true,
                    copy_data: true,
                    anonymous: true,
                    ..MountRecord::default()
                },
                from_config: true,
                ..Planned::default()
            },
        );
    }
    Ok(by_dest.into_values().collect())
}

/// Where a mount's destination is on the host for the container's root at `rootfs`,
/// symlinks resolved inside it (None when it does not exist yet).
pub fn host_path_in_root(rootfs: &Path, dest: &str) -> Option<PathBuf> {
    crate::containers::resolve_in_root(rootfs, Path::new(dest))
}
