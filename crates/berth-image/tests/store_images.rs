//! The image table: naming, lookup, untagging, resolution, and persistence that
//! survives crashes and concurrent writers.

mod store_support;

use berth_image::content::ContentStore;
use berth_image::images::{ImageError, ImageStore};
use berth_image::model::media;
use berth_types::Reference;
use std::path::Path;
use store_support::{image, index, platform};

fn stores(root: &Path) -> (ContentStore, ImageStore) {
    let cs = ContentStore::open(&root.join("content")).unwrap();
    let is = ImageStore::open(&root.join("images"), cs.clone()).unwrap();
    (cs, is)
}

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

fn amd64() -> berth_image::model::Platform {
    platform("amd64")
}

#[test]
fn short_and_full_names_are_the_same_image() {
    let t = tempfile::tempdir().unwrap();
    let (cs, is) = stores(t.path());
    let img = image(&cs, "busybox", "amd64", 2);
    let tagged = is
        .put_for_platform(Some(&r("busybox")), &img.manifest, &amd64())
        .unwrap();
    assert_eq!(
        tagged.image.id, img.config.digest,
        "the id is the config digest"
    );
    assert_eq!(tagged.displaced, None);
    for q in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        "index.docker.io/library/busybox",
        "library/busybox",
    ] {
        assert_eq!(is.get(q).unwrap().id, img.config.digest, "{q}");
    }
    // Tagging the long form again adds no second name.
    let again = is
        .put_for_platform(
            Some(&r("docker.io/library/busybox:latest")),
            &img.manifest,
            &amd64(),
        )
        .unwrap();
    assert_eq!(again.image.names, vec![r("busybox")]);
    assert_eq!(is.list().unwrap().len(), 1);
    // Another tag is another name.
    assert!(matches!(is.get("busybox:1.36"), Err(ImageError::NotFound(n)) if n == "busybox:1.36"));
}

#[test]
fn lookup_by_id_prefix_and_ambiguous_prefix() {
    let t = tempfile::tempdir().unwrap();
    let (cs, is) = stores(t.path());
    // Make images until two ids share a first hex digit (at most 17 by pigeonhole).
    let mut ids = Vec::new();
    let (a, b) = loop {
        let img = image(&cs, &format!("img{}", ids.len()), "amd64", 1);
        is.put_for_platform(None, &img.manifest, &amd64()).unwrap();
        let id = img.config.digest.clone();
        if let Some(prev) = ids
            .iter()
            .find(|p: &&berth_types::Digest| p.hex()[..1] == id.hex()[..1])
        {
            break (prev.clone(), id);
        }
        ids.push(id);
    };
    let id = a.to_string();
    assert_eq!(is.get(&id).unwrap().id, a, "sha256:<id>");
    assert_eq!(is.get(a.hex()).unwrap().id, a, "bare 64-hex id");
    // The shortest prefix that tells a from b.
    let common = a
        .hex()
        .bytes()
        .zip(b.hex().bytes())
        .take_while(|(x, y)| x == y)
        .count();
    let unique = &a.hex()[..common + 1];
    assert_eq!(is.get(unique).unwrap().id, a, "{unique}");
    assert_eq!(is.get(&format!("sha256:{unique}")).unwrap().id, a);
    assert_eq!(
        is.get(a.short()).unwrap().id,
        a,
        "docker's 12-digit short id"
    );
    let shared = &a.hex()[..common];
    match is.get(shared) {
        Err(e @ ImageError::Ambiguous { .. }) => {
            assert!(e.to_string().contains(shared), "{e}");
        }
        other => panic!("{shared}: {other:?}"),
    }
    // A full id nobody has is not found (and never read as a name).
    let missing = berth_image::content::sha256(b"nothing");
    let e = is.get(&missing.to_string()).unwrap_err();
    assert!(
        matches!(e, ImageError::NotFound(_)) && e.to_string().contains(missing.hex()),
        "{e}"
    );
    // Invalid references that are not hex say so.
    assert!(matches!(
        is.get("Busybox"),
        Err(ImageError::InvalidReference(_))
    ));
}

