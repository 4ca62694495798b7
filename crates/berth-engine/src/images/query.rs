//! Reading images the way the Engine API shows them: `GET /images/json` (with its
//! filters), `GET /images/{name}/json`, `GET /images/{name}/history`, and sizes.
//!
//! Sizes are docker's: a layer's size is the sum of its tar entries' content sizes
//! (what extracting it writes), an image's the sum over its layers. Computing one reads
//! the whole layer, so the result is cached per diff id in `DATA_ROOT/layer-sizes/`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

use berth_api_types::container::{ContainerConfig, GraphDriverData};
use berth_api_types::image::{ImageHistoryItem, ImageInspect, ImageMetadata, ImageSummary, RootFs};
use berth_api_types::Filters;
use berth_image::gc::chain_ids;
use berth_image::images::{ImageRecord, Layer};
use berth_image::model::{ImageConfig, RunConfig};
use berth_types::time::{format_rfc3339, Precision};
use berth_types::{Digest, Reference};

use super::{image_err, ImageService};
use crate::api::{EngineError, EngineResult};
use crate::timefmt;

const LIST_FILTERS: [&str; 5] = ["dangling", "label", "before", "since", "reference"];

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::BadParameter(msg.into())
}

/// `config.created` as (seconds, nanoseconds); the epoch when absent or unreadable.
pub(super) fn created_of(cfg: &ImageConfig) -> (i64, u32) {
    cfg.created
        .as_deref()
        .and_then(timefmt::parse_rfc3339_secs)
        .unwrap_or((0, 0))
}

pub(super) fn labels_of(cfg: &ImageConfig) -> BTreeMap<String, String> {
    cfg.config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default()
}

fn familiar_tags(rec: &ImageRecord) -> Vec<String> {
    rec.repo_tags().map(Reference::familiar).collect()
}

fn familiar_digests(rec: &ImageRecord) -> Vec<String> {
    rec.repo_digests().map(Reference::familiar).collect()
}

