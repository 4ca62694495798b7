//! Commands driven in-process against the scripted daemon: the requests they send,
//! what they print, and their exit codes.

use std::io::{Read, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

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
    berth_on(server, args, stdin, false, false)
}

/// [`berth`] with stdin and stdout said to be terminals or not.
fn berth_on(
    server: &FakeServer,
    args: &[&str],
    stdin: &[u8],
    terminal: bool,
    out_terminal: bool,
) -> Output {
    let cli = Cli::try_parse_from(std::iter::once("berth").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let client = Client::from_flag(Some(&server.host())).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut ctx = Ctx {
        client: &client,
        out: &mut out,
        err: &mut err,
        stdin: Some(Box::new(std::io::Cursor::new(stdin.to_vec()))),
        terminal,
        out_terminal,
        signals: false,
    };
    let code = dispatch(&mut ctx, cli.command.expect("a command"));
    Output {
        code,
        out: String::from_utf8_lossy(&out).into_owned(),
        err: String::from_utf8_lossy(&err).into_owned(),
    }
}

fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut f = vec![stream, 0, 0, 0];
    f.extend_from_slice(&(data.len() as u32).to_be_bytes());
    f.extend_from_slice(data);
    f
}

/// A flag the start handler raises and the attach/wait handlers wait for.
#[derive(Clone, Default)]
struct Started(Arc<(Mutex<bool>, Condvar)>);

impl Started {
    fn set(&self) {
        let (m, c) = &*self.0;
        *m.lock().unwrap() = true;
        c.notify_all();
    }
    fn wait(&self) -> bool {
        let (m, c) = &*self.0;
        let guard = m.lock().unwrap();
        let (g, _) = c
            .wait_timeout_while(guard, Duration::from_secs(5), |s| !*s)
            .unwrap();
        *g
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn run_attaches_waits_then_starts_and_passes_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let started = Started::default();
    let s = started.clone();
    let server = FakeServer::start(dir.path(), "1.41", move |r: &Recorded| {
        let s = s.clone();
        match (r.method.as_str(), r.path()) {
            ("POST", "/v1.41/containers/create") => {
                Reply::json(201, json!({"Id": "c0ffee", "Warnings": []}))
            }
            ("POST", "/v1.41/containers/c0ffee/attach") => {
                Reply::Hijack(Box::new(move |mut sock| {
                    assert!(s.wait(), "start never came");
                    // Echo what stdin sent, then a line on stderr.
                    let mut input = Vec::new();
                    sock.read_to_end(&mut input).unwrap();
                    sock.write_all(&frame(1, &input)).unwrap();
                    sock.write_all(&frame(2, b"oops\n")).unwrap();
                }))
            }
            ("POST", "/v1.41/containers/c0ffee/wait") => Reply::Chunked {
                status: 200,
                chunks: vec![],
                then: Some(Box::new(move || {
                    s.wait();
                    br#"{"StatusCode":3,"Error":null}"#.to_vec()
                })),
            },
            ("POST", "/v1.41/containers/c0ffee/start") => {
                s.set();
                Reply::empty(204)
            }
            _ => Reply::error(500, "unexpected"),
        }
    })
    .unwrap();
    let o = berth(
        &server,
        &["run", "-i", "--rm", "-e", "A=1", "busybox", "cat"],
        b"hello\n",
    );
    assert_eq!(o.code, 3, "stderr: {}", o.err);
    assert_eq!(o.out, "hello\n");
    assert_eq!(o.err, "oops\n");
    assert_eq!(
        server.calls(),
        [
            "POST /containers/create",
            "POST /containers/c0ffee/attach",
            "POST /containers/c0ffee/wait",
            "POST /containers/c0ffee/start"
        ]
    );
    let reqs = server.requests();
    let body = reqs[0].json();
    assert_eq!(body["Image"], "busybox");
    assert_eq!(body["Cmd"], json!(["cat"]));
    assert_eq!(body["Env"], json!(["A=1"]));
    assert_eq!(body["OpenStdin"], true);
    assert_eq!(body["HostConfig"]["AutoRemove"], true);
    assert_eq!(reqs[1].query("stdin"), ["1"]);
    assert_eq!(reqs[2].query("condition"), ["removed"]);
}

#[test]
fn run_with_a_missing_image_pulls_and_fails_with_125() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |r: &Recorded| match r.path() {
        "/v1.41/containers/create" => Reply::error(404, "No such image: busybox:latest"),
        "/v1.41/images/create" => Reply::Chunked {
            status: 200,
            chunks: vec![br#"{"errorDetail":{"message":"no registry is configured"},"error":"no registry is configured"}"#.to_vec()],
            then: None,
        },
        _ => Reply::error(500, "unexpected"),
    })
    .unwrap();
    let o = berth(&server, &["run", "busybox", "true"], b"");
    assert_eq!(o.code, 125);
    assert!(
        o.err
            .starts_with("Unable to find image 'busybox:latest' locally\n"),
        "{}",
        o.err
    );
    assert!(
        o.err
            .contains("berth: no registry is configured.\nSee 'berth run --help'."),
        "{}",
        o.err
    );
    let pull = &server.requests()[1];
    assert_eq!(pull.query("fromImage"), ["busybox"]);
    assert_eq!(pull.query("tag"), ["latest"]);
}

