//! The reference registry (Debian's docker-registry 2.8) for pull tests: started in a
//! test daemon's network namespace on 127.0.0.1:PORT, with filesystem storage under a
//! temporary directory, optionally behind htpasswd or token auth; images pushed into
//! it with skopeo from OCI layouts the test writes. Also a token server and a
//! throttling, request-logging TCP proxy, both threads living in that namespace.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use sha2::Digest as _;

use super::Daemon;

/// Whether the tools these tests need are installed (a note names what is missing).
pub fn tools() -> bool {
    let missing: Vec<&str> = [
        "docker-registry",
        "skopeo",
        "htpasswd",
        "openssl",
        "nsenter",
    ]
    .into_iter()
    .filter(|t| {
        !Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {t}"))
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
    .collect();
    if !missing.is_empty() {
        eprintln!(
            "note: {} missing (apt-get install docker-registry skopeo apache2-utils openssl); skipping",
            missing.join(", ")
        );
    }
    missing.is_empty()
}

/// Runs `f` on a thread inside `netns` (sockets it and its threads make live there).
pub fn in_netns<T: Send + 'static>(netns: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = std::fs::File::open(netns).expect("open netns");
    std::thread::spawn(move || {
        rustix::thread::move_into_link_name_space(
            ns.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .expect("setns into the daemon's network namespace");
        f()
    })
    .join()
    .expect("thread in netns")
}

fn sha256_hex(b: &[u8]) -> String {
    let d = sha2::Sha256::digest(b);
    d.iter().map(|x| format!("{x:02x}")).collect()
}

/// How the registry authenticates.
#[derive(Clone)]
pub enum Auth {
    None,
    /// htpasswd with this user and password.
    Basic(String, String),
    /// Token auth: realm URL, service, issuer, the root cert bundle.
    Token {
        realm: String,
        service: String,
        issuer: String,
        bundle: PathBuf,
    },
}

/// TLS for a registry: its certificate and key, and the CA its clients' certificates
/// must chain to (None: no client certificate asked for).
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// A docker-registry of the test's own.
pub struct Registry {
    pub dir: PathBuf,
    pub port: u16,
    /// The address it listens on (an address of the daemon's namespace).
    pub ip: String,
    config: PathBuf,
    child: Option<Child>,
    netns: PathBuf,
}

impl Registry {
    /// Starts a registry on 127.0.0.1:`port` in `d`'s namespace, storing under
    /// `d.root/<name>`.
    pub fn start(d: &Daemon, name: &str, port: u16, auth: Auth) -> Registry {
        Registry::start_on(d, name, "127.0.0.1", port, auth, None)
    }

    /// [`Registry::start`] on `ip` (an address of the namespace), over HTTPS when
    /// `tls` says how.
    pub fn start_on(
        d: &Daemon,
        name: &str,
        ip: &str,
        port: u16,
        auth: Auth,
        tls: Option<Tls>,
    ) -> Registry {
        let netns = d.netns.clone().expect("a daemon with its own netns");
        let dir = d.root.join(name);
        std::fs::create_dir_all(dir.join("storage")).expect("registry dir");
        let auth_yaml = match &auth {
            Auth::None => String::new(),
            Auth::Basic(user, pass) => {
                let htp = dir.join("htpasswd");
                let st = Command::new("htpasswd")
                    .args(["-Bbc"])
                    .arg(&htp)
                    .args([user, pass])
                    .stderr(Stdio::null())
                    .status()
                    .expect("htpasswd");
                assert!(st.success(), "htpasswd failed");
                format!(
                    "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                    htp.display()
                )
            }
            Auth::Token {
                realm,
                service,
                issuer,
                bundle,
            } => format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                bundle.display()
            ),
        };
        let tls_yaml = match &tls {
            None => String::new(),
            Some(t) => {
                let mut y = format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    t.cert.display(),
                    t.key.display()
                );
                if let Some(ca) = &t.client_ca {
                    y.push_str(&format!("    clientcas:\n      - {}\n", ca.display()));
                }
                y
            }
        };
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {ip}:{port}\n{tls_yaml}{auth_yaml}",
                dir.join("storage").display()
            ),
        )
        .expect("registry config");
        let mut r = Registry {
            dir,
            port,
            ip: ip.to_string(),
            config,
            child: None,
            netns,
        };
        r.spawn();
        r
    }

    /// (Re)starts the registry process and waits until it answers.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("registry.log"))
            .expect("registry log");
        let child = Command::new("nsenter")
            .arg(format!("--net={}", self.netns.display()))
            .args(["--", "docker-registry", "serve"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("spawn docker-registry");
        self.child = Some(child);
        let (ip, port) = (self.ip.clone(), self.port);
        let up = in_netns(&self.netns, move || {
            for _ in 0..200 {
                if TcpStream::connect((ip.as_str(), port)).is_ok() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            false
        });
        assert!(up, "registry did not listen:\n{}", self.log());
    }

    /// SIGKILLs the registry.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }

    pub fn host(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// Pushes OCI layout `layout` (tag `tag`) as `repo:tag` with skopeo, from inside
    /// the namespace.
    pub fn push(&self, layout: &Path, tag: &str, repo: &str, creds: Option<&str>) {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.netns.display())).args([
            "--",
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            "--insecure-policy",
        ]);
        if let Some(cr) = creds {
            c.arg(format!("--dest-creds={cr}"));
        }
        // --all: an index is pushed whole, not just the host's platform.
        let out = c
            .arg("--all")
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{repo}:{tag}", self.host()))
            .output()
            .expect("skopeo");
        assert!(
            out.status.success(),
            "skopeo copy failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// The path of a blob's data in the registry's storage.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What an OCI layout written by [`write_layout`] holds.
pub struct Layout {
    pub dir: PathBuf,
    /// The digest of the manifest (or index) index.json names.
    pub top: String,
    pub layers: Vec<String>,
}

/// How a layer is compressed.
#[derive(Clone, Copy)]
pub enum Comp {
    Gzip,
    Zstd,
}

fn put_blob(dir: &Path, b: &[u8]) -> String {
    let hex = sha256_hex(b);
    std::fs::write(dir.join("blobs/sha256").join(&hex), b).expect("blob");
    format!("sha256:{hex}")
}

fn compress(raw: &[u8], c: Comp) -> (Vec<u8>, &'static str) {
    match c {
        Comp::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(raw).expect("gzip");
            (
                e.finish().expect("gzip"),
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        }
        Comp::Zstd => (
            zstd::encode_all(raw, 1).expect("zstd"),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
    }
}

/// A manifest (and config) for `layers` (uncompressed tars) in `dir`; returns the
/// manifest's bytes and digest and the layer blob digests.
fn image(dir: &Path, layers: &[Vec<u8>], c: Comp, arch: &str) -> (Vec<u8>, String, Vec<String>) {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    let mut digests = Vec::new();
    for raw in layers {
        diff_ids.push(format!("sha256:{}", sha256_hex(raw)));
        let (blob, mt) = compress(raw, c);
        let d = put_blob(dir, &blob);
        digests.push(d.clone());
        descs.push(serde_json::json!({"mediaType": mt, "digest": d, "size": blob.len()}));
    }
    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .expect("config");
    let cd = put_blob(dir, &cfg);
    let man = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cfg.len()},
        "layers": descs,
    }))
    .expect("manifest");
    let md = put_blob(dir, &man);
    (man, md, digests)
}

