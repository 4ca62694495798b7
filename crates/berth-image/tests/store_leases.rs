//! Leases: persistence across managers (processes), expiry, concurrent updates.

use berth_image::content::sha256;
use berth_image::lease::{LeaseError, LeaseManager, Resource};
use std::time::Duration;

#[test]
fn a_lease_is_seen_by_another_manager_and_ends_when_deleted() {
    let t = tempfile::tempdir().unwrap();
    let a = LeaseManager::open(t.path()).unwrap();
    let b = LeaseManager::open(t.path()).unwrap();
    a.create("pull-1", None).unwrap();
    a.add_resource("pull-1", Resource::Content(sha256(b"x")))
        .unwrap();
    a.add_resource("pull-1", Resource::Snapshot("snap".into()))
        .unwrap();
    a.add_resource("pull-1", Resource::Content(sha256(b"x")))
        .unwrap();
    let seen = b.get("pull-1").unwrap();
    assert_eq!(seen.resources.len(), 2);
    assert_eq!(b.list().unwrap().len(), 1);
    b.remove_resource("pull-1", &Resource::Snapshot("snap".into()))
        .unwrap();
    assert_eq!(a.get("pull-1").unwrap().resources.len(), 1);

    assert!(matches!(
        a.create("pull-1", None),
        Err(LeaseError::Exists(_))
    ));
    assert!(b.delete("pull-1").unwrap());
    assert!(!b.delete("pull-1").unwrap(), "deleting twice is fine");
    let e = a
        .add_resource("pull-1", Resource::Snapshot("s".into()))
        .unwrap_err();
    assert!(e.to_string().contains("pull-1"), "{e}");
    assert!(a.list().unwrap().is_empty());
}

#[test]
fn expired_leases_are_ignored_and_removed() {
    let t = tempfile::tempdir().unwrap();
    let lm = LeaseManager::open(t.path()).unwrap();
    lm.create("gone", Some(Duration::ZERO)).unwrap();
    lm.create("live", Some(Duration::from_secs(3600))).unwrap();
    assert!(matches!(lm.get("gone"), Err(LeaseError::NotFound(_))));
    assert!(matches!(
        lm.add_resource("gone", Resource::Snapshot("k".into())),
        Err(LeaseError::NotFound(_))
    ));
    let live: Vec<_> = lm.list().unwrap().into_iter().map(|l| l.id).collect();
    assert_eq!(live, vec!["live".to_string()]);
    assert_eq!(lm.remove_expired().unwrap(), vec!["gone".to_string()]);
    assert!(!t.path().join("leases/gone.json").exists());
    assert!(t.path().join("leases/live.json").exists());
    // An expired id can be reused.
    lm.create("gone", None).unwrap();
    assert!(lm.get("gone").is_ok());
}

#[test]
fn a_crash_mid_write_leaves_the_old_lease() {
    let t = tempfile::tempdir().unwrap();
    let lm = LeaseManager::open(t.path()).unwrap();
    lm.create("l", None).unwrap();
    lm.add_resource("l", Resource::Content(sha256(b"1")))
        .unwrap();
    std::fs::write(t.path().join("leases/l.json.tmp"), b"{\"id\":\"l\",\"crea").unwrap();
    let again = LeaseManager::open(t.path()).unwrap();
    assert_eq!(again.get("l").unwrap().resources.len(), 1);
    assert_eq!(again.list().unwrap().len(), 1, "temporaries are not leases");
    again
        .add_resource("l", Resource::Content(sha256(b"2")))
        .unwrap();
    assert_eq!(lm.get("l").unwrap().resources.len(), 2);
}

#[test]
fn concurrent_additions_are_all_kept() {
    let t = tempfile::tempdir().unwrap();
    LeaseManager::open(t.path())
        .unwrap()
        .create("build", None)
        .unwrap();
    let hs: Vec<_> = (0..8)
        .map(|th| {
            let root = t.path().to_path_buf();
            std::thread::spawn(move || {
                let lm = LeaseManager::open(&root).unwrap();
                for n in 0..10 {
                    lm.add_resource("build", Resource::Snapshot(format!("{th}-{n}")))
                        .unwrap();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let lm = LeaseManager::open(t.path()).unwrap();
    assert_eq!(lm.get("build").unwrap().resources.len(), 80);
}

#[test]
fn lease_ids_cannot_name_paths() {
    let t = tempfile::tempdir().unwrap();
    let lm = LeaseManager::open(t.path()).unwrap();
    for bad in ["../escape", "a/b", ".lock", ""] {
        assert!(
            matches!(lm.create(bad, None), Err(LeaseError::InvalidId(_))),
            "{bad:?}"
        );
    }
    assert!(!t.path().join("escape.json").exists());
}
