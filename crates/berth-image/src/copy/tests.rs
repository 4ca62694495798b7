use super::*;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A container root under a temporary directory, with a sibling "host" directory the
/// container must never reach.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    host: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    let host = tmp.path().join("host");
    fs::create_dir_all(root.join("d/sub")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(&host).unwrap();
    fs::write(root.join("d/a.txt"), "hi\n").unwrap();
    fs::write(root.join("d/sub/b"), "x\n").unwrap();
    fs::write(root.join("etc/passwd"), "container passwd\n").unwrap();
    fs::write(host.join("secret"), "HOST SECRET\n").unwrap();
    symlink("/d", root.join("link")).unwrap();
    symlink("a.txt", root.join("d/rel")).unwrap();
    symlink("/etc/passwd", root.join("d/abs")).unwrap();
    // Climbs as far as it likes: inside the root it stops at the root.
    symlink("../../../../../../..", root.join("up")).unwrap();
    symlink(&host, root.join("hostlink")).unwrap();
    Fixture {
        _tmp: tmp,
        root,
        host,
    }
}

fn root_fd(f: &Fixture) -> OwnedFd {
    rustix::fs::open(
        &f.root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap()
}

/// (name, type byte, link name) of every entry.
fn listing(tar_bytes: &[u8]) -> Vec<(String, char, String)> {
    let mut a = tar::Archive::new(tar_bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let link = e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default();
            (name, e.header().entry_type().as_byte() as char, link)
        })
        .collect()
}

fn archive(f: &Fixture, path: &str) -> Result<(PathStat, Vec<u8>), CopyError> {
    let root = root_fd(f);
    let mut out = Vec::new();
    let mut seen = None;
    let st = archive_path(
        root.as_fd(),
        path,
        TreeOptions::default(),
        &mut |s| {
            seen = Some(s.clone());
            Ok(())
        },
        &mut out,
    )?;
    assert_eq!(
        seen.as_ref(),
        Some(&st),
        "the stat is announced before the data"
    );
    Ok((st, out))
}

fn tar_of(entries: &[(&str, Option<&str>, Option<&str>)]) -> Vec<u8> {
    // (name, file contents or None for a dir, symlink target)
    let mut b = tar::Builder::new(Vec::new());
    for (name, data, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_uid(1234);
        h.set_gid(1234);
        h.set_mtime(1_000_000);
        if let Some(t) = link {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            b.append_link(&mut h, name, t).unwrap();
        } else if let Some(d) = data {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o640);
            h.set_size(d.len() as u64);
            h.set_cksum();
            // Raw names: tar-rs would refuse `..`.
            let field = &mut h.as_old_mut().name;
            field.fill(0);
            field[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, d.as_bytes()).unwrap();
        } else {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o750);
            h.set_size(0);
            b.append_data(&mut h, name, io::empty()).unwrap();
        }
    }
    b.into_inner().unwrap()
}

#[test]
fn paths_split_as_docker_does() {
    let s = split("d/a.txt");
    assert_eq!(
        (s.abs.as_str(), s.dir.as_str(), s.base.as_deref()),
        ("/d/a.txt", "d", Some("a.txt"))
    );
    let s = split("/d/");
    assert_eq!(
        (s.abs.as_str(), s.dir.as_str(), s.base, s.name.as_str()),
        ("/d/", "d", None, "d")
    );
    let s = split("/d/.");
    assert_eq!(
        (s.abs.as_str(), s.dir.as_str(), s.base, s.name.as_str()),
        ("/d/.", "d", None, ".")
    );
    let s = split("/");
    assert_eq!(
        (s.abs.as_str(), s.dir.as_str(), s.base, s.name.as_str()),
        ("/", "", None, "/")
    );
    let s = split("/../../etc//passwd");
    assert_eq!(
        (s.abs.as_str(), s.dir.as_str(), s.base.as_deref()),
        ("/etc/passwd", "etc", Some("passwd"))
    );
    let s = split("/d/sub/../a.txt");
    assert_eq!(s.abs, "/d/a.txt");
}

