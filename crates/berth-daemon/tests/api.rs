//! The Engine API over a real unix socket, against a fake engine, in raw HTTP.

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn ping_get_and_head_carry_docker_headers() {
    let srv = TestServer::start(Fake::default());
    let r = srv.call("GET", "/_ping", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "OK");
    for (k, v) in [
        ("Api-Version", "1.41"),
        ("Docker-Experimental", "false"),
        ("Ostype", "linux"),
        ("Cache-Control", "no-cache, no-store, must-revalidate"),
        ("Pragma", "no-cache"),
    ] {
        assert_eq!(r.header(k).as_deref(), Some(v), "{k} in {}", r.head);
    }
    assert!(r.header("Server").expect("Server").starts_with("berth/"));
    assert!(r.header("Server").expect("Server").ends_with("(linux)"));

    // HEAD: same headers, no body; the connection stays usable for the next request.
    let mut s = srv.connect();
    s.write_all(b"HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\nGET /v1.41/_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let head = read_head(&mut s);
    assert_eq!(status_of(&head), 200);
    assert_eq!(header_in(&head, "Api-Version").as_deref(), Some("1.41"));
    let second = read_response(&mut s);
    assert_eq!(
        second.status, 200,
        "HEAD must not have sent a body: {}",
        second.head
    );
    assert_eq!(second.text(), "OK");
}

#[test]
fn version_prefixes() {
    let srv = TestServer::start(Fake::default());
    for path in ["/version", "/v1.41/version", "/v1.24/version"] {
        let r = srv.call("GET", path, None);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.json()["Version"], FAKE_VERSION);
    }
    let r = srv.call("GET", "/v1.47/version", None);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "client version 1.47 is too new. Maximum supported API version is 1.41"
    );
    assert_eq!(r.header("Api-Version").as_deref(), Some("1.41"));
    let r = srv.call("GET", "/v1.23/version", None);
    assert_eq!(r.status, 400);
    assert!(r.json()["message"]
        .as_str()
        .expect("message")
        .contains("too old"));
    let r = srv.call("GET", "/v1.41/nothing/here", None);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "page not found");
}

#[test]
fn engine_errors_map_to_statuses() {
    let srv = TestServer::start(Fake::default());
    let r = srv.call("GET", "/v1.41/containers/missing/json", None);
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("Content-Type").as_deref(),
        Some("application/json")
    );
    assert_eq!(r.json()["message"], "No such container: missing");

    let r = srv.call("POST", "/v1.41/containers/running/start", None);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("Content-Length"), None);

    let r = srv.call("POST", "/v1.41/containers/other/start", None);
    assert_eq!(r.status, 204);

    // Image names hold slashes and colons.
    let r = srv.call(
        "GET",
        "/v1.41/images/docker.io/library/busybox:latest/json",
        None,
    );
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["message"],
        "No such image: docker.io/library/busybox:latest"
    );
    let r = srv.call(
        "DELETE",
        "/images/docker.io/library/busybox:latest?force=1",
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()[0]["Untagged"], "docker.io/library/busybox:latest");

    // Pull from an engine without a registry client (this fake one): a clean 404
    // before any stream.
    let r = srv.call(
        "POST",
        "/v1.41/images/create?fromImage=busybox&tag=latest",
        None,
    );
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["message"],
        "pull access is not available: this engine has no registry client (image busybox)"
    );
}

