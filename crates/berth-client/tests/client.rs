//! The client against the scripted server: negotiation, bodies both ways, errors,
//! streams and hijacking.

use std::io::{Read, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use berth_api_types::container::ContainerCreateRequest;
use berth_api_types::Filters;
use berth_client::fake::{FakeServer, Reply};
use berth_client::{
    AttachOptions, Client, ClientError, Demux, ImportOptions, ListContainersOptions, StdStream,
};
use serde_json::json;

fn client(server: &FakeServer) -> Client {
    Client::from_flag(Some(&server.host())).unwrap()
}

#[test]
fn negotiates_the_lower_version_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.40", |_| Reply::json(200, json!([]))).unwrap();
    let c = client(&server);
    c.list_containers(&ListContainersOptions::default())
        .unwrap();
    c.list_containers(&ListContainersOptions::default())
        .unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert!(
        reqs.iter().all(|r| r.path() == "/v1.40/containers/json"),
        "{reqs:?}"
    );
    assert_eq!(c.api_version().unwrap().to_string(), "1.40");

    let dir2 = tempfile::tempdir().unwrap();
    let newer = FakeServer::start(dir2.path(), "1.45", |_| Reply::json(200, json!([]))).unwrap();
    let c = client(&newer);
    c.list_containers(&ListContainersOptions::default())
        .unwrap();
    assert_eq!(newer.requests()[0].path(), "/v1.41/containers/json");
}

#[test]
fn list_sends_flags_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |_| {
        Reply::json(
            200,
            json!([{"Id": "abc", "Names": ["/web"], "State": "running"}]),
        )
    })
    .unwrap();
    let mut filters = Filters::new();
    filters.add("status", "running");
    let list = client(&server)
        .list_containers(&ListContainersOptions {
            all: true,
            limit: Some(3),
            size: false,
            filters,
        })
        .unwrap();
    assert_eq!(list[0].id, "abc");
    assert_eq!(list[0].names, ["/web"]);
    let r = &server.requests()[0];
    assert_eq!(r.query("all"), ["1"]);
    assert_eq!(r.query("limit"), ["3"]);
    assert!(r.query("size").is_empty());
    assert_eq!(r.query("filters"), [r#"{"status":{"running":true}}"#]);
}

#[test]
fn api_errors_carry_status_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |_| {
        Reply::error(404, "No such container: nope")
    })
    .unwrap();
    let err = client(&server)
        .inspect_container("nope", false)
        .unwrap_err();
    match &err {
        ClientError::Api { status, message } => {
            assert_eq!(*status, 404);
            assert_eq!(message, "No such container: nope");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_not_found());
    assert_eq!(
        err.to_string(),
        "Error response from daemon: No such container: nope"
    );
}

#[test]
fn connect_errors_name_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let host = format!("unix://{}/missing.sock", dir.path().display());
    let err = Client::from_flag(Some(&host)).unwrap().ping().unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.sock"), "{err}");
}

#[test]
fn chunked_json_stream_is_read_message_by_message() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::channel::<()>();
    let rx = Arc::new(Mutex::new(rx));
    let server = FakeServer::start(dir.path(), "1.41", move |_| {
        let rx = Arc::clone(&rx);
        Reply::Chunked {
            status: 200,
            // One message split across chunks, then one held back.
            chunks: vec![
                br#"{"Type":"container","Action":"cre"#.to_vec(),
                b"ate\",\"Actor\":{\"ID\":\"a1\"}}\n".to_vec(),
            ],
            then: Some(Box::new(move || {
                let _ = rx.lock().unwrap().recv();
                b"{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"a1\"}}\n"
                    .to_vec()
            })),
        }
    })
    .unwrap();
    let mut events = client(&server).events(&Default::default()).unwrap();
    let first = events.next().unwrap().unwrap();
    // The first arrived while the second was still held back by the server.
    assert_eq!(first.action, "create");
    tx.send(()).unwrap();
    let second = events.next().unwrap().unwrap();
    assert_eq!(second.action, "start");
    assert!(events.next().is_none());
}

