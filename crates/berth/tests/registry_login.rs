//! Logging in to registries through berth's daemon (`/auth`), with the berth CLI and
//! the unmodified docker CLI: the reference registry (Debian's docker-registry 2.8)
//! behind htpasswd and behind a token server, credentials kept in a temporary
//! DOCKER_CONFIG, then used by `berth pull`; `logout` takes them away again; `search`
//! against a registry that has none; and `/auth`'s answers beside a real dockerd's.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use common::registry::{self, Auth, Comp, Registry};
use common::{out_err, tail, Cli, Daemon};

fn setup() -> Option<Daemon> {
    if !registry::tools() || common::busybox().is_none() {
        return None;
    }
    Some(Daemon::start())
}

/// Runs `cli ARGS` against `d` with `input` on stdin.
/// `CLI login -u tester --password-stdin HOST` with the right password.
fn login_as_tester(d: &Daemon, cli: &Cli, host: &str) -> Output {
    run_with_stdin(
        d,
        cli,
        &["login", "-u", "tester", "--password-stdin", host],
        "s3cret\n",
    )
}

fn run_with_stdin(d: &Daemon, cli: &Cli, args: &[&str], input: &str) -> Output {
    let mut child = d
        .cmd(cli)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cli");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("cli")
}

/// Runs `berth ARGS` against `d` on a pseudo-terminal, answering each prompt in
/// `answers` (prompt, reply) once it appears; returns what the terminal showed and
/// the exit status.
fn run_on_terminal(d: &Daemon, args: &[&str], answers: &[(&str, &str)]) -> (String, i32) {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    use std::io::Read;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    let master =
        openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().expect("pts name"))
        .expect("open pts");
    let mut child = d
        .cmd(&Cli::berth())
        .args(args)
        .stdin(Stdio::from(slave.try_clone().expect("dup")))
        .stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave))
        .spawn()
        .expect("spawn berth on a terminal");
    let mut master = std::fs::File::from(master);
    let mut writer = master.try_clone().expect("dup master");
    let shown = Arc::new(Mutex::new(String::new()));
    let sink = shown.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // EIO once the child (the last holder of the slave) is gone.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("screen")
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut from = 0;
    for (prompt, reply) in answers {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = shown.lock().expect("screen").clone();
            if let Some(i) = screen[from..].find(prompt) {
                from += i + prompt.len();
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no prompt {prompt:?} in {screen:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        writer
            .write_all(format!("{reply}\n").as_bytes())
            .expect("answer the prompt");
    }
    let status = child.wait().expect("wait");
    drop(writer);
    let _ = reader.join();
    let screen = shown.lock().expect("screen").clone();
    (screen, status.code().unwrap_or(-1))
}

fn config_path(d: &Daemon) -> std::path::PathBuf {
    d.root.join("docker-config/config.json")
}

fn config(d: &Daemon) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(config_path(d)).unwrap_or_default())
        .unwrap_or(serde_json::Value::Null)
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// `POST /auth` with `body` on the Engine API at `sock`: (status, body).
fn post_auth(sock: &Path, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let o = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--unix-socket"])
        .arg(sock)
        .args(["-X", "POST", "-H", "Content-Type: application/json", "-d"])
        .arg(body.to_string())
        .arg("http://engine/v1.41/auth")
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let (json, code) = text.trim_end().rsplit_once('\n').expect("status line");
    (
        code.parse().expect("status"),
        serde_json::from_str(json).unwrap_or(serde_json::Value::Null),
    )
}

fn assert_fails_with(o: &Output, what: &str, needle: &str) {
    let (so, se) = out_err(o);
    assert!(!o.status.success(), "{what} succeeded: {so}{se}");
    assert!(se.contains(needle), "{what}: {se}");
}

