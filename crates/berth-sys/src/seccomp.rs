//! Raw syscalls for seccomp and capabilities that `rustix` does not wrap safely: taking
//! a private copy of libseccomp's notify listener, and the integer-only probes the
//! seccomp tests attempt under a filter.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Duplicate the descriptor numbered `fd` (close-on-exec) into an [`OwnedFd`], leaving
/// the original with whoever owns it (libseccomp keeps its notify listener by number).
pub fn dup_raw_cloexec(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC takes integers only and does not touch the original
    // descriptor; a closed or invalid number just fails with EBADF.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a descriptor fcntl just created for us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// `unshare(0)`: enters the kernel (and any seccomp filter) but changes nothing.
pub fn unshare_nothing() -> io::Result<()> {
    // SAFETY: with no flags unshare shares nothing new, so no file table or fs context
    // can change under other threads; integer argument only.
    if unsafe { libc::unshare(0) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)`: looks the session
/// keyring up without creating it.
pub fn keyctl_session_keyring_id() -> io::Result<i64> {
    const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
    const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
    // SAFETY: integer arguments only; with create == 0 nothing is allocated.
    let r = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_GET_KEYRING_ID,
            KEY_SPEC_SESSION_KEYRING,
            0 as libc::c_long,
        )
    };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(r)
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)` with `program` a classic BPF program
/// as an array of `struct sock_filter` (8 bytes each, native endianness), as libseccomp
/// exports it. The caller must hold CAP_SYS_ADMIN or have set no_new_privs.
pub fn set_mode_filter(flags: u32, program: &[u8]) -> io::Result<()> {
    const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
    if program.is_empty() || program.len() & 7 != 0 || program.len() / 8 > u16::MAX as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a seccomp program of {} bytes is not a BPF program",
                program.len()
            ),
        ));
    }
    let prog = libc::sock_fprog {
        len: (program.len() / 8) as libc::c_ushort,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `program`, which is borrowed (alive and unchanged) for the
    // whole call and holds exactly `len` 8-byte instructions; the kernel only reads it
    // (copy_from_user, no alignment needed) and validates the program itself.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
