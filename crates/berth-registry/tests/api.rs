//! The distribution API of `berth registry serve`, endpoint by endpoint, through a
//! plain HTTP client: what a client observes (statuses, headers, bodies, errors).

mod common;

use common::*;

#[test]
fn base_endpoint_and_errors() {
    let reg = Reg::start();
    let r = reg.get("/v2/");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Docker-Distribution-API-Version"),
        Some("registry/2.0")
    );
    assert_eq!(r.json(), serde_json::json!({}));

    // Errors in the spec's JSON format.
    let r = reg.get("/v2/Upper/tags/list");
    assert_eq!((r.status, r.code().as_str()), (400, "NAME_INVALID"));
    let r = reg.get("/v2/nothing/tags/list");
    assert_eq!((r.status, r.code().as_str()), (404, "NAME_UNKNOWN"));
    let e = &r.json()["errors"][0];
    assert!(e["message"].is_string(), "{e}");
    assert_eq!(e["detail"], "nothing");
    let r = reg.get("/v2/x/blobs/sha256:nothex");
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    let r = reg.call("PATCH", "/v2/x/manifests/latest", &[], Some(b"x"));
    assert_eq!((r.status, r.code().as_str()), (405, "UNSUPPORTED"));
}

#[test]
fn blobs_head_get_range_and_delete() {
    let reg = Reg::start();
    let data = noise(100_000, 1);
    let d = reg.push_blob("a/b/c", &data);
    let path = format!("/v2/a/b/c/blobs/{d}");

    let r = reg.head(&path);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("100000"));
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
    let r = reg.get(&path);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));

    // Ranges: 206 with Content-Range; past the end, 416.
    let r = reg.call("GET", &path, &[("Range", "bytes=10-19")], None);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, data[10..20]);
    assert_eq!(r.header("Content-Range"), Some("bytes 10-19/100000"));
    let r = reg.call("GET", &path, &[("Range", "bytes=99990-")], None);
    assert_eq!((r.status, r.body.as_slice()), (206, &data[99_990..]));
    let r = reg.call("GET", &path, &[("Range", "bytes=-5")], None);
    assert_eq!((r.status, r.body.as_slice()), (206, &data[99_995..]));
    let r = reg.call("GET", &path, &[("Range", "bytes=100000-")], None);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("Content-Range"), Some("bytes */100000"));

    // Blobs belong to repositories.
    let r = reg.get(&format!("/v2/other/blobs/{d}"));
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UNKNOWN"));
    let missing = digest(b"missing");
    let r = reg.head(&format!("/v2/a/b/c/blobs/{missing}"));
    assert_eq!(r.status, 404);

    let r = reg.delete(&path);
    assert_eq!(r.status, 202);
    assert_eq!(reg.get(&path).status, 404);
    let r = reg.delete(&path);
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UNKNOWN"));
}

#[test]
fn chunked_upload_session() {
    let reg = Reg::start();
    let data = noise(300_001, 2);
    let d = digest(&data);
    let r = reg.call("POST", "/v2/up/blobs/uploads/", &[], None);
    assert_eq!(r.status, 202);
    let loc = r.header("Location").expect("Location").to_string();
    let uuid = r.header("Docker-Upload-UUID").expect("uuid").to_string();
    assert!(loc.ends_with(&uuid), "{loc}");
    assert_eq!(r.header("Range"), Some("0-0"));

    let (c1, rest) = data.split_at(100_000);
    let (c2, c3) = rest.split_at(150_000);
    let r = reg.call(
        "PATCH",
        &loc,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", "0-99999"),
        ],
        Some(c1),
    );
    assert_eq!(r.status, 202);
    assert_eq!(r.header("Range"), Some("0-99999"));
    let loc = r.header("Location").expect("Location").to_string();

    // The same chunk again, or one that skips ahead: 416, and the session stays.
    for range in ["0-99999", "100001-250000"] {
        let r = reg.call(
            "PATCH",
            &loc,
            &[("Content-Range", range)],
            Some(&c2[..range_len(range)]),
        );
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("Range"), Some("0-99999"));
    }
    let r = reg.get(&loc);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("Range"), Some("0-99999"));
    assert!(r.header("Location").is_some());

    // A chunk without Content-Range (streamed), then the last one with the PUT.
    let r = reg.call("PATCH", &loc, &[], Some(c2));
    assert_eq!(r.status, 202);
    assert_eq!(r.header("Range"), Some("0-249999"));
    let r = reg.call(
        "PUT",
        &format!("{loc}?digest={d}"),
        &[("Content-Range", "250000-300000")],
        Some(c3),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("Location"),
        Some(format!("/v2/up/blobs/{d}").as_str())
    );
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
    assert_eq!(reg.get(&format!("/v2/up/blobs/{d}")).body, data);
    // The session is gone.
    let r = reg.get(&loc);
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UPLOAD_UNKNOWN"));
    assert!(files_under(&reg.path().join("_uploads")).is_empty());
}