#[test]
#[ignore = "needs root (network namespaces, mounts), docker-registry and skopeo"]
fn login_logout_and_pulls_with_stored_credentials_against_htpasswd() {
    let Some(d) = setup() else { return };
    let bb = registry::busybox_layer(&d.root);
    let layout = registry::write_layout(&d.root.join("oci"), "latest", &[bb], Comp::Gzip, false);
    let reg = Registry::start(
        &d,
        "basic",
        5100,
        Auth::Basic("tester".into(), "s3cret".into()),
    );
    reg.push(
        &layout.dir,
        "latest",
        "private/busybox",
        Some("tester:s3cret"),
    );
    let image = "127.0.0.1:5100/private/busybox";
    let berth = Cli::berth();
    // A config.json with settings of its own, which every write must keep.
    std::fs::create_dir_all(d.root.join("docker-config")).expect("config dir");
    let before = r#"{"psFormat":"table {{.ID}}","auths":{"other.example":{"auth":"eDp5"}}}"#;
    std::fs::write(config_path(&d), before).expect("config.json");

    // Wrong password: dockerd's words, non-zero, nothing written.
    let o = d.run(
        &berth,
        &["login", "127.0.0.1:5100", "-u", "tester", "-p", "wrong"],
    );
    assert_fails_with(
        &o,
        "login with a wrong password",
        "Error response from daemon: login attempt to http://127.0.0.1:5100/v2/ failed with status: 401 Unauthorized",
    );
    assert_eq!(
        std::fs::read_to_string(config_path(&d)).expect("config"),
        before
    );
    // No credentials anywhere: the pull is refused.
    assert_fails_with(
        &d.run(&berth, &["pull", image]),
        "pull before login",
        "no basic auth credentials",
    );
    // Not a terminal and no -u: refused before asking anything.
    assert_fails_with(
        &d.run(&berth, &["login", "127.0.0.1:5100"]),
        "login from a non-TTY",
        "Cannot perform an interactive login from a non TTY device",
    );

    // The right password, from stdin.
    let o = login_as_tester(&d, &berth, "127.0.0.1:5100");
    let (so, se) = out_err(&o);
    assert!(o.status.success(), "login: {se}\n{}", tail(&d.log(), 20));
    assert_eq!(so, "Login Succeeded\n");
    let cfg = config(&d);
    assert_eq!(cfg["auths"]["127.0.0.1:5100"]["auth"], b64("tester:s3cret"));
    assert_eq!(cfg["auths"]["other.example"]["auth"], "eDp5", "{cfg}");
    assert_eq!(cfg["psFormat"], "table {{.ID}}", "{cfg}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(config_path(&d))
        .expect("config")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // Pulls (and run's automatic pull) now send the stored credentials.
    let out = d.ok(&berth, &["pull", image]);
    assert!(
        out.contains("Status: Downloaded newer image for 127.0.0.1:5100/private/busybox:latest"),
        "{out}"
    );
    d.ok(&berth, &["rmi", image]);
    let o = d.ok(
        &berth,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            image,
            "echo",
            "basic-ok",
        ],
    );
    assert_eq!(o, "basic-ok\n");
    // Logging in again without flags uses what is stored.
    let o = d.run(&berth, &["login", "127.0.0.1:5100"]);
    let (so, se) = out_err(&o);
    assert!(o.status.success(), "{se}");
    assert!(
        se.contains("Authenticating with existing credentials... [Username: tester]"),
        "{se}"
    );
    assert_eq!(so, "Login Succeeded\n");

    // On a terminal: asked for both, the password not echoed; the wrong one is
    // refused, the right one stored.
    d.ok(&berth, &["logout", "127.0.0.1:5100"]);
    let (screen, code) = run_on_terminal(
        &d,
        &["login", "127.0.0.1:5100"],
        &[("Username: ", "tester"), ("Password: ", "s3cret-wrong")],
    );
    assert_eq!(code, 1, "{screen}");
    assert!(!screen.contains("s3cret-wrong"), "echoed: {screen}");
    assert!(
        screen.contains("failed with status: 401 Unauthorized"),
        "{screen}"
    );
    let (screen, code) = run_on_terminal(
        &d,
        &["login", "127.0.0.1:5100"],
        &[("Username: ", "tester"), ("Password: ", "s3cret")],
    );
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("tester"),
        "the username is echoed: {screen}"
    );
    assert!(!screen.contains("s3cret"), "the password is not: {screen}");
    assert!(screen.contains("Login Succeeded"), "{screen}");
    assert_eq!(
        config(&d)["auths"]["127.0.0.1:5100"]["auth"],
        b64("tester:s3cret")
    );

    // Logout: the entry goes, the rest stays; pulls are refused again.
    let o = d.ok(&berth, &["logout", "http://127.0.0.1:5100/v2/"]);
    assert_eq!(o, "Removing login credentials for 127.0.0.1:5100\n");
    let cfg = config(&d);
    assert!(cfg["auths"].get("127.0.0.1:5100").is_none(), "{cfg}");
    assert_eq!(cfg["auths"]["other.example"]["auth"], "eDp5", "{cfg}");
    assert_eq!(cfg["psFormat"], "table {{.ID}}", "{cfg}");
    d.ok(&berth, &["rmi", image]);
    assert_fails_with(
        &d.run(&berth, &["pull", image]),
        "pull after logout",
        "no basic auth credentials",
    );

    // /auth itself: dockerd's answers.
    let creds = |u: &str, p: &str| serde_json::json!({"username": u, "password": p, "serveraddress": "127.0.0.1:5100"});
    let (code, body) = post_auth(&d.sock, &creds("tester", "s3cret"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"Status": "Login Succeeded", "IdentityToken": ""})
    );
    let (code, body) = post_auth(&d.sock, &creds("tester", "wrong"));
    assert_eq!(code, 401, "{body}");
    let (code, body) = post_auth(&d.sock, &creds("", ""));
    assert_eq!(code, 500, "{body}");
    assert_eq!(
        body["message"],
        "Get \"http://127.0.0.1:5100/v2/\": no basic auth credentials"
    );
    let (code, body) = post_auth(
        &d.sock,
        &serde_json::json!({"username": "tester", "password": "s3cret", "serveraddress": "127.0.0.1:5199"}),
    );
    assert_eq!(code, 500, "{body}");
    let m = body["message"].as_str().unwrap_or_default();
    assert!(m.contains("http://127.0.0.1:5199/v2/"), "{m}");

    // The docker CLI, unmodified, through berth's daemon: the same outcomes, and
    // credentials it stores serve berth's pulls.
    if let Some(docker) = Cli::docker() {
        let o = d.run(
            &docker,
            &["login", "127.0.0.1:5100", "-u", "tester", "-p", "wrong"],
        );
        assert_fails_with(
            &o,
            "docker login with a wrong password",
            "Error response from daemon: login attempt to http://127.0.0.1:5100/v2/ failed with status: 401 Unauthorized",
        );
        assert!(config(&d)["auths"].get("127.0.0.1:5100").is_none());
        let o = login_as_tester(&d, &docker, "127.0.0.1:5100");
        let (so, se) = out_err(&o);
        assert!(o.status.success(), "docker login: {se}");
        assert!(so.contains("Login Succeeded"), "{so}");
        assert_eq!(
            config(&d)["auths"]["127.0.0.1:5100"]["auth"],
            b64("tester:s3cret")
        );
        let out = d.ok(&berth, &["pull", image]);
        assert!(out.contains("Downloaded newer image"), "{out}");
        d.ok(&berth, &["rmi", image]);
        let out = d.ok(&docker, &["pull", image]);
        assert!(out.contains("Downloaded newer image"), "{out}");
        d.ok(&docker, &["logout", "127.0.0.1:5100"]);
        assert!(config(&d)["auths"].get("127.0.0.1:5100").is_none());
        assert_eq!(config(&d)["psFormat"], "table {{.ID}}");
    }

    // Search: registry:2 has none; both CLIs fail and say which registry.
    for cli in Cli::all() {
        let o = d.run(&cli, &["search", "127.0.0.1:5100/busybox"]);
        assert_fails_with(
            &o,
            &format!("{} search", cli.name),
            "Unexpected status code 404: registry 127.0.0.1:5100 offers no search",
        );
    }
}

