//! End to end: images through a real `berth daemon`, driven by the `berth` CLI and by
//! the unmodified docker CLI: save and load round trips, archives of several images,
//! prune, list filters and formats, history, rmi and tag; and archives exchanged with a
//! real dockerd (Debian's docker.io) started by the test on private roots.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::dockerd::Dockerd;
use common::{Cli, Daemon};

/// The busybox rootfs tarball `import_busybox` made.
fn rootfs_tar(d: &Daemon) -> PathBuf {
    let tar = d.root.join("busybox.tar");
    assert!(tar.exists(), "{} missing", tar.display());
    tar
}

/// Imports the busybox rootfs as `tag` with `changes`; returns the image id.
fn import(d: &Daemon, cli: &Cli, tag: &str, changes: &[&str]) -> String {
    let tar = rootfs_tar(d);
    let mut args: Vec<&str> = vec!["import"];
    for c in changes {
        args.extend(["--change", c]);
    }
    let tar = tar.to_str().expect("utf-8 path");
    args.push(tar);
    if !tag.is_empty() {
        args.push(tag);
    }
    let id = d.ok(cli, &args).trim().to_string();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "{}: {id:?}",
        cli.name
    );
    id
}

fn image_id(d: &Daemon, cli: &Cli, name: &str) -> String {
    d.ok(cli, &["inspect", "-f", "{{.Id}}", name])
        .trim()
        .to_string()
}

fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).collect();
    v.sort();
    v
}

/// Runs `cli ARGS` with stdin from `input` (a file).
fn run_with_stdin(d: &Daemon, cli: &Cli, args: &[&str], input: &Path) -> Output {
    d.cmd(cli)
        .args(args)
        .stdin(File::open(input).expect("open input"))
        .output()
        .expect("run cli")
}

/// Runs `cli ARGS` with stdout to `file`.
fn run_to_file(d: &Daemon, cli: &Cli, args: &[&str], file: &Path) -> Output {
    d.cmd(cli)
        .args(args)
        .stdout(File::create(file).expect("create output"))
        .output()
        .expect("run cli")
}

/// Files in `dir` a save may have left behind (docker's and berth's temporary names).
fn temp_leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".berth_temp_") || n.starts_with(".docker_temp_"))
        .collect()
}

/// `manifest.json` of a `docker save` archive.
fn archive_manifest(archive: &Path) -> serde_json::Value {
    let o = Command::new("tar")
        .arg("-xOf")
        .arg(archive)
        .arg("manifest.json")
        .output()
        .expect("tar");
    assert!(
        o.status.success(),
        "no manifest.json in {}",
        archive.display()
    );
    serde_json::from_slice(&o.stdout).expect("manifest.json is JSON")
}

