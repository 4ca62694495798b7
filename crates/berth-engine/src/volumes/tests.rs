//! The store (names, options, references, persistence) and the mount planning.

use std::collections::BTreeMap;

use berth_api_types::container::{
    BindOptions, HostConfig, Mount, TmpfsOptions, VolumeDriverConfig, VolumeOptions,
};
use berth_api_types::Filters;

use super::mounts::{self, MountRecord, Planned};
use super::*;

fn no_map() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn names_follow_dockers_rule() {
    for ok in ["ab", "data", "my-vol_1.x", "0x", "A.b-c_d"] {
        assert!(validate_name(ok).is_ok(), "{ok}");
    }
    for bad in [
        "", "a", "-ab", ".ab", "_ab", "a/b", "a b", "x@y", "/abs", "é-x",
    ] {
        let e = validate_name(bad).unwrap_err();
        assert_eq!(e.status(), 400, "{bad}");
        assert!(
            e.to_string()
                .contains(&format!("\"{bad}\" includes invalid characters")),
            "{e}"
        );
    }
}

#[test]
fn local_options_are_checked() {
    assert!(validate_options("v", &no_map()).is_ok());
    assert!(validate_options(
        "v",
        &map(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")])
    )
    .is_ok());
    assert!(validate_options(
        "v",
        &map(&[("type", "none"), ("device", "/srv"), ("o", "bind")])
    )
    .is_ok());
    let msg = |o: &[(&str, &str)]| validate_options("v", &map(o)).unwrap_err().to_string();
    assert!(msg(&[("bogus", "1")]).contains("invalid option: \"bogus\""));
    assert!(msg(&[("type", "tmpfs")]).contains("missing required option: \"device\""));
    assert!(msg(&[("device", "/x")]).contains("missing required option: \"type\""));
    assert!(msg(&[("type", "none"), ("device", "rel"), ("o", "bind")]).contains("absolute"));
    assert!(msg(&[("size", "1g")]).contains("quota"));
}

#[test]
fn create_is_idempotent_and_persists_across_a_reopen() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("volumes");
    let s = VolumeStore::open(&root).unwrap();
    let labels = map(&[("tier", "db")]);
    let (v, created) = s.create("data", "", &no_map(), &labels).unwrap();
    assert!(created);
    assert_eq!(v.driver, "local");
    assert!(s.data_path("data").is_dir());
    std::fs::write(s.data_path("data").join("f"), "kept").unwrap();
    // Again: the same volume, options and labels of the second call ignored.
    let (again, created) = s.create("data", "local", &no_map(), &no_map()).unwrap();
    assert!(!created);
    assert_eq!(again, v);
    let e = s
        .create("data", "nfs-plugin", &no_map(), &no_map())
        .unwrap_err();
    assert_eq!(e.status(), 409, "{e}");
    let e = s
        .create("other", "nfs-plugin", &no_map(), &no_map())
        .unwrap_err();
    assert_eq!(e.status(), 404, "{e}");
    let (anon, _) = s.create("", "", &no_map(), &no_map()).unwrap();
    assert_eq!(anon.name.len(), 64);
    assert!(anon.is_anonymous());
    assert!(anon.name.bytes().all(|b| b.is_ascii_hexdigit()));
    drop(s);

    // A volume directory without its record (a crash between mkdir and the record)
    // and a half-removed one.
    std::fs::create_dir_all(root.join("bare/_data")).unwrap();
    std::fs::create_dir_all(root.join(".removing-gone/_data")).unwrap();
    let s = VolumeStore::open(&root).unwrap();
    assert_eq!(s.get("data").unwrap(), v);
    assert_eq!(
        std::fs::read_to_string(s.data_path("data").join("f")).unwrap(),
        "kept"
    );
    assert!(s.get(&anon.name).unwrap().is_anonymous());
    assert_eq!(s.get("bare").unwrap().driver, "local");
    assert!(!root.join(".removing-gone").exists());
    let e = s.get("nope").unwrap_err();
    assert_eq!(e.status(), 404);
    assert_eq!(e.to_string(), "get nope: no such volume");
}

