//! Starting a container and following it: launching its shim (attaches made before
//! are joined to it before the process runs), `start`, the monitor thread that records the exit
//! and applies the restart policy and AutoRemove, and restoring containers when the
//! engine opens again after a restart or crash.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_image::model::{ImageConfig, RootFs};
use serde_json::json;

use super::create::{cgroups_path_of, log_limits, request_of};
use super::{Container, Inner};
use crate::api::{EngineError, EngineResult};
use crate::shim::{self, Exit, LaunchOpts};
use crate::spec::{self, SpecError};
use crate::store::{self, Status};
use crate::timefmt::now_nanos;

/// Docker's restart back-off: from 100 ms, doubling, reset after 10 s of uptime.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
const BACKOFF_RESET_UPTIME: i64 = 10_000_000_000;

/// How long a shim may take to wind up after the container's exit.
const SHIM_GONE_TIMEOUT: Duration = Duration::from_secs(10);

/// The error a failed create or start of the OCI runtime gives, as dockerd words it;
/// 400 when the command is missing or not executable (the docker CLI maps those to
/// 127 and 126), 500 otherwise.
pub(crate) fn runtime_error(msg: &str) -> EngineError {
    let msg = msg
        .replace(
            "No such file or directory (os error 2)",
            "no such file or directory",
        )
        .replace("Permission denied (os error 13)", "permission denied");
    if msg.contains("executable file not found")
        || msg.contains("no such file or directory")
        || msg.contains("permission denied")
    {
        EngineError::BadParameter(format!("OCI runtime create failed: {msg}: unknown"))
    } else {
        EngineError::Runtime {
            action: "create",
            message: msg,
        }
    }
}

/// An image config with nothing in it: the record's config is already merged.
pub(crate) fn empty_image_config() -> ImageConfig {
    ImageConfig {
        created: None,
        author: None,
        architecture: String::new(),
        os: "linux".into(),
        variant: None,
        config: None,
        rootfs: RootFs {
            typ: "layers".into(),
            diff_ids: Vec::new(),
        },
        history: Vec::new(),
        other: BTreeMap::new(),
    }
}

/// Resolves `p` (absolute, inside the container) under `root` without leaving it,
/// following symlinks as the container would see them.
pub(crate) fn resolve_in_root(root: &Path, p: &Path) -> Option<PathBuf> {
    let mut parts: Vec<PathBuf> = Vec::new();
    let mut todo: Vec<PathBuf> = p.components().rev().map(|c| c.as_os_str().into()).collect();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        match Path::new(&c).components().next() {
            Some(Component::RootDir) | Some(Component::CurDir) | None => continue,
            Some(Component::ParentDir) => {
                parts.pop();
                continue;
            }
            _ => {}
        }
        let mut cur = root.to_path_buf();
        cur.extend(&parts);
        cur.push(&c);
        match std::fs::symlink_metadata(&cur) {
            Ok(md) if md.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                let target = std::fs::read_link(&cur).ok()?;
                if target.is_absolute() {
                    parts.clear();
                }
                todo.extend(target.components().rev().map(|c| c.as_os_str().into()));
            }
            Ok(_) => parts.push(c),
            Err(_) => return None,
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&parts);
    Some(out)
}

/// A command given by path must be an executable regular file: checked from the host
/// (stat only, nothing is run) so that the error comes at start, as with runc, instead
/// of the process dying right after.
fn check_executable(rootfs: &Path, arg0: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if !arg0.contains('/') {
        return Ok(()); // looked up in $PATH by the runtime
    }
    let inside = if arg0.starts_with('/') {
        PathBuf::from(arg0)
    } else {
        return Ok(()); // relative to the working directory: the runtime checks it
    };
    let Some(p) = resolve_in_root(rootfs, &inside) else {
        return Ok(()); // missing: the runtime reports it
    };
    match std::fs::metadata(&p) {
        Ok(md) if md.is_dir() || md.permissions().mode() & 0o111 == 0 => Err(format!(
            "unable to start container process: exec: {arg0:?}: permission denied"
        )),
        _ => Ok(()),
    }
}

