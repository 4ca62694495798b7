//! `POST /images/create?fromImage=`: pulling through berth-registry's client, and
//! naming the result. The client stores and verifies everything under a lease; the
//! image is named here, in one table write per name, only once it is all there — a
//! daemon killed mid-pull leaves unreferenced content for garbage collection, never
//! a half-registered image. Progress becomes dockerd's JSON messages, with the text
//! bar dockerd renders for clients that draw none.

use berth_api_types::image::{JsonMessage, ProgressDetail};
use berth_api_types::registry::{
    AuthConfig, AuthenticateOkBody, DistributionDescriptor, DistributionInspect,
    DistributionPlatform, ImageSearchResult,
};
use berth_registry::client::{
    Credentials, LoginError, Progress, PullError, PullTarget, RegistryClient,
};
use berth_types::{Digest, Reference};

use super::{canonical, image_err, parse_platform, ImageService};
use crate::api::{EngineError, EngineResult, PullOptions};

/// A pull's failure as the API reports it: not found (404) where dockerd says so,
/// else a 500 with the message as it stands.
pub(super) fn pull_err(e: PullError) -> EngineError {
    if e.is_not_found() {
        EngineError::NotFound(e.to_string())
    } else {
        EngineError::Failed(e.to_string())
    }
}

pub(super) fn credentials(a: &AuthConfig) -> Credentials {
    Credentials {
        username: a.username.clone(),
        password: a.password.clone(),
        identity_token: a.identitytoken.clone(),
        registry_token: a.registrytoken.clone(),
    }
}

/// `POST /auth`: the credentials checked against their registry; refused ones are a
/// 401, an unparsable address a 400, anything else a 500 — each in dockerd's words.
pub fn login(client: &RegistryClient, auth: &AuthConfig) -> EngineResult<AuthenticateOkBody> {
    let mut auth = auth.clone();
    auth.fill_from_auth();
    match client.login(&auth.serveraddress, &credentials(&auth)) {
        Ok(ok) => Ok(AuthenticateOkBody {
            status: ok.status,
            identity_token: ok.identity_token,
        }),
        Err(LoginError::BadAddress(m)) => Err(EngineError::BadParameter(m)),
        Err(LoginError::Unauthorized(m)) => Err(EngineError::Unauthorized(m)),
        Err(LoginError::Failed(e)) => Err(EngineError::Failed(e.to_string())),
    }
}

/// `GET /images/search`: the registry's v1 search; a registry without one is a 500
/// that names it. Filters as dockerd's: `stars=N` (at least N), `is-official`,
/// `is-automated` (`true` or `false`).
pub fn search(
    client: &RegistryClient,
    term: &str,
    limit: u32,
    filters: &berth_api_types::Filters,
) -> EngineResult<Vec<ImageSearchResult>> {
    filters
        .validate(&["stars", "is-official", "is-automated"])
        .map_err(|e| EngineError::BadParameter(e.to_string()))?;
    let mut min_stars = 0u32;
    for v in filters.get("stars") {
        let n = v
            .parse::<u32>()
            .map_err(|_| EngineError::BadParameter(format!("invalid filter 'stars={v}'")))?;
        min_stars = min_stars.max(n);
    }
    let flag = |key: &str| -> EngineResult<Option<bool>> {
        match filters.get(key).last().map(String::as_str) {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(v) => Err(EngineError::BadParameter(format!(
                "invalid filter '{key}={v}'"
            ))),
        }
    };
    let (official, automated) = (flag("is-official")?, flag("is-automated")?);
    let results = client
        .search(term, limit)
        .map_err(|e| EngineError::Failed(e.to_string()))?;
    Ok(results
        .into_iter()
        .filter(|r| r.star_count >= min_stars)
        .filter(|r| official.is_none_or(|o| r.is_official == o))
        .filter(|r| automated.is_none_or(|a| r.is_automated == a))
        .map(|r| ImageSearchResult {
            star_count: r.star_count,
            is_official: r.is_official,
            name: r.name,
            is_automated: r.is_automated,
            description: r.description,
        })
        .collect())
}

/// Go's `units.HumanSize`: decimal units, four significant digits.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    let digits = if v >= 1.0 {
        v.log10().floor() as i32 + 1
    } else {
        1
    };
    let decimals = (4 - digits).max(0) as usize;
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", UNITS[u])
}

/// dockerd's rendering of a progress detail (`[====>    ] 1.2MB/3.4MB`), as sent to
/// clients without a terminal of their own.
pub fn progress_bar(current: u64, total: u64) -> String {
    if total == 0 {
        return if current == 0 {
            String::new()
        } else {
            format!("{:>8}", human_size(current))
        };
    }
    let pct = ((current as f64 / total as f64 * 100.0) as usize / 2).min(50);
    let bar = format!("[{}>{}] ", "=".repeat(pct), " ".repeat(50 - pct));
    let numbers = if current > total {
        format!("{:>8}", human_size(current))
    } else {
        format!("{:>8}/{}", human_size(current), human_size(total))
    };
    bar + &numbers
}

pub(super) fn message(p: Progress) -> JsonMessage {
    let mut m = JsonMessage {
        id: p.id,
        status: p.status,
        ..JsonMessage::default()
    };
    if let Some((current, total)) = p.detail {
        m.progress = progress_bar(current, total);
        m.progress_detail = Some(ProgressDetail {
            current: i64::try_from(current).unwrap_or(i64::MAX),
            total: i64::try_from(total).unwrap_or(i64::MAX),
        });
    }
    m
}

