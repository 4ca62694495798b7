//! `berth registry serve`'s switches — `--htpasswd`, `--read-only`, `--delete`,
//! `--tls-cert`/`--tls-key` — and `berth registry gc`.

mod common;

use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use common::*;

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[test]
fn basic_auth_against_htpasswd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("htpasswd");
    // An entry as `htpasswd -B` writes it ($2y$), and one from the bcrypt crate ($2b$).
    let out = Command::new("htpasswd")
        .args(["-nbB", "alice", "wonderland"])
        .output()
        .expect("htpasswd (apt-get install apache2-utils)");
    assert!(out.status.success());
    let alice = String::from_utf8(out.stdout).expect("utf-8");
    assert!(alice.starts_with("alice:$2y$"), "{alice}");
    let bob = format!("bob:{}\n", bcrypt::hash("builder", 4).expect("hash"));
    std::fs::write(&file, format!("{}\n{bob}", alice.trim_end())).expect("write");

    let reg = Reg::start_with(|o| o.htpasswd = Some(file.clone()));
    for path in ["/v2/", "/v2/_catalog", "/v2/x/tags/list"] {
        let r = reg.get(path);
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(
            r.header("WWW-Authenticate"),
            Some("Basic realm=\"berth-registry\"")
        );
        assert_eq!(r.code(), "UNAUTHORIZED");
    }
    let wrong = basic("alice", "nope");
    let r = reg.call("GET", "/v2/", &[("Authorization", &wrong)], None);
    assert_eq!(r.status, 401);
    for (user, pw) in [("alice", "wonderland"), ("bob", "builder")] {
        let auth = basic(user, pw);
        let r = reg.call("GET", "/v2/", &[("Authorization", &auth)], None);
        assert_eq!(r.status, 200, "{user}");
        let d = digest(b"data");
        let r = reg.call(
            "POST",
            &format!("/v2/{user}/blobs/uploads/?digest={d}"),
            &[("Authorization", &auth)],
            Some(b"data"),
        );
        assert_eq!(r.status, 201);
        // Without credentials, even a pull is refused.
        assert_eq!(reg.get(&format!("/v2/{user}/blobs/{d}")).status, 401);
    }
}

#[test]
fn read_only_refuses_every_write() {
    let root = tempfile::tempdir().expect("tempdir");
    let reg = Reg::start_at(root, |_| {});
    let (_, md) = reg.push_image("ro", "v1", b"layer");
    let reg = Reg::start_at(reg.stop(), |o| o.read_only = true);
    // Reads work.
    assert_eq!(reg.get("/v2/ro/manifests/v1").status, 200);
    assert_eq!(reg.get("/v2/_catalog").status, 200);
    let d = digest(b"new");
    let writes: [(&str, String, Option<&[u8]>); 5] = [
        (
            "POST",
            format!("/v2/ro/blobs/uploads/?digest={d}"),
            Some(b"new"),
        ),
        ("POST", "/v2/ro/blobs/uploads/".into(), None),
        ("PUT", "/v2/ro/manifests/v2".into(), Some(b"{}")),
        ("DELETE", format!("/v2/ro/manifests/{md}"), None),
        (
            "PATCH",
            "/v2/ro/blobs/uploads/00000000-0000-4000-8000-000000000000".into(),
            Some(b"x"),
        ),
    ];
    for (method, path, body) in writes {
        let r = reg.call(method, &path, &[], body);
        assert_eq!(
            (r.status, r.code().as_str()),
            (405, "UNSUPPORTED"),
            "{method} {path}"
        );
    }
    assert_eq!(reg.get(&format!("/v2/ro/manifests/{md}")).status, 200);
    assert!(!blob_file_exists(reg.path(), &d));
}

#[test]
fn deletes_only_with_delete() {
    let reg = Reg::start_with(|o| o.delete = false);
    let (_, md) = reg.push_image("d", "v1", b"layer");
    let ld = digest(b"layer");
    for path in [
        format!("/v2/d/manifests/{md}"),
        "/v2/d/manifests/v1".to_string(),
        format!("/v2/d/blobs/{ld}"),
    ] {
        let r = reg.delete(&path);
        assert_eq!(
            (r.status, r.code().as_str()),
            (405, "UNSUPPORTED"),
            "{path}"
        );
    }
    assert_eq!(reg.get("/v2/d/manifests/v1").status, 200);
    assert_eq!(reg.get(&format!("/v2/d/blobs/{ld}")).status, 200);
    // Cancelling an upload is no deletion of content.
    let r = reg.call("POST", "/v2/d/blobs/uploads/", &[], None);
    let loc = r.header("Location").expect("Location").to_string();
    assert_eq!(reg.delete(&loc).status, 204);
}

