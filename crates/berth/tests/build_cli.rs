//! `berth build` beside the docker CLI's classic builder (`DOCKER_BUILDKIT=0 docker
//! build`), both against a recording fake daemon (berth-client's scripted server):
//! for the same context and flags they must send the same query, the same
//! credentials and the same context entries (names, types, modes, owners, sizes,
//! times, contents; a Dockerfile from outside the context has a random name, which
//! may differ), and show the same canned stream the same way, exit status included.
//! Skipped, with a note, where the docker CLI is not installed; no root needed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;
use berth_api_types::build::BuildOptions;
use berth_client::fake::{FakeServer, Recorded, Reply};
use serde_json::{json, Value};

use common::Cli;

/// What one CLI sent and showed.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    request: Recorded,
}

const ID: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn canned(lines: &[Value]) -> Vec<u8> {
    lines
        .iter()
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes()
}

/// A successful build as dockerd streams it, a pull inside.
fn ok_stream() -> Vec<u8> {
    canned(&[
        json!({"stream": "Step 1/2 : FROM busybox\n"}),
        json!({"status": "Pulling from library/busybox", "id": "latest"}),
        json!({"status": "Pulling fs layer", "progressDetail": {}, "id": "0123abcd"}),
        json!({"status": "Downloading", "progressDetail": {"current": 5, "total": 10}, "progress": "[=====>     ]       5B/10B", "id": "0123abcd"}),
        json!({"status": "Pull complete", "progressDetail": {}, "id": "0123abcd"}),
        json!({"status": "Digest: sha256:abcd"}),
        json!({"stream": " ---> 0123456789ab\n"}),
        json!({"stream": "Step 2/2 : COPY . /app\n"}),
        json!({"stream": " ---> 89abcdef0123\n"}),
        json!({"aux": {"ID": ID}}),
        json!({"stream": "Successfully built 89abcdef0123\n"}),
        json!({"stream": "Successfully tagged app:1\n"}),
    ])
}

/// A RUN failing with status 3.
fn failing_stream() -> Vec<u8> {
    let msg = "The command '/bin/sh -c exit 3' returned a non-zero code: 3";
    canned(&[
        json!({"stream": "Step 1/2 : FROM busybox\n"}),
        json!({"stream": " ---> 0123456789ab\n"}),
        json!({"stream": "Step 2/2 : RUN exit 3\n"}),
        json!({"stream": " ---> Running in 456789abcdef\n"}),
        json!({"errorDetail": {"code": 3, "message": msg}, "error": msg}),
    ])
}

/// The tree both CLIs build from: a context with what `.dockerignore` leaves out
/// (and an exception), an executable, a symlink, an empty directory; a Dockerfile
/// outside it; a docker config with one registry's credentials and a proxy.
fn tree() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().expect("temp dir");
    let r = t.path();
    let write = |p: &str, text: &[u8], mode: u32| {
        let path = r.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write("ctx/Dockerfile", b"FROM busybox\nCOPY . /app\n", 0o644);
    write(
        "ctx/.dockerignore",
        b"secret.txt\n*.log\n!keep.log\nbuild/tmp\n",
        0o644,
    );
    write("ctx/secret.txt", b"top secret\n", 0o600);
    write("ctx/a.log", b"noise\n", 0o644);
    write("ctx/keep.log", b"kept\n", 0o644);
    write("ctx/app/run.sh", b"#!/bin/sh\necho hi\n", 0o755);
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
    write("ctx/app/data.bin", &data, 0o640);
    write("ctx/build/tmp/junk", b"x", 0o644);
    write("ctx/build/keep", b"k", 0o644);
    std::fs::create_dir(r.join("ctx/empty")).unwrap();
    std::fs::set_permissions(r.join("ctx/empty"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("app/run.sh", r.join("ctx/link")).unwrap();
    write(
        "outside/Dockerfile.outside",
        b"FROM busybox\nRUN exit 3\n",
        0o644,
    );
    write(
        "config/config.json",
        br#"{"auths":{"registry.example:5000":{"auth":"dXNlcjpwYXNz"}},"proxies":{"default":{"httpProxy":"http://proxy.example:3128","noProxy":"*.local"}}}"#,
        0o600,
    );
    t
}

/// Runs `cli` in `root` with `args` against a fresh fake daemon answering `/build`
/// with `stream`.
fn run(cli: &Cli, root: &Path, args: &[&str], stdin: &[u8], stream: &[u8]) -> Run {
    let sock = tempfile::tempdir().expect("temp dir");
    let body = stream.to_vec();
    let server = FakeServer::start(sock.path(), "1.41", move |r: &Recorded| {
        if r.path().ends_with("/build") {
            Reply::Full {
                status: 200,
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: body.clone(),
            }
        } else {
            Reply::error(404, "page not found")
        }
    })
    .expect("fake daemon");
    let mut child = Command::new(&cli.path)
        .current_dir(root)
        .args(args)
        .env("DOCKER_HOST", server.host())
        .env("DOCKER_BUILDKIT", "0")
        .env("DOCKER_CONFIG", root.join("config"))
        .env("BUILD_FROM_ENV", "from the environment")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("DOCKER_DEFAULT_PLATFORM")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("NOT_SET_ANYWHERE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", cli.path.display()));
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = feeder.join();
    let (stdout, stderr) = common::out_err(&out);
    let builds: Vec<Recorded> = server
        .requests()
        .into_iter()
        .filter(|r| r.path().ends_with("/build"))
        .collect();
    assert_eq!(
        builds.len(),
        1,
        "{} {args:?} sent {:?}\nstderr: {stderr}",
        cli.name,
        server.calls()
    );
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout,
        stderr,
        request: builds.into_iter().next().expect("one build"),
    }
}

