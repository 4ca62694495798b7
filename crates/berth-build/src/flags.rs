//! Instruction flags (`--from=…`, `--link`, `RUN --mount=…`) and the values they take:
//! Go-style durations, mounts, network and security modes.

use crate::error::Msg;
use std::time::Duration;

/// What one instruction accepts.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// `--name=value`.
    Str,
    /// `--name`, `--name=true|false`.
    Bool,
    /// `--name=value`, repeatable.
    List,
}

/// The flags given to one instruction, checked against what it accepts.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    given: Vec<(String, Option<String>)>,
}

impl Flags {
    /// Parses `--name[=value]` words (without their `--` checked yet) for an instruction
    /// accepting `spec`.
    pub(crate) fn parse(words: &[String], spec: &[(&str, Kind)]) -> Result<Flags, Msg> {
        let mut given: Vec<(String, Option<String>)> = Vec::new();
        for word in words {
            let body = word.strip_prefix("--").unwrap_or(word);
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let Some((_, kind)) = spec.iter().find(|(n, _)| *n == name) else {
                return Err(format!("unknown flag: {name}"));
            };
            if !matches!(kind, Kind::List) && given.iter().any(|(n, _)| n == name) {
                return Err(format!("Duplicate flag specified: {name}"));
            }
            match kind {
                Kind::Bool => {
                    if let Some(v) = &value {
                        if !matches!(v.to_ascii_lowercase().as_str(), "true" | "false") {
                            return Err(format!(
                                "expecting boolean value for flag {name}, not: {v}"
                            ));
                        }
                    }
                }
                _ => {
                    if value.is_none() {
                        return Err(format!("Missing a value on flag: {name}"));
                    }
                }
            }
            given.push((name.to_string(), value));
        }
        Ok(Flags { given })
    }

    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.given
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone())
    }

    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.given
            .iter()
            .filter(|(n, _)| n == name)
            .filter_map(|(_, v)| v.clone())
            .collect()
    }

    /// `None` when absent, `Some(true)` for a bare `--name`.
    pub(crate) fn boolean(&self, name: &str) -> Option<bool> {
        self.given
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref().is_none_or(|v| v.eq_ignore_ascii_case("true")))
    }
}

/// Parses a Go duration: `300ms`, `1.5h`, `1m30s`, `0`.
pub fn parse_duration(s: &str) -> Result<Duration, Msg> {
    let nanos = berth_types::time::parse_go_duration(s)?;
    if nanos < 0 {
        return Err("negative".into());
    }
    Ok(Duration::from_nanos(
        u64::try_from(nanos).unwrap_or(u64::MAX),
    ))
}

/// `RUN --network=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// The build's network.
    Default,
    /// No network at all.
    None,
    /// The host's network.
    Host,
}

pub(crate) fn network(s: &str) -> Result<NetworkMode, Msg> {
    match s {
        "default" => Ok(NetworkMode::Default),
        "none" => Ok(NetworkMode::None),
        "host" => Ok(NetworkMode::Host),
        _ => Err(format!("unsupported network mode \"{s}\"")),
    }
}

/// `RUN --security=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityMode {
    /// The default confinement.
    Sandbox,
    /// Privileged.
    Insecure,
}

pub(crate) fn security(s: &str) -> Result<SecurityMode, Msg> {
    match s {
        "sandbox" => Ok(SecurityMode::Sandbox),
        "insecure" => Ok(SecurityMode::Insecure),
        _ => Err(format!("unsupported security mode \"{s}\"")),
    }
}

/// `RUN --mount=type=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    /// A directory of the context or of another stage/image (read-only by default).
    Bind,
    /// A persistent cache directory.
    Cache,
    /// An empty tmpfs.
    Tmpfs,
    /// A build secret as a file (or environment variable).
    Secret,
    /// The SSH agent socket.
    Ssh,
}

/// `sharing=` of a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Concurrent builds share the directory.
    Shared,
    /// Each concurrent build gets its own copy.
    Private,
    /// Concurrent builds wait for each other.
    Locked,
}

/// One `RUN --mount=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `type=` (bind when absent).
    pub kind: MountType,
    /// `target=`, `dst=`, `destination=`.
    pub target: Option<String>,
    /// `source=`, `src=`.
    pub source: Option<String>,
    /// `from=`: a stage or image.
    pub from: Option<String>,
    /// `id=`.
    pub id: Option<String>,
    /// `sharing=` (cache).
    pub sharing: Sharing,
    /// `mode=` (octal).
    pub mode: Option<u32>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
    /// `readonly`/`ro` or `rw`/`readwrite`; bind mounts default to read-only.
    pub readonly: bool,
    /// `size=` (tmpfs) in bytes.
    pub size: Option<u64>,
    /// `required` (secret, ssh).
    pub required: bool,
    /// `env=` (secret).
    pub env: Option<String>,
}