/// Writes an OCI layout at `dir` whose tag `tag` is an image of `layers`; with
/// `arm64_too`, an index of it (linux/amd64) and a dummy linux/arm64 image.
pub fn write_layout(dir: &Path, tag: &str, layers: &[Vec<u8>], c: Comp, arm64_too: bool) -> Layout {
    std::fs::create_dir_all(dir.join("blobs/sha256")).expect("layout dir");
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("oci-layout");
    let (man, md, digests) = image(dir, layers, c, "amd64");
    let ann = serde_json::json!({"org.opencontainers.image.ref.name": tag});
    let (entry, top) = if arm64_too {
        let dummy = tar_of(&[("arm64-only", b"not runnable here".as_slice())]);
        let (aman, amd, _) = image(dir, &[dummy], c, "arm64");
        let idx = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd, "size": aman.len(),
                 "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": man.len(),
                 "platform": {"architecture": "amd64", "os": "linux"}},
            ],
        }))
        .expect("index");
        let id = put_blob(dir, &idx);
        (
            serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": id, "size": idx.len(), "annotations": ann}),
            id,
        )
    } else {
        (
            serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": man.len(), "annotations": ann}),
            md,
        )
    };
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [entry]}))
            .expect("index.json"),
    )
    .expect("index.json");
    Layout {
        dir: dir.to_path_buf(),
        top,
        layers: digests,
    }
}

/// A tar of regular files.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, name, *data).expect("tar entry");
    }
    b.into_inner().expect("tar")
}

