//! Variable interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?err}`, `${VAR?err}`, `${VAR:+alt}`, `${VAR+alt}` (nested inside the
//! default), and `$$` for a literal `$`. Applied to every string value of a file's
//! tree (never to keys) before anything else reads it.

use serde_json::Value;

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolateError {
    /// `${VAR:?message}` with VAR unset (or empty).
    Required { var: String, message: String },
    /// A `$` that starts no valid reference.
    Syntax(String),
}

impl std::fmt::Display for InterpolateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Required { var, message } if message.is_empty() => {
                write!(f, "required variable {var} is missing a value")
            }
            Self::Required { var, message } => {
                write!(f, "required variable {var} is missing a value: {message}")
            }
            Self::Syntax(s) => write!(
                f,
                "invalid interpolation format in {s:?}; you may need to escape any $ with another $"
            ),
        }
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Interpolates one string.
pub fn interpolate(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    let syntax = || InterpolateError::Syntax(s.to_owned());
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let Some(c) = after.chars().next() else {
            return Err(syntax());
        };
        if c == '$' {
            out.push('$');
            rest = &after[1..];
        } else if c == '{' {
            let body_start = &after[1..];
            let end = matching_brace(body_start).ok_or_else(syntax)?;
            out.push_str(&braced(&body_start[..end], s, lookup)?);
            rest = &body_start[end + 1..];
        } else if is_name_start(c) {
            let len = after.find(|c| !is_name_char(c)).unwrap_or(after.len());
            out.push_str(&lookup(&after[..len]).unwrap_or_default());
            rest = &after[len..];
        } else {
            return Err(syntax());
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Index of the `}` closing a `${` whose body starts `s`, nested `${…}` skipped.
fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn braced(
    body: &str,
    whole: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    let syntax = || InterpolateError::Syntax(whole.to_owned());
    let name_len = body.find(|c| !is_name_char(c)).unwrap_or(body.len());
    let name = &body[..name_len];
    if name.is_empty() || !name.starts_with(is_name_start) {
        return Err(syntax());
    }
    let value = lookup(name);
    let op = &body[name_len..];
    if op.is_empty() {
        return Ok(value.unwrap_or_default());
    }
    let (colon, op) = match op.strip_prefix(':') {
        Some(o) => (true, o),
        None => (false, op),
    };
    let mut chars = op.chars();
    let kind = chars.next().ok_or_else(syntax)?;
    let word = chars.as_str();
    // With a colon an empty value counts as unset.
    let set = match &value {
        Some(v) => !(colon && v.is_empty()),
        None => false,
    };
    match kind {
        '-' if set => Ok(value.unwrap_or_default()),
        '-' => interpolate(word, lookup),
        '?' if set => Ok(value.unwrap_or_default()),
        '?' => Err(InterpolateError::Required {
            var: name.to_owned(),
            message: interpolate(word, lookup)?,
        }),
        '+' if set => interpolate(word, lookup),
        '+' => Ok(String::new()),
        _ => Err(syntax()),
    }
}

/// Interpolates every string value of `tree` in place; on failure returns the
/// dotted key of the value at fault.
pub fn interpolate_tree(
    tree: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), (String, InterpolateError)> {
    match tree {
        Value::String(s) if s.contains('$') => {
            *s = interpolate(s, lookup).map_err(|e| (path.to_owned(), e))?;
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_tree(item, &format!("{path}[{i}]"), lookup)?;
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                interpolate_tree(v, &p, lookup)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("a".into()),
            "EMPTY" => Some(String::new()),
            "B" => Some("b".into()),
            _ => None,
        }
    }

    fn i(s: &str) -> Result<String, InterpolateError> {
        interpolate(s, &env)
    }

    #[test]
    fn forms() {
        assert_eq!(i("x$A-y").as_deref(), Ok("xa-y"));
        assert_eq!(i("${A}b").as_deref(), Ok("ab"));
        assert_eq!(i("${NOPE}|$NOPE").as_deref(), Ok("|"));
        assert_eq!(i("${NOPE:-d}").as_deref(), Ok("d"));
        assert_eq!(i("${EMPTY:-d}").as_deref(), Ok("d"));
        assert_eq!(i("${EMPTY-d}").as_deref(), Ok(""));
        assert_eq!(i("${NOPE-d}").as_deref(), Ok("d"));
        assert_eq!(i("${A:+alt}").as_deref(), Ok("alt"));
        assert_eq!(i("${EMPTY:+alt}").as_deref(), Ok(""));
        assert_eq!(i("${EMPTY+alt}").as_deref(), Ok("alt"));
        assert_eq!(i("${NOPE+alt}").as_deref(), Ok(""));
        assert_eq!(i("${NOPE:-${B}}").as_deref(), Ok("b"));
        assert_eq!(i("${NOPE:-${NADA:-deep}}x").as_deref(), Ok("deepx"));
        assert_eq!(i("$$A $${A}").as_deref(), Ok("$A ${A}"));
        assert_eq!(i("${A:?boom}").as_deref(), Ok("a"));
    }

    #[test]
    fn errors() {
        assert_eq!(
            i("${NOPE:?set it}"),
            Err(InterpolateError::Required {
                var: "NOPE".into(),
                message: "set it".into()
            })
        );
        assert!(matches!(
            i("${EMPTY:?x}"),
            Err(InterpolateError::Required { .. })
        ));
        assert!(i("${EMPTY?x}").is_ok());
        assert!(matches!(i("${A"), Err(InterpolateError::Syntax(_))));
        assert!(matches!(i("${}"), Err(InterpolateError::Syntax(_))));
        assert!(matches!(i("cost: 5$"), Err(InterpolateError::Syntax(_))));
        assert!(matches!(i("${A:x}"), Err(InterpolateError::Syntax(_))));
    }
}