#[test]
fn bad_bodies_and_parameters_are_400_naming_them() {
    let srv = TestServer::start(Fake::default());
    let r = srv.call(
        "POST",
        "/containers/create?name=web",
        Some(br#"{"Image":"busybox","HostConfig":{"Memory":"lots"}}"#),
    );
    assert_eq!(r.status, 400);
    let msg = r.json()["message"].as_str().expect("message").to_string();
    assert!(
        msg.contains("field HostConfig.Memory") && msg.contains("\"lots\""),
        "{msg}"
    );
    let r = srv.call(
        "POST",
        "/containers/create",
        Some(br#"{"Image":"busybox","Tty":"yes"}"#),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("field Tty"), "{}", r.text());
    let r = srv.call(
        "POST",
        "/containers/create",
        Some(br#"{"Image":"busybox","Env":["A=1",7]}"#),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("field Env"), "{}", r.text());
    let r = srv.call("POST", "/containers/create", Some(b"{not json"));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("invalid JSON body"), "{}", r.text());

    let r = srv.call(
        "POST",
        "/containers/create?name=web",
        Some(br#"{"Image":"busybox"}"#),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["Id"], "web:busybox");

    let r = srv.call("POST", "/containers/x/stop?t=soon", None);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("query parameter t"), "{}", r.text());

    let r = srv.call("GET", "/containers/json?filters=%7Bbad", None);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("filters"), "{}", r.text());

    let r = srv.call("POST", "/containers/x/wait?condition=whenever", None);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("condition"), "{}", r.text());

    let r = srv.call("GET", "/containers/x/logs", None);
    assert_eq!(r.status, 400);

    let r = srv.call("GET", "/events?since=yesterday", None);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("since"), "{}", r.text());

    let r = srv.call("POST", "/containers/prune", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["ContainersDeleted"][0], "a");
    assert_eq!(r.json()["SpaceReclaimed"], 42);
}

#[test]
fn malformed_request_gets_400_and_the_daemon_lives_on() {
    let srv = TestServer::start(Fake::default());
    let mut s = srv.connect();
    s.write_all(b"\x00\x01garbage\r\n\r\n").expect("write");
    let r = read_response(&mut s);
    assert_eq!(r.status, 400);
    let r = srv.call("GET", "/_ping", None);
    assert_eq!(r.status, 200);
}

#[test]
fn chunked_import_body_reaches_the_engine_intact() {
    let srv = TestServer::start(Fake::default());
    // Not valid UTF-8 and bigger than one read, sent in uneven chunks.
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let mut s = srv.connect();
    s.write_all(
        b"POST /v1.41/images/create?fromSrc=-&repo=img&tag=v1&changes=CMD%20%5B%22sh%22%5D&changes=ENV%20A%3DB&message=hi HTTP/1.1\r\n\
          Host: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-tar\r\n\r\n",
    )
    .expect("head");
    let mut at = 0;
    let mut size = 1;
    while at < payload.len() {
        let end = (at + size).min(payload.len());
        s.write_all(format!("{:x}\r\n", end - at).as_bytes())
            .expect("size");
        s.write_all(&payload[at..end]).expect("data");
        s.write_all(b"\r\n").expect("crlf");
        at = end;
        size = size * 3 + 1;
    }
    s.write_all(b"0\r\n\r\n").expect("last chunk");
    let head = read_head(&mut s);
    assert_eq!(status_of(&head), 200, "{head}");
    let line = read_chunk(&mut s).expect("status line");
    let msg: serde_json::Value = serde_json::from_slice(&line).expect("json");
    assert_eq!(msg["status"], format!("sha256:{:064x}", payload.len()));
    assert!(line.ends_with(b"\n"));
    assert!(read_chunk(&mut s).is_none());
    assert_eq!(*srv.fake.imported.lock().unwrap(), payload);
    let opts = srv.fake.import_opts.lock().unwrap().clone().expect("opts");
    assert_eq!(opts.repo.as_deref(), Some("img"));
    assert_eq!(opts.tag.as_deref(), Some("v1"));
    assert_eq!(
        opts.changes,
        vec!["CMD [\"sh\"]".to_string(), "ENV A=B".to_string()]
    );
    assert_eq!(opts.message.as_deref(), Some("hi"));

    // The same connection serves the next request (keep-alive after a chunked body).
    s.write_all(b"POST /images/load?quiet=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nabcde")
        .expect("load");
    let r = read_response(&mut s);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "{\"stream\":\"Loaded image: fake:5\\n\"}\n");
}

#[test]
fn hijacked_attach_is_bidirectional_with_half_close() {
    let fake = Fake::default();
    let (tx, rx) = mpsc::channel();
    *fake.attach_tx.lock().unwrap() = Some(tx);
    let srv = TestServer::start(fake);
    let mut client = srv.connect();
    // "early" rides in the same write as the head: it is already stdin.
    client
        .write_all(
            b"POST /v1.41/containers/abc/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n\
              Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly",
        )
        .expect("write");
    let head = read_head(&mut client);
    assert_eq!(status_of(&head), 101, "{head}");
    assert!(head.starts_with("HTTP/1.1 101 UPGRADED\r\n"), "{head}");
    assert_eq!(
        header_in(&head, "Content-Type").as_deref(),
        Some("application/vnd.docker.raw-stream")
    );
    assert_eq!(header_in(&head, "Connection").as_deref(), Some("Upgrade"));
    assert_eq!(header_in(&head, "Upgrade").as_deref(), Some("tcp"));
    let mut engine = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("engine end");
    engine
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");

    client.write_all(b" more").expect("stdin");
    // Client half-close: the engine side must see EOF after the stdin bytes...
    client.shutdown(Shutdown::Write).expect("half-close");
    let mut stdin = Vec::new();
    engine
        .read_to_end(&mut stdin)
        .expect("engine reads stdin to EOF");
    assert_eq!(stdin, b"early more");

    // ...while output still flows to the client.
    engine
        .write_all(b"\x01\x00\x00\x00\x00\x00\x00\x03out")
        .expect("stdout");
    let mut got = [0u8; 11];
    client
        .read_exact(&mut got)
        .expect("output after half-close");
    assert_eq!(&got, b"\x01\x00\x00\x00\x00\x00\x00\x03out");

    // Engine EOF closes the client connection.
    drop(engine);
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).expect("client sees EOF");
    assert!(rest.is_empty());
}

