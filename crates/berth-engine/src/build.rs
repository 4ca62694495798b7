//! `POST /build`: the context received (a tar, plain or compressed, or a URL), the
//! builder of berth-build run over this engine — its [`Backend`] is made of the
//! engine's own containers, images and pulls — and `/build/prune`.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use berth_api_types::build::{BuildCachePruneReport, BuildOptions};
use berth_api_types::container::{ContainerConfig, ContainerCreateRequest, HostConfig, Ulimit};
use berth_api_types::image::{ErrorDetail, JsonMessage};
use berth_api_types::registry::AuthConfig;
use berth_build::builder::{
    self, Backend, BuildError, BuildRequest, Commit, ContainerSpec, Image, Sink,
};
use berth_types::Reference;

use crate::api::{AttachOptions, BuildRun, EngineError, EngineResult, PullOptions, WaitCondition};
use crate::engine::LocalEngine;

/// The Dockerfile's name when the request names none.
const DEFAULT_DOCKERFILE: &str = "Dockerfile";

/// A build's private directory under `DATA_ROOT/builder/tmp`, removed when dropped.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn work_dir(cache_root: &Path) -> EngineResult<WorkDir> {
    let base = cache_root.join("tmp");
    std::fs::create_dir_all(&base).map_err(|e| EngineError::io("creating", &base, e))?;
    let id = crate::names::new_id()?;
    let dir = base.join(&id[..16]);
    std::fs::create_dir(&dir).map_err(|e| EngineError::io("creating", &dir, e))?;
    Ok(WorkDir(dir))
}

/// The stream to the client: it starts with the first message, so a failure before
/// any is the request's error (400 for a bad Dockerfile, as dockerd).
struct Stream<'o> {
    out: &'o mut dyn FnMut(JsonMessage) -> bool,
    started: bool,
}

impl Sink for Stream<'_> {
    fn stream(&mut self, text: &str) -> bool {
        self.started = true;
        (self.out)(JsonMessage {
            stream: text.to_string(),
            ..JsonMessage::default()
        })
    }
    fn message(&mut self, m: serde_json::Value) -> bool {
        self.started = true;
        match serde_json::from_value::<JsonMessage>(m) {
            Ok(m) => (self.out)(m),
            Err(_) => true,
        }
    }
    fn aux(&mut self, v: serde_json::Value) -> bool {
        self.started = true;
        (self.out)(JsonMessage {
            aux: Some(v),
            ..JsonMessage::default()
        })
    }
}

