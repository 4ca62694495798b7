//! Word splitting as the parser does it before substitution: words break on blanks
//! outside quotes, and keep their quotes and escapes (substitution removes them later).
//! Also the extraction of `--flag` words at the start of an instruction's arguments.

/// Splits on whitespace outside quotes; quotes and escapes stay in the words. A
/// quoted empty string (`""`) is a word.
pub(crate) fn split_words(s: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut started = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            None => {
                started = true;
                if c == escape {
                    // An escape at the very end is dropped; otherwise it and the next
                    // character go into the word untouched.
                    if let Some(n) = chars.next() {
                        word.push(c);
                        word.push(n);
                    }
                    continue;
                }
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
                word.push(c);
            }
            Some(q) => {
                if c == escape && q != '\'' {
                    if let Some(n) = chars.next() {
                        word.push(c);
                        word.push(n);
                    }
                    continue;
                }
                if c == q {
                    quote = None;
                }
                word.push(c);
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// Splits leading `--name[=value]` words off `args`. Quotes inside a flag word group
/// blanks and are removed; `\` escapes the next character; a lone `--` ends the flags.
pub(crate) fn extract_flags(args: &str) -> (Vec<String>, String) {
    let mut flags = Vec::new();
    let mut rest = args.trim_start();
    loop {
        if !rest.starts_with("--") {
            return (flags, rest.to_string());
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut end = rest.len();
        let mut it = rest.char_indices();
        while let Some((i, c)) = it.next() {
            match quote {
                None if c.is_whitespace() => {
                    end = i;
                    break;
                }
                None if c == '"' || c == '\'' => quote = Some(c),
                Some(q) if c == q => quote = None,
                _ if c == '\\' => {
                    if let Some((_, n)) = it.next() {
                        word.push(n);
                    }
                }
                _ => word.push(c),
            }
        }
        rest = rest[end..].trim_start();
        if word == "--" {
            return (flags, rest.to_string());
        }
        flags.push(word);
    }
}

/// Splits on runs of blanks (Docker's whitespace-delimited instructions: FROM, EXPOSE,
/// COPY and ADD in shell form, VOLUME).
pub(crate) fn fields(s: &str) -> Vec<String> {
    s.split([' ', '\t', '\u{b}', '\u{c}', '\r'])
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The exec form: a JSON array of strings. Anything else (including a JSON array with
/// a non-string) is not, and the instruction falls back to the shell form.
pub(crate) fn json_array(s: &str) -> Option<Vec<String>> {
    let s = s.trim();
    if !s.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(
            split_words(r#"a="b c" d=e\ f  'g h'"#, '\\'),
            vec![r#"a="b c""#, r"d=e\ f", "'g h'"]
        );
        assert_eq!(
            split_words(r#"a="x\"y" b='p\'"#, '\\'),
            vec![r#"a="x\"y""#, r"b='p\'"]
        );
        assert_eq!(split_words("a=`  b", '`'), vec!["a=` ", "b"]);
        assert_eq!(split_words(r#""" x"#, '\\'), vec![r#""""#, "x"]);
        assert_eq!(split_words("  ", '\\'), Vec::<String>::new());
    }

    #[test]
    fn flags_come_first() {
        assert_eq!(
            extract_flags("--from=build  --chown=\"a b\":c src --dst"),
            (
                vec!["from=build".into(), "chown=a b:c".into()]
                    .into_iter()
                    .map(|s: String| format!("--{s}"))
                    .collect(),
                "src --dst".into()
            )
        );
        assert_eq!(
            extract_flags("-- --not-a-flag x"),
            (vec![], "--not-a-flag x".into())
        );
        assert_eq!(
            extract_flags("--link"),
            (vec!["--link".into()], String::new())
        );
    }

    #[test]
    fn json_or_not() {
        assert_eq!(
            json_array(r#" ["a", "b c"] "#),
            Some(vec!["a".into(), "b c".into()])
        );
        assert_eq!(json_array(r#"["a", 1]"#), None);
        assert_eq!(json_array("[a, b]"), None);
        assert_eq!(json_array("echo [a]"), None);
        assert_eq!(json_array("[]"), Some(vec![]));
    }
}