#[test]
#[ignore = "needs root (network namespaces, mounts), docker-registry and skopeo"]
fn login_through_a_token_server_then_pull() {
    let Some(d) = setup() else { return };
    let bb = registry::busybox_layer(&d.root);
    let layout = registry::write_layout(&d.root.join("oci"), "latest", &[bb], Comp::Gzip, false);
    let (reg, log) =
        registry::start_behind_token_server(&d, "token", 5200, "tok/busybox", &["pull", "push"]);
    reg.push(&layout.dir, "latest", "tok/busybox", Some("tester:s3cret"));
    let image = "127.0.0.1:5200/tok/busybox";
    let berth = Cli::berth();

    for cli in Cli::all() {
        let o = d.run(
            &cli,
            &["login", "127.0.0.1:5200", "-u", "tester", "-p", "wrong"],
        );
        assert_fails_with(
            &o,
            &format!("{} login with a wrong password", cli.name),
            "Error response from daemon: Get \"http://127.0.0.1:5200/v2/\": unauthorized: incorrect username or password",
        );
        assert!(!config_path(&d).exists() || config(&d)["auths"].get("127.0.0.1:5200").is_none());
    }
    assert_fails_with(
        &d.run(&berth, &["pull", image]),
        "pull before login",
        "pull access denied for 127.0.0.1:5200/tok/busybox",
    );

    let o = login_as_tester(&d, &berth, "127.0.0.1:5200");
    let (so, se) = out_err(&o);
    assert!(o.status.success(), "login: {se}\n{}", tail(&d.log(), 20));
    assert_eq!(so, "Login Succeeded\n");
    assert_eq!(
        config(&d)["auths"]["127.0.0.1:5200"]["auth"],
        b64("tester:s3cret")
    );
    // The login asked for a token with no scope, naming the account, with its
    // credentials, and for a refresh token.
    let requests = log.lock().expect("log").clone();
    assert!(
        requests.iter().any(|r| r.contains("account=tester")
            && r.contains("offline_token=true")
            && r.contains("service=berth-test-registry")
            && !r.contains("scope=")
            && r.ends_with("auth=true")),
        "{requests:?}"
    );
    let out = d.ok(&berth, &["pull", image]);
    assert!(
        out.contains("Status: Downloaded newer image for 127.0.0.1:5200/tok/busybox:latest"),
        "{out}"
    );
    let o = d.ok(
        &berth,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            image,
            "echo",
            "token-ok",
        ],
    );
    assert_eq!(o, "token-ok\n");

    d.ok(&berth, &["logout", "127.0.0.1:5200"]);
    d.ok(&berth, &["rmi", image]);
    assert_fails_with(
        &d.run(&berth, &["pull", image]),
        "pull after logout",
        "pull access denied for 127.0.0.1:5200/tok/busybox",
    );

    // The docker CLI logs in through berth's daemon too.
    if let Some(docker) = Cli::docker() {
        let o = login_as_tester(&d, &docker, "127.0.0.1:5200");
        let (so, se) = out_err(&o);
        assert!(o.status.success(), "docker login: {se}");
        assert!(so.contains("Login Succeeded"), "{so}");
        let out = d.ok(&berth, &["pull", image]);
        assert!(out.contains("Downloaded newer image"), "{out}");
    }
}

