//! The five OCI capability sets of `process.capabilities`, applied to the calling
//! thread: bounding (dropped with PR_CAPBSET_DROP), effective/permitted/inheritable
//! (capset) and ambient (PR_CAP_AMBIENT).
//!
//! A capability the running kernel knows but our own bounding set lacks (some hosts
//! drop CAP_SYS_RESOURCE there) cannot be granted, and asking for it in any set fails
//! `create` with an error naming it, as runc's does (runc fails in capset with a bare
//! EPERM). The engine trims `--privileged` to the host's bounding set before it writes
//! config.json, so only an explicit request reaches this error. What stays skipped, as
//! in runc and crun: a capability above `cap_last_cap` (one this kernel is too old to
//! know: the runtime spec's "cannot be mapped to a relevant kernel interface"), and an
//! ambient capability the kernel refuses to raise.

use std::io;

use oci_spec::runtime::LinuxCapabilities;
pub use oci_spec::runtime::{Capabilities, Capability};
use rustix::io::Errno;
use rustix::thread::{self as rthread, CapabilitySet};

/// Where the kernel says which capability number is its last.
pub const LAST_CAP_PATH: &str = "/proc/sys/kernel/cap_last_cap";

/// What went wrong parsing or applying capabilities.
#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    /// A name that is no Linux capability (runtime-tools' process_capabilities_fail).
    #[error("unknown capability {0:?}")]
    Unknown(String),
    /// The configuration asks for something no capset can give.
    #[error("capabilities: {0}")]
    Invalid(String),
    /// Capabilities the kernel knows but this host's bounding set lacks: no process
    /// started from here can ever hold them. The string names them.
    #[error("{0}")]
    NotInBounding(String),
    /// A kernel call failed; `op` names it and the capability involved.
    #[error("capabilities: {op}: {source}")]
    Kernel {
        /// What was being done, e.g. "dropping CAP_SYS_ADMIN from the bounding set".
        op: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
}

/// Kernel capability numbers, in order: `TABLE[n]` is capability `n`.
const TABLE: [(Capability, &str); 41] = [
    (Capability::Chown, "CAP_CHOWN"),
    (Capability::DacOverride, "CAP_DAC_OVERRIDE"),
    (Capability::DacReadSearch, "CAP_DAC_READ_SEARCH"),
    (Capability::Fowner, "CAP_FOWNER"),
    (Capability::Fsetid, "CAP_FSETID"),
    (Capability::Kill, "CAP_KILL"),
    (Capability::Setgid, "CAP_SETGID"),
    (Capability::Setuid, "CAP_SETUID"),
    (Capability::Setpcap, "CAP_SETPCAP"),
    (Capability::LinuxImmutable, "CAP_LINUX_IMMUTABLE"),
    (Capability::NetBindService, "CAP_NET_BIND_SERVICE"),
    (Capability::NetBroadcast, "CAP_NET_BROADCAST"),
    (Capability::NetAdmin, "CAP_NET_ADMIN"),
    (Capability::NetRaw, "CAP_NET_RAW"),
    (Capability::IpcLock, "CAP_IPC_LOCK"),
    (Capability::IpcOwner, "CAP_IPC_OWNER"),
    (Capability::SysModule, "CAP_SYS_MODULE"),
    (Capability::SysRawio, "CAP_SYS_RAWIO"),
    (Capability::SysChroot, "CAP_SYS_CHROOT"),
    (Capability::SysPtrace, "CAP_SYS_PTRACE"),
    (Capability::SysPacct, "CAP_SYS_PACCT"),
    (Capability::SysAdmin, "CAP_SYS_ADMIN"),
    (Capability::SysBoot, "CAP_SYS_BOOT"),
    (Capability::SysNice, "CAP_SYS_NICE"),
    (Capability::SysResource, "CAP_SYS_RESOURCE"),
    (Capability::SysTime, "CAP_SYS_TIME"),
    (Capability::SysTtyConfig, "CAP_SYS_TTY_CONFIG"),
    (Capability::Mknod, "CAP_MKNOD"),
    (Capability::Lease, "CAP_LEASE"),
    (Capability::AuditWrite, "CAP_AUDIT_WRITE"),
    (Capability::AuditControl, "CAP_AUDIT_CONTROL"),
    (Capability::Setfcap, "CAP_SETFCAP"),
    (Capability::MacOverride, "CAP_MAC_OVERRIDE"),
    (Capability::MacAdmin, "CAP_MAC_ADMIN"),
    (Capability::Syslog, "CAP_SYSLOG"),
    (Capability::WakeAlarm, "CAP_WAKE_ALARM"),
    (Capability::BlockSuspend, "CAP_BLOCK_SUSPEND"),
    (Capability::AuditRead, "CAP_AUDIT_READ"),
    (Capability::Perfmon, "CAP_PERFMON"),
    (Capability::Bpf, "CAP_BPF"),
    (Capability::CheckpointRestore, "CAP_CHECKPOINT_RESTORE"),
];

