//! The Dockerfile instructions `docker import --change` and `docker commit --change`
//! accept (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, ONBUILD,
//! STOPSIGNAL), parsed one line at a time and applied to an image's run config. A
//! small parser on purpose: the full Dockerfile parser belongs to berth-build.
//!
//! One deliberate difference from Docker: an argument that starts with `[` but is not
//! a valid JSON string array is an error here, where Docker silently falls back to the
//! shell form (running `/bin/sh -c '["a",'` is never what was meant).

use crate::model::RunConfig;
use std::collections::BTreeMap;

/// Why a change instruction was refused; names the instruction as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("{0} is not a valid change command")]
    NotAllowed(String),
    #[error("invalid change {change:?}: {reason}")]
    Invalid { change: String, reason: String },
}

/// One parsed change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Cmd(Vec<String>),
    Entrypoint(Vec<String>),
    Env(Vec<(String, String)>),
    /// Port keys as Docker stores them: `80/tcp`.
    Expose(Vec<String>),
    Label(Vec<(String, String)>),
    User(String),
    Volume(Vec<String>),
    Workdir(String),
    Onbuild(String),
    StopSignal(String),
}

/// Parse one `--change` line.
pub fn parse_change(line: &str) -> Result<Change, ChangeError> {
    let line = line.trim();
    let (word, rest) = match line.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (line, ""),
    };
    let inv = |reason: &str| ChangeError::Invalid {
        change: line.to_string(),
        reason: reason.to_string(),
    };
    let instr = word.to_ascii_uppercase();
    let needs_arg = |r: &str| {
        if r.is_empty() {
            Err(inv(&format!("{instr} requires at least one argument")))
        } else {
            Ok(())
        }
    };
    match instr.as_str() {
        "CMD" | "ENTRYPOINT" => {
            needs_arg(rest)?;
            let argv = if rest.starts_with('[') {
                json_array(rest).map_err(|e| inv(&e))?
            } else {
                vec!["/bin/sh".into(), "-c".into(), rest.to_string()]
            };
            Ok(if instr == "CMD" {
                Change::Cmd(argv)
            } else {
                Change::Entrypoint(argv)
            })
        }
        "ENV" | "LABEL" => {
            needs_arg(rest)?;
            let pairs = name_values(rest).map_err(|e| inv(&e))?;
            Ok(if instr == "ENV" {
                Change::Env(pairs)
            } else {
                Change::Label(pairs)
            })
        }
        "EXPOSE" => {
            needs_arg(rest)?;
            let mut ports = Vec::new();
            for p in rest.split_whitespace() {
                ports.extend(expose(p).map_err(|e| inv(&e))?);
            }
            Ok(Change::Expose(ports))
        }
        "USER" => {
            needs_arg(rest)?;
            Ok(Change::User(rest.to_string()))
        }
        "VOLUME" => {
            needs_arg(rest)?;
            let vols = if rest.starts_with('[') {
                json_array(rest).map_err(|e| inv(&e))?
            } else {
                rest.split_whitespace().map(String::from).collect()
            };
            if vols.is_empty() || vols.iter().any(|v| v.trim().is_empty()) {
                return Err(inv("VOLUME specified can not be an empty string"));
            }
            Ok(Change::Volume(vols))
        }
        "WORKDIR" => {
            needs_arg(rest)?;
            Ok(Change::Workdir(rest.to_string()))
        }
        "ONBUILD" => {
            needs_arg(rest)?;
            let trigger = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            if matches!(trigger.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                return Err(inv(&format!(
                    "{trigger} isn't allowed as an ONBUILD trigger"
                )));
            }
            Ok(Change::Onbuild(rest.to_string()))
        }
        "STOPSIGNAL" => {
            needs_arg(rest)?;
            if !valid_signal(rest) {
                return Err(inv(&format!("invalid signal: {rest}")));
            }
            Ok(Change::StopSignal(rest.to_string()))
        }
        "" => Err(inv("empty change")),
        _ => Err(ChangeError::NotAllowed(word.to_string())),
    }
}

