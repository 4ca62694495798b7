//! docker's `--format`: Go text/template over JSON values, with docker's functions and
//! its `table` mode.
//!
//! The data are `serde_json::Value`s made from berth's API types. Go templates see
//! docker's data as structs and maps; here both are JSON objects, so one rule has to
//! serve both. By default ([`MissingKey::Error`]) a key an object lacks is an error —
//! `map has no entry for key "Foo"` — which is what docker says for a field a struct
//! lacks (`docker inspect -f` reports exactly this message, from its fallback over the
//! raw JSON) and keeps typos from printing nothing. [`MissingKey::NoValue`] gives Go's
//! default for maps instead: `<no value>`. `index` on a missing key is never an
//! error: it yields "" for maps of strings (labels) as docker's `map[string]string`
//! does, `<no value>` otherwise.
//!
//! ```
//! use berth_cli::template::render;
//! let data = serde_json::json!({"State": {"Status": "running"}, "Args": ["-c", "true"]});
//! assert_eq!(render("{{.State.Status}} {{join .Args \",\"}}", &data).unwrap(), "running -c,true");
//! ```

mod exec;
mod funcs;
mod lex;
mod parse;
mod printf;
pub mod tabwriter;
mod value;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use serde_json::Value;

pub use tabwriter::{align, TabWriter};

/// A template that failed to parse or to execute; the message is Go's, byte for byte
/// where we could match it (`template: :1: unexpected "}" in operand`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template: {name}:{line}: {message}")]
    Parse {
        name: String,
        line: usize,
        message: String,
    },
    #[error("template: {name}:{line}:{column}: executing {template:?} at <{context}>: {message}")]
    Exec {
        name: String,
        line: usize,
        /// Byte offset in the line, from 0, as Go counts it.
        column: usize,
        /// The template (`define` name) that was executing; "" for the main one.
        template: String,
        /// The expression that failed, cut to 20 characters as Go does.
        context: String,
        message: String,
    },
}

fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let before = &src[..pos.min(src.len())];
    let line = 1 + before.matches('\n').count();
    let col = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1);
    (line, col)
}

impl TemplateError {
    pub(crate) fn parse(src: &str, pos: usize, message: impl Into<String>) -> Self {
        TemplateError::Parse {
            name: String::new(),
            line: line_col(src, pos).0,
            message: message.into(),
        }
    }

    pub(crate) fn exec(
        src: &str,
        pos: usize,
        template: &str,
        context: &str,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = line_col(src, pos);
        let context = if context.chars().count() > 20 {
            format!("{}...", context.chars().take(20).collect::<String>())
        } else {
            context.to_string()
        };
        TemplateError::Exec {
            name: String::new(),
            line,
            column,
            template: template.into(),
            context,
            message: message.into(),
        }
    }
}

/// What a field access on an object without that key does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingKey {
    /// An error, `map has no entry for key "Foo"` (docker's behaviour for structs).
    #[default]
    Error,
    /// Go's default for maps: the value prints as `<no value>`.
    NoValue,
}

/// A method docker's formatting contexts offer with one string argument, such as
/// `{{.Label "com.example"}}`: given dot and the argument, its result.
pub type Method = fn(&Value, &str) -> Value;

/// A parsed template, to execute over many values.
#[derive(Clone, Debug)]
pub struct Template {
    src: String,
    root: Vec<parse::Node>,
    defines: HashMap<String, Vec<parse::Node>>,
    missing_key: MissingKey,
    methods: HashMap<String, Method>,
}

impl Template {
    /// Parses Go template text. Functions must exist and variables be declared, as Go
    /// checks at parse time.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let parsed = parse::parse(text)?;
        Ok(Template {
            src: text.to_string(),
            root: parsed.root,
            defines: parsed.defines,
            missing_key: MissingKey::default(),
            methods: HashMap::new(),
        })
    }

    /// Offers `{{.NAME "arg"}}` on dot.
    pub fn method(mut self, name: &str, method: Method) -> Template {
        self.methods.insert(name.to_string(), method);
        self
    }

    /// Sets what a missing object key does (Go's `Option("missingkey=…")`).
    pub fn missing_key(mut self, policy: MissingKey) -> Template {
        self.missing_key = policy;
        self
    }

    fn run(&self, data: &Value, header: bool) -> (String, Result<(), TemplateError>) {
        let dot = value::Val::J(data.clone());
        let mut exec = exec::Exec {
            src: &self.src,
            defines: &self.defines,
            missing_key: self.missing_key,
            header,
            out: String::new(),
            name: String::new(),
            vars: vec![("$".into(), dot.clone())],
            depth: 0,
            methods: &self.methods,
        };
        let result = exec.run(&dot, &self.root);
        (exec.out, result)
    }

    /// Executes the template with `data` as dot (and `$`).
    pub fn execute(&self, data: &Value) -> Result<String, TemplateError> {
        let (out, result) = self.run(data, false);
        result.map(|()| out)
    }

    /// Renders a table's header row as docker does: the row template executed over the
    /// header names, with docker's header functions (`json`, `join`, `upper`, … return
    /// their argument unchanged). A field missing from `headers` prints as its name
    /// upper-cased. Errors are ignored, keeping what was written, as docker does.
    pub fn execute_header(&self, headers: &HashMap<String, String>) -> String {
        let data = Value::Object(
            headers
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        );
        self.run(&data, true).0
    }
}

/// Renders `format` over one value, as `docker inspect -f` does (no trailing newline
/// is added, and `\t` in the format is not translated).
pub fn render(format: &str, data: &Value) -> Result<String, TemplateError> {
    Template::parse(format)?.execute(data)
}

/// Whether `format` asks for docker's table mode.
pub fn is_table(format: &str) -> bool {
    format.starts_with("table")
}

/// The row template of a list format as docker prepares it: without `table`, trimmed
/// of spaces, with the two-character sequences `\t` and `\n` made tab and newline.
pub fn row_format(format: &str) -> String {
    let body = format
        .strip_prefix("table")
        .unwrap_or(format)
        .trim_matches(' ');
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some('t')) => {
                chars.next();
                out.push('\t');
            }
            ('\\', Some('n')) => {
                chars.next();
                out.push('\n');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Renders a list (`docker ps`, `images`, `stats` …): each row followed by a newline.
/// With `table …`, a header row comes first (see [`Template::execute_header`]) and the
/// columns are aligned as docker aligns them ([`align`]).
pub fn render_table(
    format: &str,
    rows: &[Value],
    headers: &HashMap<String, String>,
) -> Result<String, TemplateError> {
    render_table_with(format, rows, headers, &[])
}

/// [`render_table`] with docker's one-argument methods offered on every row.
pub fn render_table_with(
    format: &str,
    rows: &[Value],
    headers: &HashMap<String, String>,
    methods: &[(&str, Method)],
) -> Result<String, TemplateError> {
    let mut template = Template::parse(&row_format(format))?;
    for (name, m) in methods {
        template = template.method(name, *m);
    }
    let mut out = String::new();
    if is_table(format) {
        out.push_str(&template.execute_header(headers));
        out.push('\n');
    }
    for row in rows {
        out.push_str(&template.execute(row)?);
        out.push('\n');
    }
    Ok(if is_table(format) { align(&out) } else { out })
}

/// docker's header map from `(field, header)` pairs, e.g. `("ID", "CONTAINER ID")`.
pub fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
