//! The functions a template can call: Go's builtins (`len`, `index`, `printf`, `eq`,
//! …) and docker's additions (`json`, `join`, `split`, `lower`, `upper`, `title`,
//! `pad`, `truncate`). `and` and `or` short-circuit, so the evaluator runs them itself.

use serde_json::Value;

use super::printf::{sprint, sprintf, sprintln};
use super::value::{num, to_json, type_name, Num, Val};

const NAMES: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt",
    "le", "gt", "ge", "html", "json", "join", "split", "lower", "upper", "title", "pad",
    "truncate",
];

/// docker's header functions: when a table's header row is rendered, these return
/// their first argument unchanged.
const HEADER_IDENTITY: &[(&str, usize)] = &[
    ("json", 1),
    ("split", 2),
    ("join", 2),
    ("title", 1),
    ("lower", 1),
    ("upper", 1),
    ("pad", 3),
    ("truncate", 2),
];

pub(crate) fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

pub(crate) enum FuncError {
    WrongArgs {
        want: usize,
        got: usize,
        at_least: bool,
    },
    /// Argument `index` has the wrong type.
    ArgType {
        index: usize,
        expected: &'static str,
        got: &'static str,
    },
    /// The function ran and failed: "error calling NAME: …".
    Call(String),
}

type R = Result<Val, FuncError>;

fn want(args: &[Val], n: usize) -> Result<(), FuncError> {
    if args.len() != n {
        return Err(FuncError::WrongArgs {
            want: n,
            got: args.len(),
            at_least: false,
        });
    }
    Ok(())
}

fn want_at_least(args: &[Val], n: usize) -> Result<(), FuncError> {
    if args.len() < n {
        return Err(FuncError::WrongArgs {
            want: n,
            got: args.len(),
            at_least: true,
        });
    }
    Ok(())
}

fn string_arg(args: &[Val], index: usize) -> Result<&str, FuncError> {
    match args[index].json() {
        Value::String(s) => Ok(s),
        _ => Err(FuncError::ArgType {
            index,
            expected: "string",
            got: type_name(&args[index]),
        }),
    }
}

fn int_arg(args: &[Val], index: usize) -> Result<i128, FuncError> {
    match args[index].json() {
        Value::Number(n) => match num(n) {
            Num::Int(i) => Ok(i),
            Num::Float(_) => Err(FuncError::ArgType {
                index,
                expected: "int",
                got: "float64",
            }),
        },
        _ => Err(FuncError::ArgType {
            index,
            expected: "int",
            got: type_name(&args[index]),
        }),
    }
}

fn jsons(args: &[Val]) -> Vec<Value> {
    args.iter().map(|a| a.json().clone()).collect()
}

fn s(v: impl Into<String>) -> R {
    Ok(Val::J(Value::String(v.into())))
}

fn b(v: bool) -> R {
    Ok(Val::J(Value::Bool(v)))
}