/// docker's stderr without the legacy builder's deprecation notice.
fn without_notice(stderr: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in stderr.split_inclusive('\n') {
        if line.starts_with("DEPRECATED: The legacy builder") {
            skipping = true;
            continue;
        }
        if skipping {
            skipping = !line.trim().is_empty();
            continue;
        }
        out.push_str(line);
    }
    out
}

/// The query's keys, in the order sent.
fn keys(r: &Recorded) -> BTreeSet<String> {
    r.target
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_string()))
        .collect()
}

fn options(r: &Recorded) -> BuildOptions {
    let all: BTreeMap<String, Vec<String>> = keys(r)
        .into_iter()
        .map(|k| (k.clone(), r.query(&k)))
        .collect();
    BuildOptions::from_query(|k| all.get(k).cloned().unwrap_or_default())
        .expect("a query dockerd reads")
}

/// The generated name of a Dockerfile added to the context, if one was.
fn generated(r: &Recorded) -> Option<String> {
    r.query("dockerfile")
        .into_iter()
        .find(|d| d.starts_with(".dockerfile."))
}

fn json_of(v: &[String]) -> Value {
    serde_json::from_str(v.first().map(String::as_str).unwrap_or("null")).expect("JSON")
}

/// Asserts the two requests ask for the same build: the same parameters, each
/// with the same value (JSON ones compared as JSON, ulimits in any order, extra
/// hosts repeated or comma-joined), and the same credentials.
fn same_query(docker: &Recorded, berth: &Recorded) {
    assert_eq!(
        keys(docker),
        keys(berth),
        "{}\n{}",
        docker.target,
        berth.target
    );
    for k in keys(docker) {
        let (d, b) = (docker.query(&k), berth.query(&k));
        match k.as_str() {
            "buildargs" | "labels" | "cachefrom" => {
                assert_eq!(json_of(&d), json_of(&b), "{k}")
            }
            "ulimits" => {
                let sorted = |v: Value| {
                    let mut l = v.as_array().cloned().unwrap_or_default();
                    l.sort_by_key(|u| u["Name"].as_str().unwrap_or("").to_string());
                    l
                };
                assert_eq!(sorted(json_of(&d)), sorted(json_of(&b)), "ulimits");
            }
            "extrahosts" => {
                let split = |v: Vec<String>| -> Vec<String> {
                    v.iter()
                        .flat_map(|h| h.split(','))
                        .map(str::to_string)
                        .collect()
                };
                assert_eq!(split(d), split(b), "extrahosts");
            }
            "dockerfile" if generated(docker).is_some() => {
                assert!(generated(berth).is_some(), "{}", berth.target)
            }
            _ => assert_eq!(d, b, "{k}"),
        }
    }
    let mut d = options(docker);
    let mut b = options(berth);
    if generated(docker).is_some() {
        d.dockerfile = ".dockerfile.<random>".into();
        b.dockerfile = ".dockerfile.<random>".into();
    }
    d.ulimits.sort_by(|x, y| x.name.cmp(&y.name));
    b.ulimits.sort_by(|x, y| x.name.cmp(&y.name));
    assert_eq!(d, b);
    let creds = |r: &Recorded| -> Value {
        let h = r.header("X-Registry-Config").expect("X-Registry-Config");
        let raw = base64::engine::general_purpose::URL_SAFE
            .decode(h)
            .expect("base64url");
        serde_json::from_slice(&raw).expect("JSON")
    };
    assert_eq!(creds(docker), creds(berth));
    assert_eq!(
        creds(berth)["registry.example:5000"]["username"],
        "user",
        "the configured registry's credentials go along"
    );
    assert_eq!(docker.header("Content-Type"), berth.header("Content-Type"));
}