fn range_len(range: &str) -> usize {
    let (a, b) = range.split_once('-').expect("range");
    b.parse::<usize>().expect("end") - a.parse::<usize>().expect("start") + 1
}

#[test]
fn session_put_with_the_whole_blob_and_cancel() {
    let reg = Reg::start();
    let data = b"config bytes".to_vec();
    let d = digest(&data);
    let r = reg.call("POST", "/v2/x/blobs/uploads/", &[], None);
    let loc = r.header("Location").expect("Location").to_string();
    let r = reg.call("PUT", &format!("{loc}?digest={d}"), &[], Some(&data));
    assert_eq!(r.status, 201);
    assert_eq!(reg.get(&format!("/v2/x/blobs/{d}")).body, data);

    let r = reg.call("POST", "/v2/x/blobs/uploads/", &[], None);
    let loc = r.header("Location").expect("Location").to_string();
    reg.call("PATCH", &loc, &[], Some(b"partial"));
    let r = reg.delete(&loc);
    assert_eq!(r.status, 204);
    let r = reg.call("PATCH", &loc, &[], Some(b"more"));
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UPLOAD_UNKNOWN"));
    // A session is bound to its repository.
    let r = reg.call("POST", "/v2/x/blobs/uploads/", &[], None);
    let uuid = r.header("Docker-Upload-UUID").expect("uuid").to_string();
    let r = reg.get(&format!("/v2/y/blobs/uploads/{uuid}"));
    assert_eq!(r.status, 404);
}

#[test]
fn digest_mismatch_keeps_nothing() {
    let reg = Reg::start();
    let data = b"the real content".to_vec();
    let wrong = digest(b"something else");
    // Monolithic.
    let r = reg.call(
        "POST",
        &format!("/v2/x/blobs/uploads/?digest={wrong}"),
        &[],
        Some(&data),
    );
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    // Through a session.
    let r = reg.call("POST", "/v2/x/blobs/uploads/", &[], None);
    let loc = r.header("Location").expect("Location").to_string();
    reg.call("PATCH", &loc, &[], Some(&data));
    let r = reg.call("PUT", &format!("{loc}?digest={wrong}"), &[], None);
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    for d in [wrong, digest(&data)] {
        assert_eq!(reg.head(&format!("/v2/x/blobs/{d}")).status, 404);
        assert!(!blob_file_exists(reg.path(), &d), "{d} stored");
    }
    assert!(files_under(&reg.path().join("_uploads")).is_empty());
    assert!(files_under(&reg.path().join("ingest")).is_empty());
    // A PUT without a digest.
    let r = reg.call("POST", "/v2/x/blobs/uploads/", &[], None);
    let loc = r.header("Location").expect("Location").to_string();
    let r = reg.call("PUT", &loc, &[], Some(b"x"));
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
}

#[test]
fn an_interrupted_chunk_leaves_no_partial_data() {
    use std::io::{Read, Write};
    let reg = Reg::start();
    let r = reg.call("POST", "/v2/x/blobs/uploads/", &[], None);
    let loc = r.header("Location").expect("Location").to_string();
    // Half a chunk, then the client goes away.
    let addr = reg.base.trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&addr).expect("connect");
    write!(
        s,
        "PATCH {loc} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1000\r\nContent-Range: 0-999\r\n\r\n"
    )
    .expect("head");
    s.write_all(&[7u8; 500]).expect("half");
    s.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    // Whatever the answer, the session has nothing.
    let r = reg.get(&loc);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("Range"), Some("0-0"));
    let data = noise(1000, 9);
    let r = reg.call("PATCH", &loc, &[("Content-Range", "0-999")], Some(&data));
    assert_eq!(r.status, 202);
    let r = reg.call("PUT", &format!("{loc}?digest={}", digest(&data)), &[], None);
    assert_eq!(r.status, 201);
}