/// The busybox rootfs tar (see `busybox_rootfs_tar`), as bytes.
pub fn busybox_layer(root: &Path) -> Vec<u8> {
    let p = super::busybox_rootfs_tar(root);
    std::fs::read(p).expect("busybox tar")
}

/// A layer of `size` bytes of pseudo-random data in one file (incompressible).
pub fn random_layer(name: &str, size: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut data = vec![0u8; size];
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
    tar_of(&[(name, &data)])
}

/// A TCP proxy in the namespace from 127.0.0.1:`listen` to 127.0.0.1:`upstream`:
/// logs each request head, counts the bytes it sends back and, with `rate`, sends
/// at most that many bytes per second.
pub struct Proxy {
    pub requests: Arc<Mutex<Vec<String>>>,
    pub relayed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    listen: u16,
    netns: PathBuf,
}

impl Proxy {
    pub fn start(netns: &Path, listen: u16, upstream: u16, rate: Option<u64>) -> Proxy {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let relayed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (rq, rl, st) = (requests.clone(), relayed.clone(), stop.clone());
        let ns = netns.to_path_buf();
        let listener = in_netns(netns, move || {
            TcpListener::bind(("127.0.0.1", listen)).expect("proxy bind")
        });
        // Threads made by a thread in the namespace are in it too.
        in_netns(&ns, move || {
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if st.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(client) = conn else { continue };
                    let (rq, rl) = (rq.clone(), rl.clone());
                    std::thread::spawn(move || serve(client, upstream, rq, rl, rate));
                }
            });
        });
        Proxy {
            requests,
            relayed,
            stop,
            listen,
            netns: netns.to_path_buf(),
        }
    }

    pub fn ranged_requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .expect("log")
            .iter()
            .filter(|r| r.to_ascii_lowercase().contains("\nrange: bytes="))
            .cloned()
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let port = self.listen;
        // Wake the accept loop so it sees the flag.
        in_netns(&self.netns, move || {
            let _ = TcpStream::connect(("127.0.0.1", port));
        });
    }
}

fn serve(
    client: TcpStream,
    upstream: u16,
    requests: Arc<Mutex<Vec<String>>>,
    relayed: Arc<AtomicU64>,
    rate: Option<u64>,
) {
    let Ok(up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return; // the client sees the connection close
    };
    let (mut c_read, mut u_write) = (
        client.try_clone().expect("dup"),
        up.try_clone().expect("dup"),
    );
    std::thread::spawn(move || {
        // Requests: log each head (a line-based look is enough for GETs).
        let mut r = BufReader::new(&mut c_read);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if u_write.write_all(line.as_bytes()).is_err() {
                break;
            }
            head.push_str(&line);
            if line == "\r\n" {
                requests
                    .lock()
                    .expect("log")
                    .push(std::mem::take(&mut head));
            }
        }
        let _ = u_write.shutdown(std::net::Shutdown::Write);
    });
    let (mut u_read, mut c_write) = (up, client);
    let mut buf = vec![0u8; 64 << 10];
    let start = std::time::Instant::now();
    let mut sent = 0u64;
    loop {
        let n = match u_read.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if c_write.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n as u64;
        relayed.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(rate) = rate {
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    let _ = c_write.shutdown(std::net::Shutdown::Both);
}

/// A key and self-signed certificate for signing registry tokens, and a signer.
pub struct TokenKeys {
    pub key: PathBuf,
    pub cert: PathBuf,
    x5c: String,
}

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

impl TokenKeys {
    pub fn new(dir: &Path) -> TokenKeys {
        let key = dir.join("token.key");
        let cert = dir.join("token.crt");
        let st = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=berth-test-token",
            ])
            .args(["-addext", "keyUsage=digitalSignature,keyCertSign"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .expect("openssl req");
        assert!(st.success(), "openssl req failed");
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .expect("openssl x509");
        assert!(der.status.success());
        TokenKeys {
            key,
            cert,
            x5c: base64::engine::general_purpose::STANDARD.encode(&der.stdout),
        }
    }

    /// A JWT for the registry, granting `actions` on `repo` (none: no access).
    pub fn token(&self, issuer: &str, service: &str, repo: &str, actions: &[&str]) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs();
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [self.x5c]});
        let access = if actions.is_empty() {
            serde_json::json!([])
        } else {
            serde_json::json!([{"type": "repository", "name": repo, "actions": actions}])
        };
        let claims = serde_json::json!({
            "iss": issuer, "sub": "tester", "aud": service,
            "exp": now + 3600, "nbf": now - 60, "iat": now - 60,
            "jti": format!("{now}-{}", actions.len()), "access": access,
        });
        let signing = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("openssl dgst");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(signing.as_bytes())
            .expect("sign input");
        let out = child.wait_with_output().expect("openssl dgst");
        assert!(out.status.success(), "openssl dgst failed");
        format!("{signing}.{}", b64url(&out.stdout))
    }
}

