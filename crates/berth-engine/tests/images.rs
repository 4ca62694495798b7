//! The image service against a real data root: import of a static-busybox rootfs,
//! resolution, unpack into overlay snapshots (twice, and from two threads at once),
//! listing with filters, inspect, history, tag, remove with dockerd's conflict rules,
//! load of a `docker save` archive, save (name resolution, leases) and prune. The tests
//! that unpack need root (entries are chowned to their owners, overlay whiteouts are
//! trusted.* xattrs and 0:0 device nodes) and are `#[ignore]`d: run them with
//! `--include-ignored`. Tests that need busybox skip with a note without it.

use std::collections::BTreeMap;
use std::io::Write;

use berth_api_types::Filters;
use berth_engine::api::ImportOptions;
use berth_engine::images::{ImageService, ImageUser};
use berth_image::archive::{save_docker_archive, ArchiveImage};
use berth_image::model::{media, Descriptor, History, ImageConfig, RootFs, RunConfig};
use berth_image::snapshot::{Kind, MountGuard};
use berth_types::{Digest, Reference};

const BUSYBOX: &str = "/bin/busybox";

fn busybox() -> Option<Vec<u8>> {
    match std::fs::read(BUSYBOX) {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("skipping: {BUSYBOX} unavailable ({e}); scripts/install-deps.sh installs busybox-static");
            None
        }
    }
}

/// A tar of `entries`: (path, Some(content)) files, (path, None) directories, and
/// symlinks as (path, "->target").
fn tar_of(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match content {
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, path, &[][..]).unwrap();
            }
            Some(c) if c.starts_with(b"->") => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                let target = std::str::from_utf8(&c[2..]).unwrap();
                b.append_link(&mut h, path, target).unwrap();
            }
            Some(c) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o755);
                h.set_size(c.len() as u64);
                b.append_data(&mut h, path, *c).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn rootfs(bb: &[u8]) -> Vec<u8> {
    tar_of(&[
        ("bin", None),
        ("bin/busybox", Some(bb)),
        ("bin/sh", Some(b"->busybox")),
        ("etc", None),
        ("etc/motd", Some(b"hello from berth\n")),
    ])
}

fn import(svc: &ImageService, data: &[u8], repo: Option<&str>, changes: &[&str]) -> String {
    svc.import(
        &mut &data[..],
        ImportOptions {
            repo: repo.map(String::from),
            changes: changes.iter().map(|s| s.to_string()).collect(),
            message: Some("imported for a test".into()),
            ..ImportOptions::default()
        },
    )
    .unwrap()
}

fn filters(pairs: &[(&str, &str)]) -> Filters {
    let mut f = Filters::new();
    for (k, v) in pairs {
        f.add(k, *v);
    }
    f
}

fn listed_tags(svc: &ImageService, f: &[(&str, &str)]) -> Vec<Vec<String>> {
    svc.list(false, filters(f), false)
        .unwrap()
        .into_iter()
        .map(|s| s.repo_tags)
        .collect()
}

