//! bpf(2): just enough to load a `BPF_PROG_TYPE_CGROUP_DEVICE` program and
//! attach, query, detach it on a cgroup v2 directory (the cgroup v2 devices
//! controller is an eBPF program; there is no file to write).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `BPF_PROG_TYPE_CGROUP_DEVICE` from `<linux/bpf.h>`.
pub const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `BPF_CGROUP_DEVICE` attach type.
pub const BPF_CGROUP_DEVICE: u32 = 6;
/// `BPF_F_ALLOW_MULTI`: several programs may be attached to one cgroup.
pub const BPF_F_ALLOW_MULTI: u32 = 1 << 1;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;

/// Every attribute block handed to the kernel is this large and zero-filled
/// past its known fields. The kernel copies `min(size, sizeof(union bpf_attr))`
/// bytes, insists the rest is zero, and some commands write results back at
/// fixed offsets (`query.revision`, `log_true_size`) whatever size we passed:
/// a buffer bigger than any current `union bpf_attr` keeps those writes inside
/// memory we own.
const ATTR_SIZE: usize = 256;

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u8,
    /// Destination and source registers, packed in the host's bitfield order.
    pub regs: u8,
    /// Signed offset (jump distance, memory offset).
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl Insn {
    /// An instruction with destination register `dst` and source register `src`.
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: pack_regs(dst, src),
            off,
            imm,
        }
    }

    /// The destination register.
    pub const fn dst(&self) -> u8 {
        if cfg!(target_endian = "little") {
            self.regs & 0x0f
        } else {
            self.regs >> 4
        }
    }

    /// The source register.
    pub const fn src(&self) -> u8 {
        if cfg!(target_endian = "little") {
            self.regs >> 4
        } else {
            self.regs & 0x0f
        }
    }
}

const fn pack_regs(dst: u8, src: u8) -> u8 {
    // `__u8 dst_reg:4, src_reg:4`: bitfields fill from the low bits on
    // little-endian targets and from the high bits on big-endian ones.
    if cfg!(target_endian = "little") {
        (dst & 0x0f) | (src << 4)
    } else {
        (dst << 4) | (src & 0x0f)
    }
}

/// A failed `BPF_PROG_LOAD`, with the verifier's log when it gave one.
#[derive(Debug)]
pub struct LoadError {
    /// What bpf(2) returned.
    pub error: io::Error,
    /// The verifier log (empty if the kernel said nothing).
    pub log: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.log.is_empty() {
            write!(f, "{}", self.error)
        } else {
            write!(f, "{}: verifier log: {}", self.error, self.log)
        }
    }
}

impl std::error::Error for LoadError {}

#[repr(C, align(8))]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    _zero: [u8; ATTR_SIZE - 64],
}

#[repr(C, align(8))]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    _zero: [u8; ATTR_SIZE - 20],
}

#[repr(C, align(8))]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
    _zero: [u8; ATTR_SIZE - 32],
}

#[repr(C, align(8))]
struct GetFdByIdAttr {
    id: u32,
    next_id: u32,
    open_flags: u32,
    _zero: [u8; ATTR_SIZE - 12],
}

const _: () = {
    assert!(std::mem::size_of::<ProgLoadAttr>() == ATTR_SIZE);
    assert!(std::mem::size_of::<AttachAttr>() == ATTR_SIZE);
    assert!(std::mem::size_of::<QueryAttr>() == ATTR_SIZE);
    assert!(std::mem::size_of::<GetFdByIdAttr>() == ATTR_SIZE);
    assert!(std::mem::size_of::<Insn>() == 8);
};

/// Calls bpf(2) with `attr`, whose type must be one of the `*Attr` blocks
/// above (ATTR_SIZE bytes, no padding the kernel could misread).
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    loop {
        // SAFETY: `attr` is a live, exclusively borrowed, fully initialised
        // repr(C) block of ATTR_SIZE bytes; the kernel reads at most ATTR_SIZE
        // bytes from it and writes back only inside it. Pointers stored in it
        // (instructions, license, log, id array) are kept alive by our callers
        // for the duration of this call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd,
                attr as *mut T as *mut libc::c_void,
                ATTR_SIZE as libc::c_uint,
            )
        };
        if ret >= 0 {
            return Ok(ret);
        }
        let err = io::Error::last_os_error();
        // The verifier can be interrupted; the kernel asks us to retry.
        if matches!(err.raw_os_error(), Some(libc::EINTR) | Some(libc::EAGAIN)) {
            continue;
        }
        return Err(err);
    }
}

