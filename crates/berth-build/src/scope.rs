//! Docker's ARG and ENV scoping, and which instructions get variable substitution.
//!
//! ARGs before the first FROM (and the automatic platform ARGs) are the global scope:
//! FROM lines see them, stages do not until they re-declare them (`ARG NAME`). Each
//! stage has its own ARGs and ENV; ENV wins over an ARG of the same name; `--build-arg`
//! values override declared defaults; the proxy ARGs are usable without a declaration
//! when given. ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR,
//! ARG and the flags of COPY/ADD/RUN --mount are substituted; RUN, CMD, ENTRYPOINT,
//! SHELL, HEALTHCHECK, MAINTAINER and ONBUILD are not (the shell or the child build
//! does it).

use crate::dockerfile::{Dockerfile, Step};
use crate::error::ParseError;
use crate::instruction::{check_chmod, check_port, Instruction, KeyValue};
use crate::shell::{Env, Lexer, SubstError};
use std::collections::BTreeSet;

/// ARGs every build has without declaring them (set with `--build-arg`).
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// An OS/architecture pair (`linux/arm64/v8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, …
    pub arch: String,
    /// `v7`, or empty.
    pub variant: String,
}

impl Platform {
    /// The platform this process runs on.
    pub fn host() -> Platform {
        let h = berth_image::model::host_platform();
        Platform {
            os: h.os,
            arch: h.architecture,
            variant: h.variant.unwrap_or_default(),
        }
    }

    /// `os/arch[/variant]`.
    pub fn spec(&self) -> String {
        if self.variant.is_empty() {
            format!("{}/{}", self.os, self.arch)
        } else {
            format!("{}/{}/{}", self.os, self.arch, self.variant)
        }
    }
}

/// What a build is given from outside: `--build-arg`s and the platforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildArgs {
    /// `--build-arg NAME=value`.
    pub values: Env,
    /// Where the build runs (BUILDPLATFORM, …).
    pub build: Platform,
    /// What it builds for (TARGETPLATFORM, …).
    pub target: Platform,
}

impl Default for BuildArgs {
    fn default() -> Self {
        BuildArgs {
            values: Env::new(),
            build: Platform::host(),
            target: Platform::host(),
        }
    }
}

impl BuildArgs {
    fn automatic(&self) -> Env {
        let mut env = Env::new();
        for (prefix, p) in [("BUILD", &self.build), ("TARGET", &self.target)] {
            env.insert(format!("{prefix}PLATFORM"), p.spec());
            env.insert(format!("{prefix}OS"), p.os.clone());
            env.insert(format!("{prefix}ARCH"), p.arch.clone());
            env.insert(format!("{prefix}VARIANT"), p.variant.clone());
        }
        env
    }
}

fn subst_err(step: &Step) -> impl Fn(SubstError) -> ParseError + '_ {
    move |e| ParseError::at(step.line, step.instruction.keyword(), e.to_string())
}

/// The global scope: ARGs before the first FROM, and the automatic platform ARGs.
#[derive(Debug, Clone)]
pub struct GlobalScope {
    lexer: Lexer,
    args: BuildArgs,
    automatic: Env,
    meta: Env,
}

impl GlobalScope {
    /// A scope with only the automatic platform ARGs.
    pub fn new(lexer: Lexer, args: BuildArgs) -> GlobalScope {
        let automatic = args.automatic();
        GlobalScope {
            lexer,
            meta: automatic.clone(),
            automatic,
            args,
        }
    }

    /// Applies a global ARG; returns it with its defaults substituted.
    pub fn declare(&mut self, step: &Step) -> Result<Instruction, ParseError> {
        let Instruction::Arg(decls) = &step.instruction else {
            return Ok(step.instruction.clone());
        };
        let mut out = decls.clone();
        for d in &mut out {
            if let Some(def) = &d.default {
                d.default = Some(
                    self.lexer
                        .process_word(def, &self.meta)
                        .map_err(subst_err(step))?,
                );
            }
            let value = self.args.values.get(&d.name).cloned().or(d.default.clone());
            match value {
                Some(v) => {
                    self.meta.insert(d.name.clone(), v);
                }
                None if !self.automatic.contains_key(&d.name) => {
                    self.meta.remove(&d.name);
                }
                None => {}
            }
        }
        Ok(Instruction::Arg(out))
    }