#[test]
fn import_resolve_inspect_history() {
    let Some(bb) = busybox() else { return };
    let dir = tempfile::tempdir().unwrap();
    let svc = ImageService::open(dir.path()).unwrap();
    let id = import(
        &svc,
        &rootfs(&bb),
        Some("busybox"),
        &[r#"CMD ["sh"]"#, "ENV A=B"],
    );
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(svc.count().unwrap(), 1);

    let r = svc.resolve("busybox").unwrap();
    assert_eq!(
        (r.id.as_str(), r.name.as_str()),
        (id.as_str(), "busybox:latest")
    );
    let run = r.config.config.as_ref().unwrap();
    assert_eq!(run.cmd, Some(vec!["sh".to_string()]));
    let hex = &id[7..];
    for q in [id.as_str(), hex, &hex[..1], &hex[..12], &id[..12]] {
        let r = svc.resolve(q).unwrap();
        assert_eq!(
            (r.id.as_str(), r.name.as_str()),
            (id.as_str(), id.as_str()),
            "{q}"
        );
    }
    assert_eq!(
        svc.resolve("docker.io/library/busybox:latest")
            .unwrap()
            .name,
        "busybox:latest"
    );
    let e = svc.resolve("busybox:1.36").unwrap_err();
    assert_eq!(
        (e.status(), e.to_string().as_str()),
        (404, "No such image: busybox:1.36")
    );
    let e = svc.resolve("nothere").unwrap_err();
    assert_eq!(e.to_string(), "No such image: nothere:latest");
    assert_eq!(svc.resolve("Upper").unwrap_err().status(), 400);

    let i = svc.inspect("busybox").unwrap();
    assert_eq!(i.id, id);
    assert_eq!(i.repo_tags, ["busybox:latest"]);
    assert!(i.repo_digests.is_empty());
    assert_eq!(i.os, "linux");
    assert_eq!(
        i.architecture,
        berth_image::model::host_platform().architecture
    );
    let cfg = i.config.as_ref().unwrap();
    assert_eq!(cfg.cmd, Some(vec!["sh".to_string()]));
    assert_eq!(cfg.env, ["A=B"]);
    assert_eq!(i.root_fs.kind, "layers");
    assert_eq!(i.root_fs.layers.len(), 1);
    assert_eq!(i.root_fs.layers[0], r.config.rootfs.diff_ids[0].to_string());
    // The layer's content: busybox, the motd, no tar overhead.
    let content = (bb.len() + "hello from berth\n".len()) as i64;
    assert_eq!((i.size, i.virtual_size), (content, content));
    assert_eq!(i.graph_driver.name, "overlay2");
    assert!(i.graph_driver.data.is_empty(), "not unpacked yet");
    assert_eq!(i.comment, "imported for a test");
    assert!(
        berth_engine::timefmt::parse_rfc3339_secs(&i.created).is_some(),
        "{}",
        i.created
    );
    assert!(!i.metadata.last_tag_time.is_empty());
    let j = serde_json::to_value(&i).unwrap();
    assert_eq!(j["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(j["GraphDriver"]["Name"], "overlay2");

    let h = svc.history(&id[..10]).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].id, id);
    assert_eq!(h[0].tags, ["busybox:latest"]);
    assert_eq!(h[0].size, content);
    assert_eq!(h[0].comment, "imported for a test");
    assert!(h[0].created > 1_600_000_000);
    assert_eq!(svc.layers_size().unwrap(), content);

    let e = svc.inspect("busybox:nope").unwrap_err();
    assert_eq!(e.to_string(), "No such image: busybox:nope");
}

#[test]
fn imports_compressed_tarballs_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let svc = ImageService::open(dir.path()).unwrap();
    let tar = tar_of(&[("etc", None), ("etc/motd", Some(b"hi\n"))]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    let a = import(&svc, &gz, Some("gz:1"), &[]);
    let b = import(&svc, &zst, Some("zst"), &[r#"LABEL x=y"#]);
    // Same content however compressed: the same diff id.
    let da = svc.inspect(&a).unwrap().root_fs.layers;
    let db = svc.inspect(&b).unwrap().root_fs.layers;
    assert_eq!(da, db);
    assert_eq!(svc.resolve("gz:1").unwrap().id, a);
    assert_eq!(svc.resolve("zst:latest").unwrap().id, b);
    // Without a repository the image has no name.
    let c = import(&svc, &tar, None, &["LABEL untagged=1"]);
    assert!(svc.inspect(&c).unwrap().repo_tags.is_empty());

    let imp = |data: &[u8], repo: Option<&str>, changes: &[&str]| {
        svc.import(
            &mut &data[..],
            ImportOptions {
                repo: repo.map(String::from),
                changes: changes.iter().map(|s| s.to_string()).collect(),
                ..ImportOptions::default()
            },
        )
        .unwrap_err()
    };
    let e = imp(
        b"this is not a tarball, not at all, and it is long enough to fill a block",
        None,
        &[],
    );
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("not a tar archive"), "{e}");
    let e = imp(&tar, None, &["FROB x"]);
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("FROB"), "{e}");
    let e = imp(&tar, Some("Not/Valid"), &[]);
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("Not/Valid"), "{e}");
    assert_eq!(svc.count().unwrap(), 3);
}

/// A two-layer image written straight into the store: layer 2 whites out a file of
/// layer 1. Returns its id.
fn two_layer_image(svc: &ImageService, name: &str, corrupt_diff_id: bool) -> Digest {
    let store = svc.store();
    let cs = store.content();
    let l1 = tar_of(&[("a", None), ("a/gone", Some(b"1")), ("a/kept", Some(b"22"))]);
    let l2 = tar_of(&[
        ("a", None),
        ("a/.wh.gone", Some(b"")),
        ("b", None),
        ("b/new", Some(b"333")),
    ]);
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for l in [&l1, &l2] {
        let d = cs.put(l, None).unwrap();
        diff_ids.push(d.clone());
        layers.push(Descriptor {
            media_type: media::DOCKER_LAYER.into(),
            digest: d,
            size: l.len() as u64,
            urls: None,
            annotations: None,
            platform: None,
        });
    }
    if corrupt_diff_id {
        diff_ids[1] = berth_image::content::sha256(b"something else");
    }
    let host = berth_image::model::host_platform();
    let cfg = ImageConfig {
        created: Some("2024-01-02T03:04:05.5Z".into()),
        author: Some("berth tests".into()),
        architecture: host.architecture,
        os: "linux".into(),
        variant: host.variant,
        config: Some(RunConfig {
            cmd: Some(vec!["/b/new".into()]),
            labels: Some(BTreeMap::from([("layers".to_string(), "two".to_string())])),
            ..RunConfig::default()
        }),
        rootfs: RootFs {
            typ: "layers".into(),
            diff_ids,
        },
        history: vec![
            History {
                created_by: Some("ADD one".into()),
                ..History::default()
            },
            History {
                created_by: Some("ENV x=y".into()),
                empty_layer: true,
                ..History::default()
            },
            History {
                created_by: Some("ADD two".into()),
                comment: Some("top".into()),
                ..History::default()
            },
        ],
        other: BTreeMap::new(),
    };
    let bytes = serde_json::to_vec(&cfg).unwrap();
    let config = cs.put(&bytes, None).unwrap();
    let manifest = store
        .write_manifest(
            Descriptor {
                media_type: media::DOCKER_CONFIG.into(),
                digest: config.clone(),
                size: bytes.len() as u64,
                urls: None,
                annotations: None,
                platform: None,
            },
            layers,
        )
        .unwrap();
    store
        .put(&Reference::parse(name).unwrap(), &manifest)
        .unwrap();
    config
}

