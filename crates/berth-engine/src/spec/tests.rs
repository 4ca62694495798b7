use super::*;
use berth_seccomp::caps::{self, Capability};
use oci_spec::runtime::{LinuxDeviceType, LinuxSeccompAction, LinuxSyscall, Mount};
use serde_json::json;

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct Fixture {
    dir: tempfile::TempDir,
    ctx: SpecContext,
    /// Whether Docker's real default profile was found (else a stand-in is used).
    real_profile: bool,
}

fn reference_profile() -> Option<Vec<u8>> {
    let path = std::env::var_os("BERTH_DOCKER_SECCOMP_PROFILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/reference/docker-default-seccomp.json")
        });
    std::fs::read(path).ok()
}

fn all_caps() -> Capabilities {
    (0..=40).filter_map(caps::from_number).collect()
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).expect("mkdir");
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n\
         daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
         alice:x:1000:1000:Alice:/home/alice:/bin/sh\n",
    )
    .expect("passwd");
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\n\
         daemon:x:1:\n\
         wheel:x:10:root,alice\n\
         audio:x:29:alice\n\
         alice:x:1000:\n\
         staff:x:50:\n",
    )
    .expect("group");
    let mut ctx = SpecContext::new(ID, &rootfs);
    ctx.host_bounding_caps = all_caps();
    ctx.arch = "x86_64".to_string();
    let real = reference_profile();
    let real_profile = real.is_some();
    if !real_profile {
        eprintln!(
            "note: Docker's default seccomp profile not found; seccomp semantics are not checked"
        );
    }
    ctx.seccomp_profile = Some(real.unwrap_or_else(|| {
        br#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"architectures":["SCMP_ARCH_X86_64"],
             "syscalls":[{"names":["getpid","exit_group"],"action":"SCMP_ACT_ALLOW"}]}"#
            .to_vec()
    }));
    Fixture {
        dir,
        ctx,
        real_profile,
    }
}

fn busybox() -> ImageConfig {
    image(
        json!({"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]}),
    )
}

fn image(config: serde_json::Value) -> ImageConfig {
    serde_json::from_value(json!({
        "architecture": "amd64", "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": []}
    }))
    .expect("image config")
}

fn request(v: serde_json::Value) -> ContainerCreateRequest {
    serde_json::from_value(v).expect("create request")
}

fn gen(req: serde_json::Value, img: &ImageConfig, ctx: &SpecContext) -> GeneratedSpec {
    oci_spec(&request(req), img, ctx).expect("spec")
}

fn host(hc: serde_json::Value) -> serde_json::Value {
    json!({"Image": "busybox", "HostConfig": hc})
}

fn process(s: &Spec) -> &Process {
    s.process().as_ref().expect("process")
}

fn linux(s: &Spec) -> &oci_spec::runtime::Linux {
    s.linux().as_ref().expect("linux")
}

fn mount_at<'a>(s: &'a Spec, dest: &str) -> Option<&'a Mount> {
    s.mounts()
        .as_ref()?
        .iter()
        .find(|m| m.destination() == Path::new(dest))
}

fn opts(m: &Mount) -> Vec<String> {
    m.options().clone().unwrap_or_default()
}

fn cap_set(names: &[&str]) -> Capabilities {
    names.iter().map(|n| caps::parse(n).expect("cap")).collect()
}

fn ns_types(s: &Spec) -> Vec<LinuxNamespaceType> {
    linux(s)
        .namespaces()
        .as_ref()
        .expect("ns")
        .iter()
        .map(|n| n.typ())
        .collect()
}

/// Whether the filter lets `name` through unconditionally.
fn allows(rules: &[LinuxSyscall], name: &str) -> bool {
    rules.iter().any(|r| {
        r.action() == LinuxSeccompAction::ScmpActAllow
            && r.names().iter().any(|n| n == name)
            && r.args().as_ref().is_none_or(|a| a.is_empty())
    })
}

fn err(req: serde_json::Value, img: &ImageConfig, ctx: &SpecContext) -> String {
    oci_spec(&request(req), img, ctx)
        .expect_err("should fail")
        .to_string()
}