/// An image config's run section in the API's ContainerConfig shape.
pub(crate) fn container_config(run: Option<&RunConfig>) -> ContainerConfig {
    run.and_then(|r| serde_json::to_value(r).ok())
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

fn other_str(cfg: &ImageConfig, key: &str) -> String {
    cfg.other
        .get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

impl ImageService {
    /// `all`: also the intermediate images (untagged images a build made that are
    /// some image's parent), which dockerd lists only then.
    pub(super) fn list_images(
        &self,
        filters: &Filters,
        all: bool,
    ) -> EngineResult<Vec<ImageSummary>> {
        filters
            .validate(&LIST_FILTERS)
            .map_err(|e| bad(e.to_string()))?;
        let dangling_only = match filters.get("dangling") {
            [] => false,
            vals if vals.iter().any(|v| v == "true" || v == "1") => true,
            vals if vals.iter().all(|v| v == "false" || v == "0") => false,
            vals => return Err(bad(format!("invalid filter 'dangling={}'", vals.join(",")))),
        };
        let patterns = filters.get("reference");
        for p in patterns {
            glob_match(p, "").map_err(|e| bad(format!("invalid reference filter {p:?}: {e}")))?;
        }
        let bound = |key: &str| -> EngineResult<Option<(i64, u32)>> {
            match filters.get(key) {
                [] => Ok(None),
                [name] => {
                    let rec = self.get(name)?;
                    Ok(Some(created_of(&self.config(&rec.id)?)))
                }
                many => Err(bad(format!(
                    "filter '{key}' takes one image, got {}",
                    many.len()
                ))),
            }
        };
        let before = bound("before")?;
        let since = bound("since")?;

        let mut out: Vec<((i64, u32), ImageSummary)> = Vec::new();
        let records = self.store.list().map_err(image_err)?;
        let parents: BTreeSet<&Digest> = records.iter().filter_map(|r| r.parent.as_ref()).collect();
        for rec in &records {
            let rec = rec.clone();
            // A record whose config is gone (a broken store) is left out, not fatal:
            // listing must keep working so the user can remove it.
            let Ok(cfg) = self.config(&rec.id) else {
                continue;
            };
            let created = created_of(&cfg);
            if before.is_some_and(|b| created >= b) || since.is_some_and(|s| created <= s) {
                continue;
            }
            let labels = labels_of(&cfg);
            if !filters.match_label(&labels) {
                continue;
            }
            let keep = |names: Vec<String>, refs: Vec<&Reference>| -> Vec<String> {
                if patterns.is_empty() {
                    return names;
                }
                names
                    .into_iter()
                    .zip(refs)
                    .filter(|(full, r)| {
                        patterns.iter().any(|p| {
                            glob_match(p, full).unwrap_or(false)
                                || glob_match(p, &r.familiar_name()).unwrap_or(false)
                        })
                    })
                    .map(|(n, _)| n)
                    .collect()
            };
            let mut tags = keep(familiar_tags(&rec), rec.repo_tags().collect());
            let mut digests = keep(familiar_digests(&rec), rec.repo_digests().collect());
            if tags.is_empty() && digests.is_empty() {
                if parents.contains(&rec.id) && (!all || dangling_only) {
                    continue;
                }
                if filters.contains("dangling") && !dangling_only {
                    continue;
                }
                if !patterns.is_empty() {
                    continue;
                }
                // API 1.41 shows a dangling image with these placeholders.
                tags = vec!["<none>:<none>".into()];
                digests = vec!["<none>@<none>".into()];
            } else if dangling_only && !tags.is_empty() {
                continue;
            }
            let size = self.image_size(&rec.id)?;
            out.push((
                created,
                ImageSummary {
                    containers: -1,
                    created: created.0,
                    id: rec.id.to_string(),
                    labels,
                    parent_id: rec
                        .parent
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    repo_digests: digests,
                    repo_tags: tags,
                    shared_size: -1,
                    size,
                    virtual_size: size,
                },
            ));
        }
        out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
        Ok(out.into_iter().map(|(_, s)| s).collect())
    }

    pub(super) fn inspect_image(&self, name: &str) -> EngineResult<ImageInspect> {
        let rec = self.get(name)?;
        let cfg = self.config(&rec.id)?;
        let size = self.image_size(&rec.id)?;
        let comment = match cfg.other.get("comment").and_then(|v| v.as_str()) {
            Some(c) => c.to_string(),
            None => cfg
                .history
                .last()
                .and_then(|h| h.comment.clone())
                .unwrap_or_default(),
        };
        let container_config = cfg
            .other
            .get("container_config")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let last_tag_time = if rec.names.is_empty() {
            String::new()
        } else {
            format_rfc3339(
                i128::from(rec.updated.max(rec.created)) * 1_000_000_000,
                Precision::Seconds,
            )
        };
        Ok(ImageInspect {
            id: rec.id.to_string(),
            repo_tags: familiar_tags(&rec),
            repo_digests: familiar_digests(&rec),
            parent: rec
                .parent
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            comment,
            created: cfg
                .created
                .as_deref()
                .map_or_else(|| timefmt::ZERO_TIME.to_string(), timefmt::normalise),
            container: other_str(&cfg, "container"),
            container_config: Some(container_config),
            docker_version: other_str(&cfg, "docker_version"),
            author: cfg.author.clone().unwrap_or_default(),
            config: Some(container_config_of(&cfg)),
            architecture: cfg.architecture.clone(),
            variant: cfg.variant.clone().unwrap_or_default(),
            os: cfg.os.clone(),
            os_version: other_str(&cfg, "os.version"),
            size,
            virtual_size: size,
            graph_driver: GraphDriverData {
                name: "overlay2".into(),
                data: self.graph_driver_data(&cfg),
            },
            root_fs: RootFs {
                kind: "layers".into(),
                layers: cfg.rootfs.diff_ids.iter().map(Digest::to_string).collect(),
                base_layer: String::new(),
            },
            metadata: ImageMetadata { last_tag_time },
        })
    }

    /// `UpperDir` (the top layer) and `LowerDir` (the ones below, nearest first) once
    /// the image is unpacked; empty before.
    fn graph_driver_data(&self, cfg: &ImageConfig) -> BTreeMap<String, String> {
        let mut data = BTreeMap::new();
        let Some(top) = chain_ids(&cfg.rootfs.diff_ids).pop() else {
            return data;
        };
        let dir = |key: &str| {
            self.snapshotter
                .apply_target(key)
                .ok()
                .map(|t| t.dir.to_string_lossy().into_owned())
        };
        let mut key = top.to_string();
        let Some(upper) = dir(&key) else {
            return data;
        };
        data.insert("UpperDir".into(), upper);
        let mut lowers = Vec::new();
        while let Some(parent) = self.snapshotter.stat(&key).ok().and_then(|i| i.parent) {
            match dir(&parent) {
                Some(d) => lowers.push(d),
                None => break,
            }
            key = parent;
        }
        if !lowers.is_empty() {
            data.insert("LowerDir".into(), lowers.join(":"));
        }
        data
    }

    pub(super) fn image_history(&self, name: &str) -> EngineResult<Vec<ImageHistoryItem>> {
        let rec = self.get(name)?;
        let cfg = self.config(&rec.id)?;
        let layers = self.store.layers(&rec.id).map_err(image_err)?;
        let mut sizes = layers.iter().map(|l| self.layer_size(l));
        let mut items: Vec<ImageHistoryItem> = cfg
            .history
            .iter()
            .map(|h| ImageHistoryItem {
                id: "<missing>".into(),
                created: h
                    .created
                    .as_deref()
                    .and_then(timefmt::parse_rfc3339_secs)
                    .map_or(0, |t| t.0),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: Vec::new(),
                size: if h.empty_layer {
                    0
                } else {
                    sizes.next().unwrap_or(0) as i64
                },
                comment: h.comment.clone().unwrap_or_default(),
            })
            .collect();
        if items.is_empty() {
            items.push(ImageHistoryItem {
                id: String::new(),
                created: created_of(&cfg).0,
                created_by: String::new(),
                tags: Vec::new(),
                size: self.image_size(&rec.id)?,
                comment: String::new(),
            });
        }
        items.reverse();
        items[0].id = rec.id.to_string();
        items[0].tags = familiar_tags(&rec);
        Ok(items)
    }

    /// The sum of an image's layer sizes.
    pub(super) fn image_size(&self, id: &Digest) -> EngineResult<i64> {
        let layers = self.store.layers(id).map_err(image_err)?;
        Ok(layers.iter().map(|l| self.layer_size(l)).sum::<u64>() as i64)
    }

    pub(super) fn total_layers_size(&self) -> EngineResult<i64> {
        let mut seen = BTreeSet::new();
        let mut total = 0u64;
        for rec in self.store.list().map_err(image_err)? {
            let Ok(layers) = self.store.layers(&rec.id) else {
                continue;
            };
            for l in layers {
                if seen.insert(l.diff_id.clone()) {
                    total += self.layer_size(&l);
                }
            }
        }
        Ok(total as i64)
    }

    /// A layer's content size, from the cache or computed (0 when the blob is absent
    /// or unreadable: a listing must not fail over one layer).
    pub(super) fn layer_size(&self, layer: &Layer) -> u64 {
        let path = self.root.join("layer-sizes").join(layer.diff_id.hex());
        if let Some(n) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
        {
            return n;
        }
        let Ok(n) = self.compute_layer_size(&layer.blob.digest) else {
            return 0;
        };
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let tmp = path.with_extension(format!(
            "{}.{}.tmp",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        // A cache: failing to write it only costs a recomputation next time.
        if std::fs::write(&tmp, n.to_string()).is_ok() && std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        n
    }

    fn compute_layer_size(&self, blob: &Digest) -> std::io::Result<u64> {
        let f = self
            .store
            .content()
            .open_blob(blob)
            .map_err(std::io::Error::other)?;
        let mut r = std::io::BufReader::new(f);
        let mut head = [0u8; 4];
        let n = read_up_to(&mut r, &mut head)?;
        let whole = std::io::Cursor::new(head[..n].to_vec()).chain(r);
        let plain: Box<dyn Read> = if head[..n].starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::MultiGzDecoder::new(whole))
        } else if head[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Box::new(zstd::stream::read::Decoder::new(whole)?)
        } else {
            Box::new(whole)
        };
        let mut ar = tar::Archive::new(plain);
        let mut total = 0u64;
        for e in ar.entries()? {
            total += e?.size();
        }
        Ok(total)
    }
}

fn container_config_of(cfg: &ImageConfig) -> ContainerConfig {
    container_config(cfg.config.as_ref())
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Go's `path.Match`: `*` is any run of characters but `/`, `?` one character but
/// `/`, `[…]` a class (`^` negates, `a-z` ranges), `\` escapes. A malformed pattern
/// is an error, whatever the name.
pub(crate) fn glob_match(pattern: &str, name: &str) -> Result<bool, String> {
    let p: Vec<char> = pattern.chars().collect();
    validate_glob(&p)?;
    let s: Vec<char> = name.chars().collect();
    Ok(glob(&p, &s))
}

fn validate_glob(p: &[char]) -> Result<(), String> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err("trailing backslash".into());
                }
                i += 2;
            }
            '[' => {
                let (_, used) = class(&p[i..], None).ok_or("unterminated or empty [ ] class")?;
                i += used;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Matches the class starting at `p[0] == '['` against `c` (None: only parse it).
/// Returns whether it matched and how many pattern characters it used.
fn class(p: &[char], c: Option<char>) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = p.get(i) == Some(&'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let ch = *p.get(i)?;
        if ch == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let lo = if ch == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            ch
        };
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|x| *x != ']') {
            i += 1;
            hi = if p[i] == '\\' {
                i += 1;
                *p.get(i)?
            } else {
                p[i]
            };
            i += 1;
            if hi < lo {
                return None;
            }
        }
        if c.is_some_and(|c| lo <= c && c <= hi) {
            matched = true;
        }
    }
    Some((matched != negate, i))
}

