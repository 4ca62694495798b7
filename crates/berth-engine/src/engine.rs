//! [`LocalEngine`]: the [`Engine`](crate::Engine) that runs containers on this host,
//! each under a `berth-runc shim`, with its state under the data and exec roots.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use berth_api_types::container::{
    ContainerChange, ContainerCreateRequest, ContainerCreateResponse, ContainerInspect,
    ContainerPathStat, ContainerSummary, ContainerTopResponse, ContainerUpdateRequest,
    ContainerUpdateResponse, Stats, Ulimit,
};
use berth_api_types::exec::{ExecConfig, ExecCreateResponse, ExecInspect, ExecStartConfig};
use berth_api_types::image::{
    ImageDeleteResponseItem, ImageHistoryItem, ImageInspect, ImageSummary,
};
use berth_api_types::network::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkResource,
};
use berth_api_types::system::{Info, SystemDf, Version};
use berth_api_types::volume::{Volume, VolumeCreateRequest, VolumeListResponse};
use berth_api_types::Filters;

use crate::api::{
    AttachOptions, AttachStream, CommitOptions, Engine, EngineError, EngineResult, EventStream,
    ExtractOptions, ImageExport, ImagePruneReport, ImportOptions, ListOptions, LogStream,
    LogsOptions, PruneReport, WaitCondition, Waiter,
};
use crate::containers::{restore, Inner};
use crate::images::{ImageService, ImageUser};
use crate::store::Status;
use berth_network::firewall::Backend;

/// How the daemon configured the engine (from its flags and daemon.json).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// `--data-root` (default /var/lib/berth): images, snapshots, containers.
    pub data_root: PathBuf,
    /// `--exec-root` (default /run/berth): shim sockets, runtime state.
    pub exec_root: PathBuf,
    /// The berth-runc binary (default: `berth-runc` next to the daemon's executable).
    pub runtime: PathBuf,
    /// The init binary bind-mounted at /dev/init for `--init` (None: `--init` fails
    /// with a clear error).
    pub init_path: Option<PathBuf>,
    /// `--default-ulimit`s.
    pub default_ulimits: Vec<Ulimit>,
    /// `--live-restore` (default on): containers keep running while the daemon is down.
    pub live_restore: bool,
    /// `--bridge`: the default bridge's device (default `berth0`; `none`: no default
    /// bridge). `--bip`: its address and subnet (default: picked from Docker's pools).
    pub bridge: Option<String>,
    pub bip: Option<String>,
    /// `--firewall-backend`: what carries berth's packet-filter rules (None: nftables
    /// where `nft` works, else iptables).
    pub firewall_backend: Option<Backend>,
    /// `--mtu`: the default bridge's MTU (default 1500).
    pub mtu: Option<u32>,
    /// Default seccomp profile in Docker's JSON format; None: berth's built-in default.
    pub seccomp_profile: Option<Vec<u8>>,
    /// Parent cgroup of containers (default `/berth`, made unique per daemon by the
    /// caller when several daemons share a host).
    pub cgroup_parent: String,
    /// Registries: insecure ones, Docker Hub mirrors, certs.d, parallel downloads.
    pub registry: berth_registry::client::RegistryOptions,
}

impl EngineConfig {
    /// Defaults under `data_root` and `exec_root`.
    pub fn new(data_root: impl Into<PathBuf>, exec_root: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            data_root: data_root.into(),
            exec_root: exec_root.into(),
            runtime: PathBuf::from("berth-runc"),
            init_path: None,
            default_ulimits: Vec::new(),
            live_restore: true,
            bridge: None,
            bip: None,
            firewall_backend: None,
            mtu: None,
            seccomp_profile: None,
            cgroup_parent: "/berth".into(),
            registry: berth_registry::client::RegistryOptions::default(),
        }
    }
}

/// The engine. Open once per daemon; shared by every connection. Dropping it without
/// [`LocalEngine::shutdown`] is what a crash looks like to the containers: they keep
/// running under their shims, and the next `open` adopts them.
pub struct LocalEngine {
    pub(crate) inner: Arc<Inner>,
    registry: berth_registry::client::RegistryClient,
}