#[test]
fn sessions_survive_a_restart_of_the_server() {
    let reg = Reg::start();
    let data = noise(5000, 3);
    let r = reg.call("POST", "/v2/x/blobs/uploads/", &[], None);
    let loc = r.header("Location").expect("Location").to_string();
    reg.call(
        "PATCH",
        &loc,
        &[("Content-Range", "0-2999")],
        Some(&data[..3000]),
    );
    let root = reg.stop();
    let reg = Reg::start_at(root, |_| {});
    let r = reg.call(
        "PATCH",
        &loc,
        &[("Content-Range", "3000-4999")],
        Some(&data[3000..]),
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let r = reg.call("PUT", &format!("{loc}?digest={}", digest(&data)), &[], None);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        reg.get(&format!("/v2/x/blobs/{}", digest(&data))).body,
        data
    );
}

#[test]
fn concurrent_uploads_of_the_same_blob() {
    let reg = Reg::start();
    let data = noise(2 << 20, 4);
    let d = digest(&data);
    std::thread::scope(|s| {
        for i in 0..6 {
            let (reg, data, d) = (&reg, &data, &d);
            s.spawn(move || {
                let agent = agent();
                let name = format!("repo{}", i % 2);
                if i % 3 == 0 {
                    let url = reg.url(&format!("/v2/{name}/blobs/uploads/?digest={d}"));
                    let r = call_with(&agent, "POST", &url, &[], Some(data));
                    assert_eq!(r.status, 201);
                    return;
                }
                let url = reg.url(&format!("/v2/{name}/blobs/uploads/"));
                let r = call_with(&agent, "POST", &url, &[], None);
                let loc = reg.url(r.header("Location").expect("Location"));
                for (k, chunk) in data.chunks(256 * 1024).enumerate() {
                    let start = k * 256 * 1024;
                    let range = format!("{start}-{}", start + chunk.len() - 1);
                    let r = call_with(
                        &agent,
                        "PATCH",
                        &loc,
                        &[("Content-Range", range.as_str())],
                        Some(chunk),
                    );
                    assert_eq!(r.status, 202);
                }
                let r = call_with(&agent, "PUT", &format!("{loc}?digest={d}"), &[], None);
                assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
            });
        }
    });
    for name in ["repo0", "repo1"] {
        assert_eq!(reg.get(&format!("/v2/{name}/blobs/{d}")).body, data);
    }
    assert!(files_under(&reg.path().join("_uploads")).is_empty());
    assert!(files_under(&reg.path().join("ingest")).is_empty());
}

#[test]
fn cross_repository_mount() {
    let reg = Reg::start();
    let d = reg.push_blob("src", b"shared layer");
    let r = reg.call(
        "POST",
        &format!("/v2/dst/blobs/uploads/?mount={d}&from=src"),
        &[],
        None,
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        r.header("Location"),
        Some(format!("/v2/dst/blobs/{d}").as_str())
    );
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
    assert_eq!(reg.get(&format!("/v2/dst/blobs/{d}")).body, b"shared layer");
    // Not in `from`, or no `from`: an upload session instead.
    let missing = digest(b"not there");
    for q in [format!("mount={missing}&from=src"), format!("mount={d}")] {
        let r = reg.call("POST", &format!("/v2/third/blobs/uploads/?{q}"), &[], None);
        assert_eq!(r.status, 202, "{q}");
        assert!(r
            .header("Location")
            .expect("Location")
            .starts_with("/v2/third/blobs/uploads/"));
    }
}

