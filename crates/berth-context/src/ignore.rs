//! `.dockerignore`: which files of a build context stay out of it, by Docker's rules.
//!
//! A line is a pattern; `#` starts a comment line; blank lines are nothing. Patterns
//! are paths relative to the context's root (a leading `/` is dropped, `.` and `..`
//! are cleaned away as Go's `filepath.Clean` does) in Go's `filepath.Match` syntax —
//! `*` (any run of characters but `/`), `?` (one character but `/`), `[…]` classes
//! with ranges and `^` negation, `\` escaping the next character — plus `**`, any
//! number of whole directories (none included). A pattern that names a directory
//! also covers everything under it. `!` makes a pattern an exception that brings back
//! what an earlier one left out; the last pattern that matches a path decides.
//!
//! The matcher is ours: Docker's rules (a pattern matching any parent of a path, the
//! `**` forms, Go's class syntax) are not quite any glob library's, and they are short.

/// One pattern of a `.dockerignore`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The cleaned pattern text.
    pub text: String,
    /// `!pattern`: an exception.
    pub exception: bool,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `?`
    One,
    /// `*`
    Star,
    /// `**` (with the `/` after it when there is one: zero or more directories).
    AnyDirs {
        slash: bool,
    },
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A bad pattern, named with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(".dockerignore line {line}: invalid pattern {pattern:?}: {reason}")]
pub struct PatternError {
    pub line: usize,
    pub pattern: String,
    pub reason: String,
}

/// Go's `filepath.Clean` for a slash-separated relative path: no empty, `.` or
/// (where it can be resolved) `..` elements; `.` for nothing.
pub fn clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|p| *p != "..") {
                    out.pop();
                } else if !path.starts_with('/') {
                    out.push("..");
                }
            }
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    if path.starts_with('/') {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

fn compile(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                let mut j = i;
                while chars.get(j) == Some(&'*') {
                    j += 1;
                }
                let slash = chars.get(j) == Some(&'/');
                out.push(Token::AnyDirs { slash });
                i = if slash { j + 1 } else { j };
            }
            '*' => {
                out.push(Token::Star);
                i += 1;
            }
            '?' => {
                out.push(Token::One);
                i += 1;
            }
            '\\' => {
                let c = *chars.get(i + 1).ok_or("a trailing escape character")?;
                out.push(Token::Char(c));
                i += 2;
            }
            '[' => {
                let mut j = i + 1;
                let negated = matches!(chars.get(j), Some('^') | Some('!'));
                if negated {
                    j += 1;
                }
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let Some(&c) = chars.get(j) else {
                        return Err("an unterminated character class".into());
                    };
                    if c == ']' && !first {
                        j += 1;
                        break;
                    }
                    first = false;
                    let lo = if c == '\\' {
                        j += 1;
                        *chars.get(j).ok_or("a trailing escape character")?
                    } else {
                        c
                    };
                    j += 1;
                    let hi = if chars.get(j) == Some(&'-')
                        && chars.get(j + 1).is_some_and(|c| *c != ']')
                    {
                        let mut h = chars[j + 1];
                        j += 2;
                        if h == '\\' {
                            h = *chars.get(j).ok_or("a trailing escape character")?;
                            j += 1;
                        }
                        h
                    } else {
                        lo
                    };
                    if hi < lo {
                        return Err(format!("the range {lo}-{hi} is backwards"));
                    }
                    ranges.push((lo, hi));
                }
                out.push(Token::Class { negated, ranges });
                i = j;
            }
            c => {
                out.push(Token::Char(c));
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Whether `tokens` match all of `s` (a slash-separated path).
fn matches(tokens: &[Token], s: &[char]) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return s.is_empty();
    };
    match first {
        Token::Char(c) => s.first() == Some(c) && matches(rest, &s[1..]),
        Token::One => s.first().is_some_and(|c| *c != '/') && matches(rest, &s[1..]),
        Token::Class { negated, ranges } => match s.first() {
            Some(&c) if c != '/' => {
                let inside = ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c));
                inside != *negated && matches(rest, &s[1..])
            }
            _ => false,
        },
        Token::Star => {
            // Any run of non-separators, shortest first.
            let mut n = 0;
            loop {
                if matches(rest, &s[n..]) {
                    return true;
                }
                if n == s.len() || s[n] == '/' {
                    return false;
                }
                n += 1;
            }
        }
        Token::AnyDirs { slash: true } => {
            // Zero or more whole directories: here, or after any `/`.
            (0..=s.len()).any(|n| (n == 0 || s[n - 1] == '/') && matches(rest, &s[n..]))
        }
        Token::AnyDirs { slash: false } => (0..=s.len()).any(|n| matches(rest, &s[n..])),
    }
}

/// Whether the slash-separated `path` matches `pattern` whole (Go's `filepath.Match`
/// syntax, as COPY and ADD sources use it); a malformed pattern is an error.
pub fn glob_match(pattern: &str, path: &str) -> Result<bool, String> {
    let tokens = compile(pattern)?;
    let chars: Vec<char> = path.chars().collect();
    Ok(matches(&tokens, &chars))
}

/// Whether `s` holds a wildcard (`*`, `?`, `[`).
pub fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl Pattern {
    fn new(line: usize, raw: &str) -> Result<Option<Pattern>, PatternError> {
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            return Ok(None);
        }
        let (exception, body) = match raw.strip_prefix('!') {
            Some(b) => (true, b.trim()),
            None => (false, raw),
        };
        let mut text = clean(body);
        if let Some(t) = text.strip_prefix('/') {
            text = if t.is_empty() {
                ".".into()
            } else {
                t.to_string()
            };
        }
        let tokens = compile(&text).map_err(|reason| PatternError {
            line,
            pattern: raw.to_string(),
            reason,
        })?;
        Ok(Some(Pattern {
            text,
            exception,
            tokens,
        }))
    }

    fn matches_path(&self, path: &[char]) -> bool {
        matches(&self.tokens, path)
    }
}

