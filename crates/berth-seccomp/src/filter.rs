//! `linux.seccomp` → a libseccomp filter, with runc's semantics: syscall names this
//! libseccomp does not know are skipped, rules whose action equals the default action
//! are skipped, conditions on distinct arguments are AND-ed in one rule while several
//! conditions on the same argument become one rule each (OR), and `SCMP_ACT_ERRNO` /
//! `SCMP_ACT_TRACE` without `errnoRet` return EPERM.

use std::os::fd::OwnedFd;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall, Seccomp, SeccompBuilder,
};

use crate::SeccompError;

/// Syscalls have at most six arguments.
const MAX_ARGS: usize = 6;

/// Above this many syscalls runc asks libseccomp for a binary-tree filter (libseccomp
/// <= 2.5.4 misbehaves with the tree and no rules, so small filters stay linear).
const BINARY_TREE_THRESHOLD: usize = 32;

/// Build a filter from the OCI config (does not load it).
///
/// Unknown syscall names are skipped (like runc: a profile may name syscalls newer than
/// this libseccomp). Actions, architectures, operators and flags are typed by
/// `oci-spec`, so an unknown one is already rejected, by name, when config.json is
/// parsed; what is left to validate here is rejected with an error naming the value.
pub fn build(s: &LinuxSeccomp) -> Result<ScmpFilterContext, SeccompError> {
    build_filter(s).map(|(ctx, _)| ctx)
}

/// Build the filter and load it into the calling thread (and, with
/// `SECCOMP_FILTER_FLAG_TSYNC`, every thread of the process).
///
/// Returns the notify listener when a rule with `SCMP_ACT_NOTIFY` made it into the
/// filter. The caller must have CAP_SYS_ADMIN or have set no_new_privs: the filter's
/// own no_new_privs attribute is off, as the runtime sets that bit itself when
/// `process.noNewPrivileges` asks for it.
pub fn load(s: &LinuxSeccomp) -> Result<Option<OwnedFd>, SeccompError> {
    let (ctx, notify) = build_filter(s)?;
    ctx.load()
        .map_err(SeccompError::lib("loading the filter"))?;
    if !notify {
        return Ok(None);
    }
    let raw = ctx
        .get_notify_fd()
        .map_err(SeccompError::lib("getting the notify listener"))?;
    let fd = berth_sys::seccomp::dup_raw_cloexec(raw).map_err(SeccompError::ListenerFd)?;
    // libseccomp keeps the listener in its global state and would hand the same one to
    // a later filter; resetting closes its copy so each load gets its own. Older
    // libseccomp lacks the reset: its copy is close-on-exec, so it ends at exec anyway.
    let _ = libseccomp::reset_global_state();
    Ok(Some(fd))
}

/// Whether any rule of the config uses `SCMP_ACT_NOTIFY` (so the runtime must expect a
/// listener and needs `listenerPath`).
pub fn uses_notify(s: &LinuxSeccomp) -> bool {
    s.syscalls()
        .iter()
        .flatten()
        .any(|r| r.action() == LinuxSeccompAction::ScmpActNotify)
}

/// What this runtime supports, for the `features` subcommand's `linux.seccomp`.
pub fn features() -> Seccomp {
    use LinuxSeccompAction::*;
    let api = libseccomp::get_api();
    let known_flags = [
        (LinuxSeccompFilterFlag::SeccompFilterFlagTsync, 2),
        (LinuxSeccompFilterFlag::SeccompFilterFlagLog, 3),
        (LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow, 4),
    ];
    let mut b = SeccompBuilder::default()
        .enabled(true)
        .actions(vec![
            ScmpActAllow,
            ScmpActErrno,
            ScmpActKill,
            ScmpActKillProcess,
            ScmpActKillThread,
            ScmpActLog,
            ScmpActNotify,
            ScmpActTrace,
            ScmpActTrap,
        ])
        .operators(
            [
                "SCMP_CMP_EQ",
                "SCMP_CMP_GE",
                "SCMP_CMP_GT",
                "SCMP_CMP_LE",
                "SCMP_CMP_LT",
                "SCMP_CMP_MASKED_EQ",
                "SCMP_CMP_NE",
            ]
            .map(String::from)
            .to_vec(),
        )
        .archs(ALL_ARCHES.to_vec())
        .known_flags(
            known_flags
                .iter()
                .map(|(f, _)| f.to_string())
                .collect::<Vec<_>>(),
        );
    // get_api() is 0 when libseccomp cannot tell; then "unknown" is the honest answer.
    if api > 0 {
        b = b.supported_flags(
            known_flags
                .iter()
                .filter(|(_, level)| api >= *level)
                .map(|(f, _)| f.to_string())
                .collect::<Vec<_>>(),
        );
    }
    b.build()
        .expect("every field of the seccomp features is set")
}

