//! The lexer: splits a template into text and the tokens inside `{{ }}`, as Go's
//! text/template/parse lexer does (trim markers, comments, Go literals).

use super::TemplateError;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    /// `.Name` (without the dot).
    Field(String),
    Dot,
    /// `$name`, `$` included.
    Variable(String),
    Ident(String),
    Keyword(&'static str),
    /// A quoted or raw string literal: (original text, value).
    Str(String, String),
    /// A character constant: (original text, value).
    Char(String, char),
    Number(String),
    Bool(bool),
    Nil,
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
    Space,
    /// Any other printable character inside an action.
    Other(char),
    Eof,
}

impl Tok {
    /// How Go's parser names a token in "unexpected …" messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Text(s) => format!("{s:?}"),
            Tok::LeftDelim => "\"{{\"".into(),
            Tok::RightDelim => "\"}}\"".into(),
            Tok::Field(f) => format!("<.{f}>"),
            Tok::Dot => "<.>".into(),
            Tok::Variable(v) => format!("<{v}>"),
            Tok::Ident(i) => format!("<{i}>"),
            Tok::Keyword(k) => format!("<{k}>"),
            Tok::Str(orig, _) | Tok::Char(orig, _) | Tok::Number(orig) => format!("{orig:?}"),
            Tok::Bool(b) => format!("<{b}>"),
            Tok::Nil => "<nil>".into(),
            Tok::Pipe => "\"|\"".into(),
            Tok::LParen => "\"(\"".into(),
            Tok::RParen => "\")\"".into(),
            Tok::Declare => "\":=\"".into(),
            Tok::Assign => "\"=\"".into(),
            Tok::Comma => "\",\"".into(),
            Tok::Space => "\" \"".into(),
            Tok::Other(c) => format!("{:?}", c.to_string()),
            Tok::Eof => "EOF".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Byte offset in the template text.
    pub pos: usize,
}

const KEYWORDS: &[&str] = &[
    "block", "break", "continue", "define", "else", "end", "if", "range", "template", "with",
];

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    tokens: Vec<Token>,
    paren_depth: usize,
}

/// The tokens, and the lexing error that stopped them with its position. Go's lexer
/// runs beside the parser, so a parse error in the tokens before a lexing error is
/// the one reported; the caller decides.
pub(crate) fn lex(src: &str) -> (Vec<Token>, Option<(usize, TemplateError)>) {
    let mut l = Lexer {
        src,
        pos: 0,
        tokens: Vec::new(),
        paren_depth: 0,
    };
    match l.run() {
        Ok(()) => (l.tokens, None),
        Err(e) => {
            let at = l.pos;
            l.tokens.push(Token {
                tok: Tok::Eof,
                pos: src.len(),
            });
            (l.tokens, Some((at, e)))
        }
    }
}

