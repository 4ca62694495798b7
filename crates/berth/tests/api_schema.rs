//! The JSON a real `berth daemon` serves, checked against Docker's Engine API v1.41
//! swagger: every response schema is taken from the swagger's `paths` (following
//! `$ref`s), never written by hand here, and every mismatch of every endpoint is listed
//! in one failure message.
//!
//! The `validator_*` tests check the validator itself on small hand-written schemas
//! and on dockerd's own output (the samples in berth-api-types), so the end-to-end test
//! cannot pass because the validator accepts anything.
//!
//! The swagger lives in the project's shared reference directory beside the checkout
//! (or `BERTH_ENGINE_API_SWAGGER`); without it the tests say so and skip.

mod common;
mod schema;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use common::{Cli, Daemon};
use schema::{Allow, Exceptions, Swagger};

// ---------------------------------------------------------------------------------
// Where dockerd departs from the v1.41 swagger, so berth may too.
// ---------------------------------------------------------------------------------

/// Corrects two known errors of the v1.41 swagger the way later API versions did.
fn fix_errata(doc: &mut Value) {
    // `ContainerSummary.Mounts` says `Mount` (the create-time mount spec), but dockerd
    // lists `MountPoint`s there, as the swagger of later versions says.
    *doc.pointer_mut("/definitions/ContainerSummary/items/properties/Mounts/items")
        .expect("v1.41 swagger: ContainerSummary.items.Mounts.items") =
        json!({"$ref": "#/definitions/MountPoint"});
    // v1.41 defines `ContainerSummary` as the whole list, so `/system/df`'s
    // `Containers` (items: ContainerSummary) would read as a list of lists; dockerd
    // sends a list of summaries.
    let item = doc
        .pointer("/definitions/ContainerSummary/items")
        .cloned()
        .expect("v1.41 swagger: ContainerSummary.items");
    *doc.pointer_mut("/paths/~1system~1df/get/responses/200/schema/properties/Containers/items")
        .expect("v1.41 swagger: /system/df Containers.items") = item;
}

/// The swagger, errata fixed, or `None` when absent.
fn swagger() -> Option<Swagger> {
    let mut doc = schema::load_swagger()?;
    fix_errata(&mut doc);
    Some(Swagger::new(doc))
}

/// `HostConfig` fields dockerd stores as the client sent them and serves back as
/// `null` when a Go client left them nil (the docker CLI does so for most of them), or
/// that are Go pointers/maps dockerd leaves nil when unset.
const HOSTCONFIG_NIL: &[&str] = &[
    "Binds",
    "VolumesFrom",
    "CapAdd",
    "CapDrop",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "GroupAdd",
    "Links",
    "SecurityOpt",
    "PortBindings",
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "Devices",
    "DeviceCgroupRules",
    "DeviceRequests",
    "Ulimits",
    // *int64 / *bool: nil means "not set".
    "MemorySwappiness",
    "OomKillDisable",
    // nil for privileged containers (no masking at all).
    "MaskedPaths",
    "ReadonlyPaths",
];

/// `ContainerConfig` fields that are nil slices/maps in dockerd's output when neither
/// the image nor the client set them (the image's `Config.Labels` is `null` for an
/// image without labels, `Entrypoint`, `OnBuild` and `Volumes` nearly always are).
const CONFIG_NIL: &[&str] = &["Env", "Cmd", "Entrypoint", "Volumes", "OnBuild", "Labels"];

/// `EndpointSettings` lists dockerd leaves nil when nothing was asked for.
const ENDPOINT_NIL: &[&str] = &["Links", "Aliases"];

fn nil_under(prefix: &str, fields: &[&str], why: &'static str) -> Vec<Allow> {
    fields
        .iter()
        .map(|f| Allow::new(format!("{prefix}.{f}"), why))
        .collect()
}

fn container_summary_nulls(prefix: &str) -> Vec<Allow> {
    let mut v = vec![Allow::new(
        format!("{prefix}.Labels"),
        "nil map when neither the image nor the client set labels",
    )];
    v.extend(nil_under(
        &format!("{prefix}.NetworkSettings.Networks.*"),
        ENDPOINT_NIL,
        "nil endpoint lists",
    ));
    v
}

fn image_summary_nulls(prefix: &str) -> Vec<Allow> {
    vec![
        Allow::new(
            format!("{prefix}.Labels"),
            "dockerd copies the image config's nil labels map",
        ),
        Allow::new(
            format!("{prefix}.RepoDigests"),
            "nil for a tagged image without a digest (built, imported, loaded)",
        ),
        Allow::new(
            format!("{prefix}.RepoTags"),
            "nil for an image known only by digest",
        ),
    ]
}

