//! berth's default seccomp profile, in Docker's JSON profile format.

/// The default profile every unprivileged container gets, as Docker-format JSON bytes
/// (what `berth_engine::spec::SpecContext::seccomp_profile` takes).
///
/// Placeholder while the real table is written: it allows every syscall.
pub fn default_profile() -> Vec<u8> {
    br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}"#.to_vec()
}
