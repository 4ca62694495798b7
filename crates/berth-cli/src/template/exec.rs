//! The evaluator: walks a parsed template over a JSON value, as Go's text/template
//! executes over data, writing text and printed values.

use std::collections::HashMap;

use serde_json::Value;

use super::funcs::{self, FuncError};
use super::parse::{Arg, Command, Control, Node, Number, Pipe};
use super::value::{float_value, int_value, print_v, truth, type_name, Val};
use super::{MissingKey, TemplateError};

/// Go's limit on nested `{{template}}` calls, lowered: ours recurse on the stack.
const MAX_DEPTH: usize = 1000;

pub(crate) struct Exec<'a> {
    pub src: &'a str,
    pub defines: &'a HashMap<String, Vec<Node>>,
    pub missing_key: MissingKey,
    /// Rendering a table's header row: docker's header functions, and fields that
    /// the header map lacks print as their upper-cased names.
    pub header: bool,
    pub out: String,
    pub name: String,
    pub vars: Vec<(String, Val)>,
    pub depth: usize,
    /// docker's methods with one argument (`{{.Label "com.example"}}`), by name.
    pub methods: &'a HashMap<String, super::Method>,
}

enum Flow {
    Normal,
    Break,
    Continue,
}

type R<T> = Result<T, TemplateError>;