/// dockerd on Linux reports an unset isolation as "" (the enum lists only Windows'
/// modes and "default").
fn isolation_unset(path: &str) -> (Allow, Value) {
    (
        Allow::new(path, "dockerd on Linux sends \"\" for no isolation"),
        json!(""),
    )
}

fn inspect_exceptions() -> Exceptions {
    let mut null = nil_under(
        "$.HostConfig",
        HOSTCONFIG_NIL,
        "as the client sent it / unset pointer",
    );
    null.push(Allow::new(
        "$.HostConfig.LogConfig.Config",
        "nil when no log options were given",
    ));
    null.extend(nil_under(
        "$.Config",
        CONFIG_NIL,
        "nil when image and client left it unset",
    ));
    null.extend(nil_under(
        "$.NetworkSettings.Networks.*",
        ENDPOINT_NIL,
        "nil endpoint lists",
    ));
    null.push(Allow::new(
        "$.GraphDriver.Data",
        "nil for drivers without data (vfs)",
    ));
    let values = vec![
        isolation_unset("$.HostConfig.Isolation"),
        (
            Allow::new("$.HostConfig.RestartPolicy.Name", "dockerd stores the CLI's default \"no\", which the v1.41 enum lacks (later versions add it)"),
            json!("no"),
        ),
    ];
    Exceptions {
        null,
        values,
        ..Default::default()
    }
}

fn image_exceptions() -> Exceptions {
    let mut null = nil_under("$.Config", CONFIG_NIL, "nil when unset in the image");
    null.extend(nil_under(
        "$.ContainerConfig",
        CONFIG_NIL,
        "imported/pulled images carry an empty ContainerConfig",
    ));
    null.push(Allow::new(
        "$.GraphDriver.Data",
        "nil for drivers without data (vfs)",
    ));
    Exceptions {
        null,
        ..Default::default()
    }
}

fn info_exceptions() -> Exceptions {
    Exceptions {
        null: vec![
            Allow::new(
                "$.Plugins.Authorization",
                "nil when no authorization plugin is configured",
            ),
            Allow::new(
                "$.GenericResources",
                "nil unless the daemon advertises generic resources",
            ),
            Allow::new("$.Swarm.RemoteManagers", "nil outside swarm mode"),
            Allow::new("$.Labels", "nil when the daemon has no labels"),
            Allow::new("$.Warnings", "nil when there is nothing to warn about"),
        ],
        values: vec![isolation_unset("$.Isolation")],
        ..Default::default()
    }
}

fn event_exceptions() -> Exceptions {
    Exceptions {
        null: vec![],
        extra: vec![
            Allow::new(
                "$.status",
                "deprecated key that old clients read; dockerd still sends it",
            ),
            Allow::new("$.id", "idem"),
            Allow::new("$.from", "idem (container events)"),
            Allow::new(
                "$.scope",
                "sent by dockerd (local/swarm), missing from v1.41's swagger",
            ),
        ],
        ..Default::default()
    }
}

fn exec_exceptions() -> Exceptions {
    Exceptions {
        null: vec![Allow::new(
            "$.ExitCode",
            "a nil *int until the process has exited",
        )],
        ..Default::default()
    }
}

fn wait_exceptions() -> Exceptions {
    Exceptions {
        null: vec![Allow::new(
            "$.Error",
            "a nil pointer when waiting did not fail",
        )],
        ..Default::default()
    }
}

fn history_exceptions() -> Exceptions {
    Exceptions {
        null: vec![Allow::new(
            "$[*].Tags",
            "nil for layers that are not a tagged image",
        )],
        ..Default::default()
    }
}