/// Parse a capability name: `CAP_SYS_ADMIN` (also, as oci-spec accepts them,
/// `SYS_ADMIN` and any letter case). Unknown names are an error naming the input.
pub fn parse(name: &str) -> Result<Capability, CapsError> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    TABLE
        .iter()
        .find(|(_, n)| &n[4..] == bare)
        .map(|(c, _)| *c)
        .ok_or_else(|| CapsError::Unknown(name.to_string()))
}

/// Parse a list of names (see [`parse`]); the first unknown one is the error.
pub fn parse_all<I, S>(names: I) -> Result<Capabilities, CapsError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    names.into_iter().map(|n| parse(n.as_ref())).collect()
}

/// The kernel's number for `c` (CAP_CHOWN = 0 … CAP_CHECKPOINT_RESTORE = 40).
pub fn number(c: Capability) -> u8 {
    let n = TABLE
        .iter()
        .position(|(t, _)| *t == c)
        .expect("every oci-spec capability is in the table");
    u8::try_from(n).expect("the table has 41 entries")
}

/// The capability with kernel number `n`, if oci-spec knows it.
pub fn from_number(n: u8) -> Option<Capability> {
    TABLE.get(usize::from(n)).map(|(c, _)| *c)
}

/// The `CAP_…` name of `c`, as config.json and /proc spell it.
pub fn name(c: Capability) -> &'static str {
    TABLE[usize::from(number(c))].1
}

/// A set as a kernel bit mask (bit n = capability n).
pub fn mask(set: &Capabilities) -> u64 {
    set.iter().fold(0, |m, c| m | 1 << number(*c))
}

/// The 14 capabilities Docker gives a container by default.
pub fn docker_default() -> Capabilities {
    [
        Capability::Chown,
        Capability::DacOverride,
        Capability::Fsetid,
        Capability::Fowner,
        Capability::Mknod,
        Capability::NetRaw,
        Capability::Setgid,
        Capability::Setuid,
        Capability::Setfcap,
        Capability::Setpcap,
        Capability::NetBindService,
        Capability::SysChroot,
        Capability::Kill,
        Capability::AuditWrite,
    ]
    .into_iter()
    .collect()
}

/// Effective, permitted and inheritable sets as kernel bit masks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    /// What the thread may use now.
    pub effective: u64,
    /// What it may make effective.
    pub permitted: u64,
    /// What survives execve into programs with matching file capabilities (and bounds
    /// the ambient set).
    pub inheritable: u64,
}