#[test]
fn run_maps_start_errors_to_126_and_127() {
    for (msg, code) in [
        (
            "failed to create task: exec: \"nope\": executable file not found in $PATH",
            127,
        ),
        ("exec /etc: permission denied", 126),
        ("cgroup setup failed", 125),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let server = FakeServer::start(dir.path(), "1.41", move |r: &Recorded| match r.path() {
            "/v1.41/containers/create" => Reply::json(201, json!({"Id": "c1"})),
            "/v1.41/containers/c1/attach" => Reply::Hijack(Box::new(|_s| {})),
            "/v1.41/containers/c1/wait" => Reply::Chunked {
                status: 200,
                chunks: vec![],
                then: Some(Box::new(|| br#"{"StatusCode":0}"#.to_vec())),
            },
            "/v1.41/containers/c1/start" => Reply::error(400, msg),
            _ => Reply::error(500, "unexpected"),
        })
        .unwrap();
        let o = berth(&server, &["run", "busybox", "nope"], b"");
        assert_eq!(o.code, code, "{msg}: {}", o.err);
        assert!(
            o.err
                .contains(&format!("berth: Error response from daemon: {msg}.")),
            "{}",
            o.err
        );
    }
}

#[test]
fn run_detached_prints_the_full_id() {
    let dir = tempfile::tempdir().unwrap();
    let id = "4a5b6c7d8e9f00112233445566778899aabbccddeeff00112233445566778899";
    let server = FakeServer::start(dir.path(), "1.41", move |r: &Recorded| match r.path() {
        "/v1.41/containers/create" => Reply::json(201, json!({"Id": id})),
        p if p.ends_with("/start") => Reply::empty(204),
        _ => Reply::error(500, "unexpected"),
    })
    .unwrap();
    let o = berth(
        &server,
        &["run", "-d", "--name", "web", "busybox", "sleep", "9"],
        b"",
    );
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(o.out, format!("{id}\n"));
    assert_eq!(server.requests()[0].query("name"), ["web"]);
    assert_eq!(server.calls().len(), 2);
}

fn ps_server(dir: &std::path::Path) -> FakeServer {
    let created = now() - 150;
    FakeServer::start(dir, "1.41", move |_r: &Recorded| {
        Reply::json(
            200,
            json!([{
                "Id": "4a5b6c7d8e9f00112233445566778899aabbccddeeff00112233445566778899",
                "Names": ["/web"],
                "Image": "busybox",
                "Command": "sh -c 'while true; do sleep 1; done'",
                "Created": created,
                "Ports": [],
                "Labels": {"tier": "front", "app": "shop"},
                "State": "running",
                "Status": "Up 2 minutes",
                "HostConfig": {"NetworkMode": "default"},
                "Mounts": []
            }]),
        )
    })
    .unwrap()
}

#[test]
fn ps_prints_docker_table() {
    let dir = tempfile::tempdir().unwrap();
    let server = ps_server(dir.path());
    let o = berth(&server, &["ps"], b"");
    assert_eq!(o.code, 0, "{}", o.err);
    let header = format!(
        "{:<15}{:<10}{:<25}{:<16}{:<15}{:<10}{}",
        "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"
    );
    let row = format!(
        "{:<15}{:<10}{:<25}{:<16}{:<15}{:<10}{}",
        "4a5b6c7d8e9f",
        "busybox",
        "\"sh -c 'while true; …\"",
        "2 minutes ago",
        "Up 2 minutes",
        "",
        "web"
    );
    assert_eq!(o.out, format!("{header}\n{row}\n"));
    let q = berth(&server, &["ps", "-aq", "--filter", "status=running"], b"");
    assert_eq!(q.out, "4a5b6c7d8e9f\n");
    let last = &server.requests()[1];
    assert_eq!(last.query("all"), ["1"]);
    assert_eq!(last.query("filters"), [r#"{"status":{"running":true}}"#]);
}

#[test]
fn ps_format_fields_label_method_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = ps_server(dir.path());
    let o = berth(
        &server,
        &[
            "ps",
            "--no-trunc",
            "--format",
            r#"{{.Names}} {{.Label "tier"}} {{.Labels}} {{.Command}} {{.State}}"#,
        ],
        b"",
    );
    assert_eq!(
        o.out,
        "web front app=shop,tier=front \"sh -c 'while true; do sleep 1; done'\" running\n"
    );
    let o = berth(
        &server,
        &["ps", "--format", "table {{.Names}}\\t{{.RunningFor}}"],
        b"",
    );
    assert_eq!(o.out, "NAMES     CREATED\nweb       2 minutes ago\n");
    let o = berth(&server, &["ps", "--format", "{{json .}}"], b"");
    let v: serde_json::Value = serde_json::from_str(o.out.trim()).unwrap();
    assert_eq!(v["ID"], "4a5b6c7d8e9f");
    assert_eq!(v["Names"], "web");
    assert!(v.get("Label").is_none());
}

#[test]
fn images_table_and_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let created = now() - 3 * 86400;
    let server = FakeServer::start(dir.path(), "1.41", move |_r: &Recorded| {
        Reply::json(
            200,
            json!([
                {"Id": "sha256:aaaabbbbccccddddeeee", "RepoTags": ["busybox:latest", "busybox:1.36"], "RepoDigests": [],
                 "Created": created, "Size": 4_260_000, "Containers": -1, "SharedSize": -1, "VirtualSize": 4_260_000},
                {"Id": "sha256:1111222233334444", "RepoTags": [], "RepoDigests": [],
                 "Created": created, "Size": 1000, "Containers": -1, "SharedSize": -1, "VirtualSize": 1000}
            ]),
        )
    })
    .unwrap();
    let o = berth(&server, &["images"], b"");
    let line = |a: &str, b: &str, c: &str| {
        format!(
            "{:<13}{:<10}{:<15}{:<13}{}",
            a,
            b,
            c,
            if a == "REPOSITORY" {
                "CREATED"
            } else {
                "3 days ago"
            },
            match (a, b) {
                ("REPOSITORY", _) => "SIZE",
                ("<none>", _) => "1kB",
                _ => "4.26MB",
            }
        )
    };
    let expected = [
        line("REPOSITORY", "TAG", "IMAGE ID"),
        line("busybox", "latest", "aaaabbbbcccc"),
        line("busybox", "1.36", "aaaabbbbcccc"),
        line("<none>", "<none>", "111122223333"),
    ]
    .join("\n");
    assert_eq!(o.out, format!("{expected}\n"));
    let q = berth(&server, &["images", "-q"], b"");
    // One id per row, as docker 28 prints them.
    assert_eq!(q.out, "aaaabbbbcccc\naaaabbbbcccc\n111122223333\n");
}

#[test]
fn inspect_prints_indented_json_in_the_daemons_order_and_formats() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |r: &Recorded| match r.path() {
        "/v1.41/containers/web/json" => Reply::Full {
            status: 200,
            headers: vec![],
            body: br#"{"Id":"abc","Name":"/web","State":{"Status":"running","Pid":0},"Args":[],"Config":{}}"#.to_vec(),
        },
        "/v1.41/images/busybox/json" => Reply::json(200, json!({"Id": "sha256:1"})),
        p if p.contains("/containers/") => Reply::error(404, "No such container: x"),
        _ => Reply::error(404, "No such image: x"),
    })
    .unwrap();
    let o = berth(&server, &["inspect", "web"], b"");
    assert_eq!(o.code, 0);
    assert_eq!(
        o.out,
        "[\n    {\n        \"Id\": \"abc\",\n        \"Name\": \"/web\",\n        \"State\": {\n            \"Status\": \"running\",\n            \"Pid\": 0\n        },\n        \"Args\": [],\n        \"Config\": {}\n    }\n]\n"
    );
    let o = berth(
        &server,
        &[
            "inspect",
            "-f",
            "{{.State.Status}} {{.Name}}",
            "web",
            "busybox",
        ],
        b"",
    );
    assert_eq!(o.code, 1, "busybox has no State");
    let o = berth(&server, &["inspect", "--format={{.Name}}", "web"], b"");
    assert_eq!(o.out, "/web\n");
    let o = berth(&server, &["inspect", "-f", "{{.Id}}", "busybox"], b"");
    assert_eq!((o.code, o.out.as_str()), (0, "sha256:1\n"));
    let o = berth(&server, &["inspect", "nope"], b"");
    assert_eq!(o.code, 1);
    assert_eq!(o.out, "[]\n");
    assert_eq!(o.err, "Error: No such object: nope\n");
    let o = berth(&server, &["container", "inspect", "nope"], b"");
    assert_eq!(o.err, "Error: No such container: nope\n");
}

