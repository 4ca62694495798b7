//! `build` and `builder prune` driven in-process against the scripted daemon: what
//! they send, what they print, their exit codes (the docker CLI's classic builder's,
//! compared with the real docker CLI in crates/berth/tests/build_cli.rs).

use std::io::Read;

use berth_cli::cli::Cli;
use berth_cli::commands::dispatch;
use berth_cli::Ctx;
use berth_client::fake::{FakeServer, Recorded, Reply};
use berth_client::Client;
use clap::Parser;
use serde_json::json;

struct Output {
    code: i32,
    out: String,
    err: String,
}

fn berth(server: &FakeServer, args: &[&str], stdin: &[u8]) -> Output {
    let cli = Cli::try_parse_from(std::iter::once("berth").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let client = Client::from_flag(Some(&server.host())).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut ctx = Ctx {
        client: &client,
        out: &mut out,
        err: &mut err,
        stdin: Some(Box::new(std::io::Cursor::new(stdin.to_vec()))),
        terminal: false,
        out_terminal: false,
        signals: false,
    };
    let code = dispatch(&mut ctx, cli.command.expect("a command"));
    Output {
        code,
        out: String::from_utf8_lossy(&out).into_owned(),
        err: String::from_utf8_lossy(&err).into_owned(),
    }
}

fn stream(lines: &[serde_json::Value]) -> Vec<u8> {
    lines
        .iter()
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes()
}

const ID: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn ok_stream() -> Vec<u8> {
    stream(&[
        json!({"stream": "Step 1/2 : FROM busybox\n"}),
        json!({"status": "Pulling from library/busybox", "id": "latest"}),
        json!({"status": "Downloading", "progressDetail": {"current": 5, "total": 10}, "progress": "[==>  ] 5B/10B", "id": "abc"}),
        json!({"status": "Pull complete", "progressDetail": {}, "id": "abc"}),
        json!({"stream": " ---> 0123456789ab\n"}),
        json!({"aux": {"ID": ID}}),
        json!({"stream": "Successfully built 0123456789ab\n"}),
        json!({"stream": "Successfully tagged app:1\n"}),
    ])
}

const OK_TEXT: &str = "Step 1/2 : FROM busybox\nlatest: Pulling from library/busybox\nabc: Pull complete\n ---> 0123456789ab\nSuccessfully built 0123456789ab\nSuccessfully tagged app:1\n";

fn failing_stream(code: i64) -> Vec<u8> {
    stream(&[
        json!({"stream": "Step 1/2 : RUN exit 3\n"}),
        json!({"stream": " ---> Running in 0123456789ab\n"}),
        json!({"errorDetail": {"code": code, "message": "The command '/bin/sh -c exit 3' returned a non-zero code: 3"},
               "error": "The command '/bin/sh -c exit 3' returned a non-zero code: 3"}),
    ])
}

fn serve(dir: &std::path::Path, body: Vec<u8>) -> FakeServer {
    FakeServer::start(dir, "1.41", move |r: &Recorded| {
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
    .unwrap()
}

/// A context directory: a Dockerfile, a file `.dockerignore` keeps out, one it keeps.
fn context() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("ctx")).unwrap();
    std::fs::write(t.path().join("ctx/Dockerfile"), "FROM busybox\n").unwrap();
    std::fs::write(t.path().join("ctx/.dockerignore"), "secret\n").unwrap();
    std::fs::write(t.path().join("ctx/secret"), "s\n").unwrap();
    std::fs::write(t.path().join("ctx/app.sh"), "echo hi\n").unwrap();
    t
}

fn entry_names(body: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(body);
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn path(t: &tempfile::TempDir, rel: &str) -> String {
    t.path().join(rel).to_string_lossy().into_owned()
}

#[test]
fn a_directory_build_prints_the_upload_then_the_stream() {
    let t = context();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), ok_stream());
    let iid = path(&t, "iid");
    let o = berth(
        &server,
        &["build", "-t", "app:1", "--iidfile", &iid, &path(&t, "ctx")],
        b"",
    );
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(o.err, "");
    let r = &server.requests()[0];
    let line = format!(
        "Sending build context to Docker daemon  {}\r\r\n",
        if r.body.len() == 4096 {
            "4.096kB"
        } else {
            panic!("a context of {} bytes", r.body.len())
        }
    );
    assert_eq!(o.out, format!("{line}{OK_TEXT}"));
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), ID);
    assert_eq!(r.query("t"), ["app:1"]);
    assert_eq!(r.query("dockerfile"), ["Dockerfile"]);
    // The user's own credentials (if any) are in it: its content is checked with a
    // config of the test's own in crates/berth/tests/build_cli.rs.
    assert!(r.header("X-Registry-Config").is_some());
    assert_eq!(
        entry_names(&r.body),
        [".dockerignore", "Dockerfile", "app.sh"],
        "secret is left out"
    );
}