/// The kernel calls [`apply_with`] makes, so its decisions can be tested without root.
/// [`ThreadCaps`] makes them for real on the calling thread.
pub trait CapOps {
    /// The highest capability number the running kernel knows.
    fn last_cap(&mut self) -> io::Result<u8>;
    /// PR_CAPBSET_READ.
    fn in_bounding(&mut self, cap: u8) -> io::Result<bool>;
    /// The whole bounding set in one read, where that is possible (None: ask
    /// [`CapOps::in_bounding`] capability by capability).
    fn bounding_set(&mut self) -> Option<u64> {
        None
    }
    /// PR_CAPBSET_DROP.
    fn drop_bounding(&mut self, cap: u8) -> io::Result<()>;
    /// capget.
    fn get(&mut self) -> io::Result<CapSets>;
    /// capset.
    fn set(&mut self, sets: CapSets) -> io::Result<()>;
    /// PR_CAP_AMBIENT_CLEAR_ALL.
    fn clear_ambient(&mut self) -> io::Result<()>;
    /// PR_CAP_AMBIENT_RAISE.
    fn raise_ambient(&mut self, cap: u8) -> io::Result<()>;
}

/// The calling thread's capabilities.
#[derive(Debug, Default, Clone, Copy)]
pub struct ThreadCaps;

fn bit(cap: u8) -> CapabilitySet {
    CapabilitySet::from_bits_retain(1 << cap)
}

