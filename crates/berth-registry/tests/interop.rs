//! Interoperability: skopeo (containers/image, the library podman and buildah use)
//! pushes images into `berth registry serve` and pulls them back out, over HTTP and
//! over HTTPS with basic authentication. The image is a busybox OCI layout made with
//! umoci from the host's static busybox. Root tests (`#[ignore]`d: scripts/test.sh
//! runs them with --include-ignored; apt: skopeo, umoci, busybox-static).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn skopeo() -> Command {
    let mut c = Command::new("skopeo");
    c.arg("--insecure-policy");
    c
}

/// An OCI layout with `busybox:v1` (one gzip layer: the static busybox and `sh`).
fn busybox_layout(dir: &Path) -> PathBuf {
    let l = dir.join("layout");
    let b = dir.join("bundle");
    let script = format!(
        r#"
        umoci init --layout "{l}"
        umoci new --image "{l}:v1"
        umoci unpack --image "{l}:v1" "{b}"
        mkdir -p "{b}/rootfs/bin"
        cp /bin/busybox "{b}/rootfs/bin/busybox"
        ln -s busybox "{b}/rootfs/bin/sh"
        umoci repack --image "{l}:v1" "{b}"
        umoci config --image "{l}:v1" --config.cmd sh
        rm -rf "{b}"
        "#,
        l = l.display(),
        b = b.display()
    );
    ok(Command::new("sh").arg("-ec").arg(script));
    l
}

/// The manifest digest a layout's index names for `tag`.
fn layout_digest(layout: &Path, tag: &str) -> String {
    let idx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("json");
    idx["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .and_then(|m| m["digest"].as_str())
        .unwrap_or_else(|| panic!("no {tag} in {idx}"))
        .to_string()
}

fn layout_blob(layout: &Path, digest: &str) -> Vec<u8> {
    let (alg, hex) = digest.split_once(':').expect("digest");
    std::fs::read(layout.join("blobs").join(alg).join(hex)).expect("blob")
}

/// The blobs a manifest names, config first.
fn manifest_blobs(manifest: &[u8]) -> Vec<String> {
    let m: serde_json::Value = serde_json::from_slice(manifest).expect("manifest");
    let mut out = vec![m["config"]["digest"].as_str().expect("config").to_string()];
    for l in m["layers"].as_array().expect("layers") {
        out.push(l["digest"].as_str().expect("layer").to_string());
    }
    out
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn skopeo_pushes_and_pulls_over_http() {
    let t = tempfile::tempdir().expect("tempdir");
    let layout = busybox_layout(t.path());
    let want = layout_digest(&layout, "v1");
    let manifest = layout_blob(&layout, &want);
    let reg = Reg::start();
    let host = reg.base.trim_start_matches("http://").to_string();

    ok(skopeo()
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{host}/tools/busybox:v1")));
    assert_eq!(
        reg.get("/v2/_catalog").json()["repositories"],
        serde_json::json!(["tools/busybox"])
    );
    assert_eq!(
        reg.get("/v2/tools/busybox/tags/list").json()["tags"],
        serde_json::json!(["v1"])
    );
    let r = reg.get("/v2/tools/busybox/manifests/v1");
    assert_eq!(r.body, manifest, "the manifest is stored as pushed");
    assert_eq!(r.header("Docker-Content-Digest"), Some(want.as_str()));

    let inspect = ok(skopeo()
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{host}/tools/busybox:v1")));
    let inspect: serde_json::Value = serde_json::from_str(&inspect).expect("inspect json");
    assert_eq!(inspect["Digest"], want.as_str());

    // Back out: the same manifest and blobs, byte for byte.
    let out = t.path().join("out");
    ok(skopeo()
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{host}/tools/busybox:v1"))
        .arg(format!("oci:{}:v1", out.display())));
    assert_eq!(layout_digest(&out, "v1"), want);
    for d in manifest_blobs(&manifest) {
        assert!(
            layout_blob(&out, &d) == layout_blob(&layout, &d),
            "{d} differs"
        );
    }

    // Converted to Docker schema 2 on the way in, and pulled back.
    ok(skopeo()
        .args(["copy", "--format", "v2s2", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{host}/tools/busybox:v2s2")));
    let r = reg.get("/v2/tools/busybox/manifests/v2s2");
    assert_eq!(r.header("Content-Type"), Some(DOCKER_MANIFEST));
    ok(skopeo()
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{host}/tools/busybox:v2s2"))
        .arg(format!("dir:{}", t.path().join("dir").display())));

    // A second repository: skopeo mounts the blobs it already has there.
    ok(skopeo()
        .args(["copy", "--src-tls-verify=false", "--dest-tls-verify=false"])
        .arg(format!("docker://{host}/tools/busybox:v1"))
        .arg(format!("docker://{host}/mirror/busybox:v1")));
    assert_eq!(reg.get("/v2/mirror/busybox/manifests/v1").body, manifest);

    // Deletion by digest (the test registry runs with --delete).
    ok(skopeo()
        .args(["delete", "--tls-verify=false"])
        .arg(format!("docker://{host}/mirror/busybox:v1")));
    assert_eq!(reg.get("/v2/mirror/busybox/manifests/v1").status, 404);
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn skopeo_with_basic_auth_over_tls() {
    let t = tempfile::tempdir().expect("tempdir");
    let layout = busybox_layout(t.path());
    let want = layout_digest(&layout, "v1");
    let certs = t.path().join("certs");
    std::fs::create_dir(&certs).expect("mkdir");
    let (cert, key) = (certs.join("ca.crt"), t.path().join("key.pem"));
    self_signed_cert(&cert, &key);
    let htpasswd = t.path().join("htpasswd");
    ok(Command::new("htpasswd")
        .args(["-cbB"])
        .arg(&htpasswd)
        .args(["alice", "wonderland"]));
    let reg = Reg::start_with(|o| {
        o.htpasswd = Some(htpasswd.clone());
        o.tls_cert = Some(cert.clone());
        o.tls_key = Some(key.clone());
    });
    let host = reg.base.trim_start_matches("https://").to_string();
    let dest = format!("docker://{host}/secure/busybox:v1");
    let src = format!("oci:{}:v1", layout.display());
    let cert_dir = format!("--dest-cert-dir={}", certs.display());

    // Without credentials, or with wrong ones: refused.
    for creds in [None, Some("alice:nope")] {
        let mut c = skopeo();
        c.args(["copy", &cert_dir]);
        if let Some(creds) = creds {
            c.arg(format!("--dest-creds={creds}"));
        }
        let out = run(c.arg(&src).arg(&dest));
        assert!(!out.status.success(), "{creds:?} was let in");
        let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(err.contains("unauthorized") || err.contains("401"), "{err}");
    }
    ok(skopeo()
        .args(["copy", &cert_dir, "--dest-creds=alice:wonderland"])
        .arg(&src)
        .arg(&dest));
    let out = t.path().join("out");
    ok(skopeo()
        .arg("copy")
        .arg(format!("--src-cert-dir={}", certs.display()))
        .arg("--src-creds=alice:wonderland")
        .arg(&dest)
        .arg(format!("oci:{}:v1", out.display())));
    assert_eq!(layout_digest(&out, "v1"), want);
}