#[test]
fn request_bodies_go_as_json_and_as_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |r| match r.path() {
        "/v1.41/containers/create" => Reply::json(201, json!({"Id": "c0ffee", "Warnings": []})),
        _ => Reply::Chunked {
            status: 200,
            chunks: vec![br#"{"status":"sha256:1234"}"#.to_vec()],
            then: None,
        },
    })
    .unwrap();
    let c = client(&server);
    let mut req = ContainerCreateRequest::default();
    req.config.image = "busybox".into();
    let created = c.create_container("web", "", &req).unwrap();
    assert_eq!(created.id, "c0ffee");

    // A body bigger than one chunk, streamed.
    let tarball: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut src = &tarball[..];
    let msgs: Vec<_> = c
        .import_image(
            &mut src,
            &ImportOptions {
                repo: "img".into(),
                tag: "v1".into(),
                changes: vec!["CMD [\"sh\"]".into()],
                ..Default::default()
            },
        )
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(msgs[0].status, "sha256:1234");

    let reqs = server.requests();
    assert_eq!(reqs[0].query("name"), ["web"]);
    assert_eq!(reqs[0].json()["Image"], "busybox");
    assert_eq!(reqs[0].header("Content-Type"), Some("application/json"));
    assert_eq!(reqs[1].header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(reqs[1].body, tarball);
    assert_eq!(reqs[1].query("fromSrc"), ["-"]);
    assert_eq!(reqs[1].query("changes"), ["CMD [\"sh\"]"]);
}

#[test]
fn wait_returns_after_the_head_and_blocks_for_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::channel::<()>();
    let rx = Arc::new(Mutex::new(rx));
    let server = FakeServer::start(dir.path(), "1.41", move |_| {
        let rx = Arc::clone(&rx);
        Reply::Chunked {
            status: 200,
            chunks: vec![],
            then: Some(Box::new(move || {
                let _ = rx.lock().unwrap().recv();
                br#"{"StatusCode":3,"Error":null}"#.to_vec()
            })),
        }
    })
    .unwrap();
    let handle = client(&server).wait_container("c1", "next-exit").unwrap();
    tx.send(()).unwrap();
    assert_eq!(handle.result().unwrap().status_code, 3);
    assert_eq!(server.requests()[0].query("condition"), ["next-exit"]);
}

#[test]
fn attach_hijacks_both_ways_and_half_closes() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |_| {
        Reply::Hijack(Box::new(|mut s| {
            // Echo stdin back as stdout frames until the client half-closes, then
            // say goodbye on stderr.
            let mut input = Vec::new();
            s.read_to_end(&mut input).unwrap();
            let mut frame = vec![1, 0, 0, 0];
            frame.extend_from_slice(&(input.len() as u32).to_be_bytes());
            frame.extend_from_slice(&input);
            frame.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 3]);
            frame.extend_from_slice(b"bye");
            s.write_all(&frame).unwrap();
        }))
    })
    .unwrap();
    let stream = client(&server)
        .attach(
            "c1",
            &AttachOptions {
                stream: true,
                stdin: true,
                stdout: true,
                stderr: true,
                ..Default::default()
            },
        )
        .unwrap();
    let (reader, mut writer) = stream.split();
    writer.write_all(b"hello").unwrap();
    writer.close_write().unwrap();
    let frames: Vec<_> = Demux::new(reader).collect::<Result<_, _>>().unwrap();
    assert_eq!(
        frames,
        vec![
            (StdStream::Stdout, b"hello".to_vec()),
            (StdStream::Stderr, b"bye".to_vec())
        ]
    );
    let r = &server.requests()[0];
    assert_eq!(r.header("Upgrade"), Some("tcp"));
    assert_eq!(r.header("Connection"), Some("Upgrade"));
    assert_eq!(r.query("stdin"), ["1"]);
}

#[test]
fn hijack_refused_is_an_api_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |_| {
        Reply::error(409, "container is stopped")
    })
    .unwrap();
    let err = client(&server)
        .attach("c1", &AttachOptions::default())
        .unwrap_err();
    assert_eq!(err.status(), Some(409));
}

