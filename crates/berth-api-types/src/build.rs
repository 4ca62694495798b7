//! `POST /build`: the query parameters of the classic builder's request, as the docker
//! CLI (`DOCKER_BUILDKIT=0`) and the SDKs send them, and `/build/prune`'s answer.
//!
//! The request body is the build context: a tar, plain or compressed (gzip, bzip2,
//! xz, zstd), or — with `remote` — nothing. JSON-valued parameters (`buildargs`,
//! `labels`, `cachefrom`, `ulimits`) arrive as JSON text and are kept parsed here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One `--ulimit`, as the CLI encodes it in `ulimits=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildUlimit {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Hard")]
    pub hard: i64,
    #[serde(rename = "Soft")]
    pub soft: i64,
}

/// Everything `POST /build` takes besides the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// `dockerfile`: the Dockerfile's path inside the context (default `Dockerfile`).
    pub dockerfile: String,
    /// `t`, repeatable: names to tag the result with.
    pub tags: Vec<String>,
    /// `extrahosts`: `host:ip` entries (comma-separated in the query).
    pub extra_hosts: Vec<String>,
    /// `remote`: a URL to fetch the context (a tarball, or a plain Dockerfile) from.
    pub remote: Option<String>,
    /// `q`: only the image id is streamed.
    pub quiet: bool,
    /// `nocache`.
    pub no_cache: bool,
    /// `cachefrom`: images whose layers may serve as cache.
    pub cache_from: Vec<String>,
    /// `pull`: pull FROM images even when present.
    pub pull: bool,
    /// `rm` (default true): remove intermediate containers after a successful build.
    pub rm: bool,
    /// `forcerm`: remove them also after a failure.
    pub force_rm: bool,
    /// `memory`, bytes (0: unset).
    pub memory: i64,
    /// `memswap`, bytes (-1: unlimited, 0: unset).
    pub memswap: i64,
    /// `cpushares`.
    pub cpu_shares: i64,
    /// `cpusetcpus`.
    pub cpuset_cpus: String,
    /// `cpuperiod`.
    pub cpu_period: i64,
    /// `cpuquota`.
    pub cpu_quota: i64,
    /// `buildargs`: `null` values are args named without a value (taken from the
    /// client's environment by the CLI, or unset).
    pub build_args: BTreeMap<String, Option<String>>,
    /// `shmsize`, bytes (0: the default).
    pub shm_size: i64,
    /// `labels`: set on the final image.
    pub labels: BTreeMap<String, String>,
    /// `networkmode` for RUN (`default`, `bridge`, `host`, `none`, a network name).
    pub network_mode: String,
    /// `platform`.
    pub platform: Option<String>,
    /// `target`: the stage to stop at.
    pub target: Option<String>,
    /// `ulimits` for RUN.
    pub ulimits: Vec<BuildUlimit>,
    /// `squash` (experimental in dockerd): refused, as dockerd without experimental
    /// features refuses it.
    pub squash: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            dockerfile: "Dockerfile".into(),
            tags: Vec::new(),
            extra_hosts: Vec::new(),
            remote: None,
            quiet: false,
            no_cache: false,
            cache_from: Vec::new(),
            pull: false,
            rm: true,
            force_rm: false,
            memory: 0,
            memswap: 0,
            cpu_shares: 0,
            cpuset_cpus: String::new(),
            cpu_period: 0,
            cpu_quota: 0,
            build_args: BTreeMap::new(),
            shm_size: 0,
            labels: BTreeMap::new(),
            network_mode: String::new(),
            platform: None,
            target: None,
            ulimits: Vec::new(),
            squash: false,
        }
    }
}

/// A query parameter whose value could not be read, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {param} {value:?}: {reason}")]
pub struct BuildQueryError {
    pub param: &'static str,
    pub value: String,
    pub reason: String,
}