fn df_exceptions() -> Exceptions {
    let mut null = image_summary_nulls("$.Images[*]");
    null.extend(container_summary_nulls("$.Containers[*]"));
    null.push(Allow::new("$.Volumes", "nil when there are no volumes"));
    null.push(Allow::new(
        "$.BuildCache",
        "nil when the builder has no cache",
    ));
    Exceptions {
        null,
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------
// The validator, on hand-written schemas.
// ---------------------------------------------------------------------------------

fn toy() -> Swagger {
    Swagger::new(json!({
        "definitions": {
            "Health": {
                "type": "object",
                "properties": {
                    "Status": {"type": "string", "enum": ["none", "starting", "healthy", "unhealthy"]},
                    "FailingStreak": {"type": "integer"},
                    "Log": {"type": "array", "items": {"$ref": "#/definitions/Result"}}
                }
            },
            "Result": {
                "type": "object",
                "x-nullable": true,
                "properties": {"ExitCode": {"type": "integer"}, "Output": {"type": "string"}}
            },
            "Base": {
                "type": "object",
                "required": ["Id"],
                "properties": {"Id": {"type": "string"}, "Size": {"type": "number"}}
            },
            "Thing": {
                "allOf": [
                    {"$ref": "#/definitions/Base"},
                    {"type": "object", "properties": {
                        "Labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "Health": {"$ref": "#/definitions/Health"},
                        "Free": {"type": "object"},
                        "Any": {},
                        "Flags": {"type": "array", "items": {"type": "boolean"}},
                        "Opt": {"type": "string", "x-nullable": true}
                    }}
                ]
            }
        },
        "paths": {"/things/{id}": {"get": {"responses": {"200": {"schema": {"$ref": "#/definitions/Thing"}}}}}}
    }))
}

fn thing(sw: &Swagger) -> Value {
    sw.response_schema("GET", "/things/{id}", 200)
        .expect("toy schema")
}

fn good_thing() -> Value {
    json!({
        "Id": "abc", "Size": 1.5,
        "Labels": {"a": "b", "com.example/x": "y"},
        "Health": {"Status": "healthy", "FailingStreak": 0, "Log": [{"ExitCode": 0, "Output": "ok"}, null]},
        "Free": {"whatever": [1, {"x": null}]},
        "Any": [null, 1],
        "Flags": [true, false],
        "Opt": null
    })
}

#[test]
fn validator_accepts_a_conforming_value() {
    let sw = toy();
    let errs = sw.validate(&good_thing(), &thing(&sw), &Exceptions::default());
    assert!(errs.is_empty(), "{errs:#?}");
    // Optional properties may be absent.
    let errs = sw.validate(&json!({"Id": "x"}), &thing(&sw), &Exceptions::default());
    assert!(errs.is_empty(), "{errs:#?}");
}

#[test]
fn validator_reports_wrong_types_with_paths() {
    let sw = toy();
    let mut v = good_thing();
    v["Id"] = json!(7);
    v["Size"] = json!("big");
    v["Labels"]["a"] = json!(1);
    v["Health"]["FailingStreak"] = json!(1.5);
    v["Health"]["Log"][0]["Output"] = json!(false);
    v["Flags"][1] = json!("no");
    v["Free"] = json!([]);
    let errs = sw.validate(&v, &thing(&sw), &Exceptions::default());
    let want = [
        "$.Id: expected string, got integer 7",
        "$.Size: expected number, got string \"big\"",
        "$.Labels.a: expected string, got integer 1",
        "$.Health.FailingStreak: expected integer, got number 1.5",
        "$.Health.Log[0].Output: expected string, got boolean false",
        "$.Flags[1]: expected boolean, got string \"no\"",
        "$.Free: expected object, got array []",
    ];
    for w in want {
        assert!(errs.iter().any(|e| e == w), "missing {w:?} in {errs:#?}");
    }
    assert_eq!(errs.len(), want.len(), "{errs:#?}");
}

#[test]
fn validator_null_needs_x_nullable_or_an_allowlist_entry() {
    let sw = toy();
    let mut v = good_thing();
    v["Health"]["Status"] = Value::Null;
    v["Labels"] = Value::Null;
    let errs = sw.validate(&v, &thing(&sw), &Exceptions::default());
    assert_eq!(
        errs,
        vec![
            "$.Health.Status: expected string, got null".to_string(),
            "$.Labels: expected object, got null".to_string(),
        ]
    );
    let allow = Exceptions {
        null: vec![
            Allow::new("$.Labels", "test"),
            Allow::new("$.Health.*", "test"),
        ],
        ..Default::default()
    };
    let errs = sw.validate(&v, &thing(&sw), &allow);
    assert!(errs.is_empty(), "{errs:#?}");
    // An entry for one path does not excuse another.
    v["Id"] = Value::Null;
    let errs = sw.validate(&v, &thing(&sw), &allow);
    assert_eq!(errs, vec!["$.Id: expected string, got null".to_string()]);
}

#[test]
fn validator_reports_missing_required_and_unknown_properties() {
    let sw = toy();
    let v = json!({"Size": 1, "Sise": 2, "Health": {"Staus": "healthy"}, "Free": {"k": 1}});
    let errs = sw.validate(&v, &thing(&sw), &Exceptions::default());
    assert_eq!(
        errs,
        vec![
            "$.Id: required property missing".to_string(),
            "$.Health.Staus: property not in the schema (served \"healthy\")".to_string(),
            "$.Sise: property not in the schema (served 2)".to_string(),
        ]
    );
    let allow = Exceptions {
        null: vec![],
        extra: vec![
            Allow::new("$.Sise", "test"),
            Allow::new("$.Health.Staus", "test"),
        ],
        ..Default::default()
    };
    let errs = sw.validate(&v, &thing(&sw), &allow);
    assert_eq!(errs, vec!["$.Id: required property missing".to_string()]);
}

#[test]
fn validator_checks_enums_lists_and_odd_keys() {
    let sw = toy();
    let v =
        json!([{"Id": "a", "Health": {"Status": "sick"}}, {"Id": "b", "Labels": {"80/tcp": 1}}]);
    let schema = json!({"type": "array", "items": {"$ref": "#/definitions/Thing"}});
    let errs = sw.validate(&v, &schema, &Exceptions::default());
    assert_eq!(
        errs,
        vec![
            "$[0].Health.Status: \"sick\" is not one of [\"none\", \"starting\", \"healthy\", \"unhealthy\"]".to_string(),
            "$[1].Labels[\"80/tcp\"]: expected string, got integer 1".to_string(),
        ]
    );
    let allow = Exceptions {
        values: vec![(Allow::new("$[*].Health.Status", "test"), json!("sick"))],
        ..Default::default()
    };
    let errs = sw.validate(&v, &schema, &allow);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].starts_with("$[1].Labels"), "{errs:#?}");
    let allow = Exceptions {
        null: vec![Allow::new("$[*].Health", "test")],
        ..Default::default()
    };
    let errs = sw.validate(&json!([{"Id": "a", "Health": null}]), &schema, &allow);
    assert!(errs.is_empty(), "{errs:#?}");
    let errs = sw.validate(&json!({"Id": "a"}), &schema, &allow);
    assert_eq!(
        errs,
        vec!["$: expected array, got object {\"Id\":\"a\"}".to_string()]
    );
}

