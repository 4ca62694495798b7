//! Layer diff from a real overlay upper directory: the entries a change produces, the
//! same digest for the same change under SOURCE_DATE_EPOCH, and a round trip through
//! apply_layer. Needs root (overlay mounts): the tests are `#[ignore]`d, run them with
//! `--include-ignored`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_image::layer::apply::{apply_layer, ApplyOptions, WhiteoutMode};
use berth_image::layer::diff::{changes_upper, diff_upper, DiffOptions};
use berth_image::snapshot::{Mount, MountGuard};

/// A v2 file capability granting CAP_NET_BIND_SERVICE (effective).
const CAP: [u8; 20] = [
    0x01, 0, 0, 0x02, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

struct Scenario {
    _t: tempfile::TempDir,
    lower: PathBuf,
    upper: PathBuf,
    merged: PathBuf,
}

fn write(p: &Path, s: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, s).unwrap();
}

fn chmod(p: &Path, m: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
}

/// Build a lower tree, mount an overlay over it, make the standard change through the
/// merged view, and unmount. `snapshot` is called with the merged view before unmount.
fn scenario(snapshot: impl FnOnce(&Path)) -> Scenario {
    let t = tempfile::tempdir().unwrap();
    let (lower, upper, work, merged) = (
        t.path().join("lower"),
        t.path().join("upper"),
        t.path().join("work"),
        t.path().join("merged"),
    );
    for d in [&lower, &upper, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    write(&lower.join("etc/passwd"), "root:x:0:0\n");
    write(&lower.join("etc/hosts"), "127.0.0.1 localhost\n");
    write(&lower.join("bin/tool"), "#!/bin/true\n");
    write(&lower.join("var/dir-to-delete/sub/x"), "x");
    write(&lower.join("opq/old1"), "1");
    write(&lower.join("opq/old2"), "2");
    write(&lower.join("file-to-chmod"), "c");
    write(&lower.join("sbin/su"), "su");
    chmod(&lower.join("sbin/su"), 0o755);

    let m = Mount {
        typ: "overlay".into(),
        source: "overlay".into(),
        target: None,
        options: vec![
            "index=off".into(),
            "redirect_dir=off".into(),
            format!("lowerdir={}", lower.display()),
            format!("upperdir={}", upper.display()),
            format!("workdir={}", work.display()),
        ],
    };
    let g = MountGuard::mount(&[m], &merged).expect("mount overlay");
    let r = merged.as_path();
    write(&r.join("etc/new.conf"), "new\n");
    rustix::fs::lsetxattr(
        r.join("etc/new.conf"),
        "user.berth-test",
        b"v",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    fs::write(r.join("etc/hosts"), "127.0.0.1 localhost\n10.0.0.1 db\n").unwrap();
    fs::remove_file(r.join("etc/passwd")).unwrap();
    fs::remove_dir_all(r.join("var/dir-to-delete")).unwrap();
    fs::remove_dir_all(r.join("opq")).unwrap();
    fs::create_dir(r.join("opq")).unwrap();
    write(&r.join("opq/fresh"), "fresh");
    write(&r.join("data/a"), "shared");
    fs::hard_link(r.join("data/a"), r.join("data/b")).unwrap();
    std::os::unix::fs::symlink("etc/hosts", r.join("link")).unwrap();
    chmod(&r.join("file-to-chmod"), 0o600);
    chmod(&r.join("sbin/su"), 0o4755);
    rustix::fs::lsetxattr(
        r.join("bin/tool"),
        "security.capability",
        &CAP,
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    snapshot(r);
    g.unmount().expect("unmount overlay");
    Scenario {
        _t: t,
        lower,
        upper,
        merged,
    }
}

struct Entry {
    typ: tar::EntryType,
    mode: u32,
    link: Option<String>,
    xattrs: BTreeMap<String, Vec<u8>>,
    data: Vec<u8>,
}

fn entries(tarball: &[u8]) -> Vec<(String, Entry)> {
    let mut out = Vec::new();
    let mut a = tar::Archive::new(tarball);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8(e.path_bytes().to_vec()).unwrap();
        let mut xattrs = BTreeMap::new();
        if let Some(ext) = e.pax_extensions().unwrap() {
            for x in ext {
                let x = x.unwrap();
                if let Some(k) = x.key().unwrap().strip_prefix("SCHILY.xattr.") {
                    xattrs.insert(k.to_string(), x.value_bytes().to_vec());
                }
            }
        }
        let h = e.header();
        let typ = h.entry_type();
        let mode = h.mode().unwrap();
        assert_eq!(h.as_ustar().unwrap().uname, [0u8; 32], "{name}: uname set");
        let link = e
            .link_name_bytes()
            .map(|l| String::from_utf8(l.to_vec()).unwrap());
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push((
            name,
            Entry {
                typ,
                mode,
                link,
                xattrs,
                data,
            },
        ));
    }
    out
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn overlay_upper_becomes_layer_entries() {
    let s = scenario(|_| {});
    let mut out = Vec::new();
    let r = diff_upper(
        &s.upper,
        &mut out,
        &DiffOptions {
            source_date_epoch: None,
            mountpoints: Vec::new(),
        },
    )
    .unwrap();
    assert_eq!(r.size, out.len() as u64);
    assert_eq!(r.diff_id, berth_image::content::sha256(&out));
    let es = entries(&out);
    let names: Vec<&str> = es.iter().map(|(n, _)| n.as_str()).collect();
    let get = |n: &str| {
        &es.iter()
            .find(|(x, _)| x == n)
            .unwrap_or_else(|| panic!("{n} missing from {names:?}"))
            .1
    };
    // Whiteouts and the opaque marker right after its directory.
    assert_eq!(get("etc/.wh.passwd").typ, tar::EntryType::Regular);
    get("var/.wh.dir-to-delete");
    let opq = names.iter().position(|n| *n == "opq/").unwrap();
    assert_eq!(names[opq + 1], "opq/.wh..wh..opq");
    assert_eq!(get("opq/fresh").data, b"fresh");
    assert!(!names.iter().any(|n| n.starts_with("opq/old")), "{names:?}");
    // Nothing of the deleted directory's content is in the layer.
    assert!(
        !names.iter().any(|n| n.starts_with("var/dir-to-delete")),
        "{names:?}"
    );
    // New and modified files.
    assert_eq!(get("etc/hosts").data, b"127.0.0.1 localhost\n10.0.0.1 db\n");
    assert_eq!(
        get("etc/new.conf").xattrs.get("user.berth-test").unwrap(),
        b"v"
    );
    // Hardlinks: first name a file, second a link to it.
    assert_eq!(get("data/a").typ, tar::EntryType::Regular);
    assert_eq!(get("data/b").typ, tar::EntryType::Link);
    assert_eq!(get("data/b").link.as_deref(), Some("data/a"));
    // Symlink, chmod, setuid, capability.
    assert_eq!(get("link").typ, tar::EntryType::Symlink);
    assert_eq!(get("link").link.as_deref(), Some("etc/hosts"));
    assert_eq!(get("file-to-chmod").mode & 0o7777, 0o600);
    assert_eq!(get("sbin/su").mode & 0o7777, 0o4755);
    assert_eq!(
        get("bin/tool").xattrs.get("security.capability").unwrap(),
        &CAP
    );
    // Directories carry a trailing slash; overlay's private xattrs never leak.
    assert_eq!(get("etc/").typ, tar::EntryType::Directory);
    for (n, e) in &es {
        assert!(
            !e.xattrs.keys().any(|k| k.contains("overlay.")),
            "{n} carries {:?}",
            e.xattrs.keys()
        );
    }
    // Sorted by path bytes, apart from the opaque marker placed after its directory.
    let mut sorted: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !n.ends_with(".wh..wh..opq"))
        .collect();
    let before = sorted.clone();
    sorted.sort();
    assert_eq!(before, sorted);
    // `docker diff` listing.
    let ch: Vec<String> = changes_upper(&s.upper, std::slice::from_ref(&s.lower))
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    for want in [
        "C /etc",
        "C /etc/hosts",
        "A /etc/new.conf",
        "D /etc/passwd",
        "D /var/dir-to-delete",
        "C /opq",
        "D /opq/old1",
        "A /opq/fresh",
        "A /data/a",
        "A /link",
        "C /sbin/su",
    ] {
        assert!(ch.iter().any(|c| c == want), "{want} missing from {ch:?}");
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn same_change_same_digest_under_source_date_epoch() {
    let opts = DiffOptions {
        source_date_epoch: Some(1_600_000_000),
        mountpoints: Vec::new(),
    };
    let a = scenario(|_| {});
    // A later second, so unclamped mtimes would differ.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = scenario(|_| {});
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    let ra = diff_upper(&a.upper, &mut ta, &opts).unwrap();
    let rb = diff_upper(&b.upper, &mut tb, &opts).unwrap();
    assert_eq!(
        ra.diff_id, rb.diff_id,
        "same change, different layer digests"
    );
    assert_eq!(ta, tb);
    // Headers carry no owner names (checked while listing).
    entries(&ta);
    let mut a2 = tar::Archive::new(&ta[..]);
    for e in a2.entries().unwrap() {
        let e = e.unwrap();
        assert!(e.header().mtime().unwrap() <= 1_600_000_000);
    }
    // Without clamping the two differ (the test above could not fail otherwise).
    let none = DiffOptions {
        source_date_epoch: None,
        mountpoints: Vec::new(),
    };
    let ua = diff_upper(&a.upper, &mut Vec::new(), &none).unwrap();
    let ub = diff_upper(&b.upper, &mut Vec::new(), &none).unwrap();
    assert_ne!(ua.diff_id, ub.diff_id);
}

#[derive(Debug, PartialEq, Eq)]
struct Node {
    kind: String,
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    content: Vec<u8>,
    cap: Option<Vec<u8>>,
}

fn tree(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in fs::read_dir(&p).unwrap() {
            let e = e.unwrap().path();
            let md = fs::symlink_metadata(&e).unwrap();
            let rel = e.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let (kind, content) = if md.is_dir() {
                stack.push(e.clone());
                ("dir", Vec::new())
            } else if md.file_type().is_symlink() {
                let t = fs::read_link(&e).unwrap();
                ("symlink", t.to_string_lossy().as_bytes().to_vec())
            } else {
                ("file", fs::read(&e).unwrap())
            };
            let mut buf = [0u8; 64];
            let cap = rustix::fs::lgetxattr(&e, "security.capability", &mut buf[..])
                .ok()
                .map(|n| buf[..n].to_vec());
            out.insert(
                rel,
                Node {
                    kind: kind.into(),
                    mode: md.mode(),
                    uid: md.uid(),
                    gid: md.gid(),
                    nlink: if md.is_dir() { 0 } else { md.nlink() },
                    content,
                    cap,
                },
            );
        }
    }
    out
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn diff_applied_onto_lower_reproduces_merged_view() {
    let mut merged_tree = BTreeMap::new();
    let s = scenario(|r| merged_tree = tree(r));
    assert!(merged_tree.contains_key("data/b"));
    let mut out = Vec::new();
    diff_upper(
        &s.upper,
        &mut out,
        &DiffOptions {
            source_date_epoch: None,
            mountpoints: Vec::new(),
        },
    )
    .unwrap();
    let opts = ApplyOptions {
        whiteout_mode: WhiteoutMode::Delete,
        ..Default::default()
    };
    apply_layer(&s.lower, &out[..], &opts).expect("apply diff onto lower");
    let applied = tree(&s.lower);
    let keys_a: Vec<&String> = applied.keys().collect();
    let keys_m: Vec<&String> = merged_tree.keys().collect();
    assert_eq!(keys_a, keys_m);
    for (k, m) in &merged_tree {
        assert_eq!(&applied[k], m, "{k} differs after round trip");
    }
    assert!(s.merged.exists());
}
