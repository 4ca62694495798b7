//! The volume endpoints over the store: create, list (with Docker's filters),
//! inspect, remove and prune, each telling its events.

use berth_api_types::volume::{Volume, VolumeCreateRequest, VolumeListResponse};
use berth_api_types::Filters;

use super::parse_bool;
use crate::api::{EngineError, EngineResult, PruneReport};
use crate::containers::Inner;

impl Inner {
    /// `POST /volumes/create`.
    pub fn volume_create(&self, req: VolumeCreateRequest) -> EngineResult<Volume> {
        let (rec, created) =
            self.volumes
                .create(&req.name, &req.driver, &req.driver_opts, &req.labels)?;
        if created {
            self.volume_event("create", &rec.name, &[]);
        }
        Ok(self.volumes.to_api(&rec, None))
    }

    /// `GET /volumes`: filters `dangling`, `name` (part of the name), `label`,
    /// `driver`.
    pub fn volume_list(&self, f: Filters) -> EngineResult<VolumeListResponse> {
        f.validate(&["dangling", "name", "label", "driver"])
            .map_err(|e| EngineError::BadParameter(e.to_string()))?;
        let mut dangling = None;
        for v in f.get("dangling") {
            dangling = Some(parse_bool(v).ok_or_else(|| {
                EngineError::BadParameter(format!("invalid filter 'dangling={v}'"))
            })?);
        }
        let volumes = self
            .volumes
            .list()
            .into_iter()
            .filter(|(_, refs)| dangling.is_none_or(|d| d == (*refs == 0)))
            .filter(|(v, _)| {
                f.get("name").is_empty()
                    || f.get("name").iter().any(|n| v.name.contains(n.as_str()))
            })
            .filter(|(v, _)| f.exact_match("driver", &v.driver))
            .filter(|(v, _)| f.match_label(&v.labels))
            .map(|(v, _)| self.volumes.to_api(&v, None))
            .collect();
        Ok(VolumeListResponse {
            volumes,
            warnings: Vec::new(),
        })
    }

    /// `GET /volumes/{name}`.
    pub fn volume_inspect(&self, name: &str) -> EngineResult<Volume> {
        let rec = self.volumes.get(name)?;
        Ok(self.volumes.to_api(&rec, None))
    }

    /// `DELETE /volumes/{name}`: 409 naming the containers while any uses it.
    pub fn volume_remove(&self, name: &str, force: bool) -> EngineResult<()> {
        if self.volumes.remove(name, force)? {
            self.volume_event("destroy", name, &[]);
        }
        Ok(())
    }

    /// `POST /volumes/prune`: every unused volume (API 1.41), or only the anonymous
    /// ones with `all=false` (what API 1.42 made the default).
    pub fn volumes_prune(&self, filters: Filters) -> EngineResult<PruneReport> {
        let (deleted, space_reclaimed) = self.volumes.prune(&filters)?;
        for name in &deleted {
            self.volume_event("destroy", name, &[]);
        }
        self.events.emit(
            "volume",
            "prune",
            "",
            [("reclaimed".to_string(), space_reclaimed.to_string())].into(),
        );
        Ok(PruneReport {
            deleted,
            space_reclaimed,
        })
    }

    /// `Volumes` of `/system/df`: with sizes and reference counts.
    pub fn df_volumes(&self) -> Vec<Volume> {
        self.volumes
            .list()
            .into_iter()
            .map(|(v, refs)| {
                let size = self.volumes.size(&v.name) as i64;
                self.volumes.to_api(&v, Some((size, refs as i64)))
            })
            .collect()
    }
}