/// One context entry as compared.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: String,
    mode: u32,
    owner: (u64, u64),
    size: u64,
    mtime: Option<u64>,
    link: String,
    /// The text, or the size and digest of what is not text.
    content: String,
}

fn shown(content: &[u8]) -> String {
    use sha2::Digest as _;
    match std::str::from_utf8(content) {
        Ok(text) => text.to_string(),
        Err(_) => format!(
            "<{} bytes, sha256:{:x}>",
            content.len(),
            sha2::Sha256::digest(content)
        ),
    }
}

/// The entries of a context tar by name; the generated Dockerfile's name (and its
/// mention in `.dockerignore`) made `.dockerfile.<random>`, and the times of
/// `fresh` entries (written at build time) left out. The docker CLI ends a context
/// it added a Dockerfile to without the last padding and the end-of-archive
/// blocks; they are made up here, as the daemon must cope with that. A gzip
/// context (`--compress`) is read uncompressed.
fn entries(r: &Recorded, fresh: &[&str]) -> BTreeMap<String, Entry> {
    let mut body = r.body.clone();
    if body.starts_with(&[0x1f, 0x8b]) {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&r.body[..])
            .read_to_end(&mut plain)
            .expect("a gzip context");
        body = plain;
    }
    if !body.len().is_multiple_of(512) {
        body.resize(body.len() + 512 - body.len() % 512, 0);
    }
    body.extend_from_slice(&[0u8; 1024]);
    let generated = generated(r);
    let rename = |s: &str| match &generated {
        Some(g) => s.replace(g.as_str(), ".dockerfile.<random>"),
        None => s.to_string(),
    };
    let mut out = BTreeMap::new();
    let mut a = tar::Archive::new(&body[..]);
    for e in a.entries().expect("a tar") {
        let mut e = e.expect("an entry");
        let name = e.path().expect("a path").to_string_lossy().into_owned();
        let name = rename(name.trim_start_matches("./").trim_end_matches('/'));
        let h = e.header().clone();
        let mut content = Vec::new();
        e.read_to_end(&mut content).expect("content");
        if name == ".dockerignore" {
            content = rename(&String::from_utf8_lossy(&content)).into_bytes();
        }
        let mtime = (!fresh.contains(&name.as_str()) && name != ".dockerfile.<random>")
            .then(|| h.mtime().unwrap_or(0));
        out.insert(
            name,
            Entry {
                kind: format!("{:?}", h.entry_type()),
                mode: h.mode().unwrap_or(0),
                owner: (h.uid().unwrap_or(0), h.gid().unwrap_or(0)),
                size: content.len() as u64,
                mtime,
                link: e
                    .link_name()
                    .ok()
                    .flatten()
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                content: shown(&content),
            },
        );
    }
    out
}

/// Splits off the upload line; asserts it reports what was sent.
fn upload_line<'a>(who: &str, run: &'a Run) -> &'a str {
    let (line, rest) = run
        .stdout
        .split_once("\r\r\n")
        .unwrap_or_else(|| panic!("{who} printed no upload line: {:?}", run.stdout));
    let size = berth_cli::units::human_size(run.request.body.len() as f64);
    assert_eq!(
        line,
        format!("Sending build context to Docker daemon {size:>8}"),
        "{who}"
    );
    rest
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn docker() -> Option<Cli> {
    let d = Cli::docker();
    if d.is_none() {
        eprintln!("note: no docker CLI; skipping the comparison with it");
    }
    d
}

