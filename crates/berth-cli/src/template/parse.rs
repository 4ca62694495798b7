//! The parser: builds the syntax tree of a template from the lexer's tokens, with Go's
//! rules (variables must be declared, functions must exist, `else if` chains share one
//! `{{end}}`, `define` only at top level).

use std::collections::HashMap;

use super::funcs;
use super::lex::{lex, Tok, Token};
use super::TemplateError;

#[derive(Clone, Debug)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Control),
    Range(Control),
    With(Control),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

#[derive(Clone, Debug)]
pub(crate) struct Control {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Clone, Debug)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub decl: Vec<String>,
    pub is_assign: bool,
    pub cmds: Vec<Command>,
}

#[derive(Clone, Debug)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Number {
    Int(i128),
    Float(f64),
}

#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Field {
        pos: usize,
        chain: Vec<String>,
    },
    Variable {
        pos: usize,
        name: String,
        chain: Vec<String>,
    },
    Dot(usize),
    Chain {
        pos: usize,
        node: Box<Arg>,
        chain: Vec<String>,
    },
    Ident {
        pos: usize,
        name: String,
    },
    Str {
        pos: usize,
        orig: String,
        val: String,
    },
    Number {
        pos: usize,
        orig: String,
        val: Number,
    },
    Bool(usize, bool),
    Nil(usize),
    Pipe(usize, Box<Pipe>),
}

impl Arg {
    pub(crate) fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Chain { pos, .. }
            | Arg::Ident { pos, .. }
            | Arg::Str { pos, .. }
            | Arg::Number { pos, .. }
            | Arg::Pipe(pos, _)
            | Arg::Dot(pos)
            | Arg::Bool(pos, _)
            | Arg::Nil(pos) => *pos,
        }
    }
}

