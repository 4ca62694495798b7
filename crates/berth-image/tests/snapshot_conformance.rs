//! One conformance suite run against every snapshotter (overlay and plain copy).
//! Needs root (real mounts): the tests are `#[ignore]`d, run them with
//! `--include-ignored`. Every mount is held by a
//! `MountGuard`, so it is lazily unmounted even when an assertion fails.

use std::fs;
use std::io;
use std::path::Path;

use berth_image::layer::apply::{apply_layer, ApplyOptions, WhiteoutMode};
use berth_image::snapshot::{
    mount_overlay_legacy, mount_overlay_using, overlay_api, CopySnapshotter, Kind, Mount,
    MountGuard, OverlayApi, OverlaySnapshotter, SnapshotError, Snapshotter, WhiteoutStyle,
};

type Open = dyn Fn(&Path) -> Box<dyn Snapshotter>;

/// Mount `mounts` on a fresh directory, run `f` there, unmount.
fn with_mounted<T>(mounts: &[Mount], f: impl FnOnce(&Path) -> T) -> T {
    let t = tempfile::tempdir().expect("tempdir");
    let g = MountGuard::mount(mounts, t.path()).expect("mount snapshot");
    let out = f(t.path());
    g.unmount().expect("unmount");
    out
}

/// Prepare `key` on `parent`, let `f` change the mounted tree, commit as `name`.
fn layer(s: &dyn Snapshotter, name: &str, parent: Option<&str>, f: impl FnOnce(&Path)) {
    let key = format!("{name}-active");
    let m = s.prepare(&key, parent).expect("prepare");
    with_mounted(&m, f);
    s.commit(name, &key).expect("commit");
}

fn exists(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok()
}

/// Base layer: files, a dir to delete, a dir to make opaque.
fn base(root: &Path) {
    fs::write(root.join("base"), "base").unwrap();
    fs::write(root.join("gone"), "gone").unwrap();
    fs::create_dir_all(root.join("deleted-dir/sub")).unwrap();
    fs::write(root.join("deleted-dir/sub/f"), "f").unwrap();
    fs::create_dir(root.join("opaque")).unwrap();
    fs::write(root.join("opaque/old"), "old").unwrap();
}

/// Second layer: deletes, an opaque replacement, an addition.
fn change(root: &Path) {
    assert_eq!(fs::read_to_string(root.join("base")).unwrap(), "base");
    fs::remove_file(root.join("gone")).unwrap();
    fs::remove_dir_all(root.join("deleted-dir")).unwrap();
    fs::remove_dir_all(root.join("opaque")).unwrap();
    fs::create_dir(root.join("opaque")).unwrap();
    fs::write(root.join("opaque/new"), "new").unwrap();
    fs::write(root.join("added"), "added").unwrap();
}

fn check_changed(root: &Path) {
    assert_eq!(fs::read_to_string(root.join("base")).unwrap(), "base");
    assert!(!exists(&root.join("gone")), "deleted file visible");
    assert!(!exists(&root.join("deleted-dir")), "deleted dir visible");
    assert!(
        !exists(&root.join("opaque/old")),
        "opaque dir shows lower content"
    );
    assert_eq!(fs::read_to_string(root.join("opaque/new")).unwrap(), "new");
    assert_eq!(fs::read_to_string(root.join("added")).unwrap(), "added");
}

fn t_chain(open: &Open) {
    let t = tempfile::tempdir().unwrap();
    let s = open(t.path());
    layer(&*s, "l1", None, base);
    layer(&*s, "l2", Some("l1"), change);
    assert_eq!(s.stat("l2").unwrap().kind, Kind::Committed);
    assert_eq!(s.stat("l2").unwrap().parent.as_deref(), Some("l1"));

    // A view shows the chain and is read-only.
    let v = s.view("v", Some("l2")).unwrap();
    with_mounted(&v, |r| {
        check_changed(r);
        let e = fs::write(r.join("x"), "x").expect_err("view must be read-only");
        assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
    });
    assert_eq!(s.stat("v").unwrap().kind, Kind::View);

    // Writes in an active snapshot do not leak into its parent.
    let c = s.prepare("c", Some("l2")).unwrap();
    with_mounted(&c, |r| {
        check_changed(r);
        fs::write(r.join("leak"), "leak").unwrap();
        fs::write(r.join("base"), "overwritten").unwrap();
    });
    let v2 = s.view("v2", Some("l2")).unwrap();
    with_mounted(&v2, |r| {
        assert!(!exists(&r.join("leak")), "active snapshot's write leaked");
        assert_eq!(fs::read_to_string(r.join("base")).unwrap(), "base");
    });
    // ... and its mounts can be made again, showing its own writes.
    with_mounted(&s.mounts("c").unwrap(), |r| {
        assert_eq!(fs::read_to_string(r.join("leak")).unwrap(), "leak");
    });
    // The first layer is untouched by the second.
    let v1 = s.view("v1", Some("l1")).unwrap();
    with_mounted(&v1, |r| {
        assert!(exists(&r.join("gone")) && exists(&r.join("opaque/old")));
        assert!(!exists(&r.join("added")));
    });
}