/// Calls function `name` (not `and`/`or`) with evaluated arguments.
pub(crate) fn call(name: &str, args: &[Val], header: bool) -> R {
    if header {
        if let Some((_, n)) = HEADER_IDENTITY.iter().find(|(h, _)| *h == name) {
            want(args, *n)?;
            return Ok(args[0].clone());
        }
    }
    match name {
        "not" => {
            want(args, 1)?;
            b(!super::value::truth(&args[0]))
        }
        "len" => {
            want(args, 1)?;
            let n = match args[0].json() {
                Value::String(s) => s.len(),
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                Value::Null => return Err(FuncError::Call("len of nil pointer".into())),
                _ => {
                    return Err(FuncError::Call(format!(
                        "len of type {}",
                        type_name(&args[0])
                    )))
                }
            };
            Ok(Val::J(Value::from(n)))
        }
        "index" => {
            want_at_least(args, 1)?;
            index(&args[0], &args[1..])
        }
        "slice" => {
            want_at_least(args, 1)?;
            slice(&args[0], &args[1..])
        }
        "print" => s(sprint(&jsons(args))),
        "println" => s(sprintln(&jsons(args))),
        "printf" => {
            want_at_least(args, 1)?;
            let format = string_arg(args, 0)?;
            s(sprintf(format, &jsons(&args[1..])))
        }
        "html" => s(html_escape(&sprint(&jsons(args)))),
        "eq" => {
            want_at_least(args, 1)?;
            if args.len() < 2 {
                return Err(FuncError::Call("missing argument for comparison".into()));
            }
            for other in &args[1..] {
                if equal(&args[0], other)? {
                    return b(true);
                }
            }
            b(false)
        }
        "ne" => {
            want(args, 2)?;
            b(!equal(&args[0], &args[1])?)
        }
        "lt" | "le" | "gt" | "ge" => {
            want(args, 2)?;
            let ord = order(&args[0], &args[1])?;
            let eq = ord == std::cmp::Ordering::Equal;
            let less = ord == std::cmp::Ordering::Less;
            b(match name {
                "lt" => less,
                "le" => less || eq,
                "gt" => !less && !eq,
                _ => !less,
            })
        }
        "json" => {
            want(args, 1)?;
            s(to_json(args[0].json()))
        }
        "join" => {
            want(args, 2)?;
            let sep = string_arg(args, 1)?;
            let Value::Array(items) = args[0].json() else {
                return Err(FuncError::ArgType {
                    index: 0,
                    expected: "[]string",
                    got: type_name(&args[0]),
                });
            };
            let parts: Vec<String> = items.iter().map(super::value::print_json_v).collect();
            s(parts.join(sep))
        }
        "split" => {
            want(args, 2)?;
            let (text, sep) = (string_arg(args, 0)?, string_arg(args, 1)?);
            let parts: Vec<Value> = if sep.is_empty() {
                text.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                text.split(sep)
                    .map(|p| Value::String(p.to_string()))
                    .collect()
            };
            Ok(Val::J(Value::Array(parts)))
        }
        "lower" => {
            want(args, 1)?;
            s(string_arg(args, 0)?.to_lowercase())
        }
        "upper" => {
            want(args, 1)?;
            s(string_arg(args, 0)?.to_uppercase())
        }
        "title" => {
            want(args, 1)?;
            s(title(string_arg(args, 0)?))
        }
        "pad" => {
            want(args, 3)?;
            let text = string_arg(args, 0)?;
            let (left, right) = (int_arg(args, 1)?, int_arg(args, 2)?);
            if text.is_empty() {
                return s("");
            }
            let rep = |n: i128| " ".repeat(usize::try_from(n).unwrap_or(0));
            s(format!("{}{text}{}", rep(left), rep(right)))
        }
        "truncate" => {
            want(args, 2)?;
            let text = string_arg(args, 0)?;
            let n = int_arg(args, 1)?;
            let n = usize::try_from(n)
                .map_err(|_| FuncError::Call(format!("slice bounds out of range [:{n}]")))?;
            if text.len() < n {
                return s(text);
            }
            let mut end = n;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            s(&text[..end])
        }
        other => Err(FuncError::Call(format!(
            "function {other:?} not implemented"
        ))),
    }
}

fn index(item: &Val, indices: &[Val]) -> R {
    let mut cur = item.clone();
    for idx in indices {
        cur = match cur.json() {
            Value::Null => return Err(FuncError::Call("index of untyped nil".into())),
            Value::Array(a) => {
                let i = index_int(idx, a.len(), false)?;
                Val::J(a[i].clone())
            }
            Value::Object(o) => {
                let Value::String(k) = idx.json() else {
                    return Err(FuncError::Call(format!(
                        "value has type {}; should be string",
                        type_name(idx)
                    )));
                };
                match o.get(k) {
                    Some(v) => Val::J(v.clone()),
                    None => missing_entry(o),
                }
            }
            Value::String(s) => {
                let i = index_int(idx, s.len(), false)?;
                Val::J(Value::from(s.as_bytes()[i]))
            }
            _ => {
                return Err(FuncError::Call(format!(
                    "can't index item of type {}",
                    type_name(&cur)
                )))
            }
        };
    }
    Ok(cur)
}

/// What `index` yields for a key a map lacks: Go returns the element type's zero value.
/// A map whose values are all strings (labels, options) was a `map[string]string`, so
/// "" — what docker prints; otherwise `<no value>` as for `map[string]interface{}`.
pub(crate) fn missing_entry(o: &serde_json::Map<String, Value>) -> Val {
    if o.values().all(Value::is_string) {
        Val::J(Value::String(String::new()))
    } else {
        Val::Missing
    }
}

