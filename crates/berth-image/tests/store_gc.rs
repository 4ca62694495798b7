//! Garbage collection: what images, caller roots and leases reference stays; the rest
//! of the content store, old ingest temporaries and orphan snapshots go.

mod store_support;

use berth_image::content::{sha256, ContentStore};
use berth_image::gc::{chain_ids, collect, BoxError, GcOptions, Roots, SnapshotGc};
use berth_image::images::ImageStore;
use berth_image::lease::{LeaseManager, Resource};
use berth_types::{Digest, Reference};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use store_support::{all_digests, image, image_with_layers, index, layer, platform, TestImage};

struct Env {
    t: tempfile::TempDir,
    cs: ContentStore,
    is: ImageStore,
    lm: LeaseManager,
}

fn env() -> Env {
    let t = tempfile::tempdir().unwrap();
    let root: &Path = t.path();
    let cs = ContentStore::open(&root.join("content")).unwrap();
    let is = ImageStore::open(&root.join("images"), cs.clone()).unwrap();
    let lm = LeaseManager::open(root).unwrap();
    Env { t, cs, is, lm }
}

fn tag(e: &Env, name: &str, img: &TestImage) {
    e.is.put_for_platform(
        Some(&Reference::parse(name).unwrap()),
        &img.manifest,
        &platform("amd64"),
    )
    .unwrap();
}

fn gc(e: &Env, roots: &Roots) -> berth_image::gc::GcReport {
    collect(&e.is, &e.lm, roots, None, &GcOptions::default()).unwrap()
}

fn stored(e: &Env) -> BTreeSet<Digest> {
    e.cs.list().unwrap().into_iter().collect()
}

#[test]
fn removes_only_unreferenced_blobs() {
    let e = env();
    let keep = image(&e.cs, "keep", "amd64", 2);
    // `drop` shares keep's bottom layer and has one of its own.
    let own = layer(&e.cs, b"drop's own layer");
    let drop = image_with_layers(
        &e.cs,
        "drop",
        "amd64",
        vec![keep.layers[0].clone(), own.clone()],
    );
    let orphan = e.cs.put(b"nobody's blob", None).unwrap();
    tag(&e, "keep", &keep);
    tag(&e, "drop", &drop);
    e.is.delete(&drop.config.digest).unwrap();

    let report = gc(&e, &Roots::default());
    let removed: BTreeSet<Digest> = report.blobs.iter().map(|(d, _)| d.clone()).collect();
    let want: BTreeSet<Digest> = [
        drop.manifest.digest.clone(),
        drop.config.digest.clone(),
        own.digest.clone(),
        orphan.clone(),
    ]
    .into();
    assert_eq!(removed, want);
    assert_eq!(
        report.bytes,
        report.blobs.iter().map(|(_, s)| s).sum::<u64>()
    );
    assert!(report.bytes > 0);
    assert_eq!(stored(&e), all_digests(&keep).into_iter().collect());
    // The kept image still resolves to its layers.
    assert_eq!(e.is.layers(&keep.config.digest).unwrap().len(), 2);
    // A second collection finds nothing more.
    assert!(gc(&e, &Roots::default()).blobs.is_empty());
}

#[test]
fn an_index_keeps_every_platform_present() {
    let e = env();
    let amd = image(&e.cs, "m", "amd64", 1);
    let arm = image(&e.cs, "m", "arm64", 1);
    // A third platform listed but never pulled.
    let absent = sha256(b"an s390x manifest we never fetched");
    let mut ghost = amd.manifest.clone();
    ghost.digest = absent;
    let idx = index(
        &e.cs,
        &[
            (&amd.manifest, "amd64"),
            (&arm.manifest, "arm64"),
            (&ghost, "s390x"),
        ],
    );
    e.is.put_for_platform(
        Some(&Reference::parse("m").unwrap()),
        &idx,
        &platform("amd64"),
    )
    .unwrap();
    let report = gc(&e, &Roots::default());
    assert!(report.blobs.is_empty(), "{:?}", report.blobs);
    let mut want: BTreeSet<Digest> = all_digests(&amd).into_iter().collect();
    want.extend(all_digests(&arm));
    want.insert(idx.digest.clone());
    assert_eq!(stored(&e), want);
}

#[test]
fn caller_roots_keep_a_manifest_and_what_it_references() {
    let e = env();
    let img = image(&e.cs, "container's image", "amd64", 2);
    let other = image(&e.cs, "other", "amd64", 1);
    let roots = Roots {
        content: vec![img.manifest.digest.clone()],
        snapshots: vec![],
    };
    let report = gc(&e, &roots);
    assert_eq!(stored(&e), all_digests(&img).into_iter().collect());
    assert_eq!(report.blobs.len(), all_digests(&other).len());
}

#[test]
fn a_lease_keeps_blobs_after_their_image_is_deleted_until_it_ends() {
    let e = env();
    let img = image(&e.cs, "leased", "amd64", 1);
    tag(&e, "leased", &img);
    e.lm.create("pull", None).unwrap();
    for d in all_digests(&img) {
        e.lm.add_resource("pull", Resource::Content(d)).unwrap();
    }
    // A blob written under the lease that no image references yet.
    let pending = e.cs.put(b"half-pulled layer", None).unwrap();
    e.lm.add_resource("pull", Resource::Content(pending.clone()))
        .unwrap();

    e.is.delete(&img.config.digest).unwrap();
    let report = gc(&e, &Roots::default());
    assert!(report.blobs.is_empty(), "{:?}", report.blobs);
    assert!(e.cs.exists(&pending));

    e.lm.delete("pull").unwrap();
    let report = gc(&e, &Roots::default());
    assert_eq!(report.blobs.len(), all_digests(&img).len() + 1);
    assert!(e.cs.list().unwrap().is_empty());
}

