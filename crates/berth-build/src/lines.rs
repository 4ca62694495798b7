//! The first pass: parser directives, comments, line continuations and heredoc bodies,
//! turning a Dockerfile's text into logical lines, each with where it starts and ends.

use crate::error::ParseError;

/// The parser directives found at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `# syntax=` (recorded; berth builds with its own frontend).
    pub syntax: Option<String>,
    /// `# escape=`: `\` (default) or `` ` ``.
    pub escape: char,
    /// `# check=` (accepted and ignored).
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

/// A here-document attached to a RUN, COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word (`EOF`); for COPY and ADD also the file's name.
    pub name: String,
    /// The body, each line ending with `\n`, leading tabs removed for `<<-`.
    pub content: String,
    /// False when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): no substitution.
    pub expand: bool,
    /// `<<-`: leading tabs were stripped.
    pub chomp: bool,
}

/// One instruction's text, continuations joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogicalLine {
    pub start: usize,
    pub end: usize,
    pub text: String,
    pub heredocs: Vec<Heredoc>,
}

/// Splits `text` into directives and logical lines.
pub(crate) fn split(text: &str) -> Result<(Directives, Vec<LogicalLine>), ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    if text.ends_with('\n') {
        lines.pop();
    }
    let mut directives = Directives::default();
    let mut seen: Vec<String> = Vec::new();
    let mut in_directives = true;
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let lineno = i + 1;
        let left = trim_left(lines[i]);
        i += 1;
        if in_directives {
            match directive(left) {
                Some((key, value)) if matches!(key.as_str(), "syntax" | "escape" | "check") => {
                    if seen.contains(&key) {
                        return Err(ParseError::at(
                            lineno,
                            "",
                            format!("only one {key} parser directive can be used"),
                        ));
                    }
                    match key.as_str() {
                        "escape" => {
                            directives.escape = match value.as_str() {
                                "\\" => '\\',
                                "`" => '`',
                                _ => {
                                    return Err(ParseError::at(
                                        lineno,
                                        "",
                                        format!(
                                            "invalid escape token '{value}' does not match ` or \\"
                                        ),
                                    ))
                                }
                            }
                        }
                        "syntax" => directives.syntax = Some(value),
                        _ => directives.check = Some(value),
                    }
                    seen.push(key);
                    continue;
                }
                // Anything else — an unknown directive, a comment, a blank line, an
                // instruction — ends the directives; later ones are plain comments.
                _ => in_directives = false,
            }
        }
        if is_comment(left) || left.trim().is_empty() {
            continue;
        }
        let escape = directives.escape;
        let (first, mut more) = strip_continuation(left, escape);
        let mut joined = first.to_string();
        let mut end = lineno;
        while more && i < lines.len() {
            let next = lines[i];
            i += 1;
            end = i;
            // Docker drops comment lines and empty lines inside a continuation.
            if is_comment(next) || next.trim().is_empty() {
                continue;
            }
            let (part, again) = strip_continuation(next, escape);
            joined.push_str(part);
            more = again;
        }
        let joined = joined.trim().to_string();
        let mut heredocs = Vec::new();
        if takes_heredocs(&joined) {
            for (name, expand, chomp) in heredoc_words(&joined, escape) {
                let mut content = String::new();
                let mut closed = false;
                while i < lines.len() {
                    let body = lines[i];
                    i += 1;
                    end = i;
                    let body = if chomp {
                        body.trim_start_matches('\t')
                    } else {
                        body
                    };
                    if body == name {
                        closed = true;
                        break;
                    }
                    content.push_str(body);
                    content.push('\n');
                }
                if !closed {
                    return Err(ParseError::at(
                        lineno,
                        keyword(&joined),
                        format!("unterminated heredoc {name}: no line {name} before the end of the file"),
                    ));
                }
                heredocs.push(Heredoc {
                    name,
                    content,
                    expand,
                    chomp,
                });
            }
        }
        out.push(LogicalLine {
            start: lineno,
            end,
            text: joined,
            heredocs,
        });
    }
    Ok((directives, out))
}

fn trim_left(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

fn is_comment(s: &str) -> bool {
    trim_left(s).starts_with('#')
}

pub(crate) fn keyword(line: &str) -> &str {
    line.split([' ', '\t']).next().unwrap_or("")
}

fn takes_heredocs(line: &str) -> bool {
    let k = keyword(line);
    ["run", "copy", "add"]
        .iter()
        .any(|w| k.eq_ignore_ascii_case(w))
}

/// `# key = value` (before any other content); the key in lower case.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('#')?.trim_start_matches([' ', '\t']);
    let key_len = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let key = &rest[..key_len];
    if !key.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = rest[key_len..]
        .trim_start_matches([' ', '\t'])
        .strip_prefix('=')?
        .trim();
    if value.is_empty() {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.to_string()))
}