#[test]
fn a_directory_with_every_flag_sends_and_shows_the_same() {
    let Some(docker) = docker() else { return };
    let t = tree();
    let args = [
        "build",
        "-t",
        "app:1",
        "--tag",
        "registry.example:5000/team/app:v2",
        "--build-arg",
        "A=1",
        "--build-arg",
        "SPACED=a b&c=<d>",
        "--build-arg",
        "BUILD_FROM_ENV",
        "--build-arg",
        "NOT_SET_ANYWHERE",
        "--build-arg",
        "no_proxy=given",
        "--label",
        "org.example.k=v=w",
        "--label",
        "bare",
        "--ulimit",
        "nofile=1024:2048",
        "--ulimit",
        "nproc=64",
        "--add-host",
        "db:10.0.0.2",
        "--add-host",
        "v6host=[::1]",
        "--cache-from",
        "a:1,b:2",
        "--cache-from",
        "c",
        "--target",
        "final",
        "--no-cache",
        "--pull",
        "--force-rm",
        "--rm=false",
        "-m",
        "64m",
        "--memory-swap",
        "-1",
        "--shm-size",
        "32m",
        "-c",
        "512",
        "--cpuset-cpus",
        "0",
        "--cpu-period",
        "100000",
        "--cpu-quota",
        "50000",
        "--network",
        "none",
        "--platform",
        "Linux/AMD64",
        "ctx",
    ];
    let d = run(&docker, t.path(), &args, b"", &ok_stream());
    let b = run(&Cli::berth(), t.path(), &args, b"", &ok_stream());
    same_query(&d.request, &b.request);
    let build_args = json_of(&b.request.query("buildargs"));
    assert_eq!(build_args["HTTP_PROXY"], "http://proxy.example:3128");
    assert_eq!(build_args["http_proxy"], "http://proxy.example:3128");
    assert_eq!(build_args["no_proxy"], "given", "a --build-arg wins");
    assert_eq!(build_args["NOT_SET_ANYWHERE"], Value::Null);
    let de = entries(&d.request, &[]);
    assert_eq!(
        de.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            ".dockerignore",
            "Dockerfile",
            "app",
            "app/data.bin",
            "app/run.sh",
            "build",
            "build/keep",
            "empty",
            "keep.log",
            "link"
        ],
        "what the docker CLI sends (the test's own premise)"
    );
    assert_eq!(de, entries(&b.request, &[]));
    assert_eq!((d.code, b.code), (0, 0), "{}\n{}", d.stderr, b.stderr);
    assert_eq!(d.stdout, b.stdout);
    assert!(
        b.stdout
            .ends_with("Successfully built 89abcdef0123\nSuccessfully tagged app:1\n"),
        "{}",
        b.stdout
    );
    upload_line("berth", &b);
    assert_eq!(without_notice(&d.stderr), b.stderr);
}

#[test]
fn an_outside_dockerfile_and_a_failing_run_exit_3_alike() {
    let Some(docker) = docker() else { return };
    let t = tree();
    let args = [
        "build",
        "-f",
        "outside/Dockerfile.outside",
        "-t",
        "x",
        "ctx",
    ];
    let d = run(&docker, t.path(), &args, b"", &failing_stream());
    let b = run(&Cli::berth(), t.path(), &args, b"", &failing_stream());
    same_query(&d.request, &b.request);
    let be = entries(&b.request, &[]);
    assert_eq!(entries(&d.request, &[]), be);
    assert_eq!(
        be[".dockerfile.<random>"].content,
        "FROM busybox\nRUN exit 3\n"
    );
    assert_eq!(be[".dockerfile.<random>"].mode, 0o600);
    assert!(be[".dockerignore"]
        .content
        .ends_with("build/tmp\n\n.dockerfile.<random>\n"));
    assert_eq!((d.code, b.code), (3, 3), "{}\n{}", d.stderr, b.stderr);
    // The docker CLI's context is shorter (see `entries`): each counts its own.
    assert_eq!(upload_line("docker", &d), upload_line("berth", &b));
    assert_eq!(without_notice(&d.stderr), b.stderr);
    assert_eq!(
        b.stderr,
        "The command '/bin/sh -c exit 3' returned a non-zero code: 3\n"
    );
}

