//! `berth compose config` and `version` work without a daemon: docker compose's
//! `config` never contacts the engine, so berth's must neither connect to one nor
//! start one. Driven through `berth_compose::run` with a connector that records
//! being called; the host given is a socket that cannot exist.

use std::cell::Cell;
use std::path::Path;

use berth_client::Client;

const HOST: &str = "unix:///nonexistent/x.sock";

/// `berth compose -H HOST -p demo -f FILE ARGS…`: the exit status, stdout, stderr
/// and whether (and with which host) it connected.
fn compose(file: &Path, args: &[&str]) -> (i32, String, String, Option<Option<String>>) {
    let mut argv: Vec<String> = ["-H", HOST, "-p", "demo", "-f"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    argv.push(file.display().to_string());
    argv.extend(args.iter().map(|s| s.to_string()));
    let connected = Cell::new(None);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = berth_compose::run(
        argv,
        &mut out,
        &mut err,
        |host, _| -> Result<Client, String> {
            connected.set(Some(host.map(str::to_owned)));
            Err(format!(
                "cannot connect to {}",
                host.unwrap_or("the default socket")
            ))
        },
    );
    (
        code,
        String::from_utf8(out).expect("utf-8"),
        String::from_utf8(err).expect("utf-8"),
        connected.take(),
    )
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: nginx:1\n    ports: [\"8080:80\"]\n    volumes: [data:/data]\n  db:\n    image: postgres:16\nvolumes:\n  data:\n",
    )
    .expect("writes compose.yaml");
    dir
}

/// A `config` command line and a check of what it printed.
type Case<'a> = (&'a [&'a str], &'a dyn Fn(&str));

#[test]
fn config_never_connects() {
    let dir = project();
    let file = dir.path().join("compose.yaml");
    let cases: &[Case] = &[
        (&["config"], &|out| {
            assert!(out.contains("image: nginx:1"), "{out}");
            assert!(out.contains("postgres:16"), "{out}");
        }),
        (&["config", "--format", "json"], &|out| {
            let v: serde_json::Value = serde_json::from_str(out).expect("JSON");
            assert_eq!(v["services"]["web"]["image"], "nginx:1");
            assert_eq!(v["services"]["web"]["ports"][0]["published"], "8080");
            assert_eq!(v["name"], "demo");
        }),
        (&["config", "--services"], &|out| {
            assert_eq!(out, "db\nweb\n")
        }),
        (&["config", "--volumes"], &|out| assert_eq!(out, "data\n")),
        (&["config", "--images"], &|out| {
            assert_eq!(out, "postgres:16\nnginx:1\n")
        }),
        (&["config", "-q"], &|out| assert_eq!(out, "")),
    ];
    for (args, check) in cases {
        let (code, out, err, connected) = compose(&file, args);
        assert_eq!(connected, None, "{args:?} connected to a daemon");
        assert_eq!(code, 0, "{args:?}: {err}");
        assert_eq!(err, "", "{args:?}");
        check(&out);
    }
}

#[test]
fn config_errors_are_the_files_not_the_daemons() {
    let dir = project();
    let file = dir.path().join("compose.yaml");
    std::fs::write(
        &file,
        "services:\n  web:\n    image: a\n    ports: [\"99999:80\"]\n",
    )
    .expect("writes compose.yaml");
    let (code, out, err, connected) = compose(&file, &["config"]);
    assert_eq!(connected, None);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert!(err.contains("services.web.ports[0]: invalid port"), "{err}");
}

/// `include:`d services are shown as part of the project, their relative paths
/// resolved against the included file's directory.
#[test]
fn config_shows_included_services_with_their_paths() {
    let dir = project();
    let file = dir.path().join("compose.yaml");
    std::fs::write(
        &file,
        "include: [sub/compose.yaml]\nservices:\n  web:\n    image: a\n    depends_on: [api]\n",
    )
    .expect("writes compose.yaml");
    std::fs::create_dir(dir.path().join("sub")).expect("creates sub/");
    std::fs::write(
        dir.path().join("sub/compose.yaml"),
        "services:\n  api:\n    build: .\n    volumes: [./static:/static]\n",
    )
    .expect("writes sub/compose.yaml");
    let (code, out, err, connected) = compose(&file, &["config", "--format", "json"]);
    assert_eq!((code, connected), (0, None), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let sub = dir.path().join("sub");
    let api = &v["services"]["api"];
    assert_eq!(api["build"]["context"], sub.display().to_string(), "{out}");
    assert_eq!(
        api["volumes"][0]["source"],
        sub.join("static").display().to_string(),
        "{out}"
    );
    let (code, out, err, _) = compose(&file, &["config", "--services"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "api\nweb\n");
}

#[test]
fn version_never_connects() {
    let dir = project();
    let (code, out, _, connected) = compose(&dir.path().join("compose.yaml"), &["version"]);
    assert_eq!((code, connected), (0, None));
    assert!(out.starts_with("berth compose version "), "{out}");
}

/// The control: a command that works on the daemon connects, to the `-H` given.
#[test]
fn daemon_commands_connect_to_the_given_host() {
    let dir = project();
    let (code, _, err, connected) = compose(&dir.path().join("compose.yaml"), &["ps"]);
    assert_eq!(connected, Some(Some(HOST.to_owned())));
    assert_eq!(code, 1);
    assert_eq!(err, format!("cannot connect to {HOST}\n"));
}
