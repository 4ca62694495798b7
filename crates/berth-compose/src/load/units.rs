//! The small grammars inside compose values: durations (`1m30s`), byte sizes
//! (`512m`), and command strings split as a shell would split them.

/// A Go-style duration (`1h2m3.5s`, `500ms`, `10s`) in nanoseconds
/// (`berth_types::time`'s parser, with compose's message).
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid duration {s:?} (use e.g. 10s, 1m30s, 500ms)");
    let ns = berth_types::time::parse_go_duration(s.trim()).map_err(|_| bad())?;
    i64::try_from(ns).map_err(|_| bad())
}

/// A byte size as docker reads one: a number with an optional unit `b`, `k`, `m`,
/// `g`, `t`, `p` (optionally followed by `b` or `ib`), 1024-based, any case.
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid size {s:?} (use e.g. 512m, 1g, 1024)");
    let text = s.trim().to_ascii_lowercase();
    let num_len = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    if num_len == 0 {
        return Err(bad());
    }
    let n: f64 = text[..num_len].parse().map_err(|_| bad())?;
    let unit = text[num_len..].trim();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b').filter(|u| !u.is_empty()))
        .unwrap_or(unit);
    let mult: f64 = match unit {
        "" | "b" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    let v = n * mult;
    if v > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as i64)
}

/// Splits a command line into words as a POSIX shell would, without expanding
/// anything: quotes group, a backslash escapes (inside double quotes only before
/// `"`, `\`, `$`, `` ` `` and newline).
pub fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(n) => cur.push(n),
                    None => cur.push('\\'),
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => return Err(format!("unterminated single quote in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.peek() {
                            Some(&n @ ('"' | '\\' | '$' | '`')) => {
                                cur.push(n);
                                chars.next();
                            }
                            Some('\n') => {
                                chars.next();
                            }
                            _ => cur.push('\\'),
                        },
                        Some(n) => cur.push(n),
                        None => return Err(format!("unterminated double quote in {s:?}")),
                    }
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(10_000_000_000));
        assert_eq!(parse_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Ok(500_000_000));
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("512m"), Ok(512 << 20));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        assert_eq!(parse_bytes("1.5gb"), Ok(3 << 29));
        assert_eq!(parse_bytes("64KB"), Ok(64 << 10));
        assert_eq!(parse_bytes("10b"), Ok(10));
        assert!(parse_bytes("12q").is_err());
        assert!(parse_bytes("m").is_err());
    }

    #[test]
    fn splitting() {
        let w = |s| shell_split(s).expect("splits");
        assert_eq!(w("echo hi  there"), ["echo", "hi", "there"]);
        assert_eq!(
            w(r#"sh -c "echo \"a b\" \$HOME""#),
            ["sh", "-c", r#"echo "a b" $HOME"#]
        );
        assert_eq!(w("a 'b c' d\\ e"), ["a", "b c", "d e"]);
        assert_eq!(w("x''"), ["x"]);
        assert_eq!(w("''"), [""]);
        assert!(shell_split("echo 'oops").is_err());
        assert!(shell_split("echo \"oops").is_err());
    }
}
