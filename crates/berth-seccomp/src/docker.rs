//! Docker's seccomp profile format (`names`, `archMap`, `includes`/`excludes` by
//! architecture, capability and kernel version) → OCI `linux.seccomp`, resolved for one
//! container the way dockerd resolves it: for the daemon's architecture, the
//! container's bounding capabilities and the running kernel.

use std::path::PathBuf;
use std::str::FromStr;

use oci_spec::runtime::{
    Arch, Capabilities, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder,
};
use serde::Deserialize;

use crate::{caps, SeccompError};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    #[serde(default)]
    default_action: String,
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    arch_map: Vec<ArchMap>,
    #[serde(default)]
    syscalls: Vec<Syscall>,
    #[serde(default)]
    flags: Vec<String>,
    listener_path: Option<PathBuf>,
    listener_metadata: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Syscall {
    #[serde(default)]
    name: String,
    #[serde(default)]
    names: Vec<String>,
    action: String,
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Arg>>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: usize,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    caps: Option<Vec<String>>,
    min_kernel: Option<String>,
}

/// Convert a Docker seccomp profile (e.g. Docker's default) into OCI form for a
/// container whose bounding set is `caps`, on architecture `arch` (Rust's or Go's
/// spelling: "x86_64"/"amd64", "aarch64"/"arm64", …), for the running kernel.
pub fn docker_profile_to_oci(
    json: &[u8],
    caps: &Capabilities,
    arch: &str,
) -> Result<LinuxSeccomp, SeccompError> {
    let release = rustix::system::uname();
    let release = release.release().to_string_lossy();
    let kernel = parse_kernel(&release).ok_or_else(|| {
        SeccompError::Profile(format!("cannot read the kernel version from {release:?}"))
    })?;
    docker_profile_to_oci_for_kernel(json, caps, arch, kernel)
}

/// [`docker_profile_to_oci`] for a given kernel `(major, minor)`, against which the
/// profile's `minKernel` conditions are checked.
pub fn docker_profile_to_oci_for_kernel(
    json: &[u8],
    caps: &Capabilities,
    arch: &str,
    kernel: (u32, u32),
) -> Result<LinuxSeccomp, SeccompError> {
    let p: Profile = serde_json::from_slice(json).map_err(SeccompError::ProfileJson)?;
    if p.default_action.is_empty() {
        return Err(SeccompError::Profile(
            "defaultAction is missing".to_string(),
        ));
    }
    if !p.architectures.is_empty() && !p.arch_map.is_empty() {
        return Err(SeccompError::Profile(
            "both 'architectures' and 'archMap' are specified, use either one".to_string(),
        ));
    }
    let go_arch = go_arch(arch);
    let cap_names: Vec<&str> = caps.iter().map(|c| caps::name(*c)).collect();

    let mut arches = p
        .architectures
        .iter()
        .map(|a| parse_enum::<Arch>(a, "architecture"))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(native) = seccomp_arch_name(go_arch) {
        for m in p.arch_map.iter().filter(|m| m.architecture == native) {
            arches.push(parse_enum(&m.architecture, "architecture")?);
            for sub in m.sub_architectures.iter().flatten() {
                arches.push(parse_enum(sub, "architecture")?);
            }
        }
    }

    let mut syscalls = Vec::new();
    for (i, call) in p.syscalls.iter().enumerate() {
        if !call.name.is_empty() && !call.names.is_empty() {
            return Err(SeccompError::Profile(format!(
                "syscalls[{i}] has both 'name' and 'names', use either one"
            )));
        }
        let names = if call.name.is_empty() {
            call.names.clone()
        } else {
            vec![call.name.clone()]
        };
        if let Some(ex) = &call.excludes {
            if ex.arches.iter().flatten().any(|a| a == go_arch)
                || ex
                    .caps
                    .iter()
                    .flatten()
                    .any(|c| cap_names.contains(&c.as_str()))
                || kernel_at_least(ex.min_kernel.as_deref(), kernel, i)? == Some(true)
            {
                continue;
            }
        }
        if let Some(inc) = &call.includes {
            let arches = inc.arches.as_deref().unwrap_or_default();
            if !arches.is_empty() && !arches.iter().any(|a| a == go_arch) {
                continue;
            }
            if !inc
                .caps
                .iter()
                .flatten()
                .all(|c| cap_names.contains(&c.as_str()))
            {
                continue;
            }
            if kernel_at_least(inc.min_kernel.as_deref(), kernel, i)? == Some(false) {
                continue;
            }
        }
        syscalls.push(syscall(call, names, i)?);
    }

    let mut s = LinuxSeccomp::default();
    s.set_default_action(parse_enum::<LinuxSeccompAction>(
        &p.default_action,
        "action",
    )?);
    s.set_default_errno_ret(p.default_errno_ret);
    if !arches.is_empty() {
        s.set_architectures(Some(arches));
    }
    if !p.flags.is_empty() {
        let flags = p
            .flags
            .iter()
            .map(|f| parse_enum::<LinuxSeccompFilterFlag>(f, "flag"))
            .collect::<Result<Vec<_>, _>>()?;
        s.set_flags(Some(flags));
    }
    s.set_listener_path(p.listener_path);
    s.set_listener_metadata(p.listener_metadata);
    s.set_syscalls(Some(syscalls));
    Ok(s)
}

