//! End to end: bind mounts, named and anonymous volumes, tmpfs mounts and
//! `--volumes-from`, through both the `berth` CLI and the unmodified docker CLI.

mod common;

use std::path::Path;

use common::{out_err, Cli, Daemon};

/// Names of the volumes the daemon lists.
fn volume_names(d: &Daemon, c: &Cli) -> Vec<String> {
    d.ok(c, &["volume", "ls", "-q"])
        .lines()
        .map(str::to_string)
        .collect()
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_mountpoint(p: &Path) -> bool {
    let want = p.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(want.as_ref()))
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn bind_mounts_read_write_and_read_only() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for cli in Cli::all() {
        let c = &cli;
        let n = c.name;
        let host = d.root.join(format!("bind-{n}"));
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("hello"), "from host\n").unwrap();
        let rw = format!("{}:/mnt", host.display());
        assert_eq!(
            d.ok(
                c,
                &["run", "--rm", "-v", &rw, "busybox", "cat", "/mnt/hello"]
            ),
            "from host\n",
            "{n}"
        );
        d.ok(
            c,
            &[
                "run",
                "--rm",
                "-v",
                &rw,
                "busybox",
                "sh",
                "-c",
                "echo from ctr > /mnt/out",
            ],
        );
        assert_eq!(
            std::fs::read_to_string(host.join("out")).unwrap(),
            "from ctr\n",
            "{n}"
        );

        // Read-only, by -v and by --mount: writes fail, the host file is unchanged.
        let ro = format!("{}:/mnt:ro", host.display());
        let mount_ro = format!("type=bind,src={},dst=/mnt,readonly", host.display());
        for flags in [["-v", ro.as_str()], ["--mount", mount_ro.as_str()]] {
            let o = d.run(
                c,
                &[
                    "run",
                    "--rm",
                    flags[0],
                    flags[1],
                    "busybox",
                    "sh",
                    "-c",
                    "echo changed > /mnt/hello",
                ],
            );
            let (_, err) = out_err(&o);
            assert!(!o.status.success(), "{n} {flags:?}: a write succeeded");
            assert!(
                err.contains("Read-only file system"),
                "{n} {flags:?}: {err}"
            );
            assert_eq!(
                std::fs::read_to_string(host.join("hello")).unwrap(),
                "from host\n",
                "{n} {flags:?}"
            );
        }

        // Read-only all the way down: a mount below the bound directory is too.
        let sub = host.join("sub");
        std::fs::create_dir_all(&sub).unwrap();
        if !is_mountpoint(&sub) {
            let st = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "tmpfs"])
                .arg(&sub)
                .status()
                .unwrap();
            assert!(st.success());
        }
        let o = d.run(
            c,
            &[
                "run",
                "--rm",
                "-v",
                &ro,
                "busybox",
                "sh",
                "-c",
                "echo x > /mnt/sub/f",
            ],
        );
        assert!(
            !o.status.success(),
            "{n}: the submount of a ro bind is writable"
        );
        assert!(out_err(&o).1.contains("Read-only file system"), "{n}");

        // -v makes a missing host directory; --mount refuses it.
        let made = d.root.join(format!("made-{n}/deep"));
        let v = format!("{}:/made", made.display());
        d.ok(c, &["run", "--rm", "-v", &v, "busybox", "true"]);
        assert!(made.is_dir(), "{n}: -v did not create {}", made.display());
        let missing = d.root.join(format!("missing-{n}"));
        let m = format!("type=bind,source={},target=/x", missing.display());
        let o = d.run(c, &["run", "--rm", "--mount", &m, "busybox", "true"]);
        assert!(!o.status.success(), "{n}");
        let (_, err) = out_err(&o);
        assert!(
            err.contains(&format!(
                "bind source path does not exist: {}",
                missing.display()
            )),
            "{n}: {err}"
        );
        assert!(!missing.exists(), "{n}");

        // inspect shows the mount as docker does; diff leaves its mount point out.
        let ctr = format!("binder-{n}");
        let newdir = format!("{}:/newdir/inner:ro,rslave", host.display());
        d.ok(
            c,
            &[
                "run", "-d", "--name", &ctr, "-v", &newdir, "busybox", "sleep", "100",
            ],
        );
        let mounts = d.ok(
            c,
            &[
                "inspect",
                "-f",
                "{{range .Mounts}}{{.Type}}|{{.Source}}|{{.Destination}}|{{.Mode}}|{{.RW}}|{{.Propagation}}{{end}}",
                &ctr,
            ],
        );
        assert_eq!(
            mounts.trim(),
            format!(
                "bind|{}|/newdir/inner|ro,rslave|false|rslave",
                host.display()
            ),
            "{n}"
        );
        let diff = d.ok(c, &["diff", &ctr]);
        assert!(
            !diff.contains("/newdir"),
            "{n}: diff shows the mount point: {diff}"
        );
        d.ok(c, &["rm", "-f", &ctr]);
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn named_volumes_persist_across_containers_and_daemon_restarts() {
    let Some(mut d) = common::daemon_with_busybox() else {
        return;
    };
    for cli in Cli::all() {
        let c = &cli;
        let n = c.name;
        let vol = format!("data-{n}");
        assert_eq!(
            d.ok(c, &["volume", "create", "--label", "tier=db", &vol]),
            format!("{vol}\n")
        );
        let v = format!("{vol}:/data");
        d.ok(
            c,
            &[
                "run",
                "--rm",
                "-v",
                &v,
                "busybox",
                "sh",
                "-c",
                "echo kept > /data/f",
            ],
        );
        assert_eq!(
            d.ok(c, &["run", "--rm", "-v", &v, "busybox", "cat", "/data/f"]),
            "kept\n",
            "{n}"
        );
        let mp = d.ok(
            c,
            &[
                "volume",
                "inspect",
                "-f",
                "{{.Mountpoint}} {{.Labels.tier}} {{.Driver}} {{.Scope}}",
                &vol,
            ],
        );
        let data_root = d.root.join("data");
        assert_eq!(
            mp.trim(),
            format!("{}/volumes/{vol}/_data db local local", data_root.display()),
            "{n}"
        );
        // Created on use, with docker's "z" mode.
        let auto = format!("auto-{n}");
        let ctr = format!("auto-user-{n}");
        let v = format!("{auto}:/a");
        d.ok(c, &["create", "--name", &ctr, "-v", &v, "busybox", "true"]);
        assert!(volume_names(&d, c).contains(&auto), "{n}");
        let m = d.ok(
            c,
            &[
                "inspect",
                "-f",
                "{{range .Mounts}}{{.Type}} {{.Name}} {{.Driver}} {{.Mode}} {{.RW}}{{end}}",
                &ctr,
            ],
        );
        assert_eq!(m.trim(), format!("volume {auto} local z true"), "{n}");
        // Docker's name rule.
        let o = d.run(c, &["volume", "create", "x@y"]);
        assert!(!o.status.success());
        assert!(
            out_err(&o)
                .1
                .contains("\"x@y\" includes invalid characters for a local volume name"),
            "{n}: {:?}",
            out_err(&o)
        );
    }

    d.stop();
    d.spawn(&[]);
    for cli in Cli::all() {
        let c = &cli;
        let n = c.name;
        let vol = format!("data-{n}");
        let v = format!("{vol}:/data");
        assert_eq!(
            d.ok(c, &["run", "--rm", "-v", &v, "busybox", "cat", "/data/f"]),
            "kept\n",
            "{n}: after a restart"
        );
        assert_eq!(
            d.ok(c, &["volume", "inspect", "-f", "{{.Labels.tier}}", &vol]),
            "db\n"
        );
        // The reference of the created container survived the restart too.
        let auto = format!("auto-{n}");
        let o = d.run(c, &["volume", "rm", &auto]);
        assert!(
            !o.status.success(),
            "{n}: a volume in use was removed after a restart"
        );
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn in_use_volumes_rm_v_prune_and_filters() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .saturating_sub(1)
        .to_string();
    for cli in Cli::all() {
        let c = &cli;
        let n = c.name;
        let busy = format!("busy-{n}");
        let holder = format!("holder-{n}");
        let v = format!("{busy}:/b");
        let id = d.ok(
            c,
            &["create", "--name", &holder, "-v", &v, "busybox", "true"],
        );
        let id = id.trim();
        let o = d.run(c, &["volume", "rm", &busy]);
        assert!(!o.status.success(), "{n}: removed a volume in use");
        let (_, err) = out_err(&o);
        assert!(
            err.contains(&format!("remove {busy}: volume is in use - [{id}]")),
            "{n}: {err}"
        );
        assert!(
            !d.run(c, &["volume", "rm", "-f", &busy]).status.success(),
            "{n}: -f removed it"
        );
        d.ok(c, &["rm", &holder]);
        assert_eq!(d.ok(c, &["volume", "rm", &busy]), format!("{busy}\n"));
        assert!(!volume_names(&d, c).contains(&busy));
        // Missing: an error, but not with -f.
        assert!(!d.run(c, &["volume", "rm", &busy]).status.success());
        d.ok(c, &["volume", "rm", "-f", &busy]);

        // Anonymous volumes: rm -v and --rm take them along; plain rm keeps them.
        let anon = format!("anon-{n}");
        d.ok(
            c,
            &[
                "create", "--name", &anon, "-v", "/scratch", "busybox", "true",
            ],
        );
        let name = d.ok(
            c,
            &["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", &anon],
        );
        let name = name.trim().to_string();
        assert!(is_hex64(&name), "{n}: {name:?}");
        assert!(volume_names(&d, c).contains(&name));
        let mode = d.ok(
            c,
            &[
                "inspect",
                "-f",
                "{{range .Mounts}}[{{.Mode}}]{{end}}",
                &anon,
            ],
        );
        assert_eq!(mode.trim(), "[]", "{n}");
        d.ok(c, &["rm", "-v", &anon]);
        assert!(
            !volume_names(&d, c).contains(&name),
            "{n}: rm -v left {name}"
        );
        d.ok(
            c,
            &[
                "create", "--name", &anon, "-v", "/scratch", "busybox", "true",
            ],
        );
        let kept = d.ok(
            c,
            &["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", &anon],
        );
        d.ok(c, &["rm", &anon]);
        assert!(
            volume_names(&d, c).contains(&kept.trim().to_string()),
            "{n}"
        );
        d.ok(c, &["volume", "rm", kept.trim()]);
        let before = volume_names(&d, c);
        d.ok(c, &["run", "--rm", "-v", "/tmpanon", "busybox", "true"]);
        assert_eq!(
            volume_names(&d, c),
            before,
            "{n}: --rm left its anonymous volume"
        );

        // ls filters and formats.
        let p1 = format!("p1-{n}");
        let p2 = format!("p2-{n}");
        d.ok(c, &["volume", "create", "--label", "keep=no", &p1]);
        d.ok(c, &["volume", "create", "--label", "keep=yes", &p2]);
        let user = format!("p-user-{n}");
        let v = format!("{p2}:/p");
        d.ok(c, &["create", "--name", &user, "-v", &v, "busybox", "true"]);
        let ls = |f: &[&str]| {
            let mut args = vec!["volume", "ls", "-q"];
            for x in f {
                args.push("--filter");
                args.push(x);
            }
            d.ok(c, &args)
        };
        assert_eq!(ls(&["label=keep=no"]), format!("{p1}\n"), "{n}");
        assert_eq!(ls(&[&format!("name=p2-{n}")]), format!("{p2}\n"), "{n}");
        assert!(ls(&["dangling=true"]).contains(&p1), "{n}");
        assert!(!ls(&["dangling=true"]).contains(&p2), "{n}");
        assert!(ls(&["dangling=false"]).contains(&p2), "{n}");
        assert!(!d
            .run(c, &["volume", "ls", "--filter", "bogus=1"])
            .status
            .success());
        let table = d.ok(c, &["volume", "ls", "--filter", "label=keep"]);
        assert_eq!(
            table
                .lines()
                .next()
                .map(|l| l.split_whitespace().collect::<Vec<_>>()),
            Some(vec!["DRIVER", "VOLUME", "NAME"]),
            "{n}: {table}"
        );
        assert!(table.contains(&format!("local     {p1}")), "{n}: {table}");
        assert_eq!(
            d.ok(
                c,
                &[
                    "volume",
                    "ls",
                    "--filter",
                    "label=keep=yes",
                    "--format",
                    "{{.Name}}:{{.Labels}}"
                ]
            ),
            format!("{p2}:keep=yes\n")
        );
        assert_eq!(
            d.ok(
                c,
                &[
                    "ps",
                    "-a",
                    "--filter",
                    &format!("volume={p2}"),
                    "--format",
                    "{{.Names}}"
                ]
            ),
            format!("{user}\n")
        );

        // Prune: by label, then every unused one (API 1.41 prunes named volumes too).
        let out = d.ok(c, &["volume", "prune", "-f", "--filter", "label=keep=no"]);
        assert!(
            out.contains("Deleted Volumes:") && out.contains(&p1),
            "{n}: {out}"
        );
        assert!(out.contains("Total reclaimed space:"), "{n}: {out}");
        assert!(!volume_names(&d, c).contains(&p1));
        let out = d.ok(c, &["volume", "prune", "-f"]);
        assert!(!out.contains(&p2), "{n}: pruned a volume in use: {out}");
        d.ok(c, &["rm", &user]);
        let out = d.ok(c, &["volume", "prune", "-f"]);
        assert!(out.contains(&p2), "{n}: {out}");
        assert!(
            volume_names(&d, c).is_empty(),
            "{n}: {:?}",
            volume_names(&d, c)
        );
        // What happened to the volumes, as events.
        let busy = format!("busy-{n}");
        let until = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1)
        .to_string();
        let events = d.ok(
            c,
            &[
                "events",
                "--since",
                &since,
                "--until",
                &until,
                "--filter",
                "type=volume",
                "--format",
                "{{.Action}} {{.Actor.ID}}",
            ],
        );
        for want in [
            format!("create {busy}"),
            format!("destroy {busy}"),
            format!("destroy {p2}"),
        ] {
            assert!(
                events.lines().any(|l| l == want),
                "{n}: no {want:?} in\n{events}"
            );
        }
        assert!(
            events.lines().any(|l| l.starts_with("mount ")),
            "{n}: {events}"
        );
        assert!(
            events.lines().any(|l| l.starts_with("unmount ")),
            "{n}: {events}"
        );
        assert!(
            events.lines().any(|l| l.starts_with("prune")),
            "{n}: {events}"
        );
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn anonymous_volumes_are_filled_from_the_image_and_stay_out_of_commits() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for cli in Cli::all() {
        let c = &cli;
        let n = c.name;
        let src = format!("seed-{n}");
        let img = format!("withvol-{n}:1");
        d.ok(
            c,
            &[
                "run", "--name", &src, "busybox", "sh", "-c",
                "mkdir -p /data && echo seed > /data/file && chown 65534:65534 /data/file && chmod 640 /data/file",
            ],
        );
        d.ok(c, &["commit", "--change", "VOLUME /data", &src, &img]);
        assert_eq!(
            d.ok(c, &["inspect", "-f", "{{json .Config.Volumes}}", &img]),
            "{\"/data\":{}}\n"
        );
        let user = format!("vuser-{n}");
        let out = d.ok(
            c,
            &[
                "run",
                "--name",
                &user,
                &img,
                "sh",
                "-c",
                "cat /data/file; stat -c '%u %a' /data/file; echo more > /data/new",
            ],
        );
        assert_eq!(out, "seed\n65534 640\n", "{n}: copy-up");
        let m = d.ok(
            c,
            &[
                "inspect",
                "-f",
                "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.Driver}} {{.RW}}{{end}}",
                &user,
            ],
        );
        let f: Vec<&str> = m.split_whitespace().collect();
        assert_eq!(f.len(), 5, "{n}: {m}");
        assert!(
            f[0] == "volume"
                && is_hex64(f[1])
                && f[2] == "/data"
                && f[3] == "local"
                && f[4] == "true",
            "{n}: {m}"
        );
        // What went into the volume is not a change of the container.
        let diff = d.ok(c, &["diff", &user]);
        assert!(!diff.contains("/data"), "{n}: {diff}");
        let export = d.run(c, &["export", &user]);
        assert!(export.status.success());
        let tar = String::from_utf8_lossy(&export.stdout);
        assert!(
            !tar.contains("data/new"),
            "{n}: export holds the volume's file"
        );
        // The second start finds the volume full and copies nothing over it: what
        // the container wrote is still there.
        d.ok(c, &["start", &user]);
        assert_eq!(d.ok(c, &["wait", &user]), "0\n", "{n}");
        let vol = f[1].to_string();
        let data = d.root.join(format!("data/volumes/{vol}/_data"));
        assert_eq!(
            std::fs::read_to_string(data.join("new")).unwrap(),
            "more\n",
            "{n}"
        );
        assert_eq!(
            std::fs::read_to_string(data.join("file")).unwrap(),
            "seed\n",
            "{n}"
        );
        // volume-nocopy: an empty volume.
        assert_eq!(
            d.ok(
                c,
                &[
                    "run",
                    "--rm",
                    "--mount",
                    "type=volume,dst=/data,volume-nocopy",
                    &img,
                    "ls",
                    "-A",
                    "/data"
                ]
            ),
            "",
            "{n}"
        );
        // A named volume over the image's directory is filled too.
        let v = format!("named-cu-{n}:/data");
        assert_eq!(
            d.ok(c, &["run", "--rm", "-v", &v, &img, "cat", "/data/file"]),
            "seed\n",
            "{n}"
        );
        // ... and a read-only rootfs keeps volumes writable.
        d.ok(
            c,
            &[
                "run",
                "--rm",
                "--read-only",
                "-v",
                &v,
                &img,
                "sh",
                "-c",
                "echo w > /data/w",
            ],
        );
        d.ok(c, &["rm", "-v", &user, &src]);
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn tmpfs_mounts_local_driver_options_and_volumes_from() {
    let Some(d) = common::daemon_with_busybox() else {
        return;
    };
    for cli in Cli::all() {
        let c = &cli;
        let n = c.name;
        let line = |args: &[&str]| d.ok(c, args);
        let out = line(&[
            "run",
            "--rm",
            "--mount",
            "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770",
            "busybox",
            "sh",
            "-c",
            "grep ' /t ' /proc/mounts; stat -c %a /t",
        ]);
        assert!(out.starts_with("tmpfs /t tmpfs"), "{n}: {out}");
        assert!(
            out.contains("size=1024k") && out.contains("mode=1770"),
            "{n}: {out}"
        );
        assert!(out.ends_with("1770\n"), "{n}: {out}");
        let out = line(&[
            "run",
            "--rm",
            "--tmpfs",
            "/t2:size=2m",
            "busybox",
            "grep",
            " /t2 ",
            "/proc/mounts",
        ]);
        assert!(out.contains("size=2048k"), "{n}: {out}");

        // A local volume backed by a tmpfs: mounted on the host while in use only.
        let tv = format!("tv-{n}");
        line(&[
            "volume",
            "create",
            "-o",
            "type=tmpfs",
            "-o",
            "device=tmpfs",
            "-o",
            "o=size=2m",
            &tv,
        ]);
        let v = format!("{tv}:/tv");
        let out = line(&[
            "run",
            "--rm",
            "-v",
            &v,
            "busybox",
            "grep",
            " /tv ",
            "/proc/mounts",
        ]);
        assert!(
            out.contains("tmpfs") && out.contains("size=2048k"),
            "{n}: {out}"
        );
        let data = d.root.join(format!("data/volumes/{tv}/_data"));
        assert!(
            !is_mountpoint(&data),
            "{n}: the tmpfs of {tv} stayed mounted"
        );
        let opts = line(&[
            "volume",
            "inspect",
            "-f",
            "{{.Options.type}} {{.Options.o}}",
            &tv,
        ]);
        assert_eq!(opts, "tmpfs size=2m\n");
        // A bind volume of a host directory.
        let dir = d.root.join(format!("bindvol-{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("f"), "bound\n").unwrap();
        let bv = format!("bv-{n}");
        let dev = format!("device={}", dir.display());
        line(&[
            "volume",
            "create",
            "-o",
            "type=none",
            "-o",
            "o=bind",
            "-o",
            &dev,
            &bv,
        ]);
        let v = format!("{bv}:/bv");
        assert_eq!(
            line(&["run", "--rm", "-v", &v, "busybox", "cat", "/bv/f"]),
            "bound\n"
        );
        let o = d.run(
            c,
            &["volume", "create", "-o", "bogus=1", &format!("bad-{n}")],
        );
        assert!(
            !o.status.success() && out_err(&o).1.contains("invalid option: \"bogus\""),
            "{n}"
        );

        // --volumes-from: the other container's volumes and binds, read-only on demand.
        let host = d.root.join(format!("vf-host-{n}"));
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("h"), "host side\n").unwrap();
        let vsrc = format!("vf-src-{n}");
        let vol = format!("vfdata-{n}");
        let a = format!("{vol}:/shared");
        let b = format!("{}:/hostdir", host.display());
        let id = line(&[
            "create", "--name", &vsrc, "-v", &a, "-v", &b, "busybox", "true",
        ]);
        let out = line(&[
            "run",
            "--rm",
            "--volumes-from",
            &vsrc,
            "busybox",
            "sh",
            "-c",
            "echo hi > /shared/x; cat /hostdir/h /shared/x",
        ]);
        assert_eq!(out, "host side\nhi\n", "{n}");
        let ro = format!("{vsrc}:ro");
        let o = d.run(
            c,
            &[
                "run",
                "--rm",
                "--volumes-from",
                &ro,
                "busybox",
                "sh",
                "-c",
                "echo no > /shared/y",
            ],
        );
        assert!(!o.status.success(), "{n}: --volumes-from :ro was writable");
        let o = d.run(c, &["volume", "rm", &vol]);
        assert!(out_err(&o).1.contains(id.trim()), "{n}: {:?}", out_err(&o));
        let df = line(&["system", "df", "-v"]);
        assert!(
            df.contains("Local Volumes space usage:") && df.contains(&vol),
            "{n}: {df}"
        );
        d.ok(c, &["rm", &vsrc]);
        d.ok(c, &["volume", "rm", &vol, &tv, &bv]);
    }
}