const ALL_ARCHES: [Arch; 18] = [
    Arch::ScmpArchNative,
    Arch::ScmpArchX86,
    Arch::ScmpArchX86_64,
    Arch::ScmpArchX32,
    Arch::ScmpArchArm,
    Arch::ScmpArchAarch64,
    Arch::ScmpArchMips,
    Arch::ScmpArchMips64,
    Arch::ScmpArchMips64n32,
    Arch::ScmpArchMipsel,
    Arch::ScmpArchMipsel64,
    Arch::ScmpArchMipsel64n32,
    Arch::ScmpArchPpc,
    Arch::ScmpArchPpc64,
    Arch::ScmpArchPpc64le,
    Arch::ScmpArchS390,
    Arch::ScmpArchS390x,
    Arch::ScmpArchRiscv64,
];

/// The filter, and whether a notify rule made it in.
fn build_filter(s: &LinuxSeccomp) -> Result<(ScmpFilterContext, bool), SeccompError> {
    let default = action(s.default_action(), s.default_errno_ret(), || {
        "the default action".to_string()
    })?;
    if default == ScmpAction::Notify {
        return Err(SeccompError::NotifyAsDefault);
    }
    let mut ctx =
        ScmpFilterContext::new(default).map_err(SeccompError::lib("creating the filter"))?;

    for &arch in s.architectures().iter().flatten() {
        ctx.add_arch(scmp_arch(arch))
            .map_err(SeccompError::lib(format!("adding architecture {arch}")))?;
    }
    for &flag in s.flags().iter().flatten() {
        let what = format!("setting flag {flag}");
        match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => ctx.set_ctl_log(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true),
        }
        .map_err(SeccompError::lib(what))?;
    }
    ctx.set_ctl_nnp(false)
        .map_err(SeccompError::lib("clearing the no_new_privs attribute"))?;

    let rules = s.syscalls().as_deref().unwrap_or_default();
    if rules.iter().map(|r| r.names().len()).sum::<usize>() > BINARY_TREE_THRESHOLD {
        // Only an optimisation: older libseccomp lacks it and builds a linear filter.
        let _ = ctx.set_ctl_optimize(2);
    }

    let mut notify = false;
    for rule in rules {
        notify |= add_rule(&mut ctx, rule, default)?;
    }
    Ok((ctx, notify))
}

/// Add one `linux.seccomp.syscalls[]` entry; true when a notify rule was added.
fn add_rule(
    ctx: &mut ScmpFilterContext,
    rule: &LinuxSyscall,
    default: ScmpAction,
) -> Result<bool, SeccompError> {
    let group = || format!("syscall {}", rule.names().join(","));
    let act = action(rule.action(), rule.errno_ret(), group)?;
    let args = rule.args().as_deref().unwrap_or_default();
    let conditions = args
        .iter()
        .map(|a| condition(a, group))
        .collect::<Result<Vec<_>, _>>()?;
    // libseccomp refuses a rule that repeats the default action (and it would be a no-op).
    if act == default {
        return Ok(false);
    }
    // runc: conditions on distinct arguments are AND-ed in one rule; as soon as one
    // argument is compared twice, each condition becomes a rule of its own (OR).
    let mut per_index = [0usize; MAX_ARGS];
    for a in args {
        per_index[a.index()] += 1;
    }
    let separate = per_index.iter().any(|&n| n > 1);

    let mut added = false;
    for name in rule.names() {
        let Ok(nr) = ScmpSyscall::from_name(name) else {
            // Unknown to this libseccomp (newer, or another architecture's only): runc
            // ignores such names so one profile serves many kernels.
            continue;
        };
        let what = || format!("adding a rule for syscall {name}");
        if separate {
            for c in &conditions {
                ctx.add_rule_conditional(act, nr, std::slice::from_ref(c))
                    .map_err(SeccompError::lib(what()))?;
            }
        } else {
            ctx.add_rule_conditional(act, nr, &conditions)
                .map_err(SeccompError::lib(what()))?;
        }
        added = true;
    }
    Ok(added && act == ScmpAction::Notify)
}