impl Inner {
    /// Launches the container's shim unless one runs: mounts the rootfs, writes the
    /// bundle's config.json and runs `berth-runc shim`, which creates the container.
    /// The caller holds the operation lock.
    pub(crate) fn ensure_shim(self: &Arc<Self>, c: &Arc<Container>) -> EngineResult<()> {
        if c.lock().shim_up {
            return Ok(());
        }
        let rec = c.record();
        let id = rec.id.as_str();
        let sh = self.shim(id);
        // A previous shim may still be winding up (it removes the runtime state).
        sh.wait_gone(SHIM_GONE_TIMEOUT);
        let exec_dir = self.exec_dir(id);
        for f in [shim::EXIT_FILE, shim::SOCKET] {
            let _ = std::fs::remove_file(exec_dir.join(f));
        }
        let rootfs = self.rootfs(id);
        std::fs::create_dir_all(&rootfs).map_err(|e| EngineError::io("creating", &rootfs, e))?;
        self.unmount_rootfs(id);
        let mounts = self
            .snapshotter
            .mounts(&rec.snapshot_key)
            .map_err(|e| EngineError::internal(format!("snapshot of container {id}"), e))?;
        berth_image::snapshot::mount_all(&mounts, &rootfs).map_err(|e| {
            EngineError::internal(format!("mounting the rootfs of container {id}"), e)
        })?;
        let res = self.mount_volumes(&rec, &rootfs).and_then(|()| {
            let res = self.network_up(c).and_then(|net| {
                let res = self.launch_mounted(c, &rec, &rootfs, net);
                if res.is_err() {
                    self.network_down(c);
                }
                res
            });
            if res.is_err() {
                self.unmount_volumes(&rec);
            }
            res
        });
        if res.is_err() {
            self.unmount_rootfs(id);
        }
        res
    }

    fn launch_mounted(
        self: &Arc<Self>,
        c: &Arc<Container>,
        rec: &store::ContainerRecord,
        rootfs: &Path,
        net: crate::networks::endpoint::NetUp,
    ) -> EngineResult<()> {
        let id = rec.id.as_str();
        let mut ctx = self.spec_context(rec, rootfs);
        ctx.netns_path = net.netns;
        let gen =
            spec::oci_spec(&request_of(rec), &empty_image_config(), &ctx).map_err(|e| match e {
                SpecError::NoCommand => EngineError::BadParameter("No command specified".into()),
                e => runtime_error(&format!("unable to start container process: {e}")),
            })?;
        if rec.host_config.resources.init != Some(true) {
            check_executable(rootfs, &rec.path).map_err(|m| runtime_error(&m))?;
        }
        let mut gen = gen;
        if !net.link_env.is_empty() {
            // Links first; the container's own variables win over theirs, as dockerd.
            let mut p = gen.spec.process().clone().unwrap_or_default();
            let mut env = p.env().clone().unwrap_or_default();
            let key = |kv: &str| kv.split_once('=').map_or(kv, |(k, _)| k).to_string();
            let own: std::collections::BTreeSet<String> = env.iter().map(|e| key(e)).collect();
            let mut linked: Vec<String> = net
                .link_env
                .into_iter()
                .filter(|e| !own.contains(&key(e)))
                .collect();
            linked.append(&mut env);
            p.set_env(Some(linked));
            gen.spec.set_process(Some(p));
        }
        let bundle = self.bundle(id);
        let data = serde_json::to_vec(&gen.spec)
            .map_err(|e| EngineError::internal(format!("serializing the spec of {id}"), e))?;
        store::replace_file(&bundle.join("config.json"), &data)?;
        let (max_size, max_files) = log_limits(&rec.host_config.log_config.config)?;
        let cfg = &rec.config;
        let runtime_root = self.runtime_root();
        let exec_dir = self.exec_dir(id);
        let opts = LaunchOpts {
            runtime: &self.config.runtime,
            sealed: self.sealed_runtime.as_ref().map(|(d, name)| d.path(name)),
            runtime_root: &runtime_root,
            id,
            bundle: &bundle,
            state_dir: &exec_dir,
            log_path: (rec.host_config.log_config.kind != "none").then_some(rec.log_path.as_path()),
            log_max_size: max_size,
            log_max_files: max_files,
            stdin: cfg.open_stdin,
            stdin_once: cfg.stdin_once && cfg.open_stdin,
            tty: cfg.tty,
        };
        shim::launch(&opts).map_err(|m| runtime_error(&m))?;
        let mut g = c.lock();
        g.shim_up = true;
        g.rec.cgroups_path = cgroups_path_of(&gen.spec, id);
        Ok(())
    }

