//! A container's filesystem as users see it: `diff` (what changed), `export` (all of
//! it as a tar) and `commit` (the changes as a new image).

use std::io::Write;
use std::sync::Arc;

use berth_api_types::container::{ContainerChange, ContainerConfig};
use berth_image::layer::diff::{without_runtime_made, ChangeKind, DiffOptions};
use berth_image::model::RunConfig;
use serde_json::Value;

use super::{Container, Inner};
use crate::api::{CommitOptions, EngineError, EngineResult};
use crate::shim::runtime_cmd;
use crate::store::{ContainerRecord, Status};

/// Where the runtime mounts over every container's root (and the tmpfs mounts it was
/// given): mount points there are the runtime's, not the container's changes.
fn runtime_mountpoints(rec: &ContainerRecord) -> Vec<String> {
    let mut m: Vec<String> = [
        "/proc",
        "/dev",
        "/sys",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    m.extend(rec.host_config.tmpfs.keys().cloned());
    // Binds and volumes are not the container's filesystem: their mount points are
    // left out of diff and commit, as dockerd leaves them in its init layer.
    m.extend(rec.mounts.iter().map(|x| x.destination.clone()));
    m
}

impl Inner {
    /// `docker diff`.
    pub fn changes(self: &Arc<Self>, r: &str) -> EngineResult<Vec<ContainerChange>> {
        let c = self.get(r)?;
        let rec = c.record();
        let changes = self
            .snapshotter
            .changes(&rec.snapshot_key)
            .map_err(|e| EngineError::internal(format!("reading the changes of {}", c.id), e))?;
        Ok(without_runtime_made(changes, &runtime_mountpoints(&rec))
            .into_iter()
            .map(|ch| ContainerChange {
                path: ch.path,
                kind: match ch.kind {
                    ChangeKind::Modified => ContainerChange::MODIFIED,
                    ChangeKind::Added => ContainerChange::ADDED,
                    ChangeKind::Deleted => ContainerChange::DELETED,
                },
            })
            .collect())
    }

    /// `docker export`: the whole filesystem, mounting a stopped container's for the
    /// time it takes.
    pub fn export(self: &Arc<Self>, r: &str, out: &mut dyn Write) -> EngineResult<()> {
        let c = self.get(r)?;
        let _op = c.op_lock();
        let rec = c.record();
        let (rootfs, mounted_here) = self.mount_rootfs_here(&c, &rec)?;
        let res = berth_image::archive::export_rootfs(&rootfs, out)
            .map(|_| ())
            .map_err(|e| EngineError::internal(format!("exporting container {}", c.id), e));
        self.release_rootfs(&c, mounted_here);
        res
    }

    /// `docker commit`.
    pub fn commit(self: &Arc<Self>, o: CommitOptions) -> EngineResult<String> {
        let c = self.get(&o.container)?;
        let _op = c.op_lock();
        let rec = c.record();
        let config = commit_config(&rec.config, o.config.as_ref(), &o.changes)?;
        let created_by = std::iter::once(rec.path.as_str())
            .chain(rec.args.iter().map(String::as_str))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        // Only a running container needs pausing; one that exits before (or while) it
        // is paused needs none, so a failed pause of it is no error.
        let freeze = o.pause
            && rec.state.status == Status::Running
            && match self.runtime_freeze(&c, true) {
                Ok(()) => true,
                Err(_) if !self.still_running(&c) => false,
                Err(e) => return Err(e),
            };
        let opts = DiffOptions {
            mountpoints: runtime_mountpoints(&rec),
            ..DiffOptions::default()
        };
        let snapshotter = self.snapshotter.clone();
        let key = rec.snapshot_key.clone();
        let mut diff = |w: &mut dyn Write| {
            snapshotter
                .diff(&key, w, &opts)
                .map(|r| (r.diff_id, r.size))
                .map_err(|e| e.to_string())
        };
        let res = self.images.commit(
            &rec.image_id,
            o.repo.as_deref(),
            o.tag.as_deref(),
            config,
            o.author.filter(|a| !a.is_empty()),
            o.comment.clone().filter(|m| !m.is_empty()),
            created_by,
            &mut diff,
        );
        if freeze {
            let _ = self.runtime_freeze(&c, false);
        }
        let id = res?;
        let mut attrs = vec![("imageID", id.clone())];
        if let Some(r) = o.repo.as_deref().filter(|r| !r.is_empty()) {
            attrs.push((
                "imageRef",
                format!("{r}:{}", o.tag.as_deref().unwrap_or("latest")),
            ));
        }
        self.emit(&rec, "commit", &attrs);
        Ok(id)
    }

    /// A build step's commit: the container's changes (none for a metadata step) over
    /// `parent`, mtimes clamped to `epoch` when given.
    #[allow(clippy::too_many_arguments)]
    pub fn commit_for_build(
        self: &Arc<Self>,
        container: Option<&str>,
        parent: Option<&str>,
        config: RunConfig,
        author: Option<String>,
        created_by: String,
        created: Option<String>,
        epoch: Option<i64>,
    ) -> EngineResult<String> {
        let Some(cid) = container else {
            let mut empty = |w: &mut dyn Write| {
                let block = [0u8; 1024];
                w.write_all(&block).map_err(|e| e.to_string())?;
                Ok((berth_image::content::sha256(&block), block.len() as u64))
            };
            return self
                .images
                .commit_build(parent, config, author, created_by, created, &mut empty);
        };
        let c = self.get(cid)?;
        let _op = c.op_lock();
        let rec = c.record();
        let opts = DiffOptions {
            mountpoints: runtime_mountpoints(&rec),
            source_date_epoch: epoch,
        };
        let snapshotter = self.snapshotter.clone();
        let key = rec.snapshot_key.clone();
        let mut diff = |w: &mut dyn Write| {
            snapshotter
                .diff(&key, w, &opts)
                .map(|r| (r.diff_id, r.size))
                .map_err(|e| e.to_string())
        };
        self.images
            .commit_build(parent, config, author, created_by, created, &mut diff)
    }

    /// Whether the container's process still runs, as its shim sees it (a shim that
    /// is gone has nothing running).
    fn still_running(&self, c: &Container) -> bool {
        self.shim(&c.id)
            .call(&serde_json::json!({"op": "state"}))
            .map(|r| r["status"] == "running" || r["status"] == "paused")
            .unwrap_or(false)
    }

    /// Freezes (or thaws) a running container's processes without changing its
    /// recorded state: a commit's pause is not the user's.
    fn runtime_freeze(&self, c: &Container, on: bool) -> EngineResult<()> {
        let verb = if on { "pause" } else { "resume" };
        runtime_cmd(&self.config.runtime, &self.runtime_root(), &[verb, &c.id])
            .map_err(|m| EngineError::internal(format!("cannot {verb} container {}", c.id), m))
    }
}

/// The new image's run config: the container's, the request body's non-empty fields
/// over it, then the `--change` instructions.
fn commit_config(
    container: &ContainerConfig,
    body: Option<&ContainerConfig>,
    changes: &[String],
) -> EngineResult<RunConfig> {
    const KEYS: [&str; 11] = [
        "User",
        "ExposedPorts",
        "Env",
        "Entrypoint",
        "Cmd",
        "Volumes",
        "WorkingDir",
        "Labels",
        "StopSignal",
        "OnBuild",
        "Healthcheck",
    ];
    let to_value = |c: &ContainerConfig| {
        serde_json::to_value(c).map_err(|e| EngineError::internal("container config", e))
    };
    let base = to_value(container)?;
    let over = body.map(to_value).transpose()?;
    let mut run = serde_json::Map::new();
    for k in KEYS {
        let pick = |v: &Value| v.get(k).filter(|x| !is_empty(x)).cloned();
        if let Some(v) = over.as_ref().and_then(pick).or_else(|| pick(&base)) {
            run.insert(k.to_string(), v);
        }
    }
    let mut cfg: RunConfig = serde_json::from_value(Value::Object(run))
        .map_err(|e| EngineError::internal("image config from the container's", e))?;
    berth_image::archive::apply_changes(&mut cfg, changes)
        .map_err(|e| EngineError::BadParameter(e.to_string()))?;
    Ok(cfg)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_config_layers_container_body_and_changes() {
        let container = ContainerConfig {
            cmd: Some(vec!["sh".into()]),
            env: vec!["A=1".into()],
            working_dir: "/srv".into(),
            ..Default::default()
        };
        let body = ContainerConfig {
            cmd: Some(vec!["top".into()]),
            ..Default::default()
        };
        let c = commit_config(&container, Some(&body), &["ENV DEBUG TRUE".into()]).unwrap();
        assert_eq!(c.cmd, Some(vec!["top".to_string()]));
        assert_eq!(c.working_dir.as_deref(), Some("/srv"));
        let env = c.env.unwrap();
        assert!(
            env.contains(&"A=1".to_string()) && env.contains(&"DEBUG=TRUE".to_string()),
            "{env:?}"
        );
        let e = commit_config(&container, None, &["BOGUS x".into()]).unwrap_err();
        assert_eq!(e.status(), 400, "{e}");
    }
}
