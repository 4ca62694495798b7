//! Walks tests/corpus: every `NAME.dockerfile` parses (and substitutes) to what
//! `NAME.expected` says; every `malformed/NAME.dockerfile` is refused with the error in
//! `malformed/NAME.expected`. Lines `# build-arg: K=V` in a Dockerfile are `--build-arg`s.
//! `BERTH_BLESS=1` writes missing `.expected` files (review them before committing).

use berth_build::{
    expand, BuildArgs, Command, Copy, Dockerfile, Healthcheck, Heredoc, Instruction, Mount,
    Platform, Step,
};
use std::fmt::Write;
use std::path::{Path, PathBuf};

fn command(c: &Command) -> String {
    match c {
        Command::Exec(v) => format!("exec {v:?}"),
        Command::Shell(s) => format!("shell {s:?}"),
    }
}

fn heredocs(h: &[Heredoc]) -> String {
    h.iter()
        .map(|h| {
            format!(
                " <<{}{}{} {:?}",
                if h.chomp { "-" } else { "" },
                h.name,
                if h.expand { "" } else { " (quoted)" },
                h.content
            )
        })
        .collect()
}

fn mount(m: &Mount) -> String {
    let mut s = format!("{:?}", m.kind).to_lowercase();
    for (k, v) in [
        ("target", &m.target),
        ("source", &m.source),
        ("from", &m.from),
        ("id", &m.id),
        ("env", &m.env),
    ] {
        if let Some(v) = v {
            let _ = write!(s, ",{k}={v}");
        }
    }
    let _ = write!(s, ",sharing={:?},ro={}", m.sharing, m.readonly);
    for (k, v) in [
        ("mode", m.mode.map(|m| format!("{m:o}"))),
        ("uid", m.uid.map(|u| u.to_string())),
        ("gid", m.gid.map(|g| g.to_string())),
        ("size", m.size.map(|s| s.to_string())),
    ] {
        if let Some(v) = v {
            let _ = write!(s, ",{k}={v}");
        }
    }
    if m.required {
        s.push_str(",required");
    }
    s
}

fn copy(c: &Copy) -> String {
    let mut s = format!("src={:?} dest={:?}", c.sources, c.dest);
    if c.json {
        s.push_str(" json");
    }
    for (k, v) in [
        ("from", &c.from),
        ("chown", &c.chown),
        ("chmod", &c.chmod),
        ("checksum", &c.checksum),
    ] {
        if let Some(v) = v {
            let _ = write!(s, " {k}={v:?}");
        }
    }
    if c.link {
        s.push_str(" link");
    }
    if c.parents {
        s.push_str(" parents");
    }
    if !c.exclude.is_empty() {
        let _ = write!(s, " exclude={:?}", c.exclude);
    }
    if let Some(k) = c.keep_git_dir {
        let _ = write!(s, " keep-git-dir={k}");
    }
    s + &heredocs(&c.heredocs)
}

fn render(i: &Instruction) -> String {
    let body = match i {
        Instruction::From(f) => {
            let mut s = format!("{:?}", f.image);
            if let Some(n) = &f.name {
                let _ = write!(s, " AS {n}");
            }
            if let Some(p) = &f.platform {
                let _ = write!(s, " platform={p:?}");
            }
            s
        }
        Instruction::Run(r) => {
            let mut s = String::new();
            for m in &r.mounts {
                let _ = write!(s, "mount({}) ", mount(m));
            }
            if let Some(n) = r.network {
                let _ = write!(s, "network={n:?} ");
            }
            if let Some(n) = r.security {
                let _ = write!(s, "security={n:?} ");
            }
            s + &command(&r.command) + &heredocs(&r.heredocs)
        }
        Instruction::Cmd(c) | Instruction::Entrypoint(c) => command(c),
        Instruction::Label(p) | Instruction::Env(p) => p
            .iter()
            .map(|kv| format!("{:?}={:?}", kv.key, kv.value))
            .collect::<Vec<_>>()
            .join(" "),
        Instruction::Maintainer(s)
        | Instruction::User(s)
        | Instruction::Workdir(s)
        | Instruction::Stopsignal(s) => format!("{s:?}"),
        Instruction::Expose(v) | Instruction::Volume(v) | Instruction::Shell(v) => format!("{v:?}"),
        Instruction::Add(c) | Instruction::Copy(c) => copy(c),
        Instruction::Arg(d) => d
            .iter()
            .map(|d| match &d.default {
                Some(v) => format!("{:?}={v:?}", d.name),
                None => format!("{:?}", d.name),
            })
            .collect::<Vec<_>>()
            .join(" "),
        Instruction::Onbuild {
            expression,
            trigger,
        } => format!("{expression:?} -> {}", render(trigger)),
        Instruction::Healthcheck(Healthcheck::None) => "NONE".into(),
        Instruction::Healthcheck(Healthcheck::Check {
            command: c,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        }) => {
            let mut s = String::new();
            for (k, v) in [
                ("interval", interval),
                ("timeout", timeout),
                ("start-period", start_period),
                ("start-interval", start_interval),
            ] {
                if let Some(v) = v {
                    let _ = write!(s, "{k}={v:?} ");
                }
            }
            if let Some(r) = retries {
                let _ = write!(s, "retries={r} ");
            }
            s + &command(c)
        }
    };
    format!("{} {body}", i.keyword())
}