fn action(
    a: LinuxSeccompAction,
    errno_ret: Option<u32>,
    what: impl FnOnce() -> String,
) -> Result<ScmpAction, SeccompError> {
    // runc's default for both ERRNO and TRACE.
    let ret = || -> Result<u16, SeccompError> {
        let value = errno_ret.unwrap_or(libc::EPERM as u32);
        u16::try_from(value).map_err(|_| SeccompError::ErrnoRetOutOfRange {
            what: what(),
            value,
        })
    };
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::from(ret()?)),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(ret()?),
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    })
}

fn condition(
    a: &LinuxSeccompArg,
    group: impl FnOnce() -> String,
) -> Result<ScmpArgCompare, SeccompError> {
    if a.index() >= MAX_ARGS {
        return Err(SeccompError::ArgIndexOutOfRange {
            syscall: group(),
            index: a.index(),
        });
    }
    let (op, datum) = match a.op() {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, a.value()),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, a.value()),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, a.value()),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, a.value()),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, a.value()),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, a.value()),
        // OCI (like libseccomp): `value` is the mask, `valueTwo` what the masked
        // argument must equal.
        LinuxSeccompOperator::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(a.value()),
            a.value_two().unwrap_or(0),
        ),
    };
    let index = u32::try_from(a.index()).expect("index checked to be below 6");
    Ok(ScmpArgCompare::new(index, op, datum))
}

