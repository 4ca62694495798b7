//! Checks berth's models against Docker's Engine API v1.41 swagger: for each model, a
//! sample with every swagger field populated is parsed and serialised again, and every
//! key berth emits must exist in the swagger definition with a compatible JSON type.
//! Swagger fields that berth drops, and keys berth sends that v1.41 does not document,
//! must each be listed below with a reason, so the lists stay true.
//!
//! The swagger lives in the project's shared reference directory beside the checkout
//! (or `BERTH_ENGINE_API_SWAGGER`); without it the test says so and skips.

use std::collections::BTreeSet;

use berth_api_types::container::*;
use berth_api_types::exec::*;
use berth_api_types::image::*;
use berth_api_types::network::*;
use berth_api_types::system::*;
use berth_api_types::volume::Volume;
use berth_api_types::ErrorResponse;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

mod swagger;

fn swagger() -> Option<Value> {
    swagger::load_swagger()
}

/// Where a model's schema is in the swagger.
enum Locator {
    /// `definitions/NAME`.
    Def(&'static str),
    /// An inline schema with this `title` (most responses).
    Title(&'static str),
    /// The body parameter of the operation with this `operationId`.
    Body(&'static str),
}

struct Api {
    doc: Value,
}

impl Api {
    /// v1.41 defines `ContainerSummary` as the whole list, so `/system/df`'s
    /// `Containers` (a list of `ContainerSummary`) reads as a list of lists. Later API
    /// versions define it as one entry; do the same here.
    fn new(mut doc: Value) -> Self {
        let summary = &mut doc["definitions"]["ContainerSummary"];
        if summary["type"] == "array" {
            *summary = summary["items"].clone();
        }
        Api { doc }
    }

    fn locate(&self, at: &Locator) -> Value {
        let found = match at {
            Locator::Def(name) => self.doc["definitions"].get(*name).cloned(),
            Locator::Title(title) => find_title(&self.doc["paths"], title),
            Locator::Body(op) => self.body_of(op),
        };
        found.unwrap_or_else(|| panic!("schema not found in the swagger"))
    }

    fn body_of(&self, op: &str) -> Option<Value> {
        let paths = self.doc["paths"].as_object()?;
        for methods in paths.values() {
            for operation in methods.as_object()?.values() {
                if operation.get("operationId").and_then(Value::as_str) == Some(op) {
                    return operation["parameters"]
                        .as_array()?
                        .iter()
                        .find(|p| p["in"] == "body")
                        .map(|p| p["schema"].clone());
                }
            }
        }
        None
    }

    /// Follows `$ref`s.
    fn resolve<'a>(&'a self, mut s: &'a Value) -> &'a Value {
        while let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let name = r
                .strip_prefix("#/definitions/")
                .unwrap_or_else(|| panic!("unsupported $ref {r}"));
            s = &self.doc["definitions"][name];
        }
        s
    }

    /// The properties of an object schema, `allOf` parts merged.
    fn properties(&self, s: &Value) -> Map<String, Value> {
        let s = self.resolve(s);
        let mut props = s
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for part in s
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            props.extend(self.properties(part));
        }
        props
    }

    fn kind<'a>(&'a self, s: &'a Value) -> &'a str {
        let s = self.resolve(s);
        match s.get("type").and_then(Value::as_str) {
            Some(t) => t,
            None if s.get("properties").is_some() || s.get("allOf").is_some() => "object",
            None => "any",
        }
    }

    /// A value with every property of `s` populated: strings "x", integers 1, lists and
    /// maps of two entries (so that fixed pairs like ConsoleSize parse).
    fn generate(&self, s: &Value, depth: usize) -> Value {
        assert!(depth < 16, "schema too deep");
        let s = self.resolve(s);
        match self.kind(s) {
            "string" => Value::from("x"),
            "integer" | "number" => Value::from(1),
            "boolean" => Value::Bool(true),
            "array" => {
                let item = self.generate(&s["items"], depth + 1);
                Value::Array(vec![item.clone(), item])
            }
            "object" => {
                let mut out = Map::new();
                for (k, p) in self.properties(s) {
                    out.insert(k, self.generate(&p, depth + 1));
                }
                if let Some(extra) = s.get("additionalProperties").filter(|a| a.is_object()) {
                    for k in ["k1", "k2"] {
                        out.insert(k.into(), self.generate(extra, depth + 1));
                    }
                }
                Value::Object(out)
            }
            _ => Value::Object(Map::new()),
        }
    }

    /// Every key of `v` must be in `s`, with a compatible type. Keys absent from the
    /// schema go to `extras`, type mismatches to `wrong`, as dotted paths (`*` for a
    /// map entry, `[]` for a list item).
    fn check(
        &self,
        v: &Value,
        s: &Value,
        path: &str,
        extras: &mut BTreeSet<String>,
        wrong: &mut Vec<String>,
    ) {
        let s = self.resolve(s);
        let kind = self.kind(s);
        let ok = match (kind, v) {
            (_, Value::Null) | ("any", _) => true,
            ("string", Value::String(_)) | ("boolean", Value::Bool(_)) => true,
            ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
            ("number", Value::Number(_)) => true,
            ("array", Value::Array(items)) => {
                for item in items {
                    self.check(item, &s["items"], &format!("{path}[]"), extras, wrong);
                }
                true
            }
            ("object", Value::Object(m)) => {
                let props = self.properties(s);
                let extra = s.get("additionalProperties").filter(|a| a.is_object());
                let free_form = props.is_empty() && extra.is_none();
                for (k, val) in m {
                    let here = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    if let Some(p) = props.get(k) {
                        self.check(val, p, &here, extras, wrong);
                    } else if let Some(e) = extra {
                        let entry = if path.is_empty() {
                            "*".into()
                        } else {
                            format!("{path}.*")
                        };
                        self.check(val, e, &entry, extras, wrong);
                    } else if !free_form {
                        extras.insert(here);
                    }
                }
                true
            }
            _ => false,
        };
        if !ok {
            wrong.push(format!("{path}: swagger says {kind}, berth sends {v}"));
        }
    }
}

fn find_title(v: &Value, title: &str) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.get("title").and_then(Value::as_str) == Some(title) {
                return Some(v.clone());
            }
            m.values().find_map(|c| find_title(c, title))
        }
        Value::Array(a) => a.iter().find_map(|c| find_title(c, title)),
        _ => None,
    }
}