/// A line ending in the escape character (then only blanks) continues on the next.
fn strip_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(head) => (head, true),
        None => (line, false),
    }
}

/// The heredoc words of an instruction line, in order: `<<EOF`, `<<-EOF`, `<<"EOF"`,
/// `<<'EOF'`. Words inside quotes are not heredocs.
pub(crate) fn heredoc_words(line: &str, escape: char) -> Vec<(String, bool, bool)> {
    let mut found = Vec::new();
    for word in crate::words::split_words(line, escape) {
        if let Some(h) = heredoc_word(&word) {
            found.push(h);
        }
    }
    found
}

/// Parses one word as a heredoc start: `(name, expand, chomp)`.
pub(crate) fn heredoc_word(word: &str) -> Option<(String, bool, bool)> {
    let rest = word.strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let (name, expand) = match rest.chars().next()? {
        q @ ('"' | '\'') => (rest.strip_prefix(q)?.strip_suffix(q)?, false),
        _ => (rest, true),
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return None;
    }
    Some((name.to_string(), expand, chomp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<(usize, usize, String)> {
        split(src)
            .unwrap()
            .1
            .into_iter()
            .map(|l| (l.start, l.end, l.text))
            .collect()
    }

    #[test]
    fn directives_at_the_top_only() {
        let (d, lines) =
            split("# syntax=docker/dockerfile:1\n#ESCAPE = `\nFROM a\n# escape=\\\n").unwrap();
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(d.escape, '`');
        assert_eq!(lines.len(), 1);
        // After a comment, a blank line or an instruction, directives are comments.
        let (d, _) = split("# a comment\n# escape=`\nFROM a\n").unwrap();
        assert_eq!(d.escape, '\\');
        let (d, _) = split("\n# escape=`\nFROM a\n").unwrap();
        assert_eq!(d.escape, '\\');
        let (d, _) = split("# unknown=x\n# escape=`\nFROM a\n").unwrap();
        assert_eq!(d.escape, '\\');
        let (d, _) = split("#check=skip=all\n  # escape=`\nFROM a\n").unwrap();
        assert_eq!((d.check.as_deref(), d.escape), (Some("skip=all"), '`'));
    }

    #[test]
    fn directive_errors() {
        let e = split("# escape=x\nFROM a").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 1: invalid escape token 'x' does not match ` or \\"
        );
        let e = split("# escape=`\n# escape=\\\nFROM a").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 2: only one escape parser directive can be used"
        );
    }

    #[test]
    fn continuations_comments_and_blank_lines() {
        let src = "FROM a\n  RUN echo a \\\n# inside\n\n    b \\  \n  c\nRUN x\\\n";
        assert_eq!(
            texts(src),
            vec![
                (1, 1, "FROM a".into()),
                (2, 6, "RUN echo a     b   c".into()),
                (7, 7, "RUN x".into()),
            ]
        );
        let src = "# escape=`\nFROM a\nRUN dir c:\\ `\n  d:\\\n";
        assert_eq!(texts(src)[1].2, "RUN dir c:\\   d:\\");
    }

    #[test]
    fn crlf_and_bom() {
        assert_eq!(
            texts("\u{feff}FROM a\r\nRUN b \\\r\n c\r\n"),
            vec![(1, 1, "FROM a".into()), (2, 3, "RUN b  c".into())]
        );
    }

    #[test]
    fn heredocs() {
        let src = "FROM a\nRUN <<EOF\necho $x\nEOF\nCOPY <<-one <<'two' /d/\n\tA\n\tone\n$B\ntwo\nRUN echo \"<<no\"\n";
        let (_, lines) = split(src).unwrap();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[1].heredocs,
            vec![Heredoc {
                name: "EOF".into(),
                content: "echo $x\n".into(),
                expand: true,
                chomp: false
            }]
        );
        assert_eq!((lines[1].start, lines[1].end), (2, 4));
        assert_eq!(
            lines[2].heredocs[0],
            Heredoc {
                name: "one".into(),
                content: "A\n".into(),
                expand: true,
                chomp: true
            }
        );
        assert_eq!(
            lines[2].heredocs[1],
            Heredoc {
                name: "two".into(),
                content: "$B\n".into(),
                expand: false,
                chomp: false
            }
        );
        assert!(lines[3].heredocs.is_empty());
        // Only RUN, COPY and ADD take heredocs.
        assert!(split("FROM a\nCMD cat <<EOF\n").unwrap().1[1]
            .heredocs
            .is_empty());
    }

    #[test]
    fn unterminated_heredoc() {
        let e = split("FROM a\nRUN <<EOF\nhello\n").unwrap_err();
        assert_eq!(e.line(), Some(2));
        assert!(e.to_string().contains("unterminated heredoc EOF"), "{e}");
    }
}