impl LocalEngine {
    /// Opens (creating if needed) the state under the roots, finds the shims of
    /// containers that were running, and starts restart-policy supervision.
    pub fn open(config: EngineConfig) -> EngineResult<Arc<LocalEngine>> {
        for d in [
            config.data_root.join("containers"),
            config.exec_root.join("containers"),
            config.exec_root.join("runc"),
        ] {
            std::fs::create_dir_all(&d).map_err(|e| EngineError::io("creating", &d, e))?;
            // An optimisation only: filesystems without the flag work as well.
            let _ = berth_sys::spread_subdirectories(&d);
        }
        let registry = berth_registry::client::RegistryClient::new(config.registry.clone())
            .map_err(EngineError::BadParameter)?;
        let images = ImageService::open(&config.data_root)?;
        let volumes = crate::volumes::VolumeStore::open(&config.data_root.join("volumes"))?;
        let networks = crate::networks::Networks::open(
            &config.data_root,
            &config.exec_root,
            config.bridge.as_deref(),
            config.bip.as_deref(),
            config.firewall_backend,
            config.mtu,
        )?;
        // A build's context and downloads from before a crash: nothing uses them now.
        let _ = std::fs::remove_dir_all(config.data_root.join("builder").join("tmp"));
        let inner = Arc::new(Inner::new(config, images, volumes, networks));
        restore(&inner)?;
        Ok(Arc::new(LocalEngine { inner, registry }))
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Called when the daemon stops: without live-restore, stops every container
    /// (gracefully, 10 s); either way background threads stop touching containers.
    pub fn shutdown(&self) {
        if !self.inner.config.live_restore {
            // Stops keep the restart policy for the next daemon, as dockerd's shutdown.
            let running: Vec<_> = self
                .inner
                .all()
                .into_iter()
                .filter(|c| c.lock().rec.state.status.is_running())
                .collect();
            let handles: Vec<_> = running
                .into_iter()
                .map(|c| {
                    let inner = self.inner.clone();
                    std::thread::spawn(move || {
                        let _op = c.op_lock();
                        let manual = c.lock().rec.manually_stopped;
                        let _ = inner.stop_locked(&c, Some(10), None);
                        let mut g = c.lock();
                        g.rec.manually_stopped = manual;
                        let _ = inner.save(&g.rec);
                    })
                })
                .collect();
            for h in handles {
                let _ = h.join();
            }
        }
        self.inner.closed.store(true, Ordering::SeqCst);
        // Published ports and NAT last only while the daemon runs; the next start
        // writes them again for the containers still running.
        self.inner.networks.remove_rules();
    }

    fn image_event(&self, action: &str, id: &str, name: &str) {
        let mut attrs = std::collections::BTreeMap::new();
        if !name.is_empty() {
            attrs.insert("name".to_string(), name.to_string());
        }
        self.inner.events.emit("image", action, id, attrs);
    }

    /// The containers' uses of images (they keep their image), for removal's
    /// conflict checks: a running one forbids deleting its image even with force.
    fn image_users(&self) -> Vec<ImageUser> {
        self.inner
            .all()
            .iter()
            .map(|c| {
                let g = c.lock();
                ImageUser {
                    image_id: g.rec.image_id.clone(),
                    container_id: g.rec.id.clone(),
                    running: g.rec.state.status.is_running()
                        || g.rec.state.status == Status::Restarting,
                }
            })
            .collect()
    }

    /// Events for what an image removal reported.
    fn removal_events(&self, items: &[ImageDeleteResponseItem], name: &str) {
        for it in items {
            if let Some(u) = it.untagged.as_deref().filter(|s| !s.is_empty()) {
                self.image_event("untag", u, u);
            }
            if let Some(d) = it.deleted.as_deref().filter(|s| !s.is_empty()) {
                self.image_event("delete", d, name);
            }
        }
    }
}

impl Drop for LocalEngine {
    fn drop(&mut self) {
        // Monitor threads outlive this value; from now on they leave the containers
        // alone, for the next engine to adopt.
        self.inner.closed.store(true, Ordering::SeqCst);
    }
}

impl Engine for LocalEngine {
    fn version(&self) -> Version {
        crate::system::version()
    }

