//! `berth daemon` flags and daemon.json, as a user gives them.

use std::fs;

use berth_daemon::config::{parse_args, Command};
use berth_daemon::{DaemonConfig, Host};
use berth_engine::FirewallBackend;

fn parse(args: &[&str]) -> Result<DaemonConfig, String> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    match parse_args(&args).map_err(|e| e.to_string())? {
        Command::Run(c) => Ok(*c),
        other => panic!("expected a run, got {other:?}"),
    }
}

fn with_file(json: &str, flags: &[&str]) -> Result<DaemonConfig, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("daemon.json");
    fs::write(&path, json).expect("write daemon.json");
    let file_flag = format!("--config-file={}", path.display());
    let mut args = vec![file_flag.as_str()];
    args.extend_from_slice(flags);
    parse(&args)
}

#[test]
fn daemon_json_sets_everything_flags_can() {
    let c = with_file(
        r#"{
            "hosts": ["unix:///tmp/x.sock", "tcp://127.0.0.1:2376"],
            "data-root": "/tmp/data",
            "exec-root": "/tmp/exec",
            "log-level": "warn",
            "bridge": "br0",
            "bip": "10.9.0.1/24",
            "firewall-backend": "iptables",
            "mtu": 1400,
            "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 4096}},
            "live-restore": false,
            "init-path": "/usr/bin/tini",
            "cgroup-parent": "/mine"
        }"#,
        &["--pidfile", "/tmp/p.pid"],
    )
    .expect("valid config");
    assert_eq!(
        c.hosts,
        vec![
            Host::Unix("/tmp/x.sock".into()),
            Host::Tcp("127.0.0.1:2376".into())
        ]
    );
    assert_eq!(c.pidfile, std::path::PathBuf::from("/tmp/p.pid"));
    assert!(!c.live_restore);
    let e = c.engine_config();
    assert_eq!(e.data_root, std::path::PathBuf::from("/tmp/data"));
    assert_eq!(e.exec_root, std::path::PathBuf::from("/tmp/exec"));
    assert_eq!(e.cgroup_parent, "/mine");
    assert_eq!(
        e.init_path.as_deref(),
        Some(std::path::Path::new("/usr/bin/tini"))
    );
    assert_eq!(e.bridge.as_deref(), Some("br0"));
    assert_eq!(e.bip.as_deref(), Some("10.9.0.1/24"));
    assert_eq!(e.firewall_backend, Some(FirewallBackend::Iptables));
    assert_eq!(e.mtu, Some(1400));
    assert_eq!(e.default_ulimits.len(), 1);
    assert_eq!(
        (e.default_ulimits[0].soft, e.default_ulimits[0].hard),
        (1024, 4096)
    );
    assert!(!e.live_restore);
}

#[test]
fn a_key_given_as_flag_and_in_the_file_is_an_error_naming_it() {
    let e = with_file(
        r#"{"data-root": "/from/file", "log-level": "debug"}"#,
        &["--data-root", "/from/flag"],
    )
    .unwrap_err();
    assert!(
        e.contains("specified both as a flag and in the configuration file"),
        "{e}"
    );
    assert!(e.contains("data-root"), "{e}");
    assert!(e.contains("/from/flag") && e.contains("/from/file"), "{e}");
    assert!(!e.contains("log-level"), "{e}");

    let e = with_file(
        r#"{"hosts": ["unix:///a.sock"]}"#,
        &["-H", "unix:///b.sock"],
    )
    .unwrap_err();
    assert!(e.contains("hosts"), "{e}");
}

#[test]
fn unknown_keys_are_named() {
    let e = with_file(
        r#"{"data-root": "/x", "colour": "blue", "storage-drivr": "overlay2"}"#,
        &[],
    )
    .unwrap_err();
    assert!(e.contains("don't match any configuration option"), "{e}");
    assert!(e.contains("colour") && e.contains("storage-drivr"), "{e}");
}

