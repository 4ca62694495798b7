//! A small validator of JSON values against the Engine API's swagger 2.0 schemas, for
//! tests that check what the daemon serves.
//!
//! It understands the parts of swagger 2.0 the Engine API uses for responses: `$ref`
//! into `definitions`, `allOf`, `type`, `properties`, `required`,
//! `additionalProperties`, `items`, `enum` and `x-nullable`. Every mismatch is reported
//! with its JSON path (`$.State.Health.Status: expected string, got null`), never just
//! the first, so one run lists everything a client could trip over.
//!
//! The rules are stricter than swagger's own defaults on purpose:
//! - a property of an object with declared `properties` that the schema does not name
//!   is an error unless the schema has `additionalProperties` (a misspelt field name
//!   is as bad for a client as a missing one); a bare `type: object` with neither is
//!   free-form;
//! - `null` is an error unless the schema says `x-nullable: true` or the caller's
//!   allowlist names the path (dockerd sends `null` for Go's nil slices, maps and
//!   pointers in many places the swagger does not mark).

#![allow(dead_code)]

use serde_json::{Map, Value};

#[path = "../../../berth-api-types/tests/swagger/mod.rs"]
mod swagger;
pub use swagger::load_swagger;

/// One exception to the strict rules: a path pattern and why dockerd behaves so.
///
/// Patterns are JSON paths from the response root: `$.HostConfig.Binds`, `*` for any
/// map key (`$.NetworkSettings.Networks.*.Aliases`), `[*]` for any list index
/// (`$[*].Labels`).
#[derive(Clone, Debug)]
pub struct Allow {
    pub pattern: String,
    pub why: &'static str,
}

impl Allow {
    pub fn new(pattern: impl Into<String>, why: &'static str) -> Allow {
        Allow {
            pattern: pattern.into(),
            why,
        }
    }
}

/// What an endpoint's check tolerates beyond the schema.
#[derive(Clone, Debug, Default)]
pub struct Exceptions {
    /// Paths where `null` is accepted although the schema does not say `x-nullable`.
    pub null: Vec<Allow>,
    /// Paths of properties accepted although the schema does not declare them.
    pub extra: Vec<Allow>,
    /// Values accepted at a path although the schema's `enum` lacks them.
    pub values: Vec<(Allow, Value)>,
}

#[derive(Clone, Debug, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

#[derive(Clone, Debug, PartialEq)]
enum PatSeg {
    Key(String),
    AnyKey,
    AnyIndex,
}

fn parse_pattern(p: &str) -> Vec<PatSeg> {
    let rest = p
        .strip_prefix('$')
        .unwrap_or_else(|| panic!("allowlist pattern {p:?} must start with `$`"));
    let mut out = Vec::new();
    let mut chars = rest;
    while !chars.is_empty() {
        if let Some(r) = chars.strip_prefix("[*]") {
            out.push(PatSeg::AnyIndex);
            chars = r;
        } else if let Some(r) = chars.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            assert!(!key.is_empty(), "empty key in allowlist pattern {p:?}");
            out.push(if key == "*" {
                PatSeg::AnyKey
            } else {
                PatSeg::Key(key.to_string())
            });
            chars = &r[end..];
        } else {
            panic!("allowlist pattern {p:?}: cannot parse at {chars:?}");
        }
    }
    out
}

fn matches(pattern: &[PatSeg], path: &[Seg]) -> bool {
    pattern.len() == path.len()
        && pattern.iter().zip(path).all(|(p, s)| match (p, s) {
            (PatSeg::Key(a), Seg::Key(b)) => a == b,
            (PatSeg::AnyKey, Seg::Key(_)) => true,
            (PatSeg::AnyIndex, Seg::Index(_)) => true,
            _ => false,
        })
}

/// `$.a.b[0]["80/tcp"]`.
fn show(path: &[Seg]) -> String {
    let mut s = String::from("$");
    for seg in path {
        match seg {
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
            Seg::Key(k)
                if !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                s.push('.');
                s.push_str(k);
            }
            Seg::Key(k) => s.push_str(&format!("[{}]", Value::from(k.as_str()))),
        }
    }
    s
}

