//! Removing containers: `rm` (with force: SIGKILL and wait first) and prune. Removal
//! takes the snapshot, the shim's state directory and the data directory (logs too),
//! and wakes everyone waiting for `removed`.

use std::sync::Arc;
use std::time::Duration;

use berth_api_types::Filters;
use serde_json::json;

use super::{Container, Inner};
use crate::api::{EngineError, EngineResult, PruneReport};
use crate::store::Status;
use crate::timefmt::parse_filter_timestamp;

impl Inner {
    /// `rm --link /PARENT/ALIAS`: takes the link out of the parent's record (its
    /// running processes keep what they were given, as with dockerd).
    pub fn remove_link(&self, link: &str) -> EngineResult<()> {
        let full = format!("/{}", link.trim_start_matches('/'));
        let Some((parent, _alias)) = full[1..].rsplit_once('/') else {
            return Err(EngineError::BadParameter(format!(
                "Conflict, cannot remove the default link name of the container {full}"
            )));
        };
        let c = self.get(parent)?;
        let mut g = c.lock();
        let before = g.rec.host_config.links.len();
        g.rec
            .host_config
            .links
            .retain(|l| l.split_once(':').map(|(_, own)| own) != Some(full.as_str()));
        if g.rec.host_config.links.len() == before {
            return Err(EngineError::NotFound(format!(
                "Could not find entity for {full}"
            )));
        }
        self.save(&g.rec)
    }

    /// `DELETE /containers/{id}`.
    pub fn remove(self: &Arc<Self>, r: &str, force: bool, volumes: bool) -> EngineResult<()> {
        let c = self.get(r)?;
        self.remove_container(&c, force, volumes)
    }

    /// Removes `c`; `force` kills it first when it runs; `volumes` removes its
    /// anonymous volumes too (those no other container uses).
    pub(crate) fn remove_container(
        self: &Arc<Self>,
        c: &Arc<Container>,
        force: bool,
        volumes: bool,
    ) -> EngineResult<()> {
        let _op = c.op_lock();
        let (status, exits0) = {
            let mut g = c.lock();
            if g.removed {
                return Ok(());
            }
            let status = g.rec.state.status;
            match status {
                Status::Running | Status::Restarting if !force => {
                    return Err(EngineError::Conflict(format!(
                        "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                        c.id
                    )))
                }
                Status::Paused if !force => {
                    return Err(EngineError::Conflict(format!(
                        "You cannot remove a paused container {}. Unpause and then stop the container before attempting removal or force remove",
                        c.id
                    )))
                }
                _ => {}
            }
            g.rec.manually_stopped = true;
            (status, g.exits)
        };
        if status.is_running() {
            let sh = self.shim(&c.id);
            let _ = sh.call(&json!({"op": "kill", "signal": libc::SIGKILL, "all": true}));
            let rec = c.record();
            self.emit(&rec, "kill", &[("signal", libc::SIGKILL.to_string())]);
            if !self.wait_removal_exit(c, exits0) {
                let _ = sh.call(&json!({"op": "shutdown"}));
                if !self.wait_removal_exit(c, exits0) {
                    return Err(EngineError::internal(
                        format!("Could not kill running container {}, cannot remove", c.id),
                        "it did not exit after SIGKILL",
                    ));
                }
            }
        }
        if c.lock().shim_up {
            self.abandon_shim(c);
        }
        let rec = {
            let mut g = c.lock();
            g.rec.state.status = Status::Removing;
            g.rec.clone()
        };
        self.unmount_rootfs(&c.id);
        match self.snapshotter.remove(&rec.snapshot_key) {
            Ok(()) | Err(berth_image::snapshot::SnapshotError::NotFound { .. }) => {}
            Err(e) => {
                let mut g = c.lock();
                g.rec.state.status = Status::Dead;
                g.rec.state.error = e.to_string();
                let _ = self.save(&g.rec);
                return Err(EngineError::internal(
                    format!("removing the snapshot of container {}", c.id),
                    e,
                ));
            }
        }
        for d in [self.exec_dir(&c.id), self.data_dir(&c.id)] {
            match std::fs::remove_dir_all(&d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(EngineError::io("removing", d, e)),
            }
        }
        {
            let mut execs = self.execs.lock().expect("exec table lock poisoned");
            execs.retain(|_, e| e.container_id != c.id);
        }
        {
            let mut t = self.table.write().expect("container table lock poisoned");
            t.by_id.remove(&c.id);
            if t.names.get(&rec.name) == Some(&c.id) {
                t.names.remove(&rec.name);
            }
        }
        // Before waiters for `removed` wake: `run --rm` then finds its anonymous
        // volumes gone.
        self.unmount_volumes(&rec);
        self.drop_volumes(&rec, volumes);
        {
            let mut g = c.lock();
            g.removed = true;
            // Attaches waiting for a next run end.
            g.pending_attach.clear();
            c.cond.notify_all();
        }
        self.emit(&rec, "destroy", &[]);
        Ok(())
    }

    fn wait_removal_exit(&self, c: &Container, exits0: u64) -> bool {
        let end = std::time::Instant::now() + Duration::from_secs(30);
        let mut g = c.lock();
        while g.exits == exits0 && g.rec.state.status.is_running() {
            let now = std::time::Instant::now();
            if now >= end {
                return false;
            }
            g = c.wait_timeout(g, end - now);
        }
        true
    }

    /// `POST /containers/prune`.
    pub fn prune(self: &Arc<Self>, filters: Filters) -> EngineResult<PruneReport> {
        filters
            .validate(&["until", "label", "label!"])
            .map_err(|e| EngineError::BadParameter(e.to_string()))?;
        let mut until = None;
        for u in filters.get("until") {
            until =
                Some(parse_filter_timestamp(u).ok_or_else(|| {
                    EngineError::BadParameter(format!("invalid filter 'until={u}'"))
                })?);
        }
        let mut report = PruneReport::default();
        for c in self.all() {
            let rec = c.record();
            if !matches!(
                rec.state.status,
                Status::Exited | Status::Created | Status::Dead
            ) {
                continue;
            }
            if until.is_some_and(|u| rec.created >= u) {
                continue;
            }
            if !filters.match_label(&rec.config.labels) {
                continue;
            }
            if filters
                .get("label!")
                .iter()
                .any(|l| match l.split_once('=') {
                    Some((k, v)) => rec.config.labels.get(k).is_some_and(|have| have == v),
                    None => rec.config.labels.contains_key(l.as_str()),
                })
            {
                continue;
            }
            let size = self
                .snapshotter
                .usage(&rec.snapshot_key)
                .map(|u| u.size)
                .unwrap_or(0);
            if self.remove_container(&c, false, false).is_ok() {
                report.deleted.push(rec.id.clone());
                report.space_reclaimed += size;
            }
        }
        self.events.emit(
            "container",
            "prune",
            "",
            [("reclaimed".to_string(), report.space_reclaimed.to_string())].into(),
        );
        Ok(report)
    }
}
