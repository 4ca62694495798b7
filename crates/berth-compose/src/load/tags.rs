//! YAML tags, and the Compose Specification's two: `!reset` (the key is dropped,
//! with whatever earlier files gave it) and `!override` (the key's value replaces
//! what earlier files gave it instead of merging with it).
//!
//! serde-saphyr reports a node's tag through its [`Tagged`] wrapper, so a file is
//! read into a tree of tagged nodes and turned into the generic tree here; the keys
//! carrying a merge tag are recorded in [`Replaced`]. The core schema's tags
//! (`!!str`, …) are the parser's business; any other tag is an error naming its key,
//! never silently dropped.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Tagged;

use super::Fault;

const RESET: &str = "!reset";
const OVERRIDE: &str = "!override";
/// The YAML 1.2 core tags (and `!!binary`, `!!merge`) the parser gives meaning to.
const CORE: &[&str] = &[
    "str",
    "int",
    "float",
    "bool",
    "null",
    "seq",
    "map",
    "binary",
    "timestamp",
    "merge",
];

/// A YAML node as written, with its tag.
type Node = Tagged<Content>;

enum Content {
    Scalar(Value),
    Seq(Vec<Node>),
    Map(Vec<(Tagged<String>, Node)>),
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ContentVisitor)
    }
}

struct ContentVisitor;