#[test]
fn logs_demultiplex_and_convert_since() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |r: &Recorded| match r.path() {
        "/v1.41/containers/web/json" => {
            Reply::json(200, json!({"Id": "abc", "Config": {"Tty": false}}))
        }
        "/v1.41/containers/web/logs" => {
            let mut body = frame(1, b"out 1\n");
            body.extend(frame(2, b"err 1\n"));
            body.extend(frame(1, b"out 2\n"));
            Reply::Full {
                status: 200,
                headers: vec![],
                body,
            }
        }
        _ => Reply::error(404, "nope"),
    })
    .unwrap();
    let o = berth(
        &server,
        &["logs", "--since", "10m", "--tail", "5", "-t", "web"],
        b"",
    );
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(o.out, "out 1\nout 2\n");
    assert_eq!(o.err, "err 1\n");
    let logs = &server.requests()[1];
    let since: i64 = logs.query("since")[0].parse().unwrap();
    assert!((now() - 600 - since).abs() <= 2, "since={since}");
    assert_eq!(logs.query("tail"), ["5"]);
    assert_eq!(logs.query("timestamps"), ["1"]);
}

#[test]
fn multi_target_commands_report_each_failure() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |r: &Recorded| {
        if r.path().contains("/bad/") {
            Reply::error(404, "No such container: bad")
        } else {
            Reply::empty(204)
        }
    })
    .unwrap();
    let o = berth(&server, &["stop", "-t", "3", "good", "bad"], b"");
    assert_eq!(o.code, 1);
    assert_eq!(o.out, "good\n");
    assert_eq!(
        o.err,
        "Error response from daemon: No such container: bad\n"
    );
    assert_eq!(server.requests()[0].query("t"), ["3"]);
}