    /// What FROM lines see.
    pub fn vars(&self) -> &Env {
        &self.meta
    }
}

/// One stage's scope: its ARGs and its ENV (starting from the base image's).
#[derive(Debug, Clone)]
pub struct StageScope<'g> {
    global: &'g GlobalScope,
    env: Vec<(String, String)>,
    args: Env,
    declared: BTreeSet<String>,
}

impl<'g> StageScope<'g> {
    /// A stage over a base whose config has `base_env`.
    pub fn new(global: &'g GlobalScope, base_env: Vec<(String, String)>) -> StageScope<'g> {
        StageScope {
            global,
            env: base_env,
            args: Env::new(),
            declared: BTreeSet::new(),
        }
    }

    /// The stage's ENV so far, in order (what the image's config gets).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// What substitution sees: declared ARGs with a value and given proxy ARGs,
    /// overridden by ENV.
    pub fn vars(&self) -> Env {
        let mut vars = self.args.clone();
        for p in PROXY_ARGS {
            if let Some(v) = self.global.args.values.get(p) {
                vars.entry(p.to_string()).or_insert_with(|| v.clone());
            }
        }
        for (k, v) in &self.env {
            vars.insert(k.clone(), v.clone());
        }
        vars
    }

    /// ARG names declared in this stage (`--build-arg`s never declared are unused).
    pub fn declared(&self) -> &BTreeSet<String> {
        &self.declared
    }

    /// Substitutes `step`'s arguments (where Docker does) and applies ARG and ENV.
    pub fn apply(&mut self, step: &Step) -> Result<Instruction, ParseError> {
        let vars = self.vars();
        let expanded = expand_instruction(&step.instruction, self.global.lexer, &vars)
            .map_err(|m| ParseError::at(step.line, step.instruction.keyword(), m))?;
        match &expanded {
            Instruction::Env(pairs) => {
                for KeyValue { key, value } in pairs {
                    match self.env.iter_mut().find(|(k, _)| k == key) {
                        Some(slot) => slot.1 = value.clone(),
                        None => self.env.push((key.clone(), value.clone())),
                    }
                }
            }
            Instruction::Arg(decls) => {
                for d in decls {
                    self.declared.insert(d.name.clone());
                    let value = self
                        .global
                        .args
                        .values
                        .get(&d.name)
                        .cloned()
                        .or(d.default.clone())
                        .or_else(|| self.global.meta.get(&d.name).cloned());
                    match value {
                        Some(v) => self.args.insert(d.name.clone(), v),
                        None => self.args.remove(&d.name),
                    };
                }
            }
            _ => {}
        }
        Ok(expanded)
    }
}

fn expand_instruction(i: &Instruction, lexer: Lexer, vars: &Env) -> Result<Instruction, String> {
    let w = |s: &String| lexer.process_word(s, vars).map_err(|e| e.to_string());
    let opt = |s: &Option<String>| s.as_ref().map(w).transpose();
    let all = |v: &Vec<String>| v.iter().map(w).collect::<Result<Vec<_>, _>>();
    Ok(match i {
        Instruction::From(f) => {
            let mut f = f.clone();
            f.image = w(&f.image)?;
            f.platform = opt(&f.platform)?;
            Instruction::From(f)
        }
        Instruction::Copy(c) | Instruction::Add(c) => {
            let mut c = c.clone();
            c.sources = all(&c.sources)?;
            c.dest = w(&c.dest)?;
            c.from = opt(&c.from)?;
            c.chown = opt(&c.chown)?;
            c.chmod = opt(&c.chmod)?;
            if let Some(m) = &c.chmod {
                check_chmod(m)?;
            }
            c.exclude = all(&c.exclude)?;
            c.checksum = opt(&c.checksum)?;
            if matches!(i, Instruction::Copy(_)) {
                Instruction::Copy(c)
            } else {
                Instruction::Add(c)
            }
        }
        Instruction::Env(p) | Instruction::Label(p) => {
            let pairs = p
                .iter()
                .map(|kv| {
                    Ok(KeyValue {
                        key: w(&kv.key)?,
                        value: w(&kv.value)?,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            if pairs.iter().any(|kv| kv.key.is_empty()) {
                return Err(format!("{} names can not be blank", i.keyword()));
            }
            if matches!(i, Instruction::Env(_)) {
                Instruction::Env(pairs)
            } else {
                Instruction::Label(pairs)
            }
        }
        Instruction::Expose(ports) => {
            // A substituted word may hold several ports.
            let mut out = Vec::new();
            for p in ports {
                for port in w(p)?.split_whitespace() {
                    check_port(port)?;
                    out.push(port.to_string());
                }
            }
            Instruction::Expose(out)
        }
        Instruction::Volume(v) => Instruction::Volume(all(v)?),
        Instruction::User(s) => Instruction::User(w(s)?),
        Instruction::Workdir(s) => Instruction::Workdir(w(s)?),
        Instruction::Stopsignal(s) => Instruction::Stopsignal(w(s)?),
        Instruction::Arg(decls) => {
            let mut decls = decls.clone();
            for d in &mut decls {
                d.default = opt(&d.default)?;
            }
            Instruction::Arg(decls)
        }
        Instruction::Run(r) => {
            let mut r = r.clone();
            for m in &mut r.mounts {
                m.target = opt(&m.target)?;
                m.source = opt(&m.source)?;
                m.from = opt(&m.from)?;
                m.id = opt(&m.id)?;
            }
            Instruction::Run(r)
        }
        other => other.clone(),
    })
}

/// A stage after substitution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandedStage {
    /// Its position.
    pub index: usize,
    /// `AS name`.
    pub name: Option<String>,
    /// The steps, instructions substituted (`original` unchanged).
    pub steps: Vec<Step>,
    /// The ENV at the end of the stage.
    pub env: Vec<(String, String)>,
}

/// Substitutes a whole Dockerfile as if every base image had an empty ENV (a stage
/// built on an earlier stage starts from that stage's ENV). The builder does the same
/// walk with the real base images' ENV.
pub fn expand(
    df: &Dockerfile,
    args: &BuildArgs,
) -> Result<(Vec<Step>, Vec<ExpandedStage>), ParseError> {
    let mut global = GlobalScope::new(Lexer::new(df.directives.escape), args.clone());
    let mut globals = Vec::new();
    for step in &df.global_args {
        let instruction = global.declare(step)?;
        globals.push(Step {
            instruction,
            ..step.clone()
        });
    }
    let mut stages: Vec<ExpandedStage> = Vec::new();
    for stage in &df.stages {
        let from_step = &stage.steps[0];
        let from = expand_instruction(&from_step.instruction, global.lexer, global.vars())
            .map_err(|m| ParseError::at(from_step.line, "FROM", m))?;
        let base_env = match &from {
            Instruction::From(f) => df
                .stage_ref(&f.image, stage.index)
                .map(|i| stages[i].env.clone())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let mut scope = StageScope::new(&global, base_env);
        let mut steps = vec![Step {
            instruction: from,
            ..from_step.clone()
        }];
        for step in &stage.steps[1..] {
            let instruction = scope.apply(step)?;
            steps.push(Step {
                instruction,
                ..step.clone()
            });
        }
        stages.push(ExpandedStage {
            index: stage.index,
            name: stage.name.clone(),
            steps,
            env: scope.env().to_vec(),
        });
    }
    Ok((globals, stages))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> BuildArgs {
        let mut a = BuildArgs {
            build: Platform {
                os: "linux".into(),
                arch: "amd64".into(),
                variant: String::new(),
            },
            target: Platform {
                os: "linux".into(),
                arch: "arm".into(),
                variant: "v7".into(),
            },
            ..BuildArgs::default()
        };
        for (k, v) in pairs {
            a.values.insert(k.to_string(), v.to_string());
        }
        a
    }

    fn run(src: &str, a: &BuildArgs) -> Vec<ExpandedStage> {
        expand(&Dockerfile::parse(src).unwrap(), a).unwrap().1
    }

    fn env_of(s: &ExpandedStage) -> Vec<String> {
        s.env.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    #[test]
    fn env_sees_previous_values_only() {
        // The Dockerfile reference's example: def gets the value before this ENV.
        let s = run(
            "FROM scratch\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n",
            &args(&[]),
        );
        assert_eq!(env_of(&s[0]), vec!["abc=bye", "def=hello", "ghi=bye"]);
    }

    #[test]
    fn global_args_only_in_from_until_redeclared() {
        let src =
            "ARG TAG=1.0\nARG BASE=busybox:${TAG}\nFROM $BASE\nENV a=x$TAG\nARG TAG\nENV b=$TAG\n";
        let s = run(src, &args(&[]));
        let Instruction::From(f) = &s[0].steps[0].instruction else {
            panic!()
        };
        assert_eq!(f.image, "busybox:1.0");
        assert_eq!(env_of(&s[0]), vec!["a=x", "b=1.0"]);
        let s = run(src, &args(&[("TAG", "2")]));
        assert_eq!(env_of(&s[0]), vec!["a=x", "b=2"]);
    }

    #[test]
    fn stages_have_their_own_scope() {
        let src = "FROM scratch AS one\nARG X=1\nENV E=$X\nFROM one\nENV F=$X-$E\nFROM scratch\nENV G=$E\n";
        let s = run(src, &args(&[]));
        assert_eq!(env_of(&s[1]), vec!["E=1", "F=-1"]);
        assert_eq!(env_of(&s[2]), vec!["G="]);
    }

    #[test]
    fn env_wins_over_arg_and_build_args_override_defaults() {
        let s = run(
            "FROM scratch\nENV V=env\nARG V=arg\nARG W=dflt\nENV out=$V/$W\n",
            &args(&[("W", "given")]),
        );
        assert_eq!(env_of(&s[0])[1], "out=env/given");
    }

    #[test]
    fn proxy_and_platform_args() {
        let src = "FROM --platform=$BUILDPLATFORM scratch\nENV p=$http_proxy t=$TARGETARCH\nARG TARGETARCH\nARG TARGETPLATFORM\nENV t=$TARGETARCH q=$TARGETPLATFORM u=$HTTPS_PROXY\n";
        let s = run(src, &args(&[("http_proxy", "http://p:3128")]));
        let Instruction::From(f) = &s[0].steps[0].instruction else {
            panic!()
        };
        assert_eq!(f.platform.as_deref(), Some("linux/amd64"));
        assert_eq!(
            env_of(&s[0]),
            vec!["p=http://p:3128", "t=arm", "q=linux/arm/v7", "u="]
        );
    }

    #[test]
    fn what_is_not_substituted() {
        let s = run(
            "FROM scratch\nENV X=1\nRUN echo $X\nCMD echo $X\nMAINTAINER $X\nWORKDIR /$X\n",
            &args(&[]),
        );
        assert_eq!(
            s[0].steps[2].instruction,
            Dockerfile::parse("FROM a\nRUN echo $X").unwrap().stages[0].steps[1].instruction
        );
        assert_eq!(
            s[0].steps[4].instruction,
            Instruction::Maintainer("$X".into())
        );
        assert_eq!(s[0].steps[5].instruction, Instruction::Workdir("/1".into()));
    }

    #[test]
    fn substitution_errors_name_the_line() {
        let e = expand(
            &Dockerfile::parse("FROM scratch\nENV a=1\nWORKDIR ${a").unwrap(),
            &args(&[]),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "dockerfile parse error on line 3: failed to process \"${a\": missing ':' in substitution");
        let e = expand(
            &Dockerfile::parse("FROM scratch\nARG P=99999\nEXPOSE $P").unwrap(),
            &args(&[]),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 3: Invalid containerPort: 99999"
        );
    }
}
