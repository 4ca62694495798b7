//! Pushing through berth's daemon, with the berth CLI and the docker CLI: to the
//! reference registry (Debian's docker-registry 2.8) open, behind htpasswd and behind
//! a token server; and to `berth registry serve`. The seeds' private-registry story
//! end to end; what a push reports (dockerd's statuses, the digest), what it records
//! (`RepoDigests`), and that skopeo reads what berth pushed. Each test runs its
//! registries in its daemon's network namespace.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::registry::{self, Auth, Registry};
use common::{out_err, tail, wait_for, Cli, Daemon};

fn setup() -> Option<Daemon> {
    if !registry::tools() || common::busybox().is_none() {
        return None;
    }
    let d = Daemon::start();
    d.import_busybox();
    Some(d)
}

/// `CLI run --rm --network none IMAGE echo WORD`: its output.
fn echo_in(d: &Daemon, cli: &Cli, image: &str, word: &str) -> String {
    d.ok(
        cli,
        &["run", "--rm", "--network", "none", image, "echo", word],
    )
}

/// The digest a push reported (`TAG: digest: sha256:… size: N`).
fn pushed_digest(out: &str) -> String {
    out.split("digest: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in {out}"))
        .to_string()
}

/// GET `path` of the registry at `host` from inside the daemon's namespace.
fn curl(d: &Daemon, host: &str, path: &str, user: Option<&str>) -> String {
    let mut args = vec!["-sS".to_string()];
    if let Some(u) = user {
        args.extend(["-u".to_string(), u.to_string()]);
    }
    args.push(format!("http://{host}{path}"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = d.net_run("curl", &args);
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// skopeo copies `image` from the registry to a directory, verifying every digest.
fn skopeo_reads(d: &Daemon, image: &str, creds: Option<&str>) {
    let dir = d
        .root
        .join(format!("skopeo-{}", image.replace(['/', ':'], "_")));
    let mut args = vec![
        "copy".to_string(),
        "--src-tls-verify=false".into(),
        "--insecure-policy".into(),
    ];
    if let Some(c) = creds {
        args.push(format!("--src-creds={c}"));
    }
    args.push(format!("docker://{image}"));
    args.push(format!("dir:{}", dir.display()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = d.net_run("skopeo", &args);
    let (_, se) = out_err(&o);
    assert!(o.status.success(), "skopeo copy {image}: {se}");
}

#[test]
#[ignore = "needs root (network namespaces, mounts), docker-registry and skopeo"]
fn push_to_the_reference_registry_then_pull_and_run_it_back() {
    let Some(d) = setup() else { return };
    let reg = Registry::start(&d, "registry", 5000, Auth::None);
    for cli in Cli::all() {
        let name = cli.name;
        let repo = format!("localhost:5000/{name}/busybox");
        // The seeds' story: tag, push, the catalog lists it, remove it, run pulls it.
        d.ok(&cli, &["tag", "busybox", &repo]);
        let out = d.ok(&cli, &["push", &repo]);
        assert!(out.contains("Using default tag: latest"), "{name}: {out}");
        assert!(
            out.contains(&format!("The push refers to repository [{repo}]")),
            "{name}: {out}"
        );
        // The first CLI sends the layer; the second finds it in the first's repository.
        assert!(
            out.contains("Pushed") || out.contains("Mounted from berth/busybox"),
            "{name}: {out}"
        );
        let digest = pushed_digest(&out);
        assert!(out.contains("latest: digest: sha256:"), "{name}: {out}");
        let catalog = curl(&d, &reg.host(), "/v2/_catalog", None);
        assert!(
            catalog.contains(&format!("\"{name}/busybox\"")),
            "{name}: {catalog}"
        );
        // The manifest the registry holds is the one the push reported.
        let head = d.net_run(
            "curl",
            &[
                "-sSI",
                "-H",
                "Accept: application/vnd.docker.distribution.manifest.v2+json",
                &format!("http://{}/v2/{name}/busybox/manifests/latest", reg.host()),
            ],
        );
        let head = String::from_utf8_lossy(&head.stdout).to_ascii_lowercase();
        assert!(
            head.contains(&format!("docker-content-digest: {digest}")),
            "{name}: {head}"
        );
        // RepoDigests records it.
        let digests = d.ok(
            &cli,
            &[
                "image",
                "inspect",
                "--format",
                "{{json .RepoDigests}}",
                &repo,
            ],
        );
        assert!(
            digests.contains(&format!("{repo}@{digest}")),
            "{name}: {digests}"
        );
        skopeo_reads(&d, &format!("{}/{name}/busybox:latest", reg.host()), None);

        // Pushed again: nothing to send, the same digest.
        let again = d.ok(&cli, &["push", &repo]);
        assert!(again.contains("Layer already exists"), "{name}: {again}");
        assert!(!again.contains("Pushed"), "{name}: {again}");
        assert_eq!(pushed_digest(&again), digest, "{name}");
        // Another repository of the same registry mounts the layer.
        let other = format!("localhost:5000/{name}/other:v1");
        d.ok(&cli, &["tag", "busybox", &other]);
        let mounted = d.ok(&cli, &["push", &other]);
        assert!(mounted.contains("Mounted from "), "{name}: {mounted}");
        assert!(!mounted.contains("Pushed"), "{name}: {mounted}");
        assert_eq!(pushed_digest(&mounted), digest, "{name}");

        // Removed here, `run` pulls it back from the registry and runs it.
        let id = d.ok(&cli, &["image", "inspect", "--format", "{{.Id}}", &repo]);
        d.ok(&cli, &["rmi", "-f", id.trim()]);
        let o = d.run(
            &cli,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                &repo,
                "echo",
                "pulled-back",
            ],
        );
        let (so, se) = out_err(&o);
        assert!(o.status.success(), "{name}: {se}\n{}", tail(&d.log(), 20));
        assert_eq!(so, "pulled-back\n", "{name}");
        assert!(se.contains("Pull complete"), "{name}: {se}");
        assert!(se.contains(&format!("Digest: {digest}")), "{name}: {se}");
        // Put busybox back for the next CLI.
        d.ok(&cli, &["tag", &repo, "busybox"]);
    }

    // Unknown images and digest references are refused, as dockerd refuses them.
    for cli in Cli::all() {
        let o = d.run(&cli, &["push", "localhost:5000/not/here"]);
        let (_, se) = out_err(&o);
        assert!(!o.status.success(), "{}", cli.name);
        assert!(
            se.contains("An image does not exist locally with the tag: localhost:5000/not/here"),
            "{}: {se}",
            cli.name
        );
    }
    drop(reg);
}

#[test]
#[ignore = "needs root (network namespaces, mounts), docker-registry and skopeo"]
fn push_all_tags_and_to_registries_that_want_basic_or_token_auth() {
    let Some(d) = setup() else { return };
    // --all-tags pushes every tag of the repository.
    let open = Registry::start(&d, "open", 5001, Auth::None);
    let berth = Cli::berth();
    for t in ["a", "b"] {
        d.ok(
            &berth,
            &["tag", "busybox", &format!("127.0.0.1:5001/multi:{t}")],
        );
    }
    let out = d.ok(&berth, &["push", "--all-tags", "127.0.0.1:5001/multi"]);
    assert!(out.contains("a: digest: sha256:"), "{out}");
    assert!(out.contains("b: digest: sha256:"), "{out}");
    let tags = curl(&d, &open.host(), "/v2/multi/tags/list", None);
    assert!(tags.contains("\"a\"") && tags.contains("\"b\""), "{tags}");
    drop(open);

    // Basic auth: refused without credentials, nothing stored; pushed with them.
    let basic = Registry::start(
        &d,
        "basic",
        5100,
        Auth::Basic("tester".into(), "s3cret".into()),
    );
    let repo = "127.0.0.1:5100/private/busybox";
    d.ok(&berth, &["tag", "busybox", repo]);
    let o = d.run(&berth, &["push", repo]);
    let (_, se) = out_err(&o);
    assert!(!o.status.success());
    assert!(se.contains("no basic auth credentials"), "{se}");
    let cat = curl(&d, &basic.host(), "/v2/_catalog", Some("tester:s3cret"));
    assert!(!cat.contains("private/busybox"), "{cat}");
    let auth = |user: &str, pass: &str| registry::registry_auth(user, pass, "127.0.0.1:5100");
    let images_api =
        |q: &str, header: &str| registry::post_with_auth(&d, &format!("images/{q}"), header);
    let out = images_api(
        "127.0.0.1:5100/private/busybox/push?tag=latest",
        &auth("tester", "wrong"),
    );
    assert!(
        out.contains("unauthorized") || out.contains("authentication required"),
        "{out}"
    );
    let out = images_api(
        "127.0.0.1:5100/private/busybox/push?tag=latest",
        &auth("tester", "s3cret"),
    );
    assert!(out.contains("latest: digest: sha256:"), "{out}");
    assert!(out.contains("\"aux\":{"), "{out}");
    skopeo_reads(&d, &format!("{repo}:latest"), Some("tester:s3cret"));
    // Credentials stored as `docker login` stores them: both CLIs send them.
    let cfg = registry::docker_login_file(&d, "127.0.0.1:5100", "tester:s3cret");
    for cli in Cli::all() {
        let t = format!("127.0.0.1:5100/private/busybox:{}", cli.name);
        d.ok(&cli, &["tag", "busybox", &t]);
        let out = d.ok(&cli, &["push", &t]);
        assert!(out.contains("Layer already exists"), "{out}");
        assert!(
            out.contains(&format!("{}: digest: sha256:", cli.name)),
            "{out}"
        );
    }
    std::fs::remove_file(cfg).expect("rm config.json");
    drop(basic);

    // Token auth: the token server grants pull and push to tester:s3cret only.
    let (tok, log) =
        registry::start_behind_token_server(&d, "token", 5200, "tok/busybox", &["pull", "push"]);
    let repo = "127.0.0.1:5200/tok/busybox";
    d.ok(&berth, &["tag", "busybox", repo]);
    // Wrong credentials: the token server refuses them; none: a token without
    // access, which the registry denies.
    let out = images_api(
        "127.0.0.1:5200/tok/busybox/push?tag=latest",
        &auth("nobody", "x"),
    );
    assert!(out.contains("incorrect username or password"), "{out}");
    let out = images_api("127.0.0.1:5200/tok/busybox/push?tag=latest", &auth("", ""));
    assert!(
        out.contains("denied: requested access to the resource is denied"),
        "{out}"
    );
    let out = images_api(
        "127.0.0.1:5200/tok/busybox/push?tag=latest",
        &auth("tester", "s3cret"),
    );
    assert!(
        out.contains("latest: digest: sha256:"),
        "{out}\n{}",
        tok.log()
    );
    let asked = log.lock().expect("log").join("\n");
    assert!(
        asked.contains("scope=repository%3Atok%2Fbusybox%3Apull%2Cpush"),
        "{asked}"
    );
    // Pulled back through the same token server.
    d.ok(&berth, &["rmi", repo]);
    let o = images_api(
        "create?fromImage=127.0.0.1:5200/tok/busybox&tag=latest",
        &auth("tester", "s3cret"),
    );
    assert!(o.contains("Status: Downloaded newer image"), "{o}");
    drop(tok);
}

/// `berth registry serve` in the daemon's namespace on 127.0.0.1:`port`.
fn serve_in(d: &Daemon, port: u16) -> common::Reaped {
    let root = d.root.join(format!("serve-{port}"));
    std::fs::create_dir_all(&root).expect("serve root");
    let child = d
        .in_netns(common::berth_bin())
        .args([
            "registry",
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--root",
        ])
        .arg(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("berth registry serve");
    let child = common::Reaped(child);
    assert!(
        wait_for(10, || {
            let o = d.net_run("curl", &["-sf", &format!("http://127.0.0.1:{port}/v2/")]);
            o.status.success()
        }),
        "berth registry serve did not answer"
    );
    child
}

#[test]
#[ignore = "needs root (network namespaces, mounts), skopeo"]
fn both_clis_push_to_berth_registry_serve_and_skopeo_reads_it() {
    let Some(d) = setup() else { return };
    let _server = serve_in(&d, 5300);
    for cli in Cli::all() {
        let name = cli.name;
        let repo = format!("127.0.0.1:5300/{name}/app:1");
        d.ok(&cli, &["tag", "busybox", &repo]);
        let out = d.ok(&cli, &["push", &repo]);
        assert!(out.contains("1: digest: sha256:"), "{name}: {out}");
        skopeo_reads(&d, &repo, None);
        let id = d.ok(&cli, &["image", "inspect", "--format", "{{.Id}}", &repo]);
        let o = d.run(&cli, &["rmi", &repo]);
        assert!(o.status.success());
        let o = echo_in(&d, &cli, &repo, "from-serve");
        assert_eq!(o, "from-serve\n", "{name}");
        let again = d.ok(&cli, &["image", "inspect", "--format", "{{.Id}}", &repo]);
        assert_eq!(id, again, "{name}: the image id survives the round trip");
    }
}

/// An ECDSA key and a certificate for `cn` under `dir`, signed by the CA `ca` (its
/// `.crt` and `.key` beside each other) with the extensions `ext`, or self-signed as
/// a CA when `ca` is None. The certificate's path.
fn make_cert(dir: &Path, name: &str, cn: &str, ca: Option<&Path>, ext: &str) -> PathBuf {
    let key = dir.join(format!("{name}.key"));
    let crt = dir.join(format!("{name}.crt"));
    let mut req = Command::new("openssl");
    req.args([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
    ])
    .args(["-nodes", "-subj", &format!("/CN={cn}"), "-keyout"])
    .arg(&key);
    match ca {
        None => {
            req.args(["-x509", "-days", "1", "-out"]).arg(&crt).args([
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]);
        }
        Some(_) => {
            req.arg("-out").arg(dir.join(format!("{name}.csr")));
        }
    }
    let o = req.stderr(Stdio::piped()).output().expect("openssl req");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    if let Some(ca) = ca {
        let extfile = dir.join(format!("{name}.ext"));
        std::fs::write(&extfile, ext).expect("extfile");
        let o = Command::new("openssl")
            .args(["x509", "-req", "-days", "1", "-in"])
            .arg(dir.join(format!("{name}.csr")))
            .arg("-CA")
            .arg(ca)
            .arg("-CAkey")
            .arg(ca.with_extension("key"))
            .args(["-CAcreateserial", "-out"])
            .arg(&crt)
            .arg("-extfile")
            .arg(&extfile)
            .stderr(Stdio::piped())
            .output()
            .expect("openssl x509");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    crt
}

#[test]
#[ignore = "needs root (network namespaces, mounts), docker-registry, skopeo and openssl"]
fn https_registries_are_trusted_through_certs_d_with_a_client_certificate() {
    if !registry::tools() || common::busybox().is_none() {
        return;
    }
    let certs = tempfile::tempdir().expect("certs dir");
    let certs_dir = certs.path().join("certs.d");
    let d = Daemon::start_with(&["--certs-dir", &certs_dir.to_string_lossy()]);
    d.import_busybox();
    // An address that is not loopback's, so the registry is not an insecure one: HTTPS
    // with verification, no fallback to HTTP. It lives only in the daemon's namespace.
    let ip = "198.18.0.1";
    let o = d.net_run("ip", &["addr", "add", &format!("{ip}/32"), "dev", "lo"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pki = d.root.join("pki");
    std::fs::create_dir_all(&pki).expect("pki");
    let ca = make_cert(&pki, "ca", "berth-test-ca", None, "");
    let server = make_cert(
        &pki,
        "server",
        ip,
        Some(&ca),
        &format!("subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth\n"),
    );
    let client = make_cert(
        &pki,
        "client",
        "berth-test-client",
        Some(&ca),
        "extendedKeyUsage=clientAuth\n",
    );
    let reg = Registry::start_on(
        &d,
        "tls",
        ip,
        5443,
        Auth::None,
        Some(registry::Tls {
            cert: server.clone(),
            key: server.with_extension("key"),
            client_ca: Some(ca.clone()),
        }),
    );
    let berth = Cli::berth();
    let repo = format!("{}/tls/busybox", reg.host());
    d.ok(&berth, &["tag", "busybox", &repo]);

    // The registry's CA is not trusted: refused, and nothing sent over plain HTTP.
    let o = d.run(&berth, &["push", &repo]);
    let (_, se) = out_err(&o);
    assert!(!o.status.success(), "{se}");
    assert!(
        se.contains("https://") && se.contains("certificate"),
        "{se}"
    );
    // Trusted, but the registry wants a client certificate.
    let host_dir = certs_dir.join(reg.host());
    std::fs::create_dir_all(&host_dir).expect("certs.d host dir");
    std::fs::copy(&ca, host_dir.join("ca.crt")).expect("ca.crt");
    let o = d.run(&berth, &["push", &repo]);
    assert!(!o.status.success(), "{}", out_err(&o).1);
    // With the client pair, the push goes through; the pull back and the run too.
    std::fs::copy(&client, host_dir.join("client.cert")).expect("client.cert");
    std::fs::copy(client.with_extension("key"), host_dir.join("client.key")).expect("client.key");
    let out = d.ok(&berth, &["push", &repo]);
    assert!(
        out.contains("latest: digest: sha256:"),
        "{out}\n{}",
        reg.log()
    );
    let id = d.ok(&berth, &["image", "inspect", "--format", "{{.Id}}", &repo]);
    d.ok(&berth, &["rmi", "-f", id.trim()]);
    for cli in Cli::all() {
        let o = echo_in(&d, &cli, &repo, "over-tls");
        assert_eq!(o, "over-tls\n", "{}", cli.name);
        let id = d.ok(&cli, &["image", "inspect", "--format", "{{.Id}}", &repo]);
        d.ok(&cli, &["rmi", "-f", id.trim()]);
    }
    drop(reg);
}
