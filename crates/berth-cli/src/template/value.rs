//! Values as templates see them: JSON values plus Go's "no value" (a missing map
//! entry), with Go's truth, `%v` printing, type names and `json.Marshal` encoding.

use serde_json::{Number, Value};

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    /// Go's invalid reflect.Value: what a missing map key yields; prints `<no value>`.
    Missing,
    J(Value),
}

impl Val {
    pub(crate) fn json(&self) -> &Value {
        match self {
            Val::Missing => &Value::Null,
            Val::J(v) => v,
        }
    }
}

impl From<Value> for Val {
    fn from(v: Value) -> Self {
        Val::J(v)
    }
}

/// Go's truth: false, 0, nil, and empty strings, arrays and maps are false.
pub(crate) fn truth(v: &Val) -> bool {
    match v {
        Val::Missing => false,
        Val::J(v) => match v {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => match num(n) {
                Num::Int(i) => i != 0,
                Num::Float(f) => f != 0.0,
            },
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        },
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Num {
    Int(i128),
    Float(f64),
}

pub(crate) fn num(n: &Number) -> Num {
    if let Some(i) = n.as_i64() {
        Num::Int(i as i128)
    } else if let Some(u) = n.as_u64() {
        Num::Int(u as i128)
    } else {
        Num::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

pub(crate) fn int_value(i: i128) -> Value {
    if let Ok(v) = i64::try_from(i) {
        Value::from(v)
    } else if let Ok(v) = u64::try_from(i) {
        Value::from(v)
    } else {
        Value::from(i as f64)
    }
}

pub(crate) fn float_value(f: f64) -> Value {
    Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// The Go type a JSON value decodes to with `interface{}`, for error messages.
pub(crate) fn type_name(v: &Val) -> &'static str {
    match v.json() {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) => match num(n) {
            Num::Int(_) => "int",
            Num::Float(_) => "float64",
        },
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// How `{{.}}` and `%v` print a value.
pub(crate) fn print_v(v: &Val) -> String {
    match v {
        Val::Missing => "<no value>".into(),
        Val::J(v) => print_json_v(v),
    }
}

pub(crate) fn print_json_v(v: &Value) -> String {
    let mut out = String::new();
    write_v(&mut out, v);
    out
}

fn write_v(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match num(n) {
            Num::Int(i) => out.push_str(&i.to_string()),
            Num::Float(f) => out.push_str(&format_g(f, None, false)),
        },
        Value::String(s) => out.push_str(s),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, e);
            }
            out.push(']');
        }
        Value::Object(o) => {
            out.push_str("map[");
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_v(out, &o[k]);
            }
            out.push(']');
        }
    }
}

/// Splits a finite non-negative float into its shortest decimal digits and the
/// exponent of the first digit (`d.ddd × 10^exp`).
fn shortest_digits(f: f64) -> (String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits, exp.parse().unwrap_or(0))
}

/// Digits rounded to `prec` significant digits: (digits, exponent).
fn rounded_digits(f: f64, prec: usize) -> (String, i32) {
    let s = format!("{:.*e}", prec.saturating_sub(1), f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits, exp.parse().unwrap_or(0))
}

fn special(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".into())
    } else if f.is_infinite() {
        Some(if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        })
    } else {
        None
    }
}

/// Go's `%g` (`prec` None = shortest, as `%v` uses); `upper` for `%G`.
pub(crate) fn format_g(f: f64, prec: Option<usize>, upper: bool) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let (mut digits, exp) = match prec {
        None => shortest_digits(f),
        Some(p) => rounded_digits(f, p.max(1)),
    };
    if f == 0.0 {
        digits = "0".into();
    }
    // Go: shortest uses 6 for the %e decision; an explicit precision larger than the
    // digits needed is reduced to them.
    let mut eprec = prec.map_or(6, |p| p.max(1)) as i32;
    if prec.is_some() {
        digits = digits.trim_end_matches('0').to_string();
        if digits.is_empty() {
            digits = "0".into();
        }
        let nd = digits.len() as i32;
        if eprec > nd && nd > exp {
            eprec = nd;
        }
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if exp < -4 || exp >= eprec {
        let (first, rest) = digits.split_at(1);
        let mut s = format!("{sign}{first}");
        if !rest.is_empty() {
            s.push('.');
            s.push_str(rest);
        }
        s.push(if upper { 'E' } else { 'e' });
        s.push_str(&format!(
            "{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        ));
        return s;
    }
    let mut s = String::from(sign);
    if exp < 0 {
        s.push_str("0.");
        s.push_str(&"0".repeat((-exp - 1) as usize));
        s.push_str(&digits);
    } else {
        let int_len = (exp + 1) as usize;
        if digits.len() <= int_len {
            s.push_str(&digits);
            s.push_str(&"0".repeat(int_len - digits.len()));
        } else {
            s.push_str(&digits[..int_len]);
            s.push('.');
            s.push_str(&digits[int_len..]);
        }
    }
    s
}

/// Go's `%e` with a precision (default 6).
pub(crate) fn format_e(f: f64, prec: usize, upper: bool) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let s = format!("{:.*e}", prec, f);
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!(
        "{mant}{}{}{:02}",
        if upper { 'E' } else { 'e' },
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    )
}

/// Go's `%f` with a precision (default 6).
pub(crate) fn format_f(f: f64, prec: usize) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    format!("{:.*}", prec, f)
}

/// Go's `json.Marshal` output (with HTML escaping off, as docker's `json` function):
/// compact, floats without a needless `.0`, exponents as Go writes them.
pub(crate) fn to_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, v);
    out
}

fn write_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match num(n) {
            Num::Int(i) => out.push_str(&i.to_string()),
            Num::Float(f) => {
                let a = f.abs();
                if a != 0.0 && !(1e-6..1e21).contains(&a) {
                    let s = format!("{f:e}");
                    out.push_str(&s.replacen("e", if s.contains("e-") { "e" } else { "e+" }, 1));
                } else {
                    out.push_str(&f.to_string());
                }
            }
        },
        Value::String(s) => write_json_string(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, e);
            }
            out.push(']');
        }
        Value::Object(o) => {
            out.push('{');
            for (i, (k, e)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, k);
                out.push(':');
                write_json(out, e);
            }
            out.push('}');
        }
    }
}

fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
