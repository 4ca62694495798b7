//! Go's formatting of a string where Docker prints one (`%q`, `strconv.Quote`), for
//! output that must read as dockerd's or the docker CLI's.

/// Go's `strconv.Quote` for the printable strings commands and paths are: `"` and `\`
/// escaped, `\n` `\t` `\r` by name, other control characters as `\xNN`.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_as_go() {
        assert_eq!(
            super::quote("sh -c \"echo $M\"\n\u{1}"),
            "\"sh -c \\\"echo $M\\\"\\n\\x01\""
        );
    }
}
