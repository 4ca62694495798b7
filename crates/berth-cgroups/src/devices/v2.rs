//! v2 devices: load the generated eBPF program and attach it to the cgroup
//! directory, then detach whatever device programs were attached there
//! before (so an update replaces the filter instead of stacking another).

use std::os::fd::AsFd;
use std::path::Path;

use berth_sys::bpf;
use rustix::fs::{Mode, OFlags};

use super::{program, Emulator};
use crate::CgroupError;

pub(crate) fn set(dir: &Path, target: &Emulator) -> Result<(), CgroupError> {
    let err = |op: &'static str, detail: String| CgroupError::Bpf {
        op,
        path: dir.to_path_buf(),
        detail,
    };
    let insns = program::generate(target);
    let dirfd = rustix::fs::open(
        dir,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| CgroupError::Read {
        path: dir.to_path_buf(),
        error: e.into(),
    })?;
    let old_ids = bpf::prog_query(dirfd.as_fd(), bpf::BPF_CGROUP_DEVICE).map_err(|e| {
        err(
            "BPF_PROG_QUERY (device programs)",
            crate::error::os_text(&e),
        )
    })?;
    let mut old = Vec::new();
    for id in old_ids {
        match bpf::prog_get_fd_by_id(id) {
            Ok(fd) => old.push(fd),
            // Gone meanwhile, or hidden from us by an LSM: leave it be.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT) | Some(libc::EPERM) | Some(libc::EACCES)
                ) => {}
            Err(e) => {
                return Err(err(
                    "BPF_PROG_GET_FD_BY_ID",
                    format!("program {id}: {}", crate::error::os_text(&e)),
                ))
            }
        }
    }
    let prog = bpf::prog_load_cgroup_device(&insns, program::LICENSE, "berth_devices")
        .map_err(|e| err("BPF_PROG_LOAD (device filter)", e.to_string()))?;
    bpf::prog_attach(
        dirfd.as_fd(),
        prog.as_fd(),
        bpf::BPF_CGROUP_DEVICE,
        bpf::BPF_F_ALLOW_MULTI,
    )
    .map_err(|e| err("BPF_PROG_ATTACH (device filter)", crate::error::os_text(&e)))?;
    for fd in old {
        bpf::prog_detach(dirfd.as_fd(), fd.as_fd(), bpf::BPF_CGROUP_DEVICE).map_err(|e| {
            err(
                "BPF_PROG_DETACH (old device filter)",
                crate::error::os_text(&e),
            )
        })?;
    }
    Ok(())
}