#[test]
fn stat_reports_files_dirs_and_where_links_lead_inside_the_root() {
    let f = fixture();
    let root = root_fd(&f);
    let st = stat_path(root.as_fd(), "/d/a.txt").unwrap();
    assert_eq!((st.name.as_str(), st.size), ("a.txt", 3));
    assert_eq!(FileType::from_raw_mode(st.mode), FileType::RegularFile);
    assert_eq!(st.link_target, "");

    let st = stat_path(root.as_fd(), "/d").unwrap();
    assert_eq!(FileType::from_raw_mode(st.mode), FileType::Directory);
    assert_eq!(stat_path(root.as_fd(), "/d/.").unwrap().name, ".");
    assert_eq!(stat_path(root.as_fd(), "/").unwrap().name, "/");

    // The last element is not followed; its target is reported, resolved in the root.
    let st = stat_path(root.as_fd(), "/link").unwrap();
    assert_eq!(FileType::from_raw_mode(st.mode), FileType::Symlink);
    assert_eq!(st.link_target, "/d");
    assert_eq!(
        stat_path(root.as_fd(), "/d/rel").unwrap().link_target,
        "/d/a.txt"
    );
    assert_eq!(
        stat_path(root.as_fd(), "/d/abs").unwrap().link_target,
        "/etc/passwd"
    );
    assert_eq!(stat_path(root.as_fd(), "/up").unwrap().link_target, "/");
    // A link to a host path names that path inside the container (where it is absent).
    let host_inside = f.host.display().to_string();
    assert_eq!(
        stat_path(root.as_fd(), "/hostlink").unwrap().link_target,
        host_inside
    );
    // With a trailing slash the link is followed: the directory it leads to.
    let st = stat_path(root.as_fd(), "/link/").unwrap();
    assert_eq!(FileType::from_raw_mode(st.mode), FileType::Directory);
    assert_eq!(st.name, "link");

    assert!(
        matches!(stat_path(root.as_fd(), "/missing"), Err(CopyError::NotFound { path }) if path == "/missing")
    );
    assert!(matches!(
        stat_path(root.as_fd(), "/hostlink/secret"),
        Err(CopyError::NotFound { .. })
    ));
    assert!(matches!(
        stat_path(root.as_fd(), "/up/host/secret"),
        Err(CopyError::NotFound { .. })
    ));
    assert!(matches!(
        stat_path(root.as_fd(), "/d/a.txt/"),
        Err(CopyError::NotADirectory { .. })
    ));
}

#[test]
fn archives_name_the_top_entry_as_asked() {
    let f = fixture();
    let (st, t) = archive(&f, "/d/a.txt").unwrap();
    assert_eq!(st.name, "a.txt");
    assert_eq!(listing(&t), vec![("a.txt".to_string(), '0', String::new())]);

    let (_, t) = archive(&f, "/d").unwrap();
    let names: Vec<String> = listing(&t).into_iter().map(|e| e.0).collect();
    assert_eq!(
        names,
        ["d/", "d/a.txt", "d/abs", "d/rel", "d/sub/", "d/sub/b"]
    );

    // Through a symlinked directory: entries carry the name asked for.
    let (_, t) = archive(&f, "/link/").unwrap();
    let names: Vec<String> = listing(&t).into_iter().map(|e| e.0).collect();
    assert_eq!(names[0], "link/");
    assert!(names.contains(&"link/sub/b".to_string()));

    // `dir/.`: the contents, under `./`.
    let (_, t) = archive(&f, "/d/.").unwrap();
    let names: Vec<String> = listing(&t).into_iter().map(|e| e.0).collect();
    assert_eq!(names[0], "./");
    assert!(names.contains(&"./sub/b".to_string()), "{names:?}");

    // A symlink is archived as a symlink, never followed.
    let (_, t) = archive(&f, "/d/abs").unwrap();
    assert_eq!(listing(&t), vec![("abs".into(), '2', "/etc/passwd".into())]);

    // The root: its children.
    let (_, t) = archive(&f, "/").unwrap();
    let names: Vec<String> = listing(&t).into_iter().map(|e| e.0).collect();
    assert_eq!(names[0], "/");
    assert!(names.contains(&"/etc/passwd".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("secret")));
}

