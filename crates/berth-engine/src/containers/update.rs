//! Changing and reading a container in place: update (cgroup resources and restart
//! policy), rename, top and stats.

use std::sync::Arc;

use berth_api_types::container::{
    ContainerTopResponse, ContainerUpdateRequest, ContainerUpdateResponse, Stats,
};

use super::Inner;
use crate::api::{EngineError, EngineResult};
use crate::names;
use crate::shim::runtime_cmd;
use crate::store::Status;

/// Zero fields of an update request mean "leave as is".
fn is_unset<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl Inner {
    /// `POST /containers/{id}/update`.
    pub fn update(
        self: &Arc<Self>,
        r: &str,
        req: ContainerUpdateRequest,
    ) -> EngineResult<ContainerUpdateResponse> {
        let c = self.get(r)?;
        let _op = c.op_lock();
        let mut hc = c.record().host_config;
        let u = &req.resources;
        let cur = &mut hc.resources;
        macro_rules! set_nonzero {
            ($($f:ident),*) => {$(
                if !is_unset(&u.$f) {
                    cur.$f = u.$f.clone();
                }
            )*};
        }
        set_nonzero!(
            blkio_weight,
            cpu_shares,
            cpu_period,
            cpu_quota,
            cpu_realtime_period,
            cpu_realtime_runtime,
            cpuset_cpus,
            cpuset_mems,
            memory,
            memory_swap,
            memory_reservation,
            kernel_memory,
            nano_cpus
        );
        if u.pids_limit.is_some() {
            cur.pids_limit = u.pids_limit;
        }
        // An empty policy name (what the docker CLI sends when --restart is not
        // given) leaves the policy as it is.
        if let Some(rp) = req.restart_policy.as_ref().filter(|rp| !rp.name.is_empty()) {
            if hc.auto_remove && !matches!(rp.name.as_str(), "" | "no") {
                return Err(EngineError::BadParameter(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container".into(),
                ));
            }
            match rp.name.as_str() {
                "no" | "always" | "unless-stopped" | "on-failure" => {}
                other => {
                    return Err(EngineError::BadParameter(format!(
                        "invalid restart policy: unknown policy '{other}'"
                    )))
                }
            }
            hc.restart_policy = rp.clone();
        }
        // Validates the merged resources as create would.
        let (res, warnings) = crate::spec::linux_resources(&hc)
            .map_err(|e| EngineError::BadParameter(e.to_string()))?;
        let status = c.lock().rec.state.status;
        if status.is_running() {
            let file = self.exec_dir(&c.id).join("update.json");
            let data = serde_json::to_vec(&res)
                .map_err(|e| EngineError::internal("serializing resources", e))?;
            crate::store::replace_file(&file, &data)?;
            let file_s = file.to_string_lossy().into_owned();
            runtime_cmd(
                &self.config.runtime,
                &self.runtime_root(),
                &["update", "--resources", &file_s, &c.id],
            )
            .map_err(|m| EngineError::internal(format!("Cannot update container {}", c.id), m))?;
        }
        let rec = {
            let mut g = c.lock();
            g.rec.host_config = hc;
            self.save(&g.rec)?;
            g.rec.clone()
        };
        self.emit(&rec, "update", &[]);
        Ok(ContainerUpdateResponse { warnings })
    }

    /// `POST /containers/{id}/rename`.
    pub fn rename(&self, r: &str, new_name: &str) -> EngineResult<()> {
        let c = self.get(r)?;
        let new = names::validate_name(new_name)?;
        let old = {
            let mut t = self.table.write().expect("container table lock poisoned");
            let old = c.lock().rec.name.clone();
            if old == new {
                return Err(EngineError::BadParameter(
                    "Renaming a container with the same name as its current name".into(),
                ));
            }
            if let Some(other) = t.names.get(&new) {
                return Err(EngineError::Conflict(format!(
                    "Conflict. The container name \"/{new}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
            t.names.remove(&old);
            t.names.insert(new.clone(), c.id.clone());
            old
        };
        let rec = {
            let mut g = c.lock();
            g.rec.name = new;
            self.save(&g.rec)?;
            g.rec.clone()
        };
        self.emit(&rec, "rename", &[("oldName", format!("/{old}"))]);
        Ok(())
    }

    /// `GET /containers/{id}/top`.
    pub fn top(&self, r: &str, ps_args: Option<&str>) -> EngineResult<ContainerTopResponse> {
        let c = self.get(r)?;
        let rec = c.record();
        if !rec.state.status.is_running() {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let cg = berth_cgroups::Cgroup::new(Some(&rec.cgroups_path), &c.id, false)
            .map_err(|e| EngineError::internal(format!("cgroup of container {}", c.id), e))?;
        let pids = cg
            .pids()
            .map_err(|e| EngineError::internal(format!("processes of container {}", c.id), e))?;
        crate::top::top(&pids, ps_args)
    }

    /// `GET /containers/{id}/stats?stream=false`: one sample (zeroed when stopped).
    pub fn stats(&self, r: &str) -> EngineResult<Stats> {
        let c = self.get(r)?;
        let rec = c.record();
        let mut s = if matches!(rec.state.status, Status::Running | Status::Paused) {
            let mut s = crate::stats::cgroup_stats(&rec.cgroups_path)?;
            // Interfaces of its own network namespace (not with the host's network).
            if rec.host_config.network_mode != "host" && rec.state.pid > 0 {
                let dev = format!("/proc/{}/net/dev", rec.state.pid);
                if let Ok(text) = std::fs::read_to_string(&dev) {
                    let nets = crate::stats::net_dev(&text);
                    if !nets.is_empty() {
                        s.networks = Some(nets);
                    }
                }
            }
            s
        } else {
            // Docker answers a stopped container with a zeroed sample.
            Stats {
                read: crate::timefmt::ZERO_TIME.into(),
                preread: crate::timefmt::ZERO_TIME.into(),
                ..Default::default()
            }
        };
        s.name = format!("/{}", rec.name);
        s.id = rec.id.clone();
        Ok(s)
    }
}
