//! berth's default seccomp profile, in Docker's JSON profile format.
//!
//! The policy is Docker's (so a program that runs under `docker run` runs under
//! `berth run`, and one that is refused there is refused here): refuse with EPERM
//! whatever is not listed; allow the everyday syscalls; allow the powerful ones only
//! when the container holds the capability that the kernel would check anyway
//! ([`CAP_GATED`]); allow the architecture-specific ones only on their architecture
//! ([`ARCH_ONLY`]); and filter the arguments of the few syscalls that are fine for some
//! arguments and dangerous for others (`clone` with namespace flags, `personality`,
//! `socket` for AF_ALG and AF_VSOCK).
//!
//! The tables are grouped by what the syscalls are for, so that a review can ask "should
//! a container do *this*?" group by group. They are serialised once, on first use, and
//! resolved for one container by [`crate::docker_profile_to_oci`] like any user profile.

use std::sync::OnceLock;

use serde::Serialize;

/// The everyday syscalls every container may make, by purpose. Anything absent from
/// here and from the gated tables below — keyrings (`add_key`, `keyctl`,
/// `request_key`), `io_uring_*`, `userfaultfd`, `kexec_*`, `swapon`, `pivot_root`,
/// `nfsservctl`, obsolete and unimplemented calls — answers EPERM.
#[rustfmt::skip]
pub(crate) const ALWAYS: &[(&str, &[&str])] = &[
    (
        "paths: look up, create, rename and remove files and directories",
        &[
            "access", "faccessat", "faccessat2", "chdir", "fchdir", "getcwd", "creat",
            "open", "openat", "openat2", "name_to_handle_at", "link", "linkat", "symlink",
            "symlinkat", "readlink", "readlinkat", "mkdir", "mkdirat", "mknod", "mknodat",
            "rename", "renameat", "renameat2", "rmdir", "unlink", "unlinkat", "truncate",
            "truncate64", "umask", "getdents", "getdents64",
        ],
    ),
    (
        "file metadata: status, ownership, modes, times",
        &[
            "stat", "stat64", "lstat", "lstat64", "fstat", "fstat64", "fstatat64",
            "newfstatat", "statx", "statfs", "statfs64", "fstatfs", "fstatfs64", "chmod",
            "fchmod", "fchmodat", "fchmodat2", "chown", "chown32", "fchown", "fchown32",
            "fchownat", "lchown", "lchown32", "utime", "utimes", "utimensat",
            "utimensat_time64", "futimesat",
        ],
    ),
    (
        "extended attributes",
        &[
            "getxattr", "lgetxattr", "fgetxattr", "getxattrat", "setxattr", "lsetxattr",
            "fsetxattr", "setxattrat", "listxattr", "llistxattr", "flistxattr",
            "listxattrat", "removexattr", "lremovexattr", "fremovexattr", "removexattrat",
        ],
    ),
    (
        "reading, writing and managing file descriptors",
        &[
            "read", "readv", "pread64", "preadv", "preadv2", "write", "writev", "pwrite64",
            "pwritev", "pwritev2", "lseek", "_llseek", "close", "close_range", "dup", "dup2",
            "dup3", "fcntl", "fcntl64", "flock", "ioctl", "pipe", "pipe2", "splice", "tee",
            "vmsplice", "sendfile", "sendfile64", "copy_file_range", "readahead",
            "fadvise64", "fadvise64_64", "fallocate", "ftruncate", "ftruncate64", "fsync",
            "fdatasync", "sync", "syncfs", "sync_file_range", "cachestat",
        ],
    ),
    (
        "asynchronous I/O (the classic AIO interface; io_uring stays refused)",
        &[
            "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents",
            "io_pgetevents", "io_pgetevents_time64",
        ],
    ),
    (
        "waiting for events: poll, select, epoll, eventfd, signalfd, timerfd, inotify",
        &[
            "poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6",
            "pselect6_time64", "epoll_create", "epoll_create1", "epoll_ctl",
            "epoll_ctl_old", "epoll_wait", "epoll_wait_old", "epoll_pwait", "epoll_pwait2",
            "eventfd", "eventfd2", "signalfd", "signalfd4", "timerfd_create",
            "timerfd_settime", "timerfd_settime64", "timerfd_gettime", "timerfd_gettime64",
            "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
            // Marks only: creating a fanotify group needs CAP_SYS_ADMIN (below).
            "fanotify_mark",
        ],
    ),
    (
        "memory",
        &[
            "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore",
            "msync", "mlock", "mlock2", "mlockall", "munlock", "munlockall",
            "remap_file_pages", "memfd_create", "memfd_secret", "membarrier", "pkey_alloc",
            "pkey_free", "pkey_mprotect", "map_shadow_stack", "mseal", "process_mrelease",
        ],
    ),
    (
        "processes and threads (clone is argument-filtered below)",
        &[
            "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
            "waitpid", "getpid", "getppid", "gettid", "getpgid", "getpgrp", "setpgid",
            "getsid", "setsid", "set_tid_address", "set_robust_list", "get_robust_list",
            "rseq", "futex", "futex_time64", "futex_wait", "futex_wake", "futex_requeue",
            "futex_waitv", "get_thread_area", "set_thread_area", "prctl", "seccomp",
            "restart_syscall", "pidfd_open", "pidfd_send_signal", "landlock_create_ruleset",
            "landlock_add_rule", "landlock_restrict_self", "capget", "capset", "getcpu",
            "uretprobe", "riscv_hwprobe",
        ],
    ),
    (
        "signals and alarms",
        &[
            "kill", "tkill", "tgkill", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
            "rt_sigqueueinfo", "rt_tgsigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
            "rt_sigtimedwait", "rt_sigtimedwait_time64", "sigaltstack", "sigprocmask",
            "sigreturn", "pause", "alarm",
        ],
    ),
    (
        "user and group identity (the kernel checks CAP_SETUID/CAP_SETGID itself)",
        &[
            "getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid",
            "getegid32", "getresuid", "getresuid32", "getresgid", "getresgid32",
            "getgroups", "getgroups32", "setuid", "setuid32", "setgid", "setgid32",
            "setreuid", "setreuid32", "setregid", "setregid32", "setresuid", "setresuid32",
            "setresgid", "setresgid32", "setfsuid", "setfsuid32", "setfsgid", "setfsgid32",
            "setgroups", "setgroups32",
        ],
    ),
    (
        "scheduling, priorities, resource limits and usage",
        &[
            "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getattr",
            "sched_setattr", "sched_getparam", "sched_setparam", "sched_getscheduler",
            "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min",
            "sched_rr_get_interval", "sched_rr_get_interval_time64", "getpriority",
            "setpriority", "ioprio_get", "ioprio_set", "getrlimit", "setrlimit",
            "ugetrlimit", "prlimit64", "getrusage", "times", "sysinfo", "uname",
            "getrandom",
        ],
    ),
    (
        "clocks, sleeps and timers (setting the clock is CAP_SYS_TIME-gated below)",
        &[
            "time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres",
            "clock_getres_time64", "clock_nanosleep", "clock_nanosleep_time64",
            "nanosleep", "adjtimex", "clock_adjtime", "clock_adjtime64", "getitimer",
            "setitimer", "timer_create", "timer_delete", "timer_getoverrun",
            "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
        ],
    ),
    (
        "sockets (creating one is argument-filtered below)",
        &[
            "socketcall", "socketpair", "bind", "connect", "listen", "accept", "accept4",
            "getsockname", "getpeername", "getsockopt", "setsockopt", "send", "sendto",
            "sendmsg", "sendmmsg", "recv", "recvfrom", "recvmsg", "recvmmsg",
            "recvmmsg_time64", "shutdown",
        ],
    ),
    (
        "System V IPC and POSIX message queues (private to the ipc namespace)",
        &[
            "ipc", "msgget", "msgctl", "msgsnd", "msgrcv", "semget", "semctl", "semop",
            "semtimedop", "semtimedop_time64", "shmget", "shmctl", "shmat", "shmdt",
            "mq_open", "mq_unlink", "mq_getsetattr", "mq_notify", "mq_timedsend",
            "mq_timedsend_time64", "mq_timedreceive", "mq_timedreceive_time64",
        ],
    ),
    (
        "reading the mount table (changing it is CAP_SYS_ADMIN-gated below)",
        &["listmount", "statmount"],
    ),
];