#[test]
fn attach_without_upgrade_and_exec_start() {
    let fake = Fake::default();
    let (tx, rx) = mpsc::channel();
    *fake.attach_tx.lock().unwrap() = Some(tx);
    let srv = TestServer::start(fake);

    // Plain POST: 200 with the raw-stream type and no length.
    let mut client = srv.connect();
    client
        .write_all(b"POST /containers/abc/attach?stdout=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let head = read_head(&mut client);
    assert_eq!(status_of(&head), 200, "{head}");
    assert_eq!(header_in(&head, "Content-Length"), None);
    let mut engine = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("engine end");
    engine.write_all(b"bye").expect("write");
    drop(engine);
    let mut out = Vec::new();
    client.read_to_end(&mut out).expect("read");
    assert_eq!(out, b"bye");

    // A missing container is a plain 404, not a hijack.
    let r = srv.call("POST", "/containers/missing/attach?stdout=1", None);
    assert_eq!(r.status, 404);

    // Exec: detached is a plain 200; attached is hijacked after the JSON body.
    let r = srv.call("POST", "/exec/exec1/start", Some(br#"{"Detach":true}"#));
    assert_eq!(r.status, 200);
    let body = br#"{"Detach":false,"Tty":false}"#;
    let mut client = srv.connect();
    client
        .write_all(
            format!(
                "POST /v1.41/exec/exec1/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .expect("head");
    client.write_all(body).expect("body");
    client.write_all(b"in").expect("stdin");
    let head = read_head(&mut client);
    assert_eq!(status_of(&head), 101, "{head}");
    let mut engine = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("engine end");
    let mut two = [0u8; 2];
    engine.read_exact(&mut two).expect("stdin");
    assert_eq!(&two, b"in");
}

#[test]
fn wait_sends_headers_before_the_waiter_returns() {
    let fake = Fake::default();
    let (release, wait_rx) = mpsc::channel();
    *fake.wait_rx.lock().unwrap() = Some(wait_rx);
    let srv = TestServer::start(fake);
    let mut s = srv.connect();
    s.write_all(b"POST /v1.41/containers/abc/wait?condition=next-exit HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    // The head arrives while the waiter is still blocked on `release`.
    let head = read_head(&mut s);
    assert_eq!(status_of(&head), 200);
    assert_eq!(
        header_in(&head, "Content-Type").as_deref(),
        Some("application/json")
    );
    release.send(3).expect("release the waiter");
    let body = read_chunk(&mut s).expect("wait body");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(
        v["StatusCode"], 103,
        "condition next-exit reached the engine"
    );
    assert!(v["Error"].is_null());
    assert!(read_chunk(&mut s).is_none());

    let r = srv.call("POST", "/containers/missing/wait", None);
    assert_eq!(r.status, 404);
}

#[test]
fn logs_framing_tty_and_timestamps() {
    let srv = TestServer::start(Fake::default());
    let r = srv.call(
        "GET",
        "/v1.41/containers/abc/logs?stdout=1&stderr=1&tail=10&since=1700000000.5",
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        b"\x01\x00\x00\x00\x00\x00\x00\x06hello\n\x02\x00\x00\x00\x00\x00\x00\x05oops\n".to_vec()
    );
    let opts = srv.fake.logs_opts.lock().unwrap().clone().expect("opts");
    assert_eq!(opts.tail, Some(10));
    assert_eq!(opts.since_nanos, 1_700_000_000_500_000_000);
    assert!(opts.stdout && opts.stderr && !opts.follow);

    let r = srv.call("GET", "/containers/abc/logs?stdout=1&timestamps=1", None);
    let mut want = vec![1u8, 0, 0, 0, 0, 0, 0, 37];
    want.extend_from_slice(b"2026-11-22T17:00:00.123456789Z hello\n");
    want.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 36]);
    want.extend_from_slice(b"2026-11-22T17:00:01.000000000Z oops\n");
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        String::from_utf8_lossy(&want)
    );
    assert_eq!(r.body, want);

    let r = srv.call("GET", "/containers/tty/logs?stdout=1&timestamps=true", None);
    assert_eq!(
        r.text(),
        "2026-11-22T17:00:00.123456789Z hello\n2026-11-22T17:00:01.000000000Z oops\n"
    );
    let r = srv.call("GET", "/containers/tty/logs?stderr=1", None);
    assert_eq!(r.text(), "hello\noops\n");
}

#[test]
fn events_since_filters_and_until_end_the_stream() {
    let fake = Fake::default();
    let (tx, live) = mpsc::channel();
    *fake.events_rx.lock().unwrap() = Some(live);
    let srv = TestServer::start(fake);
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 2)
    .to_string();
    let mut s = srv.connect();
    s.write_all(
        format!(
            "GET /v1.41/events?since=1000000000.5&until={until}&filters=%7B%22type%22%3A%5B%22container%22%5D%7D HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        .as_bytes(),
    )
    .expect("write");
    let started = Instant::now();
    let head = read_head(&mut s);
    assert_eq!(status_of(&head), 200);
    // Only the past event at or after `since` (the fake filters like the engine).
    let first: serde_json::Value =
        serde_json::from_slice(&read_chunk(&mut s).expect("past")).expect("json");
    assert_eq!(first["Action"], "start");
    assert_eq!(first["Type"], "container");
    tx.send(event("die", 1_000_000_002_000_000_000))
        .expect("live");
    let chunk = read_chunk(&mut s).expect("live event");
    assert!(chunk.ends_with(b"\n"));
    let live: serde_json::Value = serde_json::from_slice(&chunk).expect("json");
    assert_eq!(live["Action"], "die");
    assert_eq!(live["Actor"]["Attributes"]["name"], FAKE_CONTAINER);
    // `until` passes: the stream ends by itself although the channel stays open.
    assert!(read_chunk(&mut s).is_none());
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(tx);
    let (since, until_n, filters) = srv.fake.events_args.lock().unwrap().clone().expect("args");
    assert_eq!(since, 1_000_000_000_500_000_000);
    assert_eq!(until_n, until.parse::<i64>().expect("n") * 1_000_000_000);
    assert_eq!(filters.get("type"), ["container"]);
}

#[test]
fn events_end_when_the_engine_hangs_up() {
    let fake = Fake::default();
    let (tx, live) = mpsc::channel();
    *fake.events_rx.lock().unwrap() = Some(live);
    let srv = TestServer::start(fake);
    let mut s = srv.connect();
    s.write_all(b"GET /events?filters=%7B%22type%22%3A%7B%22container%22%3Atrue%7D%7D HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    read_head(&mut s);
    read_chunk(&mut s).expect("past 1");
    read_chunk(&mut s).expect("past 2");
    drop(tx);
    assert!(read_chunk(&mut s).is_none());
    let (_, _, filters) = srv.fake.events_args.lock().unwrap().clone().expect("args");
    assert_eq!(filters.get("type"), ["container"]);
}

#[test]
fn stats_stream_carries_the_previous_sample() {
    let fake = Fake::default();
    fake.stats_limit.store(3, Ordering::SeqCst);
    let srv = TestServer::start(fake);
    let r = srv.call("GET", "/v1.41/containers/abc/stats", None);
    assert_eq!(r.status, 200);
    let docs: Vec<serde_json::Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    // Three samples, then the container is gone (NotFound) and the stream ends.
    assert_eq!(docs.len(), 3, "{}", r.text());
    assert_eq!(docs[0]["preread"], "0001-01-01T00:00:00Z");
    assert_eq!(docs[0]["precpu_stats"]["cpu_usage"]["total_usage"], 0);
    for i in 1..3 {
        assert_eq!(docs[i]["precpu_stats"], docs[i - 1]["cpu_stats"]);
        assert_eq!(docs[i]["preread"], docs[i - 1]["read"]);
    }

    // Not streaming: two samples, the second with the first as precpu.
    let fake = Fake::default();
    let srv = TestServer::start(fake);
    let r = srv.call("GET", "/containers/abc/stats?stream=false", None);
    assert_eq!(r.status, 200);
    assert!(r.header("Content-Length").is_some());
    let v = r.json();
    assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 2000);
    assert_eq!(v["precpu_stats"]["cpu_usage"]["total_usage"], 1000);
    let r = srv.call("GET", "/containers/abc/stats?stream=0&one-shot=1", None);
    let v = r.json();
    assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 3000);
    assert_eq!(v["precpu_stats"]["cpu_usage"]["total_usage"], 0);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let srv = TestServer::start(Fake::default());
    let mut s = srv.connect();
    for _ in 0..3 {
        s.write_all(b"GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let r = read_response(&mut s);
        assert_eq!(r.status, 200);
        assert_eq!(r.json()[0]["Names"][0], format!("/{FAKE_CONTAINER}"));
    }
}

#[test]
fn tcp_listener_and_expect_continue() {
    use std::net::TcpStream;
    let listener = berth_daemon::Listener::bind(&berth_daemon::Host::Tcp("127.0.0.1:0".into()))
        .expect("bind tcp");
    let addr = listener.local_tcp_addr().expect("tcp address");
    let engine: std::sync::Arc<dyn berth_engine::Engine> = std::sync::Arc::new(Fake::default());
    let handle = berth_daemon::Server::new(engine, vec![listener])
        .spawn()
        .expect("spawn");
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(
        b"POST /v1.41/images/load HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
    )
    .expect("head");
    // The body is only sent once the server asked for it.
    let interim = read_head(&mut s);
    assert!(interim.starts_with("HTTP/1.1 100 Continue"), "{interim}");
    s.write_all(b"xyz").expect("body");
    let head = read_head(&mut s);
    assert_eq!(status_of(&head), 200, "{head}");
    let line = read_chunk(&mut s).expect("message");
    assert_eq!(line, b"{\"stream\":\"Loaded image: fake:3\\n\"}\n".to_vec());
    assert!(read_chunk(&mut s).is_none());
    drop(handle);
}

#[test]
fn save_streams_the_archive_in_chunks_and_fails_cleanly() {
    let srv = TestServer::start(Fake::default());
    let r = srv.call(
        "GET",
        "/v1.41/images/get?names=busybox%3Alatest&names=app",
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("Content-Type").as_deref(),
        Some("application/x-tar")
    );
    assert_eq!(r.header("Transfer-Encoding").as_deref(), Some("chunked"));
    let names = vec!["busybox:latest".to_string(), "app".to_string()];
    assert_eq!(*srv.fake.saved.lock().unwrap(), names);
    assert_eq!(r.body, fake_archive(&names));

    // One image by name: slashes and colons are part of it.
    let r = srv.call("GET", "/images/localhost:5000/a/b:1/get", None);
    assert_eq!(r.status, 200);
    assert_eq!(
        *srv.fake.saved.lock().unwrap(),
        ["localhost:5000/a/b:1".to_string()]
    );

    // Unknown: an error response, before any archive byte.
    let r = srv.call("GET", "/images/get?names=busybox&names=nosuch", None);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "No such image: nosuch");
    let r = srv.call("GET", "/images/nosuch/get", None);
    assert_eq!(r.status, 404);

    // A failure half-way: the archive stops without its last chunk and the
    // connection closes, so no client can take it for a whole archive.
    let mut s = srv.connect();
    s.write_all(b"GET /images/get?names=broken HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("request");
    let head = read_head(&mut s);
    assert_eq!(status_of(&head), 200, "{head}");
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("read to eof");
    assert!(!rest.ends_with(b"0\r\n\r\n"), "a clean end after a failure");
    assert!(rest.len() < 300_000 + 1000, "{} bytes", rest.len());

    // The daemon lives on.
    assert_eq!(srv.call("GET", "/_ping", None).status, 200);
}

#[test]
fn image_prune_reports_in_dockers_shape() {
    let srv = TestServer::start(Fake::default());
    let r = srv.call(
        "POST",
        "/v1.41/images/prune?filters=%7B%22dangling%22%3A%7B%22false%22%3Atrue%7D%2C%22label%22%3A%5B%22a%3Db%22%5D%7D",
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({
            "ImagesDeleted": [
                {"Untagged": "old:1"},
                {"Deleted": format!("sha256:{}", "a".repeat(64))}
            ],
            "SpaceReclaimed": 1234
        })
    );
    let f = srv
        .fake
        .prune_filters
        .lock()
        .unwrap()
        .clone()
        .expect("filters");
    assert_eq!(f.get("dangling"), ["false"]);
    assert_eq!(f.get("label"), ["a=b"]);

    let r = srv.call(
        "POST",
        "/images/prune?filters=%7B%22dangling%22%3A%5B%22maybe%22%5D%7D",
        None,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "invalid filter 'dangling=maybe'");
    let r = srv.call("POST", "/images/prune?filters=notjson", None);
    assert_eq!(r.status, 400);
}

#[test]
fn auth_and_search_reach_the_engine_and_map_its_errors() {
    let srv = TestServer::start(Fake::default());
    let good = br#"{"username":"tester","password":"s3cret","serveraddress":"127.0.0.1:5000"}"#;
    let r = srv.call("POST", "/v1.41/auth", Some(good));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"Status": "Login Succeeded", "IdentityToken": ""})
    );
    let bad = br#"{"username":"tester","password":"nope","serveraddress":"127.0.0.1:5000"}"#;
    let r = srv.call("POST", "/auth", Some(bad));
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        "login attempt to http://127.0.0.1:5000/v2/ failed with status: 401 Unauthorized"
    );
    let r = srv.call("POST", "/auth", Some(b"{not json"));
    assert_eq!(r.status, 400);
    let r = srv.call("POST", "/auth", None);
    assert_eq!(r.status, 400);

    // `search` is not an image name.
    let r = srv.call(
        "GET",
        "/v1.41/images/search?term=127.0.0.1%3A5000%2Ffoo&limit=7&filters=%7B%22stars%22%3A%5B%222%22%5D%7D",
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let names: Vec<String> = r
        .json()
        .as_array()
        .expect("results")
        .iter()
        .map(|v| v["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, ["127.0.0.1:5000/foo-7-0", "127.0.0.1:5000/foo-7-1"]);
    let r = srv.call("GET", "/images/search?term=x&limit=lots", None);
    assert_eq!(r.status, 400);
}

#[test]
fn archive_head_get_and_put() {
    let srv = TestServer::start(Fake::default());
    // HEAD: the stat in its header, no body, errors without a body too; the connection
    // stays usable.
    let mut s = srv.connect();
    s.write_all(
        b"HEAD /v1.41/containers/c1/archive?path=%2Ff HTTP/1.1\r\nHost: x\r\n\r\n\
HEAD /v1.41/containers/c1/archive?path=%2Fmissing HTTP/1.1\r\nHost: x\r\n\r\n\
GET /v1.41/containers/c1/archive?path=%2Ff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("write");
    let head = read_head(&mut s);
    assert_eq!(status_of(&head), 200, "{head}");
    let stat = header_in(&head, "X-Docker-Container-Path-Stat").expect("stat header");
    let st = berth_api_types::container::ContainerPathStat::from_header(&stat).expect("stat");
    assert_eq!((st.name.as_str(), st.size), ("f", 2));
    let head = read_head(&mut s);
    assert_eq!(status_of(&head), 404, "{head}");
    let get = read_response(&mut s);
    assert_eq!(
        get.status, 200,
        "HEAD errors must not carry a body: {}",
        get.head
    );
    assert_eq!(
        get.header("Content-Type").as_deref(),
        Some("application/x-tar")
    );
    assert!(get.header("X-Docker-Container-Path-Stat").is_some());
    assert_eq!(get.text(), "TAR!");

    // GET of a missing path: a JSON error, nothing streamed.
    let r = srv.call("GET", "/containers/c1/archive?path=/nope", None);
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["message"],
        "Could not find the file /nope in container c1"
    );

    // PUT: 200 with an empty body; the engine's refusal maps to its status.
    let r = srv.call("PUT", "/containers/c1/archive?path=/", Some(b"x"));
    assert_eq!(r.status, 200, "{}", r.head);
    let r = srv.call("PUT", "/containers/c1/archive?path=/f", Some(b"x"));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "extraction point is not a directory");
}

#[test]
fn volume_routes_map_to_the_engine_and_its_errors() {
    let srv = TestServer::start(Fake::default());
    let r = srv.call(
        "POST",
        "/v1.41/volumes/create",
        Some(br#"{"Name":"data","Labels":{"a":"b"}}"#),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["Name"], "data");
    assert_eq!(r.json()["Labels"]["a"], "b");
    // An empty body is an anonymous volume, not an error.
    let r = srv.call("POST", "/volumes/create", None);
    assert_eq!(r.status, 201, "{}", r.text());

    let r = srv.call(
        "GET",
        "/v1.41/volumes?filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D",
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["Volumes"][0]["Name"], FAKE_VOLUME);
    assert_eq!(r.json()["Warnings"], serde_json::json!([]));
    let f = srv
        .fake
        .volume_filters
        .lock()
        .unwrap()
        .clone()
        .expect("filters");
    assert_eq!(f.get("dangling"), ["true"]);

    let r = srv.call("GET", &format!("/volumes/{FAKE_VOLUME}"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["Mountpoint"], "/fake/volumes/fake-vol/_data");
    let r = srv.call("GET", "/volumes/nope", None);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "get nope: no such volume");

    let r = srv.call("DELETE", &format!("/volumes/{FAKE_VOLUME}"), None);
    assert_eq!(r.status, 409);
    assert!(r.json()["message"].as_str().unwrap().contains(FAKE_ID));
    assert_eq!(srv.call("DELETE", "/volumes/nope", None).status, 404);
    assert_eq!(
        srv.call("DELETE", "/volumes/nope?force=1", None).status,
        204
    );

    let r = srv.call(
        "POST",
        "/volumes/prune?filters=%7B%22label%22%3A%5B%22x%22%5D%7D",
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"VolumesDeleted": ["old-vol"], "SpaceReclaimed": 42})
    );
    let f = srv
        .fake
        .volume_filters
        .lock()
        .unwrap()
        .clone()
        .expect("filters");
    assert_eq!(f.get("label"), ["x"]);
}

#[test]
fn network_routes_map_to_the_engine_and_its_errors() {
    let srv = TestServer::start(Fake::default());
    // Go's rules: field names in any case.
    let r = srv.call(
        "POST",
        "/v1.41/networks/create",
        Some(br#"{"name":"mynet","driver":"bridge","CheckDuplicate":true}"#),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"Id": "id-of-mynet-bridge", "Warning": ""})
    );
    let r = srv.call(
        "POST",
        "/networks/create",
        Some(format!(r#"{{"Name":"{FAKE_NETWORK}"}}"#).as_bytes()),
    );
    assert_eq!(r.status, 409);
    assert_eq!(
        r.json()["message"],
        format!("network with name {FAKE_NETWORK} already exists")
    );
    assert_eq!(srv.call("POST", "/networks/create", None).status, 400);

    let r = srv.call(
        "GET",
        "/networks?filters=%7B%22type%22%3A%5B%22custom%22%5D%7D",
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()[0]["Name"], FAKE_NETWORK);
    let f = srv
        .fake
        .volume_filters
        .lock()
        .unwrap()
        .clone()
        .expect("filters");
    assert_eq!(f.get("type"), ["custom"]);
    let r = srv.call(
        "GET",
        &format!("/v1.41/networks/{FAKE_NETWORK}?verbose=true"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["Scope"], "local");
    let r = srv.call("GET", "/networks/nope", None);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "network nope not found");

    assert_eq!(
        srv.call("DELETE", &format!("/networks/{FAKE_NETWORK}"), None)
            .status,
        204
    );
    let r = srv.call("DELETE", "/networks/bridge", None);
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["message"],
        "bridge is a pre-defined network and cannot be removed"
    );

    let r = srv.call(
        "POST",
        "/networks/n1/connect",
        Some(br#"{"Container":"c1","EndpointConfig":{"Aliases":["web"],"IPAMConfig":{"IPv4Address":"10.1.0.9"}}}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = srv.call(
        "POST",
        "/networks/n1/disconnect",
        Some(br#"{"Container":"c1","Force":true}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        *srv.fake.network_calls.lock().unwrap(),
        ["connect n1 c1 [\"web\"] 10.1.0.9", "disconnect n1 c1 true"]
    );

    let r = srv.call(
        "POST",
        "/networks/prune?filters=%7B%22until%22%3A%5B%2210m%22%5D%7D",
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"NetworksDeleted": ["old-net"]})
    );
}