    fn info(&self) -> EngineResult<Info> {
        let mut inputs = crate::system::InfoInputs {
            images: self.inner.images.count()?,
            data_root: self.inner.config.data_root.clone(),
            live_restore: self.inner.config.live_restore,
            runtime_path: self.inner.config.runtime.clone(),
            init_path: self.inner.config.init_path.clone(),
            registry: Some(crate::system::registry_config(&self.registry)),
            ..Default::default()
        };
        for c in self.inner.all() {
            match c.lock().rec.state.status {
                Status::Running | Status::Restarting => inputs.containers_running += 1,
                Status::Paused => inputs.containers_paused += 1,
                _ => inputs.containers_stopped += 1,
            }
        }
        Ok(crate::system::info(&inputs))
    }

    fn system_df(&self) -> EngineResult<SystemDf> {
        Ok(SystemDf {
            layers_size: self.inner.images.layers_size()?,
            images: self.inner.images.list(true, Filters::default(), false)?,
            containers: self.inner.df_containers(),
            volumes: self.inner.df_volumes(),
            build_cache: Vec::new(),
        })
    }

    fn events(
        &self,
        since_nanos: i64,
        until_nanos: i64,
        filters: Filters,
    ) -> EngineResult<EventStream> {
        self.inner
            .events
            .subscribe(since_nanos, until_nanos, filters)
    }

    fn container_create(
        &self,
        name: Option<&str>,
        req: ContainerCreateRequest,
    ) -> EngineResult<ContainerCreateResponse> {
        self.inner.create(name, req)
    }

    fn container_list(&self, opts: ListOptions) -> EngineResult<Vec<ContainerSummary>> {
        self.inner.list(opts)
    }

    fn container_inspect(&self, id: &str, size: bool) -> EngineResult<ContainerInspect> {
        self.inner.inspect(id, size)
    }

    fn container_top(&self, id: &str, ps_args: Option<&str>) -> EngineResult<ContainerTopResponse> {
        self.inner.top(id, ps_args)
    }

    fn container_changes(&self, id: &str) -> EngineResult<Vec<ContainerChange>> {
        self.inner.changes(id)
    }

    fn container_export(&self, id: &str, out: &mut dyn std::io::Write) -> EngineResult<()> {
        self.inner.export(id, out)
    }

    fn container_stat_path(&self, id: &str, path: &str) -> EngineResult<ContainerPathStat> {
        self.inner.stat_path(id, path)
    }

    fn container_archive(
        &self,
        id: &str,
        path: &str,
        started: &mut dyn FnMut(&ContainerPathStat) -> std::io::Result<()>,
        out: &mut dyn std::io::Write,
    ) -> EngineResult<()> {
        self.inner.archive(id, path, started, out)
    }

    fn container_extract(
        &self,
        id: &str,
        path: &str,
        opts: ExtractOptions,
        body: &mut dyn std::io::Read,
    ) -> EngineResult<()> {
        self.inner.extract(id, path, opts, body)
    }

    fn commit(&self, opts: CommitOptions) -> EngineResult<String> {
        self.inner.commit(opts)
    }

    fn container_logs(&self, id: &str, opts: LogsOptions) -> EngineResult<(LogStream, bool)> {
        self.inner.logs(id, opts)
    }

    fn container_start(&self, id: &str) -> EngineResult<()> {
        self.inner.start(id)
    }