fn owned_fd(ret: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: bpf(2) returned a new file descriptor (a non-negative value for
    // the fd-returning commands) that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Loads a `BPF_PROG_TYPE_CGROUP_DEVICE` program. On failure the load is
/// retried once with the verifier log enabled, so the error says why.
pub fn prog_load_cgroup_device(
    insns: &[Insn],
    license: &CStr,
    name: &str,
) -> Result<OwnedFd, LoadError> {
    let insn_cnt = u32::try_from(insns.len()).map_err(|_| LoadError {
        error: io::Error::from_raw_os_error(libc::E2BIG),
        log: String::new(),
    })?;
    let mut prog_name = [0u8; 16];
    // The kernel accepts [A-Za-z0-9_.] and needs a terminating NUL.
    for (slot, byte) in prog_name
        .iter_mut()
        .zip(
            name.bytes()
                .filter(|b| b.is_ascii_alphanumeric() || *b == b'_'),
        )
        .take(15)
    {
        *slot = byte;
    }
    let make = |log: Option<&mut Vec<u8>>| ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: u32::from(log.is_some()),
        log_size: log.as_ref().map_or(0, |l| l.len() as u32),
        log_buf: log.map_or(0, |l| l.as_mut_ptr() as u64),
        kern_version: 0,
        prog_flags: 0,
        prog_name,
        _zero: [0; ATTR_SIZE - 64],
    };
    let mut attr = make(None);
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => owned_fd(fd).map_err(|error| LoadError {
            error,
            log: String::new(),
        }),
        Err(error) => {
            let mut log = vec![0u8; 64 * 1024];
            let mut attr = make(Some(&mut log));
            match bpf(BPF_PROG_LOAD, &mut attr) {
                Ok(fd) => owned_fd(fd).map_err(|error| LoadError {
                    error,
                    log: String::new(),
                }),
                Err(_) => {
                    let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                    Err(LoadError {
                        error,
                        log: String::from_utf8_lossy(&log[..end]).trim_end().to_string(),
                    })
                }
            }
        }
    }
}

/// `BPF_PROG_ATTACH`: attaches `prog` to the cgroup directory `target`.
pub fn prog_attach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
    flags: u32,
) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: target.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        attach_flags: flags,
        replace_bpf_fd: 0,
        _zero: [0; ATTR_SIZE - 20],
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// `BPF_PROG_DETACH`: detaches `prog` from the cgroup directory `target`.
pub fn prog_detach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: target.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        attach_flags: 0,
        replace_bpf_fd: 0,
        _zero: [0; ATTR_SIZE - 20],
    };
    bpf(BPF_PROG_DETACH, &mut attr).map(drop)
}

/// `BPF_PROG_QUERY`: ids of the programs of `attach_type` attached directly
/// to the cgroup directory `target` (not inherited ones).
pub fn prog_query(target: BorrowedFd<'_>, attach_type: u32) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    for _ in 0..10 {
        let mut attr = QueryAttr {
            target_fd: target.as_raw_fd() as u32,
            attach_type,
            query_flags: 0,
            attach_flags: 0,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            _pad: 0,
            _zero: [0; ATTR_SIZE - 32],
        };
        match bpf(BPF_PROG_QUERY, &mut attr) {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok(ids);
            }
            // More programs than room: the kernel told us how many there are.
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                ids = vec![0u32; (attr.prog_cnt as usize).max(ids.len() * 2)];
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::from_raw_os_error(libc::ENOSPC))
}

/// `BPF_PROG_GET_FD_BY_ID`: a file descriptor for a loaded program.
pub fn prog_get_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdByIdAttr {
        id,
        next_id: 0,
        open_flags: 0,
        _zero: [0; ATTR_SIZE - 12],
    };
    bpf(BPF_PROG_GET_FD_BY_ID, &mut attr).and_then(owned_fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_round_trip() {
        let i = Insn::new(0x61, 2, 1, 4, 0);
        assert_eq!((i.dst(), i.src()), (2, 1));
        assert_eq!(i.off, 4);
    }
}