#[test]
fn manifests_of_every_media_type() {
    let reg = Reg::start();
    let (m, md) = reg.push_image("img", "v1", b"layer one");

    // By tag and by digest, GET and HEAD, the bytes as pushed.
    for reference in ["v1", md.as_str()] {
        let path = format!("/v2/img/manifests/{reference}");
        let r = reg.get(&path);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, m);
        assert_eq!(r.header("Content-Type"), Some(OCI_MANIFEST));
        assert_eq!(r.header("Docker-Content-Digest"), Some(md.as_str()));
        let r = reg.head(&path);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("Content-Length"),
            Some(m.len().to_string().as_str())
        );
    }

    // Docker schema 2, by digest.
    let cd = reg.push_blob("img", b"{}");
    let docker = format!(
        r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{cd}","size":2}},"layers":[]}}"#
    );
    let dd = digest(docker.as_bytes());
    let r = reg.put_manifest("img", &dd, DOCKER_MANIFEST, docker.as_bytes());
    assert_eq!(r.status, 201);
    assert_eq!(
        r.header("Location"),
        Some(format!("/v2/img/manifests/{dd}").as_str())
    );
    assert_eq!(
        reg.get(&format!("/v2/img/manifests/{dd}"))
            .header("Content-Type"),
        Some(DOCKER_MANIFEST)
    );

    // A Docker manifest list and an OCI index over them.
    for (mt, tag) in [(DOCKER_LIST, "list"), (OCI_INDEX, "index")] {
        let list = format!(
            r#"{{"schemaVersion":2,"mediaType":"{mt}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{md}","size":{},"platform":{{"architecture":"amd64","os":"linux"}}}},{{"mediaType":"{DOCKER_MANIFEST}","digest":"{dd}","size":{}}}]}}"#,
            m.len(),
            docker.len()
        );
        let r = reg.put_manifest("img", tag, mt, list.as_bytes());
        assert_eq!(r.status, 201, "{mt}: {}", String::from_utf8_lossy(&r.body));
        let r = reg.get(&format!("/v2/img/manifests/{tag}"));
        assert_eq!(
            (r.header("Content-Type"), r.body.as_slice()),
            (Some(mt), list.as_bytes())
        );
    }

    // An artifact: an OCI manifest with an artifactType and the empty config.
    let empty = reg.push_blob("img", b"{}");
    let blob = reg.push_blob("img", b"signature");
    let artifact = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"application/vnd.example.sig","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty}","size":2}},"layers":[{{"mediaType":"application/vnd.example.sig","digest":"{blob}","size":9}}]}}"#
    );
    let r = reg.put_manifest("img", "sig", OCI_MANIFEST, artifact.as_bytes());
    assert_eq!(r.status, 201);

    // A retag moves the tag.
    let r = reg.put_manifest("img", "v1", DOCKER_MANIFEST, docker.as_bytes());
    assert_eq!(r.status, 201);
    assert_eq!(reg.get("/v2/img/manifests/v1").body, docker.as_bytes());
}

#[test]
fn manifest_pushes_are_checked() {
    let reg = Reg::start();
    let cd = reg.push_blob("x", b"{}");
    let missing = digest(b"missing layer");
    let m = image_manifest(&cd, 2, &[(&missing, 13)], "");
    let r = reg.put_manifest("x", "t", OCI_MANIFEST, &m);
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "MANIFEST_BLOB_UNKNOWN")
    );
    assert_eq!(r.json()["errors"][0]["detail"], missing.as_str());
    // A blob in another repository does not count.
    let ld = reg.push_blob("elsewhere", b"layer");
    let m = image_manifest(&cd, 2, &[(&ld, 5)], "");
    let r = reg.put_manifest("x", "t", OCI_MANIFEST, &m);
    assert_eq!(r.code(), "MANIFEST_BLOB_UNKNOWN");
    // An index's manifests must be there too.
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{missing}","size":1}}]}}"#
    );
    let r = reg.put_manifest("x", "t", OCI_INDEX, index.as_bytes());
    assert_eq!(r.code(), "MANIFEST_BLOB_UNKNOWN");

    let r = reg.put_manifest("x", "t", OCI_MANIFEST, b"blablabla");
    assert_eq!((r.status, r.code().as_str()), (400, "MANIFEST_INVALID"));
    let good = image_manifest(&cd, 2, &[], "");
    let r = reg.put_manifest("x", &digest(b"other"), OCI_MANIFEST, &good);
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    let r = reg.put_manifest("x", ".bad-tag", OCI_MANIFEST, &good);
    assert_eq!((r.status, r.code().as_str()), (400, "TAG_INVALID"));
    assert_eq!(
        reg.get("/v2/x/tags/list").json()["tags"],
        serde_json::json!([])
    );

    // Unknown manifests.
    let r = reg.get("/v2/x/manifests/nope");
    assert_eq!((r.status, r.code().as_str()), (404, "MANIFEST_UNKNOWN"));
    assert_eq!(
        reg.head("/v2/x/manifests/.INVALID_MANIFEST_NAME").status,
        404
    );
    let r = reg.get("/v2/x/manifests/sha256:totallywrong");
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
}