fn glob(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') => {
            let rest = &p[1..];
            for i in 0..=s.len() {
                if glob(rest, &s[i..]) {
                    return true;
                }
                if i < s.len() && s[i] == '/' {
                    return false;
                }
            }
            false
        }
        Some('?') => !s.is_empty() && s[0] != '/' && glob(&p[1..], &s[1..]),
        Some('[') => match (s.first(), class(p, s.first().copied())) {
            (Some(_), Some((true, used))) => glob(&p[used..], &s[1..]),
            _ => false,
        },
        Some('\\') => p.len() > 1 && s.first() == Some(&p[1]) && glob(&p[2..], &s[1..]),
        Some(c) => s.first() == Some(c) && glob(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_follow_go_path_match() {
        let m = |p: &str, s: &str| glob_match(p, s).unwrap();
        assert!(m("busy*", "busybox"));
        assert!(m("busybox:1*", "busybox:1.36"));
        assert!(!m("busybox:1*", "busybox:latest"));
        assert!(!m("*", "library/busybox"));
        assert!(m("*/*", "library/busybox"));
        assert!(m("b?sybox", "busybox"));
        assert!(m("[a-c]usybox", "busybox"));
        assert!(!m("[^a-c]usybox", "busybox"));
        assert!(m("\\*", "*"));
        assert!(glob_match("[", "x").is_err());
        assert!(glob_match("a\\", "a").is_err());
    }

    #[test]
    fn run_configs_become_container_configs() {
        let run = RunConfig {
            cmd: Some(vec!["sh".into()]),
            env: Some(vec!["A=B".into()]),
            exposed_ports: Some(BTreeMap::from([(
                "80/tcp".to_string(),
                serde_json::json!({}),
            )])),
            working_dir: Some("/w".into()),
            ..RunConfig::default()
        };
        let c = container_config(Some(&run));
        assert_eq!(c.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(c.env, ["A=B"]);
        assert!(c.exposed_ports.contains_key("80/tcp"));
        assert_eq!(c.working_dir, "/w");
        assert_eq!(container_config(None), ContainerConfig::default());
    }
}
