//! Variable substitution as the builder applies it to ADD, COPY, ENV, EXPOSE, FROM,
//! LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG and some flags: `$VAR`, `${VAR}`,
//! `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`, `${VAR:?msg}`,
//! `${VAR?msg}`; quotes are removed, single quotes stop substitution, the escape
//! character makes the next one literal.

use std::collections::BTreeMap;

/// The variables in scope: name → value. A name absent from the map is unset.
pub type Env = BTreeMap<String, String>;

/// A substitution that cannot be done (unbalanced quotes or braces, `${VAR:?}` unset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {word:?}: {reason}")]
pub struct SubstError {
    /// The word as written.
    pub word: String,
    /// What went wrong.
    pub reason: String,
}

/// Processes words with one escape character (`\`, or `` ` `` after `# escape=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    /// The escape character.
    pub escape: char,
}

impl Default for Lexer {
    fn default() -> Self {
        Lexer { escape: '\\' }
    }
}

impl Lexer {
    /// A lexer for this escape character.
    pub fn new(escape: char) -> Self {
        Lexer { escape }
    }

    /// Substitutes variables in `word` and removes its quotes and escapes. Blanks are
    /// kept: the result is one string.
    pub fn process_word(&self, word: &str, env: &Env) -> Result<String, SubstError> {
        let chars: Vec<char> = word.chars().collect();
        let mut s = Scan {
            chars: &chars,
            pos: 0,
            escape: self.escape,
            env,
        };
        s.until(None).map_err(|reason| SubstError {
            word: word.to_string(),
            reason,
        })
    }
}

struct Scan<'a> {
    chars: &'a [char],
    pos: usize,
    escape: char,
    env: &'a Env,
}