#[test]
fn manifest_deletes_by_tag_and_digest() {
    let reg = Reg::start();
    let (_, md) = reg.push_image("x", "a", b"l");
    reg.put_manifest("x", "b", OCI_MANIFEST, &reg.get("/v2/x/manifests/a").body);
    // A tag alone.
    assert_eq!(reg.delete("/v2/x/manifests/a").status, 202);
    assert_eq!(reg.get("/v2/x/manifests/a").status, 404);
    assert_eq!(reg.get(&format!("/v2/x/manifests/{md}")).status, 200);
    assert_eq!(
        reg.get("/v2/x/tags/list").json()["tags"],
        serde_json::json!(["b"])
    );
    // The manifest, and the tags naming it.
    assert_eq!(reg.delete(&format!("/v2/x/manifests/{md}")).status, 202);
    assert_eq!(reg.get(&format!("/v2/x/manifests/{md}")).status, 404);
    assert_eq!(reg.get("/v2/x/manifests/b").status, 404);
    assert_eq!(
        reg.get("/v2/x/tags/list").json()["tags"],
        serde_json::json!([])
    );
    let r = reg.delete(&format!("/v2/x/manifests/{md}"));
    assert_eq!((r.status, r.code().as_str()), (404, "MANIFEST_UNKNOWN"));
}

#[test]
fn tags_and_catalog_paginate_with_links() {
    let reg = Reg::start();
    let (m, _) = reg.push_image("p/q", "t0", b"layer");
    for t in ["t3", "t1", "t2", "t4"] {
        assert_eq!(reg.put_manifest("p/q", t, OCI_MANIFEST, &m).status, 201);
    }
    let r = reg.get("/v2/p/q/tags/list");
    assert_eq!(
        r.json(),
        serde_json::json!({"name": "p/q", "tags": ["t0", "t1", "t2", "t3", "t4"]})
    );
    assert_eq!(r.header("Link"), None);
    let r = reg.get("/v2/p/q/tags/list?n=2");
    assert_eq!(r.json()["tags"], serde_json::json!(["t0", "t1"]));
    let link = r.header("Link").expect("Link");
    assert_eq!(link, "</v2/p/q/tags/list?last=t1&n=2>; rel=\"next\"");
    // Follow the links to the end.
    let r = reg.get(&r.next_page());
    assert_eq!(r.json()["tags"], serde_json::json!(["t2", "t3"]));
    let r = reg.get(&r.next_page());
    assert_eq!(r.json()["tags"], serde_json::json!(["t4"]));
    assert_eq!(r.header("Link"), None);
    let r = reg.get("/v2/p/q/tags/list?n=oops");
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "PAGINATION_NUMBER_INVALID")
    );

    for name in ["b", "a/z", "c", "a"] {
        reg.push_blob(name, b"x");
    }
    let r = reg.get("/v2/_catalog");
    assert_eq!(
        r.json(),
        serde_json::json!({"repositories": ["a", "a/z", "b", "c", "p/q"]})
    );
    let r = reg.get("/v2/_catalog?n=2&last=a");
    assert_eq!(r.json()["repositories"], serde_json::json!(["a/z", "b"]));
    assert_eq!(
        r.header("Link"),
        Some("</v2/_catalog?last=b&n=2>; rel=\"next\"")
    );
    let r = reg.get("/v2/_catalog?n=2&last=b");
    assert_eq!(r.json()["repositories"], serde_json::json!(["c", "p/q"]));
    assert_eq!(r.header("Link"), None);
}