#[test]
fn a_name_beats_an_id_prefix() {
    let t = tempfile::tempdir().unwrap();
    let (cs, is) = stores(t.path());
    let one = image(&cs, "one", "amd64", 1);
    let two = image(&cs, "two", "amd64", 1);
    is.put_for_platform(None, &one.manifest, &amd64()).unwrap();
    // Name the second image after the first one's id prefix, as Docker allows.
    let prefix = &one.config.digest.hex()[..6];
    is.put_for_platform(Some(&r(prefix)), &two.manifest, &amd64())
        .unwrap();
    assert_eq!(is.get(prefix).unwrap().id, two.config.digest);
    assert_eq!(
        is.get(&one.config.digest.hex()[..7]).unwrap().id,
        one.config.digest
    );
}

#[test]
fn moving_a_tag_leaves_the_old_image_dangling() {
    let t = tempfile::tempdir().unwrap();
    let (cs, is) = stores(t.path());
    let old = image(&cs, "old", "amd64", 1);
    let new = image(&cs, "new", "amd64", 1);
    is.put_for_platform(Some(&r("app:1")), &old.manifest, &amd64())
        .unwrap();
    let t2 = is
        .put_for_platform(Some(&r("app:1")), &new.manifest, &amd64())
        .unwrap();
    assert_eq!(t2.displaced, Some(old.config.digest.clone()));
    assert_eq!(is.get("app:1").unwrap().id, new.config.digest);
    let o = is.get(old.config.digest.hex()).unwrap();
    assert!(o.is_dangling());
}

#[test]
fn untag_semantics() {
    let t = tempfile::tempdir().unwrap();
    let (cs, is) = stores(t.path());
    let img = image(&cs, "app", "amd64", 1);
    let pinned = r("app").with_digest(img.manifest.digest.clone());
    is.put_for_platform(Some(&r("app:1")), &img.manifest, &amd64())
        .unwrap();
    is.put_for_platform(Some(&r("app:2")), &img.manifest, &amd64())
        .unwrap();
    is.put_for_platform(Some(&pinned), &img.manifest, &amd64())
        .unwrap();
    is.tag("app:1", &r("other/name:x")).unwrap();
    let rec = is.get("app:1").unwrap();
    assert_eq!(rec.repo_tags().count(), 3);
    assert_eq!(
        rec.repo_digests().cloned().collect::<Vec<_>>(),
        vec![pinned.clone()]
    );
    // A name@tag@digest reference is stored by digest, as Docker's reference store does.
    assert_eq!(
        is.get(&format!("app:9@{}", img.manifest.digest))
            .unwrap()
            .id,
        img.config.digest
    );

    let u = is.untag(&r("app:1")).unwrap();
    assert_eq!((u.removed.clone(), u.last_name), (vec![r("app:1")], false));
    // The last tag of repository `app` takes app's digest references with it.
    let u = is.untag(&r("app:2")).unwrap();
    assert_eq!(u.removed, vec![r("app:2"), pinned.clone()]);
    assert!(!u.last_name, "other/name:x is still there");
    assert!(matches!(
        is.get(&pinned.to_string()),
        Err(ImageError::NotFound(_))
    ));
    let u = is.untag(&r("other/name:x")).unwrap();
    assert!(u.last_name);
    assert_eq!(u.id, img.config.digest);
    // Untagging leaves the record; delete removes it.
    assert!(is.get(img.config.digest.hex()).unwrap().is_dangling());
    let e = is.untag(&r("app:1")).unwrap_err();
    assert_eq!(e.to_string(), "No such image: app:1");
    is.delete(&img.config.digest).unwrap();
    assert!(is.list().unwrap().is_empty());
    let e = is.delete(&img.config.digest).unwrap_err();
    assert!(
        e.to_string().contains(&img.config.digest.to_string()),
        "{e}"
    );
}