/// Syscalls allowed only when the container's bounding set holds a capability: each
/// needs that capability in the kernel too, but several have had bugs reachable before
/// the check, so an unprivileged container does not get to reach them at all.
#[rustfmt::skip]
pub(crate) const CAP_GATED: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            // Namespaces and the mount API.
            "clone", "clone3", "unshare", "setns", "mount", "umount", "umount2",
            "mount_setattr", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
            "fspick",
            // Host-wide or kernel-introspecting facilities.
            "bpf", "perf_event_open", "fanotify_init", "lookup_dcookie", "quotactl",
            "quotactl_fd", "syslog", "sethostname", "setdomainname", "lsm_get_self_attr",
            "lsm_set_self_attr", "lsm_list_modules",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    ("CAP_SYS_MODULE", &["init_module", "finit_module", "delete_module"]),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
            "process_madvise",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_TIME", &["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &["get_mempolicy", "set_mempolicy", "set_mempolicy_home_node", "mbind"],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// Architecture-specific syscalls, with the architectures (Go's names, as Docker
/// profiles spell them) on which they exist.
#[rustfmt::skip]
pub(crate) const ARCH_ONLY: &[(&[&str], &[&str])] = &[
    (&["ppc64le"], &["sync_file_range2", "swapcontext"]),
    (
        &["arm", "arm64"],
        &[
            "arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
            "cacheflush", "set_tls",
        ],
    ),
    (&["amd64", "x32"], &["arch_prctl"]),
    (&["amd64", "x32", "x86"], &["modify_ldt"]),
    (
        &["s390", "s390x"],
        &["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"],
    ),
    (&["riscv64"], &["riscv_flush_icache"]),
];