fn syscall(call: &Syscall, names: Vec<String>, i: usize) -> Result<LinuxSyscall, SeccompError> {
    let args = call
        .args
        .iter()
        .flatten()
        .map(|a| -> Result<LinuxSeccompArg, SeccompError> {
            LinuxSeccompArgBuilder::default()
                .index(a.index)
                .value(a.value)
                .value_two(a.value_two)
                .op(parse_enum::<LinuxSeccompOperator>(&a.op, "operator")?)
                .build()
                .map_err(|e| SeccompError::Profile(format!("syscalls[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut b = LinuxSyscallBuilder::default()
        .names(names)
        .action(parse_enum::<LinuxSeccompAction>(&call.action, "action")?);
    if let Some(e) = call.errno_ret {
        b = b.errno_ret(e);
    }
    if !args.is_empty() {
        b = b.args(args);
    }
    b.build()
        .map_err(|e| SeccompError::Profile(format!("syscalls[{i}]: {e}")))
}

fn parse_enum<T: FromStr>(s: &str, kind: &str) -> Result<T, SeccompError> {
    T::from_str(s).map_err(|_| SeccompError::Profile(format!("unknown {kind} {s:?}")))
}

/// `Some(kernel >= min)` when the profile states a minimum kernel.
fn kernel_at_least(
    min: Option<&str>,
    kernel: (u32, u32),
    i: usize,
) -> Result<Option<bool>, SeccompError> {
    let Some(min) = min else { return Ok(None) };
    let want = parse_kernel(min).ok_or_else(|| {
        SeccompError::Profile(format!("syscalls[{i}]: invalid minKernel {min:?}"))
    })?;
    Ok(Some(kernel >= want))
}

/// "6.18.44-fc" or "4.8" → (major, minor).
fn parse_kernel(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()
        .map(|m| {
            let digits: String = m.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .unwrap_or(Some(0))?;
    Some((major, minor))
}

/// Docker profiles name architectures in `includes`/`excludes` as Go does.
fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "i386" | "i686" | "386" => "x86",
        "powerpc64le" => "ppc64le",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// The libseccomp name of a (Go-spelled) native architecture, for `archMap`.
fn seccomp_arch_name(go_arch: &str) -> Option<&'static str> {
    Some(match go_arch {
        "amd64" => "SCMP_ARCH_X86_64",
        "x86" => "SCMP_ARCH_X86",
        "x32" => "SCMP_ARCH_X32",
        "arm64" => "SCMP_ARCH_AARCH64",
        "arm" => "SCMP_ARCH_ARM",
        "mips64" => "SCMP_ARCH_MIPS64",
        "mips64n32" => "SCMP_ARCH_MIPS64N32",
        "mipsel64" => "SCMP_ARCH_MIPSEL64",
        "mipsel64n32" => "SCMP_ARCH_MIPSEL64N32",
        "mipsle" => "SCMP_ARCH_MIPSEL",
        "ppc" => "SCMP_ARCH_PPC",
        "ppc64" => "SCMP_ARCH_PPC64",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "s390" => "SCMP_ARCH_S390",
        "s390x" => "SCMP_ARCH_S390X",
        "loong64" => "SCMP_ARCH_LOONGARCH64",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::Capability;
    use serde_json::json;

    use super::*;

    /// Docker's own default profile, from the project's shared reference directory next
    /// to the checkout, or `BERTH_DOCKER_SECCOMP_PROFILE`. Tests that need it skip with a
    /// note when neither exists (a bare clone elsewhere).
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

    /// Every syscall name the profile allows, with the rule that allows it.
    fn rules_for<'a>(s: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        s.syscalls()
            .iter()
            .flatten()
            .filter(|r| r.names().iter().any(|n| n == name))
            .collect()
    }

    fn convert(json: &[u8], caps: &Capabilities, kernel: (u32, u32)) -> LinuxSeccomp {
        docker_profile_to_oci_for_kernel(json, caps, "x86_64", kernel)
            .expect("the docker default profile converts")
    }

    #[test]
    fn docker_default_for_x86_64_and_default_caps() {
        let Some(json) = docker_default_json() else {
            return;
        };
        let s = convert(&json, &caps::docker_default(), (6, 18));
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.default_errno_ret(), Some(1));
        assert_eq!(
            s.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        // The big allow list, arch- and kernel-gated extras.
        for allowed in [
            "getpid",
            "read",
            "arch_prctl",
            "modify_ldt",
            "ptrace",
            "chroot",
        ] {
            assert!(
                rules_for(&s, allowed)
                    .iter()
                    .any(|r| r.action() == LinuxSeccompAction::ScmpActAllow),
                "{allowed} should be allowed"
            );
        }
        // Gated on other architectures or capabilities the container lacks.
        for absent in [
            "s390_pci_mmio_read",
            "riscv_flush_icache",
            "bpf",
            "reboot",
            "unshare",
            "keyctl",
            "mount",
        ] {
            assert!(
                rules_for(&s, absent).is_empty(),
                "{absent} should not be listed"
            );
        }
        // clone3 answers ENOSYS without CAP_SYS_ADMIN, so libcs fall back to clone.
        let clone3 = rules_for(&s, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3[0].errno_ret(), Some(38));
        // clone is allowed only without namespace flags (x86 ordering: argument 0).
        let clone = rules_for(&s, "clone");
        assert_eq!(clone.len(), 1, "{clone:?}");
        let args = clone[0].args().clone().expect("conditions");
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].index(), 0);
        assert_eq!(args[0].value(), 2114060288);
        assert_eq!(args[0].value_two(), Some(0));
        assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        // personality: five allowed values, one rule each.
        assert_eq!(rules_for(&s, "personality").len(), 5);

        // And it is a filter libseccomp accepts.
        crate::build(&s).expect("the converted profile builds");
    }

    #[test]
    fn capabilities_and_kernel_version_gate_rules() {
        let Some(json) = docker_default_json() else {
            return;
        };
        let mut caps = caps::docker_default();
        caps.insert(Capability::SysAdmin);
        let s = convert(&json, &caps, (6, 18));
        // With CAP_SYS_ADMIN: mount, unshare, bpf, unrestricted clone and clone3.
        for allowed in ["mount", "unshare", "bpf", "clone3"] {
            assert!(
                rules_for(&s, allowed)
                    .iter()
                    .all(|r| r.action() == LinuxSeccompAction::ScmpActAllow)
                    && !rules_for(&s, allowed).is_empty(),
                "{allowed}"
            );
        }
        assert!(rules_for(&s, "clone").iter().all(|r| r.args().is_none()));

        // ptrace & co. need kernel 4.8 when CAP_SYS_PTRACE is absent.
        let old = convert(&json, &caps::docker_default(), (4, 4));
        assert!(rules_for(&old, "ptrace").is_empty());
        assert!(!rules_for(&convert(&json, &caps::docker_default(), (4, 8)), "ptrace").is_empty());
    }

    #[test]
    fn go_and_rust_architecture_names_agree() {
        let Some(json) = docker_default_json() else {
            return;
        };
        let d = caps::docker_default();
        let rust =
            docker_profile_to_oci_for_kernel(&json, &d, "aarch64", (6, 1)).expect("converts");
        let go = docker_profile_to_oci_for_kernel(&json, &d, "arm64", (6, 1)).expect("converts");
        assert_eq!(rust, go);
        assert_eq!(
            rust.architectures().as_deref(),
            Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
        );
        assert!(rules_for(&rust, "arch_prctl").is_empty());
        assert!(!rules_for(&rust, "cacheflush").is_empty());
    }

    #[test]
    fn the_running_kernel_is_used() {
        let Some(json) = docker_default_json() else {
            return;
        };
        let s = docker_profile_to_oci(&json, &caps::docker_default(), "x86_64").expect("converts");
        // Every kernel berth supports is newer than 4.8.
        assert!(!rules_for(&s, "ptrace").is_empty());
    }

    #[test]
    fn old_single_name_form_flags_and_listener() {
        let json = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "listenerPath": "/run/agent.sock",
            "listenerMetadata": "hello",
            "syscalls": [
                {"name": "mkdir", "action": "SCMP_ACT_NOTIFY", "args": null},
                {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                 "args": [{"index": 1, "value": 2048, "op": "SCMP_CMP_MASKED_EQ"}]},
            ],
        });
        let s = docker_profile_to_oci_for_kernel(
            json.to_string().as_bytes(),
            &caps::docker_default(),
            "x86_64",
            (6, 1),
        )
        .expect("converts");
        assert_eq!(
            s.flags().as_deref(),
            Some(&[LinuxSeccompFilterFlag::SeccompFilterFlagLog][..])
        );
        assert_eq!(
            s.listener_path().as_deref(),
            Some(std::path::Path::new("/run/agent.sock"))
        );
        assert_eq!(s.listener_metadata().as_deref(), Some("hello"));
        assert_eq!(
            rules_for(&s, "mkdir")[0].action(),
            LinuxSeccompAction::ScmpActNotify
        );
        assert_eq!(rules_for(&s, "chmod")[0].errno_ret(), Some(13));
    }

    #[test]
    fn invalid_profiles_are_errors_naming_the_problem() {
        let d = caps::docker_default();
        let conv = |v: serde_json::Value| {
            docker_profile_to_oci_for_kernel(v.to_string().as_bytes(), &d, "x86_64", (6, 1))
                .unwrap_err()
                .to_string()
        };
        let cases = [
            (json!({"defaultAction": "SCMP_ACT_BOGUS"}), "SCMP_ACT_BOGUS"),
            (json!({"syscalls": []}), "defaultAction"),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}),
                "SCMP_ARCH_VAX",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}),
                "SECCOMP_FILTER_FLAG_NOPE",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                    {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                     "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}),
                "SCMP_CMP_ALMOST",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                    {"name": "mkdir", "names": ["rmdir"], "action": "SCMP_ACT_ALLOW"}]}),
                "both 'name' and 'names'",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                    {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW",
                     "includes": {"minKernel": "four"}}]}),
                "four",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
                       "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}),
                "archMap",
            ),
        ];
        for (profile, needle) in cases {
            let msg = conv(profile.clone());
            assert!(msg.contains(needle), "{profile}: {msg}");
        }
        let msg = docker_profile_to_oci_for_kernel(b"{not json", &d, "x86_64", (6, 1))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("docker seccomp profile"), "{msg}");
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_kernel("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel("5.10.0+"), Some((5, 10)));
        assert_eq!(parse_kernel("5"), Some((5, 0)));
        assert_eq!(parse_kernel("5.4rc1"), Some((5, 4)));
        assert_eq!(parse_kernel("linux"), None);
    }
}