impl<'de> Visitor<'de> for ContentVisitor {
    type Value = Content;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Content, E> {
        Ok(Content::Scalar(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Content, E> {
        Ok(Content::Scalar(Value::Number(v.into())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Content, E> {
        Ok(Content::Scalar(Value::Number(v.into())))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Content, E> {
        Number::deserialize(de::value::I128Deserializer::<E>::new(v))
            .map(|n| Content::Scalar(Value::Number(n)))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Content, E> {
        Number::deserialize(de::value::U128Deserializer::<E>::new(v))
            .map(|n| Content::Scalar(Value::Number(n)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Content, E> {
        // As serde_json does: a value JSON cannot hold (NaN, infinities) is null.
        Ok(Content::Scalar(
            Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E>(self, v: &str) -> Result<Content, E> {
        Ok(Content::Scalar(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Content, E> {
        Ok(Content::Scalar(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Content, E> {
        Ok(Content::Scalar(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Content, E> {
        Ok(Content::Scalar(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Content, D::Error> {
        Content::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Content::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Content, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Content::Map(entries))
    }
}

/// The keys of a file tagged `!reset` or `!override`, each as its path of mapping
/// keys from the file's root: what earlier files gave them is dropped before the
/// file is merged over them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replaced(Vec<Vec<String>>);

impl Replaced {
    /// Drops from `tree` — the value found at `prefix` in the tree being merged
    /// into — every recorded key below `prefix`.
    pub fn drop_from(&self, tree: &mut Value, prefix: &[&str]) {
        for path in &self.0 {
            let below = path.len() > prefix.len() && path.iter().zip(prefix).all(|(a, b)| a == b);
            if !below {
                continue;
            }
            let (last, parents) = path[prefix.len()..]
                .split_last()
                .expect("a path below the prefix is not empty");
            let mut at = Some(&mut *tree);
            for k in parents {
                at = at.and_then(|v| v.get_mut(k));
            }
            if let Some(Value::Object(m)) = at {
                m.remove(last);
            }
        }
    }
}

/// Why a document could not be read.
pub enum ParseError {
    /// Not YAML (the parser's message).
    Yaml(String),
    /// A tag compose does not know, or a merge tag where it means nothing.
    Tag(Fault),
}

/// A YAML document read with `options`: the generic tree (an empty document is an
/// empty mapping) and the keys it replaces.
pub fn parse(text: &str, options: serde_saphyr::Options) -> Result<(Value, Replaced), ParseError> {
    let node: Node = serde_saphyr::from_str_with_options(text, options)
        .map_err(|e| ParseError::Yaml(e.to_string()))?;
    let mut replaced = Replaced::default();
    let tree = convert(node, &mut Vec::new(), false, &mut replaced).map_err(ParseError::Tag)?;
    Ok((
        match tree {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(v) => v,
        },
        replaced,
    ))
}

/// The error key of a path (`services.web.ports`, `[i]` for sequence entries).
fn key_of(path: &[String]) -> String {
    let mut s = String::new();
    for p in path {
        if !s.is_empty() && !p.starts_with('[') {
            s.push('.');
        }
        s.push_str(p);
    }
    s
}

fn is_core(tag: &str) -> bool {
    // `!` alone is YAML's non-specific tag: "a string, not resolved by the schema".
    tag == "!"
        || tag
            .strip_prefix("tag:yaml.org,2002:")
            .is_some_and(|name| CORE.contains(&name))
}

fn unknown(path: &[String], tag: &str) -> Fault {
    Fault::new(
        key_of(path),
        format!("unknown YAML tag {tag:?}: compose files know only !reset and !override"),
    )
}

/// One node into the generic tree; `None` when it is `!reset` (the key goes).
/// `path` holds mapping keys, and `[i]` for sequence entries (then `in_seq`).
fn convert(
    node: Node,
    path: &mut Vec<String>,
    in_seq: bool,
    replaced: &mut Replaced,
) -> Result<Option<Value>, Fault> {
    let Tagged(content, tag) = node;
    match tag.as_deref() {
        None => {}
        Some(t) if is_core(t) => {}
        Some(t @ (RESET | OVERRIDE)) => {
            if path.is_empty() || in_seq {
                return Err(Fault::new(
                    key_of(path),
                    format!("{t} applies to the value of a mapping's key, not to a sequence entry or a whole document"),
                ));
            }
            replaced.0.push(path.clone());
            if t == RESET {
                return Ok(None);
            }
        }
        Some(t) => return Err(unknown(path, t)),
    }
    Ok(Some(match content {
        Content::Scalar(v) => v,
        Content::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                path.push(format!("[{i}]"));
                let v = convert(item, path, true, replaced)?;
                path.pop();
                out.extend(v);
            }
            Value::Array(out)
        }
        Content::Map(entries) => {
            let mut out = Map::new();
            for (Tagged(key, key_tag), value) in entries {
                path.push(key);
                match key_tag.as_deref() {
                    Some(t @ (RESET | OVERRIDE)) => {
                        return Err(Fault::new(
                            key_of(path),
                            format!("{t} is on the key: put it on the value (`key: {t} …`)"),
                        ))
                    }
                    Some(t) if !is_core(t) => return Err(unknown(path, t)),
                    _ => {}
                }
                let v = convert(value, path, in_seq, replaced)?;
                let key = path.pop().expect("pushed above");
                if let Some(v) = v {
                    out.insert(key, v);
                }
            }
            Value::Object(out)
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str) -> Result<(Value, Vec<Vec<String>>), String> {
        parse(text, serde_saphyr::Options::default())
            .map(|(v, r)| (v, r.0))
            .map_err(|e| match e {
                ParseError::Yaml(yaml) => yaml,
                ParseError::Tag(f) => format!("{}: {}", f.key, f.message),
            })
    }

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reset_drops_the_key_and_records_it() {
        let (tree, replaced) = read(
            "services:\n  web:\n    image: a\n    ports: !reset []\n    build: !reset\n    environment:\n      A: !reset null\n      B: b\n",
        )
        .expect("reads");
        assert_eq!(
            tree,
            json!({"services": {"web": {"image": "a", "environment": {"B": "b"}}}})
        );
        assert_eq!(
            replaced,
            vec![
                path(&["services", "web", "ports"]),
                path(&["services", "web", "build"]),
                path(&["services", "web", "environment", "A"]),
            ]
        );
    }

    #[test]
    fn override_keeps_the_value_and_records_the_key() {
        let (tree, replaced) =
            read("services:\n  web:\n    ports: !override [\"8080:80\"]\n").expect("reads");
        assert_eq!(tree, json!({"services": {"web": {"ports": ["8080:80"]}}}));
        assert_eq!(replaced, vec![path(&["services", "web", "ports"])]);
    }

    #[test]
    fn tags_follow_anchors_aliases_and_merge_keys() {
        let (tree, replaced) = read(
            "x-base: &base\n  ports: !override [\"1:1\"]\nservices:\n  web:\n    <<: *base\n    image: a\n",
        )
        .expect("reads");
        assert_eq!(
            tree["services"]["web"],
            json!({"image": "a", "ports": ["1:1"]})
        );
        assert!(replaced.contains(&path(&["services", "web", "ports"])));
    }

    #[test]
    fn core_tags_are_the_parsers() {
        let (tree, replaced) =
            read("a: !!str 80\nb: !!int '80'\nc: ! 80\n!!str d: x\n").expect("reads");
        assert_eq!(tree, json!({"a": "80", "b": 80, "c": "80", "d": "x"}));
        assert!(replaced.is_empty());
    }

    #[test]
    fn other_tags_are_refused_at_their_key() {
        let e = read("services:\n  web:\n    image: !custom a\n").unwrap_err();
        assert_eq!(
            e,
            "services.web.image: unknown YAML tag \"!custom\": compose files know only !reset and !override"
        );
        let e = read("services:\n  web:\n    ports: [\"1:1\", !port \"2:2\"]\n").unwrap_err();
        assert!(
            e.starts_with("services.web.ports[1]: unknown YAML tag \"!port\""),
            "{e}"
        );
        let e = read("services:\n  web:\n    !reset ports: []\n").unwrap_err();
        assert!(
            e.starts_with("services.web.ports: !reset is on the key"),
            "{e}"
        );
        let e = read("ports:\n  - !reset \"1:1\"\n").unwrap_err();
        assert!(
            e.starts_with("ports[0]: !reset applies to the value"),
            "{e}"
        );
        let e = read("!override\nservices: {}\n").unwrap_err();
        assert!(e.starts_with(": !override applies"), "{e}");
    }

    #[test]
    fn replaced_keys_are_dropped_below_a_prefix() {
        let replaced = Replaced(vec![
            path(&["services", "web", "ports"]),
            path(&["services", "web", "environment", "A"]),
            path(&["services", "db", "image"]),
            path(&["services", "web", "missing", "x"]),
        ]);
        let mut tree = json!({"services": {
            "web": {"image": "w", "ports": ["1:1"], "environment": {"A": "1", "B": "2"}},
            "db": {"image": "d"}
        }});
        let mut web = tree["services"]["web"].clone();
        replaced.drop_from(&mut web, &["services", "web"]);
        assert_eq!(web, json!({"image": "w", "environment": {"B": "2"}}));
        replaced.drop_from(&mut tree, &[]);
        assert_eq!(
            tree,
            json!({"services": {"web": {"image": "w", "environment": {"B": "2"}}, "db": {}}})
        );
    }
}