#[test]
fn references_block_removal_and_prune() {
    let t = tempfile::tempdir().unwrap();
    let s = VolumeStore::open(t.path()).unwrap();
    let want = Want {
        name: Some("shared"),
        driver: "",
        options: &no_map(),
        labels: &no_map(),
    };
    let (_, created) = s.acquire(&want, "c1").unwrap();
    assert!(created, "named volumes are created on use");
    s.acquire(&want, "c2").unwrap();
    let e = s.remove("shared", true).unwrap_err();
    assert_eq!(e.status(), 409);
    assert_eq!(e.to_string(), "remove shared: volume is in use - [c1, c2]");
    s.release("shared", "c1");
    let e = s.remove("shared", false).unwrap_err();
    assert!(e.to_string().ends_with("[c2]"), "{e}");

    let none = no_map();
    let anonymous = Want {
        name: None,
        driver: "",
        options: &none,
        labels: &none,
    };
    let (anon, _) = s.acquire(&anonymous, "c3").unwrap();
    s.create("labelled", "", &no_map(), &map(&[("keep", "yes")]))
        .unwrap();
    s.create("plain", "", &no_map(), &no_map()).unwrap();
    std::fs::write(s.data_path("plain").join("f"), vec![0u8; 1000]).unwrap();
    // Only anonymous ones with all=false: the anonymous one is in use.
    let mut f = Filters::new();
    f.add("all", "false");
    assert_eq!(s.prune(&f).unwrap(), (vec![], 0));
    let mut f = Filters::new();
    f.add("label!", "keep=yes");
    let (gone, bytes) = s.prune(&f).unwrap();
    assert_eq!(gone, vec!["plain".to_string()]);
    assert_eq!(bytes, 1000);
    let mut f = Filters::new();
    f.add("label", "keep");
    assert_eq!(s.prune(&f).unwrap().0, vec!["labelled".to_string()]);
    s.release(&anon.name, "c3");
    s.release("shared", "c2");
    let (gone, _) = s.prune(&Filters::new()).unwrap();
    assert_eq!(gone.len(), 2, "{gone:?}");
    assert!(s.list().is_empty());
    assert!(
        !s.remove("shared", true).unwrap(),
        "force: a missing volume is fine"
    );
    assert_eq!(s.remove("shared", false).unwrap_err().status(), 404);
    let mut f = Filters::new();
    f.add("until", "1h");
    assert_eq!(s.prune(&f).unwrap_err().status(), 400);
}

#[test]
fn active_mounts_are_counted_per_container() {
    let t = tempfile::tempdir().unwrap();
    let s = VolumeStore::open(t.path()).unwrap();
    s.create("v1", "", &no_map(), &no_map()).unwrap();
    let (p, first) = s.mount("v1", "a").unwrap();
    assert!(first && p.ends_with("v1/_data"));
    assert!(!s.mount("v1", "a").unwrap().1, "a container mounts once");
    s.mount("v1", "b").unwrap();
    assert_eq!(s.mounted_by("v1"), 2);
    assert!(s.unmount("v1", "a"));
    assert!(!s.unmount("v1", "a"));
    assert!(s.unmount("v1", "b"));
    assert_eq!(s.mounted_by("v1"), 0);
    assert_eq!(s.mount("nope", "a").unwrap_err().status(), 404);
}

fn bind(raw: &str) -> MountRecord {
    mounts::parse_bind(raw, "")
        .unwrap_or_else(|e| panic!("{raw}: {e}"))
        .mount
}

fn bind_err(raw: &str) -> String {
    mounts::parse_bind(raw, "").unwrap_err().to_string()
}

#[test]
fn binds_parse_as_docker_parses_them() {
    let b = bind("/srv/data:/data");
    assert_eq!(
        (b.kind.as_str(), b.source.as_str(), b.destination.as_str()),
        ("bind", "/srv/data", "/data")
    );
    assert!(b.rw && b.create_source);
    assert_eq!((b.mode.as_str(), b.propagation.as_str()), ("", "rprivate"));
    let b = bind("/srv:/data/../x/:ro,Z,rshared");
    assert_eq!(b.destination, "/x");
    assert!(!b.rw);
    assert_eq!(
        (b.mode.as_str(), b.propagation.as_str()),
        ("ro,Z,rshared", "rshared")
    );
    let v = bind("cache:/var/cache:nocopy");
    assert_eq!((v.kind.as_str(), v.name.as_str()), ("volume", "cache"));
    assert!(!v.copy_data && !v.anonymous && v.rw);
    let a = bind("/anon");
    assert!(a.anonymous && a.copy_data && a.name.is_empty());

    assert_eq!(
        bind_err("/a:/b:/c:/d"),
        "invalid volume specification: '/a:/b:/c:/d'"
    );
    assert_eq!(
        bind_err("/foo:rw"),
        "invalid volume specification: '/foo:rw'"
    );
    assert_eq!(bind_err(":/x"), "invalid volume specification: ':/x'");
    assert_eq!(bind_err("/a:/b:rx"), "invalid mode: rx");
    assert_eq!(bind_err("/a:/b:ro,rw"), "invalid mode: ro,rw");
    assert!(bind_err("/a:rel").contains("mount path must be absolute"));
    assert!(bind_err("/a:/").contains("destination can't be '/'"));
    assert!(bind_err("/a:/b:nocopy").contains("field VolumeOptions must not be specified"));
    assert!(bind_err("v:/b:rshared").contains("field BindOptions must not be specified"));
}