/// A `.dockerignore`, compiled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    pub patterns: Vec<Pattern>,
}

impl Ignore {
    /// Parses a `.dockerignore`'s text; a bad pattern is an error naming its line.
    pub fn parse(text: &str) -> Result<Ignore, PatternError> {
        let mut patterns = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if let Some(p) = Pattern::new(i + 1, line)? {
                patterns.push(p);
            }
        }
        Ok(Ignore { patterns })
    }

    /// Whether `path` (relative to the context root, `/`-separated) is left out: the
    /// last pattern matching it or one of its parent directories decides.
    pub fn excludes(&self, path: &str) -> bool {
        let path = clean(path.trim_start_matches('/'));
        let chars: Vec<char> = path.chars().collect();
        // The path's parents, shortest first (`a`, `a/b` for `a/b/c`).
        let parents: Vec<usize> = chars
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == '/')
            .map(|(i, _)| i)
            .collect();
        let mut excluded = false;
        for p in &self.patterns {
            // An exception can only change an excluded path, and the other way round.
            if p.exception != excluded {
                continue;
            }
            let hit =
                p.matches_path(&chars) || parents.iter().any(|&end| p.matches_path(&chars[..end]));
            if hit {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// Whether a directory that is excluded may still hold something an exception
    /// brings back (so a walk must go into it).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> Ignore {
        Ignore::parse(text).unwrap()
    }

    #[test]
    fn comments_blanks_and_cleaning() {
        let i = ig("# a comment\n\n  /foo/../bar/  \n./baz\n");
        let texts: Vec<&str> = i.patterns.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["bar", "baz"]);
        assert_eq!(clean("a//b/./c/.."), "a/b");
        assert_eq!(clean("../a"), "../a");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("/"), "/");
    }

    #[test]
    fn stars_do_not_cross_directories() {
        let i = ig("*.md\n");
        assert!(i.excludes("README.md"));
        assert!(!i.excludes("docs/README.md"));
        let i = ig("*/*.md\n");
        assert!(i.excludes("docs/README.md"));
        assert!(!i.excludes("a/b/README.md"));
        let i = ig("temp?\n");
        assert!(i.excludes("temp1"));
        assert!(!i.excludes("temp"));
        assert!(!i.excludes("temp12"));
    }

    #[test]
    fn double_stars_cross_any_number_of_directories() {
        let i = ig("**/*.go\n");
        assert!(i.excludes("main.go"));
        assert!(i.excludes("a/b/c/main.go"));
        assert!(!i.excludes("main.rs"));
        let i = ig("a/**/z\n");
        assert!(i.excludes("a/z"));
        assert!(i.excludes("a/b/c/z"));
        assert!(!i.excludes("b/z"));
        let i = ig("**\n");
        assert!(i.excludes("anything/at/all"));
        let i = ig("a**\n");
        assert!(i.excludes("a/b/c"));
        assert!(i.excludes("abc"));
    }

    #[test]
    fn a_directory_pattern_covers_what_is_under_it() {
        let i = ig("node_modules\n/build\n");
        assert!(i.excludes("node_modules"));
        assert!(i.excludes("node_modules/x/y.js"));
        assert!(i.excludes("build/out.o"));
        // Not a parent: only the root's node_modules.
        assert!(!i.excludes("src/node_modules/x.js"));
        let i = ig("*/temp*\n");
        assert!(i.excludes("somedir/temporary.txt"));
        assert!(i.excludes("somedir/temp/file"));
        assert!(!i.excludes("temp"));
    }

    #[test]
    fn exceptions_and_the_last_match_decides() {
        let i = ig("*.md\n!README.md\n");
        assert!(i.excludes("CHANGELOG.md"));
        assert!(!i.excludes("README.md"));
        // Docker's documented example: the later exclusion wins.
        let i = ig("*.md\n!README*.md\nREADME-secret.md\n");
        assert!(i.excludes("README-secret.md"));
        assert!(!i.excludes("README-public.md"));
        let i = ig("*.md\nREADME-secret.md\n!README*.md\n");
        assert!(!i.excludes("README-secret.md"));
        // An exception inside an excluded directory.
        let i = ig("docs\n!docs/keep.txt\n");
        assert!(i.excludes("docs/other.txt"));
        assert!(!i.excludes("docs/keep.txt"));
        assert!(i.has_exceptions());
    }

    #[test]
    fn classes_escapes_and_bad_patterns() {
        let i = ig("file[0-9].txt\nx[^a-c]\ny[!z]\n\\*literal\n");
        assert!(i.excludes("file3.txt"));
        assert!(!i.excludes("fileA.txt"));
        assert!(i.excludes("xd"));
        assert!(!i.excludes("xb"));
        assert!(i.excludes("ya"));
        assert!(!i.excludes("yz"));
        assert!(i.excludes("*literal"));
        assert!(!i.excludes("xliteral"));
        let e = Ignore::parse("ok\n[unclosed\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("line 2"), "{e}");
        assert!(
            e.to_string().contains("unterminated character class"),
            "{e}"
        );
        assert!(Ignore::parse("[z-a]\n").is_err());
        assert!(Ignore::parse("trailing\\\n").is_err());
    }
}
