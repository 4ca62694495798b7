//! The malicious-tar corpus, after the breakout cases of Docker's pkg/archive tests
//! (invalid hardlinks, invalid symlinks, writes through planted links): a victim
//! directory sits beside the root, and after each layer — applied in both whiteout
//! modes, whether it succeeds or is rejected — nothing in it may have been written,
//! removed, linked or read into the root.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_image::layer::apply::{apply_layer, ApplyOptions, WhiteoutMode};
use tar::{EntryType, Header};

const SECRET: &[u8] = b"victim secret 7f3a9c";

/// A tar built from raw headers: `tar::Builder` refuses `..` and absolute names.
#[derive(Default)]
struct Evil(Vec<u8>);

impl Evil {
    fn raw(mut self, kind: EntryType, name: &str, link: &str, data: &[u8]) -> Evil {
        let mut h = Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let old = h.as_old_mut();
        assert!(
            name.len() < 100 && link.len() < 100,
            "keep names in the v7 fields"
        );
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().next_multiple_of(512), 0);
        self
    }
    fn file(self, name: &str, data: &[u8]) -> Evil {
        self.raw(EntryType::Regular, name, "", data)
    }
    fn dir(self, name: &str) -> Evil {
        self.raw(EntryType::Directory, name, "", &[])
    }
    fn symlink(self, name: &str, target: &str) -> Evil {
        self.raw(EntryType::Symlink, name, target, &[])
    }
    fn hardlink(self, name: &str, target: &str) -> Evil {
        self.raw(EntryType::Link, name, target, &[])
    }
    fn done(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0; 1024]);
        self.0
    }
}

/// Everything observable about a directory tree, without following symlinks.
/// Per path: mode, link count, mtime, content (or link target), xattr names.
type Tree = BTreeMap<String, (u32, u64, u64, Vec<u8>, Vec<u8>)>;