impl Scan<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Processes up to `stop` (consumed) or the end.
    fn until(&mut self, stop: Option<char>) -> Result<String, String> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok(out);
            }
            self.pos += 1;
            match c {
                '\'' => out.push_str(&self.single_quoted()?),
                '"' => out.push_str(&self.double_quoted()?),
                '$' => out.push_str(&self.dollar()?),
                c if c == self.escape => {
                    // The escape makes the next character literal; at the end it is dropped.
                    if let Some(n) = self.next() {
                        out.push(n);
                    }
                }
                c => out.push(c),
            }
        }
        match stop {
            Some(c) => Err(format!("syntax error: missing '{c}'")),
            None => Ok(out),
        }
    }

    fn single_quoted(&mut self) -> Result<String, String> {
        let mut out = String::new();
        loop {
            match self.next() {
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, String> {
        let mut out = String::new();
        loop {
            match self.next() {
                Some('"') => return Ok(out),
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) if c == self.escape => match self.peek() {
                    // Inside double quotes the escape only escapes `"`, `$` and itself.
                    Some(n) if n == '"' || n == '$' || n == self.escape => {
                        self.pos += 1;
                        out.push(n);
                    }
                    _ => out.push(c),
                },
                Some(c) => out.push(c),
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        if let Some(c) = self.peek() {
            if c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    self.pos += 1;
                    name.push(d);
                }
                return name;
            }
            // The shell's special parameters (`$$`, `$?`, `$-`, …): never set in a build.
            if matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!') {
                self.pos += 1;
                return c.to_string();
            }
        }
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            self.pos += 1;
            name.push(c);
        }
        name
    }

    fn dollar(&mut self) -> Result<String, String> {
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.env.get(&name).cloned().unwrap_or_default());
        }
        self.pos += 1;
        let name = self.name();
        if name.is_empty() {
            return Err("syntax error: bad substitution".into());
        }
        let value = self.env.get(&name);
        match self.next() {
            Some('}') => Ok(value.cloned().unwrap_or_default()),
            Some(':') => {
                let modifier = self.next().ok_or("syntax error: missing '}'")?;
                let word = self.until(Some('}'))?;
                let set = value.is_some_and(|v| !v.is_empty());
                self.modify(&name, value, set, modifier, word, true)
            }
            Some(m @ ('-' | '+' | '?')) => {
                let word = self.until(Some('}'))?;
                self.modify(&name, value, value.is_some(), m, word, false)
            }
            // dockerd's words for anything else after the name, the end included.
            _ => Err("missing ':' in substitution".into()),
        }
    }

    fn modify(
        &self,
        name: &str,
        value: Option<&String>,
        set: bool,
        modifier: char,
        word: String,
        colon: bool,
    ) -> Result<String, String> {
        match modifier {
            '-' => Ok(if set {
                value.cloned().unwrap_or_default()
            } else {
                word
            }),
            '+' => Ok(if set { word } else { String::new() }),
            '?' if set => Ok(value.cloned().unwrap_or_default()),
            '?' if word.is_empty() => Err(format!(
                "{name}: is not allowed to be {}",
                if colon { "empty" } else { "unset" }
            )),
            '?' => Err(format!("{name}: {word}")),
            c => Err(format!("unsupported modifier ({c}) in substitution")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        [("a", "1"), ("empty", ""), ("sp", "x y"), ("b", "two")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect()
    }

    fn w(word: &str) -> String {
        Lexer::default().process_word(word, &env()).unwrap()
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(w("$a"), "1");
        assert_eq!(w("${a}"), "1");
        assert_eq!(w("x$a-y"), "x1-y");
        assert_eq!(w("$nope|${nope}"), "|");
        assert_eq!(w("${a}b$b"), "1btwo");
        assert_eq!(w("$ $"), "$ $");
        assert_eq!(w("$1x"), "x");
        assert_eq!(w("a$-b$$c$?"), "abc");
    }

    #[test]
    fn modifiers() {
        assert_eq!(w("${a:-d}|${empty:-d}|${nope:-d}"), "1|d|d");
        assert_eq!(w("${a-d}|${empty-d}|${nope-d}"), "1||d");
        assert_eq!(w("${a:+d}|${empty:+d}|${nope:+d}"), "d||");
        assert_eq!(w("${a+d}|${empty+d}|${nope+d}"), "d|d|");
        assert_eq!(w("${a:?}"), "1");
        let l = Lexer::default();
        assert_eq!(
            l.process_word("${nope:?}", &env()).unwrap_err().reason,
            "nope: is not allowed to be empty"
        );
        assert_eq!(
            l.process_word("${nope?must be set}", &env())
                .unwrap_err()
                .reason,
            "nope: must be set"
        );
    }

    #[test]
    fn nested() {
        assert_eq!(w("${nope:-${a}}"), "1");
        assert_eq!(w("${nope:-${also:-$b}}"), "two");
        assert_eq!(w("${a:+[${b}]}"), "[two]");
        assert_eq!(w("${nope:-a b}"), "a b");
        assert_eq!(w("${nope:-'$a'}"), "$a");
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(w(r"\$a"), "$a");
        assert_eq!(w(r"'$a'"), "$a");
        assert_eq!(w(r#""$a""#), "1");
        assert_eq!(w(r#""\$a""#), "$a");
        assert_eq!(w(r#""a\b""#), r"a\b");
        assert_eq!(w(r#""say \"hi\"""#), r#"say "hi""#);
        assert_eq!(w(r"a\ b\\c\"), r"a b\c");
        assert_eq!(w(r#""$sp""#), "x y");
        assert_eq!(w(r#"a"b"'c'"#), "abc");
        assert_eq!(w(r#""it's""#), "it's");
        let tick = Lexer::new('`');
        assert_eq!(
            tick.process_word(r"c:\dir`$a", &env()).unwrap(),
            r"c:\dir$a"
        );
        assert_eq!(tick.process_word(r"c:\$a", &env()).unwrap(), r"c:\1");
    }

    #[test]
    fn errors() {
        let l = Lexer::default();
        for (word, reason) in [
            (
                "'a",
                "unexpected end of statement while looking for matching single-quote",
            ),
            (
                "\"a",
                "unexpected end of statement while looking for matching double-quote",
            ),
            ("${a", "missing ':' in substitution"),
            ("${a:-x", "syntax error: missing '}'"),
            ("${}", "syntax error: bad substitution"),
            ("${a#x}", "missing ':' in substitution"),
            ("${a:x}", "unsupported modifier (x) in substitution"),
        ] {
            assert_eq!(
                l.process_word(word, &env()).unwrap_err().reason,
                reason,
                "{word}"
            );
        }
        assert_eq!(
            l.process_word("${a", &env()).unwrap_err().to_string(),
            "failed to process \"${a\": missing ':' in substitution"
        );
    }
}
