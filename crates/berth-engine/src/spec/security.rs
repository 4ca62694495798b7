//! What takes root's power away and what the process may still raise: `SecurityOpt`
//! (seccomp, no-new-privileges), capabilities (Docker's TweakCapabilities and
//! SetCapabilities), rlimits, the OOM score and the sysctls a container may set.
//! Docker's masked and read-only paths are berth-runtime's `defaults` (one copy for
//! the engine and `berth-runc spec`).

use std::collections::{BTreeMap, HashMap};

use berth_api_types::container::{HostConfig, Ulimit};
use berth_seccomp::caps::{self, Capabilities, Capability};
use oci_spec::runtime::{LinuxCapabilities, PosixRlimit, PosixRlimitBuilder, PosixRlimitType};

use super::{invalid, SpecError};

pub(super) enum SeccompChoice {
    Default,
    Unconfined,
    Profile(String),
}

pub(super) struct SecurityOpts {
    pub(super) no_new_privileges: bool,
    pub(super) seccomp: SeccompChoice,
}

pub(super) fn security_options(
    opts: &[String],
    warnings: &mut Vec<String>,
) -> Result<SecurityOpts, SpecError> {
    let mut out = SecurityOpts {
        no_new_privileges: false,
        seccomp: SeccompChoice::Default,
    };
    for opt in opts {
        if opt == "no-new-privileges" {
            out.no_new_privileges = true;
            continue;
        }
        if opt == "disable" {
            warnings.push("SecurityOpt \"disable\" (SELinux labels) is ignored: berth does not apply SELinux labels".to_string());
            continue;
        }
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .ok_or_else(|| invalid("HostConfig.SecurityOpt", opt, "expected key=value"))?;
        match key {
            "no-new-privileges" => {
                out.no_new_privileges = match value {
                    "true" | "1" | "t" | "T" | "TRUE" | "True" => true,
                    "false" | "0" | "f" | "F" | "FALSE" | "False" => false,
                    _ => return Err(invalid("HostConfig.SecurityOpt", opt, "not a boolean")),
                }
            }
            "seccomp" => {
                out.seccomp = match value {
                    "unconfined" => SeccompChoice::Unconfined,
                    "" => {
                        return Err(invalid(
                            "HostConfig.SecurityOpt",
                            opt,
                            "empty seccomp profile",
                        ))
                    }
                    json => SeccompChoice::Profile(json.to_string()),
                }
            }
            "label" | "apparmor" => warnings.push(format!(
                "SecurityOpt {opt:?} is ignored: berth applies no {} profile",
                if key == "label" {
                    "SELinux"
                } else {
                    "AppArmor"
                }
            )),
            "systempaths" if value == "unconfined" => {
                // The CLI sends this as empty MaskedPaths/ReadonlyPaths already.
            }
            _ => {
                return Err(invalid(
                    "HostConfig.SecurityOpt",
                    opt,
                    "unknown security option",
                ))
            }
        }
    }
    Ok(out)
}

fn cap_name(raw: &str) -> Result<Option<Capability>, SpecError> {
    if raw.eq_ignore_ascii_case("ALL") {
        return Ok(None);
    }
    caps::parse(raw)
        .map(Some)
        .map_err(|_| SpecError::UnknownCapability(raw.to_string()))
}

/// Docker's TweakCapabilities, bounded by what the host can give.
pub(super) fn capabilities(
    hc: &HostConfig,
    host: &Capabilities,
    warnings: &mut Vec<String>,
) -> Result<Capabilities, SpecError> {
    let add: Vec<Option<Capability>> = hc
        .cap_add
        .iter()
        .map(|c| cap_name(c))
        .collect::<Result<_, _>>()?;
    let drop: Vec<Option<Capability>> = hc
        .cap_drop
        .iter()
        .map(|c| cap_name(c))
        .collect::<Result<_, _>>()?;
    let wanted: Capabilities = if hc.privileged {
        return Ok(host.clone());
    } else if add.contains(&None) {
        host.iter()
            .filter(|c| !drop.contains(&Some(**c)))
            .copied()
            .collect()
    } else if drop.contains(&None) {
        add.iter().flatten().copied().collect()
    } else {
        caps::docker_default()
            .into_iter()
            .filter(|c| !drop.contains(&Some(*c)))
            .chain(add.iter().flatten().copied())
            .collect()
    };
    let mut missing: Vec<&str> = wanted
        .iter()
        .filter(|c| !host.contains(c))
        .map(|c| caps::name(*c))
        .collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        warnings.push(format!(
            "the host's bounding set lacks {}; the container does not get {}",
            missing.join(", "),
            if missing.len() == 1 { "it" } else { "them" }
        ));
    }
    Ok(wanted.into_iter().filter(|c| host.contains(c)).collect())
}

