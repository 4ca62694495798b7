//! Regression tests for container breakouts that hit runc and its peers:
//! CVE-2019-5736 (overwriting the runtime binary through /proc/PID/exe),
//! CVE-2024-21626 (leaked host fds and a cwd of /proc/self/fd/N),
//! CVE-2025-31133 (masking with a /dev/null that is not the null device), and
//! sysctl writes into a /proc that is not procfs (CVE-2025-52881's class).

use crate::{runtime, try_results};
use berth_conformance::{skip_if_lacking, temp_dir, Bundle, Gap, Invoke, Runtime};
use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

fn write_script(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod 755");
}

/// CVE-2019-5736. The runtime runs a *copy* of itself here, so a vulnerable
/// runtime damages only that copy. The container's pid 1 is a watcher that
/// tries to open for writing the executable of every process that appears in
/// the container; the test makes the runtime enter the container (`exec`) and
/// execute itself there (a `#!/proc/self/exe` script, `/proc/self/exe` as the
/// command, both as exec'd process and as entrypoint). Afterwards the copy
/// must be byte-for-byte unchanged.
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn cve_2019_5736_runtime_binary_cannot_be_overwritten() {
    let original_rt = runtime();
    let copy_dir = temp_dir("runtime-copy");
    let bin = copy_dir.path().join(
        original_rt
            .bin()
            .file_name()
            .expect("runtime path has a file name"),
    );
    berth_conformance::bundle::copy_executable(original_rt.bin(), &bin);
    let before = fs::read(&bin).expect("reading the runtime copy");
    let rt = Runtime::with_binary(&bin);

    let mut b = Bundle::new();
    write_script(&b.rootfs().join("evil"), "#!/proc/self/exe\n");
    // Calibration: a binary that is not one of the rootfs's usual ones.
    fs::copy(
        berth_conformance::checker_path(),
        b.rootfs().join("bin/victim"),
    )
    .expect("copying the calibration binary");
    b.checker(&["exe-attack", "/tmp/report.json", "/tmp/stop", "30"]);
    let c = rt.start_container(&b);
    c.exec(&[], &["/bin/victim", "sleep", "1"], Duration::from_secs(15))
        .expect_success("exec of the calibration binary");
    for _ in 0..3 {
        let _ = c.exec(&[], &["/evil"], Duration::from_secs(15));
        let _ = c.exec(&[], &["/proc/self/exe"], Duration::from_secs(15));
        let _ = c.exec(
            &[],
            &["/proc/self/exe", "--version"],
            Duration::from_secs(15),
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    fs::write(b.rootfs().join("tmp/stop"), "").expect("telling the watcher to stop");
    c.wait_status("stopped", Duration::from_secs(20));
    let report = fs::read_to_string(b.rootfs().join("tmp/report.json"))
        .unwrap_or_else(|e| format!("<no report: {e}>"));
    eprintln!("cve-2019-5736 watcher report: {report}");
    assert!(
        fs::read(&bin).expect("re-reading the runtime copy") == before,
        "the runtime binary on the host was modified from inside the container; watcher report: {report}"
    );
    // The watcher must have been able to do to the calibration binary what the
    // exploit does; otherwise this test would be blind.
    let calibrated: serde_json::Value = serde_json::from_str(&report).unwrap_or_default();
    let caught = calibrated["via_o_path"].as_array().is_some_and(|a| {
        a.iter().any(|t| {
            t["target"]["exe"] == json!("/bin/victim") && t["reopened_for_write"] == json!(true)
        })
    });
    assert!(
        caught,
        "calibration failed: the in-container watcher could not reopen an exec'd binary (/bin/victim) for writing, \
         so it could not have caught the runtime either; report: {report}"
    );

    for entrypoint in [vec!["/proc/self/exe"], vec!["/evil"]] {
        let mut b = Bundle::new();
        write_script(&b.rootfs().join("evil"), "#!/proc/self/exe\n");
        b.args(&entrypoint);
        let _ = rt.run_with(
            &b,
            &[],
            Invoke {
                timeout: Some(Duration::from_secs(20)),
                ..Invoke::default()
            },
        );
        assert!(
            fs::read(&bin).expect("re-reading the runtime copy") == before,
            "the runtime binary on the host changed after running {entrypoint:?} as the entrypoint"
        );
    }
}

/// CVE-2024-21626, part 1: no descriptor of the runtime (or of whoever started
/// it) may reach the container beyond stdio and --preserve-fds.
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn cve_2024_21626_only_stdio_and_preserved_fds_reach_the_container() {
    let rt = runtime();
    let host_dir = temp_dir("leaked-dir");
    let preserved = host_dir.path().join("preserved-file");
    fs::write(&preserved, "preserved\n").expect("writing the preserved file");
    let mut b = Bundle::new();
    b.checker(&["fds"]);
    let fds_of = |out: &berth_conformance::Output| -> Vec<i64> {
        let mut v: Vec<i64> = out.json()["fds"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f["fd"].as_i64()).collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
    };

    let out = rt
        .run_with(
            &b,
            &[],
            Invoke {
                leak_fds: vec![(7, host_dir.path().into())],
                ..Invoke::default()
            },
        )
        .expect_success("run with a host directory leaked as fd 7");
    assert_eq!(
        fds_of(&out),
        vec![0, 1, 2],
        "only stdio may be open in the container; {out}"
    );

    let out = rt
        .run_with(
            &b,
            &["--preserve-fds", "1"],
            Invoke {
                leak_fds: vec![(3, preserved.clone()), (7, host_dir.path().into())],
                ..Invoke::default()
            },
        )
        .expect_success("run --preserve-fds 1");
    assert_eq!(
        fds_of(&out),
        vec![0, 1, 2, 3],
        "stdio plus the one preserved fd; {out}"
    );
    let target = out.json()["fds"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["fd"] == 3).cloned())
        .unwrap_or_default();
    assert!(
        target["target"]
            .as_str()
            .is_some_and(|t| t.ends_with("preserved-file")),
        "fd 3 must be the preserved file; observed {target}"
    );
}

/// CVE-2024-21626, part 2: a cwd of /proc/self/fd/N must never leave the
/// process in a directory outside the container (the runtime may refuse it).
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn cve_2024_21626_cwd_through_proc_self_fd_stays_inside() {
    let rt = runtime();
    let host_dir = temp_dir("leaked-cwd");
    fs::write(host_dir.path().join("HOST-DIR-MARKER"), "host\n").expect("writing the marker");
    let mut violations = Vec::new();
    let mut outcomes = Vec::new();
    for leak in [false, true] {
        for n in 3u8..=9 {
            let mut b = Bundle::new();
            b.process()["cwd"] = json!(format!("/proc/self/fd/{n}"));
            b.checker(&["cwd"]);
            let leak_fds = if leak {
                vec![(n, host_dir.path().to_path_buf())]
            } else {
                vec![]
            };
            let out = rt.run_with(
                &b,
                &[],
                Invoke {
                    leak_fds,
                    timeout: Some(Duration::from_secs(20)),
                    ..Invoke::default()
                },
            );
            if out.timed_out {
                violations.push(format!(
                    "cwd /proc/self/fd/{n} (host dir leaked: {leak}): the runtime hung; {out}"
                ));
                continue;
            }
            if !out.success() {
                outcomes.push(format!("fd {n} leak={leak}: refused"));
                continue;
            }
            let j = out.json();
            let saw_host = j["entries"]
                .as_array()
                .is_some_and(|e| e.contains(&json!("HOST-DIR-MARKER")));
            if j["inside_root"] != json!(true) || saw_host {
                violations.push(format!(
                    "cwd /proc/self/fd/{n} (host dir leaked: {leak}): the process started in a directory outside the container: {j}"
                ));
            }
            outcomes.push(format!("fd {n} leak={leak}: ran in {}", j["cwd"]));
        }
    }
    eprintln!("cwd /proc/self/fd/N outcomes: {outcomes:?}");
    assert!(
        violations.is_empty(),
        "{}\n(all outcomes: {outcomes:?})",
        violations.join("\n")
    );
}

/// CVE-2025-31133: masking binds the container's /dev/null over each masked
/// path; if the container controls what /dev/null is, the "mask" becomes a
/// writable bind of the attacker's file. The runtime must check that
/// /dev/null is the real character device 1:3 (or refuse to start).
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn cve_2025_31133_masking_refuses_a_fake_dev_null() {
    let rt = runtime();
    skip_if_lacking!(rt, Gap::DevNullVerification);
    for variant in ["bind-over-dev-null", "dev-is-a-host-dir"] {
        let mut b = Bundle::new();
        fs::write(b.rootfs().join("etc/berth-secret"), "SECRET\n").expect("writing the secret");
        b.linux()["maskedPaths"]
            .as_array_mut()
            .expect("base config has maskedPaths")
            .push(json!("/etc/berth-secret"));
        let fake = match variant {
            "bind-over-dev-null" => {
                let fake = b.path().join("fake-null");
                fs::write(&fake, "ATTACKER-FILE\n").expect("writing the fake /dev/null");
                b.add_mount(json!({ "destination": "/dev/null", "type": "bind", "source": fake, "options": ["bind", "rw"] }));
                fake
            }
            _ => {
                let dev = b.path().join("fake-dev");
                fs::create_dir(&dev).expect("mkdir fake-dev");
                let fake = dev.join("null");
                fs::write(&fake, "ATTACKER-FILE\n").expect("writing the fake /dev/null");
                for m in b.mounts().iter_mut().filter(|m| m["destination"] == "/dev") {
                    *m = json!({ "destination": "/dev", "type": "bind", "source": dev, "options": ["rbind", "rw"] });
                }
                fake
            }
        };
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o666))
            .expect("chmod the fake /dev/null");
        b.checker(&[
            "try",
            "read:/etc/berth-secret",
            "append:/etc/berth-secret",
            "read:/etc/berth-secret",
        ]);
        let out = rt.run(&b);
        let fake_now = fs::read_to_string(&fake).unwrap_or_default();
        assert_eq!(
            fake_now, "ATTACKER-FILE\n",
            "{variant}: the container wrote through a masked path into the host file posing as /dev/null; {out}"
        );
        if !out.success() {
            eprintln!("note ({variant}): the runtime refused the fake /dev/null: {out}");
            continue;
        }
        let r = try_results(&out);
        assert_eq!(
            r[0]["data"], json!(""),
            "{variant}: the masked file must read empty, not the fake /dev/null's (or the file's) content; {out}"
        );
        assert!(
            r[2]["ok"] == json!(false) || r[2]["data"] == json!(""),
            "{variant}: a write to the masked path stuck; {out}"
        );
    }
}

