//! Layer apply: every entry kind, whiteouts in both modes, compression detection,
//! diff_id, owners/modes/mtimes/xattrs, and a mismatch leaving nothing behind.
//! Applying a layer needs root (it chowns every entry to its owner; mknod, trusted.*
//! and security.* xattrs), so the tests that apply one are `#[ignore]`d: run them with
//! `--include-ignored`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use berth_image::content::sha256;
use berth_image::layer::apply::{apply_layer, ApplyError, ApplyOptions, Compression, WhiteoutMode};
use tar::{EntryType, Header};

fn header(kind: EntryType, size: u64, mode: u32) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    h
}

struct T(tar::Builder<Vec<u8>>);

impl T {
    fn new() -> T {
        T(tar::Builder::new(Vec::new()))
    }
    fn dir(mut self, p: &str, mode: u32) -> T {
        let mut h = header(EntryType::Directory, 0, mode);
        self.0.append_data(&mut h, p, &[][..]).unwrap();
        self
    }
    fn file(mut self, p: &str, data: &[u8]) -> T {
        let mut h = header(EntryType::Regular, data.len() as u64, 0o644);
        self.0.append_data(&mut h, p, data).unwrap();
        self
    }
    fn with(mut self, mut h: Header, p: &str, data: &[u8]) -> T {
        self.0.append_data(&mut h, p, data).unwrap();
        self
    }
    fn link(mut self, kind: EntryType, p: &str, target: &str) -> T {
        let mut h = header(kind, 0, 0o777);
        self.0.append_link(&mut h, p, target).unwrap();
        self
    }
    fn pax(mut self, recs: &[(&str, &[u8])]) -> T {
        self.0
            .append_pax_extensions(recs.iter().map(|(k, v)| (*k, *v)))
            .unwrap();
        self
    }
    fn done(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

fn apply(root: &Path, tar: &[u8]) -> berth_image::layer::apply::ApplyResult {
    apply_layer(root, tar, &ApplyOptions::default()).unwrap()
}

fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::lgetxattr(p, name, &mut buf[..]).ok()?;
    buf.truncate(n);
    Some(buf)
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn every_entry_kind_lands_with_its_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let mut suid = header(EntryType::Regular, 5, 0o4755);
    suid.set_uid(1000);
    suid.set_gid(2000);
    let mut chr = header(EntryType::Char, 0, 0o666);
    chr.set_device_major(1).unwrap();
    chr.set_device_minor(3).unwrap();
    let mut blk = header(EntryType::Block, 0, 0o660);
    blk.set_device_major(7).unwrap();
    blk.set_device_minor(0).unwrap();
    // security.capability v2 for cap_net_raw (bit 13), permitted + effective.
    let cap: [u8; 20] = [
        0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let tar = T::new()
        .dir("./", 0o751)
        .dir("etc", 0o750)
        .file("etc/hosts", b"127.0.0.1 localhost\n")
        .with(suid, "bin/su", b"#!su\n")
        .link(EntryType::Symlink, "bin/sh", "/bin/busybox")
        .link(EntryType::Link, "etc/hosts2", "etc/hosts")
        .with(header(EntryType::Fifo, 0, 0o600), "run/fifo", &[])
        .with(chr, "dev/null", &[])
        .with(blk, "dev/loop0", &[])
        .pax(&[
            ("SCHILY.xattr.user.note", b"hello"),
            ("SCHILY.xattr.security.capability", &cap),
        ])
        .file("bin/ping", b"ping")
        .pax(&[("SCHILY.xattr.trusted.evil", b"1")])
        .file("bin/evil", b"e")
        .done();
    let r = apply(&root, &tar);
    assert_eq!(r.entries, 11);
    assert_eq!(
        fs::metadata(&root).unwrap().permissions().mode() & 0o7777,
        0o751,
        "./ sets the root's mode"
    );
    assert_eq!(r.compression, Compression::None);

    assert_eq!(
        fs::read(root.join("etc/hosts")).unwrap(),
        b"127.0.0.1 localhost\n"
    );
    let etc = fs::metadata(root.join("etc")).unwrap();
    assert!(etc.is_dir());
    assert_eq!(etc.permissions().mode() & 0o7777, 0o750);
    assert_eq!(
        etc.mtime(),
        1_600_000_000,
        "directory mtime is set after its children"
    );
    let hosts = fs::metadata(root.join("etc/hosts")).unwrap();
    assert_eq!(hosts.mtime(), 1_600_000_000);
    assert_eq!(hosts.permissions().mode() & 0o7777, 0o644);
    let hosts2 = fs::metadata(root.join("etc/hosts2")).unwrap();
    assert_eq!(hosts.ino(), hosts2.ino(), "hardlink within the layer");
    assert_eq!(
        fs::read_link(root.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    let sh = fs::symlink_metadata(root.join("bin/sh")).unwrap();
    assert_eq!(
        sh.mtime(),
        1_600_000_000,
        "symlink's own mtime (AT_SYMLINK_NOFOLLOW)"
    );
    // Parents missing from the tar are created.
    assert!(root.join("run").is_dir());

    let su = fs::metadata(root.join("bin/su")).unwrap();
    assert_eq!((su.uid(), su.gid()), (1000, 2000));
    assert_eq!(
        su.permissions().mode() & 0o7777,
        0o4755,
        "setuid survives chown"
    );
    assert!(fs::metadata(root.join("run/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    let null = fs::metadata(root.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(null.permissions().mode() & 0o7777, 0o666);
    assert!(fs::metadata(root.join("dev/loop0"))
        .unwrap()
        .file_type()
        .is_block_device());
    assert_eq!(
        xattr(&root.join("bin/ping"), "user.note").as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(
        xattr(&root.join("bin/ping"), "security.capability").as_deref(),
        Some(&cap[..])
    );
    assert_eq!(xattr(&root.join("bin/evil"), "trusted.evil"), None);
    assert!(
        r.warnings.iter().any(|w| w.contains("trusted.evil")),
        "{:?}",
        r.warnings
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn owners_are_remapped_by_the_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = header(EntryType::Regular, 1, 0o2755);
    h.set_uid(5);
    h.set_gid(6);
    let tar = T::new().with(h, "f", b"x").done();
    let opts = ApplyOptions {
        uid_offset: 100_000,
        gid_offset: 200_000,
        ..Default::default()
    };
    apply_layer(tmp.path(), &tar[..], &opts).unwrap();
    let m = fs::metadata(tmp.path().join("f")).unwrap();
    assert_eq!((m.uid(), m.gid()), (100_005, 200_006));
    assert_eq!(
        m.permissions().mode() & 0o7777,
        0o2755,
        "setgid applied after chown"
    );
}

fn layer_with_whiteouts() -> Vec<u8> {
    T::new()
        .dir("a", 0o755)
        .file("a/.wh.b", b"")
        .dir("c", 0o755)
        .file("c/.wh..wh..opq", b"")
        .file("c/new", b"new")
        .file(".wh..wh.plnk", b"")
        .done()
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn overlay_whiteouts_and_opaque_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    apply(tmp.path(), &layer_with_whiteouts());
    let wh = fs::symlink_metadata(tmp.path().join("a/b")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!tmp.path().join("a/.wh.b").exists());
    assert_eq!(
        xattr(&tmp.path().join("c"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(!tmp.path().join("c/.wh..wh..opq").exists());
    assert_eq!(fs::read(tmp.path().join("c/new")).unwrap(), b"new");
    assert!(!tmp.path().join(".wh..wh.plnk").exists());
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn delete_mode_removes_what_whiteouts_hide() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for d in ["a", "c/sub"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    for f in ["a/b", "a/keep", "c/old", "c/sub/x"] {
        fs::write(root.join(f), f).unwrap();
    }
    let opts = ApplyOptions {
        whiteout_mode: WhiteoutMode::Delete,
        ..Default::default()
    };
    apply_layer(root, &layer_with_whiteouts()[..], &opts).unwrap();
    assert!(!root.join("a/b").exists());
    assert!(root.join("a/keep").exists());
    assert!(!root.join("c/old").exists());
    assert!(!root.join("c/sub").exists());
    assert_eq!(fs::read(root.join("c/new")).unwrap(), b"new");
    assert!(!root.join("a/.wh.b").exists());
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn opaque_marker_after_children_keeps_this_layers_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir_all(root.join("d/sub")).unwrap();
    fs::write(root.join("d/sub/lower"), "l").unwrap();
    fs::write(root.join("d/lower"), "l").unwrap();
    let tar = T::new()
        .dir("d", 0o755)
        .dir("d/sub", 0o755)
        .file("d/sub/mine", b"m")
        .file("d/.wh..wh..opq", b"")
        .done();
    let opts = ApplyOptions {
        whiteout_mode: WhiteoutMode::Delete,
        ..Default::default()
    };
    apply_layer(root, &tar[..], &opts).unwrap();
    assert!(root.join("d/sub/mine").exists());
    assert!(!root.join("d/sub/lower").exists());
    assert!(!root.join("d/lower").exists());
}

#[test]
fn hardlink_to_a_lower_layer_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir(root.join("usr")).unwrap();
    fs::write(root.join("usr/lib.so"), "lib").unwrap();
    let tar = T::new()
        .link(EntryType::Link, "lib.so", "usr/lib.so")
        .done();
    apply(root, &tar);
    assert_eq!(
        fs::metadata(root.join("lib.so")).unwrap().ino(),
        fs::metadata(root.join("usr/lib.so")).unwrap().ino()
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn entries_replace_what_is_there() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir_all(root.join("was_dir/deep")).unwrap();
    fs::write(root.join("was_dir/deep/f"), "x").unwrap();
    fs::write(root.join("was_file"), "x").unwrap();
    fs::create_dir(root.join("kept")).unwrap();
    fs::write(root.join("kept/child"), "c").unwrap();
    std::os::unix::fs::symlink("/nonexistent", root.join("was_link")).unwrap();
    let tar = T::new()
        .file("was_dir", b"now a file")
        .dir("was_file", 0o700)
        .dir("kept", 0o711)
        .file("was_link", b"now a file")
        .done();
    apply(root, &tar);
    assert_eq!(fs::read(root.join("was_dir")).unwrap(), b"now a file");
    assert!(fs::symlink_metadata(root.join("was_file"))
        .unwrap()
        .is_dir());
    assert!(
        root.join("kept/child").exists(),
        "a dir entry over a dir keeps its contents"
    );
    assert_eq!(
        fs::metadata(root.join("kept"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o711
    );
    assert!(fs::symlink_metadata(root.join("was_link"))
        .unwrap()
        .is_file());
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn compression_is_detected_and_diff_id_is_of_the_plain_tar() {
    let tar = T::new()
        .dir("d", 0o755)
        .file("d/f", &vec![7u8; 300_000])
        .done();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    for (data, kind) in [
        (&tar, Compression::None),
        (&gz, Compression::Gzip),
        (&zst, Compression::Zstd),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let r = apply(tmp.path(), data);
        assert_eq!(r.compression, kind);
        assert_eq!(r.diff_id, sha256(&tar), "{kind:?}");
        assert_eq!(r.size, tar.len() as u64);
        assert_eq!(
            fs::read(tmp.path().join("d/f")).unwrap(),
            vec![7u8; 300_000]
        );
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn concatenated_gzip_members_are_one_stream() {
    let tar = T::new().file("f", b"hello").done();
    let (a, b) = tar.split_at(700);
    let mut out = Vec::new();
    for part in [a, b] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(part).unwrap();
        out.extend(gz.finish().unwrap());
    }
    let tmp = tempfile::tempdir().unwrap();
    let r = apply(tmp.path(), &out);
    assert_eq!(r.diff_id, sha256(&tar));
    assert_eq!(fs::read(tmp.path().join("f")).unwrap(), b"hello");
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn digest_mismatch_leaves_nothing_behind() {
    let tar = T::new()
        .dir("d", 0o755)
        .file("d/f", b"data")
        .file("g", b"g")
        .done();
    let opts = ApplyOptions {
        expected_diff_id: Some(sha256(b"something else")),
        ..Default::default()
    };
    let tmp = tempfile::tempdir().unwrap();

    // An empty root handed over by a snapshotter stays, empty.
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let err = apply_layer(&empty, &tar[..], &opts).unwrap_err();
    assert!(matches!(err, ApplyError::DigestMismatch { .. }), "{err}");
    assert_eq!(fs::read_dir(&empty).unwrap().count(), 0);

    // An absent root is not left behind.
    let absent = tmp.path().join("absent");
    assert!(apply_layer(&absent, &tar[..], &opts).is_err());
    assert!(!absent.exists());

    // The right digest is accepted.
    let ok = ApplyOptions {
        expected_diff_id: Some(sha256(&tar)),
        ..Default::default()
    };
    apply_layer(&absent, &tar[..], &ok).unwrap();
    assert!(absent.join("d/f").exists());
}

#[test]
fn truncated_stream_is_an_error_and_leaves_nothing() {
    let tar = T::new().file("f", &vec![1u8; 100_000]).done();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("r");
    let err = apply_layer(&root, &gz[..gz.len() / 2], &ApplyOptions::default()).unwrap_err();
    assert!(!root.exists(), "{err}");
}

#[test]
fn unsupported_compression_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let err = apply_layer(tmp.path(), &b"BZh91AY&SY"[..], &ApplyOptions::default()).unwrap_err();
    assert!(err.to_string().contains("bzip2"), "{err}");
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn pax_mtime_and_long_names() {
    let tmp = tempfile::tempdir().unwrap();
    let long = format!("{}/file", "d".repeat(200));
    let tar = T::new()
        .pax(&[("mtime", b"1234567890.25")])
        .file(&long, b"x")
        .done();
    apply(tmp.path(), &tar);
    let m = fs::metadata(tmp.path().join(&long)).unwrap();
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_234_567_890, 250_000_000));
}