fn repo_tags(entry: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = entry["RepoTags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn save_rmi_load_round_trip() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for cli in Cli::all() {
        let c = &cli;
        let repo = format!("rt-{}", c.name);
        let (v1, v2) = (format!("{repo}:v1"), format!("{repo}:v2"));
        let id = import(&d, c, &v1, &[&format!("LABEL round={}", c.name)]);
        d.ok(c, &["tag", &v1, &v2]);
        let file = d.root.join(format!("{repo}.tar"));
        let f = file.to_str().expect("utf-8");
        assert_eq!(d.ok(c, &["save", "-o", f, &v1, &v2]), "", "{}", c.name);
        assert!(temp_leftovers(&d.root).is_empty(), "{}", c.name);
        let m = archive_manifest(&file);
        assert_eq!(m.as_array().map(Vec::len), Some(1), "{}: {m}", c.name);
        assert_eq!(repo_tags(&m[0]), [v1.clone(), v2.clone()], "{}", c.name);
        assert_eq!(m[0]["Config"], format!("{}.json", &id[7..]), "{}", c.name);

        let rmi = d.ok(c, &["rmi", "-f", &id]);
        for line in [
            format!("Untagged: {v1}"),
            format!("Untagged: {v2}"),
            format!("Deleted: {id}"),
        ] {
            assert!(rmi.lines().any(|l| l == line), "{}: {rmi}", c.name);
        }
        assert!(!d.run(c, &["inspect", &v1]).status.success());

        let loaded = d.ok(c, &["load", "-i", f]);
        assert_eq!(
            sorted_lines(&loaded),
            [format!("Loaded image: {v1}"), format!("Loaded image: {v2}")],
            "{}",
            c.name
        );
        assert_eq!(image_id(&d, c, &v1), id, "{}", c.name);
        assert_eq!(
            d.ok(c, &["inspect", "-f", "{{json .RepoTags}}", &id])
                .trim(),
            format!("[\"{v1}\",\"{v2}\"]"),
            "{}",
            c.name
        );
        assert_eq!(
            d.ok(c, &["run", "--rm", &v2, "echo", "loaded"]),
            "loaded\n",
            "{}",
            c.name
        );

        // Through stdout and stdin.
        let piped = d.root.join(format!("{repo}-piped.tar"));
        let o = run_to_file(&d, c, &["save", &v1], &piped);
        assert!(o.status.success(), "{}: {:?}", c.name, common::out_err(&o));
        let m = archive_manifest(&piped);
        assert_eq!(m.as_array().map(Vec::len), Some(1), "{}: {m}", c.name);
        assert_eq!(repo_tags(&m[0]), std::slice::from_ref(&v1), "{}", c.name);
        d.ok(c, &["rmi", &v1]);
        let o = run_with_stdin(&d, c, &["load", "-q"], &piped);
        let (so, se) = common::out_err(&o);
        assert!(o.status.success(), "{}: {se}", c.name);
        assert_eq!(so, format!("Loaded image: {v1}\n"), "{}", c.name);
        assert_eq!(image_id(&d, c, &v1), id, "{}", c.name);

        // Unknown names: a clear error naming the image, no file.
        let bad = d.root.join(format!("{repo}-bad.tar"));
        let o = d.run(
            c,
            &["save", "-o", bad.to_str().expect("utf-8"), &v1, "nosuch:1"],
        );
        let (_, se) = common::out_err(&o);
        assert!(!o.status.success(), "{}", c.name);
        assert!(se.contains("nosuch:1"), "{}: {se}", c.name);
        assert!(!bad.exists(), "{}", c.name);
        assert!(temp_leftovers(&d.root).is_empty(), "{}", c.name);
        let o = run_to_file(&d, c, &["save", "nosuch"], &bad);
        assert!(!o.status.success(), "{}", c.name);
        assert!(common::out_err(&o).1.contains("nosuch"), "{}", c.name);

        // Never an archive onto a terminal.
        let (shown, code) = under_pty(&d, &format!("{} save {v1}", c.path.display()));
        assert_eq!(code, Some(1), "{}: {shown}", c.name);
        assert!(
            shown.contains("cowardly refusing to save to a terminal. Use the -o flag or redirect"),
            "{}: {shown}",
            c.name
        );
    }
}

/// Runs `cmdline` under a pseudo-terminal (util-linux `script`); returns what the
/// terminal showed and the exit code.
fn under_pty(d: &Daemon, cmdline: &str) -> (String, Option<i32>) {
    let mut child = Command::new("script")
        .args(["-qefc", cmdline, "/dev/null"])
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.root.join("docker-config"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script");
    // Keep stdin open until the command ends: at EOF `script` would type ^D.
    let stdin = child.stdin.take();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    let o = child.wait_with_output().expect("script output");
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        status.and_then(|s| s.code()),
    )
}

#[test]
fn save_of_two_images_and_of_a_whole_repository() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for cli in Cli::all() {
        let c = &cli;
        let a = format!("two-{}-a:1", c.name);
        let b = format!("two-{}-b:1", c.name);
        let ida = import(&d, c, &a, &["LABEL which=a"]);
        let idb = import(&d, c, &b, &["LABEL which=b"]);
        let both = d.root.join(format!("two-{}.tar", c.name));
        let f = both.to_str().expect("utf-8");
        d.ok(c, &["save", "--output", f, &a, &b]);
        let m = archive_manifest(&both);
        let entries = m.as_array().expect("a list");
        assert_eq!(entries.len(), 2, "{}: {m}", c.name);
        let mut got: Vec<(String, Vec<String>)> = entries
            .iter()
            .map(|e| (e["Config"].as_str().unwrap_or("").to_string(), repo_tags(e)))
            .collect();
        got.sort();
        let mut want = vec![
            (format!("{}.json", &ida[7..]), vec![a.clone()]),
            (format!("{}.json", &idb[7..]), vec![b.clone()]),
        ];
        want.sort();
        assert_eq!(got, want, "{}", c.name);

        d.ok(c, &["rmi", &a, &b]);
        let loaded = d.ok(c, &["load", "-i", f]);
        assert_eq!(
            sorted_lines(&loaded),
            [format!("Loaded image: {a}"), format!("Loaded image: {b}")],
            "{}",
            c.name
        );
        assert_eq!(image_id(&d, c, &a), ida, "{}", c.name);
        assert_eq!(image_id(&d, c, &b), idb, "{}", c.name);

        // A repository without a tag: every tag of it.
        let repo = format!("two-{}-a", c.name);
        d.ok(c, &["tag", &a, &format!("{repo}:2")]);
        let whole = d.root.join(format!("whole-{}.tar", c.name));
        d.ok(
            c,
            &["image", "save", "-o", whole.to_str().expect("utf-8"), &repo],
        );
        let m = archive_manifest(&whole);
        assert_eq!(m.as_array().map(Vec::len), Some(1), "{}: {m}", c.name);
        assert_eq!(
            repo_tags(&m[0]),
            [a.clone(), format!("{repo}:2")],
            "{}",
            c.name
        );
    }
}