#[test]
fn quiet_prints_only_what_the_daemon_sent_and_the_iidfile_gets_it() {
    let t = context();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), stream(&[json!({"stream": format!("{ID}\n")})]));
    let iid = path(&t, "iid");
    std::fs::write(&iid, "stale").unwrap();
    let o = berth(
        &server,
        &["build", "-q", "--iidfile", &iid, &path(&t, "ctx")],
        b"",
    );
    assert_eq!(
        (o.code, o.out.as_str(), o.err.as_str()),
        (0, &*format!("{ID}\n"), "")
    );
    // As the docker CLI does: with -q the id file holds what was printed.
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), format!("{ID}\n"));
    assert_eq!(server.requests()[0].query("q"), ["1"]);
}

#[test]
fn a_failed_run_exits_with_its_code_and_says_why_on_stderr() {
    let t = context();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), failing_stream(3));
    let iid = path(&t, "iid");
    std::fs::write(&iid, "stale").unwrap();
    let o = berth(
        &server,
        &["build", "--iidfile", &iid, &path(&t, "ctx")],
        b"",
    );
    assert_eq!(o.code, 3);
    assert!(
        o.out
            .ends_with("\r\r\nStep 1/2 : RUN exit 3\n ---> Running in 0123456789ab\n"),
        "{:?}",
        o.out
    );
    assert_eq!(
        o.err,
        "The command '/bin/sh -c exit 3' returned a non-zero code: 3\n"
    );
    assert!(
        !std::path::Path::new(&iid).exists(),
        "no stale id file is left after a failure"
    );

    // Without a code: 1. With -q: everything held back goes to stderr first.
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), failing_stream(0));
    let o = berth(&server, &["build", "-q", &path(&t, "ctx")], b"");
    assert_eq!((o.code, o.out.as_str()), (1, ""));
    assert!(
        o.err.starts_with(
            "Sending build context to Docker daemon  4.096kB\r\r\nStep 1/2 : RUN exit 3\n"
        ),
        "{:?}",
        o.err
    );
    assert!(o.err.ends_with(" ---> Running in 0123456789ab\nThe command '/bin/sh -c exit 3' returned a non-zero code: 3\n"));
}

#[test]
fn a_refused_request_is_the_daemons_error() {
    let t = context();
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |_| {
        Reply::error(400, "failed to reach build target nope in Dockerfile")
    })
    .unwrap();
    let o = berth(
        &server,
        &["build", "--target", "nope", &path(&t, "ctx")],
        b"",
    );
    assert_eq!(o.code, 1);
    assert_eq!(
        o.err,
        "Error response from daemon: failed to reach build target nope in Dockerfile\n"
    );
}