fn index_int(idx: &Val, len: usize, slicing: bool) -> Result<usize, FuncError> {
    let i = match idx.json() {
        Value::Number(n) => match num(n) {
            Num::Int(i) => i,
            Num::Float(_) => {
                return Err(FuncError::Call(
                    "cannot index slice/array with type float64".into(),
                ))
            }
        },
        _ => {
            return Err(FuncError::Call(format!(
                "cannot index slice/array with type {}",
                type_name(idx)
            )));
        }
    };
    let limit = if slicing {
        len as i128
    } else {
        len as i128 - 1
    };
    if i < 0 || i > limit {
        return Err(FuncError::Call(format!("index out of range: {i}")));
    }
    Ok(i as usize)
}

fn slice(item: &Val, indices: &[Val]) -> R {
    if indices.len() > 3 {
        return Err(FuncError::Call(format!(
            "too many slice indexes: {}",
            indices.len()
        )));
    }
    let len = match item.json() {
        Value::String(s) => {
            if indices.len() == 3 {
                return Err(FuncError::Call("cannot 3-index slice a string".into()));
            }
            s.len()
        }
        Value::Array(a) => a.len(),
        Value::Null => return Err(FuncError::Call("slice of untyped nil".into())),
        _ => {
            return Err(FuncError::Call(format!(
                "can't slice item of type {}",
                type_name(item)
            )))
        }
    };
    let mut idx = [0, len, len];
    for (k, v) in indices.iter().enumerate() {
        idx[k] = index_int(v, len, true)?;
    }
    if idx[0] > idx[1] {
        return Err(FuncError::Call(format!(
            "invalid slice index: {} > {}",
            idx[0], idx[1]
        )));
    }
    if indices.len() == 3 && idx[1] > idx[2] {
        return Err(FuncError::Call(format!(
            "invalid slice index: {} > {}",
            idx[1], idx[2]
        )));
    }
    Ok(Val::J(match item.json() {
        Value::String(s) => {
            Value::String(String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]]).into_owned())
        }
        Value::Array(a) => Value::Array(a[idx[0]..idx[1]].to_vec()),
        _ => Value::Null,
    }))
}

#[derive(PartialEq)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    String,
    Other,
}

fn kind(v: &Val) -> Kind {
    match v.json() {
        Value::Null => Kind::Invalid,
        Value::Bool(_) => Kind::Bool,
        Value::Number(n) => match num(n) {
            Num::Int(_) => Kind::Int,
            Num::Float(_) => Kind::Float,
        },
        Value::String(_) => Kind::String,
        _ => Kind::Other,
    }
}

/// Go's `eq` for one pair.
fn equal(a: &Val, b: &Val) -> Result<bool, FuncError> {
    let (ka, kb) = (kind(a), kind(b));
    if ka != kb {
        if ka == Kind::Invalid || kb == Kind::Invalid {
            return Ok(false);
        }
        return Err(FuncError::Call("incompatible types for comparison".into()));
    }
    match ka {
        Kind::Other => Err(FuncError::Call(format!(
            "non-comparable type {}: {}",
            super::value::print_v(a),
            type_name(a)
        ))),
        Kind::Int | Kind::Float => Ok(number_cmp(a, b) == Some(std::cmp::Ordering::Equal)),
        _ => Ok(a.json() == b.json()),
    }
}

fn number_cmp(a: &Val, b: &Val) -> Option<std::cmp::Ordering> {
    let (Value::Number(x), Value::Number(y)) = (a.json(), b.json()) else {
        return None;
    };
    match (num(x), num(y)) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y),
        _ => None,
    }
}

/// Go's `lt` ordering.
fn order(a: &Val, b: &Val) -> Result<std::cmp::Ordering, FuncError> {
    let (ka, kb) = (kind(a), kind(b));
    let bad_type = || FuncError::Call("invalid type for comparison".into());
    if matches!(ka, Kind::Invalid | Kind::Bool | Kind::Other)
        || matches!(kb, Kind::Invalid | Kind::Bool | Kind::Other)
    {
        return Err(bad_type());
    }
    if ka != kb {
        return Err(FuncError::Call("incompatible types for comparison".into()));
    }
    match (a.json(), b.json()) {
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => number_cmp(a, b).ok_or_else(bad_type),
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's deprecated strings.Title, which docker's `title` is: upper-cases the first
/// letter of every word.
fn title(s: &str) -> String {
    let is_sep = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !c.is_alphanumeric() && c.is_whitespace()
        }
    };
    let mut prev_sep = true;
    let mut out = String::new();
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = is_sep(c);
    }
    out
}