    /// Stops a shim that was launched but whose container will not run, and cleans up.
    pub(crate) fn abandon_shim(&self, c: &Container) {
        let sh = self.shim(&c.id);
        let pid = sh.pid();
        let _ = sh.call(&json!({"op": "shutdown"}));
        match pid {
            Some(p) => shim::wait_pid_gone(p, SHIM_GONE_TIMEOUT),
            None => true,
        };
        self.unmount_rootfs(&c.id);
        self.unmount_volumes(&c.record());
        self.network_down(c);
        c.lock().shim_up = false;
    }

    /// `POST /containers/{id}/start`.
    pub fn start(self: &Arc<Self>, r: &str) -> EngineResult<()> {
        let c = self.get(r)?;
        let res = {
            let _op = c.op_lock();
            self.start_locked(&c, false)
        };
        // As `docker run --rm`: a container that cannot start is not kept.
        if matches!(res, Err(ref e) if !matches!(e, EngineError::NotModified(_) | EngineError::Conflict(_)))
            && c.lock().rec.host_config.auto_remove
        {
            let _ = self.remove_container(&c, true, true);
        }
        res
    }

    /// Starts `c`; the caller holds its operation lock. `policy` marks a restart by
    /// the restart policy (which keeps the user's stop flag).
    pub(crate) fn start_locked(
        self: &Arc<Self>,
        c: &Arc<Container>,
        policy: bool,
    ) -> EngineResult<()> {
        {
            let g = c.lock();
            if g.removed {
                return Err(super::no_such_container(&c.id));
            }
            match g.rec.state.status {
                Status::Running => {
                    return Err(EngineError::NotModified("Container already started".into()))
                }
                Status::Paused => {
                    return Err(EngineError::Conflict(
                        "cannot start a paused container, try unpause instead".into(),
                    ))
                }
                Status::Removing | Status::Dead => {
                    return Err(EngineError::Conflict(format!(
                        "container {} is marked for removal and cannot be started",
                        c.id
                    )))
                }
                _ => {}
            }
        }
        let res = self.ensure_shim(c).and_then(|_| {
            self.serve_pending_attaches(c);
            self.shim(&c.id)
                .call(&json!({"op": "start"}))
                .map(|_| ())
                .map_err(|e| runtime_error(&e.to_string()))
        });
        if let Err(e) = res {
            self.abandon_shim(c);
            let mut g = c.lock();
            // As dockerd: a failed start ends the attaches waiting for it.
            g.pending_attach.clear();
            g.rec.state.error = e.to_string();
            if g.rec.state.status == Status::Restarting {
                g.rec.state.status = Status::Exited;
            }
            // As dockerd: 126/127 for a command that cannot run, else 128.
            g.rec.state.exit_code = match &e {
                EngineError::BadParameter(m) if m.contains("permission denied") => 126,
                EngineError::BadParameter(_) => 127,
                _ => 128,
            };
            let _ = self.save(&g.rec);
            c.cond.notify_all();
            return Err(e);
        }
        let pid = self
            .shim(&c.id)
            .call(&json!({"op": "state"}))
            .ok()
            .and_then(|v| v["pid"].as_i64())
            .unwrap_or(0);
        let (rec, starts) = {
            let mut g = c.lock();
            let s = &mut g.rec.state;
            s.status = Status::Running;
            s.pid = pid;
            s.exit_code = 0;
            s.error.clear();
            s.started_at = now_nanos();
            s.oom_killed = false;
            s.oom_kills = 0;
            // As dockerd: a container created without a HostConfig names its runtime
            // once it has run with it.
            if g.rec.host_config.runtime.is_empty() {
                g.rec.host_config.runtime = crate::system::DEFAULT_RUNTIME.into();
            }
            if g.rec
                .config
                .healthcheck
                .as_ref()
                .is_some_and(|h| !h.test.is_empty() && h.test[0] != "NONE")
            {
                g.rec.state.health = Some(berth_api_types::container::Health {
                    status: "starting".into(),
                    failing_streak: 0,
                    log: Vec::new(),
                });
            }
            if !policy {
                g.rec.manually_stopped = false;
                g.backoff = Duration::ZERO;
            }
            g.starts += 1;
            let _ = self.save(&g.rec);
            c.cond.notify_all();
            (g.rec.clone(), g.starts)
        };
        self.emit(&rec, "start", &[]);
        self.spawn_monitor(c.clone());
        crate::health::spawn(self.clone(), c.clone(), starts);
        Ok(())
    }

