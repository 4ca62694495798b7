//! End to end: `cp` between containers and the host, through both the `berth` CLI and
//! the unmodified docker CLI, including the symlink-escape cases (CVE-2018-15664) and
//! copying into a stopped container.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::process::Stdio;

use common::{out_err, Cli, Daemon};

/// A host directory the containers' links point at: nothing may be read from or
/// written to it.
fn host_bait(dir: &std::path::Path) -> std::path::PathBuf {
    let bait = dir.join("bait");
    fs::create_dir_all(&bait).unwrap();
    fs::write(bait.join("secret"), "HOST SECRET\n").unwrap();
    bait
}

fn fails(d: &Daemon, c: &Cli, args: &[&str]) -> String {
    let o = d.run(c, args);
    let (out, err) = out_err(&o);
    assert!(
        !o.status.success(),
        "{} {args:?} succeeded: {out}{err}",
        c.name
    );
    err
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn cp_both_ways_with_both_clis() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let bait = host_bait(work.path());
    for cli in Cli::all() {
        let c = &cli;
        let n = c.name;
        let ctr = format!("cp-{n}");
        let setup = format!(
            "mkdir -p /d/sub && echo hi > /d/a.txt && echo x > /d/sub/b && ln -s /d /link \
             && ln -s a.txt /d/rel && ln -s {bait} /hostlink && ln -s ../../../../../.. /up \
             && ln /d/a.txt /d/hard && mkdir /esc && ln -s ../../../.. /esc/l; sleep 1000",
            bait = bait.display()
        );
        d.ok(
            c,
            &["run", "-d", "--name", &ctr, "busybox", "sh", "-c", &setup],
        );
        assert!(common::wait_for(10, || d
            .run(c, &["exec", &ctr, "test", "-e", "/d/hard"])
            .status
            .success()));
        let out = work.path().join(format!("out-{n}"));
        fs::create_dir_all(&out).unwrap();
        let o = |p: &str| out.join(p);
        let at = |p: &str| format!("{ctr}:{p}");

        // Container to host: a file into a directory, under a new name, a tree, `dir/.`.
        d.ok(c, &["cp", &at("/d/a.txt"), out.to_str().unwrap()]);
        assert_eq!(fs::read_to_string(o("a.txt")).unwrap(), "hi\n", "{n}");
        d.ok(c, &["cp", &at("/d/a.txt"), o("renamed").to_str().unwrap()]);
        assert_eq!(fs::read_to_string(o("renamed")).unwrap(), "hi\n", "{n}");
        d.ok(c, &["cp", &at("/d"), out.to_str().unwrap()]);
        assert_eq!(fs::read_to_string(o("d/sub/b")).unwrap(), "x\n", "{n}");
        assert_eq!(
            fs::read_link(o("d/rel")).unwrap().to_str(),
            Some("a.txt"),
            "{n}"
        );
        d.ok(c, &["cp", &at("/d/."), o("contents").to_str().unwrap()]);
        assert_eq!(
            fs::read_to_string(o("contents/sub/b")).unwrap(),
            "x\n",
            "{n}"
        );
        assert_eq!(
            fs::read_to_string(o("contents/hard")).unwrap(),
            "hi\n",
            "{n}"
        );
        // -L copies what a link leads to, under the link's name.
        d.ok(
            c,
            &["cp", "-L", &at("/d/rel"), o("followed").to_str().unwrap()],
        );
        assert_eq!(fs::read_to_string(o("followed")).unwrap(), "hi\n", "{n}");
        // `-` writes the tar to stdout.
        let tar = d.cmd(c).args(["cp", &at("/d"), "-"]).output().unwrap();
        assert!(tar.status.success(), "{n}");
        let mut names: Vec<String> = tar::Archive::new(&tar.stdout[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        assert!(names.contains(&"d/sub/b".to_string()), "{n}: {names:?}");

        // Symlinks pointing out of the container read nothing from the host.
        let err = fails(
            &d,
            c,
            &["cp", &at("/hostlink/secret"), o("leak1").to_str().unwrap()],
        );
        assert!(err.contains("Could not find the file"), "{n}: {err}");
        fails(
            &d,
            c,
            &["cp", &at("/up/bait/secret"), o("leak2").to_str().unwrap()],
        );
        fails(
            &d,
            c,
            &[
                "cp",
                &at("/../../../../etc/shadow"),
                o("leak3").to_str().unwrap(),
            ],
        );
        d.ok(c, &["cp", &at("/up/d"), o("rootview").to_str().unwrap()]);
        assert!(
            o("rootview/a.txt").exists(),
            "{n}: /up is the container's root"
        );
        assert!(!o("leak1").exists() && !o("leak2").exists() && !o("leak3").exists());
        // A relative link that climbs above the destination is refused (docker CLI's
        // rule), and nothing of it is left.
        let err = fails(&d, c, &["cp", &at("/esc"), o("esc-out").to_str().unwrap()]);
        assert!(err.contains("invalid symlink"), "{n}: {err}");
        assert!(fs::symlink_metadata(o("esc-out/l")).is_err(), "{n}");
        let all = walk_contents(&out);
        assert!(!all.contains("HOST SECRET"), "{n}: host data copied out");

        // Host to container: a file, a tree, a tree under a new name, `dir/.`, a tar on
        // stdin, through a symlinked destination.
        let src = work.path().join(format!("src-{n}"));
        fs::create_dir_all(src.join("tree/sub")).unwrap();
        fs::write(src.join("file.txt"), "file\n").unwrap();
        fs::write(src.join("tree/one"), "one\n").unwrap();
        fs::write(src.join("tree/sub/two"), "two\n").unwrap();
        symlink("one", src.join("tree/lnk")).unwrap();
        let s = |p: &str| src.join(p).display().to_string();
        d.ok(c, &["cp", &s("file.txt"), &at("/d/")]);
        d.ok(c, &["cp", &s("tree"), &at("/d")]);
        d.ok(c, &["cp", &s("tree"), &at("/d/newtree")]);
        d.ok(c, &["cp", &format!("{}/.", s("tree")), &at("/d/sub")]);
        d.ok(c, &["cp", &s("file.txt"), &at("/link/via-link.txt")]);
        let check =
            "cat /d/file.txt /d/tree/sub/two /d/newtree/one /d/sub/sub/two /d/via-link.txt; \
                     readlink /d/tree/lnk; stat -c %u:%g /d/file.txt";
        assert_eq!(
            d.ok(c, &["exec", &ctr, "sh", "-c", check]),
            "file\ntwo\none\ntwo\nfile\none\n0:0\n",
            "{n}"
        );
        let tarball = std::process::Command::new("tar")
            .args(["-C", &s(""), "-c", "tree"])
            .output()
            .unwrap()
            .stdout;
        let mut child = d
            .cmd(c)
            .args(["cp", "-", &at("/d/sub")])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&tarball).unwrap();
        assert!(child.wait().unwrap().success(), "{n}: cp - CTR:/d/sub");
        assert_eq!(
            d.ok(c, &["exec", &ctr, "cat", "/d/sub/tree/sub/two"]),
            "two\n",
            "{n}"
        );

        // Into links that point out of the container: the files stay inside it.
        d.ok(c, &["cp", &s("file.txt"), &at("/up/")]);
        assert_eq!(
            d.ok(c, &["exec", &ctr, "cat", "/file.txt"]),
            "file\n",
            "{n}"
        );
        let _ = d.run(c, &["cp", &s("file.txt"), &at("/hostlink/")]);
        let _ = d.run(c, &["cp", &s("file.txt"), &at("/hostlink/pwned")]);
        assert_eq!(
            fs::read_dir(&bait).unwrap().count(),
            1,
            "{n}: something was written to the host directory"
        );

        // Errors, in docker's words.
        let err = fails(&d, c, &["cp", &s("tree"), &at("/d/a.txt")]);
        assert!(err.contains("cannot copy directory"), "{n}: {err}");
        let err = fails(&d, c, &["cp", &s("file.txt"), &at("/nowhere/")]);
        assert!(err.contains("no such directory"), "{n}: {err}");
        let err = fails(&d, c, &["cp", &s("missing"), &at("/d")]);
        assert!(err.contains("no such file or directory"), "{n}: {err}");
        let err = fails(&d, c, &["cp", &s("file.txt"), "nosuchctr:/"]);
        assert!(!err.is_empty(), "{n}");
        let err = fails(&d, c, &["cp", &at("/d"), &at("/x")]);
        assert!(
            err.contains("copying between containers is not supported"),
            "{n}: {err}"
        );

        // A stopped container: both ways.
        d.ok(c, &["stop", "-t", "1", &ctr]);
        d.ok(c, &["cp", &s("file.txt"), &at("/stopped.txt")]);
        d.ok(
            c,
            &[
                "cp",
                &at("/stopped.txt"),
                o("from-stopped").to_str().unwrap(),
            ],
        );
        assert_eq!(
            fs::read_to_string(o("from-stopped")).unwrap(),
            "file\n",
            "{n}"
        );
        d.ok(c, &["start", &ctr]);
        assert_eq!(
            d.ok(c, &["exec", &ctr, "cat", "/stopped.txt"]),
            "file\n",
            "{n}"
        );
        d.ok(c, &["rm", "-f", &ctr]);
    }
    assert_eq!(
        fs::read_to_string(bait.join("secret")).unwrap(),
        "HOST SECRET\n"
    );
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn cp_respects_read_only_and_archive_mode() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let f = work.path().join("owned.txt");
    fs::write(&f, "owned\n").unwrap();
    std::os::unix::fs::chown(&f, Some(1234), Some(5678)).unwrap();
    let f = f.display().to_string();
    for cli in Cli::all() {
        let c = &cli;
        let n = c.name;
        let ro = format!("cpro-{n}");
        d.ok(
            c,
            &[
                "run",
                "-d",
                "--read-only",
                "--tmpfs",
                "/scratch",
                "--name",
                &ro,
                "busybox",
                "sleep",
                "1000",
            ],
        );
        let err = fails(&d, c, &["cp", &f, &format!("{ro}:/")]);
        assert!(
            err.contains("container rootfs is marked read-only"),
            "{n}: {err}"
        );
        // A writable mount on a read-only root takes files.
        d.ok(c, &["cp", &f, &format!("{ro}:/scratch/")]);
        assert_eq!(
            d.ok(c, &["exec", &ro, "cat", "/scratch/owned.txt"]),
            "owned\n",
            "{n}"
        );
        // Without -a files belong to root; with -a they keep their owners.
        assert_eq!(
            d.ok(
                c,
                &["exec", &ro, "stat", "-c", "%u:%g", "/scratch/owned.txt"]
            ),
            "0:0\n",
            "{n}"
        );
        d.ok(c, &["cp", "-a", &f, &format!("{ro}:/scratch/kept.txt")]);
        assert_eq!(
            d.ok(
                c,
                &["exec", &ro, "stat", "-c", "%u:%g", "/scratch/kept.txt"]
            ),
            "1234:5678\n",
            "{n}"
        );
        // The runtime's /proc is not the container's to write into.
        fails(&d, c, &["cp", &f, &format!("{ro}:/proc/")]);
        d.ok(c, &["rm", "-f", &ro]);
        // Stopped and read-only: refused as well.
        d.ok(
            c,
            &["create", "--read-only", "--name", &ro, "busybox", "true"],
        );
        let err = fails(&d, c, &["cp", &f, &format!("{ro}:/")]);
        assert!(err.contains("read-only"), "{n}: {err}");
        d.ok(c, &["rm", "-f", &ro]);
    }
}

/// Every regular file's contents under `dir`, concatenated.
fn walk_contents(dir: &std::path::Path) -> String {
    let mut s = String::new();
    for e in fs::read_dir(dir).unwrap().flatten() {
        let ft = fs::symlink_metadata(e.path()).unwrap().file_type();
        if ft.is_dir() {
            s.push_str(&walk_contents(&e.path()));
        } else if ft.is_file() {
            s.push_str(&fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    s
}

/// `cp` reaches a container's volumes and binds, running or stopped, as Docker's does.
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn cp_goes_through_volumes_and_binds() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let f = work.path().join("f.txt");
    fs::write(&f, "into the volume\n").unwrap();
    let f = f.display().to_string();
    for cli in Cli::all() {
        let c = &cli;
        let n = c.name;
        let vol = format!("cpvol-{n}");
        let ctr = format!("cpv-{n}");
        let bind = work.path().join(format!("ro-{n}"));
        fs::create_dir_all(&bind).unwrap();
        fs::write(bind.join("host.txt"), "from the host\n").unwrap();
        let ro_bind = format!("{}:/robind:ro", bind.display());
        d.ok(
            c,
            &[
                "run",
                "-d",
                "--read-only",
                "-v",
                &format!("{vol}:/data"),
                "-v",
                &ro_bind,
                "--name",
                &ctr,
                "busybox",
                "sleep",
                "1000",
            ],
        );
        // Running: into the volume (on a read-only root), out of the bind.
        d.ok(c, &["cp", &f, &format!("{ctr}:/data/running.txt")]);
        let out = work.path().join(format!("host-{n}.txt"));
        d.ok(
            c,
            &[
                "cp",
                &format!("{ctr}:/robind/host.txt"),
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(fs::read_to_string(&out).unwrap(), "from the host\n", "{n}");
        let err = fails(&d, c, &["cp", &f, &format!("{ctr}:/robind/")]);
        assert!(
            err.contains("mounted volume is marked read-only"),
            "{n}: {err}"
        );
        // Stopped: the same paths still lead to the volume and the bind.
        d.ok(c, &["stop", "-t", "1", &ctr]);
        d.ok(c, &["cp", &f, &format!("{ctr}:/data/stopped.txt")]);
        let out2 = work.path().join(format!("host2-{n}.txt"));
        d.ok(
            c,
            &[
                "cp",
                &format!("{ctr}:/robind/host.txt"),
                out2.to_str().unwrap(),
            ],
        );
        assert_eq!(fs::read_to_string(&out2).unwrap(), "from the host\n", "{n}");
        let err = fails(&d, c, &["cp", &f, &format!("{ctr}:/robind/")]);
        assert!(err.contains("read-only"), "{n}: {err}");
        let err = fails(&d, c, &["cp", &f, &format!("{ctr}:/")]);
        assert!(
            err.contains("container rootfs is marked read-only"),
            "{n}: {err}"
        );
        assert!(
            !bind.join("f.txt").exists(),
            "{n}: written through a read-only bind"
        );
        // Another container sees both files in the volume.
        assert_eq!(
            d.ok(
                c,
                &[
                    "run",
                    "--rm",
                    "-v",
                    &format!("{vol}:/v"),
                    "busybox",
                    "cat",
                    "/v/running.txt",
                    "/v/stopped.txt"
                ]
            ),
            "into the volume\ninto the volume\n",
            "{n}"
        );
        d.ok(c, &["rm", "-f", &ctr]);
        d.ok(c, &["volume", "rm", &vol]);
    }
}