fn snapshot(dir: &Path) -> Tree {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let content = if m.is_file() {
                fs::read(&p).unwrap()
            } else if m.is_symlink() {
                fs::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else {
                Vec::new()
            };
            let mut xattrs = vec![0u8; 1024];
            let n = rustix::fs::llistxattr(&p, &mut xattrs[..]).unwrap_or(0);
            xattrs.truncate(n);
            if m.is_dir() {
                stack.push(p.clone());
            }
            out.insert(
                p.strip_prefix(dir).unwrap().display().to_string(),
                (m.mode(), m.nlink(), m.mtime() as u64, content, xattrs),
            );
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Apply `build(victim_abs)` in both whiteout modes and check containment.
fn case(name: &str, build: impl Fn(&str) -> Vec<u8>) -> Vec<bool> {
    let mut oks = Vec::new();
    for mode in [WhiteoutMode::Overlay, WhiteoutMode::Delete] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let victim = tmp.path().join("victim");
        fs::create_dir(&root).unwrap();
        fs::create_dir(&victim).unwrap();
        fs::write(victim.join("file"), SECRET).unwrap();
        fs::create_dir(victim.join("sub")).unwrap();
        fs::write(victim.join("sub/inner"), SECRET).unwrap();
        let before = snapshot(&victim);
        let siblings: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();

        let tar = build(victim.to_str().unwrap());
        let opts = ApplyOptions {
            whiteout_mode: mode,
            ..Default::default()
        };
        let outcome = apply_layer(&root, &tar[..], &opts);

        assert_eq!(
            snapshot(&victim),
            before,
            "{name} ({mode:?}): victim changed; apply: {outcome:?}"
        );
        let after: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            after, siblings,
            "{name} ({mode:?}): something appeared beside the root"
        );
        if root.exists() {
            for (p, (_, _, _, content, _)) in snapshot(&root) {
                assert!(
                    !contains(&content, SECRET),
                    "{name} ({mode:?}): victim content read into root/{p}"
                );
            }
        }
        eprintln!(
            "{name} ({mode:?}): {}",
            match &outcome {
                Ok(_) => "contained".to_string(),
                Err(e) => format!("rejected: {e}"),
            }
        );
        oks.push(outcome.is_ok());
    }
    oks
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn links_resolve_as_if_root_were_slash() {
    // Decoys make the in-root counterparts of the victim paths exist: the layer then
    // applies successfully, and everything lands in the decoys.
    let oks = case("links into in-root decoys", |v| {
        let mut t = Evil::default();
        let mut acc = String::new();
        for c in v.trim_start_matches('/').split('/') {
            acc.push('/');
            acc.push_str(c);
            t = t.dir(&acc);
        }
        t.file(&format!("{v}/file"), b"decoy")
            .dir("victim")
            .file("victim/file", b"decoy")
            .symlink("rel", "../victim")
            .symlink("abs", v)
            .symlink("chain", "rel")
            .file("rel/x", b"r")
            .file("abs/x", b"a")
            .file("chain/y", b"c")
            .hardlink("h1", "rel/file")
            .hardlink("h2", &format!("{v}/file"))
            .hardlink("h3", "abs/file")
            .done()
    });
    assert_eq!(oks, [true, true]);
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join("victim");
    fs::create_dir(&v).unwrap();
    fs::write(v.join("file"), SECRET).unwrap();
    let root = tmp.path().join("root");
    let mut t = Evil::default();
    let mut acc = String::new();
    for c in v.to_str().unwrap().trim_start_matches('/').split('/') {
        acc.push('/');
        acc.push_str(c);
        t = t.dir(&acc);
    }
    let tar = t
        .dir("victim")
        .file("victim/file", b"decoy")
        .symlink("rel", "../victim")
        .file("rel/x", b"r")
        .symlink("abs", v.to_str().unwrap())
        .file("abs/x", b"a")
        .hardlink("h", "rel/file")
        .done();
    apply_layer(&root, &tar[..], &ApplyOptions::default()).unwrap();
    assert_eq!(fs::read(root.join("victim/x")).unwrap(), b"r");
    assert_eq!(
        fs::read(root.join(v.strip_prefix("/").unwrap()).join("x")).unwrap(),
        b"a"
    );
    assert_eq!(
        fs::metadata(root.join("h")).unwrap().ino(),
        fs::metadata(root.join("victim/file")).unwrap().ino()
    );
    assert!(!v.join("x").exists());
}

#[test]
fn absolute_name() {
    let _ = case("absolute name", |v| {
        Evil::default()
            .file(&format!("{v}/x"), b"pwned")
            .file(&format!("{v}/file"), b"pwned")
            .done()
    });
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn absolute_name_contained_inside_root() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = Evil::default()
        .file("/etc/x", b"ok")
        .file("//a/./b/../c", b"ok")
        .done();
    apply_layer(tmp.path(), &tar[..], &ApplyOptions::default()).unwrap();
    assert_eq!(fs::read(tmp.path().join("etc/x")).unwrap(), b"ok");
    assert_eq!(fs::read(tmp.path().join("a/c")).unwrap(), b"ok");
}

#[test]
fn dotdot_name() {
    let _ = case("../victim/x", |_| {
        Evil::default().file("../victim/x", b"pwned").done()
    });
    let _ = case("a/../../victim/file", |_| {
        Evil::default()
            .dir("a")
            .file("a/../../victim/file", b"pwned")
            .done()
    });
    let _ = case("/../victim/x", |_| {
        Evil::default().file("/../victim/x", b"pwned").done()
    });
}

#[test]
fn dotdot_name_is_rejected_naming_the_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = Evil::default().file("../victim/x", b"pwned").done();
    let err = apply_layer(&tmp.path().join("r"), &tar[..], &ApplyOptions::default()).unwrap_err();
    assert!(err.to_string().contains("../victim/x"), "{err}");
}

#[test]
fn file_through_symlink_to_absolute_victim() {
    let _ = case("symlink to /victim, then a file through it", |v| {
        Evil::default()
            .symlink("l", v)
            .file("l/x", b"pwned")
            .file("l/file", b"pwned")
            .done()
    });
}

#[test]
fn file_through_symlink_to_relative_victim() {
    let _ = case("symlink to ../victim, then a file through it", |_| {
        Evil::default()
            .symlink("l", "../victim")
            .file("l/x", b"pwned")
            .dir("l/newdir")
            .done()
    });
}

#[test]
fn hardlink_to_absolute_victim() {
    let _ = case("hardlink to /victim/file", |v| {
        Evil::default().hardlink("h", &format!("{v}/file")).done()
    });
}