#[test]
fn bad_values_in_the_file_are_named() {
    let e = with_file(r#"{"live-restore": "yes"}"#, &[]).unwrap_err();
    assert!(e.contains("live-restore"), "{e}");
    let e = with_file(
        r#"{"default-ulimits": {"nofile": {"Name": "nofile", "Soft": 10, "Hard": 5}}}"#,
        &[],
    )
    .unwrap_err();
    assert!(
        e.contains("default-ulimits") && e.contains("greater than hard"),
        "{e}"
    );
    let e = with_file(r#"{"default-ulimits": {"nofile": {"Soft": "many"}}}"#, &[]).unwrap_err();
    assert!(e.contains("default-ulimits"), "{e}");
    for bad in [r#"{"mtu": "1400"}"#, r#"{"mtu": -1}"#, r#"{"mtu": 1.5}"#] {
        let e = with_file(bad, &[]).unwrap_err();
        assert!(e.contains("\"mtu\""), "{bad}: {e}");
    }
    let e = with_file("{not json", &[]).unwrap_err();
    assert!(
        e.contains("daemon.json") && e.contains("not valid JSON"),
        "{e}"
    );
}

#[test]
fn bad_ulimit_flag_is_named() {
    let e = parse(&["--config-file=/dev/null", "--default-ulimit", "nofile=lots"]).unwrap_err();
    assert!(e.contains("--default-ulimit") && e.contains("lots"), "{e}");
}

#[test]
fn an_explicit_config_file_must_exist() {
    let e = parse(&["--config-file", "/nonexistent/berth/daemon.json"]).unwrap_err();
    assert!(e.contains("/nonexistent/berth/daemon.json"), "{e}");
}

#[test]
fn firewall_backend_is_one_of_two_or_left_to_choose() {
    let backend = |flags: &[&str]| {
        let mut args = vec!["--config-file=/dev/null"];
        args.extend_from_slice(flags);
        parse(&args).map(|c| c.engine_config().firewall_backend)
    };
    assert_eq!(backend(&[]).unwrap(), None);
    assert_eq!(
        backend(&["--firewall-backend", "nftables"]).unwrap(),
        Some(FirewallBackend::Nftables)
    );
    assert_eq!(
        backend(&["--firewall-backend=iptables"]).unwrap(),
        Some(FirewallBackend::Iptables)
    );
    let e = backend(&["--firewall-backend", "ipfw"]).unwrap_err();
    assert!(
        e.contains("\"ipfw\"") && e.contains("nftables or iptables"),
        "{e}"
    );
    let e = with_file(r#"{"firewall-backend": "pf"}"#, &[]).unwrap_err();
    assert!(e.contains("\"pf\""), "{e}");
    let e = with_file(
        r#"{"firewall-backend": "iptables"}"#,
        &["--firewall-backend", "nftables"],
    )
    .unwrap_err();
    assert!(e.contains("firewall-backend"), "{e}");
}

#[test]
fn mtu_flag_sets_the_default_bridge_mtu() {
    assert_eq!(
        parse(&["--config-file=/dev/null", "--mtu", "1450"])
            .unwrap()
            .engine_config()
            .mtu,
        Some(1450)
    );
    assert_eq!(
        parse(&["--config-file=/dev/null", "--mtu=1300"])
            .unwrap()
            .mtu,
        Some(1300)
    );
    // 0 is dockerd's "not set": the default, 1500.
    assert_eq!(
        parse(&["--config-file=/dev/null", "--mtu=0"]).unwrap().mtu,
        None
    );
    assert_eq!(parse(&["--config-file=/dev/null"]).unwrap().mtu, None);
    for bad in ["--mtu=abc", "--mtu=-1", "--mtu=99999999999"] {
        let e = parse(&["--config-file=/dev/null", bad]).unwrap_err();
        assert!(e.contains("--mtu"), "{bad}: {e}");
    }
    let e = with_file(r#"{"mtu": 1400}"#, &["--mtu", "1300"]).unwrap_err();
    assert!(e.contains("mtu") && e.contains("both as a flag"), "{e}");
}