    pub(crate) fn spawn_monitor(self: &Arc<Self>, c: Arc<Container>) {
        let inner = self.clone();
        let name = format!("monitor-{}", &c.id[..12.min(c.id.len())]);
        // The pid now, while the shim runs: it removes its pid file just before exiting.
        let shim_pid = self.shim(&c.id).pid().map(shim::ShimProcess::open);
        let spawned = std::thread::Builder::new()
            .name(name)
            .spawn(move || inner.monitor(c, shim_pid));
        // Without a monitor the exit is still recorded by exit.json at the next open.
        drop(spawned);
    }

    /// Blocks until the shim reports the exit, then records it.
    fn monitor(self: Arc<Self>, c: Arc<Container>, shim_pid: Option<shim::ShimProcess>) {
        let sh = self.shim(&c.id);
        let gone = |sh: &shim::Shim| match &shim_pid {
            Some(p) => p.wait_gone(SHIM_GONE_TIMEOUT),
            None => sh.wait_gone(SHIM_GONE_TIMEOUT),
        };
        let exit = match sh.wait_watching_oom(|n| self.record_oom(&c, n)) {
            Ok(e) => e,
            Err(_) => {
                if self.is_closed() {
                    return;
                }
                // The shim went away without answering: exit.json is the durable copy.
                gone(&sh);
                sh.exit_file().unwrap_or(Exit {
                    code: 255,
                    finished_at: now_nanos(),
                    oom_kills: 0,
                })
            }
        };
        if self.is_closed() {
            return;
        }
        gone(&sh);
        if let Some(delay) = self.record_exit(&c, exit) {
            self.restart_after(&c, delay);
        }
    }

    /// Records that the OOM killer has taken `kills` processes of the running container
    /// in this run: when that is news, sets `OOMKilled` (until the next start, as
    /// dockerd) and emits `oom`.
    fn record_oom(self: &Arc<Self>, c: &Arc<Container>, kills: u64) {
        let mut g = c.lock();
        if g.removed || kills <= g.rec.state.oom_kills {
            return;
        }
        g.rec.state.oom_kills = kills;
        g.rec.state.oom_killed = true;
        let _ = self.save(&g.rec);
        self.emit(&g.rec, "oom", &[]);
    }