impl LocalEngine {
    /// Runs a build. Errors before the first message are returned (and become the
    /// response's status); later ones end the stream with `errorDetail` (with RUN's exit
    /// code), as dockerd's classic builder ends it.
    pub fn build_image<'e>(
        &'e self,
        opts: BuildOptions,
        auth: HashMap<String, AuthConfig>,
        context: &mut (dyn Read + Send),
    ) -> EngineResult<BuildRun<'e>> {
        if opts.squash {
            return Err(EngineError::BadParameter(
                "squash is only supported with experimental mode".into(),
            ));
        }
        for t in &opts.tags {
            Reference::parse_named(t).map_err(|e| {
                EngineError::BadParameter(format!("invalid reference format: {t}: {e}"))
            })?;
        }
        if let Some(p) = opts.platform.as_deref().filter(|p| !p.is_empty()) {
            let host = berth_image::model::host_platform();
            let want = format!("{}/{}", host.os, host.architecture);
            if !p.starts_with(&want) {
                return Err(EngineError::BadParameter(format!(
                    "platform {p}: this builder builds for {want} only"
                )));
            }
        }
        let cache_root = self.build_cache_root();
        let work = work_dir(&cache_root)?;
        let ctx = work.0.join("context");
        std::fs::create_dir(&ctx).map_err(|e| EngineError::io("creating", &ctx, e))?;
        let dockerfile_name = if opts.dockerfile.is_empty() {
            DEFAULT_DOCKERFILE.to_string()
        } else {
            opts.dockerfile.clone()
        };
        let dockerfile = match opts.remote.as_deref() {
            Some(url) => remote_context(url, &work.0, &ctx, &dockerfile_name)?,
            None => {
                receive_context(context, &ctx)?;
                read_dockerfile(&ctx, &dockerfile_name)?
            }
        };
        let req = BuildRequest {
            context: ctx,
            dockerfile,
            dockerfile_name: dockerfile_name.clone(),
            tags: opts.tags.clone(),
            build_args: opts.build_args.clone(),
            labels: opts.labels.clone(),
            target: opts.target.clone(),
            no_cache: opts.no_cache,
            pull: opts.pull,
            rm: opts.rm,
            force_rm: opts.force_rm,
            quiet: opts.quiet,
            limits: builder::RunLimits {
                network_mode: opts.network_mode.clone(),
                extra_hosts: opts.extra_hosts.clone(),
                shm_size: opts.shm_size,
                memory: opts.memory,
                memory_swap: opts.memswap,
                cpu_shares: opts.cpu_shares,
                cpuset_cpus: opts.cpuset_cpus.clone(),
                cpu_period: opts.cpu_period,
                cpu_quota: opts.cpu_quota,
                ulimits: opts
                    .ulimits
                    .iter()
                    .map(|u| (u.name.clone(), u.soft, u.hard))
                    .collect(),
            },
            cache_from: opts.cache_from.clone(),
            platform: opts.platform.clone(),
        };
        let backend = EngineBackend {
            engine: self,
            auth,
            cache_root,
        };
        Ok(Box::new(move |out| {
            let _work = work;
            run_build(&backend, &req, out)
        }))
    }

    /// `DATA_ROOT/builder`: the cache index, cache mounts, build directories.
    pub(crate) fn build_cache_root(&self) -> PathBuf {
        self.config().data_root.join("builder")
    }

    /// `POST /build/prune`: forgets the build cache (every entry with `all`, else
    /// those whose images are untagged) and removes the untagged images it kept that
    /// nothing needs: no tag, no child image, no container (the intermediate images
    /// under a tagged image stay, as dockerd keeps them).
    pub fn prune_build_cache(&self, all: bool) -> EngineResult<BuildCachePruneReport> {
        use crate::api::Engine as _;
        let index = builder::cache::CacheIndex::open(&self.build_cache_root());
        let before = self.inner.images.layers_size().unwrap_or(0);
        let mut report = BuildCachePruneReport::default();
        let mut candidates = Vec::new();
        for (file, id) in index.entries() {
            let rec = self.inner.images.store().get(&id).ok();
            let untagged = rec.as_ref().is_none_or(|r| r.names.is_empty());
            if !all && !untagged {
                continue;
            }
            let _ = std::fs::remove_file(&file);
            if rec.is_some() && untagged {
                candidates.push(id);
            }
        }
        // Children first: a parent is free once its children are gone.
        loop {
            let records = self.inner.images.store().list().unwrap_or_default();
            let parents: std::collections::BTreeSet<String> = records
                .iter()
                .filter_map(|r| r.parent.as_ref().map(ToString::to_string))
                .collect();
            let free: Vec<String> = candidates
                .iter()
                .filter(|c| !parents.contains(*c))
                .cloned()
                .collect();
            candidates.retain(|c| parents.contains(c));
            let mut removed = false;
            for id in free {
                if self.image_remove(&id, false, true).is_ok() {
                    report.caches_deleted.push(id);
                    removed = true;
                }
            }
            if !removed || candidates.is_empty() {
                break;
            }
        }
        let _ = std::fs::remove_dir_all(self.build_cache_root().join("mounts"));
        let after = self.inner.images.layers_size().unwrap_or(0);
        report.space_reclaimed = before.saturating_sub(after) as u64;
        Ok(report)
    }
}

fn run_build(
    backend: &EngineBackend<'_>,
    req: &BuildRequest,
    out: &mut dyn FnMut(JsonMessage) -> bool,
) -> EngineResult<()> {
    let mut sink = Stream {
        out,
        started: false,
    };
    match builder::build(backend, req, &mut sink) {
        // Tagging told its `tag` events.
        Ok(_) => Ok(()),
        Err(e) if !sink.started => Err(EngineError::BadParameter(e.message)),
        Err(e) => {
            (sink.out)(JsonMessage {
                error_detail: Some(ErrorDetail {
                    code: e.code,
                    message: e.message.clone(),
                }),
                error: e.message,
                ..JsonMessage::default()
            });
            Ok(())
        }
    }
}

/// Unpacks the request body as the context, as it arrives: a tar, plain or
/// compressed (gzip, bzip2, xz, zstd); an empty body is an empty context.
fn receive_context(body: &mut (dyn Read + Send), ctx: &Path) -> EngineResult<()> {
    let reader = berth_build::add::decompressed(body)
        .map_err(|e| EngineError::internal("reading the build context", e))?;
    unpack(reader, ctx).map_err(|e| {
        EngineError::Failed(format!(
            "the build context is not a tar archive (plain, gzip, bzip2, xz or zstd): {e}"
        ))
    })
}

/// A tar stream whose end may be missing: the docker CLI's context stops right after
/// the last entry's data when it appended a Dockerfile from outside the context (no
/// padding, no end-of-archive blocks), which Go's reader accepts. Zeros stand in.
struct ZeroPadded<R> {
    inner: R,
    ended: bool,
    pad: usize,
}

impl<R: Read> Read for ZeroPadded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.ended {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            self.ended = true;
        }
        let n = buf.len().min(self.pad);
        buf[..n].fill(0);
        self.pad -= n;
        Ok(n)
    }
}