#[test]
fn prune_removes_dangling_and_then_unused_images() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for cli in Cli::all() {
        let c = &cli;
        let tag = format!("prune-{}:1", c.name);
        // The same tag imported twice: the first image is left without a name.
        let first = import(&d, c, &tag, &["LABEL n=1"]);
        let second = import(&d, c, &tag, &["LABEL n=2"]);
        let dangling = d.ok(
            c,
            &["images", "-q", "--no-trunc", "--filter", "dangling=true"],
        );
        assert_eq!(dangling, format!("{first}\n"), "{}", c.name);

        // Asked, and refused: nothing goes.
        let mut child = d
            .cmd(c)
            .args(["image", "prune"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"n\n")
            .expect("answer");
        let o = child.wait_with_output().expect("wait");
        assert!(o.status.success(), "{}", c.name);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ",
            "{}",
            c.name
        );
        assert_eq!(image_id(&d, c, &first), first, "{}", c.name);

        let out = d.ok(c, &["image", "prune", "-f"]);
        assert!(
            out.starts_with(&format!("Deleted Images:\ndeleted: {first}\n")),
            "{}: {out}",
            c.name
        );
        assert!(
            out.contains("\n\nTotal reclaimed space: "),
            "{}: {out}",
            c.name
        );
        assert_eq!(
            d.ok(c, &["images", "-q", "--filter", "dangling=true"]),
            "",
            "{}",
            c.name
        );
        assert!(!d.run(c, &["inspect", &first]).status.success());
        assert_eq!(image_id(&d, c, &tag), second, "{}", c.name);
        // Nothing dangling left.
        assert_eq!(
            d.ok(c, &["image", "prune", "-f"]),
            "Total reclaimed space: 0B\n",
            "{}",
            c.name
        );

        // -a with a label: unused labelled images go, tagged or not; one a container
        // uses stays, and so does everything without the label.
        let label = format!("LABEL sweep={}", c.name);
        let unused = import(
            &d,
            c,
            &format!("sweep-{}:1", c.name),
            &[&label, "LABEL n=1"],
        );
        let used = import(
            &d,
            c,
            &format!("sweep-{}:2", c.name),
            &[&label, "LABEL n=2"],
        );
        let ctr = d.ok(c, &["create", &format!("sweep-{}:2", c.name), "true"]);
        let out = d.ok(
            c,
            &[
                "image",
                "prune",
                "-a",
                "-f",
                "--filter",
                &format!("label=sweep={}", c.name),
            ],
        );
        assert!(
            out.starts_with(&format!(
                "Deleted Images:\nuntagged: sweep-{}:1\ndeleted: {unused}\n",
                c.name
            )),
            "{}: {out}",
            c.name
        );
        assert!(!out.contains(&used), "{}: {out}", c.name);
        assert_eq!(image_id(&d, c, &used), used, "{}", c.name);
        assert_eq!(image_id(&d, c, &second), second, "{}", c.name);
        assert!(!d.run(c, &["inspect", &unused]).status.success());
        d.ok(c, &["rm", ctr.trim()]);

        let o = d.run(c, &["image", "prune", "-f", "--filter", "until=someday"]);
        assert!(!o.status.success(), "{}", c.name);
        assert!(
            common::out_err(&o).1.contains("until=someday"),
            "{}: {:?}",
            c.name,
            common::out_err(&o)
        );
    }
}