/// A token server in the namespace on 127.0.0.1:`port`: `granted` for requests with
/// basic credentials `user:pass`, `denied` (no access) for anonymous ones, and for
/// other credentials a 401 in Docker Hub's words (`{"details":"incorrect username or
/// password"}`). Logs the request lines.
pub fn token_server(
    netns: &Path,
    port: u16,
    user_pass: &str,
    granted: String,
    denied: String,
) -> Arc<Mutex<Vec<String>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let want = format!(
        "basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    );
    let l2 = log.clone();
    let listener = in_netns(netns, move || {
        TcpListener::bind(("127.0.0.1", port)).expect("token bind")
    });
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            let mut r = BufReader::new(s.try_clone().expect("dup"));
            let mut first = String::new();
            let _ = r.read_line(&mut first);
            let mut authorized = false;
            let mut credentials = false;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if lower.starts_with("authorization:") {
                    credentials = true;
                }
                if lower.trim() == format!("authorization: {want}").to_ascii_lowercase() {
                    authorized = true;
                }
            }
            l2.lock()
                .expect("log")
                .push(format!("{} auth={authorized}", first.trim()));
            if credentials && !authorized {
                let body = r#"{"details":"incorrect username or password"}"#;
                let _ = write!(
                    s,
                    "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                continue;
            }
            let token = if authorized { &granted } else { &denied };
            let body = format!(r#"{{"token":"{token}","expires_in":300}}"#);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    log
}

/// `X-Registry-Auth` for `user`/`pass` at `server`, as the docker CLI encodes it.
pub fn registry_auth(user: &str, pass: &str, server: &str) -> String {
    let j = serde_json::json!({"username": user, "password": pass, "serveraddress": server});
    base64::engine::general_purpose::URL_SAFE.encode(j.to_string())
}

/// `POST /v1.41/PATH_AND_QUERY` on `d`'s API with `X-Registry-Auth: header`: the
/// body, then a line with the status.
pub fn post_with_auth(d: &Daemon, path_and_query: &str, header: &str) -> String {
    let o = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--unix-socket"])
        .arg(&d.sock)
        .args(["-X", "POST", "-H", &format!("X-Registry-Auth: {header}")])
        .arg(format!("http://berth/v1.41/{path_and_query}"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Basic credentials `user:pass` for `host` in the docker CLI's `config.json` under
/// `d`'s `DOCKER_CONFIG` (what `docker login` writes); the file's path.
pub fn docker_login_file(d: &Daemon, host: &str, user_pass: &str) -> PathBuf {
    let cfg = d.root.join("docker-config");
    std::fs::create_dir_all(&cfg).expect("docker config");
    let a = base64::engine::general_purpose::STANDARD.encode(user_pass);
    let path = cfg.join("config.json");
    std::fs::write(
        &path,
        format!(r#"{{"auths":{{"{host}":{{"auth":"{a}"}}}}}}"#),
    )
    .expect("config.json");
    path
}

/// The token service the tests' token-auth registries name.
pub const TOKEN_SERVICE: &str = "berth-test-registry";

/// A registry on 127.0.0.1:`port` in `d`'s namespace that wants bearer tokens from a
/// token server on `port + 1`, which grants `actions` on `repo` to `tester:s3cret`
/// and no access to anyone else (wrong credentials: a 401). The registry and the
/// token server's request log.
pub fn start_behind_token_server(
    d: &Daemon,
    name: &str,
    port: u16,
    repo: &str,
    actions: &[&str],
) -> (Registry, Arc<Mutex<Vec<String>>>) {
    let netns = d.netns.clone().expect("a daemon with its own netns");
    let keys = TokenKeys::new(&d.root);
    let issuer = "berth-test-issuer";
    let granted = keys.token(issuer, TOKEN_SERVICE, repo, actions);
    let denied = keys.token(issuer, TOKEN_SERVICE, repo, &[]);
    let log = token_server(&netns, port + 1, "tester:s3cret", granted, denied);
    let reg = Registry::start(
        d,
        name,
        port,
        Auth::Token {
            realm: format!("http://127.0.0.1:{}/token", port + 1),
            service: TOKEN_SERVICE.into(),
            issuer: issuer.into(),
            bundle: keys.cert.clone(),
        },
    );
    (reg, log)
}