#[test]
fn default_busybox_sh_has_dockers_security_profile() {
    let f = fixture();
    let g = gen(json!({"Image": "busybox", "Tty": true}), &busybox(), &f.ctx);
    assert!(g.warnings.is_empty(), "{:?}", g.warnings);
    let s = &g.spec;
    let p = process(s);
    assert_eq!(p.args().as_deref(), Some(&["sh".to_string()][..]));
    assert_eq!(p.terminal(), Some(true));
    assert_eq!(p.cwd(), Path::new("/"));
    assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
    assert_eq!(p.no_new_privileges(), Some(false));
    assert_eq!(p.oom_score_adj(), Some(0));
    assert_eq!(s.hostname().as_deref(), Some("0123456789ab"));

    let c = p.capabilities().as_ref().expect("caps");
    let docker14 = caps::docker_default();
    assert_eq!(docker14.len(), 14);
    assert_eq!(c.bounding().as_ref(), Some(&docker14));
    assert_eq!(c.effective().as_ref(), Some(&docker14));
    assert_eq!(c.permitted().as_ref(), Some(&docker14));
    assert!(c.inheritable().as_ref().is_some_and(|i| i.is_empty()));
    assert!(c.ambient().as_ref().is_some_and(|a| a.is_empty()));

    let l = linux(s);
    assert_eq!(
        l.masked_paths().as_deref().expect("masked"),
        MASKED_PATHS
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        l.readonly_paths().as_deref().expect("ro"),
        READONLY_PATHS
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        l.cgroups_path().as_deref(),
        Some(Path::new(&format!("/berth/{ID}")))
    );

    let seccomp = l.seccomp().as_ref().expect("seccomp");
    assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(seccomp.default_errno_ret(), Some(1));
    let rules = seccomp.syscalls().clone().unwrap_or_default();
    assert!(allows(&rules, "getpid"));
    if f.real_profile {
        for denied in [
            "unshare",
            "mount",
            "setns",
            "umount2",
            "pivot_root",
            "bpf",
            "kexec_load",
        ] {
            assert!(
                !allows(&rules, denied),
                "{denied} must not be allowed by default"
            );
        }
        for allowed in ["read", "write", "execve", "chown", "setuid", "getppid"] {
            assert!(allows(&rules, allowed), "{allowed} must be allowed");
        }
    }

    // Mounts, in Docker's order and with its options.
    let dests: Vec<String> = s
        .mounts()
        .as_ref()
        .expect("mounts")
        .iter()
        .map(|m| m.destination().display().to_string())
        .collect();
    assert_eq!(
        dests,
        [
            "/proc",
            "/dev",
            "/sys",
            "/dev/pts",
            "/dev/mqueue",
            "/dev/shm",
            "/sys/fs/cgroup"
        ]
    );
    let shm = mount_at(s, "/dev/shm").expect("shm");
    assert_eq!(shm.typ().as_deref(), Some("tmpfs"));
    assert_eq!(
        opts(shm),
        ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]
    );
    assert_eq!(
        opts(mount_at(s, "/dev").expect("dev")),
        ["nosuid", "strictatime", "mode=755", "size=65536k"]
    );
    assert_eq!(
        opts(mount_at(s, "/dev/pts").expect("pts")),
        [
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5"
        ]
    );
    assert!(opts(mount_at(s, "/sys").expect("sys")).contains(&"ro".to_string()));
    assert!(opts(mount_at(s, "/sys/fs/cgroup").expect("cg")).contains(&"ro".to_string()));
    assert_eq!(
        mount_at(s, "/dev/mqueue")
            .and_then(|m| m.typ().clone())
            .as_deref(),
        Some("mqueue")
    );

    // Device rules: deny all, then Docker's list.
    let rules = l
        .resources()
        .as_ref()
        .and_then(|r| r.devices().clone())
        .expect("rules");
    let text: Vec<String> = rules
        .iter()
        .map(|r| {
            let n = |v: Option<i64>| v.map_or("*".to_string(), |v| v.to_string());
            format!(
                "{} {} {}:{} {}",
                if r.allow() { "allow" } else { "deny" },
                r.typ().map_or("a".to_string(), |t| t.as_str().to_string()),
                n(r.major()),
                n(r.minor()),
                r.access().clone().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        text,
        [
            "deny a *:* rwm",
            "allow c *:* m",
            "allow b *:* m",
            "allow c 1:3 rwm",
            "allow c 1:5 rwm",
            "allow c 1:7 rwm",
            "allow c 1:8 rwm",
            "allow c 1:9 rwm",
            "allow c 5:0 rwm",
            "allow c 5:1 rwm",
            "allow c 5:2 rwm",
            "allow c 136:* rwm",
            "allow c 10:200 rwm",
        ]
    );
    assert!(l.devices().as_ref().is_some_and(|d| d.is_empty()));

    // Namespaces; cgroupns follows the host's hierarchy.
    let types = ns_types(s);
    for t in [
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
    ] {
        assert!(types.contains(&t), "{t:?} missing");
    }
    assert_eq!(types.contains(&LinuxNamespaceType::Cgroup), f.ctx.cgroup_v2);
    assert!(!types.contains(&LinuxNamespaceType::User));
}

#[test]
fn cgroupns_private_on_v2_host_on_v1() {
    let mut f = fixture();
    f.ctx.cgroup_v2 = true;
    let s = gen(host(json!({})), &busybox(), &f.ctx).spec;
    assert!(ns_types(&s).contains(&LinuxNamespaceType::Cgroup));
    f.ctx.cgroup_v2 = false;
    let s = gen(host(json!({})), &busybox(), &f.ctx).spec;
    assert!(!ns_types(&s).contains(&LinuxNamespaceType::Cgroup));
    let s = gen(host(json!({"CgroupnsMode": "private"})), &busybox(), &f.ctx).spec;
    assert!(ns_types(&s).contains(&LinuxNamespaceType::Cgroup));
}

#[test]
fn spec_serialises_and_the_runtime_accepts_it() {
    let f = fixture();
    let s = gen(json!({"Image": "busybox", "Cmd": ["echo", "hi"], "Env": ["A=1"],
        "HostConfig": {"Memory": 67108864, "PidsLimit": 10, "Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}],
                       "Tmpfs": {"/run": "size=1m"}, "Sysctls": {"net.ipv4.ip_forward": "1"}}}),
        &busybox(), &f.ctx).spec;
    let text = serde_json::to_string_pretty(&s).expect("serialise");
    let back: Spec = serde_json::from_str(&text).expect("parse back");
    assert_eq!(back, s);
    let config = f.dir.path().join("config.json");
    std::fs::write(&config, &text).expect("write");
    let rootfs =
        berth_runtime::spec::validate(&back, f.dir.path(), &config).expect("runtime validation");
    assert_eq!(rootfs, f.ctx.rootfs);
    assert!(text.contains("\"RLIMIT_NOFILE\""));
}

#[test]
fn entrypoint_and_cmd_precedence() {
    let f = fixture();
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let with_both = image(json!({"Entrypoint": ["/ep", "-x"], "Cmd": ["dflt"]}));
    let cmd_only = image(json!({"Cmd": ["sh", "-c", "echo"]}));
    let ep_only = image(json!({"Entrypoint": ["/ep"]}));
    let cases: Vec<(&ImageConfig, serde_json::Value, Option<Vec<String>>)> = vec![
        // image ENTRYPOINT + CMD
        (&with_both, json!({}), Some(v(&["/ep", "-x", "dflt"]))),
        (
            &with_both,
            json!({"Cmd": ["a", "b"]}),
            Some(v(&["/ep", "-x", "a", "b"])),
        ),
        (
            &with_both,
            json!({"Entrypoint": ["/other"]}),
            Some(v(&["/other"])),
        ),
        (
            &with_both,
            json!({"Entrypoint": ["/other"], "Cmd": ["c"]}),
            Some(v(&["/other", "c"])),
        ),
        (
            &with_both,
            json!({"Entrypoint": [""], "Cmd": ["echo", "hi"]}),
            Some(v(&["echo", "hi"])),
        ),
        (&with_both, json!({"Entrypoint": [""]}), None),
        // image CMD only
        (&cmd_only, json!({}), Some(v(&["sh", "-c", "echo"]))),
        (&cmd_only, json!({"Cmd": ["ls"]}), Some(v(&["ls"]))),
        (
            &cmd_only,
            json!({"Entrypoint": ["/bin/env"]}),
            Some(v(&["/bin/env"])),
        ),
        (&cmd_only, json!({"Entrypoint": [""]}), None),
        // image ENTRYPOINT only
        (&ep_only, json!({}), Some(v(&["/ep"]))),
        (&ep_only, json!({"Cmd": ["x"]}), Some(v(&["/ep", "x"]))),
        // Entrypoint [] (not null) keeps the image's Cmd but not its entrypoint, as dockerd merges.
        (&with_both, json!({"Entrypoint": []}), Some(v(&["dflt"]))),
    ];
    for (img, mut req, want) in cases {
        req["Image"] = json!("x");
        let label = req.to_string();
        match (oci_spec(&request(req), img, &f.ctx), want) {
            (Ok(g), Some(want)) => {
                assert_eq!(process(&g.spec).args().as_ref(), Some(&want), "{label}")
            }
            (Err(SpecError::NoCommand), None) => {}
            (other, want) => panic!("{label}: got {other:?}, want {want:?}"),
        }
    }
}

#[test]
fn init_wraps_the_command() {
    let mut f = fixture();
    assert!(err(host(json!({"Init": true})), &busybox(), &f.ctx).contains("HostConfig.Init"));
    f.ctx.init_path = Some(PathBuf::from("/usr/libexec/berth-init"));
    let s = gen(
        json!({"Image": "b", "Cmd": ["top"], "HostConfig": {"Init": true}}),
        &busybox(),
        &f.ctx,
    )
    .spec;
    assert_eq!(
        process(&s).args().as_deref().expect("args"),
        ["/dev/init", "--", "top"]
    );
    let m = mount_at(&s, "/dev/init").expect("init mount");
    assert_eq!(
        m.source().as_deref(),
        Some(Path::new("/usr/libexec/berth-init"))
    );
    assert_eq!(opts(m), ["bind", "ro"]);
    // The bind comes after /dev is mounted.
    let ms = s.mounts().as_ref().expect("mounts");
    let pos = |d: &str| {
        ms.iter()
            .position(|m| m.destination() == Path::new(d))
            .expect("present")
    };
    assert!(pos("/dev") < pos("/dev/init"));
}

#[test]
fn environment_merge() {
    let f = fixture();
    let img = image(json!({"Env": ["PATH=/img/bin", "A=image", "B=image"], "Cmd": ["sh"]}));
    let g = gen(
        json!({"Image": "x", "Hostname": "box", "Env": ["A=req", "C=req", "B"]}),
        &img,
        &f.ctx,
    );
    let env = process(&g.spec).env().clone().expect("env");
    assert_eq!(env, ["PATH=/img/bin", "HOSTNAME=box", "A=req", "C=req"]);
    assert_eq!(g.spec.hostname().as_deref(), Some("box"));
    // PATH default when nobody sets it, TERM with a tty.
    let g = gen(
        json!({"Image": "x", "Tty": true}),
        &image(json!({"Cmd": ["sh"]})),
        &f.ctx,
    );
    let env = process(&g.spec).env().clone().expect("env");
    assert_eq!(
        env,
        [
            format!("PATH={DEFAULT_PATH_ENV}"),
            format!("HOSTNAME={}", &ID[..12]),
            "TERM=xterm".into()
        ]
    );
}

#[test]
fn working_dir_precedence() {
    let f = fixture();
    let img = image(json!({"Cmd": ["sh"], "WorkingDir": "/srv"}));
    assert_eq!(
        process(&gen(json!({"Image": "x"}), &img, &f.ctx).spec).cwd(),
        Path::new("/srv")
    );
    assert_eq!(
        process(&gen(json!({"Image": "x", "WorkingDir": "/tmp"}), &img, &f.ctx).spec).cwd(),
        Path::new("/tmp")
    );
    assert!(
        err(json!({"Image": "x", "WorkingDir": "rel"}), &img, &f.ctx).contains("Config.WorkingDir")
    );
}

fn user_of(f: &Fixture, user: &str, group_add: &[&str]) -> Result<(u32, u32, Vec<u32>), String> {
    let req = json!({"Image": "x", "User": user, "HostConfig": {"GroupAdd": group_add}});
    oci_spec(&request(req), &busybox(), &f.ctx)
        .map(|g| {
            let u = process(&g.spec).user().clone();
            (
                u.uid(),
                u.gid(),
                u.additional_gids().clone().unwrap_or_default(),
            )
        })
        .map_err(|e| e.to_string())
}

#[test]
fn user_resolution() {
    let f = fixture();
    assert_eq!(user_of(&f, "", &[]), Ok((0, 0, vec![10])));
    assert_eq!(user_of(&f, "alice", &[]), Ok((1000, 1000, vec![10, 29])));
    assert_eq!(user_of(&f, "1000", &[]), Ok((1000, 1000, vec![10, 29])));
    assert_eq!(user_of(&f, "alice:staff", &[]), Ok((1000, 50, vec![])));
    assert_eq!(user_of(&f, "1234:5678", &[]), Ok((1234, 5678, vec![])));
    assert_eq!(user_of(&f, "1234", &[]), Ok((1234, 0, vec![])));
    assert_eq!(
        user_of(&f, "daemon", &["staff", "777", "audio"]),
        Ok((1, 1, vec![50, 777, 29]))
    );
    let e = user_of(&f, "nobody", &[]).expect_err("unknown user");
    assert!(e.contains("unable to find user nobody"), "{e}");
    let e = user_of(&f, "alice:nogroup", &[]).expect_err("unknown group");
    assert!(e.contains("unable to find group nogroup"), "{e}");
    let e = user_of(&f, "alice", &["ghosts"]).expect_err("unknown group");
    assert!(e.contains("ghosts"), "{e}");
    // Image USER applies when the request gives none; the request's wins.
    let img = image(json!({"Cmd": ["sh"], "User": "alice"}));
    let s = gen(json!({"Image": "x"}), &img, &f.ctx).spec;
    assert_eq!(process(&s).user().uid(), 1000);
    let s = gen(json!({"Image": "x", "User": "0"}), &img, &f.ctx).spec;
    assert_eq!(process(&s).user().uid(), 0);
}

#[test]
fn non_root_user_gets_caps_only_in_bounding() {
    let f = fixture();
    let s = gen(json!({"Image": "x", "User": "alice"}), &busybox(), &f.ctx).spec;
    let c = process(&s).capabilities().clone().expect("caps");
    assert_eq!(c.bounding().as_ref(), Some(&caps::docker_default()));
    assert!(c.effective().as_ref().is_some_and(|e| e.is_empty()));
    assert!(c.permitted().as_ref().is_some_and(|e| e.is_empty()));
}

#[test]
fn passwd_symlink_out_of_the_rootfs_is_not_followed() {
    let f = fixture();
    let outside = f.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("passwd"), "mallory:x:4242:4242::/:/bin/sh\n").expect("write");
    let passwd = f.ctx.rootfs.join("etc/passwd");
    std::fs::remove_file(&passwd).expect("rm");
    std::os::unix::fs::symlink(outside.join("passwd"), &passwd).expect("symlink");
    // A host process following the link would find mallory.
    assert!(std::fs::read_to_string(&passwd)
        .expect("via host")
        .contains("mallory"));
    let e = user_of(&f, "mallory", &[]).expect_err("must not be found");
    assert!(e.contains("unable to find user mallory"), "{e}");
    // Relative escapes are clamped too.
    std::fs::remove_file(&passwd).expect("rm");
    std::os::unix::fs::symlink("../../outside/passwd", &passwd).expect("symlink");
    let e = user_of(&f, "mallory", &[]).expect_err("must not be found");
    assert!(e.contains("unable to find user mallory"), "{e}");
}