fn committed(svc: &ImageService) -> Vec<String> {
    svc.snapshotter()
        .list()
        .unwrap()
        .into_iter()
        .filter(|i| i.kind == Kind::Committed)
        .map(|i| i.key)
        .collect()
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn unpack_is_idempotent_concurrent_and_honours_whiteouts() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let svc = ImageService::open(dir.path()).unwrap();
    let id = two_layer_image(&svc, "layered:2", false);
    let img = svc.resolve("layered:2").unwrap();
    assert_eq!(img.id, id.to_string());

    let (a, b) = std::thread::scope(|s| {
        let t1 = s.spawn(|| svc.unpack(&img).unwrap());
        let t2 = s.spawn(|| svc.unpack(&img).unwrap());
        (t1.join().unwrap(), t2.join().unwrap())
    });
    let top = a.clone().expect("two layers");
    assert_eq!(a, b);
    let chain = berth_image::gc::chain_ids(&img.config.rootfs.diff_ids);
    assert_eq!(top, chain[1].to_string());
    let mut want: Vec<String> = chain.iter().map(Digest::to_string).collect();
    want.sort();
    assert_eq!(committed(&svc), want);
    // No temporary snapshot is left behind.
    assert_eq!(svc.snapshotter().list().unwrap().len(), 2);
    assert_eq!(svc.unpack(&img).unwrap(), Some(top.clone()));
    assert_eq!(svc.snapshotter().list().unwrap().len(), 2);

    // Each layer holds its own files; the whiteout is an overlay whiteout.
    let sn = svc.snapshotter();
    let lower = sn.apply_target(&chain[0].to_string()).unwrap().dir;
    let upper = sn.apply_target(&top).unwrap().dir;
    assert_eq!(std::fs::read(lower.join("a/gone")).unwrap(), b"1");
    assert_eq!(std::fs::read(upper.join("b/new")).unwrap(), b"333");
    assert!(std::fs::symlink_metadata(upper.join("a/gone"))
        .unwrap()
        .file_type()
        .is_char_device());

    // Mounted, the image is what its layers say.
    let view = format!("view-{}", std::process::id());
    let mounts = sn.view(&view, Some(&top)).unwrap();
    let mnt = tempfile::tempdir().unwrap();
    {
        let _g = MountGuard::mount(&mounts, mnt.path()).unwrap();
        assert!(!mnt.path().join("a/gone").exists());
        assert_eq!(std::fs::read(mnt.path().join("a/kept")).unwrap(), b"22");
        assert_eq!(std::fs::read(mnt.path().join("b/new")).unwrap(), b"333");
    }
    sn.remove(&view).unwrap();

    // Inspect shows the unpacked layers; history has a row per config entry.
    let i = svc.inspect("layered:2").unwrap();
    assert_eq!(i.graph_driver.data["UpperDir"], upper.to_string_lossy());
    assert_eq!(i.graph_driver.data["LowerDir"], lower.to_string_lossy());
    assert_eq!(i.created, "2024-01-02T03:04:05.5Z");
    assert_eq!(i.author, "berth tests");
    assert_eq!(i.size, 6);
    let h = svc.history("layered:2").unwrap();
    let rows: Vec<(&str, &str, i64)> = h
        .iter()
        .map(|x| (x.id.as_str(), x.created_by.as_str(), x.size))
        .collect();
    let idstr = id.to_string();
    assert_eq!(
        rows,
        [
            (idstr.as_str(), "ADD two", 3),
            ("<missing>", "ENV x=y", 0),
            ("<missing>", "ADD one", 3)
        ]
    );
    assert_eq!(h[0].tags, ["layered:2"]);
    assert!(h[1].tags.is_empty());

    // A second service on the same root (another daemon run) finds the layers.
    drop(svc);
    let again = ImageService::open(dir.path()).unwrap();
    assert_eq!(again.unpack(&img).unwrap(), Some(top));
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn a_failed_unpack_leaves_no_layer_behind() {
    let dir = tempfile::tempdir().unwrap();
    let svc = ImageService::open(dir.path()).unwrap();
    two_layer_image(&svc, "broken", true);
    let img = svc.resolve("broken").unwrap();
    let e = svc.unpack(&img).unwrap_err();
    assert_eq!(e.status(), 500);
    let msg = e.to_string();
    assert!(
        msg.contains("unpacking layer 2") && msg.contains(&img.id),
        "{msg}"
    );
    assert!(msg.contains("diff_id"), "{msg}");
    // The good bottom layer stays committed; nothing else exists.
    let infos = svc.snapshotter().list().unwrap();
    assert_eq!(infos.len(), 1, "{infos:?}");
    assert_eq!(infos[0].kind, Kind::Committed);
    assert_eq!(infos[0].key, img.config.rootfs.diff_ids[0].to_string());
}

#[test]
fn list_filters() {
    let dir = tempfile::tempdir().unwrap();
    let svc = ImageService::open(dir.path()).unwrap();
    let t = tar_of(&[("etc", None), ("etc/motd", Some(b"hi\n"))]);
    let a = import(&svc, &t, Some("busybox"), &["LABEL a=1"]);
    let b = import(&svc, &t, Some("other/app:1.0"), &["LABEL b=2"]);
    let c = import(&svc, &t, None, &["LABEL c=3"]);
    let two = two_layer_image(&svc, "busybox:1.36", false).to_string();

    let all = svc.list(false, Filters::new(), false).unwrap();
    assert_eq!(all.len(), 4);
    // Newest first: the two-layer image was created in 2024, the imports now.
    assert_eq!(all[3].id, two);
    assert_eq!(all[3].created, 1_704_164_645);
    let dangling = all.iter().find(|s| s.id == c).unwrap();
    assert_eq!(dangling.repo_tags, ["<none>:<none>"]);
    assert_eq!(dangling.repo_digests, ["<none>@<none>"]);
    let sa = all.iter().find(|s| s.id == a).unwrap();
    assert_eq!(
        (sa.containers, sa.shared_size, sa.parent_id.as_str()),
        (-1, -1, "")
    );
    assert_eq!(sa.size, 3);
    assert_eq!(sa.virtual_size, 3);
    assert_eq!(sa.labels["a"], "1");
    let j = serde_json::to_value(sa).unwrap();
    for k in [
        "Id",
        "ParentId",
        "RepoTags",
        "RepoDigests",
        "Created",
        "Size",
        "VirtualSize",
        "SharedSize",
        "Labels",
        "Containers",
    ] {
        assert!(j.get(k).is_some(), "{k}");
    }

    let mut got = listed_tags(&svc, &[("reference", "busy*")]);
    got.sort();
    assert_eq!(
        got,
        [
            vec!["busybox:1.36".to_string()],
            vec!["busybox:latest".to_string()]
        ]
    );
    assert_eq!(
        listed_tags(&svc, &[("reference", "busybox:1*")]),
        [["busybox:1.36"]]
    );
    assert_eq!(
        listed_tags(&svc, &[("reference", "other/*")]),
        [["other/app:1.0"]]
    );
    assert_eq!(
        listed_tags(&svc, &[("reference", "*")]).len(),
        2,
        "* stops at /"
    );
    assert_eq!(
        listed_tags(&svc, &[("dangling", "true")]),
        [["<none>:<none>"]]
    );
    assert_eq!(listed_tags(&svc, &[("dangling", "false")]).len(), 3);
    assert_eq!(listed_tags(&svc, &[("label", "a=1")]), [["busybox:latest"]]);
    assert_eq!(listed_tags(&svc, &[("label", "b")]), [["other/app:1.0"]]);
    assert_eq!(
        listed_tags(&svc, &[("label", "layers=two")]),
        [["busybox:1.36"]]
    );
    assert_eq!(
        listed_tags(&svc, &[("since", "busybox:1.36"), ("label", "b")]),
        [["other/app:1.0"]]
    );
    assert!(listed_tags(&svc, &[("before", "busybox:1.36")]).is_empty());
    // The imports are newer than the 2024 image, whichever second they were made in.
    assert_eq!(
        listed_tags(&svc, &[("before", &b), ("label", "layers=two")]),
        [["busybox:1.36"]]
    );

    let err = |f: &[(&str, &str)]| svc.list(false, filters(f), false).unwrap_err();
    let e = err(&[("bogus", "1")]);
    assert_eq!(
        (e.status(), e.to_string().as_str()),
        (400, "invalid filter 'bogus'")
    );
    assert_eq!(err(&[("dangling", "maybe")]).status(), 400);
    assert_eq!(err(&[("reference", "[")]).status(), 400);
    let e = err(&[("since", "nothere")]);
    assert_eq!(
        (e.status(), e.to_string().as_str()),
        (404, "No such image: nothere:latest")
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn tag_and_remove_follow_dockerd() {
    let dir = tempfile::tempdir().unwrap();
    let svc = ImageService::open(dir.path()).unwrap();
    let t = tar_of(&[("etc", None), ("etc/motd", Some(b"hi\n"))]);
    let id = import(&svc, &t, Some("busybox"), &[]);
    let short = &id[7..19];

    svc.tag("busybox", "myrepo", Some("v1")).unwrap();
    svc.tag(&id, "localhost:5000/x/y:2", None).unwrap();
    assert_eq!(svc.resolve("myrepo:v1").unwrap().id, id);
    assert_eq!(svc.resolve("localhost:5000/x/y:2").unwrap().id, id);
    let e = svc.tag("nothere", "a", None).unwrap_err();
    assert_eq!(
        (e.status(), e.to_string().as_str()),
        (404, "No such image: nothere:latest")
    );
    let e = svc.tag("busybox", "Bad Repo", None).unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("Bad Repo"), "{e}");

    // Several names: by id needs force.
    let e = svc.remove(&id, false, false, &[]).unwrap_err();
    assert_eq!(e.status(), 409);
    assert_eq!(
        e.to_string(),
        format!("conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories")
    );
    // By name: untag only.
    let items = svc.remove("myrepo:v1", false, false, &[]).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].untagged.as_deref(), Some("myrepo:v1"));
    assert!(svc.resolve("myrepo:v1").is_err());
    let items = svc
        .remove("localhost:5000/x/y:2", false, false, &[])
        .unwrap();
    assert_eq!(items[0].untagged.as_deref(), Some("localhost:5000/x/y:2"));

    // Unpack, and give a container a writable layer on it.
    let img = svc.resolve("busybox").unwrap();
    let top = svc.unpack(&img).unwrap().unwrap();
    let sn = svc.snapshotter();
    let ctr = format!("ctr-{}", std::process::id());
    sn.prepare(&ctr, Some(&top)).unwrap();
    let cid = "c0ffee".repeat(10) + "abcd";
    let stopped = [ImageUser {
        image_id: id.clone(),
        container_id: cid.clone(),
        running: false,
    }];
    let running = [ImageUser {
        running: true,
        ..stopped[0].clone()
    }];

    let e = svc
        .remove_image("busybox", false, false, &stopped)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("conflict: unable to remove repository reference \"busybox\" (must force) - container c0ffeec0ffee is using its referenced image {short}")
    );
    let e = svc.remove_image(&id, false, false, &stopped).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("conflict: unable to delete {short} (must be forced) - image is being used by stopped container c0ffeec0ffee")
    );
    let e = svc.remove_image(&id, true, false, &running).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("conflict: unable to delete {short} (cannot be forced) - image is being used by running container c0ffeec0ffee")
    );
    // Forced by name while a container runs it: the name goes, the image stays.
    let items = svc.remove_image("busybox", true, false, &running).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].untagged.as_deref(), Some("busybox:latest"));
    assert_eq!(svc.count().unwrap(), 1);
    assert_eq!(
        svc.list(false, filters(&[("dangling", "true")]), false)
            .unwrap()[0]
            .id,
        id
    );

    // Forced by id with a stopped container: the image goes, the layer under the
    // container stays.
    let items = svc.remove_image(&id, true, false, &stopped).unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].deleted.as_deref(), Some(id.as_str()));
    assert_eq!(svc.count().unwrap(), 0);
    assert_eq!(sn.stat(&top).unwrap().kind, Kind::Committed);

    // Once the container is gone, removing another image collects the layer too.
    sn.remove(&ctr).unwrap();
    let id2 = import(&svc, &t, Some("again"), &["LABEL n=2"]);
    let items = svc.remove("again", false, false, &[]).unwrap();
    let words: Vec<(Option<&str>, Option<&str>)> = items
        .iter()
        .map(|i| (i.untagged.as_deref(), i.deleted.as_deref()))
        .collect();
    assert_eq!(words[0], (Some("again:latest"), None));
    assert_eq!(words[1], (None, Some(id2.as_str())));
    // The old image's layer is the same content as this one's: both layer keys match.
    assert!(
        words[2..].contains(&(None, Some(top.as_str()))),
        "{words:?}"
    );
    assert!(sn.list().unwrap().is_empty());
    assert!(
        svc.store().content().list().unwrap().is_empty(),
        "blobs left behind"
    );
    let e = svc.remove("again", false, false, &[]).unwrap_err();
    assert_eq!(
        (e.status(), e.to_string().as_str()),
        (404, "No such image: again:latest")
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn load_reads_what_save_writes() {
    let dir = tempfile::tempdir().unwrap();
    let src = ImageService::open(&dir.path().join("src")).unwrap();
    let t = tar_of(&[("etc", None), ("etc/motd", Some(b"hi\n"))]);
    let id = import(&src, &t, Some("busybox"), &[r#"CMD ["sh"]"#]);
    let loose = import(&src, &t, None, &["LABEL loose=1"]);
    let archive_of = |id: &str, names: Vec<Reference>| {
        let rec = src.store().get(id).unwrap();
        let mut out = Vec::new();
        save_docker_archive(
            src.store().content(),
            &[ArchiveImage {
                names,
                manifest: rec.manifest,
                config: rec.id,
            }],
            &mut out,
        )
        .unwrap();
        out
    };
    let named = archive_of(&id, vec![Reference::parse("busybox").unwrap()]);
    let unnamed = archive_of(&loose, Vec::new());

    let dst = ImageService::open(&dir.path().join("dst")).unwrap();
    assert_eq!(
        dst.load(&mut &named[..]).unwrap(),
        ["Loaded image: busybox:latest"]
    );
    let r = dst.resolve("busybox").unwrap();
    assert_eq!(r.id, id);
    assert_eq!(r.config.config.unwrap().cmd, Some(vec!["sh".to_string()]));
    assert!(dst
        .unpack(&dst.resolve("busybox").unwrap())
        .unwrap()
        .is_some());
    assert_eq!(
        dst.load(&mut &unnamed[..]).unwrap(),
        [format!("Loaded image ID: {loose}")]
    );
    // Loading the name onto another image says what it displaced.
    let other = import(&dst, &t, None, &["LABEL other=1"]);
    let mut renamed = Vec::new();
    {
        let rec = dst.store().get(&other).unwrap();
        save_docker_archive(
            dst.store().content(),
            &[ArchiveImage {
                names: vec![Reference::parse("busybox").unwrap()],
                manifest: rec.manifest,
                config: rec.id,
            }],
            &mut renamed,
        )
        .unwrap();
    }
    assert_eq!(
        dst.load(&mut &renamed[..]).unwrap(),
        [
            format!("The image busybox:latest already exists, renaming the old one with ID {id} to empty string"),
            "Loaded image: busybox:latest".to_string()
        ]
    );
    let e = dst.load(&mut &b"garbage"[..]).unwrap_err();
    assert_eq!(e.status(), 400, "{e}");
    let e = dst
        .load(&mut &tar_of(&[("x", Some(b"y"))])[..])
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("manifest.json"), "{e}");
}

#[test]
fn abandoned_unpacks_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let svc = ImageService::open(dir.path()).unwrap();
        // A pid that cannot be running: above the kernel's maximum.
        svc.snapshotter()
            .prepare("berth-unpack/99999999/0/abc", None)
            .unwrap();
        svc.snapshotter()
            .prepare(&format!("berth-unpack/{}/0/abc", std::process::id()), None)
            .unwrap();
    }
    let svc = ImageService::open(dir.path()).unwrap();
    let keys: Vec<String> = svc
        .snapshotter()
        .list()
        .unwrap()
        .into_iter()
        .map(|i| i.key)
        .collect();
    assert_eq!(keys, [format!("berth-unpack/{}/0/abc", std::process::id())]);
}

