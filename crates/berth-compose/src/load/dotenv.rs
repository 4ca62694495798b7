//! `.env` files (and `env_file:`): `KEY=VALUE` lines, `export KEY=VALUE`, comments,
//! blank lines, single quotes (literal), double quotes (`\n`, `\t`, `\"`, `\\`
//! escapes; may span lines). Unquoted and double-quoted values interpolate `${VAR}`
//! from the keys above them and then the given environment.

use super::interpolate::interpolate;

/// Parses `.env` text into its variables, in order. A line `KEY` without `=` takes
/// KEY's value from `lookup` (and is skipped when it has none). Errors name the line.
pub fn parse(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, String> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, raw)) = lines.next() {
        let line_no = n + 1;
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v)),
            None => (line.trim(), None),
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!("line {line_no}: invalid variable name {key:?}"));
        }
        let known = |name: &str| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .or_else(|| lookup(name))
        };
        let Some(value) = value else {
            if let Some(v) = lookup(key) {
                vars.push((key.to_owned(), v));
            }
            continue;
        };
        let value = value.trim_start();
        let parsed = if let Some(body) = value.strip_prefix('\'') {
            match body.find('\'') {
                Some(end) => body[..end].to_owned(),
                None => return Err(format!("line {line_no}: unterminated single quote")),
            }
        } else if let Some(body) = value.strip_prefix('"') {
            let mut acc = body.to_owned();
            let raw_value = loop {
                if let Some(end) = closing_double_quote(&acc) {
                    break acc[..end].to_owned();
                }
                match lines.next() {
                    Some((_, more)) => {
                        acc.push('\n');
                        acc.push_str(more);
                    }
                    None => return Err(format!("line {line_no}: unterminated double quote")),
                }
            };
            let unescaped = unescape(&raw_value);
            interpolate(&unescaped, &known).map_err(|e| format!("line {line_no}: {e}"))?
        } else {
            let v = match value.find(" #") {
                Some(i) => &value[..i],
                None => value,
            };
            interpolate(v.trim_end(), &known).map_err(|e| format!("line {line_no}: {e}"))?
        };
        vars.push((key.to_owned(), parsed));
    }
    Ok(vars)
}

fn closing_double_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(o @ ('"' | '\\')) => out.push(o),
            // `\$` keeps the backslash-free `$$` meaning: a literal dollar.
            Some('$') => out.push_str("$$"),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn syntax() {
        let text = "# comment\n\nA=1\nexport B = two\nC='single $A'\nD=\"line\\nnext ${A}\"\nE=plain # trailing\nF=\nG=\"multi\nline\"\nHOME\nNOPE\n";
        let env = |k: &str| (k == "HOME").then(|| "/root".to_owned());
        let vars = parse(text, &env).expect("parses");
        let want: Vec<(String, String)> = [
            ("A", "1"),
            ("B", "two"),
            ("C", "single $A"),
            ("D", "line\nnext 1"),
            ("E", "plain"),
            ("F", ""),
            ("G", "multi\nline"),
            ("HOME", "/root"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(vars, want);
    }

    #[test]
    fn errors() {
        let none = |_: &str| None;
        assert!(parse("A='open\n", &none).unwrap_err().contains("line 1"));
        assert!(parse("X=1\nA=\"open\n", &none)
            .unwrap_err()
            .contains("line 2"));
        assert!(parse("BAD KEY=1", &none).is_err());
    }
}