#[test]
fn images_list_filters_and_formats() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let berth = Cli::berth();
    d.ok(&berth, &["tag", "busybox", "busybox:1.0"]);
    // Imports are stamped to the second: space them so before/since can tell them
    // apart.
    let later = || std::thread::sleep(Duration::from_millis(1100));
    later();
    let red = import(&d, &berth, "filt-x:1", &["LABEL color=red"]);
    later();
    let app = import(&d, &berth, "other/app:2", &["LABEL color=blue"]);
    later();
    let loose = import(&d, &berth, "", &["LABEL loose=yes"]);
    let bb = image_id(&d, &berth, "busybox");
    let fmt = ["--format", "{{.Repository}}:{{.Tag}}"];
    let mut outputs = Vec::new();
    for cli in Cli::all() {
        let c = &cli;
        let list = |extra: &[&str]| {
            let mut args = vec!["images"];
            args.extend_from_slice(&fmt);
            args.extend_from_slice(extra);
            sorted_lines(&d.ok(c, &args))
        };
        assert_eq!(
            list(&["--filter", "reference=busy*"]),
            ["busybox:1.0", "busybox:latest"],
            "{}",
            c.name
        );
        assert_eq!(
            list(&["--filter", "reference=busybox:*"]),
            ["busybox:1.0", "busybox:latest"],
            "{}",
            c.name
        );
        assert_eq!(list(&["--filter", "reference=busybox:1*"]), ["busybox:1.0"]);
        assert_eq!(list(&["--filter", "reference=*/*"]), ["other/app:2"]);
        assert_eq!(list(&["--filter", "label=color=red"]), ["filt-x:1"]);
        assert_eq!(
            list(&["--filter", "label=color"]),
            ["filt-x:1", "other/app:2"]
        );
        assert_eq!(list(&["--filter", "dangling=true"]), ["<none>:<none>"]);
        assert_eq!(list(&["--filter", "dangling=false"]).len(), 4, "{}", c.name);
        // No intermediate images to show: -a lists the same.
        assert_eq!(list(&["-a"]), list(&[]), "{}", c.name);
        assert_eq!(list(&[]).len(), 5, "{}", c.name);
        // A repository: all its tags.
        assert_eq!(
            list(&["busybox"]),
            ["busybox:1.0", "busybox:latest"],
            "{}",
            c.name
        );
        // Created in import order: busybox, filt-x, other/app, the loose one.
        assert_eq!(
            list(&["--filter", "since=filt-x:1", "--filter", "dangling=false"]),
            ["other/app:2"]
        );
        assert_eq!(
            list(&["--filter", "before=other/app:2"]),
            ["busybox:1.0", "busybox:latest", "filt-x:1"]
        );

        let q = d.ok(c, &["images", "-q", "--filter", "label=color"]);
        assert_eq!(
            sorted_lines(&q),
            sorted_lines(&format!("{}\n{}\n", &red[7..19], &app[7..19])),
            "{}",
            c.name
        );
        let q = d.ok(
            c,
            &["images", "-q", "--no-trunc", "--filter", "dangling=true"],
        );
        assert_eq!(q, format!("{loose}\n"), "{}", c.name);
        let digests = d.ok(c, &["images", "--digests", "busybox"]);
        let head: Vec<&str> = digests
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        assert_eq!(
            head,
            [
                "REPOSITORY",
                "TAG",
                "DIGEST",
                "IMAGE",
                "ID",
                "CREATED",
                "SIZE"
            ],
            "{}",
            c.name
        );
        let wide = d.ok(c, &["images", "--no-trunc", "busybox"]);
        assert!(wide.contains(&bb), "{}: {wide}", c.name);

        let o = d.run(c, &["images", "--filter", "bogus=1"]);
        assert!(!o.status.success(), "{}", c.name);
        assert!(
            common::out_err(&o).1.contains("invalid filter 'bogus'"),
            "{}",
            c.name
        );
        let o = d.run(c, &["images", "--filter", "reference=["]);
        assert!(!o.status.success(), "{}", c.name);

        outputs.push(d.ok(
            c,
            &[
                "images",
                "--format",
                "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}",
            ],
        ));
    }
    // Both CLIs print the same table.
    if let [a, b] = &outputs[..] {
        assert_eq!(a, b);
    }
}

