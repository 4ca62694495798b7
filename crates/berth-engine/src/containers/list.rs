//! Looking at containers: `GET /containers/json` with Docker's filters and status
//! text, and `GET /containers/{id}/json`.

use berth_api_types::container::{
    ContainerInspect, ContainerState, ContainerSummary, GraphDriverData, SummaryHostConfig,
};
use berth_api_types::network::SummaryNetworkSettings;

use super::Inner;
use crate::api::{EngineError, EngineResult, ListOptions};
use crate::store::{ContainerRecord, Status};
use crate::timefmt::{human_duration, now_nanos, rfc3339_nanos};

const LIST_FILTERS: &[&str] = &[
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];

/// `docker ps`'s STATUS column.
pub(crate) fn status_text(rec: &ContainerRecord, now: i64) -> String {
    let s = &rec.state;
    match s.status {
        Status::Paused => format!("Up {} (Paused)", human_duration(now - s.started_at)),
        Status::Running => {
            let up = human_duration(now - s.started_at);
            match s.health.as_ref().map(|h| h.status.as_str()) {
                Some(h) if !h.is_empty() && h != "none" => {
                    let h = if h == "starting" {
                        "health: starting"
                    } else {
                        h
                    };
                    format!("Up {up} ({h})")
                }
                _ => format!("Up {up}"),
            }
        }
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            s.exit_code,
            human_duration(now - s.finished_at)
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Created => "Created".into(),
        Status::Exited if s.started_at == 0 => "Created".into(),
        Status::Exited if s.finished_at == 0 => String::new(),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            s.exit_code,
            human_duration(now - s.finished_at)
        ),
    }
}

/// The health status a `health` filter compares (`none` without a health check).
fn health_of(rec: &ContainerRecord) -> &str {
    rec.state
        .health
        .as_ref()
        .map(|h| h.status.as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("none")
}

/// A small pattern match for the `name` filter: Docker takes a regular expression;
/// berth honours `^` and `$` anchors and matches the rest as a substring.
fn name_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.strip_prefix('/').unwrap_or(pattern);
    let (start, p) = match pattern.strip_prefix('^') {
        Some(p) => (true, p.strip_prefix('/').unwrap_or(p)),
        None => (false, pattern),
    };
    let (end, p) = match p.strip_suffix('$') {
        Some(p) => (true, p),
        None => (false, p),
    };
    match (start, end) {
        (true, true) => name == p,
        (true, false) => name.starts_with(p),
        (false, true) => name.ends_with(p),
        (false, false) => name.contains(p),
    }
}

impl Inner {
    fn summary(&self, rec: &ContainerRecord, size: bool, now: i64) -> ContainerSummary {
        let mut command = rec.path.clone();
        if !rec.args.is_empty() {
            command.push(' ');
            command.push_str(&rec.args.join(" "));
        }
        let (size_rw, size_root) = if size { self.sizes(rec) } else { (None, None) };
        ContainerSummary {
            id: rec.id.clone(),
            names: vec![format!("/{}", rec.name)],
            image: rec.image_name.clone(),
            image_id: rec.image_id.clone(),
            command,
            created: rec.created / 1_000_000_000,
            ports: ports_of(&rec.network_settings.ports),
            size_rw,
            size_root_fs: size_root,
            labels: rec.config.labels.clone(),
            state: rec.state.status.as_str().to_string(),
            status: status_text(rec, now),
            host_config: SummaryHostConfig {
                network_mode: rec.host_config.network_mode.clone(),
            },
            network_settings: Some(SummaryNetworkSettings {
                networks: rec.network_settings.networks.clone(),
            }),
            mounts: super::mount_points(rec),
        }
    }

    /// SizeRw (the snapshot's own usage) and SizeRootFs (plus the image).
    fn sizes(&self, rec: &ContainerRecord) -> (Option<i64>, Option<i64>) {
        let rw = self
            .snapshotter
            .usage(&rec.snapshot_key)
            .map(|u| u.size as i64)
            .unwrap_or(0);
        let image = self
            .images
            .inspect(&rec.image_id)
            .map(|i| i.size)
            .unwrap_or(0);
        (Some(rw), Some(rw + image))
    }

