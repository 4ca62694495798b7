//! A registry server on 127.0.0.1 and a free port with a temporary root, and a plain
//! HTTP client (ureq) to drive it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use berth_registry::server::{Options, Server, ServerHandle};

/// A running test registry; stopped and removed when dropped.
pub struct Reg {
    pub handle: ServerHandle,
    pub root: tempfile::TempDir,
    pub base: String,
    pub agent: ureq::Agent,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The URL of the next page, from the `Link` header.
    pub fn next_page(&self) -> String {
        let link = self.header("Link").expect("Link");
        let url = link.trim_start_matches('<').split('>').next().expect("url");
        url.to_string()
    }

    /// The first error code of an error body.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {}", String::from_utf8_lossy(&self.body)))
            .to_string()
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

impl Reg {
    pub fn start() -> Reg {
        Reg::start_with(|_| {})
    }

    /// With options changed by `f` (the address and root are the test's).
    pub fn start_with(f: impl FnOnce(&mut Options)) -> Reg {
        let root = tempfile::tempdir().expect("tempdir");
        Reg::start_at(root, f)
    }

    pub fn start_at(root: tempfile::TempDir, f: impl FnOnce(&mut Options)) -> Reg {
        let mut o = Options {
            addr: "127.0.0.1:0".into(),
            root: root.path().to_path_buf(),
            delete: true,
            ..Options::default()
        };
        f(&mut o);
        let tls = o.tls_cert.is_some();
        let server = Server::bind(&o).expect("bind");
        let handle = server.spawn().expect("spawn");
        let scheme = if tls { "https" } else { "http" };
        let base = format!("{scheme}://{}", handle.addr());
        Reg {
            handle,
            root,
            base,
            agent: agent(),
        }
    }

    /// Stops the server and hands back its storage.
    pub fn stop(self) -> tempfile::TempDir {
        self.handle.stop();
        self.root
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            return path.to_string();
        }
        format!("{}{path}", self.base)
    }

    /// One request; `path` may be absolute or a URL.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        call_with(&self.agent, method, &self.url(path), headers, body)
    }

    pub fn get(&self, path: &str) -> Resp {
        self.call("GET", path, &[], None)
    }

    pub fn head(&self, path: &str) -> Resp {
        self.call("HEAD", path, &[], None)
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.call("DELETE", path, &[], None)
    }

    /// Pushes a blob monolithically (`POST ?digest=`); returns its digest.
    pub fn push_blob(&self, name: &str, data: &[u8]) -> String {
        let d = digest(data);
        let r = self.call(
            "POST",
            &format!("/v2/{name}/blobs/uploads/?digest={d}"),
            &[("Content-Type", "application/octet-stream")],
            Some(data),
        );
        assert_eq!(
            r.status,
            201,
            "push blob: {}",
            String::from_utf8_lossy(&r.body)
        );
        d
    }

    /// Pushes a manifest.
    pub fn put_manifest(&self, name: &str, reference: &str, media_type: &str, body: &[u8]) -> Resp {
        self.call(
            "PUT",
            &format!("/v2/{name}/manifests/{reference}"),
            &[("Content-Type", media_type)],
            Some(body),
        )
    }

    /// Pushes a config and a layer and an OCI manifest naming them (tagged `tag`);
    /// returns the manifest's bytes and digest.
    pub fn push_image(&self, name: &str, tag: &str, layer: &[u8]) -> (Vec<u8>, String) {
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
            digest(layer)
        );
        let cd = self.push_blob(name, config.as_bytes());
        let ld = self.push_blob(name, layer);
        let m = image_manifest(&cd, config.len(), &[(&ld, layer.len())], "");
        let r = self.put_manifest(name, tag, OCI_MANIFEST, &m);
        assert_eq!(
            r.status,
            201,
            "push manifest: {}",
            String::from_utf8_lossy(&r.body)
        );
        let md = digest(&m);
        (m, md)
    }
}

pub fn call_with(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let mut b = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let result = match body {
        Some(data) => agent.run(b.body(data).expect("request")),
        None => agent.run(b.body(()).expect("request")),
    };
    let resp = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = if method == "HEAD" {
        Vec::new()
    } else {
        resp.into_body()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .unwrap_or_else(|e| panic!("{method} {url}: reading the body: {e}"))
    };
    Resp {
        status,
        headers,
        body,
    }
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// `sha256:<hex>` of some bytes.
pub fn digest(data: &[u8]) -> String {
    berth_image::content::sha256(data).to_string()
}

/// An OCI image manifest; `extra` is spliced in at the top level (`,"subject":…`).
pub fn image_manifest(
    config: &str,
    config_size: usize,
    layers: &[(&str, usize)],
    extra: &str,
) -> Vec<u8> {
    let layers: Vec<String> = layers
        .iter()
        .map(|(d, n)| {
            format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{d}","size":{n}}}"#)
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_size}}},"layers":[{}]{extra}}}"#,
        layers.join(",")
    )
    .into_bytes()
}

/// Pseudo-random bytes (xorshift), the same for the same seed.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Files under a directory, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A self-signed certificate for 127.0.0.1 and localhost, made with openssl, written
/// to `cert` and its key to `key`. Not a CA: webpki takes no CA certificate as a
/// server's own.
pub fn self_signed_cert(cert: &Path, key: &Path) {
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether a blob's content is in the store (by its file, whatever the API says).
pub fn blob_file_exists(root: &Path, digest: &str) -> bool {
    let (alg, hex) = digest.split_once(':').expect("digest");
    root.join("blobs").join(alg).join(hex).exists()
}