/// (id, sorted tags) of every image, sorted: what a user sees of a store.
fn inventory(svc: &ImageService) -> Vec<(String, Vec<String>)> {
    let mut v: Vec<(String, Vec<String>)> = svc
        .list(false, Filters::new(), false)
        .unwrap()
        .into_iter()
        .map(|s| {
            let mut tags = s.repo_tags;
            tags.sort();
            (s.id, tags)
        })
        .collect();
    v.sort();
    v
}

fn saved(svc: &ImageService, names: &[&str]) -> Vec<(String, Vec<String>)> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    svc.save(&names)
        .unwrap()
        .images()
        .iter()
        .map(|i| {
            let mut tags: Vec<String> = i.names.iter().map(Reference::familiar).collect();
            tags.sort();
            (i.config.to_string(), tags)
        })
        .collect()
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn save_resolves_names_as_dockerd_does_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let svc = ImageService::open(&dir.path().join("a")).unwrap();
    let a = import(&svc, &tar_of(&[("a", Some(b"a\n"))]), Some("busybox"), &[]);
    svc.tag(&a, "busybox", Some("1")).unwrap();
    svc.tag(&a, "other", Some("x")).unwrap();
    let b = import(
        &svc,
        &tar_of(&[("b", Some(b"b\n"))]),
        Some("busybox:2"),
        &[],
    );
    let c = import(&svc, &tar_of(&[("c", Some(b"c\n"))]), None, &[]);
    let two = two_layer_image(&svc, "localhost:5000/two:v1", false).to_string();
    let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    // A repository alone: every tag of it, one entry per image.
    let mut all = saved(&svc, &["busybox"]);
    all.sort();
    let mut want = vec![
        (a.clone(), tags(&["busybox:1", "busybox:latest"])),
        (b.clone(), tags(&["busybox:2"])),
    ];
    want.sort();
    assert_eq!(all, want);
    // Two names of one image: one entry with both; names keep their order.
    assert_eq!(
        saved(&svc, &["other:x", "busybox:1", "busybox:2"]),
        [
            (a.clone(), tags(&["busybox:1", "other:x"])),
            (b.clone(), tags(&["busybox:2"]))
        ]
    );
    // Ids (whole, bare hex, prefixes) give untagged entries.
    for q in [
        c.clone(),
        c[7..].to_string(),
        c[..19].to_string(),
        c[7..19].to_string(),
    ] {
        assert_eq!(saved(&svc, &[&q]), [(c.clone(), Vec::new())], "{q}");
    }
    assert_eq!(
        saved(&svc, &["localhost:5000/two:v1", &a]),
        [
            (two.clone(), tags(&["localhost:5000/two:v1"])),
            (a.clone(), Vec::new())
        ]
    );

    // Unknown names fail before anything is written, naming the one at fault.
    let save_err = |n: &[&str]| {
        let names: Vec<String> = n.iter().map(|s| s.to_string()).collect();
        svc.save(&names).err().expect("an error")
    };
    let e = save_err(&["busybox", "nosuch:1"]);
    assert_eq!(
        (e.status(), e.to_string().as_str()),
        (404, "No such image: nosuch:1")
    );
    assert_eq!(save_err(&["nosuch"]).to_string(), "No such image: nosuch");
    assert_eq!(save_err(&["busybox:9"]).status(), 404);
    assert_eq!(save_err(&["sha256:ffff"]).status(), 404);
    let e = save_err(&["Bad Name"]);
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("Bad Name"), "{e}");
    assert_eq!(save_err(&[]).status(), 400);

    // The archive of everything loads into an empty store as the same images.
    let mut archive = Vec::new();
    svc.save(&[
        "busybox".into(),
        "other".into(),
        c.clone(),
        "localhost:5000/two".into(),
    ])
    .unwrap()
    .write_to(&mut archive)
    .unwrap();
    // Imported layers are stored uncompressed: their size is known without
    // remembering it (only compressed layers' sizes are), and the next save writes
    // the same bytes.
    let remembered =
        std::fs::read_dir(dir.path().join("a/layer-tar-sizes")).map_or(0, |d| d.count());
    assert_eq!(
        remembered, 0,
        "no size to remember for an uncompressed layer"
    );
    let mut second = Vec::new();
    svc.save(&[
        "busybox".into(),
        "other".into(),
        c.clone(),
        "localhost:5000/two".into(),
    ])
    .unwrap()
    .write_to(&mut second)
    .unwrap();
    assert!(second == archive, "the second save differs");
    let dst = ImageService::open(&dir.path().join("b")).unwrap();
    let mut lines = dst.load(&mut &archive[..]).unwrap();
    lines.sort();
    assert_eq!(
        lines,
        [
            format!("Loaded image ID: {c}"),
            "Loaded image: busybox:1".into(),
            "Loaded image: busybox:2".into(),
            "Loaded image: busybox:latest".into(),
            "Loaded image: localhost:5000/two:v1".into(),
            "Loaded image: other:x".into(),
        ]
    );
    assert_eq!(inventory(&dst), inventory(&svc));
    assert!(dst
        .unpack(&dst.resolve("localhost:5000/two:v1").unwrap())
        .unwrap()
        .is_some());
    // And saving it again gives the same bytes: archives are deterministic.
    let mut again = Vec::new();
    dst.save(&[
        "busybox".into(),
        "other".into(),
        c.clone(),
        "localhost:5000/two".into(),
    ])
    .unwrap()
    .write_to(&mut again)
    .unwrap();
    assert_eq!(again, archive);
}