    /// `GET /containers/json`.
    pub fn list(&self, opts: ListOptions) -> EngineResult<Vec<ContainerSummary>> {
        let f = &opts.filters;
        f.validate(LIST_FILTERS)
            .map_err(|e| EngineError::BadParameter(e.to_string()))?;
        for s in f.get("status") {
            if !matches!(
                s.as_str(),
                "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead"
            ) {
                return Err(EngineError::BadParameter(format!(
                    "Invalid filter 'status={s}'"
                )));
            }
        }
        for h in f.get("health") {
            if !matches!(h.as_str(), "starting" | "healthy" | "unhealthy" | "none") {
                return Err(EngineError::BadParameter(format!(
                    "Invalid filter 'health={h}'"
                )));
            }
        }
        let mut exited = Vec::new();
        for e in f.get("exited") {
            exited.push(
                e.parse::<i64>().map_err(|_| {
                    EngineError::BadParameter(format!("invalid filter 'exited={e}'"))
                })?,
            );
        }
        let created_of = |r: &str| -> EngineResult<i64> { Ok(self.get(r)?.lock().rec.created) };
        let mut before = None;
        for b in f.get("before") {
            before = Some(created_of(b)?);
        }
        let mut since = None;
        for s in f.get("since") {
            since = Some(created_of(s)?);
        }
        let mut ancestors: Vec<String> = Vec::new();
        for a in f.get("ancestor") {
            if let Ok(img) = self.images.resolve(a) {
                ancestors.push(img.id);
            }
        }
        let bare = |s: &str| s.strip_suffix(":latest").unwrap_or(s).to_string();
        let all = opts.all
            || opts.limit.is_some_and(|n| n > 0)
            || f.contains("status")
            || !exited.is_empty();
        let now = now_nanos();
        let mut out = Vec::new();
        for c in self.all() {
            let rec = c.record();
            let st = rec.state.status;
            if !all && !st.is_running() {
                continue;
            }
            if !f.get("status").is_empty() && !f.get("status").iter().any(|s| s == st.as_str()) {
                continue;
            }
            if !f.get("id").is_empty()
                && !f.get("id").iter().any(|p| rec.id.starts_with(p.as_str()))
            {
                continue;
            }
            if !f.get("name").is_empty()
                && !f.get("name").iter().any(|p| name_matches(p, &rec.name))
            {
                continue;
            }
            if !f.match_label(&rec.config.labels) {
                continue;
            }
            let exit_hit = st == Status::Exited
                && rec.state.started_at != 0
                && exited.contains(&rec.state.exit_code);
            if !exited.is_empty() && !exit_hit {
                continue;
            }
            if !f.get("health").is_empty() && !f.get("health").iter().any(|h| h == health_of(&rec))
            {
                continue;
            }
            if !f.get("ancestor").is_empty() {
                let hex = rec.image_id.trim_start_matches("sha256:");
                let hit = ancestors.contains(&rec.image_id)
                    || f.get("ancestor").iter().any(|a| {
                        bare(a) == bare(&rec.image_name)
                            || (a.trim_start_matches("sha256:").len() >= 4
                                && hex.starts_with(a.trim_start_matches("sha256:")))
                    });
                if !hit {
                    continue;
                }
            }
            if before.is_some_and(|b| rec.created >= b) || since.is_some_and(|s| rec.created <= s) {
                continue;
            }
            // `volume=` names a volume or a mount destination, as dockerd matches it.
            if !f.get("volume").is_empty()
                && !f.get("volume").iter().any(|v| {
                    rec.mounts
                        .iter()
                        .any(|m| (!m.name.is_empty() && m.name == *v) || m.destination == *v)
                })
            {
                continue;
            }
            out.push(self.summary(&rec, opts.size, now));
            if opts.limit.is_some_and(|n| n > 0 && out.len() >= n) {
                break;
            }
        }
        Ok(out)
    }

    /// Every container with its size, for /system/df.
    pub fn df_containers(&self) -> Vec<ContainerSummary> {
        let now = now_nanos();
        self.all()
            .iter()
            .map(|c| self.summary(&c.record(), true, now))
            .collect()
    }