/// The runtime writes linux.sysctl through /proc/sys. If the config's /proc is
/// not procfs (a bind of a directory holding a fake sys/ tree, a tmpfs the
/// container filled, or no /proc mount over a rootfs with a fake tree), the
/// runtime must refuse rather than write into the fake file.
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn sysctl_writes_need_a_real_procfs() {
    let rt = runtime();
    let fake_tree = |root: &Path| {
        let dir = root.join("sys/net/ipv4");
        fs::create_dir_all(&dir).expect("mkdir the fake sys tree");
        fs::write(dir.join("ip_forward"), "fake\n").expect("writing the fake sysctl file");
        dir.join("ip_forward")
    };
    let mut failures = Vec::new();
    for variant in [
        "proc-is-a-bind",
        "proc-is-a-tmpfs-with-symlinks",
        "no-proc-mount",
    ] {
        if variant != "proc-is-a-bind" {
            if let Some(reason) = rt.lacks(Gap::VerifiedProcfsWrites) {
                eprintln!("SKIP variant {variant}: {reason}");
                continue;
            }
        }
        let mut b = Bundle::new();
        b.linux()["sysctl"] = json!({ "net.ipv4.ip_forward": "1" });
        b.linux()["readonlyPaths"] = json!([]);
        b.linux()["maskedPaths"] = json!([]);
        b.shell("cat /proc/sys/net/ipv4/ip_forward");
        let fake_file = match variant {
            "proc-is-a-bind" => {
                let src = b.path().join("fake-proc");
                let f = fake_tree(&src);
                for m in b
                    .mounts()
                    .iter_mut()
                    .filter(|m| m["destination"] == "/proc")
                {
                    *m = json!({ "destination": "/proc", "type": "bind", "source": src, "options": ["rbind", "rw"] });
                }
                Some(f)
            }
            "proc-is-a-tmpfs-with-symlinks" => {
                for m in b
                    .mounts()
                    .iter_mut()
                    .filter(|m| m["destination"] == "/proc")
                {
                    *m = json!({ "destination": "/proc", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"] });
                }
                let fake = b.rootfs().join("etc/fake-ip-forward");
                fs::write(&fake, "fake\n").expect("writing the redirect target");
                // createContainer hooks run after the mounts, before pivot_root:
                // fill the tmpfs with a symlink that redirects the sysctl write.
                let proc_dir = b.rootfs().join("proc");
                b.config["hooks"] = json!({ "createContainer": [{
                    "path": "/bin/sh",
                    "args": ["sh", "-c", format!(
                        "mkdir -p {0}/sys/net/ipv4 && ln -s /etc/fake-ip-forward {0}/sys/net/ipv4/ip_forward",
                        proc_dir.display()
                    )]
                }]});
                Some(fake)
            }
            _ => {
                b.mounts().retain(|m| m["destination"] != "/proc");
                Some(fake_tree(&b.rootfs().join("proc")))
            }
        };
        let out = rt.run(&b);
        if let Some(f) = &fake_file {
            let now = fs::read_to_string(f).unwrap_or_default();
            if now != "fake\n" {
                failures.push(format!("{variant}: the runtime wrote the sysctl into the fake file {} (now {now:?}); {out}", f.display()));
                continue;
            }
        }
        if out.success() && out.stdout.trim() != "fake" {
            failures.push(format!(
                "{variant}: the container started and its fake /proc/sys/net/ipv4/ip_forward reads {:?}: the sysctl went into a non-procfs file; {out}",
                out.stdout.trim()
            ));
            continue;
        }
        if out.success() {
            failures.push(format!("{variant}: the runtime started the container without applying the sysctl (no procfs at /proc); {out}"));
            continue;
        }
        if !out.all_output().to_lowercase().contains("proc") {
            failures.push(format!(
                "{variant}: refused, but the error does not say that /proc is the problem; {out}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