fn caps_of(f: &Fixture, hc: serde_json::Value) -> Result<Capabilities, String> {
    oci_spec(&request(host(hc)), &busybox(), &f.ctx)
        .map(|g| {
            process(&g.spec)
                .capabilities()
                .clone()
                .and_then(|c| c.bounding().clone())
                .unwrap_or_default()
        })
        .map_err(|e| e.to_string())
}

#[test]
fn cap_add_and_drop() {
    let f = fixture();
    let mut want = caps::docker_default();
    want.insert(Capability::NetAdmin);
    assert_eq!(
        caps_of(&f, json!({"CapAdd": ["NET_ADMIN"]})),
        Ok(want.clone())
    );
    assert_eq!(caps_of(&f, json!({"CapAdd": ["cap_net_admin"]})), Ok(want));
    let mut want = caps::docker_default();
    want.remove(&Capability::Chown);
    want.remove(&Capability::NetRaw);
    assert_eq!(
        caps_of(&f, json!({"CapDrop": ["CHOWN", "CAP_NET_RAW"]})),
        Ok(want)
    );
    assert_eq!(
        caps_of(&f, json!({"CapDrop": ["ALL"]})),
        Ok(Capabilities::new())
    );
    assert_eq!(
        caps_of(&f, json!({"CapDrop": ["ALL"], "CapAdd": ["KILL"]})),
        Ok(cap_set(&["KILL"]))
    );
    assert_eq!(caps_of(&f, json!({"CapAdd": ["ALL"]})), Ok(all_caps()));
    let mut want = all_caps();
    want.remove(&Capability::SysAdmin);
    assert_eq!(
        caps_of(&f, json!({"CapAdd": ["ALL"], "CapDrop": ["SYS_ADMIN"]})),
        Ok(want)
    );
    let e = caps_of(&f, json!({"CapAdd": ["CAP_BOGUS"]})).expect_err("bogus");
    assert!(e.contains("CAP_BOGUS"), "{e}");
}