#[test]
fn resolves_through_an_index_with_two_platforms() {
    let t = tempfile::tempdir().unwrap();
    let (cs, is) = stores(t.path());
    let amd = image(&cs, "multi", "amd64", 2);
    let arm = image(&cs, "multi", "arm64", 3);
    let idx = index(&cs, &[(&amd.manifest, "amd64"), (&arm.manifest, "arm64")]);
    let tagged = is
        .put_for_platform(Some(&r("multi")), &idx, &platform("arm64"))
        .unwrap();
    assert_eq!(tagged.image.id, arm.config.digest);
    assert_eq!(tagged.image.target, idx);
    assert_eq!(tagged.image.manifest.digest, arm.manifest.digest);

    let rec = is.get("multi").unwrap();
    let res = is.resolve_manifest(&rec, &amd64()).unwrap();
    assert_eq!(res.manifest_descriptor.digest, amd.manifest.digest);
    assert_eq!(res.manifest.config.digest, amd.config.digest);
    assert_eq!(res.config.architecture, "amd64");
    let res = is.resolve_manifest(&rec, &platform("arm64")).unwrap();
    assert_eq!(res.config.architecture, "arm64");
    assert_eq!(res.manifest.layers.len(), 3);
    let e = is.resolve_manifest(&rec, &platform("s390x")).unwrap_err();
    assert!(
        matches!(&e, ImageError::NoMatchingPlatform { index, .. } if index == &idx.digest),
        "{e}"
    );
    assert!(e.to_string().contains("linux/s390x"), "{e}");

    // config and layers by id.
    let cfg = is.config(&arm.config.digest).unwrap();
    assert_eq!(cfg.architecture, "arm64");
    let layers = is.layers(&arm.config.digest).unwrap();
    assert_eq!(layers.len(), 3);
    for (l, want) in layers.iter().zip(&arm.layers) {
        assert_eq!(&l.blob, want);
        assert_eq!(
            l.diff_id, want.digest,
            "uncompressed test layers: diff_id = digest"
        );
    }
}

#[test]
fn a_missing_blob_error_names_the_digest() {
    let t = tempfile::tempdir().unwrap();
    let (cs, is) = stores(t.path());
    let amd = image(&cs, "m", "amd64", 1);
    let arm = image(&cs, "m", "arm64", 1);
    let idx = index(&cs, &[(&amd.manifest, "amd64"), (&arm.manifest, "arm64")]);
    is.put_for_platform(Some(&r("m")), &idx, &amd64()).unwrap();
    let rec = is.get("m").unwrap();

    cs.delete(&arm.manifest.digest).unwrap();
    let e = is.resolve_manifest(&rec, &platform("arm64")).unwrap_err();
    assert!(
        matches!(&e, ImageError::MissingBlob { digest, .. } if digest == &arm.manifest.digest),
        "{e}"
    );
    assert!(
        e.to_string().contains(&arm.manifest.digest.to_string()),
        "{e}"
    );

    cs.delete(&amd.config.digest).unwrap();
    let e = is.config(&amd.config.digest).unwrap_err();
    assert!(
        e.to_string().contains(&amd.config.digest.to_string()),
        "{e}"
    );
    assert!(e.to_string().contains("config"), "{e}");
    // Tagging an image whose config is absent is refused, naming the config.
    let e = is
        .put_for_platform(Some(&r("m2")), &amd.manifest, &amd64())
        .unwrap_err();
    assert!(
        e.to_string().contains(&amd.config.digest.to_string()),
        "{e}"
    );
    cs.delete(&idx.digest).unwrap();
    let e = is
        .put_for_platform(Some(&r("m3")), &idx, &amd64())
        .unwrap_err();
    assert!(e.to_string().contains(&idx.digest.to_string()), "{e}");
}

#[test]
fn a_digest_reference_must_match_the_target() {
    let t = tempfile::tempdir().unwrap();
    let (cs, is) = stores(t.path());
    let a = image(&cs, "a", "amd64", 1);
    let b = image(&cs, "b", "amd64", 1);
    let wrong = r("a").with_digest(b.manifest.digest.clone());
    let e = is
        .put_for_platform(Some(&wrong), &a.manifest, &amd64())
        .unwrap_err();
    assert!(matches!(e, ImageError::DigestMismatch { .. }), "{e}");
}

