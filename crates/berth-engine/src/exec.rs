//! Exec instances: a process started in a running container by its shim (`exec` op),
//! its OCI process made from the container's own spec (environment, user, working
//! directory, capabilities, seccomp) with the exec's overrides.

use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex};

use berth_api_types::exec::{
    ExecConfig, ExecCreateResponse, ExecInspect, ExecStartConfig, ProcessConfig,
};
use serde_json::json;

use crate::api::{AttachStream, EngineError, EngineResult};
use crate::containers::Inner;
use crate::store::Status;

/// What an exec instance's state is.
#[derive(Debug, Default, Clone)]
pub struct ExecState {
    pub started: bool,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

/// One exec instance.
pub struct Exec {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub state: Mutex<ExecState>,
    pub cond: Condvar,
}

impl Exec {
    /// Created and not yet started, or running: what inspect's `ExecIDs` lists, as
    /// dockerd forgets an exec instance once its process has exited.
    pub fn is_live(&self) -> bool {
        let s = self.state.lock().expect("exec state lock poisoned");
        s.running || !s.started
    }

    /// Blocks until the process has exited; its exit code.
    pub fn wait_exit(&self, timeout: std::time::Duration) -> Option<i64> {
        let end = std::time::Instant::now() + timeout;
        let mut g = self.state.lock().expect("exec state lock poisoned");
        while g.exit_code.is_none() {
            let now = std::time::Instant::now();
            if now >= end {
                return None;
            }
            g = self
                .cond
                .wait_timeout(g, end - now)
                .expect("exec state lock poisoned")
                .0;
        }
        g.exit_code
    }
}

fn no_such_exec(id: &str) -> EngineError {
    EngineError::NotFound(format!("No such exec instance: {id}"))
}

/// `exec_create: sh -c x` as Docker names the event.
pub(crate) fn action(verb: &str, cmd: &[String]) -> String {
    format!("{verb}: {}", cmd.join(" "))
}

impl Inner {
    /// `POST /containers/{id}/exec`.
    pub fn exec_create(
        self: &Arc<Self>,
        r: &str,
        config: ExecConfig,
    ) -> EngineResult<ExecCreateResponse> {
        let c = self.get(r)?;
        let rec = c.record();
        match rec.state.status {
            Status::Running => {}
            Status::Paused => {
                return Err(EngineError::Conflict(format!(
                    "Container {} is paused, unpause the container before exec",
                    c.id
                )))
            }
            _ => {
                return Err(EngineError::Conflict(format!(
                    "Container {} is not running",
                    c.id
                )))
            }
        }
        if config.cmd.is_empty() {
            return Err(EngineError::BadParameter(
                "No exec command specified".into(),
            ));
        }
        let id = crate::names::new_id()?;
        let e = Arc::new(Exec {
            id: id.clone(),
            container_id: c.id.clone(),
            config: config.clone(),
            state: Mutex::new(ExecState::default()),
            cond: Condvar::new(),
        });
        self.execs
            .lock()
            .expect("exec table lock poisoned")
            .insert(id.clone(), e);
        c.lock().exec_ids.push(id.clone());
        self.emit(
            &rec,
            &action("exec_create", &config.cmd),
            &[("execID", id.clone())],
        );
        Ok(ExecCreateResponse { id })
    }

    fn exec_get(&self, id: &str) -> EngineResult<Arc<Exec>> {
        self.execs
            .lock()
            .expect("exec table lock poisoned")
            .get(id)
            .cloned()
            .ok_or_else(|| no_such_exec(id))
    }

