//! berth's default seccomp profile: it resolves, for every capability set and
//! architecture, to the same OCI filter as Docker's default profile, and it refuses what
//! a container must not do (judged by evaluating the resolved rules the way the kernel
//! filter does).

use std::collections::BTreeSet;

use berth_seccomp::caps::{self, Capability};
use berth_seccomp::{default_profile, docker_profile_to_oci_for_kernel};
use oci_spec::runtime::{Capabilities, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

/// Docker's own default profile, from the project's shared reference directory next to
/// the checkout, or `BERTH_DOCKER_SECCOMP_PROFILE`; `None` (with a note) when absent.
fn docker_default_json() -> Option<Vec<u8>> {
    let path: std::path::PathBuf = std::env::var_os("BERTH_DOCKER_SECCOMP_PROFILE")
        .map(Into::into)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/reference/docker-default-seccomp.json")
        });
    match std::fs::read(&path) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("SKIP: Docker's default profile {}: {e}", path.display());
            None
        }
    }
}

fn with(extra: &[Capability]) -> Capabilities {
    let mut c = caps::docker_default();
    c.extend(extra.iter().copied());
    c
}

fn all_caps() -> Capabilities {
    (0..=40).filter_map(caps::from_number).collect()
}

fn resolve(json: &[u8], caps: &Capabilities, arch: &str, kernel: (u32, u32)) -> LinuxSeccomp {
    docker_profile_to_oci_for_kernel(json, caps, arch, kernel)
        .unwrap_or_else(|e| panic!("profile resolves for {arch} {kernel:?}: {e}"))
}

/// One (syscall, action, errno, and-ed conditions) fact per name of each rule: what the
/// filter does, whatever order or grouping the rules come in.
type Fact = (String, String, Option<u32>, Vec<(usize, u64, u64, String)>);

fn facts(s: &LinuxSeccomp) -> BTreeSet<Fact> {
    let mut out = BTreeSet::new();
    for r in s.syscalls().iter().flatten() {
        let mut args: Vec<_> = r
            .args()
            .iter()
            .flatten()
            .map(|a| {
                (
                    a.index(),
                    a.value(),
                    a.value_two().unwrap_or(0),
                    format!("{:?}", a.op()),
                )
            })
            .collect();
        args.sort();
        for n in r.names() {
            out.insert((
                n.clone(),
                format!("{:?}", r.action()),
                r.errno_ret(),
                args.clone(),
            ));
        }
    }
    out
}