impl Exec<'_> {
    fn err(
        &self,
        pos: usize,
        context: &dyn std::fmt::Display,
        msg: impl Into<String>,
    ) -> TemplateError {
        TemplateError::exec(self.src, pos, &self.name, &context.to_string(), msg)
    }

    pub(crate) fn run(&mut self, dot: &Val, list: &[Node]) -> R<()> {
        self.walk(dot, list).map(|_| ())
    }

    fn walk(&mut self, dot: &Val, list: &[Node]) -> R<Flow> {
        for node in list {
            match self.node(dot, node)? {
                Flow::Normal => {}
                flow => return Ok(flow),
            }
        }
        Ok(Flow::Normal)
    }

    fn node(&mut self, dot: &Val, node: &Node) -> R<Flow> {
        match node {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(pipe) => {
                let mark = self.vars.len();
                let v = self.pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.out.push_str(&print_v(&v));
                } else if pipe.is_assign {
                    self.vars.truncate(mark);
                }
            }
            Node::If(c) | Node::With(c) => {
                let is_with = matches!(node, Node::With(_));
                let mark = self.vars.len();
                let v = self.pipeline(dot, &c.pipe)?;
                let flow = if truth(&v) {
                    let new_dot = if is_with { v } else { dot.clone() };
                    self.walk(&new_dot, &c.list)?
                } else if let Some(e) = &c.else_list {
                    self.walk(dot, e)?
                } else {
                    Flow::Normal
                };
                self.vars.truncate(mark);
                return Ok(flow);
            }
            Node::Range(c) => self.range(dot, c)?,
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
            Node::Template { pos, name, pipe } => {
                let Some(list) = self.defines.get(name) else {
                    return Err(self.err(
                        *pos,
                        &format!("template {name:?}"),
                        format!("template {name:?} not defined"),
                    ));
                };
                if self.depth >= MAX_DEPTH {
                    return Err(self.err(
                        *pos,
                        &format!("template {name:?}"),
                        format!("exceeded maximum template depth ({MAX_DEPTH})"),
                    ));
                }
                let new_dot = match pipe {
                    Some(p) => self.pipeline(dot, p)?,
                    None => Val::Missing,
                };
                let saved_vars =
                    std::mem::replace(&mut self.vars, vec![("$".into(), new_dot.clone())]);
                let saved_name = std::mem::replace(&mut self.name, name.clone());
                self.depth += 1;
                let result = self.walk(&new_dot, list);
                self.depth -= 1;
                self.vars = saved_vars;
                self.name = saved_name;
                result?;
            }
        }
        Ok(Flow::Normal)
    }

    fn range(&mut self, dot: &Val, c: &Control) -> R<()> {
        let mark = self.vars.len();
        let v = self.pipeline(dot, &c.pipe)?;
        let items: Vec<(Value, Value)> = match v.json() {
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, e)| (Value::from(i), e.clone()))
                .collect(),
            Value::Object(o) => {
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort();
                keys.into_iter()
                    .map(|k| (Value::String(k.clone()), o[k].clone()))
                    .collect()
            }
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                let n = n.as_i64().unwrap_or(i64::MAX);
                if c.pipe.decl.len() > 1 {
                    return Err(self.err(
                        c.pipe.pos,
                        &c.pipe,
                        "can't use {{range}} over int with two variables",
                    ));
                }
                (0..n.max(0))
                    .map(|i| (Value::from(i), Value::from(i)))
                    .collect()
            }
            Value::Null => Vec::new(),
            _ => {
                return Err(self.err(
                    c.pipe.pos,
                    &c.pipe,
                    format!("range can't iterate over {}", print_v(&v)),
                ));
            }
        };
        let inner = self.vars.len();
        let mut ran = false;
        for (key, elem) in items {
            ran = true;
            // The pipeline's declarations: one gets the element, two get key and element.
            match c.pipe.decl.len() {
                1 => self.vars[inner - 1].1 = Val::J(elem.clone()),
                2 => {
                    self.vars[inner - 2].1 = Val::J(key);
                    self.vars[inner - 1].1 = Val::J(elem.clone());
                }
                _ => {}
            }
            let flow = self.walk(&Val::J(elem), &c.list)?;
            self.vars.truncate(inner);
            if let Flow::Break = flow {
                break;
            }
        }
        if !ran {
            if let Some(e) = &c.else_list {
                self.walk(dot, e)?;
            }
        }
        self.vars.truncate(mark);
        Ok(())
    }

    fn pipeline(&mut self, dot: &Val, pipe: &Pipe) -> R<Val> {
        let mut value: Option<Val> = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(dot, cmd, value)?);
        }
        let value = value.unwrap_or(Val::Missing);
        for name in &pipe.decl {
            if pipe.is_assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = value.clone();
                }
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, cmd: &Command, has_final: bool) -> R<()> {
        if cmd.args.len() > 1 || has_final {
            let first = &cmd.args[0];
            return Err(self.err(
                first.pos(),
                first,
                format!("can't give argument to non-function {first}"),
            ));
        }
        Ok(())
    }

    fn command(&mut self, dot: &Val, cmd: &Command, fin: Option<Val>) -> R<Val> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { chain, .. }
                if cmd.args.len() == 2
                    && fin.is_none()
                    && chain.len() == 1
                    && self.methods.contains_key(&chain[0]) =>
            {
                if self.header {
                    return Ok(self.header_field(dot, chain));
                }
                let key = self.arg(dot, &cmd.args[1])?;
                let method = self.methods[&chain[0]];
                Ok(Val::J(method(dot.json(), &super::value::print_v(&key))))
            }
            Arg::Field { chain, .. } => {
                if self.header {
                    self.not_a_function(cmd, fin.is_some())?;
                    return Ok(self.header_field(dot, chain));
                }
                self.field_chain(
                    dot.clone(),
                    first,
                    chain,
                    cmd.args.len() > 1 || fin.is_some(),
                )
            }
            Arg::Chain { node, chain, .. } => {
                let base = self.arg(dot, node)?;
                self.field_chain(base, first, chain, cmd.args.len() > 1 || fin.is_some())
            }
            Arg::Variable { name, chain, .. } => {
                let base = self.var(name);
                if chain.is_empty() {
                    self.not_a_function(cmd, fin.is_some())?;
                    return Ok(base);
                }
                self.field_chain(base, first, chain, cmd.args.len() > 1 || fin.is_some())
            }
            Arg::Ident { pos, name } => self.function(dot, *pos, name, cmd, &cmd.args[1..], fin),
            _ => {
                self.not_a_function(cmd, fin.is_some())?;
                self.arg(dot, first)
            }
        }
    }

    fn var(&self, name: &str) -> Val {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or(Val::Missing)
    }

    /// A field chain in a table header: the header for the whole chain, else for its
    /// last name, else that name upper-cased.
    fn header_field(&self, dot: &Val, chain: &[String]) -> Val {
        let Value::Object(headers) = dot.json() else {
            return Val::Missing;
        };
        let last = chain.last().map(String::as_str).unwrap_or("");
        let value = headers
            .get(&chain.join("."))
            .or_else(|| headers.get(last))
            .cloned()
            .unwrap_or_else(|| Value::String(last.to_uppercase()));
        Val::J(value)
    }

    fn field_chain(
        &mut self,
        mut receiver: Val,
        node: &Arg,
        chain: &[String],
        has_args: bool,
    ) -> R<Val> {
        for (i, name) in chain.iter().enumerate() {
            if i + 1 == chain.len() && has_args {
                return Err(self.err(
                    node.pos(),
                    node,
                    format!("{name} is not a method but has arguments"),
                ));
            }
            receiver = self.field(receiver, node, name)?;
        }
        Ok(receiver)
    }

    fn field(&self, receiver: Val, node: &Arg, name: &str) -> R<Val> {
        match receiver {
            Val::Missing => match self.missing_key {
                MissingKey::Error => Err(self.err(
                    node.pos(),
                    node,
                    format!("nil data; no entry for key {name:?}"),
                )),
                MissingKey::NoValue => Ok(Val::Missing),
            },
            Val::J(Value::Object(mut o)) => match o.remove(name) {
                Some(v) => Ok(Val::J(v)),
                None => match self.missing_key {
                    MissingKey::Error => Err(self.err(
                        node.pos(),
                        node,
                        format!("map has no entry for key {name:?}"),
                    )),
                    MissingKey::NoValue => Ok(Val::Missing),
                },
            },
            Val::J(Value::Null) => Err(self.err(
                node.pos(),
                node,
                format!("nil pointer evaluating interface {{}}.{name}"),
            )),
            other => Err(self.err(
                node.pos(),
                node,
                format!("can't evaluate field {name} in type {}", type_name(&other)),
            )),
        }
    }

    fn arg(&mut self, dot: &Val, arg: &Arg) -> R<Val> {
        Ok(match arg {
            Arg::Dot(_) => dot.clone(),
            Arg::Nil(_) => Val::J(Value::Null),
            Arg::Bool(_, b) => Val::J(Value::Bool(*b)),
            Arg::Str { val, .. } => Val::J(Value::String(val.clone())),
            Arg::Number { val, .. } => Val::J(match val {
                Number::Int(i) => int_value(*i),
                Number::Float(f) => float_value(*f),
            }),
            Arg::Field { chain, .. } => {
                if self.header {
                    return Ok(self.header_field(dot, chain));
                }
                self.field_chain(dot.clone(), arg, chain, false)?
            }
            Arg::Variable { name, chain, .. } => {
                let base = self.var(name);
                self.field_chain(base, arg, chain, false)?
            }
            Arg::Chain { node, chain, .. } => {
                let base = self.arg(dot, node)?;
                self.field_chain(base, arg, chain, false)?
            }
            Arg::Pipe(_, p) => self.pipeline(dot, p)?,
            Arg::Ident { pos, name } => {
                let cmd = Command {
                    pos: *pos,
                    args: vec![arg.clone()],
                };
                self.function(dot, *pos, name, &cmd, &[], None)?
            }
        })
    }

    fn function(
        &mut self,
        dot: &Val,
        pos: usize,
        name: &str,
        cmd: &Command,
        args: &[Arg],
        fin: Option<Val>,
    ) -> R<Val> {
        let ident = Arg::Ident {
            pos,
            name: name.to_string(),
        };
        if name == "and" || name == "or" {
            let total = args.len() + usize::from(fin.is_some());
            if total == 0 {
                return Err(self.err(
                    pos,
                    &ident,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let mut last = Val::Missing;
            for a in args {
                last = self.arg(dot, a)?;
                if truth(&last) == (name == "or") {
                    return Ok(last);
                }
            }
            return Ok(fin.unwrap_or(last));
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(dot, a)?);
        }
        vals.extend(fin);
        funcs::call(name, &vals, self.header).map_err(|e| match e {
            FuncError::WrongArgs {
                want,
                got,
                at_least,
            } => self.err(
                pos,
                &ident,
                format!(
                    "wrong number of args for {name}: want {}{want} got {got}",
                    if at_least { "at least " } else { "" }
                ),
            ),
            FuncError::ArgType {
                index,
                expected,
                got,
            } => {
                let msg = format!("wrong type for value; expected {expected}; got {got}");
                match args.get(index) {
                    Some(a) => self.err(a.pos(), a, msg),
                    None => self.err(pos, &ident, msg),
                }
            }
            FuncError::Call(msg) => self.err(cmd.pos, cmd, format!("error calling {name}: {msg}")),
        })
    }
}
