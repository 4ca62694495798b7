//! `POST /images/prune`, with dockerd's rules: by default only dangling images (no
//! tag; digest names alone do not save one) go; `dangling=false` takes every image no
//! container uses. Each goes as `DELETE /images/{name}` without force would take it,
//! name by name, so an image a container uses (a conflict) is skipped, not forced.
//!
//! Filters: `dangling` (`true`/`1`, `false`/`0`; any false value wins, as in dockerd),
//! `until` (created before: a duration, unix time or RFC 3339), `label` (`k`, `k=v`,
//! `k!=v`; all must hold) and `label!` (skip images that match all of them).
//!
//! The space reclaimed is the content size of every layer whose blob the prune's
//! garbage collection removed, as dockerd sums the sizes of the layers it deleted.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use berth_api_types::Filters;
use berth_types::Digest;

use super::query::{created_of, labels_of};
use super::{image_err, ImageService, ImageUser};
use crate::api::{EngineError, EngineResult, ImagePruneReport};
use crate::timefmt::parse_filter_timestamp;

const PRUNE_FILTERS: [&str; 4] = ["dangling", "label", "label!", "until"];

fn bad(msg: String) -> EngineError {
    EngineError::BadParameter(msg)
}

/// `dangling`: true (the default) means untagged images only.
fn dangling_only(filters: &Filters) -> EngineResult<bool> {
    let vals = filters.get("dangling");
    if !filters.contains("dangling") || vals.is_empty() {
        return Ok(true);
    }
    if vals.iter().any(|v| v == "false" || v == "0") {
        return Ok(false);
    }
    if vals.iter().any(|v| v == "true" || v == "1") {
        return Ok(true);
    }
    Err(bad(format!("invalid filter 'dangling={}'", vals.join(","))))
}

/// `until` as unix nanoseconds.
fn until(filters: &Filters) -> EngineResult<Option<i64>> {
    match filters.get("until") {
        [] => Ok(None),
        [u] => parse_filter_timestamp(u).map(Some).ok_or_else(|| {
            bad(format!(
                "invalid filter 'until={u}': not a duration, unix time or RFC 3339 date"
            ))
        }),
        _ => Err(bad("more than one until filter specified".into())),
    }
}

/// dockerd's `MatchKVList`: every `k` / `k=v` of `key` holds.
fn all_match(filters: &Filters, key: &str, labels: &BTreeMap<String, String>) -> bool {
    filters.get(key).iter().all(|f| match f.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(f.as_str()),
    })
}

/// Clears the "prune running" flag however the prune ends.
struct Running<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl ImageService {
    /// Prunes images; `users` are the containers' uses of images (those are kept).
    pub fn prune(&self, filters: &Filters, users: &[ImageUser]) -> EngineResult<ImagePruneReport> {
        filters
            .validate(&PRUNE_FILTERS)
            .map_err(|e| bad(e.to_string()))?;
        let dangling_only = dangling_only(filters)?;
        let until = until(filters)?;
        if self.pruning.swap(true, Ordering::SeqCst) {
            return Err(EngineError::Conflict(
                "a prune operation is already running".into(),
            ));
        }
        let _running = Running(&self.pruning);

        let mut report = ImagePruneReport::default();
        // Layer blob → content size, of every layer of every image pruned.
        let mut layers: BTreeMap<Digest, u64> = BTreeMap::new();
        let records = self.store.list().map_err(image_err)?;
        // An untagged image a build made that is another image's parent is not
        // dangling (dockerd's heads only): it goes with its last child.
        let parents: std::collections::BTreeSet<Digest> =
            records.iter().filter_map(|r| r.parent.clone()).collect();
        for rec in records {
            if dangling_only && rec.names.is_empty() && parents.contains(&rec.id) {
                continue;
            }
            // A record whose config is unreadable is not judged by its labels or age;
            // `rmi` by id is how it goes.
            let Ok(cfg) = self.config(&rec.id) else {
                continue;
            };
            if let Some(u) = until {
                let (s, n) = created_of(&cfg);
                if s.saturating_mul(1_000_000_000).saturating_add(i64::from(n)) > u {
                    continue;
                }
            }
            let labels = labels_of(&cfg);
            if !filters.match_label(&labels) {
                continue;
            }
            if filters.contains("label!") && all_match(filters, "label!", &labels) {
                continue;
            }
            let targets: Vec<String> = if rec.names.is_empty() {
                vec![rec.id.to_string()]
            } else if dangling_only && rec.repo_tags().next().is_some() {
                continue;
            } else {
                rec.names.iter().map(ToString::to_string).collect()
            };
            // Sizes before the blobs may go (a size is computed from the blob once).
            for l in self.store.layers(&rec.id).unwrap_or_default() {
                let size = self.layer_size(&l);
                layers.insert(l.blob.digest, size);
            }
            for target in targets {
                match self.remove_image(&target, false, false, users) {
                    Ok(items) => report.deleted.extend(items),
                    // In use by a container, or a digest name already gone with its
                    // repository's last tag: keep going, as dockerd does.
                    Err(EngineError::Conflict(_) | EngineError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let content = self.store.content();
        report.space_reclaimed = layers
            .iter()
            .filter(|(blob, _)| !content.exists(blob))
            .map(|(_, size)| size)
            .sum();
        Ok(report)
    }
}