    /// The OCI process of exec `e`: the container's spec made again with the exec's
    /// command, user, environment, working directory and tty.
    fn exec_process(&self, e: &Exec) -> EngineResult<oci_spec::runtime::Process> {
        let c = self.get(&e.container_id)?;
        let rec = c.record();
        let mut req = crate::containers::request_of(&rec);
        let cfg = &e.config;
        req.config.entrypoint = None;
        req.config.cmd = Some(cfg.cmd.clone());
        req.config.tty = cfg.tty;
        if !cfg.user.is_empty() {
            req.config.user = cfg.user.clone();
        }
        if !cfg.working_dir.is_empty() {
            req.config.working_dir = cfg.working_dir.clone();
        }
        let mut env = req.config.env.clone();
        for v in &cfg.env {
            let key = v.split_once('=').map_or(v.as_str(), |(k, _)| k);
            env.retain(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) != key);
            env.push(v.clone());
        }
        req.config.env = env;
        if let Some(hc) = req.host_config.as_mut() {
            hc.resources.init = None;
            if cfg.privileged {
                hc.privileged = true;
            }
        }
        let rootfs = self.rootfs(&c.id);
        let ctx = self.spec_context(&rec, &rootfs);
        let gen = crate::spec::oci_spec(&req, &crate::containers::empty_image_config(), &ctx)
            .map_err(|err| match err {
                crate::spec::SpecError::UnknownUser(_)
                | crate::spec::SpecError::UnknownGroup(_) => {
                    EngineError::BadParameter(err.to_string())
                }
                err => EngineError::internal(format!("exec {}", e.id), err),
            })?;
        gen.spec.process().clone().ok_or_else(|| {
            EngineError::internal(format!("exec {}", e.id), "the spec has no process")
        })
    }