/// Apply `--change` lines, in order, to a run config. An ENTRYPOINT resets a CMD
/// that no earlier change in this list set, as in a Dockerfile.
pub fn apply_changes(cfg: &mut RunConfig, changes: &[String]) -> Result<(), ChangeError> {
    let parsed = changes
        .iter()
        .map(|c| parse_change(c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut cmd_set = false;
    for c in parsed {
        match c {
            Change::Cmd(v) => {
                cfg.cmd = Some(v);
                cmd_set = true;
            }
            Change::Entrypoint(v) => {
                cfg.entrypoint = Some(v);
                if !cmd_set {
                    cfg.cmd = None;
                }
            }
            Change::Env(pairs) => {
                let env = cfg.env.get_or_insert_with(Vec::new);
                for (k, v) in pairs {
                    let kv = format!("{k}={v}");
                    match env
                        .iter_mut()
                        .find(|e| e.split_once('=').map_or(e.as_str(), |x| x.0) == k)
                    {
                        Some(e) => *e = kv,
                        None => env.push(kv),
                    }
                }
            }
            Change::Expose(ports) => {
                let m = cfg.exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in ports {
                    m.insert(p, serde_json::json!({}));
                }
            }
            Change::Label(pairs) => {
                let m = cfg.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in pairs {
                    m.insert(k, v);
                }
            }
            Change::User(u) => cfg.user = Some(u),
            Change::Volume(vs) => {
                let m = cfg.volumes.get_or_insert_with(BTreeMap::new);
                for v in vs {
                    m.insert(v, serde_json::json!({}));
                }
            }
            Change::Workdir(w) => {
                let joined = if w.starts_with('/') {
                    w
                } else {
                    format!("{}/{w}", cfg.working_dir.as_deref().unwrap_or("/"))
                };
                cfg.working_dir = Some(clean_path(&joined));
            }
            Change::Onbuild(t) => cfg.on_build.get_or_insert_with(Vec::new).push(t),
            Change::StopSignal(s) => cfg.stop_signal = Some(s),
        }
    }
    Ok(())
}

fn json_array(s: &str) -> Result<Vec<String>, String> {
    serde_json::from_str::<Vec<String>>(s).map_err(|e| {
        format!("not a JSON array of strings ({e}); use the shell form or fix the JSON")
    })
}

/// Split into words: whitespace separates, quotes group (and are removed), a
/// backslash escapes the next character outside single quotes.
fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("unterminated {q} quote"));
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `k v` (legacy, one pair, the value is the rest of the line) or `k=v k2="v 2"`.
fn name_values(rest: &str) -> Result<Vec<(String, String)>, String> {
    let first = rest.split_whitespace().next().unwrap_or_default();
    if !first.contains('=') {
        let (k, v) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("{first} needs a value: use NAME=VALUE or NAME VALUE"))?;
        let v = words(v.trim())?.join(" ");
        return Ok(vec![(k.to_string(), v)]);
    }
    let mut out = Vec::new();
    for w in words(rest)? {
        let (k, v) = w
            .split_once('=')
            .ok_or_else(|| format!("can't find = in {w:?}; must be of the form: name=value"))?;
        if k.is_empty() {
            return Err("names can not be blank".into());
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`, …
fn expose(p: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match p.split_once('/') {
        Some((a, b)) => (a, b.to_ascii_lowercase()),
        None => (p, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let num = |s: &str| -> Result<u16, String> {
        s.parse::<u16>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("invalid port: {s:?}"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let n = num(ports)?;
            (n, n)
        }
    };
    if hi < lo {
        return Err(format!("invalid port range: {ports}"));
    }
    Ok((lo..=hi).map(|n| format!("{n}/{proto}")).collect())
}

fn valid_signal(s: &str) -> bool {
    if let Ok(n) = s.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let name = s.strip_prefix("SIG").unwrap_or(s);
    !name.is_empty()
        && !s.contains(char::is_whitespace)
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '+' || c == '-')
}

fn clean_path(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Result<RunConfig, ChangeError> {
        let mut c = RunConfig::default();
        let v: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut c, &v)?;
        Ok(c)
    }

    #[test]
    fn every_instruction() {
        let c = apply(&[
            r#"CMD ["/bin/sh", "-c", "echo hi"]"#,
            "ENTRYPOINT /entry.sh --flag",
            "ENV PATH /usr/bin:/bin",
            r#"ENV A=1 B="two words" C=x\ y"#,
            "ENV A=override",
            "EXPOSE 80 53/udp 8000-8002",
            r#"LABEL a=b "c d"="e f""#,
            "LABEL legacy value here",
            "USER 1000:1000",
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /cache /tmp/x",
            "WORKDIR /srv",
            "WORKDIR app/../web",
            "ONBUILD RUN make",
            "STOPSIGNAL SIGINT",
            "cmd echo lower-case instruction",
        ])
        .unwrap();
        assert_eq!(
            c.cmd.unwrap(),
            ["/bin/sh", "-c", "echo lower-case instruction"]
        );
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c", "/entry.sh --flag"]);
        assert_eq!(
            c.env.unwrap(),
            ["PATH=/usr/bin:/bin", "A=override", "B=two words", "C=x y"]
        );
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(
            ports,
            ["53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"]
        );
        let labels = c.labels.unwrap();
        assert_eq!(labels["a"], "b");
        assert_eq!(labels["c d"], "e f");
        assert_eq!(labels["legacy"], "value here");
        assert_eq!(c.user.unwrap(), "1000:1000");
        let vols: Vec<_> = c.volumes.unwrap().into_keys().collect();
        assert_eq!(vols, ["/cache", "/data", "/logs", "/tmp/x"]);
        assert_eq!(c.working_dir.unwrap(), "/srv/web");
        assert_eq!(c.on_build.unwrap(), ["RUN make"]);
        assert_eq!(c.stop_signal.unwrap(), "SIGINT");
    }

    #[test]
    fn entrypoint_resets_an_inherited_cmd_only() {
        let mut c = RunConfig {
            cmd: Some(vec!["old".into()]),
            ..Default::default()
        };
        apply_changes(&mut c, &["ENTRYPOINT [\"/e\"]".into()]).unwrap();
        assert_eq!(c.cmd, None);
        let c = apply(&["CMD [\"x\"]", "ENTRYPOINT [\"/e\"]"]).unwrap();
        assert_eq!(c.cmd.unwrap(), ["x"]);
    }

    #[test]
    fn errors_name_the_problem() {
        let e = apply(&["RUN echo hi"]).unwrap_err();
        assert_eq!(e.to_string(), "RUN is not a valid change command");
        let e = apply(&["FROM scratch"]).unwrap_err();
        assert_eq!(e.to_string(), "FROM is not a valid change command");
        let e = apply(&[r#"CMD ["a","#]).unwrap_err();
        assert!(e.to_string().contains("not a JSON array"), "{e}");
        assert!(e.to_string().contains("CMD"), "{e}");
        let e = apply(&["EXPOSE 99999"]).unwrap_err();
        assert!(e.to_string().contains("invalid port"), "{e}");
        let e = apply(&["EXPOSE 80/icmp"]).unwrap_err();
        assert!(e.to_string().contains("invalid proto"), "{e}");
        let e = apply(&["ENV A=1 B"]).unwrap_err();
        assert!(e.to_string().contains("can't find ="), "{e}");
        let e = apply(&["ENV A=\"unterminated"]).unwrap_err();
        assert!(e.to_string().contains("unterminated"), "{e}");
        let e = apply(&["ONBUILD ONBUILD RUN x"]).unwrap_err();
        assert!(e.to_string().contains("isn't allowed"), "{e}");
        let e = apply(&["STOPSIGNAL kill me"]).unwrap_err();
        assert!(e.to_string().contains("invalid signal"), "{e}");
        let e = apply(&["USER"]).unwrap_err();
        assert!(
            e.to_string().contains("requires at least one argument"),
            "{e}"
        );
        // Nothing is applied when one change is bad.
        let mut c = RunConfig::default();
        assert!(apply_changes(&mut c, &["USER x".into(), "BOGUS".into()]).is_err());
        assert_eq!(c, RunConfig::default());
    }
}