/// `/auth`'s answers beside a real dockerd's (20.10), both in the same network
/// namespace as the registries: the same messages; the status differs only where
/// dockerd 20.10 answers a refused basic login with 500 (berth says 401, as later
/// dockerd releases do).
#[test]
#[ignore = "needs root (network namespaces, mounts), docker-registry, skopeo and dockerd"]
fn auth_answers_as_dockerd_does() {
    let Some(d) = setup() else { return };
    let netns = d.netns.clone().expect("netns");
    let Some(k) = common::dockerd::Dockerd::start_networked(&netns, "10.213.0.1/24") else {
        return;
    };
    let sock = k.host().trim_start_matches("unix://").to_string();
    let _basic = Registry::start(
        &d,
        "basic",
        5100,
        Auth::Basic("tester".into(), "s3cret".into()),
    );
    let (_tok, _log) =
        registry::start_behind_token_server(&d, "token", 5200, "tok/busybox", &["pull"]);
    let creds = |u: &str, p: &str, server: &str| serde_json::json!({"username": u, "password": p, "serveraddress": server});
    for (body, same_status) in [
        (creds("tester", "s3cret", "127.0.0.1:5100"), true),
        (creds("tester", "wrong", "127.0.0.1:5100"), false),
        (creds("", "", "127.0.0.1:5100"), true),
        (creds("tester", "s3cret", "http://127.0.0.1:5100/v2/"), true),
        (creds("tester", "s3cret", "127.0.0.1:5200"), true),
        (creds("tester", "wrong", "127.0.0.1:5200"), true),
    ] {
        let (bc, bb) = post_auth(&d.sock, &body);
        let (kc, kb) = post_auth(Path::new(&sock), &body);
        assert_eq!(bb, kb, "{body}: berth {bc} {bb}, dockerd {kc} {kb}");
        if same_status {
            assert_eq!(bc, kc, "{body}: berth {bb}, dockerd {kb}");
        } else {
            assert_eq!((bc, kc), (401, 500), "{body}");
        }
    }
    // Nothing listening: a 500 naming the last endpoint tried, from both (the
    // transport's own words differ).
    let body = creds("tester", "s3cret", "127.0.0.1:5299");
    for (who, sock) in [("berth", d.sock.clone()), ("dockerd", sock.into())] {
        let (code, b) = post_auth(&sock, &body);
        assert_eq!(code, 500, "{who}: {b}");
        let m = b["message"].as_str().unwrap_or_default();
        assert!(
            m.starts_with("Get \"http://127.0.0.1:5299/v2/\": "),
            "{who}: {m}"
        );
    }
}