impl CapOps for ThreadCaps {
    fn last_cap(&mut self) -> io::Result<u8> {
        if let Some(n) = std::fs::read_to_string(LAST_CAP_PATH)
            .ok()
            .and_then(|s| s.trim().parse::<u8>().ok())
        {
            return Ok(n.min(63));
        }
        // No /proc (yet): the kernel answers EINVAL for numbers it does not know.
        for n in (0..=63).rev() {
            match rthread::capability_is_in_bounding_set(bit(n)) {
                Ok(_) => return Ok(n),
                Err(Errno::INVAL) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::other("the kernel knows no capability"))
    }

    fn in_bounding(&mut self, cap: u8) -> io::Result<bool> {
        Ok(rthread::capability_is_in_bounding_set(bit(cap))?)
    }

    fn bounding_set(&mut self) -> Option<u64> {
        // One file read instead of a prctl per capability, where /proc is mounted.
        let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
        let hex = status.lines().find_map(|l| l.strip_prefix("CapBnd:"))?;
        u64::from_str_radix(hex.trim(), 16).ok()
    }

    fn drop_bounding(&mut self, cap: u8) -> io::Result<()> {
        Ok(rthread::remove_capability_from_bounding_set(bit(cap))?)
    }

    fn get(&mut self) -> io::Result<CapSets> {
        let s = rthread::capabilities(None)?;
        Ok(CapSets {
            effective: s.effective.bits(),
            permitted: s.permitted.bits(),
            inheritable: s.inheritable.bits(),
        })
    }

    fn set(&mut self, sets: CapSets) -> io::Result<()> {
        Ok(rthread::set_capabilities(
            None,
            rthread::CapabilitySets {
                effective: CapabilitySet::from_bits_retain(sets.effective),
                permitted: CapabilitySet::from_bits_retain(sets.permitted),
                inheritable: CapabilitySet::from_bits_retain(sets.inheritable),
            },
        )?)
    }

    fn clear_ambient(&mut self) -> io::Result<()> {
        Ok(rthread::clear_ambient_capability_set()?)
    }

    fn raise_ambient(&mut self, cap: u8) -> io::Result<()> {
        Ok(rthread::configure_capability_in_ambient_set(
            bit(cap),
            true,
        )?)
    }
}

/// Apply the five OCI sets to the calling thread: drop from the bounding set everything
/// not in `bounding`, capset effective/permitted/inheritable, clear the ambient set and
/// raise `ambient` in it. An absent set is empty (everything dropped), as in runc. See
/// the module doc for what is skipped rather than failed.
pub fn apply(c: &LinuxCapabilities) -> Result<(), CapsError> {
    apply_with(&mut ThreadCaps, c)
}

/// Only the bounding-set part of [`apply`]. runc drops the bounding set before
/// switching to the container's user (dropping needs CAP_SETPCAP in the effective set,
/// which a switch away from uid 0 clears) and applies the rest afterwards; [`apply`]
/// then finds nothing left to drop.
pub fn apply_bounding(c: &LinuxCapabilities) -> Result<(), CapsError> {
    apply_bounding_with(&mut ThreadCaps, c).map(|_| ())
}

/// Keep the permitted set across a switch away from uid 0 (PR_SET_KEEPCAPS); the
/// runtime turns it on around its setuid and off afterwards.
pub fn keep_caps(on: bool) -> Result<(), CapsError> {
    rthread::set_keep_capabilities(on).map_err(|e| CapsError::Kernel {
        op: format!("setting PR_SET_KEEPCAPS to {}", u8::from(on)),
        source: e.into(),
    })
}

/// The capabilities the kernel knows, and what the configuration asks for of them.
struct Wanted {
    last: u8,
    /// A bit for every capability up to `last`.
    known: u64,
    bounding: u64,
    effective: u64,
    permitted: u64,
    inheritable: u64,
    ambient: u64,
}

fn wanted(ops: &mut impl CapOps, c: &LinuxCapabilities) -> Result<Wanted, CapsError> {
    let last = ops.last_cap().map_err(|source| CapsError::Kernel {
        op: format!("reading {LAST_CAP_PATH}"),
        source,
    })?;
    let known = if last >= 63 {
        u64::MAX
    } else {
        (1u64 << (last + 1)) - 1
    };
    let m = |s: &Option<Capabilities>| s.as_ref().map_or(0, mask) & known;
    Ok(Wanted {
        last,
        known,
        bounding: m(c.bounding()),
        effective: m(c.effective()),
        permitted: m(c.permitted()),
        inheritable: m(c.inheritable()),
        ambient: m(c.ambient()),
    })
}

fn names(m: u64) -> String {
    (0..64u8)
        .filter(|n| m & (1 << n) != 0)
        .map(|n| from_number(n).map_or_else(|| format!("capability {n}"), |c| name(c).to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The error for what `wanted` asks beyond `available` (both masked to the kernel's
/// capabilities by the caller), if anything.
fn not_in_bounding(wanted: u64, available: u64) -> Result<(), CapsError> {
    let missing = wanted & !available;
    if missing == 0 {
        return Ok(());
    }
    let (what, it) = if missing.count_ones() == 1 {
        ("capability", "it")
    } else {
        ("capabilities", "them")
    };
    Err(CapsError::NotInBounding(format!(
        "{what} {} {} not in the bounding set of this host (the runtime runs without {it}, so no container it starts can be given {it})",
        names(missing),
        if missing.count_ones() == 1 { "is" } else { "are" },
    )))
}

/// Drops what `c` leaves out of the bounding set; returns the bounding set found before.
fn apply_bounding_with(ops: &mut impl CapOps, c: &LinuxCapabilities) -> Result<u64, CapsError> {
    let w = wanted(ops, c)?;
    let before = match ops.bounding_set() {
        Some(set) => set & w.known,
        None => {
            let mut before = 0u64;
            for cap in 0..=w.last {
                let present = match ops.in_bounding(cap) {
                    Ok(p) => p,
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => false,
                    Err(source) => {
                        return Err(CapsError::Kernel {
                            op: format!("reading the bounding set ({})", names(1 << cap)),
                            source,
                        })
                    }
                };
                if present {
                    before |= 1 << cap;
                }
            }
            before
        }
    };
    // Refuse before changing anything. What the thread holds in its permitted set
    // counts as obtainable too (after an earlier call shrank the bounding set).
    let cur = ops.get().map_err(|source| CapsError::Kernel {
        op: "reading the current capabilities (capget)".to_string(),
        source,
    })?;
    not_in_bounding(
        w.bounding | w.effective | w.permitted | w.ambient,
        before | cur.permitted,
    )?;
    not_in_bounding(w.inheritable, before | cur.inheritable)?;
    for cap in 0..=w.last {
        if before & (1 << cap) != 0 && w.bounding & (1 << cap) == 0 {
            match ops.drop_bounding(cap) {
                Err(e) if e.raw_os_error() != Some(libc::EINVAL) => {
                    return Err(CapsError::Kernel {
                        op: format!("dropping {} from the bounding set", names(1 << cap)),
                        source: e,
                    })
                }
                _ => {}
            }
        }
    }
    Ok(before)
}

/// [`apply`] over any [`CapOps`].
pub fn apply_with(ops: &mut impl CapOps, c: &LinuxCapabilities) -> Result<(), CapsError> {
    let host_bounding = apply_bounding_with(ops, c)?;
    let w = wanted(ops, c)?;
    let cur = ops.get().map_err(|source| CapsError::Kernel {
        op: "reading the current capabilities (capget)".to_string(),
        source,
    })?;

    // What this thread could ever hold: its bounding set as found (an earlier
    // apply_bounding may have shrunk it already) and what it holds now.
    let obtainable = host_bounding | cur.permitted;
    not_in_bounding(w.effective | w.permitted | w.ambient, obtainable)?;
    not_in_bounding(w.inheritable, host_bounding | cur.inheritable)?;
    let sets = CapSets {
        effective: w.effective & obtainable,
        permitted: w.permitted & obtainable,
        inheritable: w.inheritable & (host_bounding | cur.inheritable),
    };
    let stray = sets.effective & !sets.permitted;
    if stray != 0 {
        return Err(CapsError::Invalid(format!(
            "effective capabilities {} are not in the permitted set",
            names(stray)
        )));
    }
    ops.set(sets).map_err(|source| CapsError::Kernel {
        op: format!(
            "setting effective [{}], permitted [{}], inheritable [{}] (capset)",
            names(sets.effective),
            names(sets.permitted),
            names(sets.inheritable)
        ),
        source,
    })?;

    match ops.clear_ambient() {
        // Kernels before 4.3 have no ambient set: nothing to clear or raise.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(()),
        Err(source) => {
            return Err(CapsError::Kernel {
                op: "clearing the ambient set".to_string(),
                source,
            })
        }
        Ok(()) => {}
    }
    // The kernel raises only what is both permitted and inheritable.
    let raisable = w.ambient & sets.permitted & sets.inheritable;
    for cap in 0..=w.last {
        if raisable & (1 << cap) == 0 {
            continue;
        }
        match ops.raise_ambient(cap) {
            Err(e) if !matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EINVAL)) => {
                return Err(CapsError::Kernel {
                    op: format!("raising {} in the ambient set", names(1 << cap)),
                    source: e,
                })
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A thread's capabilities with the kernel's rules for changing them
    /// (security/commoncap.c: cap_capset, PR_CAPBSET_DROP, PR_CAP_AMBIENT).
    #[derive(Debug, Clone)]
    struct FakeKernel {
        last: u8,
        bounding: u64,
        sets: CapSets,
        ambient: u64,
        calls: Vec<String>,
    }

    const SETPCAP: u64 = 1 << 8;
    const SYS_RESOURCE: u64 = 1 << 24;

    impl FakeKernel {
        /// Root on this host: everything but CAP_SYS_RESOURCE, in all of bounding,
        /// effective and permitted.
        fn host_root() -> Self {
            let all = (1u64 << 41) - 1;
            let have = all & !SYS_RESOURCE;
            FakeKernel {
                last: 40,
                bounding: have,
                sets: CapSets {
                    effective: have,
                    permitted: have,
                    inheritable: 0,
                },
                ambient: 0,
                calls: Vec::new(),
            }
        }

        fn eperm() -> io::Error {
            io::Error::from_raw_os_error(libc::EPERM)
        }
        fn einval() -> io::Error {
            io::Error::from_raw_os_error(libc::EINVAL)
        }
    }

    impl CapOps for FakeKernel {
        fn last_cap(&mut self) -> io::Result<u8> {
            Ok(self.last)
        }
        fn in_bounding(&mut self, cap: u8) -> io::Result<bool> {
            if cap > self.last {
                return Err(Self::einval());
            }
            Ok(self.bounding & (1 << cap) != 0)
        }
        fn drop_bounding(&mut self, cap: u8) -> io::Result<()> {
            self.calls.push(format!("drop {cap}"));
            if cap > self.last {
                return Err(Self::einval());
            }
            if self.sets.effective & SETPCAP == 0 {
                return Err(Self::eperm());
            }
            self.bounding &= !(1 << cap);
            Ok(())
        }
        fn get(&mut self) -> io::Result<CapSets> {
            Ok(self.sets)
        }
        fn set(&mut self, new: CapSets) -> io::Result<()> {
            self.calls.push("capset".to_string());
            let old = self.sets;
            let capped = old.effective & SETPCAP == 0;
            if (capped && new.inheritable & !(old.inheritable | old.permitted) != 0)
                || new.inheritable & !(old.inheritable | self.bounding) != 0
                || new.permitted & !old.permitted != 0
                || new.effective & !new.permitted != 0
            {
                return Err(Self::eperm());
            }
            self.sets = new;
            // Lowering permitted or inheritable lowers the ambient set with them.
            self.ambient &= new.permitted & new.inheritable;
            Ok(())
        }
        fn clear_ambient(&mut self) -> io::Result<()> {
            self.ambient = 0;
            Ok(())
        }
        fn raise_ambient(&mut self, cap: u8) -> io::Result<()> {
            self.calls.push(format!("ambient {cap}"));
            let bit = 1 << cap;
            if self.sets.permitted & self.sets.inheritable & bit == 0 {
                return Err(Self::eperm());
            }
            self.ambient |= bit;
            Ok(())
        }
    }

    fn caps(v: serde_json::Value) -> LinuxCapabilities {
        serde_json::from_value(v).expect("valid process.capabilities")
    }

    fn all_names() -> Vec<&'static str> {
        TABLE.iter().map(|(_, n)| *n).collect()
    }

    #[test]
    fn bounding_set_read_at_once_equals_reading_each_capability() {
        let mut t = ThreadCaps;
        let Some(all) = t.bounding_set() else {
            return; // no /proc here: the per-capability path is what runs
        };
        let last = t.last_cap().expect("last cap");
        let mut each = 0u64;
        for cap in 0..=last {
            if t.in_bounding(cap).expect("PR_CAPBSET_READ") {
                each |= 1 << cap;
            }
        }
        assert_eq!(all, each);
    }

    #[test]
    fn table_matches_the_kernel_numbers() {
        for (n, (cap, name)) in TABLE.iter().enumerate() {
            let bits = CapabilitySet::from_name(&name[4..])
                .unwrap_or_else(|| panic!("rustix knows {name}"))
                .bits();
            assert_eq!(bits, 1 << n, "{name}");
            assert_eq!(usize::from(number(*cap)), n);
            assert_eq!(self::name(*cap), *name);
            assert_eq!(from_number(n as u8), Some(*cap));
            // The name oci-spec writes into config.json is ours.
            assert_eq!(serde_json::to_value(cap).expect("serialises"), json!(name));
        }
        assert_eq!(from_number(41), None);
    }

    #[test]
    fn parse_accepts_names_and_names_unknown_ones() {
        assert_eq!(parse("CAP_SYS_ADMIN").expect("known"), Capability::SysAdmin);
        assert_eq!(parse("cap_net_raw").expect("known"), Capability::NetRaw);
        assert_eq!(parse("SYSLOG").expect("known"), Capability::Syslog);
        let err = parse("CAP_BOGUS_THING").unwrap_err();
        assert!(matches!(err, CapsError::Unknown(_)));
        assert!(err.to_string().contains("CAP_BOGUS_THING"), "{err}");
        let err = parse_all(["CAP_CHOWN", "CAP_NOPE"]).unwrap_err();
        assert!(err.to_string().contains("CAP_NOPE"), "{err}");
        assert_eq!(parse_all(all_names()).expect("all known").len(), 41);
    }

    /// runtime-tools' process_capabilities_fail: a bogus name fails create, and the
    /// message names it. With oci-spec it fails while parsing config.json.
    #[test]
    fn a_bogus_capability_in_config_json_is_rejected_by_name() {
        let err = serde_json::from_value::<LinuxCapabilities>(json!({
            "bounding": ["CAP_CHOWN", "CAP_TEST"],
        }))
        .unwrap_err();
        assert!(err.to_string().contains("CAP_TEST"), "{err}");
    }

    #[test]
    fn docker_defaults_are_the_fourteen() {
        let d = docker_default();
        assert_eq!(d.len(), 14);
        assert_eq!(mask(&d), 0xa80425fb, "Docker's default CapEff");
    }

    #[test]
    fn docker_default_set_is_applied_exactly() {
        let mut k = FakeKernel::host_root();
        let d: Vec<&str> = docker_default().iter().map(|c| name(*c)).collect();
        let c = caps(json!({"bounding": d, "effective": d, "permitted": d, "inheritable": []}));
        apply_with(&mut k, &c).expect("applies");
        assert_eq!(k.bounding, 0xa80425fb);
        assert_eq!(k.sets.effective, 0xa80425fb);
        assert_eq!(k.sets.permitted, 0xa80425fb);
        assert_eq!(k.sets.inheritable, 0);
        assert_eq!(k.ambient, 0);
        // Bounding first (while CAP_SETPCAP is still effective), then one capset.
        let first_capset = k.calls.iter().position(|c| c == "capset").expect("capset");
        assert!(k.calls[..first_capset]
            .iter()
            .all(|c| c.starts_with("drop")));
    }

    #[test]
    fn a_capability_missing_from_our_bounding_set_fails_by_name() {
        // This host's bounding set lacks CAP_SYS_RESOURCE: asking for it in any set is
        // an error before anything is dropped or set.
        for set in [
            "bounding",
            "effective",
            "permitted",
            "inheritable",
            "ambient",
        ] {
            let mut k = FakeKernel::host_root();
            let mut v = json!({
                "bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"],
                "permitted": ["CAP_CHOWN"], "inheritable": [], "ambient": [],
            });
            v[set]
                .as_array_mut()
                .expect("a list")
                .push(json!("CAP_SYS_RESOURCE"));
            let err = apply_with(&mut k, &caps(v)).unwrap_err();
            assert!(matches!(err, CapsError::NotInBounding(_)), "{set}: {err:?}");
            assert!(
                err.to_string().starts_with(
                    "capability CAP_SYS_RESOURCE is not in the bounding set of this host"
                ),
                "{set}: {err}"
            );
            assert!(k.calls.is_empty(), "{set}: {:?}", k.calls);
        }
        // Everything the host has (what the engine writes for --privileged) applies.
        let mut k = FakeKernel::host_root();
        let host = k.bounding;
        let have: Vec<&str> = all_names()
            .into_iter()
            .filter(|n| *n != "CAP_SYS_RESOURCE")
            .collect();
        let c = caps(json!({
            "bounding": have, "effective": have, "permitted": have,
            "inheritable": have, "ambient": have,
        }));
        apply_with(&mut k, &c).expect("the host's whole set applies");
        assert_eq!(k.bounding, host);
        assert_eq!(k.sets.effective, host);
        assert_eq!(k.ambient, host);
        // Several are named together.
        let mut k = FakeKernel::host_root();
        // No CAP_CHOWN either.
        k.bounding &= !1;
        k.sets.permitted &= !1;
        k.sets.effective &= !1;
        let err = apply_bounding_with(
            &mut k,
            &caps(json!({"bounding": ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_KILL"]})),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("capabilities CAP_CHOWN, CAP_SYS_RESOURCE are not in"),
            "{err}"
        );
    }

    #[test]
    fn capabilities_the_kernel_does_not_know_are_skipped() {
        // An older kernel: last capability CAP_AUDIT_READ (37).
        let mut k = FakeKernel::host_root();
        k.last = 37;
        k.bounding &= (1 << 38) - 1;
        k.sets.effective &= (1 << 38) - 1;
        k.sets.permitted &= (1 << 38) - 1;
        let c = caps(json!({
            "bounding": ["CAP_BPF", "CAP_CHOWN", "CAP_SETPCAP"],
            "effective": ["CAP_BPF", "CAP_CHOWN"],
            "permitted": ["CAP_PERFMON", "CAP_CHOWN"],
        }));
        apply_with(&mut k, &c).expect("applies");
        assert_eq!(k.bounding, 1 | SETPCAP);
        assert_eq!(k.sets.effective, 1);
        assert_eq!(k.sets.permitted, 1);
        assert!(!k.calls.iter().any(|c| c == "drop 38" || c == "drop 39"));
    }

    #[test]
    fn ambient_is_cleared_then_raised() {
        let mut k = FakeKernel::host_root();
        k.ambient = 1 << 12; // left over: CAP_NET_ADMIN
        let c = caps(json!({
            "bounding": ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
            "effective": ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
            "permitted": ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
            "inheritable": ["CAP_NET_BIND_SERVICE"],
            // CAP_CHOWN is not inheritable: the kernel would refuse; skipped like crun.
            "ambient": ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
        }));
        apply_with(&mut k, &c).expect("applies");
        assert_eq!(k.ambient, 1 << 10);
        assert_eq!(k.sets.inheritable, 1 << 10);
        assert!(!k.calls.contains(&"ambient 0".to_string()), "{:?}", k.calls);
    }

    #[test]
    fn absent_sets_are_empty() {
        let mut k = FakeKernel::host_root();
        apply_with(&mut k, &caps(json!({}))).expect("applies");
        assert_eq!(k.bounding, 0);
        assert_eq!(k.sets, CapSets::default());
    }

    #[test]
    fn effective_outside_permitted_is_an_error_naming_it() {
        let mut k = FakeKernel::host_root();
        let c = caps(json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "permitted": ["CAP_CHOWN"],
        }));
        let err = apply_with(&mut k, &c).unwrap_err();
        assert!(err.to_string().contains("CAP_KILL"), "{err}");
    }

    #[test]
    fn bounding_first_then_the_rest_after_a_user_switch() {
        let mut k = FakeKernel::host_root();
        let d: Vec<&str> = docker_default().iter().map(|c| name(*c)).collect();
        let c = caps(json!({"bounding": d, "effective": d, "permitted": d}));
        apply_bounding_with(&mut k, &c).expect("drops");
        assert_eq!(k.bounding, 0xa80425fb);
        // setuid(1000) with PR_SET_KEEPCAPS: permitted stays, effective is cleared, so
        // no more bounding drops would be allowed.
        k.sets.effective = 0;
        k.calls.clear();
        apply_with(&mut k, &c).expect("applies without CAP_SETPCAP");
        assert_eq!(k.sets.effective, 0xa80425fb);
        assert!(
            !k.calls.iter().any(|c| c.starts_with("drop")),
            "{:?}",
            k.calls
        );
    }

    #[test]
    fn a_refused_drop_names_the_capability() {
        let mut k = FakeKernel::host_root();
        k.sets.effective &= !SETPCAP;
        let err = apply_with(&mut k, &caps(json!({"bounding": ["CAP_CHOWN"]}))).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("dropping CAP_DAC_OVERRIDE from the bounding set"),
            "{msg}"
        );
    }
}