impl<'a> Lexer<'a> {
    fn err(&self, pos: usize, msg: impl Into<String>) -> TemplateError {
        TemplateError::parse(self.src, pos, msg)
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn emit(&mut self, tok: Tok, pos: usize) {
        self.tokens.push(Token { tok, pos });
    }

    fn run(&mut self) -> Result<(), TemplateError> {
        // Whether the previous action ended with " -}}".
        let mut trim_next = false;
        loop {
            let start = self.pos;
            let Some(off) = self.rest().find("{{") else {
                let mut text = self.rest();
                if trim_next {
                    text = text.trim_start_matches(is_space);
                }
                if !text.is_empty() {
                    self.emit(Tok::Text(text.to_string()), start);
                }
                self.pos = self.src.len();
                self.emit(Tok::Eof, self.pos);
                return Ok(());
            };
            let mut text = &self.rest()[..off];
            let after = &self.rest()[off + 2..];
            let left_trim =
                after.len() >= 2 && after.starts_with('-') && after[1..].starts_with(is_space);
            if trim_next {
                text = text.trim_start_matches(is_space);
            }
            if left_trim {
                text = text.trim_end_matches(is_space);
            }
            if !text.is_empty() {
                self.emit(Tok::Text(text.to_string()), start);
            }
            self.pos += off;
            let delim_pos = self.pos;
            self.pos += 2;
            if left_trim {
                self.pos += 1;
            }
            // A comment is the whole action.
            let ws_len = self.rest().len() - self.rest().trim_start_matches(is_space).len();
            if self.rest()[ws_len..].starts_with("/*") && (left_trim || ws_len == 0) {
                let body_start = self.pos + ws_len + 2;
                let Some(end) = self.src[body_start..].find("*/") else {
                    return Err(self.err(delim_pos, "unclosed comment"));
                };
                self.pos = body_start + end + 2;
                let (is_delim, trim) = self.at_right_delim();
                if !is_delim {
                    return Err(self.err(delim_pos, "comment ends before closing delimiter"));
                }
                self.pos += if trim { 4 } else { 2 };
                trim_next = trim;
                continue;
            }
            self.emit(Tok::LeftDelim, delim_pos);
            trim_next = self.inside_action()?;
        }
    }

    /// Whether the input is at `}}` or ` -}}`; the second says whether to trim.
    fn at_right_delim(&self) -> (bool, bool) {
        let r = self.rest();
        let mut chars = r.chars();
        if let (Some(c), true) = (chars.next(), r.len() >= 4) {
            if is_space(c) && r[1..].starts_with("-}}") {
                return (true, true);
            }
        }
        (r.starts_with("}}"), false)
    }

    /// Lexes one action up to and including its right delimiter; returns whether the
    /// delimiter carried a trim marker.
    fn inside_action(&mut self) -> Result<bool, TemplateError> {
        loop {
            let (is_delim, trim) = self.at_right_delim();
            if is_delim {
                if self.paren_depth > 0 {
                    return Err(self.err(self.pos, "unclosed left paren"));
                }
                let p = self.pos + if trim { 1 } else { 0 };
                self.emit(Tok::RightDelim, p);
                self.pos += if trim { 4 } else { 2 };
                return Ok(trim);
            }
            let start = self.pos;
            let Some(c) = self.peek() else {
                return Err(self.err(start, "unclosed action"));
            };
            match c {
                '\n' | '\r' | ' ' | '\t' => {
                    while let Some(c) = self.peek() {
                        if !is_space(c) || self.at_right_delim().1 {
                            break;
                        }
                        self.pos += 1;
                    }
                    self.emit(Tok::Space, start);
                }
                '=' => {
                    self.pos += 1;
                    self.emit(Tok::Assign, start);
                }
                ':' => {
                    if !self.rest().starts_with(":=") {
                        return Err(self.err(start, "expected :="));
                    }
                    self.pos += 2;
                    self.emit(Tok::Declare, start);
                }
                '|' => {
                    self.pos += 1;
                    self.emit(Tok::Pipe, start);
                }
                ',' => {
                    self.pos += 1;
                    self.emit(Tok::Comma, start);
                }
                '"' => self.quote(start)?,
                '`' => {
                    let Some(end) = self.rest()[1..].find('`') else {
                        return Err(self.err(start, "unterminated raw quoted string"));
                    };
                    let val = self.rest()[1..1 + end].to_string();
                    self.pos += end + 2;
                    let orig = self.src[start..self.pos].to_string();
                    self.emit(Tok::Str(orig, val.replace('\r', "")), start);
                }
                '\'' => self.char_const(start)?,
                '$' => {
                    self.pos += 1;
                    self.alnum_run();
                    let name = self.src[start..self.pos].to_string();
                    self.emit(Tok::Variable(name), start);
                }
                '.' => {
                    // A number like .5, a field, or dot itself.
                    let next = self.rest()[1..].chars().next();
                    if next.is_some_and(|c| c.is_ascii_digit()) {
                        self.number(start)?;
                    } else if next.is_some_and(is_alnum) {
                        self.pos += 1;
                        self.alnum_run();
                        let name = self.src[start + 1..self.pos].to_string();
                        self.check_term(start)?;
                        self.emit(Tok::Field(name), start);
                    } else {
                        self.pos += 1;
                        self.emit(Tok::Dot, start);
                    }
                }
                '+' | '-' | '0'..='9' => self.number(start)?,
                '(' => {
                    self.pos += 1;
                    self.paren_depth += 1;
                    self.emit(Tok::LParen, start);
                }
                ')' => {
                    self.pos += 1;
                    if self.paren_depth == 0 {
                        return Err(self.err(start, "unexpected right paren"));
                    }
                    self.paren_depth -= 1;
                    self.emit(Tok::RParen, start);
                }
                c if is_alnum(c) => {
                    self.alnum_run();
                    let word = &self.src[start..self.pos];
                    self.check_term(start)?;
                    let tok = if let Some(k) = KEYWORDS.iter().find(|k| **k == word) {
                        Tok::Keyword(k)
                    } else if word == "true" || word == "false" {
                        Tok::Bool(word == "true")
                    } else if word == "nil" {
                        Tok::Nil
                    } else {
                        Tok::Ident(word.to_string())
                    };
                    self.emit(tok, start);
                }
                c if c.is_ascii_graphic() => {
                    self.pos += 1;
                    self.emit(Tok::Other(c), start);
                }
                c => {
                    return Err(self.err(
                        start,
                        format!("unrecognized character in action: {}", go_unicode(c)),
                    ));
                }
            }
        }
    }

    fn alnum_run(&mut self) {
        while let Some(c) = self.peek() {
            if !is_alnum(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    /// Go requires a word to be followed by a separator.
    fn check_term(&self, start: usize) -> Result<(), TemplateError> {
        match self.peek() {
            None => Ok(()),
            // Go accepts the first rune of the right delimiter.
            Some(c) if is_space(c) || matches!(c, '.' | ',' | '|' | ':' | ')' | '(' | '}') => {
                Ok(())
            }
            Some(c) => Err(self.err(start, format!("bad character {}", go_unicode(c)))),
        }
    }

    fn number(&mut self, start: usize) -> Result<(), TemplateError> {
        let bytes = self.src.as_bytes();
        let mut p = self.pos;
        if p < bytes.len() && (bytes[p] == b'+' || bytes[p] == b'-') {
            p += 1;
        }
        let mut digits: &[u8] = b"0123456789_";
        let mut radix10 = true;
        if p + 1 < bytes.len()
            && bytes[p] == b'0'
            && matches!(bytes[p + 1] | 0x20, b'x' | b'o' | b'b')
        {
            digits = match bytes[p + 1] | 0x20 {
                b'x' => b"0123456789abcdefABCDEF_",
                b'o' => b"01234567_",
                _ => b"01_",
            };
            radix10 = false;
            p += 2;
        }
        while p < bytes.len() && digits.contains(&bytes[p]) {
            p += 1;
        }
        if p < bytes.len() && bytes[p] == b'.' && radix10 {
            p += 1;
            while p < bytes.len() && digits.contains(&bytes[p]) {
                p += 1;
            }
        }
        if radix10 && p < bytes.len() && (bytes[p] | 0x20) == b'e' {
            p += 1;
            if p < bytes.len() && (bytes[p] == b'+' || bytes[p] == b'-') {
                p += 1;
            }
            while p < bytes.len() && bytes[p].is_ascii_digit() {
                p += 1;
            }
        }
        self.pos = p;
        let text = &self.src[start..p];
        if self.peek().is_some_and(is_alnum) || text == "+" || text == "-" {
            self.alnum_run();
            return Err(self.err(
                start,
                format!("bad number syntax: {:?}", &self.src[start..self.pos]),
            ));
        }
        self.emit(Tok::Number(text.to_string()), start);
        Ok(())
    }

    fn quote(&mut self, start: usize) -> Result<(), TemplateError> {
        let mut p = self.pos + 1;
        let bytes = self.src.as_bytes();
        loop {
            match bytes.get(p) {
                None | Some(b'\n') => return Err(self.err(start, "unterminated quoted string")),
                Some(b'\\') => p += 2,
                Some(b'"') => break,
                Some(_) => p += 1,
            }
        }
        let orig = self.src[start..=p].to_string();
        let val = unquote(&orig[1..orig.len() - 1], '"')
            .ok_or_else(|| self.err(start, format!("invalid syntax: {orig}")))?;
        self.pos = p + 1;
        self.emit(Tok::Str(orig, val), start);
        Ok(())
    }

    fn char_const(&mut self, start: usize) -> Result<(), TemplateError> {
        let mut p = self.pos + 1;
        let bytes = self.src.as_bytes();
        loop {
            match bytes.get(p) {
                None | Some(b'\n') => {
                    return Err(self.err(start, "unterminated character constant"))
                }
                Some(b'\\') => p += 2,
                Some(b'\'') => break,
                Some(_) => p += 1,
            }
        }
        let orig = self.src[start..=p].to_string();
        let val = unquote(&orig[1..orig.len() - 1], '\'');
        let mut chars = val.as_deref().unwrap_or("").chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return Err(self.err(start, format!("malformed character constant: {orig}")));
        };
        self.pos = p + 1;
        self.emit(Tok::Char(orig, c), start);
        Ok(())
    }
}

/// `%#U` as Go prints it: `U+007D '}'`.
fn go_unicode(c: char) -> String {
    format!("U+{:04X} '{}'", c as u32, c)
}

/// Go's strconv.Unquote for the body of a quoted literal.
pub(crate) fn unquote(body: &str, quote: char) -> Option<String> {
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next()?;
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' | '\'' if e == quote => out.push(e),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| chars.next()).collect();
                if hex.len() != n {
                    return None;
                }
                let v = u32::from_str_radix(&hex, 16).ok()?;
                out.push(char::from_u32(v)?);
            }
            '0'..='7' => {
                let mut v = e.to_digit(8)?;
                for _ in 0..2 {
                    v = v * 8 + chars.next()?.to_digit(8)?;
                }
                if v > 255 {
                    return None;
                }
                out.push(char::from_u32(v)?);
            }
            _ => return None,
        }
    }
    Some(out)
}