#[test]
fn resolves_like_dockers_default_for_every_capability_set_and_architecture() {
    let Some(reference) = docker_default_json() else {
        return;
    };
    let ours = default_profile();
    let cap_sets: Vec<(&str, Capabilities)> = vec![
        ("none", Capabilities::new()),
        ("docker default", caps::docker_default()),
        ("+SYS_ADMIN", with(&[Capability::SysAdmin])),
        ("+SYS_PTRACE", with(&[Capability::SysPtrace])),
        ("+BPF", with(&[Capability::Bpf])),
        (
            "+PERFMON +SYSLOG",
            with(&[Capability::Perfmon, Capability::Syslog]),
        ),
        (
            "+BOOT +MODULE +TIME +NICE +RAWIO",
            with(&[
                Capability::SysBoot,
                Capability::SysModule,
                Capability::SysTime,
                Capability::SysNice,
                Capability::SysRawio,
                Capability::DacReadSearch,
            ]),
        ),
        ("all", all_caps()),
    ];
    // (Not loongarch64: oci-spec has no SCMP_ARCH_LOONGARCH64, so neither profile
    // resolves there.)
    let arches = [
        "x86_64", "aarch64", "x86", "arm", "s390x", "riscv64", "ppc64le", "mips64",
    ];
    let mut compared = 0;
    for (label, caps) in &cap_sets {
        for arch in arches {
            for kernel in [(6, 1), (4, 4)] {
                let want = resolve(&reference, caps, arch, kernel);
                let got = resolve(&ours, caps, arch, kernel);
                let ctx = format!("caps {label}, {arch}, kernel {kernel:?}");
                assert_eq!(got.default_action(), want.default_action(), "{ctx}");
                assert_eq!(got.default_errno_ret(), want.default_errno_ret(), "{ctx}");
                assert_eq!(got.architectures(), want.architectures(), "{ctx}");
                let (g, w) = (facts(&got), facts(&want));
                let missing: Vec<_> = w.difference(&g).collect();
                let extra: Vec<_> = g.difference(&w).collect();
                assert!(
                    missing.is_empty() && extra.is_empty(),
                    "{ctx}: missing {missing:?}, extra {extra:?}"
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, cap_sets.len() * arches.len() * 2);
}

#[test]
fn resolved_default_builds_a_filter() {
    for caps in [caps::docker_default(), all_caps()] {
        for arch in ["x86_64", "aarch64"] {
            let s = resolve(&default_profile(), &caps, arch, (6, 1));
            berth_seccomp::build(&s).expect("libseccomp accepts the resolved profile");
        }
    }
}

/// What the filter answers for one call.
#[derive(Debug, PartialEq)]
enum Verdict {
    Allow,
    Errno(u32),
}

/// Evaluates the resolved rules as libseccomp's filter does: a rule applies when all
/// its conditions hold; the first (and, in this profile, only) applying rule decides;
/// otherwise the default action.
fn verdict(s: &LinuxSeccomp, name: &str, args: [u64; 6]) -> Verdict {
    let holds = |op: LinuxSeccompOperator, arg: u64, value: u64, two: u64| match op {
        LinuxSeccompOperator::ScmpCmpNe => arg != value,
        LinuxSeccompOperator::ScmpCmpLt => arg < value,
        LinuxSeccompOperator::ScmpCmpLe => arg <= value,
        LinuxSeccompOperator::ScmpCmpEq => arg == value,
        LinuxSeccompOperator::ScmpCmpGe => arg >= value,
        LinuxSeccompOperator::ScmpCmpGt => arg > value,
        LinuxSeccompOperator::ScmpCmpMaskedEq => arg & value == two,
    };
    let applying: Vec<_> = s
        .syscalls()
        .iter()
        .flatten()
        .filter(|r| r.names().iter().any(|n| n == name))
        .filter(|r| {
            r.args().iter().flatten().all(|a| {
                holds(
                    a.op(),
                    args[a.index()],
                    a.value(),
                    a.value_two().unwrap_or(0),
                )
            })
        })
        .collect();
    let to_verdict = |action: LinuxSeccompAction, errno: Option<u32>| match action {
        LinuxSeccompAction::ScmpActAllow => Verdict::Allow,
        LinuxSeccompAction::ScmpActErrno => Verdict::Errno(errno.unwrap_or(1)),
        other => panic!("{name}: unexpected action {other:?}"),
    };
    match applying.as_slice() {
        [] => to_verdict(s.default_action(), s.default_errno_ret()),
        [first, rest @ ..] => {
            let v = to_verdict(first.action(), first.errno_ret());
            for r in rest {
                assert_eq!(
                    to_verdict(r.action(), r.errno_ret()),
                    v,
                    "{name}: rules disagree"
                );
            }
            v
        }
    }
}

const EPERM: Verdict = Verdict::Errno(1);
const ENOSYS: Verdict = Verdict::Errno(38);
const CLONE_NEWUSER: u64 = 0x1000_0000;
const CLONE_NEWNET: u64 = 0x4000_0000;
/// What glibc's pthread_create passes to clone.
const THREAD_FLAGS: u64 = 0x003d_0f00;
const SIGCHLD: u64 = 17;

#[test]
fn refuses_what_an_unprivileged_container_must_not_do() {
    let d = caps::docker_default();
    for arch in ["x86_64", "aarch64"] {
        let s = resolve(&default_profile(), &d, arch, (6, 1));
        for name in [
            "keyctl",
            "add_key",
            "request_key",
            "unshare",
            "setns",
            "mount",
            "umount2",
            "pivot_root",
            "reboot",
            "kexec_load",
            "kexec_file_load",
            "bpf",
            "perf_event_open",
            "init_module",
            "open_by_handle_at",
            "io_uring_setup",
            "userfaultfd",
            "swapon",
            "settimeofday",
            "acct",
            "syslog",
            "kcmp",
        ] {
            assert_eq!(verdict(&s, name, [0; 6]), EPERM, "{arch}: {name}");
        }
        for name in [
            "read",
            "openat",
            "getpid",
            "mkdirat",
            "ptrace",
            "process_vm_readv",
            "chown",
        ] {
            assert_eq!(verdict(&s, name, [0; 6]), Verdict::Allow, "{arch}: {name}");
        }
        // fork and threads go through; new namespaces do not.
        assert_eq!(
            verdict(&s, "clone", [SIGCHLD, 0, 0, 0, 0, 0]),
            Verdict::Allow
        );
        assert_eq!(
            verdict(&s, "clone", [THREAD_FLAGS, 0, 0, 0, 0, 0]),
            Verdict::Allow
        );
        for flags in [CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWUSER | SIGCHLD] {
            assert_eq!(
                verdict(&s, "clone", [flags, 0, 0, 0, 0, 0]),
                EPERM,
                "{flags:#x}"
            );
        }
        assert_eq!(verdict(&s, "clone3", [0; 6]), ENOSYS);
        // personality: only the harmless values.
        for ok in [0, 8, 0x2_0000, 0x2_0008, 0xffff_ffff] {
            assert_eq!(
                verdict(&s, "personality", [ok, 0, 0, 0, 0, 0]),
                Verdict::Allow
            );
        }
        for bad in [
            0x0040_0000, /* READ_IMPLIES_EXEC */
            0x0004_0000, /* ADDR_NO_RANDOMIZE */
        ] {
            assert_eq!(verdict(&s, "personality", [bad, 0, 0, 0, 0, 0]), EPERM);
        }
        // socket: inet, unix, netlink yes; AF_ALG and AF_VSOCK no.
        for (family, want) in [
            (1, Verdict::Allow),
            (2, Verdict::Allow),
            (16, Verdict::Allow),
            (38, EPERM),
            (39, Verdict::Allow),
            (40, EPERM),
            (44, Verdict::Allow),
        ] {
            assert_eq!(
                verdict(&s, "socket", [family, 1, 0, 0, 0, 0]),
                want,
                "AF {family}"
            );
        }
    }
    // Architecture-specific calls only on their architecture.
    let x86 = resolve(&default_profile(), &d, "x86_64", (6, 1));
    let arm = resolve(&default_profile(), &d, "aarch64", (6, 1));
    assert_eq!(verdict(&x86, "arch_prctl", [0; 6]), Verdict::Allow);
    assert_eq!(verdict(&arm, "arch_prctl", [0; 6]), EPERM);
    assert_eq!(verdict(&arm, "cacheflush", [0; 6]), Verdict::Allow);
    assert_eq!(verdict(&x86, "cacheflush", [0; 6]), EPERM);
}

#[test]
fn capabilities_and_kernel_open_their_groups() {
    let json = default_profile();
    let on = |extra: &[Capability]| resolve(&json, &with(extra), "x86_64", (6, 1));

    // ptrace needs CAP_SYS_PTRACE before 4.8 (where it could bypass seccomp).
    let old = resolve(&json, &caps::docker_default(), "x86_64", (4, 4));
    assert_eq!(verdict(&old, "ptrace", [0; 6]), EPERM);
    let old_ptrace = resolve(&json, &with(&[Capability::SysPtrace]), "x86_64", (4, 4));
    assert_eq!(verdict(&old_ptrace, "ptrace", [0; 6]), Verdict::Allow);
    assert_eq!(
        verdict(&on(&[Capability::SysPtrace]), "kcmp", [0; 6]),
        Verdict::Allow
    );

    let admin = on(&[Capability::SysAdmin]);
    for name in ["mount", "unshare", "setns", "bpf", "clone3"] {
        assert_eq!(verdict(&admin, name, [0; 6]), Verdict::Allow, "{name}");
    }
    assert_eq!(
        verdict(&admin, "clone", [CLONE_NEWUSER, 0, 0, 0, 0, 0]),
        Verdict::Allow
    );
    assert_eq!(verdict(&admin, "reboot", [0; 6]), EPERM);
    assert_eq!(verdict(&admin, "keyctl", [0; 6]), EPERM);

    let bpf = on(&[Capability::Bpf]);
    assert_eq!(verdict(&bpf, "bpf", [0; 6]), Verdict::Allow);
    assert_eq!(verdict(&bpf, "mount", [0; 6]), EPERM);
    assert_eq!(
        verdict(&on(&[Capability::SysBoot]), "reboot", [0; 6]),
        Verdict::Allow
    );
    assert_eq!(
        verdict(&on(&[Capability::SysTime]), "clock_settime", [0; 6]),
        Verdict::Allow
    );
}