    fn container_stop(
        &self,
        id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> EngineResult<()> {
        self.inner.stop(id, timeout, signal)
    }

    fn container_restart(
        &self,
        id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> EngineResult<()> {
        self.inner.restart(id, timeout, signal)
    }

    fn container_kill(&self, id: &str, signal: Option<&str>) -> EngineResult<()> {
        self.inner.kill(id, signal)
    }

    fn container_update(
        &self,
        id: &str,
        req: ContainerUpdateRequest,
    ) -> EngineResult<ContainerUpdateResponse> {
        self.inner.update(id, req)
    }

    fn container_rename(&self, id: &str, new_name: &str) -> EngineResult<()> {
        self.inner.rename(id, new_name)
    }

    fn container_pause(&self, id: &str) -> EngineResult<()> {
        self.inner.pause(id, false)
    }

    fn container_unpause(&self, id: &str) -> EngineResult<()> {
        self.inner.pause(id, true)
    }

    fn container_attach(&self, id: &str, opts: AttachOptions) -> EngineResult<AttachStream> {
        self.inner.attach(id, opts)
    }

    fn container_wait(&self, id: &str, condition: WaitCondition) -> EngineResult<Waiter> {
        self.inner.wait(id, condition)
    }

    fn container_remove(&self, id: &str, force: bool, volumes: bool) -> EngineResult<()> {
        self.inner.remove(id, force, volumes)
    }

    fn container_remove_link(&self, link: &str) -> EngineResult<()> {
        self.inner.remove_link(link)
    }

    fn container_resize(&self, id: &str, height: u16, width: u16) -> EngineResult<()> {
        self.inner.resize(id, height, width)
    }

    fn container_stats(&self, id: &str) -> EngineResult<Stats> {
        self.inner.stats(id)
    }

    fn containers_prune(&self, filters: Filters) -> EngineResult<PruneReport> {
        self.inner.prune(filters)
    }

    fn exec_create(&self, container: &str, config: ExecConfig) -> EngineResult<ExecCreateResponse> {
        self.inner.exec_create(container, config)
    }

    fn exec_start(
        &self,
        exec_id: &str,
        config: ExecStartConfig,
    ) -> EngineResult<Option<AttachStream>> {
        self.inner.exec_start(exec_id, config)
    }

    fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> EngineResult<()> {
        self.inner.exec_resize(exec_id, height, width)
    }

    fn exec_inspect(&self, exec_id: &str) -> EngineResult<ExecInspect> {
        self.inner.exec_inspect(exec_id)
    }

    fn build<'e>(
        &'e self,
        opts: berth_api_types::build::BuildOptions,
        auth: std::collections::HashMap<String, berth_api_types::registry::AuthConfig>,
        context: &mut (dyn Read + Send),
    ) -> EngineResult<crate::api::BuildRun<'e>> {
        self.build_image(opts, auth, context)
    }

    fn build_prune(
        &self,
        all: bool,
    ) -> EngineResult<berth_api_types::build::BuildCachePruneReport> {
        self.prune_build_cache(all)
    }

    fn image_list(
        &self,
        all: bool,
        filters: Filters,
        digests: bool,
    ) -> EngineResult<Vec<ImageSummary>> {
        self.inner.images.list(all, filters, digests)
    }

    fn image_inspect(&self, name: &str) -> EngineResult<ImageInspect> {
        self.inner.images.inspect(name)
    }

    fn image_history(&self, name: &str) -> EngineResult<Vec<ImageHistoryItem>> {
        self.inner.images.history(name)
    }

    fn image_import(&self, src: &mut dyn Read, opts: ImportOptions) -> EngineResult<String> {
        let name = match (&opts.repo, &opts.tag) {
            (Some(r), Some(t)) if !t.is_empty() => format!("{r}:{t}"),
            (Some(r), _) => r.clone(),
            _ => String::new(),
        };
        let id = self.inner.images.import(src, opts)?;
        self.image_event("import", &id, &name);
        Ok(id)
    }

    fn image_load(&self, src: &mut dyn Read) -> EngineResult<Vec<String>> {
        let lines = self.inner.images.load(src)?;
        for l in &lines {
            let what = l
                .strip_prefix("Loaded image: ")
                .or_else(|| l.strip_prefix("Loaded image ID: "))
                .unwrap_or(l);
            let id = self
                .inner
                .images
                .resolve(what)
                .map(|i| i.id)
                .unwrap_or_else(|_| what.to_string());
            self.image_event("load", &id, what);
        }
        Ok(lines)
    }

    fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> EngineResult<()> {
        self.inner.images.tag(name, repo, tag)?;
        let id = self
            .inner
            .images
            .resolve(name)
            .map(|i| i.id)
            .unwrap_or_else(|_| name.to_string());
        let full = match tag {
            Some(t) if !t.is_empty() => format!("{repo}:{t}"),
            _ => format!("{repo}:latest"),
        };
        self.image_event("tag", &id, &full);
        Ok(())
    }

    fn image_pull(
        &self,
        opts: crate::api::PullOptions,
        progress: &mut dyn FnMut(berth_api_types::image::JsonMessage) -> bool,
    ) -> EngineResult<()> {
        let pulled = self.inner.images.pull(&self.registry, &opts, progress)?;
        for (_id, name) in pulled {
            self.image_event("pull", &name, &name);
        }
        Ok(())
    }