#[test]
fn a_leased_manifest_keeps_its_children() {
    let e = env();
    let img = image(&e.cs, "m", "amd64", 2);
    e.lm.create("build", None).unwrap();
    e.lm.add_resource("build", Resource::Content(img.manifest.digest.clone()))
        .unwrap();
    assert!(gc(&e, &Roots::default()).blobs.is_empty());
}

#[test]
fn expired_leases_protect_nothing_and_are_removed() {
    let e = env();
    let blob = e.cs.put(b"leased briefly", None).unwrap();
    // Resources can only be added to a live lease: add, then let it expire by moving
    // its expiry into the past (no sleeping in tests).
    e.lm.create("old", Some(Duration::from_secs(3600))).unwrap();
    e.lm.add_resource("old", Resource::Content(blob.clone()))
        .unwrap();
    assert!(gc(&e, &Roots::default()).blobs.is_empty());
    let p = e.t.path().join("leases/old.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v["expires_ms"] = serde_json::json!(1);
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();

    let report = gc(&e, &Roots::default());
    assert_eq!(report.expired_leases, vec!["old".to_string()]);
    assert_eq!(report.blobs, vec![(blob.clone(), 14)]);
    assert!(!p.exists());
}

#[test]
fn stale_ingests_go_fresh_ones_stay() {
    let e = env();
    let ingest = e.cs.root().join("ingest");
    let old = ingest.join("1-0-0");
    let fresh = ingest.join("2-0-0");
    std::fs::write(&old, b"abandoned").unwrap();
    std::fs::write(&fresh, b"in progress").unwrap();
    let f = std::fs::File::options().write(true).open(&old).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(3 * 24 * 3600))
        .unwrap();
    drop(f);
    let report = gc(&e, &Roots::default());
    assert_eq!(report.ingests, vec![old.clone()]);
    assert_eq!(report.bytes, 9);
    assert!(!old.exists());
    assert!(fresh.exists());
}

#[test]
fn a_dry_run_removes_nothing() {
    let e = env();
    let orphan = e.cs.put(b"orphan", None).unwrap();
    let opts = GcOptions {
        dry_run: true,
        ..GcOptions::default()
    };
    let report = collect(&e.is, &e.lm, &Roots::default(), None, &opts).unwrap();
    assert_eq!(report.blobs, vec![(orphan.clone(), 6)]);
    assert!(e.cs.exists(&orphan));
}

/// A snapshotter fake that checks removals come children first.
struct FakeSnapshots(Mutex<Vec<(String, Option<String>)>>);

impl SnapshotGc for FakeSnapshots {
    fn list(&self) -> Result<Vec<(String, Option<String>)>, BoxError> {
        Ok(self.0.lock().unwrap().clone())
    }
    fn remove(&self, key: &str) -> Result<(), BoxError> {
        let mut v = self.0.lock().unwrap();
        if v.iter().any(|(_, p)| p.as_deref() == Some(key)) {
            return Err(format!("{key} still has children").into());
        }
        v.retain(|(k, _)| k != key);
        Ok(())
    }
}

#[test]
fn snapshots_nobody_references_go_children_first_parents_of_kept_ones_stay() {
    let e = env();
    let img = image(&e.cs, "base", "amd64", 2);
    tag(&e, "base", &img);
    let chain = chain_ids(&[img.layers[0].digest.clone(), img.layers[1].digest.clone()]);
    let (c0, c1) = (chain[0].to_string(), chain[1].to_string());
    let s = |k: &str, p: Option<&str>| (k.to_string(), p.map(String::from));
    let fake = FakeSnapshots(Mutex::new(vec![
        s(&c0, None),
        s(&c1, Some(&c0)),
        // A container's writable layer over the image.
        s("ctr", Some(&c1)),
        // An orphan chain, with a leased build step on top of its middle.
        s("o0", None),
        s("o1", Some("o0")),
        s("o2", Some("o1")),
        s("build-step", Some("o1")),
        // A lone orphan.
        s("lone", None),
    ]));
    e.lm.create("build", None).unwrap();
    e.lm.add_resource("build", Resource::Snapshot("build-step".into()))
        .unwrap();
    let roots = Roots {
        content: vec![],
        snapshots: vec!["ctr".into()],
    };
    let report = collect(&e.is, &e.lm, &roots, Some(&fake), &GcOptions::default()).unwrap();
    let mut removed = report.snapshots.clone();
    removed.sort();
    assert_eq!(removed, vec!["lone".to_string(), "o2".to_string()]);
    let left: BTreeSet<String> = fake
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    let want: BTreeSet<String> = [c0.as_str(), c1.as_str(), "ctr", "o0", "o1", "build-step"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(left, want);

    // With the lease and the container gone, and the image deleted, everything goes,
    // children first (the fake refuses otherwise).
    e.lm.delete("build").unwrap();
    e.is.delete(&img.config.digest).unwrap();
    let report = collect(
        &e.is,
        &e.lm,
        &Roots::default(),
        Some(&fake),
        &GcOptions::default(),
    )
    .unwrap();
    assert_eq!(report.snapshots.len(), 6);
    assert!(fake.0.lock().unwrap().is_empty());
}