/// Key paths (real keys, `[]` for list items) of a JSON value.
fn key_paths(v: &Value, path: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                let here = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                out.insert(here.clone());
                key_paths(val, &here, out);
            }
        }
        Value::Array(a) => {
            for item in a {
                key_paths(item, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

/// One model against its schema.
struct Case {
    rust: &'static str,
    at: Locator,
    /// Serialises the generated sample through the model, or says why it did not parse.
    through: fn(Value) -> Result<Value, String>,
    /// Hand-written samples of this model (fields v1.41 lacks, realistic values).
    samples: Vec<Value>,
    /// Keys berth sends that the v1.41 swagger does not have, each with why.
    allowed_extras: &'static [(&'static str, &'static str)],
    /// Swagger keys the model does not carry, each with why.
    not_modelled: &'static [(&'static str, &'static str)],
}

fn via<T: Serialize + DeserializeOwned>(v: Value) -> Result<Value, String> {
    let t: T = serde_json::from_value(v).map_err(|e| e.to_string())?;
    serde_json::to_value(t).map_err(|e| e.to_string())
}

fn sample(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/samples")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const SUMMARY_MOUNTS: (&str, &str) = (
    "Mounts[].*",
    "v1.41's swagger says Mount, but dockerd lists MountPoints here (fixed in later API versions)",
);

fn cases() -> Vec<Case> {
    use Locator::*;
    let list = sample("container_list.json");
    vec![
        Case { rust: "ContainerConfig", at: Def("ContainerConfig"), through: via::<ContainerConfig>, samples: vec![sample("container_inspect.json")["Config"].clone()], allowed_extras: &[], not_modelled: &[] },
        Case {
            rust: "HostConfig", at: Def("HostConfig"), through: via::<HostConfig>,
            samples: vec![sample("container_inspect.json")["HostConfig"].clone(), serde_json::json!({"Annotations": {"a": "b"}, "Init": true, "Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1, "Mode": 511}}]})],
            allowed_extras: &[("Annotations", "API 1.43; omitted when empty, so only clients that set it see it")],
            not_modelled: &[],
        },
        Case { rust: "ContainerCreateRequest", at: Body("ContainerCreate"), through: via::<ContainerCreateRequest>, samples: vec![sample("create_run_it_rm.json")], allowed_extras: &[], not_modelled: &[] },
        Case { rust: "ContainerCreateResponse", at: Title("ContainerCreateResponse"), through: via::<ContainerCreateResponse>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case {
            rust: "ContainerSummary", at: Def("ContainerSummary"), through: via::<ContainerSummary>,
            samples: vec![list[0].clone(), list[1].clone()],
            allowed_extras: &[("Mounts[].Destination", SUMMARY_MOUNTS.1), ("Mounts[].Mode", SUMMARY_MOUNTS.1), ("Mounts[].RW", SUMMARY_MOUNTS.1), ("Mounts[].Propagation", SUMMARY_MOUNTS.1)],
            not_modelled: &[("Mounts[].Consistency", SUMMARY_MOUNTS.1), ("Mounts[].BindOptions", SUMMARY_MOUNTS.1), ("Mounts[].VolumeOptions", SUMMARY_MOUNTS.1), ("Mounts[].TmpfsOptions", SUMMARY_MOUNTS.1), ("Mounts[].ReadOnly", SUMMARY_MOUNTS.1), ("Mounts[].Target", SUMMARY_MOUNTS.1)],
        },
        Case { rust: "ContainerInspect", at: Title("ContainerInspectResponse"), through: via::<ContainerInspect>, samples: vec![sample("container_inspect.json")], allowed_extras: &[], not_modelled: &[] },
        Case { rust: "ContainerState", at: Def("ContainerState"), through: via::<ContainerState>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case { rust: "ContainerWaitResponse", at: Title("ContainerWaitResponse"), through: via::<ContainerWaitResponse>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case { rust: "ContainerTopResponse", at: Title("ContainerTopResponse"), through: via::<ContainerTopResponse>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case { rust: "ContainerUpdateRequest", at: Body("ContainerUpdate"), through: via::<ContainerUpdateRequest>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case { rust: "ContainerUpdateResponse", at: Title("ContainerUpdateResponse"), through: via::<ContainerUpdateResponse>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case { rust: "ContainerChange", at: Title("ContainerChangeResponseItem"), through: via::<ContainerChange>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case { rust: "Mount", at: Def("Mount"), through: via::<Mount>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case { rust: "MountPoint", at: Def("MountPoint"), through: via::<MountPoint>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case { rust: "Port", at: Def("Port"), through: via::<Port>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case { rust: "NetworkSettings", at: Def("NetworkSettings"), through: via::<NetworkSettings>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case { rust: "EndpointSettings", at: Def("EndpointSettings"), through: via::<EndpointSettings>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case { rust: "NetworkingConfig", at: Def("NetworkingConfig"), through: via::<NetworkingConfig>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case {
            rust: "ExecConfig", at: Body("ContainerExec"), through: via::<ExecConfig>,
            samples: vec![serde_json::json!({"ConsoleSize": [50, 180], "Detach": true})],
            allowed_extras: &[("Detach", "the docker CLI sends it; dockerd's ExecConfig has it"), ("ConsoleSize", "API 1.42, sent by newer clients")],
            not_modelled: &[],
        },
        Case { rust: "ExecCreateResponse", at: Def("IdResponse"), through: via::<ExecCreateResponse>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case {
            rust: "ExecStartConfig", at: Body("ExecStart"), through: via::<ExecStartConfig>,
            samples: vec![serde_json::json!({"Detach": false, "Tty": true, "ConsoleSize": [50, 180]})],
            allowed_extras: &[("ConsoleSize", "API 1.42, sent by newer clients")],
            not_modelled: &[],
        },
        Case { rust: "ExecInspect", at: Title("ExecInspectResponse"), through: via::<ExecInspect>, samples: vec![sample("exec_inspect.json")], allowed_extras: &[], not_modelled: &[] },
        Case { rust: "ImageSummary", at: Def("ImageSummary"), through: via::<ImageSummary>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case {
            rust: "ImageInspect", at: Def("Image"), through: via::<ImageInspect>,
            samples: vec![sample("image_inspect.json"), serde_json::json!({"Variant": "v8"})],
            allowed_extras: &[("Variant", "sent by dockerd 20.10 for arm images; documented from API 1.42; omitted when empty")],
            not_modelled: &[],
        },
        Case { rust: "ImageHistoryItem", at: Title("HistoryResponseItem"), through: via::<ImageHistoryItem>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case { rust: "ImageDeleteResponseItem", at: Def("ImageDeleteResponseItem"), through: via::<ImageDeleteResponseItem>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case {
            rust: "JsonMessage", at: Def("BuildInfo"), through: via::<JsonMessage>,
            samples: vec![serde_json::json!({"status": "Loaded image", "id": "busybox", "from": "x", "time": 1, "timeNano": 2, "aux": {"ID": "sha256:1"}})],
            allowed_extras: &[("from", "jsonmessage.JSONMessage field dockerd sends in some streams"), ("time", "idem"), ("timeNano", "idem")],
            not_modelled: &[],
        },
        Case { rust: "ErrorResponse", at: Def("ErrorResponse"), through: via::<ErrorResponse>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case { rust: "Version", at: Def("SystemVersion"), through: via::<Version>, samples: vec![sample("version.json")], allowed_extras: &[], not_modelled: &[] },
        Case {
            rust: "Info", at: Def("SystemInfo"), through: via::<Info>, samples: vec![sample("info.json")], allowed_extras: &[],
            not_modelled: &[("ClusterStore", "deprecated, removed in later API versions; berth has no cluster store"), ("ClusterAdvertise", "idem")],
        },
        Case { rust: "SystemDf", at: Title("SystemDataUsageResponse"), through: via::<SystemDf>, samples: vec![serde_json::json!({"Containers": [list[1].clone()]})], allowed_extras: &[("Containers[].Mounts[].Destination", SUMMARY_MOUNTS.1), ("Containers[].Mounts[].Mode", SUMMARY_MOUNTS.1), ("Containers[].Mounts[].RW", SUMMARY_MOUNTS.1), ("Containers[].Mounts[].Propagation", SUMMARY_MOUNTS.1)],
            not_modelled: &[("Containers[].Mounts[].Consistency", SUMMARY_MOUNTS.1), ("Containers[].Mounts[].BindOptions", SUMMARY_MOUNTS.1), ("Containers[].Mounts[].VolumeOptions", SUMMARY_MOUNTS.1), ("Containers[].Mounts[].TmpfsOptions", SUMMARY_MOUNTS.1), ("Containers[].Mounts[].ReadOnly", SUMMARY_MOUNTS.1), ("Containers[].Mounts[].Target", SUMMARY_MOUNTS.1)],
        },
        Case {
            rust: "EventMessage", at: Title("SystemEventsResponse"), through: via::<EventMessage>, samples: vec![sample("event.json")],
            allowed_extras: &[("status", "deprecated key old clients read; dockerd still sends it"), ("id", "idem"), ("from", "idem"), ("scope", "sent by dockerd, missing from v1.41's swagger")],
            not_modelled: &[],
        },
        Case { rust: "Volume", at: Def("Volume"), through: via::<Volume>, samples: vec![], allowed_extras: &[], not_modelled: &[] },
        Case {
            rust: "NetworkResource", at: Def("Network"), through: via::<NetworkResource>, samples: vec![],
            allowed_extras: &[("ConfigFrom", "sent by dockerd 20.10 (its NetworkResource), missing from v1.41's swagger"), ("ConfigOnly", "idem")],
            not_modelled: &[
                ("IPAM.Config[].k1", "v1.41's swagger gives IPAM.Config entries as free string maps; berth models dockerd's IPAMConfig (Subnet, IPRange, Gateway, AuxiliaryAddresses)"),
                ("IPAM.Config[].k2", "idem"),
            ],
        },
    ]
}

/// Swagger definitions in the area of this crate that no model maps to, and why.
const UNMAPPED: &[(&str, &str)] = &[
    ("/containers/{id}/stats 200", "the swagger gives only `type: object` and an example; Stats is checked against realistic samples in roundtrip.rs"),
    ("CreateImageInfo, PushImageInfo", "subsets of BuildInfo, which JsonMessage is checked against"),
    ("ContainerPruneResponse, ImagePruneResponse, SystemAuthResponse, ImageSearchResponseItem", "not modelled yet"),
    ("NetworkCreateRequest, NetworkConnectRequest, NetworkDisconnectRequest, NetworkPruneResponse", "request bodies and a list of names, checked by the e2e tests against dockerd (crates/berth/tests/networks_api.rs)"),
    ("Plugin*, Node*, Swarm*, Service*, Task*, Secret*, Config*, BuildCache (typed, unchecked)", "outside this crate's scope so far"),
];

#[test]
fn served_json_matches_the_v1_41_swagger() {
    let Some(doc) = swagger() else { return };
    let api = Api::new(doc);
    let mut failures = Vec::new();
    for case in cases() {
        let schema = api.locate(&case.at);
        let generated = api.generate(&schema, 0);
        let out = match (case.through)(generated.clone()) {
            Ok(out) => out,
            Err(e) => {
                failures.push(format!(
                    "{}: a sample with every swagger field does not parse: {e}",
                    case.rust
                ));
                continue;
            }
        };
        // Swagger fields berth drops.
        let (mut sent, mut given) = (BTreeSet::new(), BTreeSet::new());
        key_paths(&out, "", &mut sent);
        key_paths(&generated, "", &mut given);
        let known: BTreeSet<&str> = case.not_modelled.iter().map(|(k, _)| *k).collect();
        for lost in given.difference(&sent) {
            let parent_known = known.iter().any(|k| lost.starts_with(&format!("{k}.")));
            if !known.contains(lost.as_str()) && !parent_known {
                failures.push(format!("{}: swagger field {lost} is dropped", case.rust));
            }
        }
        for k in &known {
            if !given.contains(*k) || sent.contains(*k) {
                failures.push(format!("{}: not_modelled entry {k} is stale", case.rust));
            }
        }
        // What berth sends must be in the swagger.
        let mut extras = BTreeSet::new();
        let mut wrong = Vec::new();
        api.check(&out, &schema, "", &mut extras, &mut wrong);
        for s in &case.samples {
            let out = (case.through)(s.clone())
                .unwrap_or_else(|e| panic!("{}: sample does not parse: {e}", case.rust));
            api.check(&out, &schema, "", &mut extras, &mut wrong);
        }
        failures.extend(wrong.into_iter().map(|w| format!("{}: {w}", case.rust)));
        let allowed: BTreeSet<&str> = case.allowed_extras.iter().map(|(k, _)| *k).collect();
        for e in &extras {
            if !allowed.contains(e.as_str()) {
                failures.push(format!(
                    "{}: sends {e}, which v1.41 does not define",
                    case.rust
                ));
            }
        }
        for a in &allowed {
            if !extras.contains(*a) {
                failures.push(format!(
                    "{}: allowed extra {a} is stale (not sent, or now in the swagger)",
                    case.rust
                ));
            }
        }
        for (k, why) in case.allowed_extras {
            eprintln!("note: {} sends {k} beyond v1.41: {why}", case.rust);
        }
        for (k, why) in case.not_modelled {
            eprintln!("note: {} does not carry {k}: {why}", case.rust);
        }
    }
    for (what, why) in UNMAPPED {
        eprintln!("unmapped: {what}: {why}");
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_checker_catches_a_misnamed_key_and_a_wrong_type() {
    let Some(doc) = swagger() else { return };
    let api = Api::new(doc);
    let schema = api.locate(&Locator::Def("ContainerState"));
    let mut extras = BTreeSet::new();
    let mut wrong = Vec::new();
    let bad = serde_json::json!({"OomKilled": false, "Pid": "12", "Health": {"Log": [{"ExitCode": true}]}});
    api.check(&bad, &schema, "", &mut extras, &mut wrong);
    assert_eq!(extras, BTreeSet::from(["OomKilled".to_string()]));
    assert_eq!(wrong.len(), 2, "{wrong:?}");
    assert!(
        wrong
            .iter()
            .any(|w| w.starts_with("Health.Log[].ExitCode:")),
        "{wrong:?}"
    );
}