#[test]
fn save_streams_names_and_a_broken_off_archive_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |r| {
        if r.query("names").iter().any(|n| n == "broken") {
            return Reply::Raw(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
                    .to_vec(),
            );
        }
        Reply::Chunked {
            status: 200,
            chunks: vec![b"tar ".to_vec(), r.query("names").join(",").into_bytes()],
            then: None,
        }
    })
    .unwrap();
    let c = client(&server);
    let mut body = c
        .save_images(&["busybox:latest".into(), "a/b".into()])
        .unwrap();
    let mut got = String::new();
    body.read_to_string(&mut got).unwrap();
    assert_eq!(got, "tar busybox:latest,a/b");
    let rec = &server.requests()[0];
    assert_eq!(rec.path(), "/v1.41/images/get");
    assert_eq!(rec.query("names"), ["busybox:latest", "a/b"]);

    let mut body = c.save_images(&["broken".into()]).unwrap();
    let mut got = Vec::new();
    let e = body.read_to_end(&mut got).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
}

#[test]
fn prune_images_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |r| match r.path() {
        "/v1.41/images/prune" => Reply::json(
            200,
            json!({"ImagesDeleted": null, "SpaceReclaimed": 0}),
        ),
        "/v1.41/images/busybox:1/history" => Reply::json(
            200,
            json!([{"Id": "sha256:ab", "Created": 5, "CreatedBy": "x", "Tags": null, "Size": 3, "Comment": ""}]),
        ),
        _ => Reply::error(404, "No such image: nope:latest"),
    })
    .unwrap();
    let c = client(&server);
    let mut f = Filters::new();
    f.add("dangling", "false");
    let r = c.prune_images(&f).unwrap();
    assert!(r.images_deleted.is_empty());
    assert_eq!(
        server.requests()[0].query("filters"),
        [r#"{"dangling":{"false":true}}"#]
    );
    let h = c.image_history("busybox:1").unwrap();
    assert_eq!((h[0].id.as_str(), h[0].size), ("sha256:ab", 3));
    assert!(h[0].tags.is_empty());
    let e = c.image_history("nope").unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

/// A classic builder's answer, one JSON message a line.
fn build_stream(lines: &[serde_json::Value]) -> Vec<u8> {
    lines
        .iter()
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes()
}

#[test]
fn build_streams_the_context_and_returns_the_aux_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |_| Reply::Chunked {
        status: 200,
        chunks: vec![
            build_stream(&[
                json!({"stream": "Step 1/1 : FROM busybox\n"}),
                json!({"stream": " ---> 0123456789ab\n"}),
            ]),
            build_stream(&[
                json!({"aux": {"ID": "sha256:0123456789abcdef"}}),
                json!({"stream": "Successfully built 0123456789ab\n"}),
            ]),
        ],
        then: None,
    })
    .unwrap();
    let c = client(&server);
    let mut opts = berth_api_types::build::BuildOptions {
        tags: vec!["app:1".into()],
        ..Default::default()
    };
    opts.build_args.insert("A".into(), None);
    let context = vec![7u8; 100_000];
    let mut seen = Vec::new();
    let id = c
        .build(&opts, &context[..], "e30=", |m| seen.push(m.clone()))
        .unwrap();
    assert_eq!(id.as_deref(), Some("sha256:0123456789abcdef"));
    assert_eq!(seen.len(), 4, "every message, aux included: {seen:?}");
    assert_eq!(seen[0].stream, "Step 1/1 : FROM busybox\n");
    let r = &server.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path(), "/v1.41/build");
    assert_eq!(r.query("t"), ["app:1"]);
    assert_eq!(r.query("buildargs"), [r#"{"A":null}"#]);
    assert_eq!(r.query("version"), ["1"]);
    assert_eq!(r.header("Content-Type"), Some("application/x-tar"));
    assert_eq!(r.header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(r.header("X-Registry-Config"), Some("e30="));
    assert_eq!(r.body, context);
}

#[test]
fn build_failures_carry_the_message_and_the_run_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |r| {
        if r.query("target") == ["bad"] {
            return Reply::error(400, "failed to reach build target bad in Dockerfile");
        }
        let code: i64 = if r.query("nocache").is_empty() { 3 } else { 0 };
        Reply::Full {
            status: 200,
            headers: vec![],
            body: build_stream(&[
                json!({"stream": "Step 1/1 : RUN exit 3\n"}),
                json!({"errorDetail": {"code": code, "message": "The command '/bin/sh -c exit 3' returned a non-zero code: 3"},
                       "error": "The command '/bin/sh -c exit 3' returned a non-zero code: 3"}),
                json!({"stream": "never shown\n"}),
            ]),
        }
    })
    .unwrap();
    let c = client(&server);
    let mut seen = Vec::new();
    let opts = berth_api_types::build::BuildOptions::default();
    let e = c
        .build(&opts, &b""[..], "e30=", |m| seen.push(m.stream.clone()))
        .unwrap_err();
    match e {
        ClientError::Stream { message, code } => {
            assert_eq!(code, 3);
            assert_eq!(
                message,
                "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(seen, ["Step 1/1 : RUN exit 3\n"]);
    let opts = berth_api_types::build::BuildOptions {
        no_cache: true,
        ..Default::default()
    };
    let e = c.build(&opts, &b""[..], "e30=", |_| {}).unwrap_err();
    assert!(matches!(e, ClientError::Stream { code: 0, .. }), "{e:?}");
    let opts = berth_api_types::build::BuildOptions {
        target: Some("bad".into()),
        ..Default::default()
    };
    let e = c.build(&opts, &b""[..], "e30=", |_| {}).unwrap_err();
    assert_eq!(e.status(), Some(400), "{e:?}");
}

#[test]
fn build_falls_back_on_successfully_built_and_sends_no_body_for_a_remote() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |_| Reply::Full {
        status: 200,
        headers: vec![],
        body: build_stream(&[
            json!({"stream": "Successfully built 0123456789ab\n"}),
            json!({"stream": "Successfully tagged x:latest\n"}),
        ]),
    })
    .unwrap();
    let c = client(&server);
    let opts = berth_api_types::build::BuildOptions {
        remote: Some("http://example.invalid/ctx.tar".into()),
        ..Default::default()
    };
    let id = c.build(&opts, &b"not sent"[..], "e30=", |_| {}).unwrap();
    assert_eq!(id.as_deref(), Some("0123456789ab"));
    let r = &server.requests()[0];
    assert_eq!(r.query("remote"), ["http://example.invalid/ctx.tar"]);
    assert!(r.body.is_empty());
}

#[test]
fn build_prune_sends_its_flags_and_reads_a_null_list() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(dir.path(), "1.41", |r| {
        if r.query("all").is_empty() {
            Reply::json(200, json!({"CachesDeleted": null, "SpaceReclaimed": 0}))
        } else {
            Reply::json(
                200,
                json!({"CachesDeleted": ["a", "b"], "SpaceReclaimed": 2048}),
            )
        }
    })
    .unwrap();
    let c = client(&server);
    let r = c.build_prune(false, &Filters::new(), 0).unwrap();
    assert!(r.caches_deleted.is_empty());
    let mut f = Filters::new();
    f.add("until", "24h");
    let r = c.build_prune(true, &f, 1 << 30).unwrap();
    assert_eq!(r.caches_deleted, ["a", "b"]);
    assert_eq!(r.space_reclaimed, 2048);
    let reqs = server.requests();
    assert_eq!(reqs[0].path(), "/v1.41/build/prune");
    assert!(reqs[0].query("filters").is_empty());
    assert_eq!(reqs[1].query("all"), ["1"]);
    assert_eq!(reqs[1].query("keep-storage"), ["1073741824"]);
    assert_eq!(reqs[1].query("filters"), [r#"{"until":{"24h":true}}"#]);
}
