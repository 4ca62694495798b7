//! Go's `fmt.Sprintf` (and `Sprint`/`Sprintln`) over JSON values: the verbs, flags,
//! widths and precisions `--format` strings use, and Go's `%!verb(type=value)` marks
//! for mismatches.

use serde_json::Value;

use super::value::{format_e, format_f, format_g, num, print_json_v, type_name, Num, Val};

#[derive(Clone, Copy, Default)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = read_num(&mut chars, args, &mut argi, &mut out, "BADWIDTH");
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec =
                Some(read_num(&mut chars, args, &mut argi, &mut out, "BADPREC").unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        out.push_str(&format_arg(&spec, verb, arg));
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[argi..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&describe(a));
        }
        out.push(')');
    }
    out
}

fn read_num(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    args: &[Value],
    argi: &mut usize,
    out: &mut String,
    bad: &str,
) -> Option<usize> {
    if chars.peek() == Some(&'*') {
        chars.next();
        let n = args.get(*argi).and_then(Value::as_u64);
        *argi += 1;
        if n.is_none() {
            out.push_str(&format!("%!({bad})"));
        }
        return n.map(|n| n as usize);
    }
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        chars.next();
        n = Some(n.unwrap_or(0) * 10 + d as usize);
    }
    n
}

/// `type=value` as Go's bad-verb and EXTRA marks print an operand.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        v => format!("{}={}", type_name(&Val::J(v.clone())), print_json_v(v)),
    }
}

fn bad_verb(verb: char, v: &Value) -> String {
    format!("%!{verb}({})", describe(v))
}

fn pad(s: String, spec: &Spec) -> String {
    let len = s.chars().count();
    match spec.width {
        Some(w) if w > len => {
            let fill = " ".repeat(w - len);
            if spec.minus {
                s + &fill
            } else {
                fill + &s
            }
        }
        _ => s,
    }
}

/// Pads a number, putting zero padding between the sign/prefix and the digits.
fn pad_number(sign: &str, prefix: &str, digits: String, spec: &Spec, zero_ok: bool) -> String {
    let len = sign.len() + prefix.len() + digits.chars().count();
    if let (Some(w), true) = (spec.width, spec.zero && !spec.minus && zero_ok) {
        if w > len {
            return format!("{sign}{prefix}{}{digits}", "0".repeat(w - len));
        }
    }
    pad(format!("{sign}{prefix}{digits}"), spec)
}

fn format_arg(spec: &Spec, verb: char, v: &Value) -> String {
    if verb == 'T' {
        return pad(type_name(&Val::J(v.clone())).into(), spec);
    }
    match v {
        Value::Null => match verb {
            'v' => pad("<nil>".into(), spec),
            _ => bad_verb(verb, v),
        },
        Value::Bool(b) => match verb {
            't' | 'v' => pad(b.to_string(), spec),
            _ => bad_verb(verb, v),
        },
        Value::Number(n) => match num(n) {
            Num::Int(i) => format_int(spec, verb, i, v),
            Num::Float(f) => format_float(spec, verb, f, v),
        },
        Value::String(s) => format_str(spec, verb, s, v),
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(|e| format_arg(spec, verb, e)).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        format_str(spec, verb, k, &Value::String(k.clone())),
                        format_arg(spec, verb, &o[k])
                    )
                })
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

fn sign_of(neg: bool, spec: &Spec) -> &'static str {
    if neg {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    }
}

fn format_int(spec: &Spec, verb: char, i: i128, v: &Value) -> String {
    let (radix, upper, prefix) = match verb {
        'd' | 'v' => (10, false, ""),
        'x' => (16, false, "0x"),
        'X' => (16, true, "0X"),
        'o' => (8, false, "0"),
        'O' => (8, false, "0o"),
        'b' => (2, false, "0b"),
        'c' => {
            return pad(
                u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}')
                    .to_string(),
                spec,
            );
        }
        'q' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{fffd}');
            return pad(format!("'{}'", quote_body(&c.to_string(), '\'')), spec);
        }
        'U' => return pad(format!("U+{i:04X}"), spec),
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 's' | 't' => return bad_verb(verb, v),
        _ => return bad_verb(verb, v),
    };
    let mag = i.unsigned_abs();
    let mut digits = match (radix, upper) {
        (16, true) => format!("{mag:X}"),
        (16, false) => format!("{mag:x}"),
        (8, _) => format!("{mag:o}"),
        (2, _) => format!("{mag:b}"),
        _ => mag.to_string(),
    };
    if let Some(p) = spec.prec {
        if p == 0 && mag == 0 {
            digits.clear();
        } else if digits.len() < p {
            digits = "0".repeat(p - digits.len()) + &digits;
        }
    }
    let prefix = if spec.sharp || verb == 'O' {
        prefix
    } else {
        ""
    };
    let prefix = if verb == 'o' && digits.starts_with('0') {
        ""
    } else {
        prefix
    };
    pad_number(
        sign_of(i < 0, spec),
        prefix,
        digits,
        spec,
        spec.prec.is_none(),
    )
}

fn format_float(spec: &Spec, verb: char, f: f64, v: &Value) -> String {
    let body = match verb {
        'v' | 'g' => format_g(f.abs(), spec.prec, false),
        'G' => format_g(f.abs(), spec.prec, true),
        'e' | 'E' => format_e(f.abs(), spec.prec.unwrap_or(6), verb == 'E'),
        'f' | 'F' => format_f(f.abs(), spec.prec.unwrap_or(6)),
        _ => return bad_verb(verb, v),
    };
    let finite = f.is_finite();
    let neg = f.is_sign_negative() && !f.is_nan();
    let body = body.trim_start_matches('+').to_string();
    pad_number(sign_of(neg, spec), "", body, spec, finite)
}

fn format_str(spec: &Spec, verb: char, s: &str, v: &Value) -> String {
    let s: String = match spec.prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    };
    match verb {
        's' | 'v' => pad(s, spec),
        'q' => {
            if spec.sharp && !s.contains('`') && !s.chars().any(|c| c.is_control() && c != '\t') {
                pad(format!("`{s}`"), spec)
            } else {
                pad(format!("\"{}\"", quote_body(&s, '"')), spec)
            }
        }
        'x' | 'X' => {
            let hex: Vec<String> = s
                .bytes()
                .map(|b| {
                    if verb == 'x' {
                        format!("{b:02x}")
                    } else {
                        format!("{b:02X}")
                    }
                })
                .collect();
            pad(hex.join(if spec.space { " " } else { "" }), spec)
        }
        _ => bad_verb(verb, v),
    }
}

/// The inside of Go's strconv.Quote (or QuoteRune with `'`).
pub(crate) fn quote_body(s: &str, quote: char) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            '\\' => out.push_str("\\\\"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's `fmt.Sprint`: spaces between operands when neither side is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !a.is_string() && !args[i - 1].is_string() {
            out.push(' ');
        }
        out.push_str(&print_json_v(a));
    }
    out
}

/// Go's `fmt.Sprintln`: always spaces, and a newline.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let parts: Vec<String> = args.iter().map(print_json_v).collect();
    parts.join(" ") + "\n"
}
