//! The container process: user and groups, umask, cwd, env, rlimits,
//! capabilities, no_new_privs, oom_score_adj, terminal via --console-socket,
//! seccomp, hooks, personality, scheduler and I/O priority.

use crate::{assert_errno, assert_ok, runtime};
use berth_conformance::host::{cap_mask, cap_names};
use berth_conformance::{skip_if_lacking, temp_dir, Bundle, ConsoleSocket, Gap};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn user_group_and_additional_gids() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.process()["user"] = json!({ "uid": 1000, "gid": 1001, "additionalGids": [10, 20] });
    b.checker(&["uid"]);
    let out = rt.run(&b).expect_success("run as 1000:1001");
    let j = out.json();
    assert_eq!(
        j["uid"],
        json!([1000, 1000, 1000, 1000]),
        "real, effective, saved, fs uid; {out}"
    );
    assert_eq!(
        j["gid"],
        json!([1001, 1001, 1001, 1001]),
        "real, effective, saved, fs gid; {out}"
    );
    let mut groups: Vec<i64> = j["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    groups.sort_unstable();
    assert_eq!(
        groups,
        vec![10, 20],
        "supplementary groups must be exactly additionalGids; {out}"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn umask() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.process()["user"]["umask"] = json!(0o027);
    b.checker(&["umask"]);
    let out = rt.run(&b).expect_success("run with umask 027");
    assert_eq!(out.json()["Umask"], json!("0027"), "umask; {out}");
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn cwd() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.process()["cwd"] = json!("/etc");
    b.checker(&["cwd"]);
    let out = rt.run(&b).expect_success("run with cwd /etc");
    let j = out.json();
    assert_eq!(j["cwd"], json!("/etc"), "cwd; {out}");
    assert_eq!(
        j["inside_root"],
        json!(true),
        "cwd must be inside the container's root; {out}"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn env_is_exactly_the_configured_one() {
    let rt = runtime();
    let mut b = Bundle::new();
    let env = [
        "PATH=/bin",
        "BERTH_A=1",
        "BERTH_SPACES=two words",
        "BERTH_EMPTY=",
        "BERTH_EQ=a=b",
    ];
    b.process()["env"] = json!(env);
    b.checker(&["env"]);
    let opts = berth_conformance::Invoke {
        env: vec![("BERTH_HOST_LEAK".into(), "leaked".into())],
        ..Default::default()
    };
    let out = rt.run_with(&b, &[], opts).expect_success("run with env");
    let got: Vec<String> = out.json()["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    for want in env {
        assert!(
            got.iter().any(|g| g == want),
            "{want:?} missing from the container's environment {got:?}"
        );
    }
    // runc adds HOME from /etc/passwd when the config has none; nothing else may appear.
    let extra: Vec<&String> = got
        .iter()
        .filter(|g| !env.contains(&g.as_str()) && !g.starts_with("HOME="))
        .collect();
    assert!(
        extra.is_empty(),
        "unexpected variables in the container (leaked from the runtime?): {extra:?}"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn rlimits() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.process()["rlimits"] = json!([
        { "type": "RLIMIT_NOFILE", "soft": 1000, "hard": 2000 },
        { "type": "RLIMIT_MSGQUEUE", "soft": 4096, "hard": 8192 },
        { "type": "RLIMIT_CORE", "soft": 0, "hard": 0 }
    ]);
    b.checker(&["rlimits"]);
    let out = rt.run(&b).expect_success("run with rlimits");
    let j = out.json();
    for (name, soft, hard) in [
        ("RLIMIT_NOFILE", 1000, 2000),
        ("RLIMIT_MSGQUEUE", 4096, 8192),
        ("RLIMIT_CORE", 0, 0),
    ] {
        assert_eq!(
            j[name],
            json!({ "soft": soft, "hard": hard }),
            "{name}; {out}"
        );
    }
}

fn caps_config(
    bounding: &[&str],
    effective: &[&str],
    permitted: &[&str],
    inheritable: &[&str],
    ambient: &[&str],
) -> Value {
    json!({ "bounding": bounding, "effective": effective, "permitted": permitted, "inheritable": inheritable, "ambient": ambient })
}

#[track_caller]
fn assert_caps(j: &Value, key: &str, want: &[&str], out: &berth_conformance::Output) {
    let got = j[key].as_str().unwrap_or("").to_string();
    assert_eq!(
        got,
        cap_mask(want),
        "{key}: expected {want:?}, observed {:?}; {out}",
        cap_names(&got)
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn capabilities_all_five_sets_for_a_non_root_user() {
    let rt = runtime();
    let mut b = Bundle::new();
    let bnd = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
    ];
    let set = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    b.process()["user"] = json!({ "uid": 1000, "gid": 1000 });
    b.process()["capabilities"] = caps_config(&bnd, &set, &set, &set, &set);
    b.checker(&["caps"]);
    let out = rt
        .run(&b)
        .expect_success("run with capabilities as uid 1000");
    let j = out.json();
    assert_caps(&j, "CapBnd", &bnd, &out);
    for key in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
        assert_caps(&j, key, &set, &out);
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn capabilities_for_root() {
    let rt = runtime();
    let mut b = Bundle::new();
    let bnd = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
    ];
    let one = ["CAP_NET_BIND_SERVICE"];
    b.process()["capabilities"] = caps_config(&bnd, &bnd, &bnd, &one, &one);
    b.checker(&["caps"]);
    let out = rt.run(&b).expect_success("run with capabilities as root");
    let j = out.json();
    // For uid 0 execve makes permitted = effective = bounding (plus inheritable).
    for key in ["CapBnd", "CapEff", "CapPrm"] {
        assert_caps(&j, key, &bnd, &out);
    }
    assert_caps(&j, "CapInh", &one, &out);
    assert_caps(&j, "CapAmb", &one, &out);

    b.process()["capabilities"] = caps_config(&[], &[], &[], &[], &[]);
    let out = rt
        .run(&b)
        .expect_success("run with no capabilities as root");
    let j = out.json();
    for key in ["CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"] {
        assert_caps(&j, key, &[], &out);
    }
}

/// The lowest capability this kernel knows that our own bounding set lacks (the
/// runtime, started by us, lacks it too), if any: CAP_SYS_RESOURCE on some hosts.
fn capability_missing_from_our_bounding_set() -> Option<&'static str> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let bnd = status.lines().find_map(|l| l.strip_prefix("CapBnd:"))?;
    let bnd = u64::from_str_radix(bnd.trim(), 16).ok()?;
    let last: usize = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    berth_conformance::host::CAPS
        .iter()
        .take(last + 1)
        .enumerate()
        .find(|(n, _)| bnd & (1 << n) == 0)
        .map(|(_, name)| *name)
}

/// A capability the host cannot grant fails `create`. runc fails too, in capset,
/// with "unable to apply caps: operation not permitted" (no name); berth-runc's
/// message names the capability, so the name is checked for runtimes other than runc.
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn a_capability_missing_from_the_hosts_bounding_set_fails_create() {
    let Some(missing) = capability_missing_from_our_bounding_set() else {
        eprintln!(
            "SKIP {}: this host's bounding set has every capability the kernel knows",
            berth_conformance::current_test()
        );
        return;
    };
    let rt = runtime();
    let mut b = Bundle::new();
    let set = ["CAP_CHOWN", missing];
    b.process()["capabilities"] = caps_config(&set, &set, &set, &[], &[]);
    b.checker(&["caps"]);
    let (_c, out) = rt.create(&b, &[]);
    let out = out.expect_failure(&format!("create asking for {missing}"));
    if !rt.describe().starts_with("runc") {
        let text = out.all_output();
        assert!(
            text.contains(&format!(
                "capability {missing} is not in the bounding set of this host"
            )),
            "the error must name {missing}; {out}"
        );
    }

    // Everything the host does have (what an engine writes for --privileged) runs.
    let status = fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let bnd = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .expect("CapBnd")
        .trim()
        .to_string();
    let have = cap_names(&bnd);
    // Numbers past the table (a kernel newer than it) are left out of the request.
    let have: Vec<&str> = have
        .iter()
        .map(String::as_str)
        .filter(|n| n.starts_with("CAP_"))
        .collect();
    b.process()["capabilities"] = caps_config(&have, &have, &have, &[], &[]);
    let out = rt
        .run(&b)
        .expect_success("run with the host's whole bounding set");
    let j = out.json();
    for key in ["CapBnd", "CapEff", "CapPrm"] {
        assert_caps(&j, key, &have, &out);
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn no_new_privileges() {
    let rt = runtime();
    for (nnp, want) in [(true, 1), (false, 0)] {
        let mut b = Bundle::new();
        b.process()["noNewPrivileges"] = json!(nnp);
        b.checker(&["status"]);
        let out = rt.run(&b).expect_success("run checker status");
        assert_eq!(
            out.json()["NoNewPrivs"],
            json!(want),
            "noNewPrivileges={nnp}: NoNewPrivs; {out}"
        );
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn oom_score_adj() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.process()["oomScoreAdj"] = json!(500);
    b.checker(&["oom"]);
    let out = rt.run(&b).expect_success("run with oomScoreAdj 500");
    assert_eq!(
        out.json()["oom_score_adj"],
        json!(500),
        "oom_score_adj; {out}"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn terminal_through_console_socket() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.process()["terminal"] = json!(true);
    b.shell("echo hello-from-pty; /bin/checker fds; /bin/checker stat /dev/console");
    let sock_path = rt.scratch().join("console.sock");
    let console = ConsoleSocket::listen(&sock_path, Duration::from_secs(20));
    let sock = sock_path.to_string_lossy().into_owned();
    let (c, out) = rt.create(&b, &["--console-socket", &sock]);
    out.expect_success("create --console-socket");
    c.start().expect_success("start");
    c.wait_status("stopped", Duration::from_secs(15));
    let text = console
        .output()
        .unwrap_or_else(|e| panic!("console socket: {e}"));
    assert!(
        text.contains("hello-from-pty"),
        "the container's output did not come through the pty master: {text:?}"
    );
    let docs: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l.trim()).ok())
        .collect();
    let fds = docs
        .iter()
        .find(|d| d.get("fds").is_some())
        .unwrap_or_else(|| panic!("no fds report in {text:?}"));
    for fd in 0..3 {
        let target = fds["fds"]
            .as_array()
            .and_then(|a| a.iter().find(|f| f["fd"] == fd))
            .map(|f| f["target"].clone());
        assert!(
            target
                .as_ref()
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with("/dev/pts/")),
            "fd {fd} must be the pty slave (/dev/pts/N), observed {target:?}"
        );
    }
    let console_dev = docs
        .iter()
        .find(|d| d.get("/dev/console").is_some())
        .map(|d| d["/dev/console"].clone())
        .unwrap_or_default();
    assert_eq!(
        console_dev["type"],
        json!("char"),
        "/dev/console must be the pty (a char device); observed {console_dev}"
    );
    assert_eq!(
        console_dev["major"],
        json!(136),
        "/dev/console must be a pts device (major 136); observed {console_dev}"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn seccomp_errno_actions() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.linux()["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOMSG },
            { "names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO" }
        ]
    });
    b.checker(&["seccomp", "mkdir:/tmp/d", "chmod:/tmp", "create:/tmp/f"]);
    let out = rt.run(&b).expect_success("run with a seccomp filter");
    let j = out.json();
    let r = j["results"].as_array().cloned().unwrap_or_default();
    assert_errno(
        &r[0],
        libc::ENOMSG,
        "mkdir under SCMP_ACT_ERRNO with errnoRet",
    );
    assert_errno(
        &r[1],
        libc::EPERM,
        "chmod under SCMP_ACT_ERRNO without errnoRet (EPERM is the default)",
    );
    assert_ok(&r[2], "a syscall the filter does not name");
    assert_eq!(
        j["Seccomp"],
        json!(2),
        "Seccomp mode in /proc/self/status must be 2 (filter); {out}"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn hooks_run_in_order_with_state_on_stdin() {
    let rt = runtime();
    let logs = temp_dir("hooks");
    fs::set_permissions(logs.path(), fs::Permissions::from_mode(0o777)).expect("chmod hooks dir");
    let h = logs.path().to_string_lossy().into_owned();
    let host_hook = |name: &str| json!({ "path": "/bin/sh", "args": ["sh", "-c", format!("cat > {h}/{name}.json; echo {name} >> {h}/log")] });
    let mut b = Bundle::new();
    b.add_mount(
        json!({ "destination": "/hooks", "type": "bind", "source": h, "options": ["bind", "rw"] }),
    );
    b.config["hooks"] = json!({
        "prestart": [host_hook("prestart")],
        "createRuntime": [host_hook("createRuntime")],
        "createContainer": [host_hook("createContainer")],
        // startContainer runs in the container: paths resolve in its rootfs.
        "startContainer": [{ "path": "/bin/sh", "args": ["sh", "-c", "cat > /hooks/startContainer.json; echo startContainer >> /hooks/log"] }],
        "poststart": [host_hook("poststart")],
        "poststop": [host_hook("poststop")]
    });
    b.args(&["/bin/sleep", "1000"]);
    let log = || -> Vec<String> {
        fs::read_to_string(logs.path().join("log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    };

    // Old runc runs poststart during create; check the rest of the order for it.
    let early_poststart = rt.lacks(Gap::PoststartOnStart);
    if let Some(reason) = &early_poststart {
        eprintln!("note: not checking when poststart runs: {reason}");
    }
    let (c, out) = rt.create(&b, &[]);
    out.expect_success("create with hooks");
    let mut want = vec!["prestart", "createRuntime", "createContainer"];
    if early_poststart.is_some() {
        want.push("poststart");
    }
    assert_eq!(log(), want, "hooks run by create, in order");
    c.start().expect_success("start with hooks");
    want.push("startContainer");
    if early_poststart.is_none() {
        want.push("poststart");
    }
    assert_eq!(log(), want, "hooks run by start, in order");
    c.kill("9").expect_success("kill");
    c.wait_status("stopped", Duration::from_secs(10));
    c.delete().expect_success("delete with hooks");
    want.push("poststop");
    assert_eq!(log(), want, "poststop runs on delete");
    let all = [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ];

    let bundle = fs::canonicalize(b.path()).expect("canonical bundle path");
    for name in all {
        let text = fs::read_to_string(logs.path().join(format!("{name}.json"))).unwrap_or_default();
        let st: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("{name} hook: stdin must carry the state JSON ({e}); got {text:?}")
        });
        assert_eq!(st["id"], json!(c.id()), "{name} hook state id: {st}");
        assert!(
            st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
            "{name} hook state ociVersion: {st}"
        );
        let got_bundle = st["bundle"]
            .as_str()
            .map(|p| fs::canonicalize(p).unwrap_or_else(|_| p.into()));
        assert_eq!(
            got_bundle.as_deref(),
            Some(bundle.as_path()),
            "{name} hook state bundle: {st}"
        );
        if name != "poststop" {
            assert!(
                st["pid"].as_i64().is_some_and(|p| p > 0),
                "{name} hook state must carry the container pid: {st}"
            );
        }
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn failing_create_runtime_hook_fails_create() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.config["hooks"] =
        json!({ "createRuntime": [{ "path": "/bin/sh", "args": ["sh", "-c", "exit 3"] }] });
    b.args(&["/bin/sleep", "1000"]);
    let (c, out) = rt.create(&b, &[]);
    out.expect_failure("create with a failing createRuntime hook");
    if let Ok(st) = c.state() {
        assert_eq!(
            st.status, "stopped",
            "after a failed create the container must not be usable; state: {}",
            st.raw
        );
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn personality_linux32() {
    let rt = runtime();
    skip_if_lacking!(rt, Gap::Personality);
    let mut b = Bundle::new();
    b.linux()["personality"] = json!({ "domain": "LINUX32" });
    b.args(&["/bin/uname", "-m"]);
    let out = rt.run(&b).expect_success("run with personality LINUX32");
    assert_eq!(out.stdout.trim(), "i686", "uname -m under LINUX32; {out}");
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn scheduler_policy() {
    let rt = runtime();
    skip_if_lacking!(rt, Gap::Scheduler);
    let mut b = Bundle::new();
    b.process()["scheduler"] = json!({ "policy": "SCHED_BATCH", "nice": 5 });
    b.checker(&["sched"]);
    let out = rt.run(&b).expect_success("run with scheduler SCHED_BATCH");
    let j = out.json();
    assert_eq!(
        j["policy"],
        json!(3),
        "scheduling policy (SCHED_BATCH = 3); {out}"
    );
    assert_eq!(j["nice"], json!(5), "nice; {out}");
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn io_priority() {
    let rt = runtime();
    skip_if_lacking!(rt, Gap::IoPriority);
    let mut b = Bundle::new();
    b.process()["ioPriority"] = json!({ "class": "IOPRIO_CLASS_BE", "priority": 6 });
    b.args(&["/bin/ionice"]);
    let out = rt.run(&b).expect_success("run with ioPriority");
    assert_eq!(
        out.stdout.trim(),
        "best-effort: prio 6",
        "ionice inside; {out}"
    );
}