fn step_line(s: &Step) -> String {
    let lines = if s.end_line == s.line {
        format!("L{}", s.line)
    } else {
        format!("L{}-{}", s.line, s.end_line)
    };
    format!("{lines} {}", render(&s.instruction))
}

fn describe(text: &str) -> Result<String, String> {
    let df = Dockerfile::parse(text).map_err(|e| e.to_string())?;
    let mut args = BuildArgs {
        build: Platform {
            os: "linux".into(),
            arch: "amd64".into(),
            variant: String::new(),
        },
        target: Platform {
            os: "linux".into(),
            arch: "arm64".into(),
            variant: String::new(),
        },
        ..BuildArgs::default()
    };
    for l in text.lines() {
        if let Some((k, v)) = l
            .strip_prefix("# build-arg: ")
            .and_then(|a| a.split_once('='))
        {
            args.values.insert(k.into(), v.into());
        }
    }
    let mut out = String::new();
    let d = &df.directives;
    if d.escape != '\\' || d.syntax.is_some() || d.check.is_some() {
        let _ = writeln!(
            out,
            "directives escape={:?} syntax={:?} check={:?}",
            d.escape, d.syntax, d.check
        );
    }
    let (globals, stages) = expand(&df, &args).map_err(|e| e.to_string())?;
    for (s, x) in df.global_args.iter().zip(&globals) {
        let _ = writeln!(out, "global {}", step_line(s));
        if x.instruction != s.instruction {
            let _ = writeln!(out, "  => {}", render(&x.instruction));
        }
    }
    for (stage, x) in df.stages.iter().zip(&stages) {
        let _ = writeln!(
            out,
            "stage {} {}",
            stage.index,
            stage.name.as_deref().unwrap_or("-")
        );
        for (s, e) in stage.steps.iter().zip(&x.steps) {
            let _ = writeln!(out, "  {}", step_line(s));
            if e.instruction != s.instruction {
                let _ = writeln!(out, "    => {}", render(&e.instruction));
            }
        }
        if !x.env.is_empty() {
            let env: Vec<String> = x.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(out, "  env {env:?}");
        }
    }
    Ok(out)
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "dockerfile"))
        .collect();
    v.sort();
    v
}

fn check(path: &Path, got: String, failures: &mut Vec<String>) {
    let expected_path = path.with_extension("expected");
    match std::fs::read_to_string(&expected_path) {
        Ok(want) if want.trim_end() == got.trim_end() => {}
        Ok(want) => failures.push(format!(
            "{}:\n--- expected\n{want}\n--- got\n{got}",
            path.display()
        )),
        Err(_) if std::env::var_os("BERTH_BLESS").is_some() => {
            std::fs::write(&expected_path, got + "\n").expect("writing the expected file");
        }
        Err(e) => failures.push(format!("{}: {e}", expected_path.display())),
    }
}

#[test]
fn corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut failures = Vec::new();
    let good = cases(&root);
    let bad = cases(&root.join("malformed"));
    assert!(
        good.len() >= 30 && bad.len() >= 20,
        "corpus too small: {} good, {} malformed",
        good.len(),
        bad.len()
    );
    for path in &good {
        let text = std::fs::read_to_string(path).expect("reading a corpus file");
        match describe(&text) {
            Ok(got) => check(path, got, &mut failures),
            Err(e) => failures.push(format!("{}: refused: {e}", path.display())),
        }
    }
    for path in &bad {
        let text = std::fs::read_to_string(path).expect("reading a corpus file");
        match describe(&text) {
            Ok(got) => failures.push(format!("{}: accepted:\n{got}", path.display())),
            Err(e) => check(path, e, &mut failures),
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