    /// Starts `e` in its container's shim; with `attach` returns the stream.
    pub(crate) fn exec_launch(
        self: &Arc<Self>,
        e: &Arc<Exec>,
        attach: bool,
        start_tty: bool,
    ) -> EngineResult<Option<UnixStream>> {
        {
            let mut s = e.state.lock().expect("exec state lock poisoned");
            if s.started {
                return Err(EngineError::Conflict(format!(
                    "Error: Exec command {} is already running",
                    e.id
                )));
            }
            s.started = true;
        }
        let c = self.get(&e.container_id)?;
        if c.lock().rec.state.status != Status::Running {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let process = self.exec_process(e)?;
        let path = self.exec_dir(&c.id).join(format!("exec-{}.json", e.id));
        let data = serde_json::to_vec(&process)
            .map_err(|err| EngineError::internal(format!("serializing exec {}", e.id), err))?;
        crate::store::replace_file(&path, &data)?;
        let cfg = &e.config;
        let keys = if cfg.detach_keys.is_empty() {
            "ctrl-p,ctrl-q".to_string()
        } else {
            cfg.detach_keys.clone()
        };
        let sh = self.shim(&c.id);
        let res = sh.call_stream(
            &json!({
                "op": "exec",
                "exec_id": e.id,
                "process": path.to_string_lossy(),
                "tty": cfg.tty,
                "stdin": cfg.attach_stdin && attach,
                "attach": attach,
                "framed": !start_tty,
                "stdout": cfg.attach_stdout,
                "stderr": cfg.attach_stderr,
                "detach_keys": keys,
            }),
            Some(std::time::Duration::from_secs(30)),
        );
        let _ = std::fs::remove_file(&path);
        let (reply, stream) = res.map_err(|err| {
            let (code, err) = match err {
                crate::shim::ShimError::Failed(m) => {
                    let not_found = m.contains("executable file not found")
                        || m.contains("no such file or directory");
                    if not_found || m.contains("permission denied") {
                        let code = if not_found { 127 } else { 126 };
                        let msg = format!("OCI runtime exec failed: {m}: unknown");
                        (code, EngineError::BadParameter(msg))
                    } else {
                        let err = EngineError::Runtime {
                            action: "exec",
                            message: m,
                        };
                        (126, err)
                    }
                }
                err => (126, EngineError::internal(format!("exec {}", e.id), err)),
            };
            // As dockerd: an exec that could not start has ended, with the code a
            // shell would give (127 not found, 126 cannot run), for clients that
            // read it from exec inspect after the stream ends.
            let mut s = e.state.lock().expect("exec state lock poisoned");
            s.exit_code = Some(code);
            e.cond.notify_all();
            err
        })?;
        {
            let mut s = e.state.lock().expect("exec state lock poisoned");
            s.running = true;
            s.pid = reply["pid"].as_i64().unwrap_or(0);
        }
        let rec = c.record();
        self.emit(
            &rec,
            &action("exec_start", &cfg.cmd),
            &[("execID", e.id.clone())],
        );
        let (inner, e2) = (self.clone(), e.clone());
        std::thread::spawn(move || inner.exec_monitor(&e2));
        Ok(attach.then_some(stream))
    }

    fn exec_monitor(&self, e: &Exec) {
        let sh = self.shim(&e.container_id);
        let code = sh.wait(Some(&e.id)).map(|x| x.code).unwrap_or(-1);
        {
            let mut s = e.state.lock().expect("exec state lock poisoned");
            s.running = false;
            s.exit_code = Some(code);
            e.cond.notify_all();
        }
        if let Ok(c) = self.get(&e.container_id) {
            let rec = c.record();
            self.emit(
                &rec,
                "exec_die",
                &[("execID", e.id.clone()), ("exitCode", code.to_string())],
            );
        }
    }

    /// `POST /exec/{id}/start`.
    pub fn exec_start(
        self: &Arc<Self>,
        id: &str,
        cfg: ExecStartConfig,
    ) -> EngineResult<Option<AttachStream>> {
        let e = self.exec_get(id)?;
        // The stream is framed by the start request's Tty, as dockerd frames it; the
        // process has a terminal if it was created with one.
        let s = self.exec_launch(&e, !cfg.detach, cfg.tty)?;
        if let (Some([h, w]), true) = (cfg.console_size.or(e.config.console_size), e.config.tty) {
            if h > 0 && w > 0 {
                let _ = self.exec_resize(id, h as u16, w as u16);
            }
        }
        Ok(s.map(|stream| AttachStream {
            stream,
            tty: cfg.tty,
        }))
    }

    /// `POST /exec/{id}/resize`.
    pub fn exec_resize(&self, id: &str, height: u16, width: u16) -> EngineResult<()> {
        let e = self.exec_get(id)?;
        self.shim(&e.container_id)
            .call(&json!({"op": "resize", "exec_id": id, "height": height, "width": width}))
            .map(|_| ())
            .map_err(|err| EngineError::BadParameter(format!("resizing exec {id}: {err}")))
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, id: &str) -> EngineResult<ExecInspect> {
        let e = self.exec_get(id)?;
        let mut s = e.state.lock().expect("exec state lock poisoned").clone();
        if s.running {
            // The monitor thread may not have recorded an exit the client has already
            // seen (its stream ended): the shim knows for sure.
            let reply = self
                .shim(&e.container_id)
                .call(&serde_json::json!({"op": "state", "exec_id": e.id}));
            if let Ok(r) = reply {
                if r["status"] == "stopped" {
                    if let Some(code) = r["exit_code"].as_i64() {
                        s.running = false;
                        s.exit_code = Some(code);
                    }
                }
            }
        }
        let cfg = &e.config;
        Ok(ExecInspect {
            id: e.id.clone(),
            running: s.running,
            exit_code: s.exit_code,
            process_config: ProcessConfig {
                privileged: cfg.privileged,
                user: cfg.user.clone(),
                tty: cfg.tty,
                entrypoint: cfg.cmd.first().cloned().unwrap_or_default(),
                arguments: cfg.cmd.iter().skip(1).cloned().collect(),
            },
            open_stdin: cfg.attach_stdin,
            open_stderr: cfg.attach_stderr,
            open_stdout: cfg.attach_stdout,
            can_remove: !s.running && s.started,
            container_id: e.container_id.clone(),
            detach_keys: cfg.detach_keys.clone(),
            pid: s.pid,
        })
    }
}