#[test]
fn history_quiet_human_and_formats() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let berth = Cli::berth();
    let id = image_id(&d, &berth, "busybox");
    let mut tables = Vec::new();
    for cli in Cli::all() {
        let c = &cli;
        assert_eq!(
            d.ok(c, &["history", "-q", "busybox"]),
            format!("{}\n", &id[7..19]),
            "{}",
            c.name
        );
        assert_eq!(
            d.ok(c, &["image", "history", "-q", "--no-trunc", "busybox"]),
            format!("{id}\n"),
            "{}",
            c.name
        );
        let size = d.ok(c, &["inspect", "-f", "{{.Size}}", "busybox"]);
        assert_eq!(
            d.ok(
                c,
                &[
                    "history",
                    "-H=false",
                    "--format",
                    "{{.ID}}|{{.Size}}",
                    "busybox"
                ]
            ),
            format!("{}|{}", &id[7..19], size),
            "{}",
            c.name
        );
        let human = d.ok(c, &["history", "busybox"]);
        let head: Vec<&str> = human
            .lines()
            .next()
            .unwrap_or("")
            .split("  ")
            .filter(|s| !s.is_empty())
            .map(str::trim)
            .collect();
        assert_eq!(
            head,
            ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
            "{}: {human}",
            c.name
        );
        assert!(human.contains(" ago "), "{}: {human}", c.name);
        let o = d
            .cmd(c)
            .env("TZ", "UTC")
            .args(["history", "-H=false", "--no-trunc", "busybox"])
            .output()
            .expect("history");
        assert!(o.status.success(), "{}: {:?}", c.name, common::out_err(&o));
        let table = common::out_err(&o).0;
        assert!(table.starts_with("IMAGE"), "{}: {table}", c.name);
        assert!(table.contains(&id), "{}: {table}", c.name);
        assert!(table.contains(size.trim()), "{}: {table}", c.name);
        tables.push(table);

        let o = d.run(c, &["history", "nosuch"]);
        assert_eq!(o.status.code(), Some(1), "{}", c.name);
        assert!(
            common::out_err(&o)
                .1
                .contains("No such image: nosuch:latest"),
            "{}: {:?}",
            c.name,
            common::out_err(&o)
        );
    }
    // The non-human table is the same, byte for byte, from both CLIs.
    if let [a, b] = &tables[..] {
        assert_eq!(a, b);
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn rmi_force_no_prune_and_tag() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for cli in Cli::all() {
        let c = &cli;
        let (one, two) = (format!("rmi-{}:1", c.name), format!("rmi-{}:2", c.name));
        let id = import(&d, c, &one, &[&format!("LABEL rmi={}", c.name)]);
        let short = &id[7..19];
        d.ok(c, &["tag", &one, &two]);
        assert_eq!(image_id(&d, c, &two), id);

        let o = d.run(c, &["tag", "nosuch", "x"]);
        assert_eq!(o.status.code(), Some(1), "{}", c.name);
        assert!(
            common::out_err(&o)
                .1
                .contains("No such image: nosuch:latest"),
            "{}: {:?}",
            c.name,
            common::out_err(&o)
        );
        let o = d.run(c, &["tag", &one, "Bad/Name"]);
        assert!(!o.status.success(), "{}", c.name);

        let o = d.run(c, &["rmi", &id]);
        assert_eq!(o.status.code(), Some(1), "{}", c.name);
        assert!(
            common::out_err(&o)
                .1
                .contains(&format!("unable to delete {short} (must be forced) - image is referenced in multiple repositories")),
            "{}: {:?}",
            c.name,
            common::out_err(&o)
        );

        // A running container's image cannot go, forced or not.
        let ctr = d.ok(c, &["run", "-d", &one, "sleep", "100"]);
        let ctr = ctr.trim();
        for args in [vec!["rmi", &id], vec!["rmi", "-f", &id]] {
            let o = d.run(c, &args);
            assert_eq!(o.status.code(), Some(1), "{}", c.name);
            assert!(
                common::out_err(&o).1.contains(&format!(
                    "unable to delete {short} (cannot be forced) - image is being used by running container {}",
                    &ctr[..12]
                )),
                "{}: {args:?}: {:?}",
                c.name,
                common::out_err(&o)
            );
        }
        assert_eq!(d.ok(c, &["rmi", &two]), format!("Untagged: {two}\n"));
        let o = d.run(c, &["rmi", &one]);
        assert!(
            common::out_err(&o).1.contains("must force"),
            "{}: {:?}",
            c.name,
            common::out_err(&o)
        );
        // Forced by name while a container runs it: the name goes, the image stays.
        assert_eq!(d.ok(c, &["rmi", "-f", &one]), format!("Untagged: {one}\n"));
        assert!(
            d.ok(
                c,
                &["images", "-q", "--no-trunc", "--filter", "dangling=true"]
            )
            .contains(&id),
            "{}",
            c.name
        );
        d.ok(c, &["rm", "-f", ctr]);
        let out = d.ok(c, &["rmi", "--no-prune", &id]);
        assert!(out.contains(&format!("Deleted: {id}")), "{}: {out}", c.name);
        let o = d.run(c, &["rmi", &id, "busybox-nosuch"]);
        assert_eq!(o.status.code(), Some(1), "{}", c.name);
        assert!(
            common::out_err(&o).1.contains("busybox-nosuch"),
            "{}",
            c.name
        );
    }
}