/// The reference `fromImage` and `tag` name: a tag, a digest, or (neither) a whole
/// repository.
pub(crate) fn pull_reference(image: &str, tag: &str) -> EngineResult<Reference> {
    let bad = |e: String| EngineError::BadParameter(format!("invalid reference format: {e}"));
    let named = Reference::parse_named(image).map_err(|e| bad(e.to_string()))?;
    if tag.is_empty() {
        return Ok(named);
    }
    if let Ok(d) = tag.parse::<Digest>() {
        return Ok(named.with_digest(d));
    }
    named.with_tag(tag).map_err(|e| bad(e.to_string()))
}

impl ImageService {
    /// Pulls as dockerd does; returns the ids and names pulled (for events).
    pub fn pull(
        &self,
        client: &RegistryClient,
        opts: &PullOptions,
        out: &mut dyn FnMut(JsonMessage) -> bool,
    ) -> EngineResult<Vec<(String, String)>> {
        let reference = pull_reference(&opts.image, &opts.tag)?;
        let platform = match opts.platform.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => parse_platform(p)?,
            None => berth_image::model::host_platform(),
        };
        let creds = credentials(&opts.auth);
        let all_tags = reference.tag().is_none() && reference.digest().is_none();
        let refs: Vec<Reference> = if all_tags {
            let mut tags = client.tags(&reference, &creds).map_err(pull_err)?;
            tags.sort();
            tags.iter()
                .map(|t| reference.with_tag(t))
                .collect::<Result<_, _>>()
                .map_err(|e| EngineError::Failed(e.to_string()))?
        } else {
            vec![reference.clone()]
        };
        let temp_key = |chain: &Digest| self.temp_unpack_key(chain);
        let has_image = |id: &Digest| self.store.get(&id.to_string()).is_ok();
        let target = PullTarget {
            content: self.store.content(),
            snapshotter: self.snapshotter.as_ref(),
            leases: &self.leases,
            temp_key: &temp_key,
            has_image: &has_image,
        };
        let mut updated = false;
        let mut pulled_names = Vec::new();
        for r in &refs {
            let mut forward = |p: Progress| out(message(p));
            let pulled = client
                .pull(r, &platform, &creds, &target, &mut forward)
                .map_err(pull_err)?;
            let named = {
                let _w = self.writing();
                let before = self.store.get(&canonical(r).to_string()).ok().map(|i| i.id);
                let mut names = vec![r.clone()];
                if r.digest().is_none() {
                    names.push(r.with_digest(pulled.target.digest.clone()));
                }
                let mut result = Ok(());
                for n in &names {
                    if let Err(e) = self
                        .store
                        .put_for_platform(Some(n), &pulled.target, &platform)
                    {
                        result = Err(image_err(e));
                        break;
                    }
                }
                let _ = self.leases.delete(&pulled.lease);
                result?;
                before.as_ref() != Some(&pulled.config)
            };
            updated |= named;
            pulled_names.push((pulled.config.to_string(), r.familiar()));
            out(JsonMessage::status(format!(
                "Digest: {}",
                pulled.target.digest
            )));
        }
        let shown = if all_tags {
            reference.familiar_name()
        } else {
            reference.familiar()
        };
        out(JsonMessage::status(if updated {
            format!("Status: Downloaded newer image for {shown}")
        } else {
            format!("Status: Image is up to date for {shown}")
        }));
        Ok(pulled_names)
    }

    /// `/distribution/{name}/json`.
    pub fn distribution(
        &self,
        client: &RegistryClient,
        name: &str,
        auth: &AuthConfig,
    ) -> EngineResult<DistributionInspect> {
        let r = Reference::parse(name)
            .map_err(|e| EngineError::BadParameter(format!("invalid reference format: {e}")))?;
        let (d, platforms) = client.resolve(&r, &credentials(auth)).map_err(pull_err)?;
        Ok(DistributionInspect {
            descriptor: DistributionDescriptor {
                media_type: d.media_type,
                digest: d.digest.to_string(),
                size: i64::try_from(d.size).unwrap_or(i64::MAX),
            },
            platforms: platforms
                .into_iter()
                .map(|p| DistributionPlatform {
                    architecture: p.architecture,
                    os: p.os,
                    os_version: p.os_version.unwrap_or_default(),
                    os_features: p.os_features.unwrap_or_default(),
                    variant: p.variant.unwrap_or_default(),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_bars_as_dockerd_renders_them() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(2_097_152), "2.097MB");
        assert_eq!(human_size(3_400_000), "3.4MB");
        assert_eq!(human_size(123_456_789), "123.5MB");
        assert_eq!(
            progress_bar(1_000_000, 2_000_000),
            format!("[{}>{}]      1MB/2MB", "=".repeat(25), " ".repeat(25))
        );
        assert!(progress_bar(5, 5).starts_with(&format!("[{}>]", "=".repeat(50))));
        assert_eq!(progress_bar(0, 0), "");
        let m = message(Progress::bytes("abc", "Downloading", 1, 2));
        assert_eq!(
            m.progress_detail.as_ref().map(|d| (d.current, d.total)),
            Some((1, 2))
        );
        let j = serde_json::to_string(&message(Progress::status(
            "latest",
            "Pulling from library/busybox",
        )))
        .unwrap();
        assert_eq!(
            j,
            r#"{"status":"Pulling from library/busybox","id":"latest"}"#
        );
    }

    #[test]
    fn pull_references() {
        let r = |i, t| pull_reference(i, t).map(|r| r.familiar());
        assert_eq!(r("busybox", "").unwrap(), "busybox");
        assert_eq!(r("busybox", "1.36").unwrap(), "busybox:1.36");
        assert_eq!(r("busybox:2", "").unwrap(), "busybox:2");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            r("localhost:5000/x", &d).unwrap(),
            format!("localhost:5000/x@{d}")
        );
        assert_eq!(r("Bad", "").unwrap_err().status(), 400);
    }
}