#[test]
fn validator_reports_broken_references() {
    let sw = toy();
    let errs = sw.validate(
        &json!({"a": 1}),
        &json!({"$ref": "#/definitions/Nope"}),
        &Exceptions::default(),
    );
    assert_eq!(
        errs,
        vec!["$: schema error: unresolvable $ref \"#/definitions/Nope\"".to_string()]
    );
}

// ---------------------------------------------------------------------------------
// The validator on the real swagger.
// ---------------------------------------------------------------------------------

/// (method, swagger path, status) of every response the end-to-end test checks.
const CHECKED: &[(&str, &str, u16)] = &[
    ("GET", "/_ping", 200),
    ("GET", "/version", 200),
    ("GET", "/info", 200),
    ("GET", "/containers/json", 200),
    ("GET", "/containers/{id}/json", 200),
    ("GET", "/containers/{id}/top", 200),
    ("GET", "/containers/{id}/stats", 200),
    ("GET", "/images/json", 200),
    ("GET", "/images/{name}/json", 200),
    ("GET", "/images/{name}/history", 200),
    ("GET", "/system/df", 200),
    ("POST", "/images/prune", 200),
    ("GET", "/exec/{id}/json", 200),
    ("POST", "/containers/create", 201),
    ("POST", "/containers/{id}/exec", 201),
    ("POST", "/containers/{id}/wait", 200),
    ("GET", "/events", 200),
    ("GET", "/containers/{id}/json", 404),
    ("GET", "/images/{name}/json", 404),
    ("GET", "/exec/{id}/json", 404),
    ("POST", "/volumes/create", 201),
    ("GET", "/volumes", 200),
    ("GET", "/volumes/{name}", 200),
    ("POST", "/volumes/prune", 200),
    ("GET", "/volumes/{name}", 404),
];

#[test]
fn validator_finds_every_checked_schema_and_they_bite() {
    let Some(sw) = swagger() else { return };
    for &(method, path, code) in CHECKED {
        let s = sw
            .response_schema(method, path, code)
            .unwrap_or_else(|| panic!("{method} {path} {code}: no schema in the swagger"));
        // Stats is a free-form object in v1.41; every other schema rejects a value of
        // the wrong shape.
        if path == "/containers/{id}/stats" {
            continue;
        }
        let wrong = if path == "/_ping" {
            json!(1)
        } else {
            json!("nonsense")
        };
        let errs = sw.validate(&wrong, &s, &Exceptions::default());
        assert!(
            !errs.is_empty(),
            "{method} {path}: the schema accepted {wrong}"
        );
    }
    // A misspelt field is caught in a real definition.
    let s = sw
        .response_schema("GET", "/version", 200)
        .expect("version schema");
    let errs = sw.validate(&json!({"Versoin": "1"}), &s, &Exceptions::default());
    assert_eq!(
        errs,
        vec!["$.Versoin: property not in the schema (served \"1\")".to_string()]
    );
}