impl std::fmt::Display for Arg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arg::Field { chain, .. } => chain.iter().try_for_each(|c| write!(f, ".{c}")),
            Arg::Variable { name, chain, .. } => {
                f.write_str(name)?;
                chain.iter().try_for_each(|c| write!(f, ".{c}"))
            }
            Arg::Dot(_) => f.write_str("."),
            Arg::Chain { node, chain, .. } => {
                write!(f, "{node}")?;
                chain.iter().try_for_each(|c| write!(f, ".{c}"))
            }
            Arg::Ident { name, .. } => f.write_str(name),
            Arg::Str { orig, .. } | Arg::Number { orig, .. } => f.write_str(orig),
            Arg::Bool(_, b) => write!(f, "{b}"),
            Arg::Nil(_) => f.write_str("nil"),
            Arg::Pipe(_, p) => write!(f, "({p})"),
        }
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.decl.is_empty() {
            write!(
                f,
                "{} {} ",
                self.decl.join(", "),
                if self.is_assign { "=" } else { ":=" }
            )?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// What ended a list of nodes.
enum Stop {
    End,
    /// `{{else` was read; the cursor is after the keyword.
    Else,
    Eof,
}

pub(crate) struct Parsed {
    pub root: Vec<Node>,
    pub defines: HashMap<String, Vec<Node>>,
}

pub(crate) fn parse(src: &str) -> Result<Parsed, TemplateError> {
    let (tokens, lex_error) = lex(src);
    let mut p = Parser {
        src,
        tokens,
        i: 0,
        vars: vec!["$".into()],
        defines: HashMap::new(),
        range_depth: 0,
        err_pos: std::cell::Cell::new(None),
    };
    let result = p.top();
    if let Some((lex_pos, lex_err)) = lex_error {
        // The parser's error stands only when it came from a token before the bad input.
        return Err(match result {
            Err(e) if p.err_pos.get().is_some_and(|pos| pos < lex_pos) => e,
            _ => lex_err,
        });
    }
    Ok(Parsed {
        root: result?,
        defines: p.defines,
    })
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    i: usize,
    vars: Vec<String>,
    defines: HashMap<String, Vec<Node>>,
    range_depth: usize,
    /// Where the last error was raised.
    err_pos: std::cell::Cell<Option<usize>>,
}

type R<T> = Result<T, TemplateError>;

impl Parser<'_> {
    fn err(&self, pos: usize, msg: impl Into<String>) -> TemplateError {
        self.err_pos.set(Some(pos));
        TemplateError::parse(self.src, pos, msg)
    }

    fn peek(&self) -> &Token {
        &self.tokens[self.i.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        self.i += 1;
        t
    }

    fn skip_space(&mut self) {
        while self.peek().tok == Tok::Space {
            self.i += 1;
        }
    }

    fn peek_non_space(&mut self) -> &Token {
        self.skip_space();
        self.peek()
    }

    fn next_non_space(&mut self) -> Token {
        self.skip_space();
        self.next()
    }

    fn unexpected(&self, t: &Token, context: &str) -> TemplateError {
        self.err(
            t.pos,
            format!("unexpected {} in {}", t.tok.describe(), context),
        )
    }

    fn expect_right_delim(&mut self, context: &str) -> R<()> {
        let t = self.next_non_space();
        if t.tok != Tok::RightDelim {
            return Err(self.unexpected(&t, context));
        }
        Ok(())
    }

    fn top(&mut self) -> R<Vec<Node>> {
        let mut list = Vec::new();
        loop {
            let t = self.peek().clone();
            match t.tok {
                Tok::Eof => return Ok(list),
                Tok::LeftDelim => {
                    let save = self.i;
                    self.next();
                    if self.peek_non_space().tok == Tok::Keyword("define") {
                        self.next();
                        self.definition()?;
                        continue;
                    }
                    self.i = save;
                }
                _ => {}
            }
            match self.text_or_action()? {
                Ok(node) => list.extend(node),
                Err((stop_pos, word)) => {
                    return Err(self.err(stop_pos, format!("unexpected {{{{{word}}}}}")))
                }
            }
        }
    }

    /// `{{define "name"}} … {{end}}`, cursor after `define`.
    fn definition(&mut self) -> R<()> {
        let t = self.next_non_space();
        let Tok::Str(_, name) = t.tok.clone() else {
            return Err(self.unexpected(&t, "define clause"));
        };
        self.expect_right_delim("define clause")?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, stop) = self.item_list()?;
        self.vars = saved;
        match stop {
            Stop::End => {}
            Stop::Else => return Err(self.err(t.pos, "unexpected {{else}} in define clause")),
            Stop::Eof => return Err(self.err(self.src.len(), "unexpected EOF")),
        }
        self.defines.insert(name, list);
        Ok(())
    }

    /// Nodes until `{{end}}`, `{{else` or EOF.
    fn item_list(&mut self) -> R<(Vec<Node>, Stop)> {
        let mut list = Vec::new();
        loop {
            if self.peek().tok == Tok::Eof {
                return Ok((list, Stop::Eof));
            }
            if self.peek().tok == Tok::LeftDelim {
                let save = self.i;
                self.next();
                if self.peek_non_space().tok == Tok::Keyword("define") {
                    let t = self.peek().clone();
                    return Err(self.unexpected(&t, "command"));
                }
                self.i = save;
            }
            match self.text_or_action()? {
                Ok(node) => list.extend(node),
                Err((_, "end")) => return Ok((list, Stop::End)),
                Err(_) => return Ok((list, Stop::Else)),
            }
        }
    }

    /// A node, or `Err((pos, "end" | "else"))` for the two list terminators.
    #[allow(clippy::type_complexity)]
    fn text_or_action(&mut self) -> R<Result<Option<Node>, (usize, &'static str)>> {
        let t = self.next();
        match t.tok {
            Tok::Text(s) => Ok(Ok(Some(Node::Text(s)))),
            Tok::LeftDelim => self.action(),
            _ => Err(self.unexpected(&t, "input")),
        }
    }

    #[allow(clippy::type_complexity)]
    fn action(&mut self) -> R<Result<Option<Node>, (usize, &'static str)>> {
        let t = self.next_non_space();
        let node = match t.tok {
            Tok::Keyword("end") => {
                self.expect_right_delim("end")?;
                return Ok(Err((t.pos, "end")));
            }
            Tok::Keyword("else") => {
                // `else if` / `else with` are handled by the control that owns the list.
                let next = self.peek_non_space().tok.clone();
                if next != Tok::Keyword("if") && next != Tok::Keyword("with") {
                    self.expect_right_delim("else")?;
                }
                return Ok(Err((t.pos, "else")));
            }
            Tok::Keyword("if") => Node::If(self.control("if")?),
            Tok::Keyword("range") => {
                self.range_depth += 1;
                let control = self.control("range");
                self.range_depth -= 1;
                Node::Range(control?)
            }
            Tok::Keyword("with") => Node::With(self.control("with")?),
            Tok::Keyword("break") | Tok::Keyword("continue") => {
                self.expect_right_delim(if t.tok == Tok::Keyword("break") {
                    "break"
                } else {
                    "continue"
                })?;
                let is_break = t.tok == Tok::Keyword("break");
                if self.range_depth == 0 {
                    let word = if is_break { "break" } else { "continue" };
                    return Err(self.err(t.pos, format!("{{{{{word}}}}} outside {{{{range}}}}")));
                }
                if is_break {
                    Node::Break
                } else {
                    Node::Continue
                }
            }
            Tok::Keyword("template") | Tok::Keyword("block") => {
                let is_block = t.tok == Tok::Keyword("block");
                let context = if is_block {
                    "block clause"
                } else {
                    "template clause"
                };
                let nt = self.next_non_space();
                let Tok::Str(_, name) = nt.tok.clone() else {
                    return Err(self.unexpected(&nt, context));
                };
                let pipe = if self.peek_non_space().tok == Tok::RightDelim {
                    self.next();
                    None
                } else {
                    Some(self.pipeline(context, &Tok::RightDelim)?)
                };
                if is_block {
                    let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
                    let (list, stop) = self.item_list()?;
                    self.vars = saved;
                    if !matches!(stop, Stop::End) {
                        return Err(self.err(self.peek().pos, "unexpected EOF"));
                    }
                    self.defines.insert(name.clone(), list);
                }
                Node::Template {
                    pos: t.pos,
                    name,
                    pipe,
                }
            }
            _ => {
                self.i -= 1;
                Node::Action(self.pipeline("command", &Tok::RightDelim)?)
            }
        };
        Ok(Ok(Some(node)))
    }

    /// if/range/with: pipeline, list, optional else, end. Cursor after the keyword.
    fn control(&mut self, context: &'static str) -> R<Control> {
        let mark = self.vars.len();
        let pipe = self.pipeline(context, &Tok::RightDelim)?;
        let (list, stop) = self.item_list()?;
        let else_list = match stop {
            Stop::End => None,
            Stop::Eof => return Err(self.err(self.src.len(), "unexpected EOF")),
            Stop::Else => {
                let next = self.peek_non_space().tok.clone();
                if (context == "if" && next == Tok::Keyword("if"))
                    || (context == "with" && next == Tok::Keyword("with"))
                {
                    self.next();
                    let nested = self.control(context)?;
                    Some(vec![if context == "if" {
                        Node::If(nested)
                    } else {
                        Node::With(nested)
                    }])
                } else {
                    let (else_list, stop) = self.item_list()?;
                    match stop {
                        Stop::End => Some(else_list),
                        Stop::Else => {
                            return Err(self.err(self.peek().pos, "expected end; found {{else}}"))
                        }
                        Stop::Eof => return Err(self.err(self.src.len(), "unexpected EOF")),
                    }
                }
            }
        };
        self.vars.truncate(mark);
        Ok(Control {
            pipe,
            list,
            else_list,
        })
    }

    fn pipeline(&mut self, context: &str, end: &Tok) -> R<Pipe> {
        let pos = self.peek_non_space().pos;
        let mut pipe = Pipe {
            pos,
            decl: Vec::new(),
            is_assign: false,
            cmds: Vec::new(),
        };
        // Declarations.
        loop {
            let save = self.i;
            let Tok::Variable(name) = self.peek_non_space().tok.clone() else {
                break;
            };
            let vpos = self.peek().pos;
            self.next();
            let next = self.peek_non_space().tok.clone();
            match next {
                Tok::Declare | Tok::Assign => {
                    self.next();
                    pipe.is_assign = next == Tok::Assign;
                    if pipe.is_assign && !self.vars.contains(&name) {
                        return Err(self.err(vpos, format!("undefined variable {name:?}")));
                    }
                    pipe.decl.push(name.clone());
                    if !pipe.is_assign {
                        self.vars.push(name);
                    }
                    break;
                }
                Tok::Comma if context == "range" && pipe.decl.is_empty() => {
                    self.next();
                    pipe.decl.push(name.clone());
                    self.vars.push(name);
                    continue;
                }
                Tok::Comma => {
                    return Err(self.err(vpos, format!("too many declarations in {context}")))
                }
                _ => {
                    self.i = save;
                    if !pipe.decl.is_empty() {
                        return Err(
                            self.err(vpos, format!("missing := after variables in {context}"))
                        );
                    }
                    break;
                }
            }
        }
        if pipe.decl.len() == 2 && pipe.is_assign {
            return Err(self.err(pos, format!("too many declarations in {context}")));
        }
        loop {
            let t = self.next_non_space();
            if &t.tok == end {
                if pipe.cmds.is_empty() {
                    return Err(self.err(t.pos, format!("missing value for {context}")));
                }
                for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
                    if matches!(
                        c.args[0],
                        Arg::Bool(..)
                            | Arg::Dot(_)
                            | Arg::Nil(_)
                            | Arg::Number { .. }
                            | Arg::Str { .. }
                    ) {
                        return Err(self.err(
                            c.pos,
                            format!("non executable command in pipeline stage {}", i + 1),
                        ));
                    }
                }
                return Ok(pipe);
            }
            match t.tok {
                Tok::Bool(_)
                | Tok::Char(..)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::Str(..)
                | Tok::Variable(_)
                | Tok::LParen => {
                    self.i -= 1;
                    pipe.cmds.push(self.command()?);
                }
                _ => return Err(self.unexpected(&t, context)),
            }
        }
    }

    fn command(&mut self) -> R<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command {
            pos,
            args: Vec::new(),
        };
        loop {
            self.skip_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let t = self.next();
            match t.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RParen => self.i -= 1,
                Tok::Pipe => {}
                _ => return Err(self.unexpected(&t, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.err(pos, "empty command"));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> R<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if !matches!(self.peek().tok, Tok::Field(_)) {
            return Ok(Some(node));
        }
        let chain_pos = self.peek().pos;
        let mut chain = Vec::new();
        while let Tok::Field(f) = self.peek().tok.clone() {
            self.next();
            chain.push(f);
        }
        Ok(Some(match node {
            Arg::Field { pos, chain: mut c } => {
                c.extend(chain);
                Arg::Field { pos, chain: c }
            }
            Arg::Variable {
                pos,
                name,
                chain: mut c,
            } => {
                c.extend(chain);
                Arg::Variable {
                    pos,
                    name,
                    chain: c,
                }
            }
            Arg::Bool(..) | Arg::Str { .. } | Arg::Number { .. } | Arg::Nil(_) | Arg::Dot(_) => {
                return Err(self.err(
                    chain_pos,
                    format!("unexpected . after term {:?}", node.to_string()),
                ));
            }
            other => Arg::Chain {
                pos: other.pos(),
                node: Box::new(other),
                chain,
            },
        }))
    }

    fn term(&mut self) -> R<Option<Arg>> {
        let t = self.next_non_space();
        let pos = t.pos;
        Ok(Some(match t.tok {
            Tok::Ident(name) => {
                if !funcs::exists(&name) {
                    return Err(self.err(pos, format!("function {name:?} not defined")));
                }
                Arg::Ident { pos, name }
            }
            Tok::Dot => Arg::Dot(pos),
            Tok::Nil => Arg::Nil(pos),
            Tok::Variable(name) => {
                if !self.vars.contains(&name) {
                    return Err(self.err(pos, format!("undefined variable {name:?}")));
                }
                Arg::Variable {
                    pos,
                    name,
                    chain: Vec::new(),
                }
            }
            Tok::Field(f) => Arg::Field {
                pos,
                chain: vec![f],
            },
            Tok::Bool(b) => Arg::Bool(pos, b),
            Tok::Char(orig, c) => Arg::Number {
                pos,
                orig,
                val: Number::Int(c as i128),
            },
            Tok::Number(orig) => {
                let val = parse_number(&orig)
                    .ok_or_else(|| self.err(pos, format!("illegal number syntax: {orig:?}")))?;
                Arg::Number { pos, orig, val }
            }
            Tok::LParen => {
                let pipe = self.pipeline("parenthesized pipeline", &Tok::RParen)?;
                Arg::Pipe(pos, Box::new(pipe))
            }
            Tok::Str(orig, val) => Arg::Str { pos, orig, val },
            _ => {
                self.i -= 1;
                return Ok(None);
            }
        }))
    }
}

fn parse_number(text: &str) -> Option<Number> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let clean = body.replace('_', "");
    let lower = clean.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i128::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        i128::from_str_radix(&lower[1..], 8).ok()
    } else {
        lower.parse::<i128>().ok()
    };
    if let Some(i) = int {
        return Some(Number::Int(if neg { -i } else { i }));
    }
    let f: f64 = lower.parse().ok()?;
    Some(Number::Float(if neg { -f } else { f }))
}
