//! docker-archive forms made by hand (classic, Docker 25+ OCI-in-tar), bad archives,
//! rootfs import with --change, and container export.

use berth_image::archive::{
    export_rootfs, import_rootfs, load_docker_archive, save_docker_archive, ArchiveError,
};
use berth_image::content::{sha256, ContentStore};
use berth_image::model::{media, ImageConfig, Manifest, Platform};
use berth_types::Digest;
use std::io::{Read, Write};

fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn config(diff_ids: &[Digest]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "test"}],
    }))
    .unwrap()
}

fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            h.set_mode(0o755);
            b.append_data(&mut h, name, &[][..]).unwrap();
            continue;
        }
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

struct Classic {
    l1: Vec<u8>,
    l2: Vec<u8>,
    cfg: Vec<u8>,
}

fn classic() -> Classic {
    let l1 = layer(&[("etc/a", b"one")]);
    let l2 = layer(&[("etc/b", b"two"), ("etc/.wh.a", b"")]);
    let cfg = config(&[sha256(&l1), sha256(&l2)]);
    Classic { l1, l2, cfg }
}

/// A classic `docker save` archive, entries deliberately out of order.
fn classic_archive(c: &Classic, manifest: Option<&str>) -> Vec<u8> {
    let ch = sha256(&c.cfg).hex().to_string();
    let mj = manifest.map(String::from).unwrap_or_else(|| {
        format!(
            r#"[{{"Config":"{ch}.json","RepoTags":["busybox:latest","example.com:5000/x/y:1"],"Layers":["aaa/layer.tar","bbb/layer.tar"]}}]"#
        )
    });
    let repos = r#"{"busybox":{"latest":"bbb"}}"#;
    let mut e: Vec<(&str, &[u8])> = vec![("manifest.json", mj.as_bytes())];
    let cfgname = format!("{ch}.json");
    e.push(("bbb/", b""));
    e.push(("bbb/layer.tar", &c.l2));
    e.push(("bbb/VERSION", b"1.0"));
    e.push(("bbb/json", br#"{"id":"bbb","parent":"aaa"}"#));
    e.push((&cfgname, &c.cfg));
    e.push(("repositories", repos.as_bytes()));
    e.push(("aaa/", b""));
    e.push(("aaa/json", br#"{"id":"aaa"}"#));
    e.push(("aaa/layer.tar", &c.l1));
    tar_of(&e)
}

#[test]
fn classic_archive_loads_saves_and_reloads_identically() {
    let t = tempfile::tempdir().unwrap();
    let store = ContentStore::open(t.path()).unwrap();
    let c = classic();
    let imgs = load_docker_archive(&store, &classic_archive(&c, None)[..]).unwrap();
    assert_eq!(imgs.len(), 1);
    let img = &imgs[0];
    let names: Vec<String> = img.names.iter().map(|n| n.to_string()).collect();
    assert_eq!(
        names,
        ["docker.io/library/busybox:latest", "example.com:5000/x/y:1"]
    );
    assert_eq!(img.config, sha256(&c.cfg));
    assert_eq!(img.manifest.media_type, media::DOCKER_MANIFEST);
    let m: Manifest = serde_json::from_slice(&store.read(&img.manifest.digest).unwrap()).unwrap();
    assert_eq!(m.config.media_type, media::DOCKER_CONFIG);
    assert_eq!(m.layers[0].digest, sha256(&c.l1));
    assert_eq!(m.layers[1].digest, sha256(&c.l2));
    assert_eq!(m.layers[1].media_type, media::DOCKER_LAYER);
    assert_eq!(m.layers[1].size, c.l2.len() as u64);
    assert_eq!(store.read(&img.config).unwrap(), c.cfg, "config bytes kept");

    let mut saved = Vec::new();
    save_docker_archive(&store, &imgs, &mut saved).unwrap();
    // The saved archive's layer files are the original layer.tar bytes.
    let mut a = tar::Archive::new(&saved[..]);
    let mut found = std::collections::BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        let mut v = Vec::new();
        e.read_to_end(&mut v).unwrap();
        assert_eq!(e.header().mtime().unwrap(), 0);
        found.insert(p, v);
    }
    assert_eq!(found[&format!("{}/layer.tar", sha256(&c.l1).hex())], c.l1);
    assert_eq!(found[&format!("{}/layer.tar", sha256(&c.l2).hex())], c.l2);
    assert_eq!(found[&format!("{}.json", img.config.hex())], c.cfg);
    let mj: serde_json::Value = serde_json::from_slice(&found["manifest.json"]).unwrap();
    assert_eq!(
        mj[0]["RepoTags"],
        serde_json::json!(["busybox:latest", "example.com:5000/x/y:1"])
    );
    let repos: serde_json::Value = serde_json::from_slice(&found["repositories"]).unwrap();
    assert_eq!(repos["busybox"]["latest"], sha256(&c.l2).hex());

    let t2 = tempfile::tempdir().unwrap();
    let store2 = ContentStore::open(t2.path()).unwrap();
    let again = load_docker_archive(&store2, &saved[..]).unwrap();
    assert_eq!(again, imgs);
}

#[test]
fn docker25_oci_form_keeps_the_manifest_digest() {
    let t = tempfile::tempdir().unwrap();
    let store = ContentStore::open(t.path()).unwrap();
    let c = classic();
    let (d1, d2, dc) = (sha256(&c.l1), sha256(&c.l2), sha256(&c.cfg));
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": media::OCI_CONFIG, "digest": dc, "size": c.cfg.len()},
        "layers": [
            {"mediaType": media::OCI_LAYER, "digest": d1, "size": c.l1.len()},
            {"mediaType": media::OCI_LAYER, "digest": d2, "size": c.l2.len()},
        ],
    }))
    .unwrap();
    let dm = sha256(&manifest);
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": media::OCI_INDEX,
        "manifests": [{"mediaType": media::OCI_MANIFEST, "digest": dm, "size": manifest.len(),
            "annotations": {"io.containerd.image.name": "docker.io/library/app:1",
                            "org.opencontainers.image.ref.name": "1"}}],
    }))
    .unwrap();
    let b = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    let mj = format!(
        r#"[{{"Config":"{}","RepoTags":["app:1"],"Layers":["{}","{}"]}}]"#,
        b(&dc),
        b(&d1),
        b(&d2)
    );
    let (n1, n2, nc, nm) = (b(&d1), b(&d2), b(&dc), b(&dm));
    let archive = tar_of(&[
        ("manifest.json", mj.as_bytes()),
        ("blobs/", b""),
        ("blobs/sha256/", b""),
        (&n2, &c.l2),
        ("index.json", &index),
        (&nm, &manifest),
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
        (&nc, &c.cfg),
        (&n1, &c.l1),
    ]);
    let imgs = load_docker_archive(&store, &archive[..]).unwrap();
    assert_eq!(imgs.len(), 1);
    assert_eq!(imgs[0].manifest.digest, dm, "Docker's own manifest reused");
    assert_eq!(imgs[0].manifest.media_type, media::OCI_MANIFEST);
    assert_eq!(imgs[0].config, dc);
    assert_eq!(imgs[0].names[0].to_string(), "docker.io/library/app:1");

    // Without manifest.json it is read as a plain OCI archive, names from index.json.
    let t2 = tempfile::tempdir().unwrap();
    let store2 = ContentStore::open(t2.path()).unwrap();
    let archive = tar_of(&[
        ("index.json", &index),
        (&nm, &manifest),
        (&nc, &c.cfg),
        (&n1, &c.l1),
        (&n2, &c.l2),
    ]);
    let imgs2 = load_docker_archive(&store2, &archive[..]).unwrap();
    assert_eq!(imgs2, imgs);

    // A blob whose content does not match its name is refused, naming the digest.
    let t3 = tempfile::tempdir().unwrap();
    let store3 = ContentStore::open(t3.path()).unwrap();
    let archive = tar_of(&[("index.json", &index), (&nm, &manifest), (&n1, &c.l2)]);
    let e = load_docker_archive(&store3, &archive[..]).unwrap_err();
    assert!(e.to_string().contains(&d1.to_string()), "{e}");
}