#[test]
fn links_out_of_the_root_read_nothing_from_the_host() {
    let f = fixture();
    for p in [
        "/hostlink/secret",
        "/up/host/secret",
        "/../host/secret",
        "/up/../host/secret",
    ] {
        assert!(
            matches!(archive(&f, p), Err(CopyError::NotFound { .. })),
            "{p}"
        );
    }
    // Archiving the links themselves yields links, not their targets' contents.
    for p in ["/hostlink", "/up"] {
        let (_, t) = archive(&f, p).unwrap();
        assert_eq!(listing(&t).len(), 1, "{p}");
        assert!(!t.windows(11).any(|w| w == b"HOST SECRET"), "{p}");
    }
    // The whole root through a link to `/`: the root's files, none of the host's.
    let (_, t) = archive(&f, "/up/").unwrap();
    assert!(listing(&t).iter().any(|e| e.0 == "up/etc/passwd"));
    assert!(!t.windows(11).any(|w| w == b"HOST SECRET"));
}

#[test]
fn extracts_below_the_destination_and_never_outside_the_root() {
    let f = fixture();
    let tar = tar_of(&[
        ("new/", None, None),
        ("new/f", Some("data"), None),
        (".wh.kept", Some("literal"), None),
        // A link planted by the archive and then written through: resolved in the root.
        ("esc", None, Some("/")),
        ("esc/planted", Some("inside"), None),
    ]);
    extract_into(&f.root, "/d", &tar[..], ExtractOptions::default()).unwrap();
    assert_eq!(fs::read_to_string(f.root.join("d/new/f")).unwrap(), "data");
    assert_eq!(
        fs::read_to_string(f.root.join("d/.wh.kept")).unwrap(),
        "literal"
    );
    assert_eq!(
        fs::read_to_string(f.root.join("planted")).unwrap(),
        "inside"
    );
    // A link to a host directory leads to that path inside the root, where there is
    // nothing: the entry fails, the host directory is untouched.
    let tar = tar_of(&[
        ("hl", None, Some(f.host.to_str().unwrap())),
        ("hl/pwned", Some("never"), None),
    ]);
    extract_into(&f.root, "/d", &tar[..], ExtractOptions::default()).unwrap_err();
    assert!(!f.host.join("pwned").exists());
    assert_eq!(
        fs::read_dir(&f.host).unwrap().count(),
        1,
        "the host directory is untouched"
    );
    // Owners: root unless asked to keep the archive's.
    let md = fs::metadata(f.root.join("d/new/f")).unwrap();
    assert_eq!(md.permissions().mode() & 0o777, 0o640);
    if rustix::process::geteuid().is_root() {
        assert_eq!((md.uid(), md.gid()), (0, 0));
        let tar = tar_of(&[("owned", Some("x"), None)]);
        let o = ExtractOptions {
            copy_uid_gid: true,
            ..ExtractOptions::default()
        };
        extract_into(&f.root, "/d", &tar[..], o).unwrap();
        let md = fs::metadata(f.root.join("d/owned")).unwrap();
        assert_eq!((md.uid(), md.gid()), (1234, 1234));
    }

    // The destination itself through links: inside the root.
    let tar = tar_of(&[("x", Some("via link"), None)]);
    extract_into(&f.root, "/hostlink", &tar[..], ExtractOptions::default()).unwrap_err();
    assert!(!f.host.join("x").exists());
    extract_into(&f.root, "/up", &tar[..], ExtractOptions::default()).unwrap();
    assert_eq!(fs::read_to_string(f.root.join("x")).unwrap(), "via link");

    // `..` climbing above the destination is refused.
    let tar = tar_of(&[("../../escape", Some("no"), None)]);
    let e = extract_into(&f.root, "/d/sub", &tar[..], ExtractOptions::default()).unwrap_err();
    assert!(
        matches!(e, CopyError::Extract(ApplyError::Breakout { .. })),
        "{e}"
    );
    assert!(!f.root.join("escape").exists());

    // The destination must be an existing directory.
    let tar = tar_of(&[("y", Some("y"), None)]);
    assert!(matches!(
        extract_into(&f.root, "/d/a.txt", &tar[..], ExtractOptions::default()),
        Err(CopyError::NotADirectory { .. })
    ));
    assert!(matches!(
        extract_into(&f.root, "/nowhere", &tar[..], ExtractOptions::default()),
        Err(CopyError::NotFound { .. })
    ));
}

