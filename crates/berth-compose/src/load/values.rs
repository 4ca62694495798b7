//! Reading typed values out of the generic tree, with errors naming the key. After
//! interpolation a number or a boolean may arrive as a string (`${PORT:-80}`), so
//! each reader accepts the string spelling too.

use std::collections::BTreeMap;

use serde_json::Value;

use super::units;
use super::Fault;

pub fn string(v: &Value, key: &str) -> Result<String, Fault> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(Fault::new(key, "must be a string")),
    }
}

pub fn opt_string(v: Option<&Value>, key: &str) -> Result<Option<String>, Fault> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => string(v, key).map(Some),
    }
}

pub fn boolean(v: &Value, key: &str) -> Result<bool, Fault> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" | "" => Ok(false),
            _ => Err(Fault::new(key, format!("must be a boolean, not {s:?}"))),
        },
        _ => Err(Fault::new(key, "must be a boolean")),
    }
}

pub fn opt_bool(v: Option<&Value>, key: &str) -> Result<Option<bool>, Fault> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => boolean(v, key).map(Some),
    }
}

pub fn int(v: &Value, key: &str) -> Result<i64, Fault> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| Fault::new(key, format!("must be an integer, not {n}"))),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| Fault::new(key, format!("must be an integer, not {s:?}"))),
        _ => Err(Fault::new(key, "must be an integer")),
    }
}

pub fn opt_int(v: Option<&Value>, key: &str) -> Result<Option<i64>, Fault> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => int(v, key).map(Some),
    }
}

pub fn opt_u32(v: Option<&Value>, key: &str) -> Result<Option<u32>, Fault> {
    opt_int(v, key)?
        .map(|n| {
            u32::try_from(n)
                .map_err(|_| Fault::new(key, format!("must be a non-negative integer, not {n}")))
        })
        .transpose()
}

/// A file mode: an integer, or a string read as octal (`"0440"`).
pub fn opt_mode(v: Option<&Value>, key: &str) -> Result<Option<u32>, Fault> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let t = s.trim();
            let t = t.strip_prefix("0o").unwrap_or(t);
            u32::from_str_radix(t, 8)
                .map(Some)
                .map_err(|_| Fault::new(key, format!("must be a file mode, not {s:?}")))
        }
        Some(v) => opt_u32(Some(v), key),
    }
}

pub fn float(v: &Value, key: &str) -> Result<f64, Fault> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| Fault::new(key, "must be a number")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| Fault::new(key, format!("must be a number, not {s:?}"))),
        _ => Err(Fault::new(key, "must be a number")),
    }
}

pub fn opt_bytes(v: Option<&Value>, key: &str) -> Result<Option<i64>, Fault> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| Fault::new(key, format!("must be a byte size, not {n}"))),
        Some(Value::String(s)) if s.trim() == "-1" => Ok(Some(-1)),
        Some(Value::String(s)) => units::parse_bytes(s)
            .map(Some)
            .map_err(|e| Fault::new(key, e)),
        Some(_) => Err(Fault::new(key, "must be a byte size (512m, 1g, 1024)")),
    }
}

pub fn opt_duration(v: Option<&Value>, key: &str) -> Result<Option<crate::model::Duration>, Fault> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => units::parse_duration(s)
            .map(|n| Some(crate::model::Duration(n)))
            .map_err(|e| Fault::new(key, e)),
        Some(_) => Err(Fault::new(
            key,
            "must be a duration string (10s, 1m30s, 500ms)",
        )),
    }
}

/// Microseconds: an integer, or a duration (`400ms`, `1s`), as compose reads
/// `cpu_rt_period` and `cpu_rt_runtime`.
pub fn opt_micros(v: Option<&Value>, key: &str) -> Result<Option<i64>, Fault> {
    match v {
        Some(Value::String(s)) if s.trim().parse::<i64>().is_err() => units::parse_duration(s)
            .map(|ns| Some(ns / 1_000))
            .map_err(|e| Fault::new(key, e)),
        v => opt_int(v, key),
    }
}

/// An integer in `range`, or none.
pub fn opt_int_in(
    v: Option<&Value>,
    key: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>, Fault> {
    match opt_int(v, key)? {
        Some(n) if !range.contains(&n) => Err(Fault::new(
            key,
            format!(
                "must be between {} and {}, not {n}",
                range.start(),
                range.end()
            ),
        )),
        n => Ok(n),
    }
}

/// A list of scalars (a lone string is a one-entry list).
pub fn string_list(v: Option<&Value>, key: &str) -> Result<Vec<String>, Fault> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, it)| string(it, &format!("{key}[{i}]")))
            .collect(),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(_) => Err(Fault::new(key, "must be a list of strings")),
    }
}

/// A mapping of scalars, or a list of `K=V` (a null value or a bare `K` is "").
pub fn string_map(v: Option<&Value>, key: &str) -> Result<BTreeMap<String, String>, Fault> {
    Ok(optional_map(v, key)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

/// A mapping of scalars or nulls, or a list of `K=V`/`K`.
pub fn optional_map(
    v: Option<&Value>,
    key: &str,
) -> Result<BTreeMap<String, Option<String>>, Fault> {
    let mut out = BTreeMap::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, val) in m {
                let s = match val {
                    Value::Null => None,
                    Value::Array(_) | Value::Object(_) => {
                        return Err(Fault::new(
                            format!("{key}.{k}"),
                            "must be a string, a number or a boolean",
                        ))
                    }
                    other => Some(string(other, &format!("{key}.{k}"))?),
                };
                out.insert(k.clone(), s);
            }
        }
        Some(Value::Array(items)) => {
            for (i, it) in items.iter().enumerate() {
                let s = string(it, &format!("{key}[{i}]"))?;
                match s.split_once('=') {
                    Some((k, val)) => out.insert(k.to_owned(), Some(val.to_owned())),
                    None => out.insert(s, None),
                };
            }
        }
        Some(_) => return Err(Fault::new(key, "must be a mapping or a list")),
    }
    Ok(out)
}

/// A mapping (null is empty).
pub fn mapping<'a>(
    v: Option<&'a Value>,
    key: &str,
) -> Result<Option<&'a serde_json::Map<String, Value>>, Fault> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(Fault::new(key, "must be a mapping")),
    }
}