fn assert_nothing_recorded(store: &ContentStore, c: &Classic) {
    // Only verified layer blobs may remain (unreferenced, for GC): no config, no manifest.
    for d in store.list().unwrap() {
        assert!(
            d == sha256(&c.l1) || d == sha256(&c.l2),
            "unexpected blob {d} left after a failed load"
        );
    }
    assert_eq!(
        std::fs::read_dir(store.root().join("ingest"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn bad_archives_are_refused_naming_the_problem() {
    let c = classic();
    let ch = sha256(&c.cfg).hex().to_string();

    // Missing manifest.json.
    let t = tempfile::tempdir().unwrap();
    let store = ContentStore::open(t.path()).unwrap();
    let archive = tar_of(&[("aaa/layer.tar", &c.l1)]);
    let e = load_docker_archive(&store, &archive[..]).unwrap_err();
    assert!(matches!(e, ArchiveError::Missing("manifest.json")), "{e}");
    assert!(e.to_string().contains("manifest.json"), "{e}");
    assert_nothing_recorded(&store, &c);

    // manifest.json names a layer that is not there.
    let mj = format!(
        r#"[{{"Config":"{ch}.json","RepoTags":["x:1"],"Layers":["aaa/layer.tar","zzz/layer.tar"]}}]"#
    );
    let archive = classic_archive(&c, Some(&mj));
    let e = load_docker_archive(&store, &archive[..]).unwrap_err();
    assert!(e.to_string().contains("zzz/layer.tar"), "{e}");
    assert_nothing_recorded(&store, &c);

    // Layer content does not match the config's diff_id.
    let mj = format!(
        r#"[{{"Config":"{ch}.json","RepoTags":["x:1"],"Layers":["bbb/layer.tar","aaa/layer.tar"]}}]"#
    );
    let archive = classic_archive(&c, Some(&mj));
    let e = load_docker_archive(&store, &archive[..]).unwrap_err();
    let s = e.to_string();
    assert!(matches!(e, ArchiveError::DiffIdMismatch { .. }), "{s}");
    assert!(
        s.contains("bbb/layer.tar") && s.contains(&sha256(&c.l1).to_string()),
        "{s}"
    );
    assert_nothing_recorded(&store, &c);

    // Config names a missing file.
    let mj = r#"[{"Config":"nope.json","Layers":[]}]"#;
    let e = load_docker_archive(&store, &classic_archive(&c, Some(mj))[..]).unwrap_err();
    assert!(e.to_string().contains("nope.json"), "{e}");

    // Broken JSON names the file.
    let e = load_docker_archive(&store, &classic_archive(&c, Some("[{"))[..]).unwrap_err();
    assert!(e.to_string().contains("manifest.json"), "{e}");

    // Truncated in the middle of a layer.
    let full = classic_archive(&c, None);
    let cut = full.len() - 1024 - 300;
    let e = load_docker_archive(&store, &full[..cut]).unwrap_err();
    assert!(
        matches!(
            e,
            ArchiveError::Truncated { .. } | ArchiveError::Read(_) | ArchiveError::Entry { .. }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("aaa/layer.tar") || e.to_string().contains("archive"),
        "{e}"
    );
    assert_nothing_recorded(&store, &c);

    // Truncated right after a header: the entry's data is missing.
    let e = load_docker_archive(&store, &full[..512]).unwrap_err();
    assert!(e.to_string().contains("manifest.json"), "{e}");
}

fn rootfs_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let bb = std::fs::read("/usr/bin/busybox").unwrap_or_else(|_| b"#!fake".to_vec());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    b.append_data(&mut h, "bin/", &[][..]).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_size(bb.len() as u64);
    h.set_mode(0o755);
    b.append_data(&mut h, "bin/busybox", &bb[..]).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn import_rootfs_applies_every_change() {
    let t = tempfile::tempdir().unwrap();
    let store = ContentStore::open(t.path()).unwrap();
    let plain = rootfs_tar();
    let changes: Vec<String> = [
        r#"CMD ["/bin/busybox", "sh"]"#,
        "ENTRYPOINT /bin/busybox",
        r#"ENV A=1 B="two words""#,
        "ENV PATH /bin",
        "EXPOSE 80 53/udp 9000-9001",
        r#"LABEL org.example="x y" k=v"#,
        "USER 1000",
        r#"VOLUME ["/data"]"#,
        "VOLUME /logs",
        "WORKDIR /srv",
        "ONBUILD RUN echo hi",
        "STOPSIGNAL SIGQUIT",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let arm = Platform {
        architecture: "arm64".into(),
        os: "linux".into(),
        variant: Some("v8".into()),
        ..Default::default()
    };
    let img = import_rootfs(&store, &plain[..], &changes, Some("my import"), Some(&arm)).unwrap();
    assert!(img.names.is_empty());
    let cfg: ImageConfig = serde_json::from_slice(&store.read(&img.config).unwrap()).unwrap();
    assert_eq!(
        (cfg.architecture.as_str(), cfg.os.as_str()),
        ("arm64", "linux")
    );
    assert_eq!(cfg.variant.as_deref(), Some("v8"));
    assert_eq!(cfg.rootfs.diff_ids, vec![sha256(&plain)]);
    assert_eq!(cfg.history.len(), 1);
    assert_eq!(cfg.history[0].comment.as_deref(), Some("my import"));
    assert!(cfg.created.is_some());
    let rc = cfg.config.unwrap();
    assert_eq!(rc.cmd.unwrap(), ["/bin/busybox", "sh"]);
    assert_eq!(rc.entrypoint.unwrap(), ["/bin/sh", "-c", "/bin/busybox"]);
    assert_eq!(rc.env.unwrap(), ["A=1", "B=two words", "PATH=/bin"]);
    let ports: Vec<_> = rc.exposed_ports.unwrap().into_keys().collect();
    assert_eq!(ports, ["53/udp", "80/tcp", "9000/tcp", "9001/tcp"]);
    assert_eq!(rc.labels.unwrap()["org.example"], "x y");
    assert_eq!(rc.user.unwrap(), "1000");
    let vols: Vec<_> = rc.volumes.unwrap().into_keys().collect();
    assert_eq!(vols, ["/data", "/logs"]);
    assert_eq!(rc.working_dir.unwrap(), "/srv");
    assert_eq!(rc.on_build.unwrap(), ["RUN echo hi"]);
    assert_eq!(rc.stop_signal.unwrap(), "SIGQUIT");

    // The layer is stored as the input tar; gzip/zstd inputs give the same diff_id.
    let m: Manifest = serde_json::from_slice(&store.read(&img.manifest.digest).unwrap()).unwrap();
    assert_eq!(m.layers[0].media_type, media::DOCKER_LAYER);
    assert_eq!(m.layers[0].size, store.size(&m.layers[0].digest).unwrap());
    let mut un = Vec::new();
    store
        .open_blob(&m.layers[0].digest)
        .unwrap()
        .read_to_end(&mut un)
        .unwrap();
    assert_eq!(un, plain);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let zs = zstd::encode_all(&plain[..], 3).unwrap();
    for input in [gz, zs] {
        let i = import_rootfs(&store, &input[..], &[], None, None).unwrap();
        let c: ImageConfig = serde_json::from_slice(&store.read(&i.config).unwrap()).unwrap();
        assert_eq!(c.rootfs.diff_ids, vec![sha256(&plain)]);
        assert_eq!(c.history[0].comment.as_deref(), Some("Imported from -"));
    }
    // Importable → savable as a docker-archive with the layer uncompressed.
    let mut saved = Vec::new();
    save_docker_archive(&store, std::slice::from_ref(&img), &mut saved).unwrap();
    let t2 = tempfile::tempdir().unwrap();
    let store2 = ContentStore::open(t2.path()).unwrap();
    let back = load_docker_archive(&store2, &saved[..]).unwrap();
    assert_eq!(back[0].config, img.config);
}

#[test]
fn import_rootfs_refuses_bad_input() {
    let t = tempfile::tempdir().unwrap();
    let store = ContentStore::open(t.path()).unwrap();
    let plain = rootfs_tar();
    let e = import_rootfs(&store, &plain[..], &["RUN rm -rf /".into()], None, None).unwrap_err();
    assert_eq!(e.to_string(), "RUN is not a valid change command");
    let e = import_rootfs(
        &store,
        &plain[..],
        &[r#"CMD ["sh", "-c""#.into()],
        None,
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("not a JSON array"), "{e}");
    let e = import_rootfs(
        &store,
        &plain[..],
        &[r#"VOLUME ["/a", 3]"#.into()],
        None,
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("VOLUME"), "{e}");
    assert!(
        store.list().unwrap().is_empty(),
        "bad changes store nothing"
    );
    let e = import_rootfs(
        &store,
        &b"this is not a tar archive, just some text ......"[..],
        &[],
        None,
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("not a tar archive"), "{e}");
    // Truncated gzip.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let e = import_rootfs(&store, &gz[..gz.len() / 2], &[], None, None).unwrap_err();
    assert!(e.to_string().contains("rootfs tarball"), "{e}");
    assert!(store.list().unwrap().is_empty());
    assert_eq!(
        std::fs::read_dir(t.path().join("ingest")).unwrap().count(),
        0
    );
}

#[test]
fn export_rootfs_keeps_every_kind_of_entry() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("rootfs");
    std::fs::create_dir_all(root.join("etc/deep")).unwrap();
    std::fs::write(root.join("etc/file"), b"hello").unwrap();
    std::fs::hard_link(root.join("etc/file"), root.join("etc/deep/link")).unwrap();
    symlink("/etc/passwd", root.join("abs-link")).unwrap();
    symlink("../../nowhere", root.join("etc/dangling")).unwrap();
    if rustix::process::geteuid().is_root() {
        rustix::fs::chown(
            root.join("etc/file"),
            Some(rustix::fs::Uid::from_raw(1234)),
            Some(rustix::fs::Gid::from_raw(5678)),
        )
        .unwrap();
    }
    let long = "x".repeat(150);
    std::fs::write(root.join("etc/deep").join(&long), b"long").unwrap();
    std::fs::set_permissions(
        root.join("etc/file"),
        std::fs::Permissions::from_mode(0o4751),
    )
    .unwrap();
    rustix::fs::utimensat(
        rustix::fs::CWD,
        root.join("etc/file"),
        &rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: 1_000_000,
                tv_nsec: 0,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: 1_000_000,
                tv_nsec: 0,
            },
        },
        rustix::fs::AtFlags::empty(),
    )
    .unwrap();
    let root_user = rustix::process::geteuid().is_root();
    if root_user {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("null"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o666),
            rustix::fs::makedev(1, 3),
        )
        .unwrap();
    }
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let xattr_ok = rustix::fs::lsetxattr(
        root.join("etc/file"),
        "user.berth",
        b"value",
        rustix::fs::XattrFlags::empty(),
    )
    .is_ok();
    let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();

    let mut out = Vec::new();
    let summary = export_rootfs(&root, &mut out).unwrap();
    assert_eq!(
        summary.skipped_sockets,
        vec![std::path::PathBuf::from("sock")]
    );

    let mut a = tar::Archive::new(&out[..]);
    let mut seen = std::collections::BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        let h = e.header().clone();
        let link = e
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned());
        let mut x = Vec::new();
        if let Some(ext) = e.pax_extensions().unwrap() {
            for r in ext {
                let r = r.unwrap();
                x.push((r.key().unwrap().to_string(), r.value_bytes().to_vec()));
            }
        }
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        seen.insert(p, (h, link, data, x));
    }
    let names: Vec<&str> = seen.keys().map(String::as_str).collect();
    let mut want = vec![
        "abs-link",
        "etc",
        "etc/dangling",
        "etc/deep",
        "etc/file",
        "fifo",
    ];
    let long_path = format!("etc/deep/{long}");
    want.push(&long_path);
    want.push("etc/deep/link");
    if root_user {
        want.push("null");
    }
    want.sort();
    assert_eq!(names, want);
    // etc/deep/link is walked first, so it carries the data; etc/file links to it.
    let (h, _, data, x) = &seen["etc/deep/link"];
    assert_eq!(data, b"hello");
    assert_eq!(h.mode().unwrap(), 0o4751);
    assert_eq!(h.mtime().unwrap(), 1_000_000);
    if root_user {
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (1234, 5678));
    }
    if xattr_ok {
        assert!(
            x.contains(&("SCHILY.xattr.user.berth".to_string(), b"value".to_vec())),
            "{x:?}"
        );
    }
    assert_eq!(h.entry_type(), tar::EntryType::Regular);
    let (h, link, _, _) = &seen["etc/file"];
    assert_eq!(
        h.entry_type(),
        tar::EntryType::Link,
        "etc/file follows etc/deep/link in order"
    );
    assert_eq!(link.as_deref(), Some("etc/deep/link"));
    let (h, link, _, _) = &seen["abs-link"];
    assert_eq!(h.entry_type(), tar::EntryType::Symlink);
    assert_eq!(
        link.as_deref(),
        Some("/etc/passwd"),
        "symlinks are not followed"
    );
    assert_eq!(seen["fifo"].0.entry_type(), tar::EntryType::Fifo);
    assert_eq!(seen[&long_path].2, b"long");
    if root_user {
        let h = &seen["null"].0;
        assert_eq!(h.entry_type(), tar::EntryType::Char);
        assert_eq!(
            (h.device_major().unwrap(), h.device_minor().unwrap()),
            (Some(1), Some(3))
        );
    }
}

/// Remembers sizes in memory, for the tests.
#[derive(Default)]
struct Sizes(std::sync::Mutex<std::collections::BTreeMap<Digest, u64>>);

impl berth_image::archive::LayerSizes for Sizes {
    fn get(&self, d: &Digest) -> Option<u64> {
        self.0.lock().unwrap().get(d).copied()
    }
    fn put(&self, d: &Digest, size: u64) {
        self.0.lock().unwrap().insert(d.clone(), size);
    }
    fn forget(&self, d: &Digest) {
        self.0.lock().unwrap().remove(d);
    }
}

#[test]
fn remembered_layer_sizes_give_the_same_archive_and_are_checked() {
    use berth_image::archive::{save_docker_archive_with, LayerSizes};
    let t = tempfile::tempdir().unwrap();
    let store = ContentStore::open(t.path()).unwrap();
    let plain = layer(&[("a", b"alpha"), ("b", &[7u8; 3000])]);
    let img = gzip_image(&store, &plain);
    let diff_id = sha256(&plain);
    let mut reference = Vec::new();
    save_docker_archive(&store, std::slice::from_ref(&img), &mut reference).unwrap();

    // The first save learns the size of the (gzip) layer, the next one uses it.
    let sizes = Sizes::default();
    let mut first = Vec::new();
    save_docker_archive_with(&store, std::slice::from_ref(&img), &mut first, &sizes).unwrap();
    assert_eq!(sizes.get(&diff_id), Some(plain.len() as u64));
    let mut second = Vec::new();
    save_docker_archive_with(&store, std::slice::from_ref(&img), &mut second, &sizes).unwrap();
    assert_eq!(first, reference);
    assert_eq!(second, reference);

    // A wrong size is caught as the layer streams, and forgotten.
    sizes.put(&diff_id, plain.len() as u64 - 512);
    let e = save_docker_archive_with(&store, std::slice::from_ref(&img), Vec::new(), &sizes)
        .unwrap_err();
    assert!(matches!(e, ArchiveError::DiffIdMismatch { .. }), "{e}");
    assert!(e.to_string().contains(&img.config.to_string()), "{e}");
    assert_eq!(sizes.get(&diff_id), None);
    let mut healed = Vec::new();
    save_docker_archive_with(&store, std::slice::from_ref(&img), &mut healed, &sizes).unwrap();
    assert_eq!(healed, reference);
}

/// A one-layer image whose layer is stored gzip-compressed (as pulled images are).
fn gzip_image(store: &ContentStore, plain: &[u8]) -> berth_image::archive::ArchiveImage {
    use berth_image::model::Descriptor;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(plain).unwrap();
    let gz = gz.finish().unwrap();
    let layer = store.put(&gz, None).unwrap();
    let cfg = config(&[sha256(plain)]);
    let config_digest = store.put(&cfg, None).unwrap();
    let desc = |mt: &str, digest: Digest, size: usize| Descriptor {
        media_type: mt.into(),
        digest,
        size: size as u64,
        urls: None,
        annotations: None,
        platform: None,
    };
    let m = Manifest {
        schema_version: 2,
        media_type: Some(media::DOCKER_MANIFEST.into()),
        config: desc(media::DOCKER_CONFIG, config_digest.clone(), cfg.len()),
        layers: vec![desc(media::DOCKER_LAYER_GZIP, layer, gz.len())],
        annotations: None,
    };
    let mb = serde_json::to_vec(&m).unwrap();
    let md = store.put(&mb, None).unwrap();
    berth_image::archive::ArchiveImage {
        names: Vec::new(),
        manifest: desc(media::DOCKER_MANIFEST, md, mb.len()),
        config: config_digest,
    }
}

/// A tar entry that is a symlink (or, with `hard`, a hard link) to `target`.
fn link_entry(b: &mut tar::Builder<Vec<u8>>, name: &str, target: &str, hard: bool) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(if hard {
        tar::EntryType::Link
    } else {
        tar::EntryType::Symlink
    });
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, name, target).unwrap();
}

