//! Realistic bodies, modelled on what the docker CLI sends and dockerd answers, parse
//! into berth's models and come back out with nothing lost.

use berth_api_types::container::{
    ContainerCreateRequest, ContainerInspect, ContainerSummary, ContainerWaitResponse, Stats,
};
use berth_api_types::exec::{ExecConfig, ExecInspect, ExecStartConfig};
use berth_api_types::image::{ImageDeleteResponseItem, ImageInspect, JsonMessage};
use berth_api_types::system::{
    ApiVersion, EventMessage, Info, SwarmInfo, Version, API_VERSION, MIN_API_VERSION,
};
use berth_api_types::ErrorResponse;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

fn sample(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/samples")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Drops keys whose value is null, `[]` or `{}`: Go sends a nil list as null where
/// berth sends `[]`, and the two mean the same to every client.
fn without_empties(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), without_empties(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_empties).collect()),
        other => other.clone(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// Parses `original`, serialises it again, and checks that nothing but empties changed
/// and that a second pass is stable.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    original: &Value,
) -> (T, Value) {
    let parsed: T = serde_json::from_value(original.clone()).expect("sample parses");
    let out = serde_json::to_value(&parsed).expect("serialises");
    assert_eq!(
        without_empties(&out),
        without_empties(original),
        "lost or changed data"
    );
    let again: T = serde_json::from_value(out.clone()).expect("own output parses");
    assert_eq!(again, parsed);
    (parsed, out)
}

#[test]
fn docker_run_it_rm_create_request() {
    let mut body = sample("create_run_it_rm.json");
    let req: ContainerCreateRequest = serde_json::from_value(body.clone()).expect("parses");
    assert_eq!(req.config.image, "busybox");
    assert_eq!(req.config.cmd.as_deref(), Some(&["sh".to_string()][..]));
    assert_eq!(
        req.config.entrypoint, None,
        "null entrypoint means the image's"
    );
    assert_eq!(req.config.env, ["A=b"]);
    assert!(
        req.config.tty && req.config.open_stdin && req.config.stdin_once && req.config.attach_stdin
    );
    let hc = req.host_config.as_ref().expect("HostConfig");
    assert_eq!(hc.resources.memory, 64 << 20);
    assert_eq!(hc.cap_add, ["NET_ADMIN"]);
    assert!(hc.cap_drop.is_empty());
    assert!(hc.auto_remove);
    assert_eq!(hc.console_size, [50, 180]);
    assert_eq!(hc.resources.pids_limit, None);
    assert_eq!(
        hc.masked_paths, None,
        "null masked paths means the defaults"
    );
    // "Platform" is not a body field (it is a query parameter); unknown keys are ignored.
    body.as_object_mut().expect("object").remove("Platform");
    round_trip::<ContainerCreateRequest>(&body);
}