#[test]
fn main_returns_docker_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |_r: &Recorded| {
        Reply::error(404, "No such container: bad")
    })
    .unwrap();
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        berth_cli::main(args(&["-H", &server.host(), "rm", "bad"])),
        1
    );
    // A flag the command does not have: docker's 125, without asking the daemon.
    assert_eq!(
        berth_cli::main(args(&["-H", &server.host(), "ps", "--bogus"])),
        125
    );
    assert_eq!(berth_cli::main(args(&["--version"])), 0);
    // Missing arguments and unknown commands: 1, as docker.
    assert_eq!(berth_cli::main(args(&["-H", &server.host(), "wait"])), 1);
    assert_eq!(berth_cli::main(args(&["-H", &server.host(), "frob"])), 1);
    assert_eq!(server.calls(), ["DELETE /containers/bad"]);
}

#[test]
fn run_it_without_a_terminal_is_refused_before_create() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |_r: &Recorded| {
        Reply::error(500, "unexpected")
    })
    .unwrap();
    let o = berth(&server, &["run", "-it", "busybox"], b"");
    assert_eq!(o.code, 1);
    assert_eq!(o.err, "the input device is not a TTY\n");
    assert!(server.calls().is_empty());
}

/// A save server: `busybox` gives an archive; `broken` breaks off half-way; anything
/// else is unknown.
fn save_server(dir: &std::path::Path) -> FakeServer {
    FakeServer::start(dir, "1.41", |r: &Recorded| {
        let names = r.query("names");
        if names.iter().any(|n| n == "broken") {
            return Reply::Raw(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n4\r\npart\r\n"
                    .to_vec(),
            );
        }
        if let Some(n) = names.iter().find(|n| *n != "busybox" && *n != "app:1") {
            return Reply::error(404, &format!("No such image: {n}"));
        }
        Reply::Chunked {
            status: 200,
            chunks: vec![b"archive of ".to_vec(), names.join("+").into_bytes()],
            then: None,
        }
    })
    .unwrap()
}

fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn save_writes_stdout_or_a_file_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let server = save_server(dir.path());
    let o = berth(&server, &["save", "busybox", "app:1"], b"");
    assert_eq!((o.code, o.out.as_str()), (0, "archive of busybox+app:1"));
    assert_eq!(server.requests()[0].query("names"), ["busybox", "app:1"]);

    let o = berth_on(&server, &["save", "busybox"], b"", false, true);
    assert_eq!(o.code, 1);
    assert_eq!(
        o.err,
        "cowardly refusing to save to a terminal. Use the -o flag or redirect\n"
    );
    assert_eq!(server.requests().len(), 1, "nothing asked of the daemon");

    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("img.tar");
    let f = file.to_str().unwrap();
    let o = berth_on(&server, &["save", "-o", f, "busybox"], b"", false, true);
    assert_eq!((o.code, o.out.as_str(), o.err.as_str()), (0, "", ""));
    assert_eq!(std::fs::read(&file).unwrap(), b"archive of busybox");

    // Failures leave the old file as it was and no temporary file behind.
    let o = berth(&server, &["image", "save", "--output", f, "broken"], b"");
    assert_eq!(o.code, 1);
    assert!(
        o.err.contains(&format!("saving the image archive to {f}")),
        "{}",
        o.err
    );
    let o = berth(&server, &["save", "-o", f, "busybox", "nosuch"], b"");
    assert_eq!(o.code, 1);
    assert_eq!(o.err, "Error response from daemon: No such image: nosuch\n");
    assert_eq!(std::fs::read(&file).unwrap(), b"archive of busybox");
    assert_eq!(entries(out.path()), ["img.tar"]);

    let missing = out.path().join("no/such/dir/x.tar");
    let o = berth(
        &server,
        &["save", "-o", missing.to_str().unwrap(), "busybox"],
        b"",
    );
    assert_eq!(o.code, 1);
    assert!(
        o.err
            .starts_with("failed to save image: invalid output path: directory")
            && o.err.contains("no/such/dir"),
        "{}",
        o.err
    );
}

#[test]
fn load_refuses_a_terminal_and_reads_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |r: &Recorded| Reply::Chunked {
        status: 200,
        chunks: vec![
            format!("{{\"stream\":\"Loaded image: x:{}\\n\"}}\n", r.body.len()).into_bytes(),
        ],
        then: None,
    })
    .unwrap();
    let o = berth_on(&server, &["load"], b"", true, false);
    assert_eq!(
        (o.code, o.err.as_str()),
        (1, "requested load from stdin, but stdin is empty\n")
    );
    assert!(server.requests().is_empty());
    let o = berth(&server, &["load", "-q"], b"12345");
    assert_eq!((o.code, o.out.as_str()), (0, "Loaded image: x:5\n"));
    assert_eq!(server.requests()[0].query("quiet"), ["1"]);
    let f = dir.path().join("a.tar");
    std::fs::write(&f, b"abc").unwrap();
    let o = berth(&server, &["image", "load", "-i", f.to_str().unwrap()], b"");
    assert_eq!((o.code, o.out.as_str()), (0, "Loaded image: x:3\n"));
    let o = berth(&server, &["load", "-i", "/no/such/file.tar"], b"");
    assert_eq!(o.code, 1);
    assert!(o.err.contains("/no/such/file.tar"), "{}", o.err);
}