/// dockerd writes a layer two images share once, and a symlink to it for the other
/// image; the link may come first in the archive (tar order follows dockerd's maps).
#[test]
fn shared_layers_as_links_load_in_any_order() {
    let c = classic();
    let cfg2 = config(&[sha256(&c.l1)]);
    let (h1, h2) = (
        sha256(&c.cfg).hex().to_string(),
        sha256(&cfg2).hex().to_string(),
    );
    let mj = format!(
        r#"[{{"Config":"{h1}.json","RepoTags":["a:1"],"Layers":["aaa/layer.tar","bbb/layer.tar"]}},
            {{"Config":"{h2}.json","RepoTags":["b:1"],"Layers":["ccc/layer.tar"]}}]"#
    );
    let mut b = tar::Builder::new(Vec::new());
    let file = |b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    // ccc's layer is a link to ddd's (a link to a link), which names aaa's: both
    // before the file itself.
    link_entry(&mut b, "ccc/layer.tar", "../ddd/layer.tar", false);
    link_entry(&mut b, "ddd/layer.tar", "aaa/layer.tar", true);
    file(&mut b, "manifest.json", mj.as_bytes());
    file(&mut b, &format!("{h1}.json"), &c.cfg);
    file(&mut b, &format!("{h2}.json"), &cfg2);
    file(&mut b, "bbb/layer.tar", &c.l2);
    file(&mut b, "aaa/layer.tar", &c.l1);
    let archive = b.into_inner().unwrap();

    let t = tempfile::tempdir().unwrap();
    let store = ContentStore::open(t.path()).unwrap();
    let imgs = load_docker_archive(&store, &archive[..]).unwrap();
    assert_eq!(imgs.len(), 2);
    assert_eq!(imgs[1].config, sha256(&cfg2));
    let m: Manifest =
        serde_json::from_slice(&store.read(&imgs[1].manifest.digest).unwrap()).unwrap();
    assert_eq!(m.layers[0].digest, sha256(&c.l1));

    // A link to nothing is refused, naming both ends.
    let mut b = tar::Builder::new(Vec::new());
    link_entry(&mut b, "ccc/layer.tar", "../zzz/layer.tar", false);
    file(&mut b, "manifest.json", mj.as_bytes());
    let e = load_docker_archive(&store, &b.into_inner().unwrap()[..]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "archive entry \"ccc/layer.tar\" links to \"zzz/layer.tar\", which is not a file in the archive"
    );
}