fn unpack(r: impl Read, ctx: &Path) -> std::io::Result<()> {
    let r = ZeroPadded {
        inner: r,
        ended: false,
        // The last entry's padding (up to 511) and the two end blocks.
        pad: 511 + 1024,
    };
    let mut a = tar::Archive::new(r);
    a.set_preserve_permissions(true);
    a.set_preserve_mtime(true);
    a.set_overwrite(true);
    a.unpack(ctx)
}

fn read_dockerfile(ctx: &Path, name: &str) -> EngineResult<String> {
    let clean = berth_build::ignore::clean(name.trim_start_matches('/'));
    let path = ctx.join(&clean);
    let missing = || EngineError::Failed(format!("Cannot locate specified Dockerfile: {name}"));
    if clean.starts_with("..") {
        return Err(missing());
    }
    let bytes = std::fs::read(&path).map_err(|_| missing())?;
    String::from_utf8(bytes).map_err(|_| {
        EngineError::BadParameter(format!("the Dockerfile ({name}) is not UTF-8 text"))
    })
}

/// `remote=URL`: a tarball (the context) or a plain Dockerfile (with an empty context).
fn remote_context(url: &str, work: &Path, ctx: &Path, name: &str) -> EngineResult<String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(EngineError::BadParameter(format!(
            "remote context {url:?}: only http:// and https:// URLs are supported"
        )));
    }
    let dl = berth_build::add::download(url, work, None, &[])
        .map_err(|e| EngineError::BadParameter(format!("remote context: {e}")))?;
    match berth_build::add::open_archive(&dl.path)
        .map_err(|e| EngineError::internal("reading the remote context", e))?
    {
        Some(r) => {
            unpack(r, ctx).map_err(|e| {
                EngineError::BadParameter(format!("remote context {url}: unpacking: {e}"))
            })?;
            read_dockerfile(ctx, name)
        }
        None => std::fs::read_to_string(&dl.path).map_err(|_| {
            EngineError::BadParameter(format!(
                "remote context {url}: neither a tar archive nor a text Dockerfile"
            ))
        }),
    }
}

/// The builder's view of the engine.
struct EngineBackend<'e> {
    engine: &'e LocalEngine,
    auth: HashMap<String, AuthConfig>,
    cache_root: PathBuf,
}

fn err(e: EngineError) -> BuildError {
    BuildError::msg(e.to_string())
}

impl EngineBackend<'_> {
    fn image_of(&self, name: &str) -> EngineResult<Image> {
        let r = self.engine.inner.images.resolve(name)?;
        Ok(Image {
            id: r.id,
            config: r.config,
        })
    }

    /// The credentials X-Registry-Config holds for the registry of `name`.
    fn auth_for(&self, name: &str) -> AuthConfig {
        let domain = Reference::parse_named(name)
            .map(|r| r.domain().to_string())
            .unwrap_or_default();
        let hub = domain == "docker.io";
        self.auth
            .iter()
            .find(|(k, _)| {
                let k = k
                    .trim_start_matches("https://")
                    .trim_start_matches("http://");
                let host = k.split('/').next().unwrap_or(k);
                host == domain
                    || (hub && (host == "index.docker.io" || host == "registry-1.docker.io"))
            })
            .map(|(_, a)| a.clone())
            .unwrap_or_default()
    }
}