impl BuildOptions {
    /// Reads the query's parameters: `get(name)` gives all values of `name` in order.
    pub fn from_query(get: impl Fn(&str) -> Vec<String>) -> Result<BuildOptions, BuildQueryError> {
        let one = |k: &str| get(k).into_iter().next_back().filter(|v| !v.is_empty());
        let flag = |k: &str| one(k).is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        let err = |param: &'static str, value: &str, reason: String| BuildQueryError {
            param,
            value: value.to_string(),
            reason,
        };
        let int = |param: &'static str| -> Result<i64, BuildQueryError> {
            match one(param) {
                None => Ok(0),
                Some(v) => v.parse::<i64>().map_err(|e| err(param, &v, e.to_string())),
            }
        };
        fn json<T: serde::de::DeserializeOwned + Default>(
            param: &'static str,
            v: Option<&str>,
        ) -> Result<T, BuildQueryError> {
            match v {
                None | Some("null") => Ok(T::default()),
                Some(v) => serde_json::from_str(v).map_err(|e| BuildQueryError {
                    param,
                    value: v.to_string(),
                    reason: e.to_string(),
                }),
            }
        }
        let labels: BTreeMap<String, Option<String>> = json("labels", one("labels").as_deref())?;
        Ok(BuildOptions {
            dockerfile: one("dockerfile").unwrap_or_else(|| "Dockerfile".into()),
            tags: get("t").into_iter().filter(|t| !t.is_empty()).collect(),
            extra_hosts: get("extrahosts")
                .iter()
                .flat_map(|v| v.split(','))
                .filter(|h| !h.is_empty())
                .map(str::to_string)
                .collect(),
            remote: one("remote"),
            quiet: flag("q"),
            no_cache: flag("nocache"),
            cache_from: json("cachefrom", one("cachefrom").as_deref())?,
            pull: flag("pull"),
            rm: one("rm").is_none_or(|v| v == "1" || v.eq_ignore_ascii_case("true")),
            force_rm: flag("forcerm"),
            memory: int("memory")?,
            memswap: int("memswap")?,
            cpu_shares: int("cpushares")?,
            cpuset_cpus: one("cpusetcpus").unwrap_or_default(),
            cpu_period: int("cpuperiod")?,
            cpu_quota: int("cpuquota")?,
            build_args: json("buildargs", one("buildargs").as_deref())?,
            shm_size: int("shmsize")?,
            labels: labels
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect(),
            network_mode: one("networkmode").unwrap_or_default(),
            platform: one("platform"),
            target: one("target"),
            ulimits: json("ulimits", one("ulimits").as_deref())?,
            squash: flag("squash"),
        })
    }

    /// The query string (without `?`) that asks for these options, in the order the
    /// docker CLI writes them; defaults are left out.
    pub fn to_query(&self) -> String {
        fn json<T: Serialize>(v: &T) -> String {
            serde_json::to_string(v).unwrap_or_default()
        }
        let mut q: Vec<(&str, String)> = Vec::new();
        if !self.build_args.is_empty() {
            q.push(("buildargs", json(&self.build_args)));
        }
        if !self.cache_from.is_empty() {
            q.push(("cachefrom", json(&self.cache_from)));
        }
        if self.cpu_period != 0 {
            q.push(("cpuperiod", self.cpu_period.to_string()));
        }
        if self.cpu_quota != 0 {
            q.push(("cpuquota", self.cpu_quota.to_string()));
        }
        if !self.cpuset_cpus.is_empty() {
            q.push(("cpusetcpus", self.cpuset_cpus.clone()));
        }
        if self.cpu_shares != 0 {
            q.push(("cpushares", self.cpu_shares.to_string()));
        }
        q.push(("dockerfile", self.dockerfile.clone()));
        if !self.extra_hosts.is_empty() {
            q.push(("extrahosts", self.extra_hosts.join(",")));
        }
        if self.force_rm {
            q.push(("forcerm", "1".into()));
        }
        if !self.labels.is_empty() {
            q.push(("labels", json(&self.labels)));
        }
        if self.memory != 0 {
            q.push(("memory", self.memory.to_string()));
        }
        if self.memswap != 0 {
            q.push(("memswap", self.memswap.to_string()));
        }
        if !self.network_mode.is_empty() {
            q.push(("networkmode", self.network_mode.clone()));
        }
        if self.no_cache {
            q.push(("nocache", "1".into()));
        }
        if let Some(p) = &self.platform {
            q.push(("platform", p.clone()));
        }
        if self.pull {
            q.push(("pull", "1".into()));
        }
        if self.quiet {
            q.push(("q", "1".into()));
        }
        if let Some(r) = &self.remote {
            q.push(("remote", r.clone()));
        }
        if !self.rm {
            q.push(("rm", "0".into()));
        }
        if self.shm_size != 0 {
            q.push(("shmsize", self.shm_size.to_string()));
        }
        if self.squash {
            q.push(("squash", "1".into()));
        }
        for t in &self.tags {
            q.push(("t", t.clone()));
        }
        if let Some(t) = &self.target {
            q.push(("target", t.clone()));
        }
        if !self.ulimits.is_empty() {
            q.push(("ulimits", json(&self.ulimits)));
        }
        q.push(("version", "1".into()));
        q.iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encodes a query value (unreserved characters kept, as Go's
/// `url.QueryEscape` does, except that a space is `%20`).
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `POST /build/prune`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildCachePruneReport {
    #[serde(rename = "CachesDeleted")]
    pub caches_deleted: Vec<String>,
    #[serde(rename = "SpaceReclaimed")]
    pub space_reclaimed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<BuildOptions, BuildQueryError> {
        let pairs: Vec<(String, String)> = q
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BuildOptions::from_query(|k| {
            pairs
                .iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .collect()
        })
    }

    #[test]
    fn reads_what_the_docker_cli_sends() {
        // docker CLI 28, DOCKER_BUILDKIT=0, its query decoded.
        let o = parse(r#"buildargs={"X":"1","Y":null}&cpushares=5&dockerfile=Dockerfile&extrahosts=h:1.2.3.4&forcerm=1&labels={"l":"v"}&memory=104857600&networkmode=none&nocache=1&pull=1&q=1&shmsize=67108864&t=a:1&t=b&target=t1&ulimits=[{"Name":"nofile","Hard":20,"Soft":10}]&version=1"#).unwrap();
        assert_eq!(o.build_args.get("X"), Some(&Some("1".to_string())));
        assert_eq!(o.build_args.get("Y"), Some(&None));
        assert_eq!(o.tags, vec!["a:1", "b"]);
        assert_eq!(o.extra_hosts, vec!["h:1.2.3.4"]);
        assert!(o.force_rm && o.no_cache && o.pull && o.quiet && o.rm);
        assert_eq!(o.memory, 104857600);
        assert_eq!(o.shm_size, 67108864);
        assert_eq!(o.network_mode, "none");
        assert_eq!(o.target.as_deref(), Some("t1"));
        assert_eq!(o.ulimits[0].name, "nofile");
        assert_eq!(o.labels.get("l").map(String::as_str), Some("v"));
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let e = parse("memory=lots").unwrap_err();
        assert_eq!(e.param, "memory");
        let e = parse("buildargs={oops").unwrap_err();
        assert!(
            e.to_string().starts_with("invalid buildargs \"{oops\""),
            "{e}"
        );
        assert!(!parse("rm=0").unwrap().rm);
    }

    #[test]
    fn round_trips_through_the_query() {
        let mut o = BuildOptions {
            tags: vec!["a:1".into(), "b c".into()],
            no_cache: true,
            target: Some("t".into()),
            ..BuildOptions::default()
        };
        o.build_args.insert("A".into(), Some("x&y=z".into()));
        o.labels.insert("k".into(), "v w".into());
        let q = o.to_query();
        let decoded: Vec<(String, String)> = q
            .split('&')
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (k.to_string(), percent_decode(v))
            })
            .collect();
        let back = BuildOptions::from_query(|k| {
            decoded
                .iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .collect()
        })
        .unwrap();
        assert_eq!(back, o);
    }

    fn percent_decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }
}