#[test]
fn write_manifest_gives_importers_a_target() {
    let t = tempfile::tempdir().unwrap();
    let (cs, is) = stores(t.path());
    let img = image(&cs, "loaded", "amd64", 2);
    let mut config = img.config.clone();
    config.media_type = media::DOCKER_CONFIG.into();
    let m = is.write_manifest(config, img.layers.clone()).unwrap();
    assert_eq!(m.media_type, media::DOCKER_MANIFEST);
    let t = is
        .put_for_platform(Some(&r("loaded")), &m, &amd64())
        .unwrap();
    assert_eq!(t.image.id, img.config.digest);
    assert_eq!(is.layers(&img.config.digest).unwrap().len(), 2);
}

#[test]
fn a_crash_mid_write_leaves_the_old_table() {
    let t = tempfile::tempdir().unwrap();
    let (cs, is) = stores(t.path());
    let a = image(&cs, "a", "amd64", 1);
    is.put_for_platform(Some(&r("a")), &a.manifest, &amd64())
        .unwrap();
    let table = t.path().join("images/images.json");
    let good = std::fs::read(&table).unwrap();

    // A crash before the rename: a temporary holding half of a newer table, and junk.
    let tmp = t.path().join("images/images.json.tmp");
    let mut newer: serde_json::Value = serde_json::from_slice(&good).unwrap();
    newer["images"][0]["names"] = serde_json::json!(["docker.io/library/b:latest"]);
    let newer = serde_json::to_vec(&newer).unwrap();
    std::fs::write(&tmp, &newer[..newer.len() / 2]).unwrap();
    std::fs::write(t.path().join("images/images.json.tmp.1234"), b"{\"ima").unwrap();

    let (_, reopened) = stores(t.path());
    assert_eq!(reopened.get("a").unwrap().id, a.config.digest);
    assert!(reopened.get("b").is_err());
    assert_eq!(reopened.list().unwrap().len(), 1);
    // The next write goes through, over the stray temporary.
    let b = image(&cs, "b", "amd64", 1);
    reopened
        .put_for_platform(Some(&r("b")), &b.manifest, &amd64())
        .unwrap();
    let (_, again) = stores(t.path());
    assert_eq!(again.list().unwrap().len(), 2);
    assert!(!tmp.exists(), "the rename consumed the temporary");

    // A table corrupted behind our back is reported, naming its path.
    std::fs::write(&table, b"{\"version\":1,\"images\":[").unwrap();
    let e = again.list().unwrap_err();
    assert!(e.to_string().contains(&table.display().to_string()), "{e}");
}

#[test]
fn concurrent_writers_keep_every_tag() {
    let t = tempfile::tempdir().unwrap();
    let (cs, _) = stores(t.path());
    let imgs: Vec<_> = (0..3)
        .map(|i| image(&cs, &format!("c{i}"), "amd64", 1))
        .collect();
    let threads = 8;
    let per_thread = 12;
    let hs: Vec<_> = (0..threads)
        .map(|th| {
            let root = t.path().to_path_buf();
            let manifests: Vec<_> = imgs.iter().map(|i| i.manifest.clone()).collect();
            std::thread::spawn(move || {
                // Each thread opens its own store, as a separate process would.
                let (_, is) = stores(&root);
                for n in 0..per_thread {
                    let m = &manifests[(th + n) % manifests.len()];
                    is.put_for_platform(Some(&r(&format!("t{th}/app:{n}"))), m, &amd64())
                        .unwrap();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let (_, is) = stores(t.path());
    let names: usize = is.list().unwrap().iter().map(|i| i.names.len()).sum();
    assert_eq!(names, threads * per_thread);
    for th in 0..threads {
        for n in 0..per_thread {
            let want = &imgs[(th + n) % imgs.len()].config.digest;
            assert_eq!(&is.get(&format!("t{th}/app:{n}")).unwrap().id, want);
        }
    }
}
