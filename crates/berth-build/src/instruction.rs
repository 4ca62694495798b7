//! The typed instructions and how each one's arguments and flags are parsed.

use crate::error::Msg;
use crate::flags::{self, Flags, Kind, Mount, NetworkMode, SecurityMode};
use crate::lines::Heredoc;
use crate::words::{extract_flags, fields, json_array, split_words};
use std::time::Duration;

/// A command in exec form (JSON array) or shell form (one string for the shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `["executable", "arg"]`.
    Exec(Vec<String>),
    /// `executable arg`, run with the stage's SHELL.
    Shell(String),
}

/// `FROM [--platform=…] image [AS name]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The image as written: a reference, `scratch`, or an earlier stage's name.
    pub image: String,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// `--platform`.
    pub platform: Option<String>,
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The command (heredoc words stay in a shell-form command, as the shell reads them).
    pub command: Command,
    /// Here-documents following the line.
    pub heredocs: Vec<Heredoc>,
    /// `--mount`, in order.
    pub mounts: Vec<Mount>,
    /// `--network`.
    pub network: Option<NetworkMode>,
    /// `--security`.
    pub security: Option<SecurityMode>,
}

/// One `key=value` of ENV or LABEL, as written (quotes and `$` kept until expansion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The name.
    pub key: String,
    /// The value.
    pub value: String,
}