fn scmp_arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek};

    use libseccomp::ScmpArch;
    use serde_json::json;

    use super::*;

    fn spec(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).expect("a valid linux.seccomp")
    }

    #[test]
    fn compiled_programs_are_cached_by_content() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = dir.path().join("cache");
        let a = spec(
            json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}),
        );
        let first = compile(&a, Some(&cache))
            .expect("compile")
            .expect("a program");
        assert!(!first.program().is_empty() && first.program().len() & 7 == 0);
        assert_eq!(first.flags, 2, "the LOG flag is kept for the kernel");
        let files: Vec<_> = std::fs::read_dir(&cache)
            .expect("cache dir")
            .flatten()
            .collect();
        assert_eq!(files.len(), 1, "one cached program");
        let again = compile(&a, Some(&cache))
            .expect("compile")
            .expect("a program");
        assert_eq!(again, first, "read back from the cache");
        // A different filter gets its own entry, and a damaged entry is recompiled.
        let mut b = a.clone();
        b.set_default_action(oci_spec::runtime::LinuxSeccompAction::ScmpActKill);
        let other = compile(&b, Some(&cache))
            .expect("compile")
            .expect("a program");
        assert_ne!(other.program(), first.program());
        std::fs::write(files[0].path(), b"torn").expect("damage the entry");
        assert_eq!(
            compile(&a, Some(&cache))
                .expect("compile")
                .expect("a program"),
            first
        );
        // Notify filters keep going through libseccomp's own load.
        let n = spec(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
        );
        assert!(compile(&n, Some(&cache)).expect("compile").is_none());
    }

    /// The filter in libseccomp's pseudo-filter-code text, to assert on its rules.
    fn pfc(s: &LinuxSeccomp) -> String {
        let ctx = build(s).expect("the filter builds");
        let mut f = tempfile::tempfile().expect("a temporary file");
        ctx.export_pfc(&f).expect("export as PFC");
        f.rewind().expect("rewind");
        let mut out = String::new();
        f.read_to_string(&mut out).expect("PFC is text");
        out
    }

    /// The PFC block for one syscall (from its "# filter for syscall" line to the next).
    fn block<'a>(pfc: &'a str, name: &str) -> Option<&'a str> {
        let start = pfc.find(&format!("# filter for syscall \"{name}\""))?;
        let rest = &pfc[start + 1..];
        let end = rest
            .find("# filter for syscall")
            .map_or(rest.len(), |e| e + 1);
        Some(&pfc[start..start + end])
    }

    /// The action after "# default action".
    fn default_of(pfc: &str) -> &str {
        let (_, rest) = pfc
            .split_once("# default action")
            .expect("a default action");
        rest.lines().nth(1).map_or("", str::trim)
    }

    fn rule(names: &[&str], action: &str) -> serde_json::Value {
        json!({"names": names, "action": action})
    }

    #[test]
    fn every_action_becomes_its_libseccomp_action() {
        let cases = [
            ("SCMP_ACT_KILL", "KILL"),
            ("SCMP_ACT_KILL_THREAD", "KILL"),
            ("SCMP_ACT_KILL_PROCESS", "KILL_PROCESS"),
            ("SCMP_ACT_TRAP", "TRAP"),
            ("SCMP_ACT_ERRNO", "ERRNO(1)"),
            ("SCMP_ACT_TRACE", "TRACE(1)"),
            ("SCMP_ACT_LOG", "LOG"),
            // libseccomp 2.5's PFC prints SCMP_ACT_NOTIFY by value.
            ("SCMP_ACT_NOTIFY", "0x7fc00000"),
        ];
        for (oci, pfc_action) in cases {
            let s = spec(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [rule(&["mkdir"], oci)],
            }));
            let text = pfc(&s);
            let b =
                block(&text, "mkdir").unwrap_or_else(|| panic!("{oci}: no mkdir rule in\n{text}"));
            assert!(
                b.contains(&format!("action {pfc_action};")),
                "{oci}: expected action {pfc_action} in\n{b}"
            );
            assert_eq!(
                default_of(&text),
                "action ALLOW;",
                "{oci}: default action in\n{text}"
            );
        }
        let s = spec(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [rule(&["mkdir"], "SCMP_ACT_ALLOW")],
        }));
        let text = pfc(&s);
        assert!(
            block(&text, "mkdir").is_some_and(|b| b.contains("action ALLOW;")),
            "{text}"
        );
        assert_eq!(default_of(&text), "action ERRNO(1);", "{text}");
    }

    #[test]
    fn errno_ret_per_rule_and_default() {
        let s = spec(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28},
                {"names": ["rmdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
                rule(&["getpid"], "SCMP_ACT_ALLOW"),
            ],
        }));
        let text = pfc(&s);
        assert!(
            block(&text, "mkdir").is_some_and(|b| b.contains("action ERRNO(28);")),
            "{text}"
        );
        assert!(
            block(&text, "rmdir").is_some_and(|b| b.contains("action TRACE(7);")),
            "{text}"
        );
        assert_eq!(default_of(&text), "action ERRNO(38);", "{text}");
    }

    #[test]
    fn rules_equal_to_the_default_action_are_skipped() {
        let s = spec(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                // ERRNO without errnoRet is ERRNO(EPERM): the default itself.
                rule(&["mkdir"], "SCMP_ACT_ERRNO"),
                {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                // A different errno is a different action.
                {"names": ["chdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2},
                rule(&["getpid"], "SCMP_ACT_ALLOW"),
            ],
        }));
        let text = pfc(&s);
        assert!(block(&text, "mkdir").is_none(), "{text}");
        assert!(block(&text, "rmdir").is_none(), "{text}");
        assert!(
            block(&text, "chdir").is_some_and(|b| b.contains("ERRNO(2)")),
            "{text}"
        );
        assert!(block(&text, "getpid").is_some(), "{text}");
    }

    #[test]
    fn unknown_syscall_names_are_skipped() {
        let s = spec(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [rule(&["no_such_syscall", "mkdir", ""], "SCMP_ACT_ERRNO")],
        }));
        let text = pfc(&s);
        assert!(block(&text, "mkdir").is_some(), "{text}");
        assert!(!text.contains("no_such_syscall"), "{text}");
    }

    #[test]
    fn conditions_on_distinct_arguments_are_one_rule() {
        let s = spec(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{
                "names": ["getpriority"],
                "action": "SCMP_ACT_ERRNO",
                "args": [
                    {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                    {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"},
                ],
            }],
        }));
        let text = pfc(&s);
        let b = block(&text, "getpriority").expect("a getpriority rule");
        // AND: the a1 test is nested inside the a0 test, and ERRNO is taken once.
        assert_eq!(b.matches("action ERRNO(1);").count(), 1, "{b}");
        assert!(b.contains("$a0") && b.contains("$a1"), "{b}");
    }

    #[test]
    fn several_conditions_on_one_argument_are_one_rule_each() {
        // libseccomp refuses two comparisons of one argument in a single rule, so this
        // only builds because each condition became its own rule (runc's OR semantics).
        let s = spec(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{
                "names": ["personality"],
                "action": "SCMP_ACT_ERRNO",
                "args": [
                    {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                    {"index": 0, "value": 131072, "op": "SCMP_CMP_EQ"},
                    {"index": 1, "value": 3, "op": "SCMP_CMP_EQ"},
                ],
            }],
        }));
        let text = pfc(&s);
        let b = block(&text, "personality").expect("a personality rule");
        assert_eq!(b.matches("action ERRNO(1);").count(), 3, "{b}");
    }

    #[test]
    fn every_operator_builds() {
        for op in [
            "SCMP_CMP_NE",
            "SCMP_CMP_LT",
            "SCMP_CMP_LE",
            "SCMP_CMP_EQ",
            "SCMP_CMP_GE",
            "SCMP_CMP_GT",
            "SCMP_CMP_MASKED_EQ",
        ] {
            let s = spec(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{
                    "names": ["socket"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 16, "valueTwo": 16, "op": op}],
                }],
            }));
            let text = pfc(&s);
            assert!(
                block(&text, "socket").is_some_and(|b| b.contains("$a0")),
                "{op}: {text}"
            );
        }
    }

    #[test]
    fn masked_eq_uses_value_as_mask_and_value_two_as_datum() {
        let a: LinuxSeccompArg = serde_json::from_value(json!(
            {"index": 2, "value": 0o070, "valueTwo": 0o060, "op": "SCMP_CMP_MASKED_EQ"}
        ))
        .expect("an arg");
        let c = condition(&a, String::new).expect("a condition");
        let expected = ScmpArgCompare::new(2, ScmpCompareOp::MaskedEqual(0o070), 0o060);
        assert_eq!(format!("{c:?}"), format!("{expected:?}"));
    }

    #[test]
    fn architectures_are_added() {
        let s = spec(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"],
            "syscalls": [rule(&["mkdir"], "SCMP_ACT_ERRNO")],
        }));
        let ctx = build(&s).expect("builds");
        for arch in [
            ScmpArch::X8664,
            ScmpArch::X86,
            ScmpArch::X32,
            ScmpArch::Aarch64,
        ] {
            assert!(
                ctx.is_arch_present(arch).expect("query"),
                "{arch:?} missing"
            );
        }
        assert!(!ctx.is_arch_present(ScmpArch::S390X).expect("query"));
    }

    #[test]
    fn flags_set_filter_attributes_and_nnp_stays_off() {
        let s = spec(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        }));
        let ctx = build(&s).expect("builds");
        assert!(ctx.get_ctl_tsync().expect("tsync"));
        assert!(ctx.get_ctl_log().expect("log"));
        assert!(ctx.get_ctl_ssb().expect("ssb"));
        assert!(!ctx.get_ctl_nnp().expect("nnp"));

        let plain = build(&spec(json!({"defaultAction": "SCMP_ACT_ALLOW"}))).expect("builds");
        assert!(!plain.get_ctl_tsync().expect("tsync"));
        assert!(!plain.get_ctl_log().expect("log"));
    }

    #[test]
    fn notify_is_detected_and_refused_as_default() {
        let with = spec(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [rule(&["mkdir"], "SCMP_ACT_NOTIFY")],
        }));
        assert!(uses_notify(&with));
        assert!(!uses_notify(&spec(
            json!({"defaultAction": "SCMP_ACT_ALLOW"})
        )));

        let err = build(&spec(json!({"defaultAction": "SCMP_ACT_NOTIFY"}))).unwrap_err();
        assert!(matches!(err, SeccompError::NotifyAsDefault), "{err}");
        assert!(err.to_string().contains("SCMP_ACT_NOTIFY"), "{err}");
    }

    #[test]
    fn errno_ret_out_of_range_names_the_value_and_syscalls() {
        let err = build(&spec(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}],
        })))
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("70000") && msg.contains("mkdir,rmdir"),
            "{msg}"
        );

        let err = build(&spec(
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 65536}),
        ))
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("65536") && msg.contains("default action"),
            "{msg}"
        );
    }

    #[test]
    fn argument_index_out_of_range_names_it() {
        let err = build(&spec(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{
                "names": ["mkdir"],
                "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}],
            }],
        })))
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("argument index 6") && msg.contains("mkdir"),
            "{msg}"
        );
    }

    /// Actions, architectures, operators and flags are typed by oci-spec, so config.json
    /// parsing is where an unknown one fails; the message must name it.
    #[test]
    fn unknown_enum_values_are_rejected_by_name_when_parsing() {
        let cases = [
            json!({"defaultAction": "SCMP_ACT_BOGUS"}),
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_BOGUS"]}),
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]}),
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{
                "names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_BOGUS"}],
            }]}),
        ];
        for v in cases {
            let err = serde_json::from_value::<LinuxSeccomp>(v.clone()).unwrap_err();
            assert!(err.to_string().contains("BOGUS"), "{v}: {err}");
        }
    }

    #[test]
    fn features_list_what_build_accepts() {
        let f = features();
        assert_eq!(f.enabled(), &Some(true));
        assert_eq!(f.actions().as_ref().map(Vec::len), Some(9));
        assert_eq!(f.operators().as_ref().map(Vec::len), Some(7));
        assert!(f
            .archs()
            .as_ref()
            .is_some_and(|a| a.contains(&Arch::ScmpArchX86_64)));
        let known = f.known_flags().clone().unwrap_or_default();
        assert!(
            known.contains(&"SECCOMP_FILTER_FLAG_SPEC_ALLOW".to_string()),
            "{known:?}"
        );
        // Every advertised little-endian architecture builds next to x86_64 (the
        // native one is always in the filter, and libseccomp refuses to mix byte
        // orders, as it does for runc).
        let little = [
            "SCMP_ARCH_NATIVE",
            "SCMP_ARCH_X86",
            "SCMP_ARCH_X86_64",
            "SCMP_ARCH_X32",
            "SCMP_ARCH_ARM",
            "SCMP_ARCH_AARCH64",
            "SCMP_ARCH_MIPSEL",
            "SCMP_ARCH_MIPSEL64",
            "SCMP_ARCH_MIPSEL64N32",
            "SCMP_ARCH_PPC64LE",
            "SCMP_ARCH_RISCV64",
        ];
        let mut built = 0;
        for arch in f.archs().clone().unwrap_or_default() {
            let name = arch.to_string();
            if cfg!(target_arch = "x86_64") && little.contains(&name.as_str()) {
                let s = spec(json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": [arch]}));
                build(&s).unwrap_or_else(|e| panic!("{name}: {e}"));
                built += 1;
            }
        }
        if cfg!(target_arch = "x86_64") {
            assert_eq!(built, little.len());
        }
    }

    #[test]
    fn refused_architecture_mix_names_the_architecture() {
        let s = spec(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_S390X"],
        }));
        let msg = build(&s).unwrap_err().to_string();
        assert!(msg.contains("SCMP_ARCH_S390X"), "{msg}");
    }
}

