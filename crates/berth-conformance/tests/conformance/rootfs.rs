//! The root filesystem: read-only root, propagation, bind/rbind/tmpfs mounts and
//! their flags, symlinked mount destinations (CVE-2021-30465), /dev, extra
//! devices, masked and read-only paths, sysctls, and `--no-pivot`.

use crate::{assert_errno, assert_ok, runtime, try_results};
use berth_conformance::host::{is_host_mount_point, HostTmpfs};
use berth_conformance::{temp_dir, Bundle};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::Duration;

/// The mountinfo entry (as printed by `checker mounts`) at `mount_point`, topmost.
fn mount_at<'a>(mounts: &'a Value, mount_point: &str) -> Option<&'a Value> {
    mounts["mounts"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["mount_point"] == mount_point)
}

fn opts(m: &Value, key: &str) -> Vec<String> {
    m[key]
        .as_str()
        .unwrap_or("")
        .split(',')
        .map(String::from)
        .collect()
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn readonly_rootfs() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.config["root"]["readonly"] = json!(true);
    b.checker(&[
        "try",
        "create:/newfile",
        "mkdir:/newdir",
        "read:/etc/passwd",
    ]);
    let out = rt.run(&b).expect_success("run with a read-only root");
    let r = try_results(&out);
    assert_errno(&r[0], libc::EROFS, "root.readonly=true");
    assert_errno(&r[1], libc::EROFS, "root.readonly=true");
    assert_ok(&r[2], "reading from a read-only root");
    assert!(
        !b.rootfs().join("newfile").exists(),
        "a file appeared in the read-only rootfs"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn writable_rootfs_by_default() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.checker(&["try", "create:/newfile"]);
    let out = rt.run(&b).expect_success("run with a writable root");
    assert_ok(&try_results(&out)[0], "root.readonly=false");
    assert!(
        b.rootfs().join("newfile").exists(),
        "the file written in the container is not in the bundle's rootfs"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn rootfs_propagation() {
    let rt = runtime();
    for (prop, want_shared) in [("shared", true), ("private", false)] {
        if want_shared {
            if let Some(reason) = rt.lacks(berth_conformance::Gap::SharedRootfsPropagation) {
                eprintln!("SKIP rootfsPropagation=shared: {reason}");
                continue;
            }
        }
        let mut b = Bundle::new();
        b.linux()["rootfsPropagation"] = json!(prop);
        b.checker(&["mounts"]);
        let out = rt
            .run(&b)
            .expect_success(&format!("run with rootfsPropagation={prop}"));
        let j = out.json();
        let root = mount_at(&j, "/").unwrap_or_else(|| panic!("no mount at / inside; {out}"));
        let optional = root["optional"].as_str().unwrap_or("");
        assert_eq!(
            optional.contains("shared:"),
            want_shared,
            "rootfsPropagation={prop}: the container's / has propagation fields {optional:?}"
        );
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn bind_mounts_ro_and_rw() {
    let rt = runtime();
    let ro = temp_dir("ro-src");
    let rw = temp_dir("rw-src");
    fs::write(ro.path().join("hello"), "from-host\n").expect("writing the bind source");
    let mut b = Bundle::new();
    b.add_mount(json!({ "destination": "/data-ro", "type": "bind", "source": ro.path(), "options": ["bind", "ro"] }));
    b.add_mount(json!({ "destination": "/data-rw", "type": "bind", "source": rw.path(), "options": ["bind", "rw"] }));
    b.checker(&[
        "try",
        "read:/data-ro/hello",
        "create:/data-ro/new",
        "create:/data-rw/new",
    ]);
    let out = rt.run(&b).expect_success("run with bind mounts");
    let r = try_results(&out);
    assert_ok(&r[0], "reading through a ro bind mount");
    assert_eq!(
        r[0]["data"],
        json!("from-host\n"),
        "content seen through the bind mount"
    );
    assert_errno(&r[1], libc::EROFS, "bind mount with option ro");
    assert_ok(&r[2], "writing through an rw bind mount");
    assert!(
        !ro.path().join("new").exists(),
        "a file was created in the host directory behind a ro bind mount"
    );
    assert!(
        rw.path().join("new").exists(),
        "the file written through the rw bind mount is not on the host"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn rbind_includes_submounts_and_bind_does_not() {
    let rt = runtime();
    let src = temp_dir("rbind-src");
    let sub = src.path().join("sub");
    fs::create_dir(&sub).expect("mkdir sub");
    let _tmpfs = HostTmpfs::mount(&sub);
    fs::write(sub.join("marker"), "in-submount\n").expect("writing into the submount");
    let mut b = Bundle::new();
    b.add_mount(json!({ "destination": "/rbind", "type": "bind", "source": src.path(), "options": ["rbind"] }));
    b.add_mount(json!({ "destination": "/bind", "type": "bind", "source": src.path(), "options": ["bind"] }));
    b.checker(&["try", "read:/rbind/sub/marker", "read:/bind/sub/marker"]);
    let out = rt.run(&b).expect_success("run with rbind and bind mounts");
    let r = try_results(&out);
    assert_ok(&r[0], "rbind must carry the source's submounts");
    assert_errno(
        &r[1],
        libc::ENOENT,
        "a plain bind must not carry the source's submounts",
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn tmpfs_mount_options() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.add_mount(json!({
        "destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
        "options": ["size=1m", "mode=700", "nosuid", "nodev", "noexec"]
    }));
    b.checker(&["mounts"]);
    let out = rt.run(&b).expect_success("run with a tmpfs mount");
    let j = out.json();
    let m =
        mount_at(&j, "/scratch").unwrap_or_else(|| panic!("no mount at /scratch inside; {out}"));
    assert_eq!(m["fstype"], json!("tmpfs"), "fstype at /scratch: {m}");
    let sup = opts(m, "super_options");
    assert!(
        sup.contains(&"size=1024k".to_string()),
        "size=1m: superblock options are {sup:?}"
    );
    assert!(
        sup.contains(&"mode=700".to_string()),
        "mode=700: superblock options are {sup:?}"
    );
    let per = opts(m, "options");
    for flag in ["nosuid", "nodev", "noexec"] {
        assert!(
            per.contains(&flag.to_string()),
            "{flag}: mount options at /scratch are {per:?}"
        );
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn noexec_nodev_nosuid_take_effect() {
    let rt = runtime();
    // noexec: executing a copy of the checker fails on a noexec tmpfs only.
    let mut b = Bundle::new();
    b.add_mount(
        json!({ "destination": "/ne", "type": "tmpfs", "source": "tmpfs", "options": ["noexec"] }),
    );
    b.add_mount(json!({ "destination": "/ex", "type": "tmpfs", "source": "tmpfs", "options": [] }));
    b.shell("cp /bin/checker /ne/c && cp /bin/checker /ex/c && exec /bin/checker try exec:/ne/c exec:/ex/c");
    let out = rt.run(&b).expect_success("run with noexec");
    let r = try_results(&out);
    assert_errno(&r[0], libc::EACCES, "exec from a noexec mount");
    assert_ok(&r[1], "exec from a mount without noexec");

    // nodev: a device node in a host directory opens only through a mount without nodev.
    let devs = temp_dir("nodev-src");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        devs.path().join("null"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .expect("mknod a null device in a temporary directory");
    let mut b = Bundle::new();
    b.add_mount(json!({ "destination": "/nodev", "type": "bind", "source": devs.path(), "options": ["bind", "nodev"] }));
    b.add_mount(json!({ "destination": "/dev-ok", "type": "bind", "source": devs.path(), "options": ["bind"] }));
    b.checker(&["try", "open-wr:/nodev/null", "open-wr:/dev-ok/null"]);
    let out = rt.run(&b).expect_success("run with nodev");
    let r = try_results(&out);
    assert_errno(&r[0], libc::EACCES, "opening a device on a nodev mount");
    assert_ok(&r[1], "opening a device on a mount without nodev");

    // nosuid: a setuid-root checker raises the euid of uid 1000 only without nosuid.
    let suid = temp_dir("nosuid-src");
    fs::set_permissions(suid.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let bin = suid.path().join("checker");
    berth_conformance::bundle::copy_executable(&berth_conformance::checker_path(), &bin);
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o4755)).expect("chmod u+s");
    let mut b = Bundle::new();
    b.add_mount(json!({ "destination": "/suid", "type": "bind", "source": suid.path(), "options": ["bind"] }));
    b.add_mount(json!({ "destination": "/nosuid", "type": "bind", "source": suid.path(), "options": ["bind", "nosuid"] }));
    b.process()["user"] = json!({ "uid": 1000, "gid": 1000 });
    b.process()["noNewPrivileges"] = json!(false);
    b.shell("/suid/checker uid && /nosuid/checker uid");
    let out = rt.run(&b).expect_success("run with nosuid");
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(lines.len(), 2, "expected two checker reports; {out}");
    assert_eq!(
        lines[0]["uid"][1],
        json!(0),
        "setuid-root binary on a mount without nosuid: euid; {out}"
    );
    assert_eq!(
        lines[1]["uid"][1],
        json!(1000),
        "setuid-root binary on a nosuid mount must not change the euid; {out}"
    );
}

/// CVE-2021-30465 class: a mount destination that is (or passes through) a
/// symlink pointing outside the rootfs must be resolved inside the rootfs.
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn symlinked_mount_destination_stays_inside_rootfs() {
    let rt = runtime();
    let victim = temp_dir("victim");
    fs::write(victim.path().join("marker"), "untouched\n").expect("writing the victim marker");
    let payload = temp_dir("payload");
    fs::write(payload.path().join("payload"), "payload\n").expect("writing the payload");

    let v = victim.path().to_string_lossy().into_owned();
    let mut b = Bundle::new();
    symlink(&v, b.rootfs().join("evil")).expect("symlink rootfs/evil -> host victim");
    symlink(
        format!("../../../../../../../../..{v}"),
        b.rootfs().join("evilrel"),
    )
    .expect("symlink rootfs/evilrel -> ../../..victim");
    b.add_mount(json!({ "destination": "/evil/sub", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"] }));
    b.add_mount(json!({ "destination": "/evilrel/bound", "type": "bind", "source": payload.path(), "options": ["bind"] }));
    b.add_mount(json!({ "destination": "/evil", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"] }));
    b.checker(&["mounts"]);
    let out = rt.run(&b);

    let mut entries: Vec<String> = fs::read_dir(victim.path())
        .expect("listing the victim directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        vec!["marker"],
        "the host directory behind rootfs/evil was modified; {out}"
    );
    assert_eq!(
        fs::read_to_string(victim.path().join("marker")).unwrap_or_default(),
        "untouched\n"
    );
    assert!(
        !is_host_mount_point(victim.path()),
        "the host victim directory became a mount point"
    );
    if !out.success() {
        eprintln!("note: the runtime refused the symlinked destinations: {out}");
        return;
    }
    let j = out.json();
    for dest in [format!("{v}/sub"), format!("{v}/bound"), v.clone()] {
        assert!(
            mount_at(&j, &dest).is_some(),
            "expected the mount for a symlinked destination at {dest} inside the container's root; mounts: {j}"
        );
    }
    assert!(
        b.rootfs()
            .join(v.trim_start_matches('/'))
            .join("sub")
            .is_dir(),
        "the mount point should have been made inside the rootfs at {v}/sub"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn default_devices_and_symlinks() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.checker(&["devices"]);
    let out = rt.run(&b).expect_success("run checker devices");
    let j = out.json();
    for (path, major, minor) in [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ] {
        let d = &j[path];
        assert_eq!(
            (d["type"].as_str(), d["major"].as_i64(), d["minor"].as_i64()),
            (Some("char"), Some(major), Some(minor)),
            "{path} must be the character device {major}:{minor}; observed {d}"
        );
        assert_eq!(
            d["mode"].as_i64().map(|m| m & 0o777),
            Some(0o666),
            "{path} mode must be 0666; observed {d}"
        );
    }
    for (path, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ] {
        let d = &j[path];
        assert_eq!(
            (d["type"].as_str(), d["link"].as_str()),
            (Some("symlink"), Some(target)),
            "{path} must be a symlink to {target}; observed {d}"
        );
    }
    for dir in ["/dev/pts", "/dev/shm", "/dev/mqueue"] {
        assert_eq!(
            j[dir]["type"],
            json!("dir"),
            "{dir} must exist; observed {}",
            j[dir]
        );
    }
    assert_eq!(
        j["/dev/pts/ptmx"]["type"],
        json!("char"),
        "/dev/pts/ptmx (devpts) missing; observed {}",
        j["/dev/pts/ptmx"]
    );

    b.checker(&[
        "try",
        "write:/dev/null",
        "head:/dev/zero",
        "open-wr:/dev/full",
    ]);
    let out = rt.run(&b).expect_success("using the default devices");
    let r = try_results(&out);
    assert_ok(&r[0], "writing /dev/null");
    assert_ok(&r[1], "reading /dev/zero");
    assert_eq!(
        r[1]["data"],
        json!("00".repeat(16)),
        "/dev/zero must read zeros"
    );
    assert_ok(&r[2], "opening /dev/full");
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn linux_devices_are_created_and_gated_by_the_device_cgroup() {
    let rt = runtime();
    let mut b = Bundle::new();
    b.linux()["devices"] = json!([
        { "path": "/dev/berth-zero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o640, "uid": 1000, "gid": 1000 },
        { "path": "/dev/berth-denied", "type": "c", "major": 1, "minor": 11, "fileMode": 0o666, "uid": 0, "gid": 0 },
        { "path": "/dev/berth-fifo", "type": "p", "fileMode": 0o600 }
    ]);
    b.linux()["resources"]["devices"] = json!([
        { "allow": false, "access": "rwm" },
        { "allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm" }
    ]);
    b.checker(&[
        "stat",
        "/dev/berth-zero",
        "/dev/berth-denied",
        "/dev/berth-fifo",
    ]);
    let out = rt.run(&b).expect_success("run with linux.devices");
    let j = out.json();
    let z = &j["/dev/berth-zero"];
    assert_eq!(
        (
            z["type"].as_str(),
            z["major"].as_i64(),
            z["minor"].as_i64(),
            z["mode"].as_i64(),
            z["uid"].as_i64(),
            z["gid"].as_i64()
        ),
        (
            Some("char"),
            Some(1),
            Some(5),
            Some(0o640),
            Some(1000),
            Some(1000)
        ),
        "/dev/berth-zero: expected char 1:5 mode 0640 owned 1000:1000; observed {z}"
    );
    assert_eq!(
        j["/dev/berth-fifo"]["type"],
        json!("fifo"),
        "/dev/berth-fifo; observed {}",
        j["/dev/berth-fifo"]
    );

    // As their owner (uid 1000 may read /dev/berth-zero; /dev/berth-denied is 0666).
    b.process()["user"] = json!({ "uid": 1000, "gid": 1000 });
    b.checker(&["try", "head:/dev/berth-zero", "open-wr:/dev/berth-denied"]);
    let out = rt.run(&b).expect_success("using linux.devices");
    let r = try_results(&out);
    assert_ok(&r[0], "a device the cgroup allows");
    assert_eq!(
        r[0]["data"],
        json!("00".repeat(16)),
        "/dev/berth-zero must read zeros"
    );
    assert_errno(&r[1], libc::EPERM, "a device the device cgroup denies");
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn masked_paths() {
    let rt = runtime();
    let mut b = Bundle::new();
    fs::write(b.rootfs().join("etc/berth-secret"), "SECRET\n").expect("writing the secret");
    fs::create_dir(b.rootfs().join("secret-dir")).expect("mkdir secret-dir");
    fs::write(b.rootfs().join("secret-dir/file"), "SECRET\n").expect("writing the secret");
    let masked = b.linux()["maskedPaths"]
        .as_array_mut()
        .expect("base config has maskedPaths");
    masked.push(json!("/etc/berth-secret"));
    masked.push(json!("/secret-dir"));
    b.checker(&[
        "masked",
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/sys/firmware",
        "/etc/berth-secret",
        "/secret-dir",
    ]);
    let out = rt.run(&b);
    assert!(
        out.success(),
        "masked paths must be empty and stay empty; {out}"
    );
    assert_eq!(
        fs::read_to_string(b.rootfs().join("etc/berth-secret")).unwrap_or_default(),
        "SECRET\n",
        "writing to the masked file changed the file underneath"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn readonly_paths() {
    let rt = runtime();
    let mut b = Bundle::new();
    fs::create_dir(b.rootfs().join("ro-dir")).expect("mkdir ro-dir");
    b.linux()["readonlyPaths"]
        .as_array_mut()
        .expect("base config has readonlyPaths")
        .push(json!("/ro-dir"));
    b.shell("/bin/checker readonly /proc/sys /proc/sysrq-trigger /proc/bus /proc/fs /proc/irq /ro-dir && /bin/checker try create:/etc/writable");
    let out = rt.run(&b);
    assert!(
        out.success(),
        "read-only paths must be read-only mounts that refuse writes; {out}"
    );
    assert_ok(
        &try_results(&out)[0],
        "the rest of the rootfs stays writable",
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn sysctls_are_applied_in_the_container_only() {
    let rt = runtime();
    let host_fwd = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
    let host_shm = fs::read_to_string("/proc/sys/kernel/shmmax").unwrap_or_default();
    let mut b = Bundle::new();
    let want_fwd = if host_fwd.trim() == "1" { "0" } else { "1" };
    b.linux()["sysctl"] = json!({ "net.ipv4.ip_forward": want_fwd, "kernel.shmmax": "123456789" });
    b.checker(&["sysctl", "net.ipv4.ip_forward", "kernel.shmmax"]);
    let out = rt.run(&b).expect_success("run with sysctls");
    let j = out.json();
    assert_eq!(
        j["net.ipv4.ip_forward"],
        json!(want_fwd),
        "net.ipv4.ip_forward inside; {out}"
    );
    assert_eq!(
        j["kernel.shmmax"],
        json!("123456789"),
        "kernel.shmmax inside; {out}"
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default(),
        host_fwd,
        "the host's ip_forward changed"
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/shmmax").unwrap_or_default(),
        host_shm,
        "the host's shmmax changed"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn no_pivot_create() {
    let rt = runtime();
    let mut b = Bundle::new();
    fs::write(b.rootfs().join("rootfs-marker"), "inside\n").expect("writing the marker");
    b.checker(&["cwd"]);
    let (c, out) = rt.create(&b, &["--no-pivot"]);
    out.expect_success("create --no-pivot");
    c.start().expect_success("start");
    c.wait_status("stopped", Duration::from_secs(10));
    let stdout = c.stdout();
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("");
    let j: Value = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "no checker output ({e}); stdout {stdout:?}, stderr {:?}",
            c.stderr()
        )
    });
    assert_eq!(
        j["inside_root"],
        json!(true),
        "cwd must be inside the root; {j}"
    );
    assert!(
        j["entries"]
            .as_array()
            .is_some_and(|e| e.contains(&json!("rootfs-marker"))),
        "with --no-pivot the container's / must still be the bundle's rootfs; / holds {}",
        j["entries"]
    );
    assert!(Path::new(&b.rootfs()).exists());
}