/// Docker's SetCapabilities: root gets the list in bounding, effective and permitted;
/// another user only in bounding, as execve would leave it. Inheritable and ambient
/// stay empty (CVE-2022-24769).
pub(super) fn capability_sets(caps: &Capabilities, uid: u32) -> LinuxCapabilities {
    let mut c = LinuxCapabilities::default();
    c.set_bounding(Some(caps.clone()));
    c.set_inheritable(Some(Capabilities::new()));
    c.set_ambient(Some(Capabilities::new()));
    if uid == 0 {
        c.set_effective(Some(caps.clone()));
        c.set_permitted(Some(caps.clone()));
    } else {
        c.set_effective(Some(Capabilities::new()));
        c.set_permitted(Some(Capabilities::new()));
    }
    c
}

pub(super) fn oom_score_adj(v: i64) -> Result<i32, SpecError> {
    if !(-1000..=1000).contains(&v) {
        return Err(invalid(
            "HostConfig.OomScoreAdj",
            v,
            "must be between -1000 and 1000",
        ));
    }
    Ok(v as i32)
}

pub(super) fn rlimits(
    defaults: &[Ulimit],
    request: &[Ulimit],
) -> Result<Vec<PosixRlimit>, SpecError> {
    let mut merged: Vec<&Ulimit> = defaults
        .iter()
        .filter(|d| !request.iter().any(|r| r.name == d.name))
        .collect();
    merged.extend(request);
    merged
        .into_iter()
        .map(|u| {
            let name = format!("RLIMIT_{}", u.name.to_ascii_uppercase());
            let typ: PosixRlimitType = serde_json::from_value(serde_json::Value::String(name))
                .map_err(|_| invalid("HostConfig.Ulimits", &u.name, "unknown ulimit"))?;
            let limit = |v: i64| match v {
                -1 => Ok(u64::MAX),
                v if v < 0 => Err(invalid(
                    "HostConfig.Ulimits",
                    format!("{}={v}", u.name),
                    "negative limit",
                )),
                v => Ok(v as u64),
            };
            let (soft, hard) = (limit(u.soft)?, limit(u.hard)?);
            if soft > hard {
                return Err(invalid(
                    "HostConfig.Ulimits",
                    format!("{}={}:{}", u.name, u.soft, u.hard),
                    "soft limit must be less than or equal to hard limit",
                ));
            }
            Ok(PosixRlimitBuilder::default()
                .typ(typ)
                .soft(soft)
                .hard(hard)
                .build()
                .expect("every field of a rlimit is set"))
        })
        .collect()
}

/// Sysctls Docker lets a container set: those of namespaces it owns.
pub(super) fn sysctls(
    given: &BTreeMap<String, String>,
    network_mode: &str,
    ipc_mode: &str,
    uts_host: bool,
) -> Result<HashMap<String, String>, SpecError> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    for key in given.keys() {
        let refuse = |why: &str| Err(invalid("HostConfig.Sysctls", key, why.to_string()));
        if IPC.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            if ipc_mode == "host" || ipc_mode.starts_with("container:") {
                return refuse("not allowed with a shared IPC namespace");
            }
        } else if key.starts_with("net.") {
            if network_mode == "host" || network_mode.starts_with("container:") {
                return refuse("not allowed with a shared network namespace");
            }
        } else if key == "kernel.domainname" || key == "kernel.hostname" {
            if uts_host {
                return refuse("not allowed with a shared UTS namespace");
            }
        } else {
            return refuse("not a namespaced sysctl a container may set");
        }
    }
    Ok(given.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}