    /// Records an exit: unmounts, takes the network down, updates the state, emits
    /// `oom` (if the shim saw an OOM kill nobody was told of), `die` and the networks'
    /// `disconnect`, wakes waiters.
    /// Returns the delay after which the restart policy restarts the container, or
    /// runs AutoRemove.
    pub(crate) fn record_exit(
        self: &Arc<Self>,
        c: &Arc<Container>,
        exit: Exit,
    ) -> Option<Duration> {
        self.unmount_rootfs(&c.id);
        self.unmount_volumes(&c.record());
        let left = self.network_teardown(c);
        let finished = if exit.finished_at > 0 {
            exit.finished_at
        } else {
            now_nanos()
        };
        let (rec, delay) = {
            let mut g = c.lock();
            g.shim_up = false;
            let uptime = finished - g.rec.state.started_at;
            let s = &mut g.rec.state;
            s.status = Status::Exited;
            s.pid = 0;
            s.exit_code = exit.code;
            s.finished_at = finished;
            // A kill the monitor did not hear of live (an older shim, or the daemon was
            // away): told now, before `die`, as dockerd orders them.
            let oom_untold = exit.oom_kills > s.oom_kills;
            if oom_untold {
                s.oom_kills = exit.oom_kills;
                s.oom_killed = true;
            }
            if let Some(h) = s.health.as_mut() {
                h.status = "unhealthy".into();
            }
            let rp = &g.rec.host_config.restart_policy;
            let wanted = match rp.name.as_str() {
                "always" => true,
                "unless-stopped" => true,
                "on-failure" => {
                    exit.code != 0
                        && (rp.maximum_retry_count == 0
                            || g.rec.restart_count < rp.maximum_retry_count)
                }
                _ => false,
            };
            let restart = wanted && !g.rec.manually_stopped && !g.removed && !self.is_closed();
            let delay = if restart {
                let next = if uptime >= BACKOFF_RESET_UPTIME || g.backoff.is_zero() {
                    BACKOFF_START
                } else {
                    (g.backoff * 2).min(BACKOFF_MAX)
                };
                g.backoff = next;
                g.rec.state.status = Status::Restarting;
                g.rec.restart_count += 1;
                Some(next)
            } else {
                None
            };
            g.exits += 1;
            let _ = self.save(&g.rec);
            if oom_untold {
                self.emit(&g.rec, "oom", &[]);
            }
            // "die" is told before any waiter (stop, wait, restart) wakes, so that
            // their own events always follow it.
            self.emit(&g.rec, "die", &[("exitCode", exit.code.to_string())]);
            self.tell_disconnects(&c.id, &left);
            c.cond.notify_all();
            (g.rec.clone(), delay)
        };
        if delay.is_none() && rec.host_config.auto_remove && !self.is_closed() {
            // As dockerd: `--rm` takes the anonymous volumes along.
            let _ = self.remove_container(c, true, true);
        }
        delay
    }

    /// Restarts `c` after `delay`, unless the user stopped or removed it meanwhile.
    pub(crate) fn restart_after(self: &Arc<Self>, c: &Arc<Container>, delay: Duration) {
        std::thread::sleep(delay);
        if self.is_closed() {
            return;
        }
        let _op = c.op_lock();
        {
            let g = c.lock();
            if g.removed || g.rec.manually_stopped || g.rec.state.status != Status::Restarting {
                return;
            }
        }
        if self.start_locked(c, true).is_ok() {
            let rec = c.record();
            self.emit(&rec, "restart", &[]);
        }
    }
}

