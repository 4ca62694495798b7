//! End to end: a container's filesystem — `diff`, `commit`, `export` — through both
//! the `berth` CLI and the unmodified docker CLI (the seed documents' layering
//! walkthrough).

mod common;

use common::{wait_for, Cli};

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn layering_walkthrough_diff_commit_history_export() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for cli in Cli::all() {
        let c = &cli;
        let n = c.name;
        let ctr1 = format!("lay1-{n}");
        let img1 = format!("layered-{n}:one");
        let ctr2 = format!("lay2-{n}");
        let img2 = format!("layered-{n}:two");

        d.ok(
            c,
            &[
                "run",
                "-d",
                "--name",
                &ctr1,
                "busybox",
                "sh",
                "-c",
                "echo a > /dock-a; echo b > /dock-b; sleep 100",
            ],
        );
        // Only what the container wrote: the runtime's mount points are not changes.
        let want = "A /dock-a\nA /dock-b\n";
        assert!(
            wait_for(10, || d.ok(c, &["diff", &ctr1]) == want),
            "{n}: diff {:?}",
            d.ok(c, &["diff", &ctr1])
        );
        let id1 = d.ok(
            c,
            &[
                "commit",
                "-a",
                "Ann Author <ann@example.com>",
                "-m",
                "two files",
                "--change",
                "ENV DEBUG TRUE",
                &ctr1,
                &img1,
            ],
        );
        assert!(id1.trim().starts_with("sha256:"), "{n}: {id1:?}");
        assert_eq!(
            d.ok(
                c,
                &[
                    "run",
                    "--rm",
                    &img1,
                    "sh",
                    "-c",
                    "cat /dock-a /dock-b; echo $DEBUG"
                ]
            ),
            "a\nb\nTRUE\n",
            "{n}"
        );
        assert_eq!(
            d.ok(c, &["inspect", "-f", "{{.Author}}", &img1]),
            "Ann Author <ann@example.com>\n",
            "{n}"
        );
        assert_eq!(
            d.ok(c, &["inspect", "-f", "{{.Comment}}", &img1]),
            "two files\n",
            "{n}"
        );

        d.ok(
            c,
            &[
                "run",
                "-d",
                "--name",
                &ctr2,
                &img1,
                "sh",
                "-c",
                "echo c > /dock-a; echo new > /dock-new; rm /dock-b; sleep 100",
            ],
        );
        let want = "C /dock-a\nD /dock-b\nA /dock-new\n";
        assert!(
            wait_for(10, || d.ok(c, &["diff", &ctr2]) == want),
            "{n}: diff {:?}",
            d.ok(c, &["diff", &ctr2])
        );
        d.ok(c, &["commit", &ctr2, &img2]);
        assert_eq!(
            d.ok(
                c,
                &[
                    "run",
                    "--rm",
                    &img2,
                    "sh",
                    "-c",
                    "cat /dock-a /dock-new; test -e /dock-b || echo gone"
                ]
            ),
            "c\nnew\ngone\n",
            "{n}: the deletion survives in the new image"
        );

        // History lists the layers; the base's first layer is shared.
        let hist = d.ok(c, &["history", "--format", "{{.Comment}}", &img2]);
        assert!(hist.contains("two files"), "{n}: {hist:?}");
        assert_eq!(hist.lines().count(), 3, "{n}: {hist:?}");
        let layers = |img: &str| {
            d.ok(
                c,
                &[
                    "inspect",
                    "-f",
                    "{{range .RootFS.Layers}}{{.}} {{end}}",
                    img,
                ],
            )
        };
        let (l0, l1, l2) = (layers("busybox"), layers(&img1), layers(&img2));
        let first = |l: &str| l.split_whitespace().next().unwrap_or_default().to_string();
        assert_eq!(first(&l0), first(&l1), "{n}");
        assert_eq!(first(&l0), first(&l2), "{n}");
        assert_eq!(l2.split_whitespace().count(), 3, "{n}: {l2}");

        // export: to a file and to stdout, the same tar with the container's files.
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("ctr.tar");
        d.ok(c, &["export", "-o", file.to_str().expect("utf-8"), &ctr2]);
        let listing = std::process::Command::new("tar")
            .arg("-tf")
            .arg(&file)
            .output()
            .expect("tar");
        let names = String::from_utf8_lossy(&listing.stdout).into_owned();
        assert!(
            names
                .lines()
                .any(|l| l.trim_start_matches("./") == "dock-new"),
            "{n}: {names}"
        );
        assert!(
            !names
                .lines()
                .any(|l| l.trim_start_matches("./") == "dock-b"),
            "{n}: {names}"
        );
        let out = d.run(c, &["export", &ctr2]);
        assert!(out.status.success(), "{n}");
        assert_eq!(
            out.stdout.len() as u64,
            std::fs::metadata(&file).expect("stat").len(),
            "{n}"
        );

        // Bad input: a missing container names itself, exits non-zero, writes nothing.
        let bad = dir.path().join("none.tar");
        let o = d.run(
            c,
            &["export", "-o", bad.to_str().expect("utf-8"), "no-such-ctr"],
        );
        assert!(!o.status.success(), "{n}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("no-such-ctr"),
            "{n}"
        );
        assert!(!bad.exists(), "{n}");
        let o = d.run(c, &["commit", "--change", "BOGUS x", &ctr2, "bogus-img"]);
        assert!(!o.status.success(), "{n}: a bad --change is refused");

        d.ok(c, &["rm", "-f", &ctr1, &ctr2]);
        d.ok(c, &["rmi", &img2, &img1]);
    }
}

/// export → import gives back the container's files; `system df` counts what the
/// container wrote.
#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn export_import_round_trip_and_df_sizes() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for cli in Cli::all() {
        let c = &cli;
        let n = c.name;
        let ctr = format!("rt-{n}");
        let img = format!("imported-{n}:rt");
        d.ok(
            c,
            &[
                "run", "-d", "--name", &ctr, "busybox", "sh", "-c",
                "dd if=/dev/zero of=/big bs=1024 count=3072 2>/dev/null; echo x > /marker; sleep 1000",
            ],
        );
        assert!(
            wait_for(10, || d
                .run(c, &["exec", &ctr, "test", "-e", "/marker"])
                .status
                .success()),
            "{n}"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("rt.tar");
        d.ok(c, &["export", "-o", file.to_str().expect("utf-8"), &ctr]);
        let id = d.ok(
            c,
            &[
                "import",
                "-m",
                "round trip",
                file.to_str().expect("utf-8"),
                &img,
            ],
        );
        assert!(id.trim().starts_with("sha256:"), "{n}: {id}");
        assert_eq!(
            d.ok(
                c,
                &["run", "--rm", &img, "sh", "-c", "cat /marker; wc -c < /big"]
            ),
            "x\n3145728\n",
            "{n}"
        );
        // The container's 3 MiB (3.15 MB, plus its directories and small files) show
        // in `system df -v`.
        let df = d.ok(c, &["system", "df", "-v"]);
        let row = df
            .lines()
            .find(|l| l.contains(&ctr))
            .unwrap_or_else(|| panic!("{n}: no row for {ctr} in\n{df}"));
        assert!(
            row.contains(" 3.15MB") || row.contains(" 3.16MB"),
            "{n}: {row}"
        );
        let summary = d.ok(c, &["system", "df"]);
        assert!(
            summary.lines().any(|l| l.starts_with("Containers")),
            "{n}: {summary}"
        );
        d.ok(c, &["rm", "-f", &ctr]);
        d.ok(c, &["rmi", &img]);
    }
}