fn t_errors(open: &Open) {
    let t = tempfile::tempdir().unwrap();
    let s = open(t.path());
    layer(&*s, "l1", None, |r| fs::write(r.join("a"), "a").unwrap());
    s.prepare("child", Some("l1")).unwrap();
    let e = s.remove("l1").expect_err("remove must refuse a parent");
    assert!(matches!(e, SnapshotError::HasChildren { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("l1") && msg.contains("child"), "{msg}");
    assert!(matches!(
        s.prepare("child", Some("l1")),
        Err(SnapshotError::AlreadyExists { .. })
    ));
    assert!(matches!(
        s.prepare("x", Some("child")),
        Err(SnapshotError::ParentNotCommitted { .. })
    ));
    assert!(matches!(
        s.prepare("x", Some("nope")),
        Err(SnapshotError::NotFound { .. })
    ));
    s.view("v", Some("l1")).unwrap();
    assert!(matches!(
        s.commit("vv", "v"),
        Err(SnapshotError::NotActive { .. })
    ));
    // Removing the children frees the parent; its directory goes too.
    let dir = t
        .path()
        .join("snapshots")
        .join(s.stat("l1").unwrap().id.to_string());
    assert!(dir.exists());
    s.remove("child").unwrap();
    s.remove("v").unwrap();
    s.remove("l1").unwrap();
    assert!(!dir.exists(), "removed snapshot's directory remains");
    assert!(s.list().unwrap().is_empty());
    assert!(matches!(s.stat("l1"), Err(SnapshotError::NotFound { .. })));
}

fn t_usage(open: &Open) {
    let t = tempfile::tempdir().unwrap();
    let s = open(t.path());
    let m = s.prepare("a", None).unwrap();
    let before = s.usage("a").unwrap();
    with_mounted(&m, |r| {
        fs::write(r.join("big"), vec![7u8; 1 << 20]).unwrap();
        fs::create_dir(r.join("d")).unwrap();
    });
    let after = s.usage("a").unwrap();
    assert!(
        after.size >= before.size + (1 << 20),
        "{before:?} -> {after:?}"
    );
    assert_eq!(after.inodes, before.inodes + 2, "{before:?} -> {after:?}");
}

fn t_persistence(open: &Open) {
    let t = tempfile::tempdir().unwrap();
    {
        let s = open(t.path());
        layer(&*s, "l1", None, base);
        s.prepare("c", Some("l1")).unwrap();
    }
    let s = open(t.path());
    let keys: Vec<(String, Kind)> = s
        .list()
        .unwrap()
        .into_iter()
        .map(|i| (i.key, i.kind))
        .collect();
    assert_eq!(
        keys,
        [
            ("c".to_string(), Kind::Active),
            ("l1".to_string(), Kind::Committed)
        ]
    );
    with_mounted(&s.mounts("c").unwrap(), |r| {
        assert_eq!(fs::read_to_string(r.join("base")).unwrap(), "base");
    });
    // A metadata file left half-written by a crash is never read: only the renamed
    // file counts, and a stray temporary file is ignored.
    fs::write(t.path().join("metadata.json.tmp"), "{garbage").unwrap();
    let s = open(t.path());
    assert_eq!(s.list().unwrap().len(), 2);
    // A snapshot directory no record names (a crash mid-create) is cleaned up on open.
    let stray = t.path().join("snapshots").join("999");
    fs::create_dir_all(stray.join("fs")).unwrap();
    let _s = open(t.path());
    assert!(!stray.exists(), "orphan snapshot directory survived open");
}

/// A layer tar with whiteouts applied through `apply_target` hides lower content.
fn t_applied_whiteouts(open: &Open) {
    let t = tempfile::tempdir().unwrap();
    let s = open(t.path());
    layer(&*s, "l1", None, base);
    s.prepare("l2-active", Some("l1")).unwrap();
    let target = s.apply_target("l2-active").unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8], dir: bool| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(if dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        h.set_mode(if dir { 0o755 } else { 0o644 });
        h.set_size(data.len() as u64);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_path(name).unwrap();
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    add(".wh.gone", b"", false);
    add(".wh.deleted-dir", b"", false);
    add("opaque/", b"", true);
    add("opaque/.wh..wh..opq", b"", false);
    add("opaque/new", b"new", false);
    add("added", b"added", false);
    let tarball = b.into_inner().unwrap();
    let mode = match target.whiteouts {
        WhiteoutStyle::Overlay => WhiteoutMode::Overlay,
        WhiteoutStyle::Delete => WhiteoutMode::Delete,
    };
    let opts = ApplyOptions {
        whiteout_mode: mode,
        ..Default::default()
    };
    apply_layer(&target.dir, &tarball[..], &opts).expect("apply layer");
    s.commit("l2", "l2-active").unwrap();
    with_mounted(&s.view("v", Some("l2")).unwrap(), check_changed);
    // A child of the applied layer sees the same.
    with_mounted(&s.prepare("c", Some("l2")).unwrap(), check_changed);
}

/// The snapshotter's own diff and changes of a committed layer.
fn t_diff_and_changes(open: &Open) {
    let t = tempfile::tempdir().unwrap();
    let s = open(t.path());
    layer(&*s, "l1", None, base);
    layer(&*s, "l2", Some("l1"), change);
    let ch: Vec<String> = s
        .changes("l2")
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    for want in [
        "D /gone",
        "D /deleted-dir",
        "A /added",
        "A /opaque/new",
        "D /opaque/old",
    ] {
        assert!(ch.iter().any(|c| c == want), "{want} missing from {ch:?}");
    }
    assert!(!ch.iter().any(|c| c.ends_with("/base")), "{ch:?}");
    let mut out = Vec::new();
    let r = s.diff("l2", &mut out, &Default::default()).expect("diff");
    assert_eq!(r.size, out.len() as u64);
    let mut names = Vec::new();
    for e in tar::Archive::new(&out[..]).entries().unwrap() {
        names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
    }
    for want in [".wh.gone", ".wh.deleted-dir", "added", "opaque/new"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    // Overlay records the replaced directory as opaque, copy as per-entry whiteouts.
    assert!(
        names
            .iter()
            .any(|n| n == "opaque/.wh..wh..opq" || n == "opaque/.wh.old"),
        "{names:?}"
    );
    // Applying the diff onto a copy of l1 (Delete mode) gives l2.
    let applied = t.path().join("applied");
    let base_copy = t.path().join("base-copy");
    fs::create_dir(&base_copy).unwrap();
    base(&base_copy);
    fs::rename(&base_copy, &applied).unwrap();
    let opts = ApplyOptions {
        whiteout_mode: WhiteoutMode::Delete,
        ..Default::default()
    };
    apply_layer(&applied, &out[..], &opts).unwrap();
    check_changed(&applied);
}

macro_rules! conformance {
    ($m:ident, $open:expr) => {
        mod $m {
            use super::*;
            fn open(root: &Path) -> Box<dyn Snapshotter> {
                Box::new($open(root).expect("open snapshotter"))
            }
            #[test]
            #[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
            fn chain_view_isolation() {
                t_chain(&open)
            }
            #[test]
            #[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
            fn errors_and_remove() {
                t_errors(&open)
            }
            #[test]
            #[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
            fn usage() {
                t_usage(&open)
            }
            #[test]
            #[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
            fn persistence() {
                t_persistence(&open)
            }
            #[test]
            #[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
            fn applied_whiteouts() {
                t_applied_whiteouts(&open)
            }
            #[test]
            #[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
            fn diff_and_changes() {
                t_diff_and_changes(&open)
            }
        }
    };
}

conformance!(overlay, OverlaySnapshotter::open);
conformance!(copy, CopySnapshotter::open);

/// 128 layers, each adding one file, under a root long enough that the classic option
/// string is far over a page: all mount, all 128 files visible (new API), and the
/// short-relative-path fallback mounts the same chain.
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn overlay_128_layers() -> io::Result<()> {
    let t = tempfile::tempdir()?;
    let root = t
        .path()
        .join("a-deliberately-long-directory-name-".repeat(2));
    let s = OverlaySnapshotter::open(&root).unwrap();
    let mut parent: Option<String> = None;
    for i in 0..128 {
        let name = format!("layer-{i:03}");
        layer(&s, &name, parent.as_deref(), |r| {
            fs::write(r.join(format!("f{i:03}")), i.to_string()).unwrap()
        });
        parent = Some(name);
    }
    let m = s.prepare("top", parent.as_deref()).unwrap();
    let opts_len: usize = m[0].options.iter().map(|o| o.len() + 1).sum();
    assert!(opts_len > 3 * 4096, "option string only {opts_len} bytes");
    let check = |r: &Path| {
        for i in 0..128 {
            let got = fs::read_to_string(r.join(format!("f{i:03}"))).unwrap();
            assert_eq!(got, i.to_string());
        }
        fs::write(r.join("top-file"), "top").unwrap();
    };
    with_mounted(&m, check);

    // Legacy path (kernels before 6.8): relative paths from the snapshots directory.
    let target = tempfile::tempdir()?;
    mount_overlay_legacy(&m[0], target.path()).expect("legacy overlay mount");
    let g = Guard(target.path().to_path_buf());
    check(target.path());
    drop(g);
    // The process's working directory is unaffected by the fallback's chdir.
    assert_ne!(std::env::current_dir()?, root.join("snapshots"));

    // A view over the 128 layers (lower-only overlay) works too.
    let v = s.view("v", parent.as_deref()).unwrap();
    with_mounted(&v, |r| {
        assert!(r.join("f000").exists() && r.join("f127").exists())
    });
    Ok(())
}

struct Guard(std::path::PathBuf);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

/// The probe picks what this kernel takes: `lowerdir+` from 6.8, the `lowerdir=`
/// string through the new mount API before (natively from 6.5, through the legacy
/// option handler from 5.2). Run in the VM suite, this checks the probe on 6.1.
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn overlay_probe_matches_the_kernel() {
    if std::env::var_os(berth_sys::kernel::DISABLE_ENV).is_some() {
        return;
    }
    let want = if berth_sys::kernel::version() >= (6, 8) {
        OverlayApi::LowerdirPlus
    } else {
        OverlayApi::NewApiString
    };
    assert_eq!(
        overlay_api(),
        want,
        "kernel {}",
        berth_sys::kernel::release()
    );
}

/// Every interface this kernel takes mounts the same stack: a writable overlay over
/// three layers (short enough for an fsconfig string), read in and written to.
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn overlay_interfaces_mount_the_same_stack() -> io::Result<()> {
    let t = tempfile::tempdir()?;
    let s = OverlaySnapshotter::open(t.path()).unwrap();
    let mut parent: Option<String> = None;
    for i in 0..3 {
        let name = format!("l{i}");
        layer(&s, &name, parent.as_deref(), |r| {
            fs::write(r.join(format!("f{i}")), i.to_string()).unwrap()
        });
        parent = Some(name);
    }
    let mut apis = vec![OverlayApi::Classic, OverlayApi::NewApiString];
    if overlay_api() == OverlayApi::LowerdirPlus {
        apis.push(OverlayApi::LowerdirPlus);
    }
    for api in apis {
        let key = format!("top-{api:?}");
        let m = s.prepare(&key, parent.as_deref()).unwrap();
        let target = tempfile::tempdir()?;
        mount_overlay_using(&m[0], target.path(), api).unwrap_or_else(|e| panic!("{api:?}: {e}"));
        let g = Guard(target.path().to_path_buf());
        for i in 0..3 {
            assert_eq!(
                fs::read_to_string(target.path().join(format!("f{i}")))?,
                i.to_string(),
                "{api:?}"
            );
        }
        fs::write(target.path().join("mine"), "x")?;
        drop(g);
        let upper = s.mounts(&key).unwrap();
        let upper_dir = upper[0]
            .options
            .iter()
            .find_map(|o| o.strip_prefix("upperdir="))
            .expect("upperdir")
            .to_string();
        assert!(Path::new(&upper_dir).join("mine").exists(), "{api:?}");
        s.remove(&key).unwrap();
    }
    Ok(())
}