#[test]
fn image_prune_asks_then_prints_what_went() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |_r: &Recorded| {
        Reply::json(
            200,
            json!({"ImagesDeleted": [{"Untagged": "a:1"}, {"Deleted": "sha256:abc"}], "SpaceReclaimed": 4_260_000}),
        )
    })
    .unwrap();
    let o = berth(&server, &["image", "prune"], b"n\n");
    assert_eq!(o.code, 0);
    assert_eq!(
        o.out,
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] "
    );
    assert!(server.requests().is_empty());
    let o = berth(
        &server,
        &["image", "prune", "-a", "--filter", "until=24h"],
        b"y\n",
    );
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(
        o.out,
        "WARNING! This will remove all images without at least one container associated to them.\n\
         Are you sure you want to continue? [y/N] Deleted Images:\nuntagged: a:1\ndeleted: sha256:abc\n\n\
         Total reclaimed space: 4.26MB\n"
    );
    let f: serde_json::Value =
        serde_json::from_str(&server.requests()[0].query("filters")[0]).unwrap();
    assert_eq!(
        f,
        json!({"dangling": {"false": true}, "until": {"24h": true}})
    );
    let o = berth(&server, &["image", "prune", "-f"], b"");
    assert_eq!(o.code, 0);
    assert!(o.out.starts_with("Deleted Images:\n"), "{}", o.out);
    let f: serde_json::Value =
        serde_json::from_str(&server.requests()[1].query("filters")[0]).unwrap();
    assert_eq!(f, json!({"dangling": {"true": true}}));
    let o = berth(
        &server,
        &["image", "prune", "-f", "--filter", "nonsense"],
        b"",
    );
    assert_eq!(o.code, 1);
    assert!(o.err.contains("bad format of filter"), "{}", o.err);
}

#[test]
fn history_table_quiet_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let created = now() - 3 * 86400;
    let server = FakeServer::start(dir.path(), "1.41", move |r: &Recorded| {
        if r.path() != "/v1.41/images/busybox/history" {
            return Reply::error(404, "No such image: nope:latest");
        }
        Reply::json(
            200,
            json!([
                {"Id": format!("sha256:{}", "ab".repeat(32)), "Created": created, "CreatedBy": "/bin/sh -c #(nop)  CMD [\"sh\"]", "Tags": ["busybox:latest"], "Size": 0, "Comment": ""},
                {"Id": "<missing>", "Created": created, "CreatedBy": "", "Tags": null, "Size": 4_260_000, "Comment": "imported"}
            ]),
        )
    })
    .unwrap();
    let o = berth(&server, &["history", "busybox"], b"");
    assert_eq!(o.code, 0);
    let lines: Vec<&str> = o.out.lines().collect();
    assert!(
        lines[0].starts_with("IMAGE          CREATED      CREATED BY"),
        "{}",
        o.out
    );
    assert!(
        lines[1].starts_with("abababababab   3 days ago   /bin/sh -c #(nop)  CMD [\"sh\"]"),
        "{}",
        o.out
    );
    assert!(
        lines[2].contains("4.26MB") && lines[2].ends_with("imported"),
        "{}",
        o.out
    );
    let o = berth(
        &server,
        &["image", "history", "-q", "--no-trunc", "busybox"],
        b"",
    );
    assert_eq!(o.out, format!("sha256:{}\n<missing>\n", "ab".repeat(32)));
    let o = berth(
        &server,
        &[
            "history",
            "-H=false",
            "--format",
            "{{.Size}} {{.CreatedSince}}",
            "busybox",
        ],
        b"",
    );
    let day = |secs: i64| {
        berth_types::time::format_rfc3339(
            i128::from(secs) * 1_000_000_000,
            berth_types::time::Precision::Seconds,
        )
    };
    assert_eq!(o.out, format!("0 {0}\n4260000 {0}\n", day(created)));
    let o = berth(&server, &["history", "nope"], b"");
    assert_eq!(
        (o.code, o.err.as_str()),
        (
            1,
            "Error response from daemon: No such image: nope:latest\n"
        )
    );
}