/// One ARG name with its optional default, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The name.
    pub name: String,
    /// `=default`.
    pub default: Option<String>,
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// Source paths (or URLs, for ADD), in order; heredoc sources are in `heredocs`.
    pub sources: Vec<String>,
    /// Files whose content is given inline (`COPY <<EOF /dst`), named after the delimiter.
    pub heredocs: Vec<Heredoc>,
    /// The destination.
    pub dest: String,
    /// Written as a JSON array.
    pub json: bool,
    /// `--from` (COPY only).
    pub from: Option<String>,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--parents` (COPY only).
    pub parents: bool,
    /// `--exclude`, repeatable.
    pub exclude: Vec<String>,
    /// `--checksum` (ADD only).
    pub checksum: Option<String>,
    /// `--keep-git-dir` (ADD only).
    pub keep_git_dir: Option<bool>,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable the base image's check.
    None,
    /// `HEALTHCHECK [options] CMD command`.
    Check {
        /// The test command.
        command: Command,
        /// `--interval`.
        interval: Option<Duration>,
        /// `--timeout`.
        timeout: Option<Duration>,
        /// `--start-period`.
        start_period: Option<Duration>,
        /// `--start-interval`.
        start_interval: Option<Duration>,
        /// `--retries`.
        retries: Option<u32>,
    },
}

/// One instruction, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `FROM`.
    From(From),
    /// `RUN`.
    Run(Run),
    /// `CMD`.
    Cmd(Command),
    /// `LABEL k=v …`.
    Label(Vec<KeyValue>),
    /// `MAINTAINER name`.
    Maintainer(String),
    /// `EXPOSE port[/proto] …`.
    Expose(Vec<String>),
    /// `ENV k=v …` or `ENV k v`.
    Env(Vec<KeyValue>),
    /// `ADD`.
    Add(Copy),
    /// `COPY`.
    Copy(Copy),
    /// `ENTRYPOINT`.
    Entrypoint(Command),
    /// `VOLUME`.
    Volume(Vec<String>),
    /// `USER user[:group]`, as written.
    User(String),
    /// `WORKDIR`.
    Workdir(String),
    /// `ARG name[=default] …`.
    Arg(Vec<ArgDecl>),
    /// `ONBUILD instruction`: the trigger's text (stored in the image) and its parse.
    Onbuild {
        /// The trigger as written.
        expression: String,
        /// The trigger, parsed.
        trigger: Box<Instruction>,
    },
    /// `STOPSIGNAL`.
    Stopsignal(String),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `SHELL ["executable", "parameters"]`.
    Shell(Vec<String>),
}

impl Instruction {
    /// The keyword, upper case (`RUN`).
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::From(_) => "FROM",
            Instruction::Run(_) => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Label(_) => "LABEL",
            Instruction::Maintainer(_) => "MAINTAINER",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Env(_) => "ENV",
            Instruction::Add(_) => "ADD",
            Instruction::Copy(_) => "COPY",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Volume(_) => "VOLUME",
            Instruction::User(_) => "USER",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::Arg(_) => "ARG",
            Instruction::Onbuild { .. } => "ONBUILD",
            Instruction::Stopsignal(_) => "STOPSIGNAL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Shell(_) => "SHELL",
        }
    }
}

/// USER's `user[:group]` split.
pub fn user_and_group(user: &str) -> (&str, Option<&str>) {
    match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    }
}

/// Parses one logical line (keyword, flags, arguments) and its heredocs.
pub(crate) fn parse(text: &str, heredocs: Vec<Heredoc>, escape: char) -> Result<Instruction, Msg> {
    let text = text.trim();
    let (word, args) = match text.find([' ', '\t']) {
        Some(i) => (&text[..i], text[i..].trim_start()),
        None => (text, ""),
    };
    let upper = word.to_ascii_uppercase();
    let (flag_words, rest) = extract_flags(args);
    let rest = rest.trim();
    let flags = |spec: &[(&str, Kind)]| Flags::parse(&flag_words, spec);
    let at_least_one = |rest: &str| {
        if rest.is_empty() {
            Err(format!("{upper} requires at least one argument"))
        } else {
            Ok(())
        }
    };
    let exactly_one = |rest: &str| {
        if rest.is_empty() {
            Err(format!("{upper} requires exactly one argument"))
        } else {
            Ok(())
        }
    };
    let instruction = match upper.as_str() {
        "FROM" => {
            let f = flags(&[("platform", Kind::Str)])?;
            let words = fields(rest);
            let name = match words.len() {
                1 => None,
                3 if words[1].eq_ignore_ascii_case("as") => Some(stage_name(&words[2])?),
                _ => return Err("FROM requires either one or three arguments".into()),
            };
            Instruction::From(From {
                image: words[0].clone(),
                name,
                platform: f.string("platform"),
            })
        }
        "RUN" => {
            let f = flags(&[
                ("mount", Kind::List),
                ("network", Kind::Str),
                ("security", Kind::Str),
            ])?;
            at_least_one(rest)?;
            let mounts = f
                .list("mount")
                .iter()
                .map(|m| flags::mount(m))
                .collect::<Result<_, _>>()?;
            Instruction::Run(Run {
                command: command(rest),
                heredocs,
                mounts,
                network: f
                    .string("network")
                    .map(|n| flags::network(&n))
                    .transpose()?,
                security: f
                    .string("security")
                    .map(|s| flags::security(&s))
                    .transpose()?,
            })
        }
        "CMD" | "ENTRYPOINT" => {
            flags(&[])?;
            at_least_one(rest)?;
            let c = command(rest);
            if upper == "CMD" {
                Instruction::Cmd(c)
            } else {
                Instruction::Entrypoint(c)
            }
        }
        "SHELL" => {
            flags(&[])?;
            at_least_one(rest)?;
            let Some(words) = json_array(rest) else {
                return Err("SHELL requires the arguments to be in JSON form".into());
            };
            if words.is_empty() {
                return Err("SHELL requires at least one argument".into());
            }
            Instruction::Shell(words)
        }
        "ENV" | "LABEL" => {
            flags(&[])?;
            at_least_one(rest)?;
            let pairs = name_values(rest, &upper, escape)?;
            if upper == "ENV" {
                Instruction::Env(pairs)
            } else {
                Instruction::Label(pairs)
            }
        }
        "MAINTAINER" => {
            flags(&[])?;
            exactly_one(rest)?;
            Instruction::Maintainer(rest.to_string())
        }
        "USER" | "WORKDIR" | "STOPSIGNAL" => {
            flags(&[])?;
            exactly_one(rest)?;
            match upper.as_str() {
                "USER" => Instruction::User(rest.to_string()),
                "WORKDIR" => Instruction::Workdir(rest.to_string()),
                _ => Instruction::Stopsignal(rest.to_string()),
            }
        }
        "EXPOSE" => {
            flags(&[])?;
            at_least_one(rest)?;
            let ports = fields(rest);
            for p in ports.iter().filter(|p| !p.contains('$')) {
                check_port(p)?;
            }
            Instruction::Expose(ports)
        }
        "VOLUME" => {
            flags(&[])?;
            at_least_one(rest)?;
            let vols = json_array(rest).unwrap_or_else(|| fields(rest));
            if vols.is_empty() {
                return Err("VOLUME requires at least one argument".into());
            }
            if vols.iter().any(|v| v.trim().is_empty()) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            Instruction::Volume(vols)
        }
        "ARG" => {
            flags(&[])?;
            at_least_one(rest)?;
            let mut decls = Vec::new();
            for word in split_words(rest, escape) {
                let (name, default) = match word.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (word, None),
                };
                if name.is_empty() {
                    return Err("ARG names can not be blank".into());
                }
                decls.push(ArgDecl { name, default });
            }
            Instruction::Arg(decls)
        }
        "COPY" | "ADD" => {
            let f = if upper == "COPY" {
                flags(&[
                    ("from", Kind::Str),
                    ("chown", Kind::Str),
                    ("chmod", Kind::Str),
                    ("link", Kind::Bool),
                    ("parents", Kind::Bool),
                    ("exclude", Kind::List),
                ])?
            } else {
                flags(&[
                    ("chown", Kind::Str),
                    ("chmod", Kind::Str),
                    ("link", Kind::Bool),
                    ("exclude", Kind::List),
                    ("checksum", Kind::Str),
                    ("keep-git-dir", Kind::Bool),
                ])?
            };
            let json = json_array(rest);
            let mut words = json.clone().unwrap_or_else(|| fields(rest));
            match words.len() {
                0 => return Err(format!("{upper} requires at least two arguments")),
                1 => {
                    return Err(format!(
                        "{upper} requires at least two arguments, but only one was provided. Destination could not be determined"
                    ))
                }
                _ => {}
            }
            let dest = words.pop().expect("two words or more");
            let mut sources = Vec::new();
            let mut docs = heredocs.into_iter();
            let mut inline = Vec::new();
            for w in words {
                if json.is_none() && crate::lines::heredoc_word(&w).is_some() {
                    if let Some(h) = docs.next() {
                        inline.push(h);
                        continue;
                    }
                }
                sources.push(w);
            }
            if let Some(mode) = f.string("chmod").filter(|m| !m.contains('$')) {
                check_chmod(&mode)?;
            }
            let copy = Copy {
                sources,
                heredocs: inline,
                dest,
                json: json.is_some(),
                from: f.string("from"),
                chown: f.string("chown"),
                chmod: f.string("chmod"),
                link: f.boolean("link").unwrap_or(false),
                parents: f.boolean("parents").unwrap_or(false),
                exclude: f.list("exclude"),
                checksum: f.string("checksum"),
                keep_git_dir: f.boolean("keep-git-dir"),
            };
            if upper == "COPY" {
                Instruction::Copy(copy)
            } else {
                Instruction::Add(copy)
            }
        }
        "HEALTHCHECK" => {
            let f = flags(&[
                ("interval", Kind::Str),
                ("timeout", Kind::Str),
                ("start-period", Kind::Str),
                ("start-interval", Kind::Str),
                ("retries", Kind::Str),
            ])?;
            at_least_one(rest)?;
            let (kind, cmd) = match rest.find([' ', '\t']) {
                Some(i) => (&rest[..i], rest[i..].trim()),
                None => (rest, ""),
            };
            match kind.to_ascii_uppercase().as_str() {
                "NONE" => {
                    if !cmd.is_empty() {
                        return Err("HEALTHCHECK NONE takes no arguments".into());
                    }
                    Instruction::Healthcheck(Healthcheck::None)
                }
                "CMD" => {
                    if cmd.is_empty() {
                        return Err("Missing command after HEALTHCHECK CMD".into());
                    }
                    let interval = |name: &str| -> Result<Option<Duration>, Msg> {
                        let Some(v) = f.string(name) else {
                            return Ok(None);
                        };
                        let d = flags::parse_duration(&v).map_err(|e| {
                            if e == "negative" {
                                format!("Interval \"{name}\" cannot be negative")
                            } else {
                                e
                            }
                        })?;
                        if !d.is_zero() && d < Duration::from_millis(1) {
                            return Err(format!("Interval \"{name}\" cannot be less than 1ms"));
                        }
                        Ok(Some(d))
                    };
                    let retries = match f.string("retries") {
                        None => None,
                        Some(r) => {
                            let n: i64 = r.parse().map_err(|_| {
                                format!("strconv.ParseInt: parsing \"{r}\": invalid syntax")
                            })?;
                            if n < 0 {
                                return Err(format!("--retries cannot be negative ({n})"));
                            }
                            Some(
                                u32::try_from(n)
                                    .map_err(|_| format!("--retries too large ({n})"))?,
                            )
                        }
                    };
                    Instruction::Healthcheck(Healthcheck::Check {
                        command: command(cmd),
                        interval: interval("interval")?,
                        timeout: interval("timeout")?,
                        start_period: interval("start-period")?,
                        start_interval: interval("start-interval")?,
                        retries,
                    })
                }
                other => {
                    return Err(format!(
                        "Unknown type \"{}\" in HEALTHCHECK (try CMD)",
                        other
                    ))
                }
            }
        }
        "ONBUILD" => {
            flags(&[])?;
            at_least_one(rest)?;
            let inner = crate::lines::keyword(rest).to_ascii_uppercase();
            match inner.as_str() {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                "FROM" | "MAINTAINER" => {
                    return Err(format!("{inner} isn't allowed as an ONBUILD trigger"))
                }
                _ => {}
            }
            let trigger = parse(rest, heredocs, escape)?;
            Instruction::Onbuild {
                expression: rest.to_string(),
                trigger: Box::new(trigger),
            }
        }
        _ => return Err(format!("unknown instruction: {word}")),
    };
    Ok(instruction)
}

fn command(rest: &str) -> Command {
    match json_array(rest) {
        Some(words) => Command::Exec(words),
        None => Command::Shell(rest.to_string()),
    }
}

/// A stage name: a letter, then letters, digits, `-`, `_`, `.`; stored lower case.
fn stage_name(name: &str) -> Result<String, Msg> {
    let lower = name.to_ascii_lowercase();
    let mut chars = lower.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(format!("invalid name for build stage: \"{name}\", name can't start with a number or contain symbols"));
    }
    Ok(lower)
}

/// ENV and LABEL: `k=v …`, or the legacy `k v` (everything after the first blank).
fn name_values(rest: &str, keyword: &str, escape: char) -> Result<Vec<KeyValue>, Msg> {
    let words = split_words(rest, escape);
    let Some(first) = words.first() else {
        return Err(format!("{keyword} requires at least one argument"));
    };
    if !first.contains('=') {
        let Some(i) = rest.find(char::is_whitespace) else {
            return Err(format!("{keyword} must have two arguments"));
        };
        let (key, value) = (&rest[..i], rest[i..].trim_start());
        return Ok(vec![KeyValue {
            key: key.to_string(),
            value: value.to_string(),
        }]);
    }
    let mut pairs = Vec::new();
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in \"{word}\". Must be of the form: name=value"
            ));
        };
        if key.is_empty() {
            return Err(format!("{keyword} names can not be blank"));
        }
        pairs.push(KeyValue {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Ok(pairs)
}

/// `80`, `80/tcp`, `53/udp`, `8000-8010/sctp`.
pub(crate) fn check_port(p: &str) -> Result<(), Msg> {
    let (ports, proto) = match p.split_once('/') {
        Some((ports, proto)) => (ports, proto),
        None => (p, "tcp"),
    };
    if !matches!(proto.to_ascii_lowercase().as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("Invalid proto: {proto}"));
    }
    let port = |s: &str| s.parse::<u16>().ok().filter(|n| *n > 0);
    let ok = match ports.split_once('-') {
        Some((a, b)) => matches!((port(a), port(b)), (Some(a), Some(b)) if a <= b),
        None => port(ports).is_some(),
    };
    if !ok {
        return Err(format!("Invalid containerPort: {ports}"));
    }
    Ok(())
}

/// `--chmod`: an octal mode up to 07777.
pub(crate) fn check_chmod(mode: &str) -> Result<(), Msg> {
    match u32::from_str_radix(mode, 8) {
        Ok(m) if m <= 0o7777 => Ok(()),
        _ => Err(format!("invalid chmod parameter: \"{mode}\". it should be octal string and between 0 and 07777")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Instruction {
        parse(line, Vec::new(), '\\').unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn err(line: &str) -> String {
        parse(line, Vec::new(), '\\').unwrap_err()
    }

    #[test]
    fn from_forms() {
        assert_eq!(
            p("from --platform=linux/arm64 busybox:1 as Build"),
            Instruction::From(From {
                image: "busybox:1".into(),
                name: Some("build".into()),
                platform: Some("linux/arm64".into())
            })
        );
        assert_eq!(
            err("FROM a b"),
            "FROM requires either one or three arguments"
        );
        assert_eq!(
            err("FROM a is b"),
            "FROM requires either one or three arguments"
        );
        assert_eq!(err("FROM"), "FROM requires either one or three arguments");
        assert_eq!(err("FROM a AS 1x"), "invalid name for build stage: \"1x\", name can't start with a number or contain symbols");
        assert_eq!(err("FROM --plat=x a"), "unknown flag: plat");
    }

    #[test]
    fn exec_and_shell_forms() {
        assert_eq!(
            p(r#"CMD ["echo", "hi"]"#),
            Instruction::Cmd(Command::Exec(vec!["echo".into(), "hi".into()]))
        );
        assert_eq!(
            p("CMD echo hi"),
            Instruction::Cmd(Command::Shell("echo hi".into()))
        );
        // Not valid JSON: the shell form, as written.
        assert_eq!(
            p("ENTRYPOINT [\"a\", b]"),
            Instruction::Entrypoint(Command::Shell("[\"a\", b]".into()))
        );
        assert_eq!(
            p("ENTRYPOINT ['a']"),
            Instruction::Entrypoint(Command::Shell("['a']".into()))
        );
        assert_eq!(
            p("SHELL [\"bash\", \"-c\"]"),
            Instruction::Shell(vec!["bash".into(), "-c".into()])
        );
        assert_eq!(
            err("SHELL bash -c"),
            "SHELL requires the arguments to be in JSON form"
        );
        assert_eq!(err("CMD --x"), "unknown flag: x");
        assert_eq!(err("RUN"), "RUN requires at least one argument");
    }

    #[test]
    fn run_flags() {
        let Instruction::Run(r) =
            p("RUN --mount=type=cache,target=/c --network=none --security=insecure make")
        else {
            panic!()
        };
        assert_eq!(r.command, Command::Shell("make".into()));
        assert_eq!(
            (r.mounts.len(), r.network, r.security),
            (1, Some(NetworkMode::None), Some(SecurityMode::Insecure))
        );
        assert_eq!(
            err("RUN --network=bridge x"),
            "unsupported network mode \"bridge\""
        );
        assert_eq!(
            err("RUN --mount=type=nfs,target=/x x"),
            "unsupported mount type \"nfs\""
        );
    }

    #[test]
    fn env_and_label() {
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: v.into(),
        };
        assert_eq!(
            p(r#"ENV a=1 b="x y" c=z\ w"#),
            Instruction::Env(vec![kv("a", "1"), kv("b", "\"x y\""), kv("c", r"z\ w")])
        );
        assert_eq!(
            p(r#"ENV MESSAGE "nothing to say""#),
            Instruction::Env(vec![kv("MESSAGE", "\"nothing to say\"")])
        );
        assert_eq!(
            p("LABEL version 1 2"),
            Instruction::Label(vec![kv("version", "1 2")])
        );
        assert_eq!(
            err("ENV a=1 x"),
            "Syntax error - can't find = in \"x\". Must be of the form: name=value"
        );
        assert_eq!(err("ENV =1"), "ENV names can not be blank");
        assert_eq!(err("ENV x"), "ENV must have two arguments");
        assert_eq!(err("LABEL"), "LABEL requires at least one argument");
    }

    #[test]
    fn copy_and_add() {
        let Instruction::Copy(c) =
            p("COPY --from=b --chown=1:2 --chmod=644 --link --parents --exclude=*.md a b /d/")
        else {
            panic!()
        };
        assert_eq!(
            (c.sources, c.dest),
            (vec!["a".to_string(), "b".into()], "/d/".to_string())
        );
        assert_eq!(
            (c.from.as_deref(), c.chown.as_deref(), c.chmod.as_deref()),
            (Some("b"), Some("1:2"), Some("644"))
        );
        assert_eq!(
            (c.link, c.parents, c.exclude),
            (true, true, vec!["*.md".to_string()])
        );
        let Instruction::Add(a) =
            p(r#"ADD --checksum=sha256:00 --keep-git-dir=true ["u v", "/x"]"#)
        else {
            panic!()
        };
        assert_eq!(
            (a.sources, a.dest, a.json),
            (vec!["u v".to_string()], "/x".to_string(), true)
        );
        assert_eq!(
            (a.checksum.as_deref(), a.keep_git_dir),
            (Some("sha256:00"), Some(true))
        );
        assert_eq!(err("ADD --from=x a b"), "unknown flag: from");
        assert_eq!(err("COPY --checksum=x a b"), "unknown flag: checksum");
        assert_eq!(err("COPY a"), "COPY requires at least two arguments, but only one was provided. Destination could not be determined");
        assert_eq!(
            err("COPY --chmod=999 a b"),
            "invalid chmod parameter: \"999\". it should be octal string and between 0 and 07777"
        );
    }

    #[test]
    fn healthcheck() {
        assert_eq!(
            p("HEALTHCHECK none"),
            Instruction::Healthcheck(Healthcheck::None)
        );
        let Instruction::Healthcheck(Healthcheck::Check { command, interval, timeout, start_period, start_interval, retries }) =
            p("HEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --start-interval=1s --retries=3 CMD [\"true\"]")
        else {
            panic!()
        };
        assert_eq!(command, Command::Exec(vec!["true".into()]));
        assert_eq!(interval, Some(Duration::from_secs(30)));
        assert_eq!(timeout, Some(Duration::from_secs(90)));
        assert_eq!(start_period, Some(Duration::from_millis(500)));
        assert_eq!(
            (start_interval, retries),
            (Some(Duration::from_secs(1)), Some(3))
        );
        assert_eq!(
            err("HEALTHCHECK NONE x"),
            "HEALTHCHECK NONE takes no arguments"
        );
        assert_eq!(
            err("HEALTHCHECK RUN x"),
            "Unknown type \"RUN\" in HEALTHCHECK (try CMD)"
        );
        assert_eq!(
            err("HEALTHCHECK --retries=-1 CMD x"),
            "--retries cannot be negative (-1)"
        );
        assert_eq!(
            err("HEALTHCHECK --interval=1us CMD x"),
            "Interval \"interval\" cannot be less than 1ms"
        );
        assert_eq!(
            err("HEALTHCHECK --timeout=5 CMD x"),
            "time: missing unit in duration \"5\""
        );
    }

    #[test]
    fn small_ones() {
        assert_eq!(
            p("EXPOSE 80 80/tcp 53/udp 8000-8010/tcp"),
            Instruction::Expose(vec![
                "80".into(),
                "80/tcp".into(),
                "53/udp".into(),
                "8000-8010/tcp".into()
            ])
        );
        assert_eq!(err("EXPOSE 80/xyz"), "Invalid proto: xyz");
        assert_eq!(err("EXPOSE 99999"), "Invalid containerPort: 99999");
        assert_eq!(
            p("VOLUME [\"/a\", \"/b\"]"),
            Instruction::Volume(vec!["/a".into(), "/b".into()])
        );
        assert_eq!(
            p("VOLUME /a /b"),
            Instruction::Volume(vec!["/a".into(), "/b".into()])
        );
        assert_eq!(
            err("VOLUME [\"\"]"),
            "VOLUME specified can not be an empty string"
        );
        assert_eq!(p("USER app:staff"), Instruction::User("app:staff".into()));
        assert_eq!(user_and_group("app:staff"), ("app", Some("staff")));
        assert_eq!(err("WORKDIR"), "WORKDIR requires exactly one argument");
        assert_eq!(
            p("ARG a b=2 c="),
            Instruction::Arg(vec![
                ArgDecl {
                    name: "a".into(),
                    default: None
                },
                ArgDecl {
                    name: "b".into(),
                    default: Some("2".into())
                },
                ArgDecl {
                    name: "c".into(),
                    default: Some(String::new())
                },
            ])
        );
        assert_eq!(err("ARG =x"), "ARG names can not be blank");
        assert_eq!(err("RUNN x"), "unknown instruction: RUNN");
    }

    #[test]
    fn onbuild() {
        let Instruction::Onbuild {
            expression,
            trigger,
        } = p("ONBUILD run echo hi")
        else {
            panic!()
        };
        assert_eq!(expression, "run echo hi");
        assert_eq!(
            *trigger,
            Instruction::Run(Run {
                command: Command::Shell("echo hi".into()),
                heredocs: vec![],
                mounts: vec![],
                network: None,
                security: None
            })
        );
        assert_eq!(
            err("ONBUILD ONBUILD RUN x"),
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
        );
        assert_eq!(
            err("ONBUILD FROM x"),
            "FROM isn't allowed as an ONBUILD trigger"
        );
        assert_eq!(
            err("ONBUILD maintainer x"),
            "MAINTAINER isn't allowed as an ONBUILD trigger"
        );
        assert_eq!(err("ONBUILD FOO x"), "unknown instruction: FOO");
    }
}