fn api_types_sample(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../berth-api-types/tests/samples")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// dockerd's own responses (berth-api-types' samples) pass with the allowlists above:
/// the rules are no stricter than Docker itself.
#[test]
fn validator_accepts_dockerd_samples() {
    let Some(sw) = swagger() else { return };
    let cases: Vec<(&str, &str, &str, Exceptions)> = vec![
        ("version.json", "GET", "/version", Exceptions::default()),
        ("info.json", "GET", "/info", info_exceptions()),
        (
            "container_list.json",
            "GET",
            "/containers/json",
            Exceptions {
                null: container_summary_nulls("$[*]"),
                ..Default::default()
            },
        ),
        (
            "container_inspect.json",
            "GET",
            "/containers/{id}/json",
            inspect_exceptions(),
        ),
        (
            "image_inspect.json",
            "GET",
            "/images/{name}/json",
            image_exceptions(),
        ),
        (
            "exec_inspect.json",
            "GET",
            "/exec/{id}/json",
            exec_exceptions(),
        ),
        ("event.json", "GET", "/events", event_exceptions()),
    ];
    let mut all = Vec::new();
    for (file, method, path, exc) in cases {
        let s = sw.response_schema(method, path, 200).expect("schema");
        for e in sw.validate(&api_types_sample(file), &s, &exc) {
            all.push(format!("{file}: {e}"));
        }
    }
    assert!(
        all.is_empty(),
        "dockerd samples rejected:\n{}",
        all.join("\n")
    );
}

// ---------------------------------------------------------------------------------
// Raw HTTP/1.1 over the daemon's unix socket.
// ---------------------------------------------------------------------------------

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request on a fresh connection; reads the head, then a Content-Length or
/// chunked body (or up to EOF).
fn http(sock: &Path, method: &str, target: &str, body: Option<&Value>) -> Result<Response, String> {
    let what = format!("{method} {target}");
    let mut s = UnixStream::connect(sock)
        .map_err(|e| format!("{what}: connect {}: {e}", sock.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| format!("{what}: {e}"))?;
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: berth\r\nUser-Agent: berth-api-schema-test\r\nConnection: close\r\n");
    if body.is_some() {
        req.push_str("Content-Type: application/json\r\n");
    }
    if body.is_some() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", payload.len()));
    }
    req.push_str("\r\n");
    req.push_str(&payload);
    s.write_all(req.as_bytes())
        .map_err(|e| format!("{what}: write: {e}"))?;

    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)
        .map_err(|e| format!("{what}: status line: {e}"))?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("{what}: bad status line {line:?}"))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line)
            .map_err(|e| format!("{what}: header: {e}"))?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| format!("{what}: bad header {l:?}"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let chunked = resp
        .header("Transfer-Encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)
                .map_err(|e| format!("{what}: chunk size: {e}"))?;
            let size_hex = line.trim_end().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_hex.trim(), 16)
                .map_err(|_| format!("{what}: bad chunk size line {line:?}"))?;
            if size == 0 {
                // Trailers, up to the empty line (or EOF).
                loop {
                    line.clear();
                    let n = r
                        .read_line(&mut line)
                        .map_err(|e| format!("{what}: trailer: {e}"))?;
                    if n == 0 || line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = resp.body.len();
            resp.body.resize(start + size, 0);
            r.read_exact(&mut resp.body[start..])
                .map_err(|e| format!("{what}: chunk: {e}"))?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)
                .map_err(|e| format!("{what}: chunk end: {e}"))?;
        }
    } else if let Some(len) = resp.header("Content-Length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("{what}: bad Content-Length {len:?}"))?;
        resp.body.resize(len, 0);
        r.read_exact(&mut resp.body)
            .map_err(|e| format!("{what}: body: {e}"))?;
    } else {
        r.read_to_end(&mut resp.body)
            .map_err(|e| format!("{what}: body: {e}"))?;
    }
    Ok(resp)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

// ---------------------------------------------------------------------------------
// End to end.
// ---------------------------------------------------------------------------------

/// Collects every mismatch of every endpoint.
struct Checker<'a> {
    sw: &'a Swagger,
    sock: &'a Path,
    problems: Vec<String>,
}