#[test]
fn volume_commands_speak_dockers_api_and_print_like_docker() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |r: &Recorded| {
        let vol = |name: &str| {
            json!({"Name": name, "Driver": "local", "Mountpoint": format!("/v/{name}/_data"),
                   "Labels": {"tier": "db"}, "Scope": "local", "Options": null})
        };
        match r.path() {
            "/v1.41/volumes/create" => {
                Reply::json(201, vol(r.json()["Name"].as_str().unwrap_or("anon")))
            }
            "/v1.41/volumes" => Reply::json(
                200,
                json!({"Volumes": [vol("zeta"), vol("alpha")], "Warnings": null}),
            ),
            "/v1.41/volumes/alpha" if r.method == "GET" => Reply::json(200, vol("alpha")),
            "/v1.41/volumes/busy" => Reply::error(409, "remove busy: volume is in use - [abc]"),
            "/v1.41/volumes/prune" => Reply::json(
                200,
                json!({"VolumesDeleted": ["old"], "SpaceReclaimed": 2048}),
            ),
            p if p.starts_with("/v1.41/volumes/") && r.method == "DELETE" => Reply::empty(204),
            _ => Reply::error(404, "get nope: no such volume"),
        }
    })
    .unwrap();
    let o = berth(
        &server,
        &[
            "volume",
            "create",
            "-o",
            "type=tmpfs",
            "--label",
            "tier=db",
            "data",
        ],
        b"",
    );
    assert_eq!((o.code, o.out.as_str()), (0, "data\n"), "{}", o.err);
    let body = server.requests()[0].json();
    assert_eq!(
        body,
        json!({"Name": "data", "Driver": "local", "DriverOpts": {"type": "tmpfs"}, "Labels": {"tier": "db"}})
    );
    let o = berth(&server, &["volume", "create", "--name", "a", "b"], b"");
    assert_eq!(o.code, 1);
    assert!(o.err.contains("conflicting options"), "{}", o.err);

    let o = berth(&server, &["volume", "ls"], b"");
    assert_eq!(
        o.out, "DRIVER    VOLUME NAME\nlocal     alpha\nlocal     zeta\n",
        "sorted by name"
    );
    let o = berth(
        &server,
        &["volume", "ls", "-q", "--filter", "dangling=true"],
        b"",
    );
    assert_eq!(o.out, "alpha\nzeta\n");
    let last = server.requests().pop().unwrap();
    let f: serde_json::Value = serde_json::from_str(&last.query("filters")[0]).unwrap();
    assert_eq!(f, json!({"dangling": {"true": true}}));
    let o = berth(
        &server,
        &[
            "volume",
            "ls",
            "--format",
            "{{.Name}} {{.Label \"tier\"}} {{.Links}}",
        ],
        b"",
    );
    assert_eq!(o.out, "alpha db N/A\nzeta db N/A\n");

    let o = berth(
        &server,
        &[
            "volume",
            "inspect",
            "-f",
            "{{.Mountpoint}}",
            "alpha",
            "nope",
        ],
        b"",
    );
    assert_eq!(o.code, 1);
    assert_eq!(o.out, "/v/alpha/_data\n");
    assert_eq!(
        o.err,
        "Error response from daemon: get nope: no such volume\n"
    );

    let o = berth(&server, &["volume", "rm", "-f", "x", "busy"], b"");
    assert_eq!((o.code, o.out.as_str()), (1, "x\n"));
    assert!(o.err.contains("volume is in use - [abc]"), "{}", o.err);
    assert!(server
        .requests()
        .iter()
        .any(|r| r.path() == "/v1.41/volumes/x" && r.query("force") == ["1"]));

    let o = berth(&server, &["volume", "prune"], b"n\n");
    assert_eq!(
        o.out,
        "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
    );
    let o = berth(
        &server,
        &["volume", "prune", "-f", "--filter", "label=x"],
        b"",
    );
    assert_eq!(
        o.out,
        "Deleted Volumes:\nold\n\nTotal reclaimed space: 2.048kB\n"
    );
}

#[test]
fn container_prune_asks_on_stdout_and_takes_only_y() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |_r: &Recorded| {
        Reply::json(
            200,
            json!({"ContainersDeleted": ["abc"], "SpaceReclaimed": 0}),
        )
    })
    .unwrap();
    let warning =
        "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ";
    // docker 28 asks on stdout and takes `y` alone: `yes` is a no.
    for answer in [&b"n\n"[..], b"yes\n", b""] {
        let o = berth(&server, &["container", "prune"], answer);
        assert_eq!(o.code, 0);
        assert_eq!(o.out, warning);
    }
    assert!(server.requests().is_empty());
    let o = berth(&server, &["container", "prune"], b"Y\n");
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.starts_with(warning), "{}", o.out);
    assert!(o.out.contains("abc"), "{}", o.out);
    assert_eq!(server.requests().len(), 1);
}
