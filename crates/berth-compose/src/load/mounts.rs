//! A service's `volumes:` — the short form (`name:/path:ro`, `./rel:/path`,
//! `/abs:/path:rw,z`, `~/x:/y`, `/path` alone for an anonymous volume) and the long
//! form (`type: volume|bind|tmpfs` with their options) — into [`ServiceVolume`].

use serde_json::Value;

use super::values;
use super::Fault;
use crate::model::{BindOptions, ServiceVolume, TmpfsOptions, VolumeOptions};

const PROPAGATIONS: &[&str] = &[
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

fn valid_volume_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// One short-form entry; `resolve` turns a host path into an absolute one.
pub fn parse_short(spec: &str, resolve: &dyn Fn(&str) -> String) -> Result<ServiceVolume, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, opts) = match parts.as_slice() {
        [t] => (None, *t, None),
        [s, t] => (Some(*s), *t, None),
        [s, t, o] => (Some(*s), *t, Some(*o)),
        _ => return Err(format!("invalid volume {spec:?}: too many ':'")),
    };
    if !target.starts_with('/') {
        return Err(format!(
            "invalid volume {spec:?}: the container path must be absolute"
        ));
    }
    let mut v = ServiceVolume {
        kind: "volume".into(),
        target: target.to_owned(),
        ..Default::default()
    };
    match source {
        None => {}
        Some("") => return Err(format!("invalid volume {spec:?}: empty source")),
        Some(s) if super::paths::is_host_path(s) => {
            v.kind = "bind".into();
            v.source = Some(resolve(s));
            v.bind = Some(BindOptions {
                create_host_path: true,
                ..Default::default()
            });
        }
        Some(s) if valid_volume_name(s) => v.source = Some(s.to_owned()),
        Some(s) => {
            return Err(format!(
                "invalid volume {spec:?}: {s:?} is neither a path nor a volume name"
            ))
        }
    }
    for opt in opts.into_iter().flat_map(|o| o.split(',')) {
        match opt {
            "ro" => v.read_only = true,
            "rw" => v.read_only = false,
            "z" | "Z" | "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate"
                if v.kind == "bind" =>
            {
                let b = v.bind.get_or_insert_with(Default::default);
                if opt.eq_ignore_ascii_case("z") {
                    b.selinux = Some(opt.to_owned());
                } else {
                    b.propagation = Some(opt.to_owned());
                }
            }
            "nocopy" if v.kind == "volume" => {
                v.volume.get_or_insert_with(Default::default).nocopy = true;
            }
            "consistent" | "cached" | "delegated" => v.consistency = Some(opt.to_owned()),
            _ => return Err(format!("invalid volume {spec:?}: unknown option {opt:?}")),
        }
    }
    Ok(v)
}

/// One `volumes:` entry (`key` is `services.NAME.volumes[I]`).
pub fn parse_entry(
    v: &Value,
    key: &str,
    resolve: &dyn Fn(&str) -> String,
) -> Result<ServiceVolume, Fault> {
    let m = match v {
        Value::String(s) => return parse_short(s, resolve).map_err(|e| Fault::new(key, e)),
        Value::Object(m) => m,
        _ => return Err(Fault::new(key, "must be a string or a mapping")),
    };
    let k = |s: &str| format!("{key}.{s}");
    let kind = values::opt_string(m.get("type"), &k("type"))?
        .ok_or_else(|| Fault::new(k("type"), "is required (volume, bind or tmpfs)"))?;
    let target = values::opt_string(m.get("target"), &k("target"))?
        .ok_or_else(|| Fault::new(k("target"), "is required"))?;
    if !target.starts_with('/') {
        return Err(Fault::new(
            k("target"),
            format!("must be an absolute path, not {target:?}"),
        ));
    }
    let source = values::opt_string(m.get("source"), &k("source"))?;
    let mut out = ServiceVolume {
        kind: kind.clone(),
        target,
        read_only: values::opt_bool(m.get("read_only"), &k("read_only"))?.unwrap_or(false),
        consistency: values::opt_string(m.get("consistency"), &k("consistency"))?,
        ..Default::default()
    };
    match kind.as_str() {
        "bind" => {
            let s =
                source.ok_or_else(|| Fault::new(k("source"), "is required for a bind mount"))?;
            out.source = Some(resolve(&s));
            let b = values::mapping(m.get("bind"), &k("bind"))?;
            let get = |n: &str| b.and_then(|b| b.get(n));
            let propagation = values::opt_string(get("propagation"), &k("bind.propagation"))?;
            if let Some(p) = &propagation {
                if !PROPAGATIONS.contains(&p.as_str()) {
                    return Err(Fault::new(
                        k("bind.propagation"),
                        format!("invalid propagation {p:?}"),
                    ));
                }
            }
            out.bind = Some(BindOptions {
                propagation,
                create_host_path: values::opt_bool(
                    get("create_host_path"),
                    &k("bind.create_host_path"),
                )?
                .unwrap_or(true),
                selinux: values::opt_string(get("selinux"), &k("bind.selinux"))?,
            });
        }
        "volume" => {
            if let Some(s) = &source {
                if !valid_volume_name(s) {
                    return Err(Fault::new(
                        k("source"),
                        format!("invalid volume name {s:?}"),
                    ));
                }
            }
            out.source = source;
            if let Some(o) = values::mapping(m.get("volume"), &k("volume"))? {
                out.volume = Some(VolumeOptions {
                    nocopy: values::opt_bool(o.get("nocopy"), &k("volume.nocopy"))?
                        .unwrap_or(false),
                    subpath: values::opt_string(o.get("subpath"), &k("volume.subpath"))?,
                });
            }
        }
        "tmpfs" => {
            if let Some(o) = values::mapping(m.get("tmpfs"), &k("tmpfs"))? {
                out.tmpfs = Some(TmpfsOptions {
                    size: values::opt_bytes(o.get("size"), &k("tmpfs.size"))?,
                    mode: values::opt_mode(o.get("mode"), &k("tmpfs.mode"))?,
                });
            }
        }
        "npipe" | "cluster" | "image" => out.source = source,
        other => {
            return Err(Fault::new(
                k("type"),
                format!("unknown mount type {other:?}"),
            ))
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> String {
        format!("/proj/{}", s.trim_start_matches("./"))
    }

    #[test]
    fn short_forms() {
        let v = parse_short("data:/var/lib:ro", &r).expect("named");
        assert_eq!(
            (v.kind.as_str(), v.source.as_deref(), v.read_only),
            ("volume", Some("data"), true)
        );
        let v = parse_short("./src:/app", &r).expect("bind");
        assert_eq!(
            (v.kind.as_str(), v.source.as_deref()),
            ("bind", Some("/proj/src"))
        );
        let v = parse_short("/abs:/x:rw,z", &r).expect("bind z");
        assert_eq!(v.bind.and_then(|b| b.selinux).as_deref(), Some("z"));
        let v = parse_short("/anon", &r).expect("anonymous");
        assert_eq!((v.kind.as_str(), v.source), ("volume", None));
        let v = parse_short("data:/d:nocopy", &r).expect("nocopy");
        assert!(v.volume.is_some_and(|o| o.nocopy));
    }

    #[test]
    fn bad_short_forms() {
        for bad in [
            "relative",
            "a:b",
            "data:/x:bogus",
            "a:/b:ro:x",
            "da ta:/x",
            ":/x",
        ] {
            assert!(parse_short(bad, &r).is_err(), "{bad}");
        }
    }
}