/// Opens the containers under the data root again: adopts those whose shim still runs,
/// records the exits that happened meanwhile, and starts those the restart policy
/// says must run.
pub(crate) fn restore(inner: &Arc<Inner>) -> EngineResult<()> {
    let (records, _unreadable) = store::load_all(&inner.containers_dir())?;
    let mut all = Vec::new();
    {
        let mut t = inner.table.write().expect("container table lock poisoned");
        for rec in records {
            for m in rec
                .mounts
                .iter()
                .filter(|m| m.kind == crate::volumes::mounts::VOLUME)
            {
                inner.volumes.add_reference(&m.name, &rec.id);
            }
            t.names.insert(rec.name.clone(), rec.id.clone());
            let c = Arc::new(Container::new(rec));
            t.by_id.insert(c.id.clone(), c.clone());
            all.push(c);
        }
    }
    // Addresses and ports of what the records say runs, before anything starts again;
    // those found exited below give theirs back as their exit is recorded.
    let running: Vec<store::ContainerRecord> = all
        .iter()
        .map(|c| c.record())
        .filter(|r| {
            matches!(
                r.state.status,
                Status::Running | Status::Paused | Status::Restarting
            )
        })
        .collect();
    inner.restore_networks(&running);
    // Their resolvers went with the old daemon: bound again in their namespaces.
    for c in &all {
        if running.iter().any(|r| r.id == c.id) {
            let _ = inner.dns_sync(c, &[]);
        }
    }
    for c in all {
        let rec = c.record();
        let sh = inner.shim(&c.id);
        match rec.state.status {
            Status::Running | Status::Paused | Status::Restarting => {
                let state = if sh.alive() {
                    sh.call(&json!({"op": "state"})).ok()
                } else {
                    None
                };
                match state {
                    Some(v) if v["status"] != "stopped" => {
                        for m in rec
                            .mounts
                            .iter()
                            .filter(|m| m.kind == crate::volumes::mounts::VOLUME)
                        {
                            inner.volumes.mark_mounted(&m.name, &rec.id);
                        }
                        {
                            let mut g = c.lock();
                            g.shim_up = true;
                            g.rec.state.status = if v["status"] == "paused" {
                                Status::Paused
                            } else {
                                Status::Running
                            };
                            let _ = inner.save(&g.rec);
                        }
                        inner.spawn_monitor(c.clone());
                        let starts = c.lock().starts;
                        crate::health::spawn(inner.clone(), c.clone(), starts);
                    }
                    _ => {
                        sh.wait_gone(SHIM_GONE_TIMEOUT);
                        let exit = sh.exit_file().unwrap_or(Exit {
                            code: 255,
                            finished_at: now_nanos(),
                            oom_kills: 0,
                        });
                        if let Some(d) = inner.record_exit(&c, exit) {
                            let (i2, c2) = (inner.clone(), c.clone());
                            std::thread::spawn(move || i2.restart_after(&c2, d));
                        }
                    }
                }
            }
            Status::Created => {
                if sh.alive() {
                    inner.abandon_shim(&c);
                } else {
                    inner.unmount_rootfs(&c.id);
                }
            }
            _ => inner.unmount_rootfs(&c.id),
        }
        let rec = c.record();
        let policy = rec.host_config.restart_policy.name.as_str();
        let should_run =
            policy == "always" || (policy == "unless-stopped" && !rec.manually_stopped);
        if should_run && rec.state.status == Status::Exited && rec.state.started_at != 0 {
            let (i2, c2) = (inner.clone(), c.clone());
            std::thread::spawn(move || {
                let _op = c2.op_lock();
                let _ = i2.start_locked(&c2, false);
            });
        }
    }
    // Volume filesystems whose containers stopped while the daemon was away.
    inner.volumes.unmount_unused();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("bin")).unwrap();
        std::fs::write(r.join("bin/busybox"), "x").unwrap();
        std::os::unix::fs::symlink("/bin/busybox", r.join("bin/sh")).unwrap();
        std::os::unix::fs::symlink("../../../../etc/passwd", r.join("bin/esc")).unwrap();
        assert_eq!(
            resolve_in_root(r, Path::new("/bin/sh")).unwrap(),
            r.join("bin/busybox")
        );
        // `..` cannot leave the root.
        assert_eq!(resolve_in_root(r, Path::new("/bin/esc")), None);
        assert!(check_executable(r, "/bin/sh")
            .unwrap_err()
            .contains("permission denied"));
        assert!(check_executable(r, "/bin")
            .unwrap_err()
            .contains("permission denied"));
        assert!(check_executable(r, "/nope").is_ok());
    }

    #[test]
    fn runtime_errors_map_like_docker() {
        let e = runtime_error("exec: \"nope\": executable file not found in $PATH");
        assert_eq!(e.status(), 400);
        assert!(e.to_string().starts_with("OCI runtime create failed: "));
        assert_eq!(runtime_error("cgroup: boom").status(), 500);
    }
}