    /// `GET /containers/{id}/json`.
    pub fn inspect(&self, r: &str, size: bool) -> EngineResult<ContainerInspect> {
        let c = self.get(r)?;
        let (rec, exec_ids) = {
            let g = c.lock();
            (g.rec.clone(), g.exec_ids.clone())
        };
        let s = &rec.state;
        let state = ContainerState {
            status: s.status.as_str().to_string(),
            running: s.status.is_running(),
            paused: s.status == Status::Paused,
            restarting: s.status == Status::Restarting,
            oom_killed: s.oom_killed,
            dead: s.status == Status::Dead,
            pid: s.pid,
            exit_code: s.exit_code,
            error: s.error.clone(),
            started_at: rfc3339_nanos(s.started_at),
            finished_at: rfc3339_nanos(s.finished_at),
            health: s.health.clone(),
        };
        let mut gd = GraphDriverData {
            name: "overlay2".into(),
            ..Default::default()
        };
        if let Ok(mounts) = self.snapshotter.mounts(&rec.snapshot_key) {
            for m in &mounts {
                for o in &m.options {
                    for (k, key) in [
                        ("lowerdir=", "LowerDir"),
                        ("upperdir=", "UpperDir"),
                        ("workdir=", "WorkDir"),
                    ] {
                        if let Some(v) = o.strip_prefix(k) {
                            gd.data.insert(key.into(), v.to_string());
                        }
                    }
                }
                if m.typ == "bind" && !gd.data.contains_key("UpperDir") {
                    gd.data.insert("UpperDir".into(), m.source.clone());
                }
            }
            gd.data.insert(
                "MergedDir".into(),
                self.rootfs(&rec.id).to_string_lossy().into_owned(),
            );
        }
        let (size_rw, size_root_fs) = if size { self.sizes(&rec) } else { (None, None) };
        let running_execs: Vec<String> = {
            let execs = self.execs.lock().expect("exec table lock poisoned");
            exec_ids
                .into_iter()
                .filter(|e| execs.get(e).is_some_and(|x| x.is_live()))
                .collect()
        };
        Ok(ContainerInspect {
            id: rec.id.clone(),
            created: rfc3339_nanos(rec.created),
            path: rec.path.clone(),
            args: rec.args.clone(),
            state: Some(state),
            image: rec.image_id.clone(),
            resolv_conf_path: rec.resolv_conf_path.to_string_lossy().into_owned(),
            hostname_path: rec.hostname_path.to_string_lossy().into_owned(),
            hosts_path: rec.hosts_path.to_string_lossy().into_owned(),
            log_path: if rec.host_config.log_config.kind == "none" {
                String::new()
            } else {
                rec.log_path.to_string_lossy().into_owned()
            },
            name: format!("/{}", rec.name),
            restart_count: rec.restart_count,
            driver: "overlay2".into(),
            platform: "linux".into(),
            mount_label: String::new(),
            process_label: String::new(),
            app_armor_profile: String::new(),
            exec_ids: (!running_execs.is_empty()).then_some(running_execs),
            host_config: Some(rec.host_config.clone()),
            graph_driver: gd,
            size_rw,
            size_root_fs,
            mounts: super::mount_points(&rec),
            config: Some(rec.config.clone()),
            network_settings: Some(rec.network_settings.clone()),
        })
    }
}

/// `Ports` of a list entry: one per binding, and one without a public port for each
/// port exposed but not published.
fn ports_of(map: &berth_api_types::network::PortMap) -> Vec<berth_api_types::network::Port> {
    let mut out = Vec::new();
    for (key, bindings) in map {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let Ok(private_port) = port.parse::<u16>() else {
            continue;
        };
        match bindings {
            Some(b) if !b.is_empty() => {
                for b in b {
                    out.push(berth_api_types::network::Port {
                        ip: b.host_ip.clone(),
                        private_port,
                        public_port: b.host_port.parse().unwrap_or(0),
                        kind: proto.to_string(),
                    });
                }
            }
            _ => out.push(berth_api_types::network::Port {
                private_port,
                kind: proto.to_string(),
                ..Default::default()
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_texts() {
        let s = 1_000_000_000i64;
        let mut r = ContainerRecord::default();
        assert_eq!(status_text(&r, 100 * s), "Created");
        r.state.status = Status::Running;
        r.state.started_at = 97 * s;
        assert_eq!(status_text(&r, 100 * s), "Up 3 seconds");
        r.state.status = Status::Paused;
        assert_eq!(status_text(&r, 100 * s), "Up 3 seconds (Paused)");
        r.state.status = Status::Running;
        r.state.health = Some(berth_api_types::container::Health {
            status: "healthy".into(),
            ..Default::default()
        });
        assert_eq!(status_text(&r, 200 * s), "Up About a minute (healthy)");
        r.state.status = Status::Exited;
        r.state.finished_at = 96 * s;
        assert_eq!(status_text(&r, 100 * s), "Exited (0) 4 seconds ago");
        r.state.status = Status::Restarting;
        r.state.exit_code = 1;
        assert_eq!(status_text(&r, 98 * s), "Restarting (1) 2 seconds ago");
    }

    #[test]
    fn names() {
        assert!(name_matches("web", "my-web-1"));
        assert!(name_matches("^web", "web-1"));
        assert!(!name_matches("^web$", "web-1"));
        assert!(name_matches("/web", "web"));
    }
}