#[test]
fn stdin_gives_a_dockerfile_or_a_whole_context() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), ok_stream());
    let o = berth(&server, &["build", "-"], b"FROM busybox\nRUN true\n");
    assert_eq!(o.code, 0, "{}", o.err);
    let r = &server.requests()[0];
    let mut a = tar::Archive::new(&r.body[..]);
    let mut entries = a.entries().unwrap();
    let mut e = entries.next().unwrap().unwrap();
    assert_eq!(e.path().unwrap().to_string_lossy(), "Dockerfile");
    let mut text = String::new();
    e.read_to_string(&mut text).unwrap();
    assert_eq!(text, "FROM busybox\nRUN true\n");
    assert!(entries.next().is_none());

    // A tar on stdin goes as it is.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(13);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "build/Dockerfile", &b"FROM busybox\n"[..])
        .unwrap();
    let tarball = b.into_inner().unwrap();
    let o = berth(&server, &["build", "-f", "build/Dockerfile", "-"], &tarball);
    assert_eq!(o.code, 0, "{}", o.err);
    let r = &server.requests()[1];
    assert_eq!(r.body, tarball);
    assert_eq!(r.query("dockerfile"), ["build/Dockerfile"]);
}

#[test]
fn bad_flags_and_contexts_fail_before_anything_is_sent() {
    let t = context();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), ok_stream());
    let ctx = path(&t, "ctx");
    let o = berth(&server, &["build", "--build-arg", "=x", &ctx], b"");
    assert_eq!(o.code, 125);
    assert!(
        o.err.starts_with(
            "invalid argument \"=x\" for \"--build-arg\" flag: invalid environment variable: =x\n"
        ),
        "{}",
        o.err
    );
    let o = berth(&server, &["build", "--ulimit", "nofile=x", &ctx], b"");
    assert_eq!(o.code, 125, "{}", o.err);
    let missing = path(&t, "nope");
    let o = berth(&server, &["build", &missing], b"");
    assert_eq!(
        (o.code, o.err.as_str()),
        (
            1,
            &*format!("unable to prepare context: path {missing:?} not found\n")
        )
    );
    let o = berth(&server, &["build", "-f", &missing, &ctx], b"");
    assert_eq!(o.code, 1);
    assert!(o.err.contains(&missing), "{}", o.err);
    let o = berth(&server, &["build", "https://github.com/a/b.git"], b"");
    assert_eq!(o.code, 1);
    assert!(o.err.contains("git"), "{}", o.err);
    assert!(server.requests().is_empty(), "{:?}", server.calls());
}

#[test]
fn a_url_is_fetched_by_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), ok_stream());
    let o = berth(&server, &["build", "http://example.invalid/ctx.tar"], b"");
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(o.out, OK_TEXT, "no upload, no upload line");
    let r = &server.requests()[0];
    assert_eq!(r.query("remote"), ["http://example.invalid/ctx.tar"]);
    assert!(r.body.is_empty());
}

#[test]
fn builder_prune_asks_then_prints_what_went() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |r: &Recorded| {
        if r.query("all").is_empty() {
            Reply::json(200, json!({"CachesDeleted": null, "SpaceReclaimed": 0}))
        } else {
            Reply::json(
                200,
                json!({"CachesDeleted": ["abc", "def"], "SpaceReclaimed": 123456}),
            )
        }
    })
    .unwrap();
    let o = berth(&server, &["builder", "prune"], b"n\n");
    assert_eq!(
        (o.code, o.out.as_str()),
        (
            0,
            "WARNING! This will remove all dangling build cache. Are you sure you want to continue? [y/N] "
        )
    );
    assert!(server.requests().is_empty());
    let o = berth(
        &server,
        &[
            "builder",
            "prune",
            "-a",
            "--keep-storage",
            "1g",
            "--filter",
            "until=24h",
        ],
        b"y\n",
    );
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(
        o.out,
        "WARNING! This will remove all build cache. Are you sure you want to continue? [y/N] \
         Deleted build cache objects:\nabc\ndef\n\nTotal reclaimed space: 123.5kB\n"
    );
    let r = &server.requests()[0];
    assert_eq!(r.query("keep-storage"), ["1073741824"]);
    assert_eq!(r.query("filters"), [r#"{"until":{"24h":true}}"#]);
    let o = berth(&server, &["builder", "prune", "-f"], b"");
    assert_eq!((o.code, o.out.as_str()), (0, "Total reclaimed space: 0B\n"));
}