#[test]
fn tls_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    self_signed_cert(&cert, &key);
    let reg = Reg::start_with(|o| {
        o.tls_cert = Some(cert.clone());
        o.tls_key = Some(key.clone());
    });
    assert!(reg.base.starts_with("https://127.0.0.1:"));
    let pem = std::fs::read(&cert).expect("cert");
    let ca = ureq::tls::Certificate::from_pem(&pem)
        .expect("pem")
        .to_owned();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![ca])))
                .build(),
        )
        .build()
        .into();
    let data = noise(3 << 20, 5);
    let d = digest(&data);
    let r = call_with(
        &agent,
        "POST",
        &reg.url(&format!("/v2/t/blobs/uploads/?digest={d}")),
        &[],
        Some(&data),
    );
    assert_eq!(r.status, 201);
    // Over TLS a blob is copied, not sent with sendfile: the bytes are the same.
    let r = call_with(
        &agent,
        "GET",
        &reg.url(&format!("/v2/t/blobs/{d}")),
        &[],
        None,
    );
    assert_eq!(r.status, 200);
    assert!(r.body == data, "blob differs over TLS");
    let r = call_with(
        &agent,
        "GET",
        &reg.url(&format!("/v2/t/blobs/{d}")),
        &[("Range", "bytes=1000-1999")],
        None,
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &data[1000..2000]));
    // Plain HTTP on the TLS port gets nowhere.
    let plain = reg.base.replace("https://", "http://");
    let result = agent.get(&format!("{plain}/v2/")).call();
    assert!(result.map(|r| r.status().as_u16() >= 400).unwrap_or(true));
    // A certificate without its key is refused at start.
    let o = berth_registry::server::Options {
        addr: "127.0.0.1:0".into(),
        root: dir.path().join("root"),
        tls_cert: Some(cert.clone()),
        tls_key: Some(cert.clone()),
        ..Default::default()
    };
    let e = berth_registry::server::Server::bind(&o)
        .err()
        .expect("refused");
    assert!(e.to_string().contains("private key"), "{e}");
}

#[test]
fn gc_removes_unreferenced_blobs_only() {
    let reg = Reg::start();
    let (m, md) = reg.push_image("g", "v1", b"kept layer");
    let kept_layer = digest(b"kept layer");
    let orphan = reg.push_blob("g", b"orphan layer");
    let orphan2 = reg.push_blob("other/repo", b"another orphan");
    // An index keeps itself; its manifests keep theirs.
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{md}","size":{}}}]}}"#,
        m.len()
    );
    assert_eq!(
        reg.put_manifest("g", "idx", OCI_INDEX, index.as_bytes())
            .status,
        201
    );
    let root = reg.stop();

    let dry = berth_registry::server::gc::collect(root.path(), true).expect("dry run");
    let mut would: Vec<String> = dry.removed.iter().map(|(d, _)| d.to_string()).collect();
    would.sort();
    let mut want = vec![orphan.clone(), orphan2.clone()];
    want.sort();
    assert_eq!(would, want);
    assert!(
        blob_file_exists(root.path(), &orphan),
        "a dry run removes nothing"
    );

    let report = berth_registry::server::gc::collect(root.path(), false).expect("gc");
    assert_eq!(report.removed.len(), 2);
    assert_eq!(report.kept, 4, "config, layer, manifest, index");
    for d in [&orphan, &orphan2] {
        assert!(!blob_file_exists(root.path(), d), "{d} left");
    }
    let reg = Reg::start_at(root, |_| {});
    assert_eq!(reg.get("/v2/g/manifests/idx").status, 200);
    assert_eq!(reg.get("/v2/g/manifests/v1").body, m);
    assert_eq!(
        reg.get(&format!("/v2/g/blobs/{kept_layer}")).body,
        b"kept layer"
    );
    let r = reg.get(&format!("/v2/g/blobs/{orphan}"));
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UNKNOWN"));
    // An upload session left a week ago goes; one in progress stays.
    let r = reg.call("POST", "/v2/g/blobs/uploads/", &[], None);
    let old = r.header("Docker-Upload-UUID").expect("uuid").to_string();
    let r = reg.call("POST", "/v2/g/blobs/uploads/", &[], None);
    let fresh = r.header("Location").expect("Location").to_string();
    reg.call("PATCH", &fresh, &[], Some(b"going on"));
    let root = reg.stop();
    let week_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(8 * 24 * 3600);
    std::fs::File::options()
        .write(true)
        .open(root.path().join("_uploads").join(&old).join("data"))
        .expect("session data")
        .set_modified(week_ago)
        .expect("set mtime");
    let again = berth_registry::server::gc::collect(root.path(), false).expect("gc");
    assert!(
        again.removed.is_empty(),
        "collected again, nothing more goes"
    );
    assert_eq!(again.stale, 1);
    assert!(!root.path().join("_uploads").join(&old).exists());
    let reg = Reg::start_at(root, |_| {});
    let r = reg.get(&fresh);
    assert_eq!((r.status, r.header("Range")), (204, Some("0-7")));
}