/// A short rendering of a served value for messages.
fn brief(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(57).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// An object schema with its `allOf` parts merged.
#[derive(Default)]
struct Flat {
    kind: Option<String>,
    nullable: bool,
    properties: Map<String, Value>,
    required: Vec<String>,
    /// `Some(schema)` for a typed map, `Some(true)` for anything goes.
    additional: Option<Value>,
    items: Option<Value>,
    enumeration: Option<Vec<Value>>,
}

/// The swagger document (for `$ref`s) and the checks.
pub struct Swagger {
    pub doc: Value,
}

impl Swagger {
    pub fn new(doc: Value) -> Swagger {
        Swagger { doc }
    }

    /// The schema of `method path`'s `code` response, as written under `paths`.
    pub fn response_schema(&self, method: &str, path: &str, code: u16) -> Option<Value> {
        self.doc
            .get("paths")?
            .get(path)?
            .get(method.to_ascii_lowercase())?
            .get("responses")?
            .get(code.to_string())?
            .get("schema")
            .cloned()
    }

    /// The headers documented for `method path`'s `code` response.
    pub fn response_headers(&self, method: &str, path: &str, code: u16) -> Map<String, Value> {
        self.doc["paths"][path][method.to_ascii_lowercase()]["responses"][code.to_string()]
            ["headers"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    /// Follows `$ref`s; `Err` names a reference that leads nowhere.
    fn resolve<'a>(&'a self, mut s: &'a Value) -> Result<&'a Value, String> {
        let mut hops = 0;
        while let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let target = r
                .strip_prefix("#/definitions/")
                .and_then(|name| self.doc.get("definitions")?.get(name));
            s = target.ok_or_else(|| format!("unresolvable $ref {r:?}"))?;
            hops += 1;
            if hops > 64 {
                return Err(format!("$ref loop at {r:?}"));
            }
        }
        Ok(s)
    }

    /// `s` with `$ref`s followed and `allOf` parts merged into one view.
    fn flatten(&self, s: &Value, into: &mut Flat, depth: usize) -> Result<(), String> {
        if depth > 32 {
            return Err("allOf nested too deep".into());
        }
        // x-nullable may sit beside the $ref or on the definition it names.
        if s.get("x-nullable") == Some(&Value::Bool(true)) {
            into.nullable = true;
        }
        let s = self.resolve(s)?;
        if s.get("x-nullable") == Some(&Value::Bool(true)) {
            into.nullable = true;
        }
        if let Some(t) = s.get("type").and_then(Value::as_str) {
            match &into.kind {
                Some(k) if k != t => return Err(format!("allOf parts disagree: {k} and {t}")),
                _ => into.kind = Some(t.to_string()),
            }
        }
        if let Some(p) = s.get("properties").and_then(Value::as_object) {
            into.properties.extend(p.clone());
        }
        if let Some(r) = s.get("required").and_then(Value::as_array) {
            into.required
                .extend(r.iter().filter_map(Value::as_str).map(str::to_string));
        }
        match s.get("additionalProperties") {
            Some(Value::Bool(false)) | None => {}
            Some(a) => into.additional = Some(a.clone()),
        }
        if let Some(i) = s.get("items") {
            into.items = Some(i.clone());
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            into.enumeration = Some(e.clone());
        }
        for part in s
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.flatten(part, into, depth + 1)?;
        }
        Ok(())
    }

    /// Every way `value` departs from `schema`, one line each, as
    /// `$.path: what is wrong`. Empty when it conforms.
    pub fn validate(&self, value: &Value, schema: &Value, exc: &Exceptions) -> Vec<String> {
        let null: Vec<Vec<PatSeg>> = exc.null.iter().map(|a| parse_pattern(&a.pattern)).collect();
        let extra: Vec<Vec<PatSeg>> = exc
            .extra
            .iter()
            .map(|a| parse_pattern(&a.pattern))
            .collect();
        let values = exc
            .values
            .iter()
            .map(|(a, v)| (parse_pattern(&a.pattern), v.clone()))
            .collect();
        let mut ctx = Ctx {
            null,
            extra,
            values,
            out: Vec::new(),
        };
        let mut path = Vec::new();
        self.check(value, schema, &mut path, &mut ctx, 0);
        ctx.out
    }

    fn check(&self, v: &Value, s: &Value, path: &mut Vec<Seg>, ctx: &mut Ctx, depth: usize) {
        if depth > 64 {
            ctx.out
                .push(format!("{}: schema nested too deep", show(path)));
            return;
        }
        let mut f = Flat::default();
        if let Err(e) = self.flatten(s, &mut f, 0) {
            ctx.out.push(format!("{}: schema error: {e}", show(path)));
            return;
        }
        // A schema without `type` that has properties is an object (swagger allows it).
        let kind = f.kind.clone().or_else(|| {
            (!f.properties.is_empty() || f.additional.is_some()).then(|| "object".to_string())
        });
        let Some(kind) = kind else {
            return; // no type at all: anything goes
        };
        if v.is_null() {
            if !(f.nullable || ctx.null.iter().any(|p| matches(p, path))) {
                ctx.out
                    .push(format!("{}: expected {kind}, got null", show(path)));
            }
            return;
        }
        let ok = match (kind.as_str(), v) {
            ("string", Value::String(_)) | ("boolean", Value::Bool(_)) => true,
            ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
            ("number", Value::Number(_)) => true,
            ("array", Value::Array(items)) => {
                if let Some(item) = &f.items {
                    for (i, x) in items.iter().enumerate() {
                        path.push(Seg::Index(i));
                        self.check(x, item, path, ctx, depth + 1);
                        path.pop();
                    }
                }
                true
            }
            ("object", Value::Object(m)) => {
                self.check_object(m, &f, path, ctx, depth);
                true
            }
            ("string" | "boolean" | "integer" | "number" | "array" | "object", _) => false,
            (other, _) => {
                ctx.out.push(format!(
                    "{}: schema error: unknown type {other:?}",
                    show(path)
                ));
                return;
            }
        };
        if !ok {
            ctx.out.push(format!(
                "{}: expected {kind}, got {} {}",
                show(path),
                json_kind(v),
                brief(v)
            ));
            return;
        }
        if let Some(allowed) = &f.enumeration {
            let excused = ctx.values.iter().any(|(p, x)| x == v && matches(p, path));
            if !allowed.contains(v) && !excused {
                let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
                ctx.out.push(format!(
                    "{}: {} is not one of [{}]",
                    show(path),
                    brief(v),
                    list.join(", ")
                ));
            }
        }
    }

    fn check_object(
        &self,
        m: &Map<String, Value>,
        f: &Flat,
        path: &mut Vec<Seg>,
        ctx: &mut Ctx,
        depth: usize,
    ) {
        for r in &f.required {
            if !m.contains_key(r) {
                path.push(Seg::Key(r.clone()));
                ctx.out
                    .push(format!("{}: required property missing", show(path)));
                path.pop();
            }
        }
        let free_form = f.properties.is_empty() && f.additional.is_none();
        for (k, val) in m {
            path.push(Seg::Key(k.clone()));
            if let Some(p) = f.properties.get(k) {
                self.check(val, p, path, ctx, depth + 1);
            } else if let Some(extra) = &f.additional {
                if extra.is_object() {
                    self.check(val, extra, path, ctx, depth + 1);
                }
            } else if !free_form && !ctx.extra.iter().any(|p| matches(p, path)) {
                ctx.out.push(format!(
                    "{}: property not in the schema (served {})",
                    show(path),
                    brief(val)
                ));
            }
            path.pop();
        }
    }
}

struct Ctx {
    null: Vec<Vec<PatSeg>>,
    extra: Vec<Vec<PatSeg>>,
    values: Vec<(Vec<PatSeg>, Value)>,
    out: Vec<String>,
}