impl Checker<'_> {
    /// Sends the request; on the expected status returns the parsed JSON body, else
    /// records why not.
    fn fetch(
        &mut self,
        method: &str,
        target: &str,
        body: Option<&Value>,
        code: u16,
    ) -> Option<(Response, Value)> {
        let resp = match http(self.sock, method, target, body) {
            Ok(r) => r,
            Err(e) => {
                self.problems.push(e);
                return None;
            }
        };
        if resp.status != code {
            self.problems.push(format!(
                "{method} {target}: status {} (want {code}): {}",
                resp.status,
                resp.text()
            ));
            return None;
        }
        let ct = resp.header("Content-Type").unwrap_or("");
        if !ct.starts_with("application/json") {
            self.problems.push(format!(
                "{method} {target}: Content-Type {ct:?}, want application/json"
            ));
        }
        match serde_json::from_slice::<Value>(&resp.body) {
            Ok(v) => Some((resp, v)),
            Err(e) => {
                self.problems.push(format!(
                    "{method} {target}: body is not JSON ({e}): {}",
                    resp.text()
                ));
                None
            }
        }
    }

    fn validate(
        &mut self,
        method: &str,
        swagger_path: &str,
        code: u16,
        target: &str,
        v: &Value,
        exc: &Exceptions,
    ) {
        let s = self
            .sw
            .response_schema(method, swagger_path, code)
            .unwrap_or_else(|| panic!("{method} {swagger_path} {code}: no schema in the swagger"));
        for e in self.sw.validate(v, &s, exc) {
            self.problems.push(format!("{method} {target}: {e}"));
        }
    }

    /// Fetches and validates; returns the body for further use.
    fn check(
        &mut self,
        method: &str,
        swagger_path: &str,
        target: &str,
        body: Option<&Value>,
        code: u16,
        exc: &Exceptions,
    ) -> Option<Value> {
        let (_, v) = self.fetch(method, target, body, code)?;
        self.validate(method, swagger_path, code, target, &v, exc);
        Some(v)
    }
}