#[test]
fn seccomp_follows_added_caps() {
    let f = fixture();
    if !f.real_profile {
        eprintln!("note: skipped, no reference profile");
        return;
    }
    let s = gen(host(json!({"CapAdd": ["SYS_ADMIN"]})), &busybox(), &f.ctx).spec;
    let rules = linux(&s)
        .seccomp()
        .clone()
        .expect("seccomp")
        .syscalls()
        .clone()
        .unwrap_or_default();
    assert!(allows(&rules, "mount") && allows(&rules, "unshare"));
}

#[test]
fn privileged_is_bounded_by_the_host() {
    let mut f = fixture();
    let mut host_caps = all_caps();
    host_caps.remove(&Capability::SysResource);
    f.ctx.host_bounding_caps = host_caps.clone();
    let s = gen(host(json!({"Privileged": true})), &busybox(), &f.ctx).spec;
    let c = process(&s).capabilities().clone().expect("caps");
    for set in [c.bounding(), c.effective(), c.permitted()] {
        let set = set.clone().expect("set");
        assert_eq!(set, host_caps);
        assert!(!set.contains(&Capability::SysResource));
    }
    assert!(c.inheritable().as_ref().is_some_and(|i| i.is_empty()));
    let l = linux(&s);
    assert!(l.seccomp().is_none());
    assert!(l.masked_paths().is_none() && l.readonly_paths().is_none());
    let rules = l
        .resources()
        .as_ref()
        .and_then(|r| r.devices().clone())
        .expect("rules");
    assert_eq!(rules.len(), 2);
    assert!(
        rules[1].allow() && rules[1].typ().is_none() && rules[1].access().as_deref() == Some("rwm")
    );
    let devs = l.devices().clone().expect("devices");
    assert!(devs
        .iter()
        .any(|d| d.path() == Path::new("/dev/null") && d.major() == 1 && d.minor() == 3));
    assert!(!devs.iter().any(|d| d.path().starts_with("/dev/pts")));
    assert!(!opts(mount_at(&s, "/sys").expect("sys")).contains(&"ro".to_string()));
    assert!(!opts(mount_at(&s, "/sys/fs/cgroup").expect("cg")).contains(&"ro".to_string()));
    // CapAdd ALL never asks for what the host lacks either, and says so when named.
    assert_eq!(caps_of(&f, json!({"CapAdd": ["ALL"]})), Ok(host_caps));
    let g = gen(
        host(json!({"CapAdd": ["SYS_RESOURCE"]})),
        &busybox(),
        &f.ctx,
    );
    assert!(
        g.warnings.iter().any(|w| w.contains("CAP_SYS_RESOURCE")),
        "{:?}",
        g.warnings
    );
}