#[test]
fn referrers_with_an_artifact_type_filter() {
    let reg = Reg::start();
    let (m, subject) = reg.push_image("r", "img", b"layer");
    let empty = reg.push_blob("r", b"{}");
    let mut pushed = Vec::new();
    for (i, at) in [
        "application/vnd.a",
        "application/vnd.b",
        "application/vnd.a",
    ]
    .iter()
    .enumerate()
    {
        let blob = reg.push_blob("r", format!("payload {i}").as_bytes());
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"{at}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty}","size":2}},"layers":[{{"mediaType":"{at}","digest":"{blob}","size":9}}],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":{}}},"annotations":{{"n":"{i}"}}}}"#,
            m.len()
        );
        let d = digest(body.as_bytes());
        let r = reg.put_manifest("r", &d, OCI_MANIFEST, body.as_bytes());
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("OCI-Subject"), Some(subject.as_str()));
        pushed.push(d);
    }
    // A referrer whose subject is not (yet) in the registry.
    let ghost = digest(b"future subject");
    let body = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.c","digest":"{empty}","size":2}},"layers":[],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{ghost}","size":1}}}}"#
    );
    assert_eq!(
        reg.put_manifest("r", "ghost", OCI_MANIFEST, body.as_bytes())
            .status,
        201
    );

    let r = reg.get(&format!("/v2/r/referrers/{subject}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some(OCI_INDEX));
    assert_eq!(r.header("OCI-Filters-Applied"), None);
    let idx = r.json();
    assert_eq!(idx["schemaVersion"], 2);
    assert_eq!(idx["mediaType"], OCI_INDEX);
    let list = idx["manifests"].as_array().expect("manifests");
    assert_eq!(list.len(), 3);
    for entry in list {
        assert!(
            pushed.iter().any(|d| entry["digest"] == d.as_str()),
            "{entry}"
        );
        assert_eq!(entry["mediaType"], OCI_MANIFEST);
        assert!(entry["size"].as_u64().expect("size") > 0);
        assert!(entry["annotations"]["n"].is_string());
    }
    let r = reg.get(&format!(
        "/v2/r/referrers/{subject}?artifactType=application/vnd.a"
    ));
    assert_eq!(r.header("OCI-Filters-Applied"), Some("artifactType"));
    let list = r.json()["manifests"].as_array().expect("manifests").clone();
    assert_eq!(list.len(), 2);
    assert!(list
        .iter()
        .all(|e| e["artifactType"] == "application/vnd.a"));
    // The config's media type stands in for a missing artifactType.
    let r = reg.get(&format!("/v2/r/referrers/{ghost}"));
    assert_eq!(
        r.json()["manifests"][0]["artifactType"],
        "application/vnd.c"
    );
    // None: an empty index. A deleted referrer leaves the list.
    let r = reg.get(&format!("/v2/r/referrers/{}", digest(b"nothing")));
    assert_eq!(
        (r.status, r.json()["manifests"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    assert_eq!(
        reg.delete(&format!("/v2/r/manifests/{}", pushed[1])).status,
        202
    );
    let r = reg.get(&format!("/v2/r/referrers/{subject}"));
    assert_eq!(r.json()["manifests"].as_array().map(Vec::len), Some(2));
    let r = reg.get("/v2/r/referrers/sha256:bad");
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    use std::io::{BufRead, BufReader, Read, Write};
    let reg = Reg::start();
    let d = reg.push_blob("k", b"0123456789");
    let addr = reg.base.trim_start_matches("http://").to_string();
    let s = std::net::TcpStream::connect(&addr).expect("connect");
    let mut w = s.try_clone().expect("clone");
    let mut r = BufReader::new(s);
    for _ in 0..3 {
        write!(w, "GET /v2/k/blobs/{d} HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("request");
        let mut status = String::new();
        r.read_line(&mut status).expect("status");
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        let mut len = 0;
        loop {
            let mut line = String::new();
            r.read_line(&mut line).expect("header");
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().expect("length");
            }
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).expect("body");
        assert_eq!(body, b"0123456789");
    }
}

#[test]
fn expect_continue_is_answered_only_when_the_body_is_wanted() {
    use std::io::{BufRead, BufReader, Read, Write};
    let reg = Reg::start();
    let addr = reg.base.trim_start_matches("http://").to_string();
    let data = b"sent after 100 Continue";
    let d = digest(data);
    let s = std::net::TcpStream::connect(&addr).expect("connect");
    let mut w = s.try_clone().expect("clone");
    let mut r = BufReader::new(s);
    write!(
        w,
        "POST /v2/e/blobs/uploads/?digest={d} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        data.len()
    )
    .expect("head");
    let mut line = String::new();
    r.read_line(&mut line).expect("interim");
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    r.read_line(&mut line).expect("blank");
    w.write_all(data).expect("body");
    let mut status = String::new();
    r.read_line(&mut status).expect("status");
    assert!(status.starts_with("HTTP/1.1 201"), "{status}");

    // Refused before the body is needed: no 100, and the connection closes (the
    // client may or may not send the body now).
    let s = std::net::TcpStream::connect(&addr).expect("connect");
    let mut w = s.try_clone().expect("clone");
    write!(
        w,
        "PUT /v2/e/manifests/Bad:Tag HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n"
    )
    .expect("head");
    let mut answer = String::new();
    BufReader::new(s)
        .read_to_string(&mut answer)
        .expect("answer");
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(!answer.contains("100 Continue"), "{answer}");
}