#[test]
fn mounts_are_checked_as_dockerd_checks_them() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().to_string_lossy().into_owned();
    let m = |kind: &str, source: &str, target: &str| Mount {
        kind: kind.into(),
        source: source.into(),
        target: target.into(),
        ..Mount::default()
    };
    let b = mounts::parse_mount(&Mount {
        read_only: true,
        bind_options: Some(BindOptions {
            propagation: "rslave".into(),
            non_recursive: true,
        }),
        ..m("bind", &src, "/x")
    })
    .unwrap()
    .mount;
    assert!(!b.rw && b.non_recursive && !b.create_source);
    assert_eq!(b.propagation, "rslave");
    let missing = format!("{src}/missing");
    assert_eq!(
        mounts::parse_mount(&m("bind", &missing, "/x"))
            .unwrap_err()
            .to_string(),
        format!(
            "invalid mount config for type \"bind\": bind source path does not exist: {missing}"
        )
    );
    let v = mounts::parse_mount(&Mount {
        volume_options: Some(VolumeOptions {
            no_copy: true,
            labels: map(&[("a", "b")]),
            driver_config: Some(VolumeDriverConfig {
                name: String::new(),
                options: map(&[("type", "tmpfs"), ("device", "tmpfs")]),
            }),
        }),
        ..m("volume", "fast", "/fast")
    })
    .unwrap();
    assert!(!v.mount.copy_data && v.mount.name == "fast");
    assert_eq!(v.volume_labels, map(&[("a", "b")]));
    assert_eq!(v.volume_options["type"], "tmpfs");
    let tm = mounts::parse_mount(&Mount {
        tmpfs_options: Some(TmpfsOptions {
            size_bytes: 64 << 20,
            mode: 0o1770,
        }),
        read_only: true,
        ..m("tmpfs", "", "/run/x")
    })
    .unwrap()
    .mount;
    assert_eq!(tm.tmpfs_options, "size=64m,mode=1770,ro");
    let err = |x: Mount| mounts::parse_mount(&x).unwrap_err().to_string();
    assert!(err(m("tmpfs", "/src", "/t")).contains("field Source must not be specified"));
    assert!(err(m("bind", "", "/t")).contains("field Source must not be empty"));
    assert!(err(m("volume", "v", "")).contains("field Target must not be empty"));
    assert!(err(m("nfs", "v", "/t")).contains("mount type unknown"));
}

#[test]
fn plan_combines_volumes_from_binds_mounts_and_config_volumes() {
    let inherited = mounts::inherit(
        &[
            MountRecord {
                kind: "volume".into(),
                name: "old".into(),
                destination: "/data".into(),
                rw: true,
                copy_data: true,
                ..MountRecord::default()
            },
            MountRecord {
                kind: "bind".into(),
                source: "/srv".into(),
                destination: "/srv".into(),
                rw: true,
                ..MountRecord::default()
            },
            MountRecord {
                kind: "tmpfs".into(),
                destination: "/t".into(),
                rw: true,
                ..MountRecord::default()
            },
        ],
        Some(true),
    );
    assert_eq!(inherited.len(), 2, "tmpfs mounts are not inherited");
    assert!(inherited
        .iter()
        .all(|p| !p.mount.rw && !p.mount.copy_data && p.inherited));
    let hc = HostConfig {
        binds: vec!["/host:/srv".into(), "named:/named".into()],
        tmpfs: map(&[("/run", "")]),
        ..HostConfig::default()
    };
    let config = vec![
        "/data".to_string(),
        "/image-vol/".to_string(),
        "/run".to_string(),
        "/named".to_string(),
    ];
    let plan: Vec<Planned> = mounts::plan(&config, &hc, inherited).unwrap();
    let by: BTreeMap<&str, &Planned> = plan
        .iter()
        .map(|p| (p.mount.destination.as_str(), p))
        .collect();
    assert_eq!(
        by.keys().copied().collect::<Vec<_>>(),
        ["/data", "/image-vol", "/named", "/srv"]
    );
    assert_eq!(
        by["/srv"].mount.source, "/host",
        "a bind overrides --volumes-from"
    );
    assert_eq!(
        by["/data"].mount.name, "old",
        "inherited covers the image volume"
    );
    assert!(by["/image-vol"].from_config && by["/image-vol"].mount.anonymous);
    assert_eq!(by["/named"].mount.name, "named");

    let dup = HostConfig {
        binds: vec!["/a:/x".into()],
        mounts: vec![Mount {
            kind: "volume".into(),
            target: "/x".into(),
            ..Mount::default()
        }],
        ..HostConfig::default()
    };
    assert_eq!(
        mounts::plan(&[], &dup, vec![]).unwrap_err().to_string(),
        "Duplicate mount point: /x"
    );
    let dup = HostConfig {
        binds: vec!["/a:/run".into()],
        tmpfs: map(&[("/run", "")]),
        ..HostConfig::default()
    };
    assert!(mounts::plan(&[], &dup, vec![]).is_err());
    assert_eq!(
        mounts::parse_volumes_from("c1:ro").unwrap(),
        ("c1".to_string(), Some(true))
    );
    assert_eq!(
        mounts::parse_volumes_from("c1").unwrap(),
        ("c1".to_string(), None)
    );
    assert!(mounts::parse_volumes_from("c1:xx").is_err());
}