#[test]
fn a_save_in_progress_keeps_its_blobs_from_removal() {
    let dir = tempfile::tempdir().unwrap();
    let svc = ImageService::open(dir.path()).unwrap();
    let id = import(
        &svc,
        &tar_of(&[("gone", Some(b"soon\n"))]),
        Some("victim"),
        &[],
    );
    let save = svc.save(&["victim".to_string()]).unwrap();
    let leases = std::fs::read_dir(dir.path().join("leases"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("save-"))
        .count();
    assert_eq!(leases, 1);
    // rmi runs garbage collection: the image goes, its content stays for the save.
    let items = svc.remove("victim", false, false, &[]).unwrap();
    assert_eq!(items[1].deleted.as_deref(), Some(id.as_str()));
    let mut archive = Vec::new();
    save.write_to(&mut archive).unwrap();
    let dst = ImageService::open(&dir.path().join("dst")).unwrap();
    assert_eq!(
        dst.load(&mut &archive[..]).unwrap(),
        ["Loaded image: victim:latest"]
    );
    assert_eq!(dst.resolve("victim").unwrap().id, id);

    // The lease went with the save: the next collection takes the content.
    let other = import(&svc, &tar_of(&[("x", Some(b"x\n"))]), Some("other"), &[]);
    svc.remove(&other, false, false, &[]).unwrap();
    assert!(
        svc.store().content().list().unwrap().is_empty(),
        "blobs left behind"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path().join("leases"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("save-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn prune_takes_what_dockerd_takes() {
    let dir = tempfile::tempdir().unwrap();
    let svc = ImageService::open(dir.path()).unwrap();
    // The same tag imported twice: the first image is left dangling.
    let first = import(&svc, &tar_of(&[("v", Some(b"one\n"))]), Some("app:1"), &[]);
    let second = import(&svc, &tar_of(&[("v", Some(b"two!\n"))]), Some("app:1"), &[]);
    let keep = import(
        &svc,
        &tar_of(&[("k", Some(b"keep\n"))]),
        Some("keep"),
        &["LABEL keep=yes"],
    );
    let used = import(&svc, &tar_of(&[("u", Some(b"used\n"))]), None, &[]);
    let old = two_layer_image(&svc, "old:2024", false).to_string();
    let users = [ImageUser {
        image_id: used.clone(),
        container_id: "c".repeat(64),
        running: false,
    }];
    let ids = |svc: &ImageService| {
        let mut v: Vec<String> = inventory(svc).into_iter().map(|(i, _)| i).collect();
        v.sort();
        v
    };

    // Default: dangling only, and not the one a container uses.
    let r = svc.prune(&Filters::new(), &users).unwrap();
    assert_eq!(r.deleted.len(), 1, "{:?}", r.deleted);
    assert_eq!(r.deleted[0].deleted.as_deref(), Some(first.as_str()));
    assert_eq!(r.space_reclaimed, 4, "the layer's content: \"one\\n\"");
    let mut want = vec![second.clone(), keep.clone(), used.clone(), old.clone()];
    want.sort();
    assert_eq!(ids(&svc), want);
    // Nothing dangling left: nothing to do.
    assert_eq!(
        svc.prune(&filters(&[("dangling", "true")]), &users)
            .unwrap(),
        Default::default()
    );

    // until: only images created before it (the 2024 one).
    let r = svc
        .prune(
            &filters(&[("dangling", "false"), ("until", "2025-01-01T00:00:00Z")]),
            &users,
        )
        .unwrap();
    let words: Vec<(Option<&str>, Option<&str>)> = r
        .deleted
        .iter()
        .map(|i| (i.untagged.as_deref(), i.deleted.as_deref()))
        .collect();
    assert_eq!(words[0], (Some("old:2024"), None));
    assert_eq!(words[1], (None, Some(old.as_str())));
    assert_eq!(r.space_reclaimed, 1 + 2 + 3, "both layers' content");

    // label! keeps the labelled; dangling=false takes the rest, tagged or not, but
    // never an image a container uses.
    let r = svc
        .prune(
            &filters(&[("dangling", "false"), ("label!", "keep=yes")]),
            &users,
        )
        .unwrap();
    assert_eq!(r.deleted.len(), 2, "{:?}", r.deleted);
    assert_eq!(r.deleted[0].untagged.as_deref(), Some("app:1"));
    assert_eq!(r.deleted[1].deleted.as_deref(), Some(second.as_str()));
    assert_eq!(r.space_reclaimed, 5);
    let mut want = vec![keep.clone(), used.clone()];
    want.sort();
    assert_eq!(ids(&svc), want);
    // label= selects.
    let r = svc
        .prune(&filters(&[("dangling", "0"), ("label", "keep")]), &[])
        .unwrap();
    assert_eq!(r.deleted[0].untagged.as_deref(), Some("keep:latest"));
    assert_eq!(ids(&svc), std::slice::from_ref(&used));

    let err = |f: &[(&str, &str)]| svc.prune(&filters(f), &users).unwrap_err();
    let e = err(&[("reference", "x")]);
    assert_eq!(
        (e.status(), e.to_string().as_str()),
        (400, "invalid filter 'reference'")
    );
    let e = err(&[("dangling", "maybe")]);
    assert_eq!(
        (e.status(), e.to_string().as_str()),
        (400, "invalid filter 'dangling=maybe'")
    );
    let e = err(&[("until", "someday")]);
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("until=someday"), "{e}");
    let e = err(&[("until", "1h"), ("until", "2h")]);
    assert_eq!(e.status(), 400);
    assert_eq!(ids(&svc), [used]);
}
