//! Archives made by third-party tools (umoci, skopeo) go in, and what berth writes is
//! read back by skopeo; round trips keep every digest. Needs root (the tests are
//! `#[ignore]`d: run them with `--include-ignored`).

use berth_image::archive::{
    export_oci_archive, export_oci_layout, import_oci_archive, import_oci_layout,
    import_oci_layout_with, load_docker_archive, save_docker_archive, ArchiveImage,
    OciImportOptions,
};
use berth_image::content::ContentStore;
use berth_image::model::{ImageConfig, Index, Manifest};
use berth_types::{Digest, Reference};
use std::path::{Path, PathBuf};
use std::process::Command;

fn sh(script: &str) {
    let out = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .output()
        .expect("running sh");
    assert!(
        out.status.success(),
        "script failed: {script}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn have_tools() -> bool {
    ["/usr/bin/umoci", "/usr/bin/skopeo", "/usr/bin/busybox"]
        .iter()
        .all(|p| Path::new(p).exists())
}

/// An OCI layout built by umoci: `base` (busybox, /etc/removed, /etc/conf.d/{a,b}) and
/// `v2` (removed deleted → whiteout; conf.d replaced → opaque dir or whiteouts).
fn umoci_layout(t: &Path) -> PathBuf {
    let l = t.join("L");
    let b = t.join("B");
    sh(&format!(
        r#"
        L={l}; B={b}
        umoci init --layout "$L"
        umoci new --image "$L:base"
        umoci unpack --image "$L:base" "$B"
        mkdir -p "$B/rootfs/bin" "$B/rootfs/etc/conf.d"
        cp /usr/bin/busybox "$B/rootfs/bin/busybox"
        ln -s busybox "$B/rootfs/bin/sh"
        echo gone > "$B/rootfs/etc/removed"
        echo old1 > "$B/rootfs/etc/conf.d/a"
        echo old2 > "$B/rootfs/etc/conf.d/b"
        umoci repack --image "$L:base" "$B"
        rm -rf "$B"
        umoci unpack --image "$L:base" "$B"
        rm "$B/rootfs/etc/removed"
        rm -rf "$B/rootfs/etc/conf.d"
        mkdir "$B/rootfs/etc/conf.d"
        echo new > "$B/rootfs/etc/conf.d/c"
        umoci repack --image "$L:v2" "$B"
        rm -rf "$B"
        umoci config --image "$L:v2" --config.cmd /bin/sh
        "#,
        l = l.display(),
        b = b.display()
    ));
    l
}

fn json<T: serde::de::DeserializeOwned>(p: &Path) -> T {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn blob_path(layout: &Path, d: &Digest) -> PathBuf {
    layout
        .join("blobs")
        .join(d.algorithm().as_str())
        .join(d.hex())
}

/// umoci's own view of tag `tag`: its manifest, read from the layout files.
fn layout_manifest(layout: &Path, tag: &str) -> (Digest, Manifest, ImageConfig) {
    let idx: Index = json(&layout.join("index.json"));
    let d = idx
        .manifests
        .iter()
        .find(|d| {
            d.annotations
                .as_ref()
                .and_then(|a| a.get("org.opencontainers.image.ref.name"))
                .map(String::as_str)
                == Some(tag)
        })
        .unwrap_or_else(|| panic!("tag {tag} in {idx:?}"));
    let m: Manifest = json(&blob_path(layout, &d.digest));
    let c: ImageConfig = json(&blob_path(layout, &m.config.digest));
    (d.digest.clone(), m, c)
}

fn config_of(store: &ContentStore, img: &ArchiveImage) -> ImageConfig {
    serde_json::from_slice(&store.read(&img.config).unwrap()).unwrap()
}

fn manifest_of(store: &ContentStore, img: &ArchiveImage) -> Manifest {
    serde_json::from_slice(&store.read(&img.manifest.digest).unwrap()).unwrap()
}

fn entry_names(store: &ContentStore, d: &Digest) -> Vec<String> {
    let f = store.open_blob(d).unwrap();
    let r = flate2::read::GzDecoder::new(f);
    let mut a = tar::Archive::new(r);
    a.entries()
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string()
        })
        .collect()
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn umoci_layout_imports_with_names_digests_and_whiteouts() {
    if !have_tools() {
        eprintln!("skipped: needs umoci, skopeo, busybox");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let layout = umoci_layout(t.path());
    let store = ContentStore::open(&t.path().join("store")).unwrap();
    let base_name: Reference = "test/img".parse().unwrap();
    let imgs = import_oci_layout_with(
        &store,
        &layout,
        &OciImportOptions {
            base_name: Some(base_name.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(imgs.len(), 2, "{imgs:?}");
    let by_tag = |tag: &str| {
        imgs.iter()
            .find(|i| i.names.iter().any(|n| n.tag() == Some(tag)))
            .unwrap_or_else(|| panic!("no image tagged {tag}: {imgs:?}"))
    };
    for tag in ["base", "v2"] {
        let img = by_tag(tag);
        assert_eq!(img.names, vec![base_name.with_tag(tag).unwrap()]);
        let (md, m, c) = layout_manifest(&layout, tag);
        assert_eq!(img.manifest.digest, md, "manifest digest kept for {tag}");
        assert_eq!(img.config, m.config.digest, "config digest kept for {tag}");
        assert_eq!(manifest_of(&store, img).layers, m.layers);
        assert_eq!(config_of(&store, img).rootfs.diff_ids, c.rootfs.diff_ids);
        for l in &m.layers {
            assert_eq!(
                store.read(&l.digest).unwrap(),
                std::fs::read(blob_path(&layout, &l.digest)).unwrap(),
                "layer blob byte-identical"
            );
        }
    }
    // The v2 layer carries the whiteout and the replaced directory.
    let v2 = manifest_of(&store, by_tag("v2"));
    assert_eq!(v2.layers.len(), 2);
    let names = entry_names(&store, &v2.layers[1].digest);
    assert!(names.iter().any(|n| n == "etc/.wh.removed"), "{names:?}");
    let opaque = names.iter().any(|n| n == "etc/conf.d/.wh..wh..opq");
    let per_file = names.iter().any(|n| n == "etc/conf.d/.wh.a")
        && names.iter().any(|n| n == "etc/conf.d/.wh.b");
    assert!(opaque || per_file, "conf.d replaced: {names:?}");
    assert!(names.iter().any(|n| n == "etc/conf.d/c"), "{names:?}");

    // Without a base name, umoci's bare tags give no names (as containerd).
    let store2 = ContentStore::open(&t.path().join("store2")).unwrap();
    let plain = import_oci_layout(&store2, &layout).unwrap();
    assert!(plain.iter().all(|i| i.names.is_empty()));
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn umoci_layers_apply_to_the_expected_tree() {
    if !have_tools() {
        eprintln!("skipped: needs umoci, skopeo, busybox");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let layout = umoci_layout(t.path());
    let store = ContentStore::open(&t.path().join("store")).unwrap();
    let imgs = import_oci_layout_with(
        &store,
        &layout,
        &OciImportOptions {
            base_name: Some("test/img".parse().unwrap()),
            ..Default::default()
        },
    )
    .unwrap();
    let v2 = imgs
        .iter()
        .find(|i| i.names.iter().any(|n| n.tag() == Some("v2")))
        .expect("v2 imported");
    let v2 = manifest_of(&store, v2);
    let root = t.path().join("root");
    for l in &v2.layers {
        berth_image::layer::apply::apply_layer(
            &root,
            store.open_blob(&l.digest).unwrap(),
            &berth_image::layer::apply::ApplyOptions {
                whiteout_mode: berth_image::layer::apply::WhiteoutMode::Delete,
                ..Default::default()
            },
        )
        .unwrap();
    }
    assert!(!root.join("etc/removed").exists());
    assert!(!root.join("etc/conf.d/a").exists());
    assert!(!root.join("etc/conf.d/b").exists());
    assert_eq!(
        std::fs::read_to_string(root.join("etc/conf.d/c")).unwrap(),
        "new\n"
    );
    assert_eq!(
        std::fs::read_link(root.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        std::fs::read(root.join("bin/busybox")).unwrap(),
        std::fs::read("/usr/bin/busybox").unwrap()
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn skopeo_docker_archive_loads_and_round_trips() {
    if !have_tools() {
        eprintln!("skipped: needs umoci, skopeo, busybox");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let layout = umoci_layout(t.path());
    let x = t.path().join("x.tar");
    sh(&format!(
        "skopeo copy -q oci:{}:v2 docker-archive:{}:test/img:v2",
        layout.display(),
        x.display()
    ));
    let (_, om, oc) = layout_manifest(&layout, "v2");
    let store = ContentStore::open(&t.path().join("store")).unwrap();
    let imgs = load_docker_archive(&store, std::fs::File::open(&x).unwrap()).unwrap();
    assert_eq!(imgs.len(), 1);
    let img = &imgs[0];
    assert_eq!(
        img.names,
        vec!["docker.io/test/img:v2".parse::<Reference>().unwrap()]
    );
    assert_eq!(img.config, om.config.digest, "config digest equals umoci's");
    let cfg = config_of(&store, img);
    assert_eq!(cfg.rootfs.diff_ids, oc.rootfs.diff_ids);
    // Stored uncompressed: each layer blob digest is its diff_id.
    let m = manifest_of(&store, img);
    let blobs: Vec<Digest> = m.layers.iter().map(|l| l.digest.clone()).collect();
    assert_eq!(blobs, oc.rootfs.diff_ids);

    // load → save → load keeps every digest, and save is byte-identical twice.
    let saved = t.path().join("saved.tar");
    save_docker_archive(&store, &imgs, std::fs::File::create(&saved).unwrap()).unwrap();
    let mut again = Vec::new();
    save_docker_archive(&store, &imgs, &mut again).unwrap();
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        again,
        "save is deterministic"
    );
    let store2 = ContentStore::open(&t.path().join("store2")).unwrap();
    let imgs2 = load_docker_archive(&store2, &again[..]).unwrap();
    assert_eq!(
        imgs2, imgs,
        "records (manifest, config, names) identical after round trip"
    );
    let mut third = Vec::new();
    save_docker_archive(&store2, &imgs2, &mut third).unwrap();
    assert_eq!(
        third, again,
        "saved archive byte-identical after load → save"
    );

    // skopeo reads what berth saved, and sees the same config and layers.
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--config",
            &format!("docker-archive:{}", saved.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sc: ImageConfig = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sc.rootfs.diff_ids, oc.rootfs.diff_ids);
    let oci_out = t.path().join("out");
    sh(&format!(
        "skopeo copy -q docker-archive:{} oci:{}:v2",
        saved.display(),
        oci_out.display()
    ));
    // skopeo re-serialises the config when converting to OCI (it does so for its own
    // docker-archives too), so compare content, not digests.
    let (_, sm, _) = layout_manifest(&oci_out, "v2");
    let theirs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob_path(&oci_out, &sm.config.digest)).unwrap())
            .unwrap();
    let ours: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob_path(&layout, &om.config.digest)).unwrap())
            .unwrap();
    assert_eq!(theirs, ours, "skopeo reads berth's config unchanged");
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn oci_layout_to_docker_archive_to_oci_layout_keeps_digests() {
    if !have_tools() {
        eprintln!("skipped: needs umoci, skopeo, busybox");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let layout = umoci_layout(t.path());
    let base: Reference = "test/img".parse().unwrap();
    let opts = OciImportOptions {
        base_name: Some(base),
        ..Default::default()
    };
    let store = ContentStore::open(&t.path().join("store")).unwrap();
    let imgs = import_oci_layout_with(&store, &layout, &opts).unwrap();

    // OCI layout → export_oci_layout: byte-identical blobs and the same records.
    let out = t.path().join("out");
    export_oci_layout(&store, &imgs, &out).unwrap();
    for img in &imgs {
        let m = manifest_of(&store, img);
        let mut all = vec![img.manifest.digest.clone(), img.config.clone()];
        all.extend(m.layers.iter().map(|l| l.digest.clone()));
        for d in all {
            assert_eq!(
                std::fs::read(blob_path(&out, &d)).unwrap(),
                std::fs::read(blob_path(&layout, &d)).unwrap(),
                "blob {d} byte-identical"
            );
        }
    }
    let store2 = ContentStore::open(&t.path().join("store2")).unwrap();
    let back = import_oci_layout(&store2, &out).unwrap();
    assert_eq!(
        back, imgs,
        "export → import keeps names, manifests and configs"
    );
    // skopeo reads berth's layout.
    sh(&format!(
        "skopeo inspect --raw oci:{}:v2 >/dev/null",
        out.display()
    ));
    // And the tar form.
    let mut tar = Vec::new();
    export_oci_archive(&store, &imgs, &mut tar).unwrap();
    let store3 = ContentStore::open(&t.path().join("store3")).unwrap();
    assert_eq!(import_oci_archive(&store3, &tar[..]).unwrap(), imgs);

    // OCI (gzip layers) → docker-archive (uncompressed) → OCI: config digest and
    // diff_ids kept.
    let mut da = Vec::new();
    save_docker_archive(&store, &imgs, &mut da).unwrap();
    let store4 = ContentStore::open(&t.path().join("store4")).unwrap();
    let loaded = load_docker_archive(&store4, &da[..]).unwrap();
    assert_eq!(loaded.len(), 2, "several images per archive");
    for (a, b) in imgs.iter().zip(&loaded) {
        assert_eq!(a.names, b.names);
        assert_eq!(a.config, b.config);
        let (ca, cb) = (config_of(&store, a), config_of(&store4, b));
        assert_eq!(ca.rootfs.diff_ids, cb.rootfs.diff_ids);
        let lb: Vec<Digest> = manifest_of(&store4, b)
            .layers
            .into_iter()
            .map(|l| l.digest)
            .collect();
        assert_eq!(
            lb, cb.rootfs.diff_ids,
            "docker-archive layers are uncompressed"
        );
    }
    let out2 = t.path().join("out2");
    export_oci_layout(&store4, &loaded, &out2).unwrap();
    let store5 = ContentStore::open(&t.path().join("store5")).unwrap();
    let final_ = import_oci_layout(&store5, &out2).unwrap();
    for (a, b) in imgs.iter().zip(&final_) {
        assert_eq!(a.config, b.config);
        assert_eq!(a.names, b.names);
        assert_eq!(
            config_of(&store, a).rootfs.diff_ids,
            config_of(&store5, b).rootfs.diff_ids
        );
    }
    // skopeo reads the OCI layout whose manifests are Docker schema 2.
    sh(&format!(
        "skopeo inspect --raw oci:{}:v2 >/dev/null",
        out2.display()
    ));
}
