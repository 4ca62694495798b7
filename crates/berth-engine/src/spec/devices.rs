//! Devices: the default device cgroup rules, `--device` mappings,
//! `--device-cgroup-rule`, the host's devices for a privileged container, and device
//! numbers for the block I/O throttles.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

use berth_types::device::DeviceCgroupRule;

use super::{invalid, SpecError};

pub(super) fn device_rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(typ);
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

/// What every container may use after the initial deny-all (Docker's defaults with
/// runc's): mknod of anything; null, zero, full, random, urandom, tty, console, ptmx,
/// the pty slaves and tun.
pub(super) fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{B, C};
    let rwm = |maj, min| device_rule(true, Some(C), Some(maj), min, "rwm");
    vec![
        device_rule(true, Some(C), None, None, "m"),
        device_rule(true, Some(B), None, None, "m"),
        rwm(1, Some(3)),
        rwm(1, Some(5)),
        rwm(1, Some(7)),
        rwm(1, Some(8)),
        rwm(1, Some(9)),
        rwm(5, Some(0)),
        rwm(5, Some(1)),
        rwm(5, Some(2)),
        rwm(136, None),
        rwm(10, Some(200)),
    ]
}

pub(super) fn permissions(p: &str) -> Result<String, SpecError> {
    if p.is_empty() {
        return Ok("rwm".to_string());
    }
    if p.len() > 3 || !p.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(invalid(
            "HostConfig.Devices",
            p,
            "permissions must be a combination of r, w and m",
        ));
    }
    Ok(p.to_string())
}

fn device_from_metadata(path_in_container: &Path, md: &std::fs::Metadata) -> Option<LinuxDevice> {
    let typ = if md.file_type().is_char_device() {
        LinuxDeviceType::C
    } else if md.file_type().is_block_device() {
        LinuxDeviceType::B
    } else {
        return None;
    };
    let mut d = LinuxDevice::default();
    d.set_path(path_in_container.to_path_buf());
    d.set_typ(typ);
    d.set_major(i64::from(rustix::fs::major(md.rdev())));
    d.set_minor(i64::from(rustix::fs::minor(md.rdev())));
    d.set_file_mode(Some(md.mode() & 0o7777));
    d.set_uid(Some(md.uid()));
    d.set_gid(Some(md.gid()));
    Some(d)
}

/// `--device host[:container[:perms]]` (already split by the client): the node itself,
/// or every node under a directory.
pub(super) fn devices_for_mapping(
    host: &str,
    in_container: &str,
    perms: &str,
) -> Result<Vec<LinuxDevice>, SpecError> {
    let value = format!("{host}:{in_container}:{perms}");
    if !host.starts_with('/') {
        return Err(invalid(
            "HostConfig.Devices",
            value,
            "the host path must be absolute",
        ));
    }
    permissions(perms)?;
    let dest = if in_container.is_empty() {
        host
    } else {
        in_container
    };
    if !dest.starts_with('/') {
        return Err(invalid(
            "HostConfig.Devices",
            value,
            "the container path must be absolute",
        ));
    }
    let md = std::fs::metadata(host).map_err(|e| SpecError::Io {
        path: PathBuf::from(host),
        source: e,
    })?;
    if let Some(d) = device_from_metadata(Path::new(dest), &md) {
        return Ok(vec![d]);
    }
    if md.is_dir() {
        let mut out = Vec::new();
        walk_devices(Path::new(host), Path::new(dest), &mut out, &[])?;
        if out.is_empty() {
            return Err(invalid(
                "HostConfig.Devices",
                value,
                "no device nodes under this directory",
            ));
        }
        return Ok(out);
    }
    Err(invalid("HostConfig.Devices", value, "not a device node"))
}

fn walk_devices(
    dir: &Path,
    dest: &Path,
    out: &mut Vec<LinuxDevice>,
    skip: &[&str],
) -> Result<(), SpecError> {
    let entries = std::fs::read_dir(dir).map_err(|e| SpecError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    for e in entries.flatten() {
        let name = e.file_name();
        let name_s = name.to_string_lossy();
        let Ok(md) = std::fs::symlink_metadata(e.path()) else {
            continue; // gone meanwhile
        };
        if md.is_dir() {
            if !skip.contains(&name_s.as_ref()) {
                // Unreadable subdirectories are left out rather than failing the container.
                let _ = walk_devices(&e.path(), &dest.join(&name), out, skip);
            }
        } else if name_s != "console" {
            if let Some(d) = device_from_metadata(&dest.join(&name), &md) {
                out.push(d);
            }
        }
    }
    Ok(())
}

/// Every char and block device under the host's /dev, as runc's HostDevices (which
/// skips console and the pts, shm, fd, mqueue directories).
pub(super) fn host_devices(dev: &Path) -> Result<Vec<LinuxDevice>, SpecError> {
    let mut out = Vec::new();
    walk_devices(
        dev,
        Path::new("/dev"),
        &mut out,
        &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"],
    )?;
    out.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(out)
}

/// `"c 1:3 rwm"`, `"a *:* rwm"`, `"b 8:* r"` (the grammar: berth_types::device).
pub(super) fn parse_device_cgroup_rule(rule: &str) -> Result<LinuxDeviceCgroup, SpecError> {
    let r = DeviceCgroupRule::parse(rule)
        .map_err(|form| invalid("HostConfig.DeviceCgroupRules", rule, form))?;
    let typ = match r.kind {
        'a' => LinuxDeviceType::A,
        'b' => LinuxDeviceType::B,
        _ => LinuxDeviceType::C,
    };
    let num = |n: Option<u32>| n.map(i64::from);
    Ok(device_rule(
        true,
        Some(typ),
        num(r.major),
        num(r.minor),
        &r.access,
    ))
}

pub(super) fn throttle_device_numbers(
    path: &str,
    field: &'static str,
) -> Result<(i64, i64), SpecError> {
    let md = std::fs::metadata(path).map_err(|e| SpecError::Io {
        path: PathBuf::from(path),
        source: e,
    })?;
    if !md.file_type().is_block_device() {
        return Err(invalid(field, path, "not a block device"));
    }
    Ok((
        i64::from(rustix::fs::major(md.rdev())),
        i64::from(rustix::fs::minor(md.rdev())),
    ))
}