#[test]
fn resources_mapping() {
    let f = fixture();
    let s = gen(
        host(json!({
            "Memory": 268435456, "MemoryReservation": 134217728, "MemorySwap": 536870912,
            "MemorySwappiness": 10, "OomKillDisable": true,
            "NanoCpus": 1_500_000_000i64, "CpuShares": 512, "CpusetCpus": "0-1", "CpusetMems": "0",
            "PidsLimit": 64, "BlkioWeight": 300, "OomScoreAdj": 500,
        })),
        &busybox(),
        &f.ctx,
    )
    .spec;
    let r = linux(&s).resources().clone().expect("resources");
    let m = r.memory().expect("memory");
    assert_eq!(m.limit(), Some(268435456));
    assert_eq!(m.reservation(), Some(134217728));
    assert_eq!(m.swap(), Some(536870912));
    assert_eq!(m.swappiness(), Some(10));
    assert_eq!(m.disable_oom_killer(), Some(true));
    let c = r.cpu().clone().expect("cpu");
    assert_eq!((c.quota(), c.period()), (Some(150000), Some(100000)));
    assert_eq!(c.shares(), Some(512));
    assert_eq!(c.cpus().as_deref(), Some("0-1"));
    assert_eq!(c.mems().as_deref(), Some("0"));
    assert_eq!(r.pids().expect("pids").limit(), 64);
    assert_eq!(r.block_io().clone().expect("blkio").weight(), Some(300));
    assert_eq!(process(&s).oom_score_adj(), Some(500));

    // Docker's default swap is twice the memory; PidsLimit 0/-1 is unlimited.
    let s = gen(
        host(json!({"Memory": 67108864, "PidsLimit": 0})),
        &busybox(),
        &f.ctx,
    )
    .spec;
    let r = linux(&s).resources().clone().expect("resources");
    assert_eq!(r.memory().expect("memory").swap(), Some(134217728));
    assert_eq!(r.pids().expect("pids").limit(), -1);
    let s = gen(
        host(json!({"PidsLimit": -1, "CpuQuota": 50000, "CpuPeriod": 100000})),
        &busybox(),
        &f.ctx,
    )
    .spec;
    let r = linux(&s).resources().clone().expect("resources");
    assert_eq!(r.pids().expect("pids").limit(), -1);
    assert_eq!(
        r.cpu().clone().map(|c| (c.quota(), c.period())),
        Some((Some(50000), Some(100000)))
    );
    // No resources asked: none set.
    let s = gen(host(json!({})), &busybox(), &f.ctx).spec;
    let r = linux(&s).resources().clone().expect("resources");
    assert!(
        r.memory().is_none() && r.cpu().is_none() && r.pids().is_none() && r.block_io().is_none()
    );
}