#[test]
#[ignore = "needs root (scripts/test.sh runs it with --include-ignored)"]
fn served_json_matches_the_engine_api_swagger() {
    let Some(sw) = swagger() else { return };
    if common::busybox().is_none() {
        eprintln!("SKIP: no static busybox (apt-get install busybox-static)");
        return;
    }
    let d = Daemon::start();
    d.import_busybox();
    let since = unix_now().saturating_sub(1);
    let berth = Cli::berth();
    // A bind mount and a health check, so Mounts and State.Health are served too.
    let bind = d.root.join("bind-src");
    std::fs::create_dir_all(&bind).expect("mkdir bind source");
    let volume = format!("{}:/data", bind.display());
    let running = d
        .ok(
            &berth,
            &[
                "run",
                "-d",
                "--name",
                "up",
                "--label",
                "tier=front",
                "-v",
                &volume,
                "--health-cmd",
                "true",
                "--health-interval",
                "1s",
                "busybox",
                "sleep",
                "1000",
            ],
        )
        .trim()
        .to_string();
    // Let the first health probe run so State.Health.Log has an entry.
    let healthy = common::wait_for(10, || {
        d.ok(
            &berth,
            &["inspect", "--format", "{{.State.Health.Status}}", "up"],
        )
        .trim()
            == "healthy"
    });
    let down = d.run(
        &berth,
        &["run", "--name", "down", "busybox", "sh", "-c", "exit 3"],
    );
    assert_eq!(
        down.status.code(),
        Some(3),
        "berth run --name down: {}",
        String::from_utf8_lossy(&down.stderr)
    );

    let mut c = Checker {
        sw: &sw,
        sock: &d.sock,
        problems: Vec::new(),
    };
    if !healthy {
        c.problems
            .push("container up (--health-cmd true) did not become healthy in 10 s".into());
    }

    // _ping: plain "OK" with the headers the CLI negotiates with.
    match http(&d.sock, "GET", "/_ping", None) {
        Ok(r) => {
            if r.status != 200 || r.body != b"OK" {
                c.problems.push(format!(
                    "GET /_ping: status {} body {:?}, want 200 \"OK\"",
                    r.status,
                    r.text()
                ));
            }
            for (name, spec) in sw.response_headers("GET", "/_ping", 200) {
                let got = r.header(&name);
                match (name.as_str(), got) {
                    ("API-Version", None) => c.problems.push("GET /_ping: header API-Version missing (the docker CLI negotiates with it)".into()),
                    (_, Some(v)) if spec["type"] == "boolean" && v != "true" && v != "false" => {
                        c.problems.push(format!("GET /_ping: header {name}: {v:?} is not a boolean"))
                    }
                    _ => {}
                }
            }
        }
        Err(e) => c.problems.push(e),
    }

    c.check(
        "GET",
        "/version",
        "/v1.41/version",
        None,
        200,
        &Exceptions::default(),
    );
    c.check("GET", "/info", "/v1.41/info", None, 200, &info_exceptions());

    // A created-only container, through the API.
    let created = c
        .check(
            "POST",
            "/containers/create",
            "/v1.41/containers/create?name=made",
            Some(&json!({"Image": "busybox", "Cmd": ["true"]})),
            201,
            &Exceptions::default(),
        )
        .and_then(|v| v["Id"].as_str().map(str::to_string));

    // Exec instances: one only created, one run to completion.
    let exec_create = |c: &mut Checker, cmd: Value| {
        c.check(
            "POST",
            "/containers/{id}/exec",
            "/v1.41/containers/up/exec",
            Some(&json!({"Cmd": cmd})),
            201,
            &Exceptions::default(),
        )
        .and_then(|v| v["Id"].as_str().map(str::to_string))
    };
    let exec_idle = exec_create(&mut c, json!(["true"]));
    let exec_done = exec_create(&mut c, json!(["sh", "-c", "exit 2"]));
    if let Some(id) = &exec_done {
        match http(
            &d.sock,
            "POST",
            &format!("/v1.41/exec/{id}/start"),
            Some(&json!({"Detach": true})),
        ) {
            Ok(r) if r.status == 200 => {
                let finished = common::wait_for(20, || {
                    http(&d.sock, "GET", &format!("/v1.41/exec/{id}/json"), None)
                        .ok()
                        .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
                        .is_some_and(|v| v["Running"] == json!(false) && v["ExitCode"] == json!(2))
                });
                if !finished {
                    c.problems.push(format!(
                        "exec {id} (sh -c 'exit 2') did not finish with exit code 2 in 20 s"
                    ));
                }
            }
            Ok(r) => c.problems.push(format!(
                "POST /exec/{id}/start: status {}: {}",
                r.status,
                r.text()
            )),
            Err(e) => c.problems.push(e),
        }
    }
    for id in exec_idle.iter().chain(&exec_done) {
        c.check(
            "GET",
            "/exec/{id}/json",
            &format!("/v1.41/exec/{id}/json"),
            None,
            200,
            &exec_exceptions(),
        );
    }

    let list = c.check(
        "GET",
        "/containers/json",
        "/v1.41/containers/json?all=1",
        None,
        200,
        &Exceptions {
            null: container_summary_nulls("$[*]"),
            ..Default::default()
        },
    );
    if let Some(Value::Array(l)) = &list {
        // The list must hold what was made (else its items were never checked).
        let ids: Vec<&str> = l.iter().filter_map(|x| x["Id"].as_str()).collect();
        for (what, id) in [
            ("up (running)", Some(&running)),
            ("made (created)", created.as_ref()),
        ] {
            if id.is_some_and(|id| !ids.contains(&id.as_str())) {
                c.problems.push(format!(
                    "GET /containers/json?all=1: {what} not listed: {ids:?}"
                ));
            }
        }
        if l.len() != 3 {
            c.problems.push(format!(
                "GET /containers/json?all=1: {} containers listed, want 3 (up, down, made)",
                l.len()
            ));
        }
    }
    for name in ["up", "down", "made"] {
        c.check(
            "GET",
            "/containers/{id}/json",
            &format!("/v1.41/containers/{name}/json"),
            None,
            200,
            &inspect_exceptions(),
        );
    }
    c.check(
        "GET",
        "/containers/{id}/top",
        "/v1.41/containers/up/top",
        None,
        200,
        &Exceptions::default(),
    );

    // Stats has no schema in v1.41 beyond "object": check the keys clients read.
    if let Some((_, v)) = c.fetch("GET", "/v1.41/containers/up/stats?stream=false", None, 200) {
        c.validate(
            "GET",
            "/containers/{id}/stats",
            200,
            "/v1.41/containers/up/stats?stream=false",
            &v,
            &Exceptions::default(),
        );
        for key in ["read", "cpu_stats", "memory_stats", "pids_stats"] {
            if v.get(key).is_none() {
                c.problems.push(format!(
                    "GET /containers/up/stats?stream=false: $.{key}: missing"
                ));
            }
        }
        if !v["cpu_stats"].is_object()
            || !v["memory_stats"].is_object()
            || !v["pids_stats"].is_object()
        {
            c.problems.push(format!("GET /containers/up/stats?stream=false: cpu_stats, memory_stats and pids_stats must be objects: {v}"));
        }
    }

    c.check(
        "GET",
        "/images/json",
        "/v1.41/images/json",
        None,
        200,
        &Exceptions {
            null: image_summary_nulls("$[*]"),
            ..Default::default()
        },
    );
    c.check(
        "GET",
        "/images/{name}/json",
        "/v1.41/images/busybox/json",
        None,
        200,
        &image_exceptions(),
    );
    c.check(
        "GET",
        "/images/{name}/history",
        "/v1.41/images/busybox/history",
        None,
        200,
        &history_exceptions(),
    );
    // Volumes: one kept (so /system/df lists it), one pruned by its label.
    for (name, labels) in [
        ("schema-vol", json!({"tier": "db"})),
        ("prune-me", json!({"prune": "yes"})),
    ] {
        c.check(
            "POST",
            "/volumes/create",
            "/v1.41/volumes/create",
            Some(&json!({"Name": name, "Labels": labels})),
            201,
            &Exceptions::default(),
        );
    }
    if let Some(v) = c.check(
        "GET",
        "/volumes",
        "/v1.41/volumes",
        None,
        200,
        &Exceptions::default(),
    ) {
        if v["Volumes"].as_array().is_none_or(|l| l.len() != 2) {
            c.problems
                .push(format!("GET /volumes: want the two volumes made: {v}"));
        }
    }
    c.check(
        "GET",
        "/volumes/{name}",
        "/v1.41/volumes/schema-vol",
        None,
        200,
        &Exceptions::default(),
    );
    c.check(
        "GET",
        "/system/df",
        "/v1.41/system/df",
        None,
        200,
        &df_exceptions(),
    );
    if let Some(v) = c.check(
        "POST",
        "/volumes/prune",
        "/v1.41/volumes/prune?filters=%7B%22label%22%3A%5B%22prune%3Dyes%22%5D%7D",
        None,
        200,
        &Exceptions::default(),
    ) {
        if v["VolumesDeleted"] != json!(["prune-me"]) {
            c.problems
                .push(format!("POST /volumes/prune (label prune=yes): {v}"));
        }
    }

    c.check(
        "POST",
        "/images/prune",
        "/v1.41/images/prune",
        None,
        200,
        &Exceptions::default(),
    );

    if let Some(v) = c.check(
        "POST",
        "/containers/{id}/wait",
        "/v1.41/containers/down/wait",
        None,
        200,
        &wait_exceptions(),
    ) {
        if v["StatusCode"] != json!(3) {
            c.problems.push(format!(
                "POST /containers/down/wait: StatusCode {}, want 3",
                v["StatusCode"]
            ));
        }
    }

    // Errors: `{"message": …}`, which clients print.
    for (swagger_path, target) in [
        (
            "/containers/{id}/json",
            "/v1.41/containers/no-such-container/json",
        ),
        ("/images/{name}/json", "/v1.41/images/no-such-image:1/json"),
        ("/exec/{id}/json", "/v1.41/exec/no-such-exec/json"),
        ("/volumes/{name}", "/v1.41/volumes/no-such-volume"),
    ] {
        if let Some(v) = c.check(
            "GET",
            swagger_path,
            target,
            None,
            404,
            &Exceptions::default(),
        ) {
            if !v["message"].as_str().is_some_and(|m| m.contains("no-such")) {
                c.problems.push(format!(
                    "GET {target}: 404 message does not name the thing: {v}"
                ));
            }
        }
    }

    // Events: one JSON object per line, up to `until`.
    let until = unix_now() + 1;
    let target = format!("/v1.41/events?since={since}&until={until}");
    match http(&d.sock, "GET", &target, None) {
        Ok(r) if r.status == 200 => {
            let mut n = 0;
            for item in serde_json::Deserializer::from_slice(&r.body).into_iter::<Value>() {
                match item {
                    Ok(ev) => {
                        n += 1;
                        let s = sw
                            .response_schema("GET", "/events", 200)
                            .expect("events schema");
                        for e in sw.validate(&ev, &s, &event_exceptions()) {
                            c.problems.push(format!(
                                "GET /events (event {n}: {} {}): {e}",
                                ev["Type"], ev["Action"]
                            ));
                        }
                    }
                    Err(e) => {
                        c.problems
                            .push(format!("GET {target}: event {} is not JSON: {e}", n + 1));
                        break;
                    }
                }
            }
            // create, start (up); create, start, die (down); create (made); exec_create ×2, …
            if n < 8 {
                c.problems
                    .push(format!("GET {target}: only {n} events: {}", r.text()));
            }
        }
        Ok(r) => c
            .problems
            .push(format!("GET {target}: status {}: {}", r.status, r.text())),
        Err(e) => c.problems.push(e),
    }

    assert!(
        c.problems.is_empty(),
        "{} mismatches between berth's served JSON and the Engine API v1.41 swagger:\n{}",
        c.problems.len(),
        c.problems.join("\n")
    );
}