/// A filter compiled to its BPF program, ready to load without libseccomp: what the
/// runtime prepares on the host before forking the container's init, so the init only
/// has to hand the program to the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledFilter {
    program: Vec<u8>,
    flags: u32,
}

impl CompiledFilter {
    /// The BPF program (`struct sock_filter` array).
    pub fn program(&self) -> &[u8] {
        &self.program
    }
}

/// Compiles `s` to BPF, through a cache of compiled programs in `cache_dir` (created
/// 0700) keyed by the filter's content, libseccomp's version and the host's
/// architecture: compiling a Docker-sized profile for three architectures costs tens of
/// milliseconds, reading it back a few microseconds. Returns None for filters that use
/// `SCMP_ACT_NOTIFY` (their listener comes from libseccomp's own load, see [`load`]).
/// A cache that cannot be read or written is skipped, never an error.
pub fn compile(
    s: &LinuxSeccomp,
    cache_dir: Option<&std::path::Path>,
) -> Result<Option<CompiledFilter>, SeccompError> {
    if uses_notify(s) {
        return Ok(None);
    }
    let mut flags = 0u32;
    for &flag in s.flags().iter().flatten() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 1,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => 2,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => 4,
        };
    }
    let cache_file = cache_dir.map(|d| d.join(format!("{}.bpf", cache_key(s))));
    if let Some(program) = cache_file.as_deref().and_then(read_cached) {
        return Ok(Some(CompiledFilter { program, flags }));
    }
    let (ctx, _) = build_filter(s)?;
    let program = export_bpf(&ctx)?;
    if let (Some(dir), Some(file)) = (cache_dir, &cache_file) {
        store_cached(dir, file, &program);
    }
    Ok(Some(CompiledFilter { program, flags }))
}