/// Splits a CSV record: `,` separates fields, `"…"` quotes a field (`""` inside is `"`).
fn csv_fields(s: &str) -> Result<Vec<String>, Msg> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = s.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    if quoted {
        return Err(format!("bare \" in non-quoted-field in mount \"{s}\""));
    }
    out.push(field);
    Ok(out)
}

fn parse_bool(key: &str, v: Option<&str>) -> Result<bool, Msg> {
    match v.map(str::to_ascii_lowercase).as_deref() {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(v) => Err(format!("invalid value for {key}: {v}")),
    }
}

/// Parses a size as docker does: `1024`, `64k`, `64m`, `1g`, `1.5GiB`.
pub(crate) fn parse_size(s: &str) -> Result<u64, Msg> {
    let lower = s.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("invalid size: '{s}'"))?;
    let mult: u64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return Err(format!("invalid size: '{s}'")),
    };
    Ok((value * mult as f64) as u64)
}

/// Parses one `--mount` value.
pub(crate) fn mount(value: &str) -> Result<Mount, Msg> {
    let mut m = Mount {
        kind: MountType::Bind,
        target: None,
        source: None,
        from: None,
        id: None,
        sharing: Sharing::Shared,
        mode: None,
        uid: None,
        gid: None,
        readonly: true,
        size: None,
        required: false,
        env: None,
    };
    let fields = csv_fields(value)?;
    // The type decides defaults, so it is read first wherever it is.
    for f in &fields {
        if let Some(t) = f.strip_prefix("type=") {
            m.kind = match t.to_ascii_lowercase().as_str() {
                "bind" => MountType::Bind,
                "cache" => MountType::Cache,
                "tmpfs" => MountType::Tmpfs,
                "secret" => MountType::Secret,
                "ssh" => MountType::Ssh,
                _ => return Err(format!("unsupported mount type \"{t}\"")),
            };
        }
    }
    m.readonly = matches!(m.kind, MountType::Bind | MountType::Secret | MountType::Ssh);
    let u32_of = |k: &str, v: &str| {
        v.parse::<u32>()
            .map_err(|_| format!("invalid value for {k}: {v}"))
    };
    for f in fields.iter().filter(|f| !f.is_empty()) {
        let (key, val) = match f.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (f.trim().to_ascii_lowercase(), None),
        };
        let need = || {
            val.map(str::to_string)
                .ok_or_else(|| format!("invalid field '{f}' must be a key=value pair"))
        };
        match key.as_str() {
            "type" => {}
            "target" | "dst" | "destination" => m.target = Some(need()?),
            "source" | "src" => m.source = Some(need()?),
            "from" => m.from = Some(need()?),
            "id" => m.id = Some(need()?),
            "env" => m.env = Some(need()?),
            "sharing" => {
                m.sharing = match need()?.as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    v => return Err(format!("unsupported sharing value \"{v}\"")),
                }
            }
            "mode" => {
                let v = need()?;
                m.mode = Some(
                    u32::from_str_radix(&v, 8)
                        .map_err(|_| format!("invalid value for mode: {v}"))?,
                );
            }
            "uid" => m.uid = Some(u32_of("uid", &need()?)?),
            "gid" => m.gid = Some(u32_of("gid", &need()?)?),
            "size" => m.size = Some(parse_size(&need()?)?),
            "readonly" | "ro" => m.readonly = parse_bool(&key, val)?,
            "readwrite" | "rw" => m.readonly = !parse_bool(&key, val)?,
            "required" => m.required = parse_bool(&key, val)?,
            _ => return Err(format!("unexpected key '{key}' in '{f}'")),
        }
    }
    if m.target.is_none() && !matches!(m.kind, MountType::Secret | MountType::Ssh) {
        return Err(format!("mount \"{value}\" has no target"));
    }
    if m.size.is_some() && m.kind != MountType::Tmpfs {
        return Err("size is only supported for tmpfs mounts".into());
    }
    if matches!(m.kind, MountType::Secret)
        && m.id.is_none()
        && m.target.is_none()
        && m.env.is_none()
    {
        return Err("secret mount requires an id, a target or an env".into());
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    const SPEC: &[(&str, Kind)] = &[
        ("from", Kind::Str),
        ("link", Kind::Bool),
        ("exclude", Kind::List),
    ];

    #[test]
    fn flag_values() {
        let f = Flags::parse(
            &words(&["--from=a", "--link", "--exclude=x", "--exclude=y"]),
            SPEC,
        )
        .unwrap();
        assert_eq!(f.string("from").as_deref(), Some("a"));
        assert_eq!(f.boolean("link"), Some(true));
        assert_eq!(f.list("exclude"), vec!["x", "y"]);
        let f = Flags::parse(&words(&["--link=false"]), SPEC).unwrap();
        assert_eq!((f.boolean("link"), f.string("from")), (Some(false), None));
    }

    #[test]
    fn flag_errors() {
        for (w, e) in [
            (&["--foo"][..], "unknown flag: foo"),
            (&["--from=a", "--from=b"], "Duplicate flag specified: from"),
            (&["--from"], "Missing a value on flag: from"),
            (
                &["--link=maybe"],
                "expecting boolean value for flag link, not: maybe",
            ),
        ] {
            assert_eq!(Flags::parse(&words(w), SPEC).unwrap_err(), e);
        }
    }

    #[test]
    fn durations() {
        let d = |s| parse_duration(s).unwrap();
        assert_eq!(d("30s"), Duration::from_secs(30));
        assert_eq!(d("1m30s"), Duration::from_secs(90));
        assert_eq!(d("500ms"), Duration::from_millis(500));
        assert_eq!(d("1.5h"), Duration::from_secs(5400));
        assert_eq!(d("2us"), Duration::from_micros(2));
        assert_eq!(d("0"), Duration::ZERO);
        assert_eq!(
            parse_duration("10").unwrap_err(),
            "time: missing unit in duration \"10\""
        );
        assert_eq!(
            parse_duration("3d").unwrap_err(),
            "time: unknown unit \"d\" in duration \"3d\""
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn mounts() {
        let m = mount(
            "type=cache,target=/root/.cache,sharing=locked,id=pip,mode=0755,uid=1000,gid=1000",
        )
        .unwrap();
        assert_eq!(m.kind, MountType::Cache);
        assert_eq!(m.target.as_deref(), Some("/root/.cache"));
        assert_eq!(
            (m.sharing, m.mode, m.uid, m.gid, m.readonly),
            (Sharing::Locked, Some(0o755), Some(1000), Some(1000), false)
        );
        let m = mount("target=/src,from=build,source=/out").unwrap();
        assert_eq!(
            (m.kind, m.readonly, m.from.as_deref(), m.source.as_deref()),
            (MountType::Bind, true, Some("build"), Some("/out"))
        );
        assert!(!mount("type=bind,dst=/x,rw").unwrap().readonly);
        assert!(mount("type=cache,destination=/x,ro").unwrap().readonly);
        assert_eq!(
            mount("type=tmpfs,target=/t,size=64m").unwrap().size,
            Some(64 << 20)
        );
        let m = mount("type=secret,id=tok,required").unwrap();
        assert_eq!(
            (m.kind, m.required, m.target),
            (MountType::Secret, true, None)
        );
        assert_eq!(mount("type=ssh").unwrap().kind, MountType::Ssh);
        assert_eq!(
            mount("type=bind,\"target=/a,b\"")
                .unwrap()
                .target
                .as_deref(),
            Some("/a,b")
        );
    }

    #[test]
    fn mount_errors() {
        for (v, e) in [
            ("type=volume,target=/x", "unsupported mount type \"volume\""),
            (
                "type=cache,target=/x,sharing=some",
                "unsupported sharing value \"some\"",
            ),
            (
                "type=cache,target=/x,colour=red",
                "unexpected key 'colour' in 'colour=red'",
            ),
            ("type=cache", "mount \"type=cache\" has no target"),
            ("type=cache,target=/x,uid=me", "invalid value for uid: me"),
            (
                "type=cache,target=/x,size=1m",
                "size is only supported for tmpfs mounts",
            ),
            (
                "type=cache,target",
                "invalid field 'target' must be a key=value pair",
            ),
        ] {
            assert_eq!(mount(v).unwrap_err(), e, "{v}");
        }
    }

    #[test]
    fn modes() {
        assert_eq!(network("none"), Ok(NetworkMode::None));
        assert_eq!(
            network("bridge").unwrap_err(),
            "unsupported network mode \"bridge\""
        );
        assert_eq!(security("insecure"), Ok(SecurityMode::Insecure));
        assert!(security("x").is_err());
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
    }
}