#[test]
fn quiet_builds_and_id_files_alike() {
    let Some(docker) = docker() else { return };
    let t = tree();
    for (stream, code) in [(ok_stream(), 0), (failing_stream(), 3)] {
        let d_iid = t.path().join("docker.iid");
        let b_iid = t.path().join("berth.iid");
        let args = |iid: &Path| {
            vec![
                "build".to_string(),
                "-q".into(),
                "--iidfile".into(),
                iid.to_string_lossy().into_owned(),
                "ctx".into(),
            ]
        };
        let d_args = args(&d_iid);
        let b_args = args(&b_iid);
        let d = run(&docker, t.path(), &as_strs(&d_args), b"", &stream);
        let b = run(&Cli::berth(), t.path(), &as_strs(&b_args), b"", &stream);
        same_query(&d.request, &b.request);
        assert_eq!((d.code, b.code), (code, code), "{}\n{}", d.stderr, b.stderr);
        assert_eq!(d.stdout, b.stdout);
        assert_eq!(without_notice(&d.stderr), b.stderr);
        assert_eq!(
            std::fs::read_to_string(&d_iid).ok(),
            std::fs::read_to_string(&b_iid).ok()
        );
        if code == 0 {
            assert!(b_iid.exists());
        } else {
            assert!(
                b.stderr.starts_with("Sending build context"),
                "{}",
                b.stderr
            );
        }
    }
}

#[test]
fn stdin_contexts_alike() {
    let Some(docker) = docker() else { return };
    let t = tree();
    // A Dockerfile on stdin: the whole context.
    let text = b"FROM busybox\nRUN echo from stdin\n";
    let d = run(&docker, t.path(), &["build", "-"], text, &ok_stream());
    let b = run(&Cli::berth(), t.path(), &["build", "-"], text, &ok_stream());
    same_query(&d.request, &b.request);
    let be = entries(&b.request, &["Dockerfile"]);
    assert_eq!(entries(&d.request, &["Dockerfile"]), be);
    assert_eq!(be["Dockerfile"].content.as_bytes(), text);
    assert_eq!(d.stdout, b.stdout);

    // A gzip-compressed tar on stdin: sent as it is.
    let mut tarball = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut tarball, flate2::Compression::default());
        let mut tb = tar::Builder::new(gz);
        tb.append_dir_all(".", t.path().join("ctx")).unwrap();
        tb.into_inner().unwrap().finish().unwrap();
    }
    let args = ["build", "-f", "Dockerfile", "-t", "y", "-"];
    let d = run(&docker, t.path(), &args, &tarball, &ok_stream());
    let b = run(&Cli::berth(), t.path(), &args, &tarball, &ok_stream());
    same_query(&d.request, &b.request);
    assert_eq!(d.request.body, tarball);
    assert_eq!(b.request.body, tarball);
    assert_eq!(d.stdout, b.stdout);
    assert_eq!((d.code, b.code), (0, 0));
}

#[test]
fn a_dockerfile_on_stdin_with_a_compressed_directory_alike() {
    let Some(docker) = docker() else { return };
    let t = tree();
    let text = b"FROM busybox\nCOPY keep.log /\n";
    let args = ["build", "-f", "-", "--compress", "ctx"];
    let d = run(&docker, t.path(), &args, text, &ok_stream());
    let b = run(&Cli::berth(), t.path(), &args, text, &ok_stream());
    same_query(&d.request, &b.request);
    assert!(
        d.request.body.starts_with(&[0x1f, 0x8b, 0x08]),
        "docker gzips it"
    );
    assert!(
        b.request.body.starts_with(&[0x1f, 0x8b, 0x08]),
        "berth gzips it"
    );
    let be = entries(&b.request, &[]);
    assert_eq!(entries(&d.request, &[]), be);
    assert_eq!(be[".dockerfile.<random>"].content.as_bytes(), text);
    assert_eq!(upload_line("docker", &d), upload_line("berth", &b));
    assert_eq!((d.code, b.code), (0, 0));
}