/// Loads a compiled filter into the calling thread (every thread with TSYNC). The
/// caller must have CAP_SYS_ADMIN or have set no_new_privs, as for [`load`].
pub fn load_compiled(f: &CompiledFilter) -> Result<(), SeccompError> {
    berth_sys::seccomp::set_mode_filter(f.flags, &f.program).map_err(|source| {
        SeccompError::Program {
            what: "loading the compiled filter".into(),
            source,
        }
    })
}

fn cache_key(s: &LinuxSeccomp) -> String {
    use sha2::{Digest, Sha256};
    let v =
        libseccomp::ScmpVersion::current().map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro));
    let mut h = Sha256::new();
    h.update(b"berth-seccomp-bpf-v1\0");
    h.update(std::env::consts::ARCH.as_bytes());
    h.update(b"\0");
    h.update(v.unwrap_or_default().as_bytes());
    h.update(b"\0");
    h.update(serde_json::to_vec(s).unwrap_or_default());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn read_cached(file: &std::path::Path) -> Option<Vec<u8>> {
    let data = std::fs::read(file).ok()?;
    // At most BPF_MAXINSNS (4096) instructions of 8 bytes.
    (!data.is_empty() && data.len() % 8 == 0 && data.len() <= 4096 * 8).then_some(data)
}

fn store_cached(dir: &std::path::Path, file: &std::path::Path, program: &[u8]) {
    use std::io::Write;
    use std::os::unix::fs::DirBuilderExt;
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir);
    let tmp = dir.join(format!(".{}.tmp", std::process::id()));
    let ok = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(program))
        .and_then(|_| std::fs::rename(&tmp, file));
    if ok.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

fn export_bpf(ctx: &ScmpFilterContext) -> Result<Vec<u8>, SeccompError> {
    use std::io::{Read, Seek};
    let fd = rustix::fs::memfd_create("berth-seccomp-bpf", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| SeccompError::Program {
            what: "creating a memfd for the BPF program".into(),
            source: e.into(),
        })?;
    ctx.export_bpf(&fd)
        .map_err(SeccompError::lib("exporting the filter as BPF"))?;
    let mut f = std::fs::File::from(fd);
    let mut program = Vec::new();
    f.rewind()
        .and_then(|_| f.read_to_end(&mut program))
        .map_err(|source| SeccompError::Program {
            what: "reading the exported BPF program".into(),
            source,
        })?;
    Ok(program)
}