#[test]
fn create_request_accepts_short_forms_and_missing_fields() {
    let req: ContainerCreateRequest = serde_json::from_value(json!({
        "Image": "busybox", "Cmd": "echo hi", "Entrypoint": [""],
        "HostConfig": {"CapAdd": "SYS_ADMIN", "Binds": null, "Memory": 1024, "SomethingNewer": {"x": 1}},
        "FieldFromTheFuture": true
    }))
    .expect("parses");
    assert_eq!(req.config.cmd, Some(vec!["echo hi".to_string()]));
    assert_eq!(
        req.config.entrypoint,
        Some(vec![String::new()]),
        "--entrypoint \"\" resets it"
    );
    let hc = req.host_config.expect("HostConfig");
    assert_eq!(hc.cap_add, ["SYS_ADMIN"]);
    assert_eq!(hc.resources.memory, 1024);
    assert!(req.networking_config.is_none());

    let bare: ContainerCreateRequest =
        serde_json::from_str(r#"{"Image":"busybox"}"#).expect("parses");
    assert!(bare.host_config.is_none());
    assert_eq!(bare.config.cmd, None);
}

#[test]
fn container_inspect() {
    let (c, out) = round_trip::<ContainerInspect>(&sample("container_inspect.json"));
    let state = c.state.as_ref().expect("State");
    assert!(state.running);
    assert_eq!(state.pid, 41234);
    assert_eq!(
        state.health.as_ref().map(|h| h.status.as_str()),
        Some("healthy")
    );
    assert_eq!(
        c.host_config.as_ref().map(|h| h.resources.memory),
        Some(64 << 20)
    );
    assert_eq!(c.name, "/quirky_tesla");
    let ns = c.network_settings.as_ref().expect("NetworkSettings");
    assert_eq!(
        ns.ports.get("443/tcp"),
        Some(&None),
        "exposed, not published"
    );
    // Fields the docker CLI's templates read are present even when empty or zero.
    for key in [
        "ExecIDs",
        "Args",
        "Mounts",
        "RestartCount",
        "Platform",
        "AppArmorProfile",
    ] {
        assert!(out.get(key).is_some(), "{key} missing");
    }
    let hc = &out["HostConfig"];
    for key in [
        "Memory",
        "CpuShares",
        "NanoCpus",
        "PidsLimit",
        "OomKillDisable",
        "Binds",
        "CapAdd",
        "CapDrop",
        "ShmSize",
        "Privileged",
    ] {
        assert!(hc.get(key).is_some(), "HostConfig.{key} missing");
    }
    assert_eq!(out["State"]["OOMKilled"], json!(false));
    assert_eq!(
        out["Config"]["Healthcheck"]["Interval"],
        json!(30_000_000_000_i64)
    );
    assert!(
        out["Config"].get("StopTimeout").is_none(),
        "omitted when unset, as dockerd does"
    );
    assert!(out.get("SizeRw").is_none(), "only with ?size=true");
}

#[test]
fn container_list() {
    let list = sample("container_list.json");
    let (parsed, out) = round_trip::<Vec<ContainerSummary>>(&list);
    assert_eq!(parsed[0].ports[1].public_port, 0);
    assert_eq!(parsed[1].size_rw, Some(12));
    // Always sent, even empty: the CLI and the SDKs index into these.
    assert_eq!(out[0]["Labels"], json!({}));
    assert_eq!(out[0]["Mounts"], json!([]));
    assert_eq!(out[1]["Ports"], json!([]));
    assert!(out[0].get("SizeRw").is_none());
    assert!(
        out[0]["Ports"][1].get("PublicPort").is_none() && out[0]["Ports"][1].get("IP").is_none()
    );

    let empty = serde_json::to_value(ContainerSummary::default()).expect("serialises");
    for key in [
        "Id",
        "Names",
        "Image",
        "ImageID",
        "Command",
        "Created",
        "Ports",
        "Labels",
        "State",
        "Status",
        "HostConfig",
        "Mounts",
    ] {
        assert!(
            empty.get(key).is_some(),
            "{key} missing from an empty summary"
        );
    }
    assert_eq!(empty["Labels"], json!({}));
}

#[test]
fn version() {
    let (v, _) = round_trip::<Version>(&sample("version.json"));
    assert_eq!(v.api_version, "1.41");
    assert_eq!(v.components[0].name, "Engine");
    assert_eq!(
        v.api_version.parse::<ApiVersion>().expect("parses"),
        API_VERSION
    );
    assert_eq!(API_VERSION.to_string(), "1.41");
    assert_eq!(MIN_API_VERSION.to_string(), "1.24");
}

#[test]
fn api_versions_parse_and_order() {
    let v = |s: &str| s.parse::<ApiVersion>();
    assert_eq!(v("v1.24"), Ok(MIN_API_VERSION));
    assert!(
        v("1.9").expect("parses") < v("1.24").expect("parses"),
        "numeric, not textual"
    );
    assert!(v("1.41").expect("parses") <= API_VERSION);
    for bad in ["", "1", "1.", ".4", "1.4a", "v", "1.-2", "one.two"] {
        let err = v(bad).expect_err(bad);
        assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
    }
}

#[test]
fn info() {
    let (i, _) = round_trip::<Info>(&sample("info.json"));
    assert_eq!(
        i.driver_status[0],
        ["Backing Filesystem".to_string(), "extfs".to_string()]
    );
    assert_eq!(i.swarm, SwarmInfo::inactive());
    assert_eq!(i.runtimes["runc"].path, "runc");
    assert_eq!(i.cgroup_version, "2");
    let empty = serde_json::to_value(Info::default()).expect("serialises");
    assert_eq!(empty["Swarm"]["LocalNodeState"], json!(""));
    assert!(empty["Warnings"].is_array());
}

#[test]
fn event() {
    let (e, out) = round_trip::<EventMessage>(&sample("event.json"));
    assert_eq!(e.actor.attributes["exitCode"], "0");
    assert_eq!(out["timeNano"], json!(1_795_371_781_123_456_789_i64));
    let new_style = serde_json::to_value(EventMessage {
        kind: "network".into(),
        action: "connect".into(),
        ..Default::default()
    })
    .expect("serialises");
    assert_eq!(
        new_style,
        json!({"Type": "network", "Action": "connect", "Actor": {"ID": "", "Attributes": {}}})
    );
}

#[test]
fn stats() {
    let (s, out) = round_trip::<Stats>(&sample("stats.json"));
    assert_eq!(s.cpu_stats.online_cpus, 2);
    assert_eq!(s.memory_stats.stats["inactive_file"], 135_168);
    assert_eq!(s.networks.as_ref().map(|n| n["eth0"].rx_bytes), Some(1046));
    assert!(
        out["cpu_stats"]["cpu_usage"].get("percpu_usage").is_none(),
        "cgroup v2 has none"
    );
    assert_eq!(out["storage_stats"], json!({}));
}

#[test]
fn image_inspect() {
    let (i, out) = round_trip::<ImageInspect>(&sample("image_inspect.json"));
    assert_eq!(i.root_fs.layers.len(), 1);
    assert_eq!(
        i.config.as_ref().and_then(|c| c.cmd.clone()),
        Some(vec!["sh".to_string()])
    );
    assert!(out.get("Variant").is_none());
}

#[test]
fn exec_bodies() {
    let (e, out) = round_trip::<ExecInspect>(&sample("exec_inspect.json"));
    assert_eq!(e.exit_code, Some(2));
    assert_eq!(out["ProcessConfig"]["entrypoint"], json!("sh"));
    let running = serde_json::to_value(ExecInspect {
        running: true,
        ..Default::default()
    })
    .expect("serialises");
    assert_eq!(running["ExitCode"], Value::Null, "null while running");

    // What `docker exec -it -e X=1 ctr sh` sends.
    let cfg: ExecConfig = serde_json::from_value(json!({
        "User": "", "Privileged": false, "Tty": true, "ConsoleSize": [50, 180], "AttachStdin": true,
        "AttachStderr": true, "AttachStdout": true, "Detach": false, "DetachKeys": "", "Env": ["X=1"],
        "WorkingDir": "", "Cmd": ["sh"]
    }))
    .expect("parses");
    assert_eq!(cfg.console_size, Some([50, 180]));
    assert_eq!(cfg.cmd, ["sh"]);
    let start: ExecStartConfig =
        serde_json::from_str(r#"{"Detach":false,"Tty":true}"#).expect("parses");
    assert!(start.tty && start.console_size.is_none());
}

#[test]
fn small_bodies() {
    assert_eq!(
        serde_json::to_value(ContainerWaitResponse {
            status_code: 137,
            error: None
        })
        .expect("serialises"),
        json!({"StatusCode": 137, "Error": null})
    );
    assert_eq!(
        serde_json::to_string(&ErrorResponse::new("No such container: x")).expect("serialises"),
        r#"{"message":"No such container: x"}"#
    );
    let del: Vec<ImageDeleteResponseItem> =
        serde_json::from_str(r#"[{"Untagged":"busybox:latest"},{"Deleted":"sha256:a416"}]"#)
            .expect("parses");
    assert_eq!(
        serde_json::to_string(&del).expect("serialises"),
        r#"[{"Untagged":"busybox:latest"},{"Deleted":"sha256:a416"}]"#
    );
    assert_eq!(
        serde_json::to_value(JsonMessage::error("no space left")).expect("serialises"),
        json!({"error": "no space left", "errorDetail": {"message": "no space left"}})
    );
    let progress: JsonMessage = serde_json::from_str(
        r#"{"status":"Downloading","progressDetail":{"current":1024,"total":4096},"progress":"[==>   ]","id":"3d24ee258efc"}"#,
    )
    .expect("parses");
    assert_eq!(progress.progress_detail.map(|p| p.total), Some(4096));
}