// ---------------------------------------------------------------------------------
// Interoperability with a real dockerd.
// ---------------------------------------------------------------------------------

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn archives_move_between_berth_and_dockerd() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    if common::docker_cli().is_none() {
        eprintln!("note: no docker CLI found; skipping the interoperability test");
        return;
    }
    let Some(docker) = Dockerd::start() else {
        return;
    };
    let tar = rootfs_tar(&d);
    let tar = tar.to_str().expect("utf-8");

    // An image made by dockerd, saved by dockerd.
    let from_docker = "interop/from-docker:1";
    let docker_id = docker
        .ok(&[
            "import",
            "--change",
            "LABEL origin=docker",
            "--change",
            r#"CMD ["sh"]"#,
            tar,
            from_docker,
        ])
        .trim()
        .to_string();

    for cli in Cli::all() {
        let c = &cli;
        // berth save → dockerd load.
        let from_berth = format!("interop/from-berth-{}:1", c.name);
        let id = import(
            &d,
            c,
            &from_berth,
            &[&format!("LABEL origin=berth-{}", c.name)],
        );
        let archive = d.root.join(format!("from-berth-{}.tar", c.name));
        let a = archive.to_str().expect("utf-8");
        d.ok(c, &["save", "-o", a, &from_berth, "busybox"]);
        let loaded = docker.ok(&["load", "-i", a]);
        assert!(
            loaded.contains(&format!("Loaded image: {from_berth}")),
            "{}: {loaded}",
            c.name
        );
        assert_eq!(
            docker.ok(&["inspect", "-f", "{{.Id}}", &from_berth]).trim(),
            id,
            "{}: dockerd sees another image id",
            c.name
        );
        assert_eq!(
            docker
                .ok(&["inspect", "-f", "{{json .RootFS.Layers}}", &from_berth])
                .trim(),
            d.ok(
                c,
                &["inspect", "-f", "{{json .RootFS.Layers}}", &from_berth]
            )
            .trim(),
            "{}",
            c.name
        );
        assert_eq!(
            docker.ok(&["inspect", "-f", "{{.Id}}", "busybox"]).trim(),
            image_id(&d, c, "busybox"),
            "{}",
            c.name
        );

        // dockerd save (its image and ours, one archive) → berth load. The two share
        // their layer, which dockerd writes once, with a symlink for the other image
        // that may come before or after it.
        let back = d.root.join(format!("from-docker-{}.tar", c.name));
        let b = back.to_str().expect("utf-8");
        docker.ok(&["save", "-o", b, from_docker, &from_berth]);
        let listing = Command::new("tar")
            .arg("-tvf")
            .arg(&back)
            .output()
            .expect("tar");
        assert!(
            String::from_utf8_lossy(&listing.stdout)
                .lines()
                .any(|l| l.starts_with('l') && l.contains("layer.tar")),
            "dockerd wrote the shared layer twice: {}",
            String::from_utf8_lossy(&listing.stdout)
        );
        d.ok(c, &["rmi", &from_berth]);
        let loaded = d.ok(c, &["load", "-i", b]);
        assert_eq!(
            sorted_lines(&loaded),
            [
                format!("Loaded image: {from_berth}"),
                format!("Loaded image: {from_docker}")
            ],
            "{}",
            c.name
        );
        assert_eq!(image_id(&d, c, from_docker), docker_id, "{}", c.name);
        assert_eq!(image_id(&d, c, &from_berth), id, "{}", c.name);
        assert_eq!(
            d.ok(
                c,
                &["inspect", "-f", "{{.Config.Labels.origin}}", from_docker]
            ),
            "docker\n"
        );
        assert_eq!(
            d.ok(c, &["run", "--rm", from_docker, "echo", "made by dockerd"]),
            "made by dockerd\n",
            "{}",
            c.name
        );
        d.ok(c, &["rmi", from_docker]);
    }
}