#[test]
fn resource_errors_name_the_field() {
    let f = fixture();
    for (hc, want) in [
        (json!({"Memory": -1}), "HostConfig.Memory"),
        (json!({"Memory": 1024}), "6MB"),
        (
            json!({"Memory": 67108864, "MemoryReservation": 134217728}),
            "MemoryReservation",
        ),
        (
            json!({"Memory": 134217728, "MemorySwap": 67108864}),
            "MemorySwap",
        ),
        (json!({"MemorySwap": 67108864}), "MemorySwap requires"),
        (
            json!({"MemorySwappiness": 101}),
            "HostConfig.MemorySwappiness",
        ),
        (
            json!({"NanoCpus": 1000000000, "CpuQuota": 50000}),
            "NanoCpus and CpuQuota",
        ),
        (
            json!({"NanoCpus": 1000000000, "CpuPeriod": 50000}),
            "NanoCpus and CpuPeriod",
        ),
        (json!({"CpuQuota": 10}), "HostConfig.CpuQuota"),
        (json!({"BlkioWeight": 5}), "HostConfig.BlkioWeight"),
        (json!({"OomScoreAdj": 1001}), "HostConfig.OomScoreAdj"),
        (json!({"ShmSize": -5}), "HostConfig.ShmSize"),
        (
            json!({"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}),
            "bogus",
        ),
        (
            json!({"Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 5}]}),
            "soft limit",
        ),
        (json!({"Sysctls": {"kernel.panic": "1"}}), "kernel.panic"),
        (
            json!({"NetworkMode": "host", "Sysctls": {"net.ipv4.ip_forward": "1"}}),
            "net.ipv4.ip_forward",
        ),
        (
            json!({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/n", "CgroupPermissions": "rwx"}]}),
            "HostConfig.Devices",
        ),
        (
            json!({"Devices": [{"PathOnHost": "/etc/hostname", "PathInContainer": "", "CgroupPermissions": "rwm"}]}),
            "not a device",
        ),
        (
            json!({"DeviceCgroupRules": ["c 1:3"]}),
            "HostConfig.DeviceCgroupRules",
        ),
        (json!({"Tmpfs": {"/run": "size=1m,bogus"}}), "bogus"),
        (json!({"Tmpfs": {"relative": ""}}), "HostConfig.Tmpfs"),
        (
            json!({"SecurityOpt": ["seccomp"]}),
            "HostConfig.SecurityOpt",
        ),
        (
            json!({"SecurityOpt": ["no-new-privileges:maybe"]}),
            "HostConfig.SecurityOpt",
        ),
        (json!({"SecurityOpt": ["frobnicate=1"]}), "frobnicate"),
        (json!({"PidMode": "container:abc"}), "abc"),
        (json!({"IpcMode": "container:abc"}), "HostConfig.IpcMode"),
        (json!({"PidMode": "weird"}), "HostConfig.PidMode"),
    ] {
        let e = err(host(hc.clone()), &busybox(), &f.ctx);
        assert!(e.contains(want), "{hc}: {e}");
    }
}

#[test]
fn ulimits_merge_defaults() {
    let mut f = fixture();
    f.ctx.default_ulimits = vec![
        Ulimit {
            name: "nofile".into(),
            soft: 1024,
            hard: 4096,
        },
        Ulimit {
            name: "nproc".into(),
            soft: 100,
            hard: 100,
        },
    ];
    let s = gen(host(json!({"Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}, {"Name": "core", "Soft": -1, "Hard": -1}]})), &busybox(), &f.ctx).spec;
    let got: Vec<(String, u64, u64)> = process(&s)
        .rlimits()
        .clone()
        .expect("rlimits")
        .iter()
        .map(|r| {
            (
                serde_json::to_value(r.typ())
                    .expect("ser")
                    .as_str()
                    .expect("str")
                    .to_string(),
                r.soft(),
                r.hard(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("RLIMIT_NPROC".to_string(), 100, 100),
            ("RLIMIT_NOFILE".to_string(), 10, 20),
            ("RLIMIT_CORE".to_string(), u64::MAX, u64::MAX),
        ]
    );
}

#[test]
fn shm_tmpfs_and_readonly_rootfs() {
    let mut f = fixture();
    f.ctx.resolv_conf = Some(PathBuf::from("/var/lib/berth/c/resolv.conf"));
    let s = gen(
        host(json!({
            "ShmSize": 134217728, "ReadonlyRootfs": true,
            "Tmpfs": {"/run": "", "/scratch": "rw,exec,size=1m,mode=700", "/dev/shm": "size=1m"},
        })),
        &busybox(),
        &f.ctx,
    )
    .spec;
    assert_eq!(s.root().as_ref().and_then(|r| r.readonly()), Some(true));
    assert_eq!(
        opts(mount_at(&s, "/run").expect("run")),
        ["noexec", "nosuid", "nodev", "rprivate"]
    );
    assert_eq!(
        opts(mount_at(&s, "/scratch").expect("scratch")),
        ["nosuid", "nodev", "rprivate", "rw", "exec", "size=1m", "mode=700"]
    );
    // A user tmpfs on /dev/shm replaces the default one.
    let shms: Vec<_> = s
        .mounts()
        .as_ref()
        .expect("m")
        .iter()
        .filter(|m| m.destination() == Path::new("/dev/shm"))
        .collect();
    assert_eq!(shms.len(), 1);
    assert!(opts(shms[0]).contains(&"size=1m".to_string()));
    // Read-only rootfs: /sys etc. and the network files get ro; /proc, /dev* don't.
    assert!(opts(mount_at(&s, "/etc/resolv.conf").expect("resolv")).contains(&"ro".to_string()));
    assert!(!opts(mount_at(&s, "/proc").expect("proc")).contains(&"ro".to_string()));
    assert!(!opts(mount_at(&s, "/dev/mqueue").expect("mq")).contains(&"ro".to_string()));

    let s = gen(host(json!({"ShmSize": 134217728})), &busybox(), &f.ctx).spec;
    assert!(opts(mount_at(&s, "/dev/shm").expect("shm")).contains(&"size=134217728".to_string()));
    assert_eq!(s.root().as_ref().and_then(|r| r.readonly()), Some(false));
    assert!(!opts(mount_at(&s, "/etc/resolv.conf").expect("resolv")).contains(&"ro".to_string()));
}

#[test]
fn user_mounts_binds_volumes_and_tmpfs() {
    let mut f = fixture();
    f.ctx.hosts = Some(PathBuf::from("/var/lib/berth/c/hosts"));
    f.ctx.recursive_readonly = true;
    let bind = |dest: &str, src: &str, ro: bool, prop: &str| UserMount {
        destination: dest.into(),
        source: Some(PathBuf::from(src)),
        read_only: ro,
        propagation: prop.into(),
        recursive: true,
        ..UserMount::default()
    };
    f.ctx.user_mounts = vec![
        bind("/data", "/srv/data", false, ""),
        bind("/conf", "/srv/conf", true, "rprivate"),
        bind("/etc/hosts", "/srv/hosts", true, ""),
        UserMount {
            destination: "/t".into(),
            tmpfs_options: "size=1m,mode=1770".into(),
            ..UserMount::default()
        },
        UserMount {
            recursive: false,
            ..bind("/flat", "/srv/flat", true, "rslave")
        },
    ];
    let s = gen(host(json!({"ReadonlyRootfs": true})), &busybox(), &f.ctx).spec;
    let m = mount_at(&s, "/data").expect("data");
    assert_eq!(m.source().as_deref(), Some(Path::new("/srv/data")));
    assert_eq!(
        opts(m),
        ["rbind", "rprivate"],
        "a read-only rootfs leaves volumes writable"
    );
    assert_eq!(
        opts(mount_at(&s, "/conf").expect("conf")),
        ["rbind", "rprivate", "ro", "rro"]
    );
    assert_eq!(
        opts(mount_at(&s, "/flat").expect("flat")),
        ["bind", "rslave", "ro"]
    );
    assert_eq!(
        opts(mount_at(&s, "/t").expect("t")),
        [
            "noexec",
            "nosuid",
            "nodev",
            "rprivate",
            "size=1m",
            "mode=1770"
        ]
    );
    // The user's /etc/hosts replaces the daemon's.
    let hosts: Vec<_> = s
        .mounts()
        .as_ref()
        .expect("m")
        .iter()
        .filter(|m| m.destination() == Path::new("/etc/hosts"))
        .collect();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].source().as_deref(), Some(Path::new("/srv/hosts")));
    assert_eq!(linux(&s).rootfs_propagation().as_deref(), Some("rslave"));
    f.ctx
        .user_mounts
        .push(bind("/sh", "/srv/sh", false, "rshared"));
    let s = gen(host(json!({})), &busybox(), &f.ctx).spec;
    assert_eq!(linux(&s).rootfs_propagation().as_deref(), Some("rshared"));
    f.ctx.user_mounts.clear();
    let s = gen(host(json!({})), &busybox(), &f.ctx).spec;
    assert_eq!(linux(&s).rootfs_propagation().as_deref(), None);
}

#[test]
fn security_opt_variants() {
    let f = fixture();
    let nnp = |opt: &[&str]| {
        let s = gen(host(json!({"SecurityOpt": opt})), &busybox(), &f.ctx).spec;
        process(&s).no_new_privileges()
    };
    assert_eq!(nnp(&["no-new-privileges"]), Some(true));
    assert_eq!(nnp(&["no-new-privileges:true"]), Some(true));
    assert_eq!(nnp(&["no-new-privileges=true"]), Some(true));
    assert_eq!(nnp(&["no-new-privileges:false"]), Some(false));

    let s = gen(
        host(json!({"SecurityOpt": ["seccomp=unconfined"]})),
        &busybox(),
        &f.ctx,
    )
    .spec;
    assert!(linux(&s).seccomp().is_none());
    let profile = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#;
    let s = gen(
        host(json!({"SecurityOpt": [format!("seccomp={profile}")]})),
        &busybox(),
        &f.ctx,
    )
    .spec;
    let sc = linux(&s).seccomp().clone().expect("custom");
    assert_eq!(sc.default_action(), LinuxSeccompAction::ScmpActAllow);
    let g = gen(
        host(json!({"SecurityOpt": ["label=disable", "apparmor=unconfined"]})),
        &busybox(),
        &f.ctx,
    );
    assert_eq!(g.warnings.len(), 2, "{:?}", g.warnings);

    // No profile configured: refuse rather than run unconfined.
    let mut ctx = f.ctx.clone();
    ctx.seccomp_profile = None;
    assert!(err(host(json!({})), &busybox(), &ctx).contains("seccomp"));
    gen(
        host(json!({"SecurityOpt": ["seccomp=unconfined"]})),
        &busybox(),
        &ctx,
    );
}

#[test]
fn namespace_modes() {
    let mut f = fixture();
    f.ctx.containers.insert(
        "web".into(),
        JoinedContainer {
            ns_dir: PathBuf::from("/proc/4242/ns"),
            shm_path: Some(PathBuf::from("/var/lib/berth/web/shm")),
        },
    );
    let s = gen(
        host(json!({"IpcMode": "host", "UTSMode": "host", "NetworkMode": "host"})),
        &busybox(),
        &f.ctx,
    )
    .spec;
    let t = ns_types(&s);
    assert!(
        !t.contains(&LinuxNamespaceType::Ipc)
            && !t.contains(&LinuxNamespaceType::Uts)
            && !t.contains(&LinuxNamespaceType::Network)
    );
    assert!(s.hostname().is_none());
    assert_eq!(
        mount_at(&s, "/dev/shm").and_then(|m| m.source().clone()),
        Some(PathBuf::from("/dev/shm"))
    );

    let s = gen(
        host(json!({"PidMode": "container:web", "IpcMode": "container:web"})),
        &busybox(),
        &f.ctx,
    )
    .spec;
    let nss = linux(&s).namespaces().clone().expect("ns");
    let path = |t| {
        nss.iter()
            .find(|n| n.typ() == t)
            .and_then(|n| n.path().clone())
    };
    assert_eq!(
        path(LinuxNamespaceType::Pid),
        Some(PathBuf::from("/proc/4242/ns/pid"))
    );
    assert_eq!(
        path(LinuxNamespaceType::Ipc),
        Some(PathBuf::from("/proc/4242/ns/ipc"))
    );
    assert_eq!(
        mount_at(&s, "/dev/shm").and_then(|m| m.source().clone()),
        Some(PathBuf::from("/var/lib/berth/web/shm"))
    );

    let s = gen(
        host(json!({"PidMode": "host", "IpcMode": "none"})),
        &busybox(),
        &f.ctx,
    )
    .spec;
    let t = ns_types(&s);
    assert!(!t.contains(&LinuxNamespaceType::Pid) && t.contains(&LinuxNamespaceType::Ipc));
    assert!(mount_at(&s, "/dev/shm").is_none() && mount_at(&s, "/dev/mqueue").is_none());
}

#[test]
fn devices_and_cgroup_rules() {
    let f = fixture();
    let s = gen(host(json!({
        "Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull", "CgroupPermissions": "rw"}],
        "DeviceCgroupRules": ["c 42:* rmw", "b 8:0 r"],
    })), &busybox(), &f.ctx).spec;
    let l = linux(&s);
    let devs = l.devices().clone().expect("devices");
    assert_eq!(devs.len(), 1);
    assert_eq!(
        (
            devs[0].path().as_path(),
            devs[0].typ(),
            devs[0].major(),
            devs[0].minor()
        ),
        (Path::new("/dev/mynull"), LinuxDeviceType::C, 1, 3)
    );
    let rules = l
        .resources()
        .as_ref()
        .and_then(|r| r.devices().clone())
        .expect("rules");
    let tail: Vec<_> = rules[rules.len() - 3..]
        .iter()
        .map(|r| {
            (
                r.typ(),
                r.major(),
                r.minor(),
                r.access().clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        tail,
        [
            (Some(LinuxDeviceType::C), Some(1), Some(3), "rw".to_string()),
            (Some(LinuxDeviceType::C), Some(42), None, "rmw".to_string()),
            (Some(LinuxDeviceType::B), Some(8), Some(0), "r".to_string()),
        ]
    );
}

#[test]
fn cgroup_parent_and_domainname() {
    let f = fixture();
    let s = gen(json!({"Image": "x", "Domainname": "example.org", "HostConfig": {"CgroupParent": "/custom"}}), &busybox(), &f.ctx).spec;
    assert_eq!(
        linux(&s).cgroups_path().clone(),
        Some(PathBuf::from(format!("/custom/{ID}")))
    );
    assert_eq!(s.domainname().as_deref(), Some("example.org"));
}