    fn image_push(
        &self,
        opts: crate::api::PushOptions,
        progress: &mut dyn FnMut(berth_api_types::image::JsonMessage) -> bool,
    ) -> EngineResult<()> {
        let pushed = self.inner.images.push(&self.registry, &opts, progress)?;
        for name in pushed {
            self.image_event("push", &name, &name);
        }
        Ok(())
    }

    fn distribution_inspect(
        &self,
        name: &str,
        auth: berth_api_types::registry::AuthConfig,
    ) -> EngineResult<berth_api_types::registry::DistributionInspect> {
        self.inner.images.distribution(&self.registry, name, &auth)
    }

    fn registry_login(
        &self,
        auth: berth_api_types::registry::AuthConfig,
    ) -> EngineResult<berth_api_types::registry::AuthenticateOkBody> {
        crate::images::pull::login(&self.registry, &auth)
    }

    fn image_search(
        &self,
        term: &str,
        limit: u32,
        filters: Filters,
    ) -> EngineResult<Vec<berth_api_types::registry::ImageSearchResult>> {
        crate::images::pull::search(&self.registry, term, limit, &filters)
    }

    fn image_remove(
        &self,
        name: &str,
        force: bool,
        no_prune: bool,
    ) -> EngineResult<Vec<ImageDeleteResponseItem>> {
        let users = self.image_users();
        let items = self
            .inner
            .images
            .remove_image(name, force, no_prune, &users)?;
        self.removal_events(&items, name);
        Ok(items)
    }

    fn image_save(&self, names: &[String]) -> EngineResult<ImageExport> {
        let save = self.inner.images.save(names)?;
        let inner = self.inner.clone();
        Ok(Box::new(move |w: &mut dyn Write| {
            let ids: Vec<String> = save.images().iter().map(|i| i.config.to_string()).collect();
            save.write_to(w)?;
            for id in ids {
                inner.events.emit(
                    "image",
                    "save",
                    &id,
                    [("name".to_string(), id.clone())].into(),
                );
            }
            Ok(())
        }))
    }

    fn images_prune(&self, filters: Filters) -> EngineResult<ImagePruneReport> {
        let users = self.image_users();
        let report = self.inner.images.prune(&filters, &users)?;
        self.removal_events(&report.deleted, "");
        self.inner.events.emit(
            "image",
            "prune",
            "",
            [("reclaimed".to_string(), report.space_reclaimed.to_string())].into(),
        );
        Ok(report)
    }

    fn volume_create(&self, req: VolumeCreateRequest) -> EngineResult<Volume> {
        self.inner.volume_create(req)
    }

    fn volume_list(&self, filters: Filters) -> EngineResult<VolumeListResponse> {
        self.inner.volume_list(filters)
    }

    fn volume_inspect(&self, name: &str) -> EngineResult<Volume> {
        self.inner.volume_inspect(name)
    }

    fn volume_remove(&self, name: &str, force: bool) -> EngineResult<()> {
        self.inner.volume_remove(name, force)
    }

    fn volumes_prune(&self, filters: Filters) -> EngineResult<PruneReport> {
        self.inner.volumes_prune(filters)
    }

    fn network_create(&self, req: NetworkCreateRequest) -> EngineResult<NetworkCreateResponse> {
        self.inner.network_create(req)
    }

    fn network_list(&self, filters: Filters) -> EngineResult<Vec<NetworkResource>> {
        self.inner.network_list(filters)
    }

    fn network_inspect(&self, id: &str) -> EngineResult<NetworkResource> {
        self.inner.network_inspect(id)
    }

    fn network_remove(&self, id: &str) -> EngineResult<()> {
        self.inner.network_remove(id)
    }

    fn network_connect(&self, id: &str, req: NetworkConnectRequest) -> EngineResult<()> {
        self.inner.network_connect(id, req)
    }

    fn network_disconnect(&self, id: &str, req: NetworkDisconnectRequest) -> EngineResult<()> {
        self.inner.network_disconnect(id, req)
    }

    fn networks_prune(&self, filters: Filters) -> EngineResult<Vec<String>> {
        self.inner.networks_prune(filters)
    }
}