#[test]
fn no_overwrite_dir_non_dir_refuses_type_changes() {
    let f = fixture();
    let strict = ExtractOptions {
        no_overwrite_dir_non_dir: true,
        ..ExtractOptions::default()
    };
    let file_over_dir = tar_of(&[("sub", Some("file"), None)]);
    let e = extract_into(&f.root, "/d", &file_over_dir[..], strict).unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot overwrite directory \"/d/sub\""),
        "{e}"
    );
    assert!(f.root.join("d/sub/b").exists());
    let dir_over_file = tar_of(&[("a.txt/", None, None)]);
    let e = extract_into(&f.root, "/d", &dir_over_file[..], strict).unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot overwrite non-directory \"/d/a.txt\""),
        "{e}"
    );
    assert!(f.root.join("d/a.txt").is_file());
    // Without the flag the archive wins.
    extract_into(&f.root, "/d", &file_over_dir[..], ExtractOptions::default()).unwrap();
    assert!(f.root.join("d/sub").is_file());
}

/// CVE-2018-15664: the container swaps a directory for a symlink to a host path while
/// the daemon copies. Neither direction may touch the host path.
#[test]
fn a_symlink_swapped_in_mid_copy_never_leads_out() {
    let f = fixture();
    fs::create_dir(f.root.join("data")).unwrap();
    fs::write(f.root.join("data/file"), "container data").unwrap();
    fs::write(f.host.join("file"), "HOST SECRET").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (root, host, stop) = (f.root.clone(), f.host.clone(), stop.clone());
        std::thread::spawn(move || {
            let (data, real, tmp) = (
                root.join("data"),
                root.join("data.real"),
                root.join("data.tmp"),
            );
            let _ = symlink(&host, &tmp);
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // data: directory -> symlink to the host directory -> directory.
                if fs::rename(&data, &real).is_ok() {
                    let _ = fs::rename(&tmp, &data);
                    let _ = fs::rename(&data, &tmp);
                    let _ = fs::rename(&real, &data);
                }
                swaps += 1;
            }
            swaps
        })
    };
    let tar = tar_of(&[("pwned", Some("x"), None)]);
    let mut copied = 0;
    // 300 rounds at least, and on until one copy of the directory went through (on a
    // loaded machine the swapper may win many rounds in a row), within 30 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut round = 0;
    while round < 300 || (copied == 0 && std::time::Instant::now() < deadline) {
        round += 1;
        if let Ok((_, t)) = archive(&f, "/data") {
            assert!(
                !t.windows(11).any(|w| w == b"HOST SECRET"),
                "host data archived"
            );
            copied += 1;
        }
        let _ = archive(&f, "/data/file").map(|(_, t)| {
            assert!(
                !t.windows(11).any(|w| w == b"HOST SECRET"),
                "host file archived"
            );
        });
        let _ = extract_into(&f.root, "/data", &tar[..], ExtractOptions::default());
        assert!(!f.host.join("pwned").exists(), "written to the host");
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 10, "the swapper ran ({swaps} swaps)");
    assert!(copied > 0, "some copies went through");
}