impl Backend for EngineBackend<'_> {
    fn base_image(
        &self,
        name: &str,
        platform: Option<&str>,
        pull: bool,
        sink: &mut dyn Sink,
    ) -> Result<Image, BuildError> {
        if !pull {
            if let Ok(img) = self.image_of(name) {
                return Ok(img);
            }
        }
        let reference = Reference::parse_named(name)
            .map_err(|e| BuildError::msg(format!("invalid reference format: {name}: {e}")))?;
        let (image, tag) = match (reference.tag(), reference.digest()) {
            (_, Some(_)) | (Some(_), _) => (name.to_string(), String::new()),
            (None, None) => (name.to_string(), "latest".to_string()),
        };
        use crate::api::Engine as _;
        self.engine
            .image_pull(
                PullOptions {
                    image,
                    tag,
                    platform: platform.map(str::to_string),
                    auth: self.auth_for(name),
                },
                &mut |m| sink.message(serde_json::to_value(&m).unwrap_or_default()),
            )
            .map_err(err)?;
        let full = if reference.tag().is_none() && reference.digest().is_none() {
            format!("{name}:latest")
        } else {
            name.to_string()
        };
        self.image_of(&full).map_err(err)
    }

    fn image(&self, id: &str) -> Option<Image> {
        self.image_of(id).ok()
    }

    fn create(&self, parent: Option<&str>, spec: &ContainerSpec) -> Result<String, BuildError> {
        let l = &spec.limits;
        let mut hc = HostConfig {
            network_mode: spec
                .network
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| l.network_mode.clone()),
            extra_hosts: l.extra_hosts.clone(),
            shm_size: l.shm_size,
            binds: spec
                .binds
                .iter()
                .map(|b| {
                    format!(
                        "{}:{}{}",
                        b.source.display(),
                        b.target,
                        if b.readonly { ":ro" } else { "" }
                    )
                })
                .collect(),
            tmpfs: spec
                .tmpfs
                .iter()
                .map(|t| (t.clone(), String::new()))
                .collect(),
            ..HostConfig::default()
        };
        if hc.network_mode == "default" {
            hc.network_mode = String::new();
        }
        hc.resources.memory = l.memory;
        hc.resources.memory_swap = l.memory_swap;
        hc.resources.cpu_shares = l.cpu_shares;
        hc.resources.cpuset_cpus = l.cpuset_cpus.clone();
        hc.resources.cpu_period = l.cpu_period;
        hc.resources.cpu_quota = l.cpu_quota;
        hc.resources.ulimits = l
            .ulimits
            .iter()
            .map(|(name, soft, hard)| Ulimit {
                name: name.clone(),
                soft: *soft,
                hard: *hard,
            })
            .collect();
        let config = ContainerConfig {
            image: parent.unwrap_or("").to_string(),
            cmd: Some(if spec.cmd.is_empty() {
                vec!["#(nop)".to_string()]
            } else {
                spec.cmd.clone()
            }),
            entrypoint: Some(Vec::new()),
            env: spec.env.clone(),
            user: spec.user.clone(),
            working_dir: spec.working_dir.clone(),
            attach_stdout: true,
            attach_stderr: true,
            ..ContainerConfig::default()
        };
        let req = ContainerCreateRequest {
            config,
            host_config: Some(hc),
            ..ContainerCreateRequest::default()
        };
        self.engine
            .inner
            .create_for_build(req)
            .map(|r| r.id)
            .map_err(err)
    }

    fn run(&self, container: &str, out: &mut dyn FnMut(bool, &[u8])) -> Result<i64, BuildError> {
        use crate::api::Engine as _;
        let attach = self
            .engine
            .container_attach(
                container,
                AttachOptions {
                    stdout: true,
                    stderr: true,
                    stream: true,
                    ..AttachOptions::default()
                },
            )
            .map_err(err)?;
        let waiter = self
            .engine
            .container_wait(container, WaitCondition::NextExit)
            .map_err(err)?;
        self.engine.container_start(container).map_err(err)?;
        let mut s = attach.stream;
        // Docker's framing: [stream, 0, 0, 0, len_be32] then the bytes.
        let mut head = [0u8; 8];
        let mut buf = Vec::new();
        while s.read_exact(&mut head).is_ok() {
            let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
            buf.resize(len, 0);
            if s.read_exact(&mut buf).is_err() {
                break;
            }
            out(head[0] == 2, &buf);
        }
        let res = waiter().map_err(err)?;
        Ok(res.status_code)
    }

    fn with_rootfs(
        &self,
        container: &str,
        f: &mut dyn FnMut(&Path) -> Result<(), BuildError>,
    ) -> Result<(), BuildError> {
        let inner = &self.engine.inner;
        let c = inner.get(container).map_err(err)?;
        let _op = c.op_lock();
        let rec = c.record();
        let (rootfs, mounted) = inner.mount_rootfs_here(&c, &rec).map_err(err)?;
        let r = f(&rootfs);
        inner.release_rootfs(&c, mounted);
        r
    }

    fn commit(&self, c: &Commit<'_>) -> Result<String, BuildError> {
        let created = c.epoch.map(|e| {
            berth_types::time::format_rfc3339(
                e as i128 * 1_000_000_000,
                berth_types::time::Precision::Seconds,
            )
        });
        self.engine
            .inner
            .commit_for_build(
                c.container,
                c.parent,
                c.config.clone(),
                c.author.map(str::to_string),
                c.created_by.to_string(),
                created,
                c.epoch,
            )
            .map_err(err)
    }

    fn restore(
        &self,
        parent: Option<&str>,
        source: &str,
        index: usize,
        config: &berth_image::model::RunConfig,
    ) -> Result<String, BuildError> {
        self.engine
            .inner
            .images
            .restore_cached(parent, source, index, config.clone())
            .map_err(err)
    }

    fn remove(&self, container: &str) {
        use crate::api::Engine as _;
        let _ = self.engine.container_remove(container, true, true);
    }

    fn tag(&self, id: &str, name: &str) -> Result<(), BuildError> {
        use crate::api::Engine as _;
        self.engine.image_tag(id, name, None).map_err(err)
    }

    fn cache_root(&self) -> PathBuf {
        self.cache_root.clone()
    }
}
