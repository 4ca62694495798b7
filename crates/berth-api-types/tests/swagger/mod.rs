//! Loading the Engine API's swagger (YAML) as JSON, shared by the tests that check the
//! API models (berth-api-types) and what the daemon serves (berth's end-to-end tests,
//! which include this file by path).

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// Where the swagger is: `BERTH_ENGINE_API_SWAGGER`, else the project's shared
/// reference directory beside the checkout.
pub fn swagger_path() -> PathBuf {
    std::env::var_os("BERTH_ENGINE_API_SWAGGER")
        .map(Into::into)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/reference/docker-engine-api-v1.41.yaml")
        })
}

/// The swagger as JSON, or `None` (with a note on stderr) when it is not there.
pub fn load_swagger() -> Option<Value> {
    let path = swagger_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("SKIP: Engine API swagger {}: {e}", path.display());
            return None;
        }
    };
    let yaml: serde_norway::Value =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    Some(yaml_to_json(yaml))
}

/// YAML → JSON, with non-string keys (the `200:` of responses) turned into strings.
pub fn yaml_to_json(v: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_u64().map(Value::from))
            .or_else(|| n.as_f64().map(Value::from))
            .unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(s) => Value::Array(s.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => serde_norway::to_string(&other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}