/// Cross-process inspection: safe for everyone once the kernel (4.8) stopped ptrace
/// from bypassing seccomp; before that only with CAP_SYS_PTRACE (in [`CAP_GATED`]).
const PTRACE_SAFE_SINCE: (&str, &[&str]) =
    ("4.8", &["ptrace", "process_vm_readv", "process_vm_writev"]);

/// A native architecture and the compat ABIs a process on it can also call through.
const ARCH_MAP: &[(&str, &[&str])] = &[
    ("SCMP_ARCH_X86_64", &["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
    ("SCMP_ARCH_AARCH64", &["SCMP_ARCH_ARM"]),
    (
        "SCMP_ARCH_MIPS64",
        &["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"],
    ),
    (
        "SCMP_ARCH_MIPS64N32",
        &["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"],
    ),
    (
        "SCMP_ARCH_MIPSEL64",
        &["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"],
    ),
    (
        "SCMP_ARCH_MIPSEL64N32",
        &["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"],
    ),
    ("SCMP_ARCH_S390X", &["SCMP_ARCH_S390"]),
    ("SCMP_ARCH_RISCV64", &[]),
    ("SCMP_ARCH_LOONGARCH64", &[]),
];

/// `clone` flags that create namespaces: only CAP_SYS_ADMIN may pass them (the kernel
/// lets anyone create a user namespace, and through it the others).
const CLONE_NAMESPACE_FLAGS: u64 = 0x0002_0000 // CLONE_NEWNS
    | 0x0200_0000 // CLONE_NEWCGROUP
    | 0x0400_0000 // CLONE_NEWUTS
    | 0x0800_0000 // CLONE_NEWIPC
    | 0x1000_0000 // CLONE_NEWUSER
    | 0x2000_0000 // CLONE_NEWPID
    | 0x4000_0000; // CLONE_NEWNET

/// The `personality` values allowed: plain Linux, 32-bit (`linux32`), the 2.6 uname
/// compatibility flag, both, and the query value 0xffffffff. Others (e.g.
/// ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC) weaken the process's protections.
const PERSONALITIES: &[u64] = &[
    0x0000,      // PER_LINUX
    0x0008,      // PER_LINUX32
    0x0002_0000, // UNAME26
    0x0002_0008, // PER_LINUX32 | UNAME26
    0xffff_ffff, // query without changing
];

/// Socket families refused: AF_ALG (38, the kernel crypto API, a long run of bugs) and
/// AF_VSOCK (40, a channel to the host's hypervisor). Kept sorted.
const REFUSED_SOCKET_FAMILIES: &[u64] = &[38, 40];

const ENOSYS: u32 = 38;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: &'static str,
    default_errno_ret: u32,
    arch_map: Vec<ArchEntry>,
    syscalls: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArchEntry {
    architecture: &'static str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    sub_architectures: &'static [&'static str],
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Rule {
    names: Vec<&'static str>,
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errno_ret: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    args: Vec<Arg>,
    #[serde(skip_serializing_if = "Gate::is_empty")]
    includes: Gate,
    #[serde(skip_serializing_if = "Gate::is_empty")]
    excludes: Gate,
    #[serde(skip_serializing_if = "str::is_empty")]
    comment: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: usize,
    value: u64,
    op: &'static str,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Gate {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    arches: &'static [&'static str],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    caps: &'static [&'static str],
    #[serde(skip_serializing_if = "Option::is_none")]
    min_kernel: Option<&'static str>,
}

impl Gate {
    fn is_empty(&self) -> bool {
        self.arches.is_empty() && self.caps.is_empty() && self.min_kernel.is_none()
    }
    fn cap(cap: &'static [&'static str]) -> Gate {
        Gate {
            caps: cap,
            ..Gate::default()
        }
    }
}

const ALLOW: &str = "SCMP_ACT_ALLOW";
const S390: &[&str] = &["s390", "s390x"];
const SYS_ADMIN: &[&str] = &["CAP_SYS_ADMIN"];

fn allow(names: &[&'static str]) -> Rule {
    Rule {
        names: names.to_vec(),
        action: ALLOW,
        ..Rule::default()
    }
}

/// One rule per allowed value of argument `index`, since a rule's conditions are and-ed.
fn allow_arg_values(
    name: &'static str,
    index: usize,
    values: &[u64],
    op: &'static str,
) -> Vec<Rule> {
    values
        .iter()
        .map(|&value| Rule {
            args: vec![Arg { index, value, op }],
            ..allow(&[name])
        })
        .collect()
}

/// Rules allowing `socket` for every family but the refused ones: below the first,
/// each value between two refused ones, and above the last.
fn socket_rules() -> Vec<Rule> {
    let mut rules = Vec::new();
    let rule = |value, op| Rule {
        args: vec![Arg {
            index: 0,
            value,
            op,
        }],
        ..allow(&["socket"])
    };
    let (Some(&first), Some(&last)) = (
        REFUSED_SOCKET_FAMILIES.first(),
        REFUSED_SOCKET_FAMILIES.last(),
    ) else {
        return vec![allow(&["socket"])];
    };
    rules.push(rule(first, "SCMP_CMP_LT"));
    for pair in REFUSED_SOCKET_FAMILIES.windows(2) {
        rules.extend((pair[0] + 1..pair[1]).map(|v| rule(v, "SCMP_CMP_EQ")));
    }
    rules.push(rule(last, "SCMP_CMP_GT"));
    rules
}

fn profile() -> Profile {
    let mut syscalls: Vec<Rule> = ALWAYS
        .iter()
        .map(|(purpose, names)| Rule {
            comment: purpose,
            ..allow(names)
        })
        .collect();

    let (since, names) = PTRACE_SAFE_SINCE;
    syscalls.push(Rule {
        includes: Gate {
            min_kernel: Some(since),
            ..Gate::default()
        },
        ..allow(names)
    });
    syscalls.extend(socket_rules());
    syscalls.extend(allow_arg_values(
        "personality",
        0,
        PERSONALITIES,
        "SCMP_CMP_EQ",
    ));
    for (arches, names) in ARCH_ONLY {
        syscalls.push(Rule {
            includes: Gate {
                arches,
                ..Gate::default()
            },
            ..allow(names)
        });
    }
    for (cap, names) in CAP_GATED {
        syscalls.push(Rule {
            includes: Gate::cap(std::slice::from_ref(cap)),
            ..allow(names)
        });
    }

    // Without CAP_SYS_ADMIN, clone only without namespace flags. The flags are the
    // first argument everywhere but on s390, where the stack comes first.
    syscalls.push(Rule {
        args: vec![Arg {
            index: 0,
            value: CLONE_NAMESPACE_FLAGS,
            op: "SCMP_CMP_MASKED_EQ",
        }],
        excludes: Gate {
            arches: S390,
            caps: SYS_ADMIN,
            min_kernel: None,
        },
        ..allow(&["clone"])
    });
    syscalls.push(Rule {
        args: vec![Arg {
            index: 1,
            value: CLONE_NAMESPACE_FLAGS,
            op: "SCMP_CMP_MASKED_EQ",
        }],
        includes: Gate {
            arches: S390,
            ..Gate::default()
        },
        excludes: Gate::cap(SYS_ADMIN),
        comment: "s390 passes the clone flags second",
        ..allow(&["clone"])
    });
    // clone3 passes its flags in memory, where seccomp cannot look: answer ENOSYS so
    // that libcs fall back to the filtered clone, rather than EPERM which they report.
    syscalls.push(Rule {
        action: "SCMP_ACT_ERRNO",
        errno_ret: Some(ENOSYS),
        excludes: Gate::cap(SYS_ADMIN),
        comment: "clone3's flags cannot be filtered: make libcs fall back to clone",
        ..allow(&["clone3"])
    });

    Profile {
        default_action: "SCMP_ACT_ERRNO",
        default_errno_ret: 1, // EPERM
        arch_map: ARCH_MAP
            .iter()
            .map(|&(architecture, sub_architectures)| ArchEntry {
                architecture,
                sub_architectures,
            })
            .collect(),
        syscalls,
    }
}

/// The default profile every unprivileged container gets, as Docker-format JSON bytes
/// (what `berth_engine::spec::SpecContext::seccomp_profile` takes); resolve it for one
/// container with [`crate::docker_profile_to_oci`].
pub fn default_profile() -> Vec<u8> {
    static JSON: OnceLock<Vec<u8>> = OnceLock::new();
    JSON.get_or_init(|| {
        serde_json::to_vec(&profile()).expect("the profile is plain strings and numbers")
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn no_syscall_is_listed_twice_in_the_unconditional_groups() {
        let mut seen = HashSet::new();
        for (_, names) in ALWAYS {
            for n in *names {
                assert!(seen.insert(*n), "{n} is in two groups");
            }
        }
        // Nothing gated is also always allowed, which would void the gate.
        for (_, names) in CAP_GATED.iter().chain(PTRACE_GROUPS) {
            for n in *names {
                assert!(!seen.contains(n), "{n} is gated and always allowed");
            }
        }
        for n in [
            "clone",
            "clone3",
            "socket",
            "personality",
            "keyctl",
            "add_key",
        ] {
            assert!(!seen.contains(n), "{n} must not be unconditionally allowed");
        }
    }

    const PTRACE_GROUPS: &[(&str, &[&str])] = &[PTRACE_SAFE_SINCE];

    #[test]
    fn socket_rules_cover_every_family_but_the_refused() {
        let rules = socket_rules();
        let allowed = |family: u64| {
            rules.iter().any(|r| {
                let a = &r.args[0];
                match a.op {
                    "SCMP_CMP_LT" => family < a.value,
                    "SCMP_CMP_GT" => family > a.value,
                    "SCMP_CMP_EQ" => family == a.value,
                    other => panic!("unexpected op {other}"),
                }
            })
        };
        for family in 0..64 {
            assert_eq!(
                allowed(family),
                !REFUSED_SOCKET_FAMILIES.contains(&family),
                "family {family}"
            );
        }
    }

    #[test]
    fn serialises_in_docker_form() {
        let v: serde_json::Value = serde_json::from_slice(&default_profile()).expect("valid JSON");
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["defaultErrnoRet"], 1);
        assert_eq!(v["archMap"][0]["architecture"], "SCMP_ARCH_X86_64");
        assert!(v.get("architectures").is_none());
        assert_eq!(v["archMap"][0]["subArchitectures"][1], "SCMP_ARCH_X32");
        assert!(v["archMap"][7].get("subArchitectures").is_none());
        assert_eq!(CLONE_NAMESPACE_FLAGS, 2_114_060_288);
    }
}