#[test]
fn hardlink_to_relative_victim() {
    let _ = case("hardlink to ../victim/file", |_| {
        Evil::default().hardlink("h", "../victim/file").done()
    });
}

#[test]
fn hardlink_through_planted_symlink() {
    let _ = case("hardlink through a planted symlink", |v| {
        Evil::default()
            .symlink("l", "../victim")
            .hardlink("h", "l/file")
            .symlink("m", v)
            .hardlink("i", "m/file")
            .done()
    });
}

#[test]
fn hardlink_to_symlink_then_write() {
    // The hardlink must link the symlink itself (no AT_SYMLINK_FOLLOW); writing to the
    // hardlink's name then replaces it.
    let _ = case("hardlink to a symlink, then a write", |v| {
        Evil::default()
            .symlink("s", &format!("{v}/file"))
            .hardlink("h", "s")
            .file("h", b"pwned")
            .done()
    });
}

#[test]
fn chain_of_symlinks() {
    let _ = case("a -> b -> ../../victim", |_| {
        Evil::default()
            .dir("d")
            .symlink("d/b", "../../victim")
            .symlink("a", "d/b")
            .file("a/x", b"pwned")
            .hardlink("h", "a/file")
            .done()
    });
}

#[test]
fn symlink_replacing_a_directory() {
    let _ = case("symlink replacing a dir, then writes", |_| {
        Evil::default()
            .dir("d")
            .file("d/f", b"ok")
            .symlink("d", "../victim")
            .file("d/x", b"pwned")
            .file("d/file", b"pwned")
            .done()
    });
}

#[test]
fn file_over_symlink_to_victim() {
    let _ = case("file entry named like a symlink to the victim", |v| {
        Evil::default()
            .symlink("s", "../victim/file")
            .file("s", b"pwned")
            .symlink("t", &format!("{v}/file"))
            .file("t", b"pwned")
            .done()
    });
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn file_over_symlink_replaces_the_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = Evil::default()
        .symlink("s", "/nowhere")
        .file("s", b"mine")
        .done();
    apply_layer(tmp.path(), &tar[..], &ApplyOptions::default()).unwrap();
    let m = fs::symlink_metadata(tmp.path().join("s")).unwrap();
    assert!(m.is_file());
    assert_eq!(fs::read(tmp.path().join("s")).unwrap(), b"mine");
}

#[test]
fn whiteout_names_escaping() {
    let _ = case("../.wh.victim", |_| {
        Evil::default().file("../.wh.victim", b"").done()
    });
    let _ = case("a/../../.wh.victim", |_| {
        Evil::default().file("a/../../.wh.victim", b"").done()
    });
}

#[test]
fn whiteout_through_symlink() {
    let _ = case("dir-symlink/.wh.file", |_| {
        Evil::default()
            .symlink("dl", "../victim")
            .file("dl/.wh.file", b"")
            .done()
    });
    let _ = case("abs-dir-symlink/.wh.sub", |v| {
        Evil::default()
            .symlink("dl", v)
            .file("dl/.wh.sub", b"")
            .done()
    });
    let _ = case("chain/.wh.file", |_| {
        Evil::default()
            .symlink("b", "../victim")
            .symlink("a", "b")
            .file("a/.wh.file", b"")
            .done()
    });
}

#[test]
fn opaque_marker_in_symlinked_dir() {
    let _ = case("opaque marker in a symlinked dir", |_| {
        Evil::default()
            .symlink("dl", "../victim")
            .file("dl/.wh..wh..opq", b"")
            .done()
    });
    let _ = case("opaque marker in an absolute symlinked dir", |v| {
        Evil::default()
            .symlink("dl", v)
            .file("dl/.wh..wh..opq", b"")
            .done()
    });
}

#[test]
fn directory_and_device_through_symlink() {
    let _ = case("dir and fifo through a symlink", |_| {
        Evil::default()
            .symlink("l", "../victim")
            .dir("l/sub")
            .raw(EntryType::Fifo, "l/fifo", "", &[])
            .raw(EntryType::Char, "l/file", "", &[])
            .done()
    });
}

#[test]
fn root_entry_symlink_is_not_followed() {
    let _ = case("symlink named ./ and .", |_| {
        Evil::default()
            .symlink(".", "../victim")
            .file("file", b"pwned")
            .done()
    });
}