#[test]
fn errors_before_anything_is_sent_alike() {
    let Some(docker) = docker() else { return };
    let t = tree();
    for (args, code) in [
        (&["build", "nope"][..], 1),
        (&["build", "--build-arg", "=x", "ctx"][..], 125),
        (&["build", "--ulimit", "nofile=20:10", "ctx"][..], 125),
        (&["build", "--label", "=x", "ctx"][..], 125),
        (&["build", "-f", "-", "-"][..], 1),
    ] {
        let mut got = Vec::new();
        for cli in [&docker, &Cli::berth()] {
            let sock = tempfile::tempdir().unwrap();
            let server =
                FakeServer::start(sock.path(), "1.41", |_| Reply::error(500, "no")).unwrap();
            let out = Command::new(&cli.path)
                .current_dir(t.path())
                .args(args)
                .env("DOCKER_HOST", server.host())
                .env("DOCKER_BUILDKIT", "0")
                .env("DOCKER_CONFIG", t.path().join("config"))
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(
                server.requests().is_empty(),
                "{} {args:?} sent {:?}",
                cli.name,
                server.calls()
            );
            let (_, err) = common::out_err(&out);
            got.push((out.status.code(), without_notice(&err)));
        }
        assert_eq!(got[0].0, Some(code), "docker {args:?}: {}", got[0].1);
        assert_eq!(got[1].0, Some(code), "berth {args:?}: {}", got[1].1);
        // The first line, which says what is wrong, is docker's (the usage that
        // follows names each program).
        let first = |s: &str| s.lines().next().unwrap_or("").to_string();
        assert_eq!(first(&got[0].1), first(&got[1].1), "{args:?}");
    }
}

#[test]
fn builder_prune_asks_and_reports_alike() {
    let Some(docker) = docker() else { return };
    let t = tree();
    let report = json!({"CachesDeleted": ["sha256:abc", "sha256:def"], "SpaceReclaimed": 123_456});
    for (args, stdin) in [
        (&["builder", "prune"][..], &b"n\n"[..]),
        (
            &[
                "builder",
                "prune",
                "-a",
                "--filter",
                "until=24h",
                "--keep-storage",
                "1g",
            ][..],
            b"y\n",
        ),
        (&["builder", "prune", "-f"][..], b""),
    ] {
        let mut got = Vec::new();
        for cli in [&docker, &Cli::berth()] {
            let sock = tempfile::tempdir().unwrap();
            let answer = report.clone();
            let server = FakeServer::start(sock.path(), "1.41", move |r: &Recorded| {
                if r.path().ends_with("/build/prune") {
                    Reply::json(200, answer.clone())
                } else {
                    Reply::error(404, "page not found")
                }
            })
            .unwrap();
            let mut child = Command::new(&cli.path)
                .current_dir(t.path())
                .args(args)
                .env("DOCKER_HOST", server.host())
                .env("DOCKER_BUILDKIT", "0")
                .env("DOCKER_CONFIG", t.path().join("config"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut input = child.stdin.take().unwrap();
            input.write_all(stdin).unwrap();
            drop(input);
            let out = child.wait_with_output().unwrap();
            let (stdout, stderr) = common::out_err(&out);
            let sent: Vec<(Vec<String>, Vec<String>, Vec<String>)> = server
                .requests()
                .iter()
                .filter(|r| r.path().ends_with("/build/prune"))
                .map(|r| {
                    // An empty filter is sent empty by docker and left out by berth.
                    let filters: Vec<String> = r
                        .query("filters")
                        .into_iter()
                        .filter(|f| !f.is_empty())
                        .collect();
                    (r.query("all"), r.query("keep-storage"), filters)
                })
                .collect();
            got.push((out.status.code(), stdout, without_notice(&stderr), sent));
        }
        assert_eq!(got[0], got[1], "{args:?}");
        assert_eq!(got[1].0, Some(0));
        if args.contains(&"-f") {
            assert_eq!(
                got[1].1,
                "Deleted build cache objects:\nsha256:abc\nsha256:def\n\nTotal reclaimed space: 123.5kB\n"
            );
        }
    }
}
