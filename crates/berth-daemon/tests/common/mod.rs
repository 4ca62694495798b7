//! A fake engine and a raw HTTP client, shared by the daemon's integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api_types::container::{
    ContainerConfig, ContainerCreateRequest, ContainerCreateResponse, ContainerInspect,
    ContainerState, ContainerSummary, ContainerTopResponse, ContainerUpdateRequest,
    ContainerUpdateResponse, ContainerWaitResponse, CpuStats, CpuUsage, Stats,
};
use berth_api_types::exec::{ExecConfig, ExecCreateResponse, ExecInspect, ExecStartConfig};
use berth_api_types::image::{
    ImageDeleteResponseItem, ImageHistoryItem, ImageInspect, ImageSummary,
};
use berth_api_types::network::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkResource,
};
use berth_api_types::system::{
    ComponentVersion, EventActor, EventMessage, Info, SystemDf, Version, VersionPlatform,
};
use berth_api_types::volume::{Volume, VolumeCreateRequest, VolumeListResponse};
use berth_api_types::Filters;
use berth_daemon::{Host, Listener, Server, ServerHandle};
use berth_engine::api::*;
use berth_engine::{Engine, EngineError, EngineResult};

pub const FAKE_VERSION: &str = "9.9.9-fake";
pub const FAKE_CONTAINER: &str = "fake-one";
pub const FAKE_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// What the fake saw and what the test controls.
#[derive(Default)]
pub struct Fake {
    pub imported: Mutex<Vec<u8>>,
    pub import_opts: Mutex<Option<ImportOptions>>,
    /// Engine ends of attach/exec streams, for the test to drive.
    pub attach_tx: Mutex<Option<Sender<UnixStream>>>,
    /// Released by the test: the status a waiter returns.
    pub wait_rx: Mutex<Option<Receiver<i64>>>,
    /// Live events the test sends.
    pub events_rx: Mutex<Option<Receiver<EventMessage>>>,
    pub events_args: Mutex<Option<(i64, i64, Filters)>>,
    pub logs_opts: Mutex<Option<LogsOptions>>,
    pub stats_calls: AtomicU64,
    /// Stats samples before the container "goes away" (NotFound).
    pub stats_limit: AtomicU64,
    /// The names of the last save.
    pub saved: Mutex<Vec<String>>,
    /// The filters of the last image prune.
    pub prune_filters: Mutex<Option<Filters>>,
    /// The filters of the last volume list or prune.
    pub volume_filters: Mutex<Option<Filters>>,
    /// The last network connect or disconnect: network, container, and what it asked.
    pub network_calls: Mutex<Vec<String>>,
}

/// What the fake's save writes for `names`: big enough for several chunks.
pub fn fake_archive(names: &[String]) -> Vec<u8> {
    let unit = format!("{}|", names.join(","));
    unit.as_bytes()
        .iter()
        .copied()
        .cycle()
        .take(700_000)
        .collect()
}

pub fn event(action: &str, nanos: i64) -> EventMessage {
    EventMessage {
        kind: "container".into(),
        action: action.into(),
        status: action.into(),
        id: FAKE_ID.into(),
        actor: EventActor {
            id: FAKE_ID.into(),
            attributes: BTreeMap::from([("name".to_string(), FAKE_CONTAINER.to_string())]),
        },
        scope: "local".into(),
        time: nanos / 1_000_000_000,
        time_nano: nanos,
        ..EventMessage::default()
    }
}

fn not_found(what: &str) -> EngineError {
    EngineError::NotFound(format!("No such container: {what}"))
}

impl Engine for Fake {
    fn version(&self) -> Version {
        let details = BTreeMap::from([
            ("ApiVersion".to_string(), "1.41".to_string()),
            ("MinAPIVersion".to_string(), "1.24".to_string()),
            ("GitCommit".to_string(), "fake".to_string()),
            ("GoVersion".to_string(), "none".to_string()),
            ("Os".to_string(), "linux".to_string()),
            ("Arch".to_string(), "amd64".to_string()),
            ("KernelVersion".to_string(), "6.0".to_string()),
            ("BuildTime".to_string(), "2026-11-22T17:00:00Z".to_string()),
        ]);
        Version {
            platform: VersionPlatform {
                name: "berth fake".into(),
            },
            components: vec![ComponentVersion {
                name: "Engine".into(),
                version: FAKE_VERSION.into(),
                details: Some(details),
            }],
            version: FAKE_VERSION.into(),
            api_version: "1.41".into(),
            min_api_version: "1.24".into(),
            git_commit: "fake".into(),
            go_version: "none".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            kernel_version: "6.0".into(),
            experimental: false,
            build_time: "2026-11-22T17:00:00Z".into(),
        }
    }
    fn info(&self) -> EngineResult<Info> {
        Ok(Info::default())
    }
    fn system_df(&self) -> EngineResult<SystemDf> {
        Ok(SystemDf::default())
    }
    fn events(&self, since: i64, until: i64, filters: Filters) -> EngineResult<EventStream> {
        *self.events_args.lock().unwrap() = Some((since, until, filters));
        let past = [
            event("create", 1_000_000_000_000_000_000),
            event("start", 1_000_000_001_000_000_000),
        ]
        .into_iter()
        .filter(|e| since == 0 || e.time_nano >= since)
        .collect();
        Ok(EventStream {
            past,
            live: self.events_rx.lock().unwrap().take(),
            until_nanos: until,
        })
    }
    fn container_create(
        &self,
        name: Option<&str>,
        req: ContainerCreateRequest,
    ) -> EngineResult<ContainerCreateResponse> {
        Ok(ContainerCreateResponse {
            id: format!("{}:{}", name.unwrap_or(""), req.config.image),
            warnings: vec![],
        })
    }
    fn container_list(&self, _opts: ListOptions) -> EngineResult<Vec<ContainerSummary>> {
        Ok(vec![ContainerSummary {
            id: FAKE_ID.into(),
            names: vec![format!("/{FAKE_CONTAINER}")],
            image: "busybox".into(),
            image_id: "sha256:1234".into(),
            command: "sh".into(),
            created: 1_700_000_000,
            state: "exited".into(),
            status: "Exited (0) 1 minute ago".into(),
            ..ContainerSummary::default()
        }])
    }
    fn container_inspect(&self, id: &str, _size: bool) -> EngineResult<ContainerInspect> {
        if id == "missing" {
            return Err(not_found(id));
        }
        Ok(ContainerInspect {
            id: FAKE_ID.into(),
            name: format!("/{FAKE_CONTAINER}"),
            image: "sha256:1234".into(),
            config: Some(ContainerConfig {
                tty: id == "tty",
                image: "busybox".into(),
                ..ContainerConfig::default()
            }),
            state: Some(ContainerState {
                status: "running".into(),
                running: true,
                ..ContainerState::default()
            }),
            ..ContainerInspect::default()
        })
    }
    fn container_top(&self, id: &str, _ps: Option<&str>) -> EngineResult<ContainerTopResponse> {
        Err(not_found(id))
    }
    fn container_changes(
        &self,
        id: &str,
    ) -> EngineResult<Vec<berth_api_types::container::ContainerChange>> {
        Err(not_found(id))
    }
    fn container_export(&self, id: &str, _out: &mut dyn std::io::Write) -> EngineResult<()> {
        Err(not_found(id))
    }
    /// Container `c1` has one file, `/f` ("hi"); everything else is missing.
    fn container_stat_path(
        &self,
        id: &str,
        path: &str,
    ) -> EngineResult<berth_api_types::container::ContainerPathStat> {
        if id != "c1" {
            return Err(not_found(id));
        }
        if path != "/f" {
            return Err(EngineError::NotFound(format!(
                "Could not find the file {path} in container {id}"
            )));
        }
        Ok(berth_api_types::container::ContainerPathStat {
            name: "f".into(),
            size: 2,
            mode: 0o644,
            mtime: "2026-11-22T00:00:00Z".into(),
            link_target: String::new(),
        })
    }
    fn container_archive(
        &self,
        id: &str,
        path: &str,
        started: &mut dyn FnMut(
            &berth_api_types::container::ContainerPathStat,
        ) -> std::io::Result<()>,
        out: &mut dyn std::io::Write,
    ) -> EngineResult<()> {
        let st = self.container_stat_path(id, path)?;
        started(&st).map_err(|e| EngineError::internal("starting the archive", e))?;
        out.write_all(b"TAR!")
            .map_err(|e| EngineError::internal("writing the archive", e))
    }
    fn container_extract(
        &self,
        id: &str,
        path: &str,
        _opts: ExtractOptions,
        body: &mut dyn std::io::Read,
    ) -> EngineResult<()> {
        if id != "c1" {
            return Err(not_found(id));
        }
        let mut data = Vec::new();
        body.read_to_end(&mut data)
            .map_err(|e| EngineError::internal("reading the archive", e))?;
        if path != "/" {
            return Err(EngineError::BadParameter(
                "extraction point is not a directory".into(),
            ));
        }
        Ok(())
    }
    fn commit(&self, opts: berth_engine::api::CommitOptions) -> EngineResult<String> {
        Err(not_found(&opts.container))
    }
    fn container_logs(&self, id: &str, opts: LogsOptions) -> EngineResult<(LogStream, bool)> {
        *self.logs_opts.lock().unwrap() = Some(opts);
        let entries = vec![
            Ok(LogEntry {
                stream: StdStream::Stdout,
                time_nanos: 1_795_366_800_123_456_789,
                bytes: b"hello\n".to_vec(),
            }),
            Ok(LogEntry {
                stream: StdStream::Stderr,
                time_nanos: 1_795_366_801_000_000_000,
                bytes: b"oops\n".to_vec(),
            }),
        ];
        Ok((Box::new(entries.into_iter()), id == "tty"))
    }
    fn container_start(&self, id: &str) -> EngineResult<()> {
        match id {
            "running" => Err(EngineError::NotModified("already started".into())),
            "missing" => Err(not_found(id)),
            _ => Ok(()),
        }
    }
    fn container_stop(&self, _id: &str, _t: Option<i64>, _s: Option<&str>) -> EngineResult<()> {
        Ok(())
    }
    fn container_restart(&self, _id: &str, _t: Option<i64>, _s: Option<&str>) -> EngineResult<()> {
        Ok(())
    }
    fn container_kill(&self, _id: &str, _s: Option<&str>) -> EngineResult<()> {
        Ok(())
    }
    fn container_update(
        &self,
        _id: &str,
        _r: ContainerUpdateRequest,
    ) -> EngineResult<ContainerUpdateResponse> {
        Ok(ContainerUpdateResponse::default())
    }
    fn container_rename(&self, _id: &str, _n: &str) -> EngineResult<()> {
        Ok(())
    }
    fn container_pause(&self, _id: &str) -> EngineResult<()> {
        Ok(())
    }
    fn container_unpause(&self, _id: &str) -> EngineResult<()> {
        Ok(())
    }
    fn container_attach(&self, id: &str, _opts: AttachOptions) -> EngineResult<AttachStream> {
        if id == "missing" {
            return Err(not_found(id));
        }
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| EngineError::internal("creating a socket pair", e))?;
        if let Some(tx) = self.attach_tx.lock().unwrap().as_ref() {
            let _ = tx.send(theirs);
        }
        Ok(AttachStream {
            stream: ours,
            tty: false,
        })
    }
    fn container_wait(&self, id: &str, condition: WaitCondition) -> EngineResult<Waiter> {
        if id == "missing" {
            return Err(not_found(id));
        }
        let rx = self.wait_rx.lock().unwrap().take();
        Ok(Box::new(move || {
            let code = match rx {
                Some(rx) => rx.recv().unwrap_or(-2),
                None => 0,
            };
            Ok(ContainerWaitResponse {
                status_code: code
                    + if condition == WaitCondition::NextExit {
                        100
                    } else {
                        0
                    },
                error: None,
            })
        }))
    }
    fn container_remove(&self, _id: &str, _f: bool, _v: bool) -> EngineResult<()> {
        Ok(())
    }
    fn container_remove_link(&self, _link: &str) -> EngineResult<()> {
        Ok(())
    }
    fn container_resize(&self, _id: &str, _h: u16, _w: u16) -> EngineResult<()> {
        Ok(())
    }
    fn container_stats(&self, id: &str) -> EngineResult<Stats> {
        let n = self.stats_calls.fetch_add(1, Ordering::SeqCst) + 1;
        let limit = self.stats_limit.load(Ordering::SeqCst);
        if limit != 0 && n > limit {
            return Err(not_found(id));
        }
        Ok(Stats {
            read: format!("2026-11-22T17:00:0{n}Z"),
            id: id.into(),
            name: format!("/{FAKE_CONTAINER}"),
            cpu_stats: CpuStats {
                cpu_usage: CpuUsage {
                    total_usage: n * 1000,
                    ..CpuUsage::default()
                },
                system_cpu_usage: n * 10_000,
                online_cpus: 2,
                ..CpuStats::default()
            },
            ..Stats::default()
        })
    }
    fn containers_prune(&self, _f: Filters) -> EngineResult<PruneReport> {
        Ok(PruneReport {
            deleted: vec!["a".into()],
            space_reclaimed: 42,
        })
    }
    fn exec_create(&self, _c: &str, _cfg: ExecConfig) -> EngineResult<ExecCreateResponse> {
        Ok(ExecCreateResponse { id: "exec1".into() })
    }
    fn exec_start(&self, _id: &str, config: ExecStartConfig) -> EngineResult<Option<AttachStream>> {
        if config.detach {
            return Ok(None);
        }
        self.container_attach("exec", AttachOptions::default())
            .map(Some)
    }
    fn exec_resize(&self, _id: &str, _h: u16, _w: u16) -> EngineResult<()> {
        Ok(())
    }
    fn exec_inspect(&self, id: &str) -> EngineResult<ExecInspect> {
        if id != "exec1" {
            return Err(EngineError::NotFound(format!(
                "No such exec instance: {id}"
            )));
        }
        Ok(ExecInspect {
            id: id.into(),
            running: false,
            exit_code: Some(3),
            container_id: FAKE_ID.into(),
            ..ExecInspect::default()
        })
    }
    fn image_list(&self, _a: bool, _f: Filters, _d: bool) -> EngineResult<Vec<ImageSummary>> {
        Ok(vec![])
    }
    fn image_inspect(&self, name: &str) -> EngineResult<ImageInspect> {
        Err(EngineError::NotFound(format!("No such image: {name}")))
    }
    fn image_history(&self, name: &str) -> EngineResult<Vec<ImageHistoryItem>> {
        Err(EngineError::NotFound(format!("No such image: {name}")))
    }
    fn image_import(&self, src: &mut dyn Read, opts: ImportOptions) -> EngineResult<String> {
        let mut all = Vec::new();
        src.read_to_end(&mut all)
            .map_err(|e| EngineError::BadParameter(format!("reading the archive: {e}")))?;
        let id = format!("sha256:{:064x}", all.len());
        *self.imported.lock().unwrap() = all;
        *self.import_opts.lock().unwrap() = Some(opts);
        Ok(id)
    }
    fn image_load(&self, src: &mut dyn Read) -> EngineResult<Vec<String>> {
        let mut all = Vec::new();
        src.read_to_end(&mut all)
            .map_err(|e| EngineError::BadParameter(format!("reading the archive: {e}")))?;
        Ok(vec![format!("Loaded image: fake:{}", all.len())])
    }
    fn image_tag(&self, _n: &str, _r: &str, _t: Option<&str>) -> EngineResult<()> {
        Ok(())
    }
    /// `tester`/`s3cret` logs in; other credentials are refused.
    fn registry_login(
        &self,
        auth: berth_api_types::registry::AuthConfig,
    ) -> EngineResult<berth_api_types::registry::AuthenticateOkBody> {
        if (auth.username.as_str(), auth.password.as_str()) == ("tester", "s3cret") {
            return Ok(berth_api_types::registry::AuthenticateOkBody {
                status: "Login Succeeded".into(),
                identity_token: String::new(),
            });
        }
        Err(EngineError::Unauthorized(format!(
            "login attempt to http://{}/v2/ failed with status: 401 Unauthorized",
            auth.serveraddress
        )))
    }
    /// One result per star asked for with `stars`, named after the term and limit.
    fn image_search(
        &self,
        term: &str,
        limit: u32,
        filters: Filters,
    ) -> EngineResult<Vec<berth_api_types::registry::ImageSearchResult>> {
        let n = filters
            .get("stars")
            .first()
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(1);
        Ok((0..n)
            .map(|i| berth_api_types::registry::ImageSearchResult {
                name: format!("{term}-{limit}-{i}"),
                star_count: i,
                ..Default::default()
            })
            .collect())
    }
    /// `nosuch` is unknown; `broken` fails half-way through the archive.
    fn image_save(&self, names: &[String]) -> EngineResult<ImageExport> {
        *self.saved.lock().unwrap() = names.to_vec();
        if let Some(n) = names.iter().find(|n| *n == "nosuch") {
            return Err(EngineError::NotFound(format!("No such image: {n}")));
        }
        let data = fake_archive(names);
        let broken = names.iter().any(|n| n == "broken");
        Ok(Box::new(move |w: &mut dyn Write| {
            if broken {
                w.write_all(&data[..300_000])
                    .map_err(|e| EngineError::internal("writing the image archive", e))?;
                return Err(EngineError::internal(
                    "writing the image archive",
                    "layer blob vanished",
                ));
            }
            for part in data.chunks(1000) {
                w.write_all(part)
                    .map_err(|e| EngineError::internal("writing the image archive", e))?;
            }
            Ok(())
        }))
    }
    fn images_prune(&self, filters: Filters) -> EngineResult<ImagePruneReport> {
        if filters.get("dangling").iter().any(|v| v == "maybe") {
            return Err(EngineError::BadParameter(
                "invalid filter 'dangling=maybe'".into(),
            ));
        }
        *self.prune_filters.lock().unwrap() = Some(filters);
        Ok(ImagePruneReport {
            deleted: vec![
                ImageDeleteResponseItem {
                    untagged: Some("old:1".into()),
                    deleted: None,
                },
                ImageDeleteResponseItem {
                    untagged: None,
                    deleted: Some(format!("sha256:{}", "a".repeat(64))),
                },
            ],
            space_reclaimed: 1234,
        })
    }
    fn image_remove(
        &self,
        name: &str,
        _f: bool,
        _n: bool,
    ) -> EngineResult<Vec<ImageDeleteResponseItem>> {
        Ok(vec![ImageDeleteResponseItem {
            untagged: Some(name.to_string()),
            deleted: None,
        }])
    }

    // The fake knows one volume, FAKE_VOLUME, in use by FAKE_ID.
    fn volume_create(&self, req: VolumeCreateRequest) -> EngineResult<Volume> {
        Ok(fake_volume(&req.name, req.labels))
    }
    fn volume_list(&self, filters: Filters) -> EngineResult<VolumeListResponse> {
        *self.volume_filters.lock().unwrap() = Some(filters);
        Ok(VolumeListResponse {
            volumes: vec![fake_volume(FAKE_VOLUME, BTreeMap::new())],
            warnings: Vec::new(),
        })
    }
    fn volume_inspect(&self, name: &str) -> EngineResult<Volume> {
        if name != FAKE_VOLUME {
            return Err(EngineError::NotFound(format!("get {name}: no such volume")));
        }
        Ok(fake_volume(name, BTreeMap::new()))
    }
    fn volume_remove(&self, name: &str, force: bool) -> EngineResult<()> {
        match name {
            FAKE_VOLUME => Err(EngineError::Conflict(format!(
                "remove {name}: volume is in use - [{FAKE_ID}]"
            ))),
            _ if force => Ok(()),
            _ => Err(EngineError::NotFound(format!("get {name}: no such volume"))),
        }
    }
    fn volumes_prune(&self, filters: Filters) -> EngineResult<PruneReport> {
        *self.volume_filters.lock().unwrap() = Some(filters);
        Ok(PruneReport {
            deleted: vec!["old-vol".into()],
            space_reclaimed: 42,
        })
    }

    fn network_create(&self, req: NetworkCreateRequest) -> EngineResult<NetworkCreateResponse> {
        if req.name == FAKE_NETWORK {
            return Err(EngineError::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        Ok(NetworkCreateResponse {
            id: format!("id-of-{}-{}", req.name, req.driver),
            warning: String::new(),
        })
    }
    fn network_list(&self, filters: Filters) -> EngineResult<Vec<NetworkResource>> {
        *self.volume_filters.lock().unwrap() = Some(filters);
        Ok(vec![self.network_inspect(FAKE_NETWORK)?])
    }
    fn network_inspect(&self, id: &str) -> EngineResult<NetworkResource> {
        if id != FAKE_NETWORK {
            return Err(EngineError::NotFound(format!("network {id} not found")));
        }
        Ok(NetworkResource {
            name: FAKE_NETWORK.into(),
            id: "f".repeat(64),
            driver: "bridge".into(),
            scope: "local".into(),
            ..NetworkResource::default()
        })
    }
    fn network_remove(&self, id: &str) -> EngineResult<()> {
        match id {
            "bridge" => Err(EngineError::Forbidden(
                "bridge is a pre-defined network and cannot be removed".into(),
            )),
            _ => self.network_inspect(id).map(drop),
        }
    }
    fn network_connect(&self, id: &str, req: NetworkConnectRequest) -> EngineResult<()> {
        let ep = req.endpoint_config.unwrap_or_default();
        self.network_calls.lock().unwrap().push(format!(
            "connect {id} {} {:?} {}",
            req.container,
            ep.aliases,
            ep.ipam_config.map(|i| i.ipv4_address).unwrap_or_default()
        ));
        Ok(())
    }
    fn network_disconnect(&self, id: &str, req: NetworkDisconnectRequest) -> EngineResult<()> {
        self.network_calls
            .lock()
            .unwrap()
            .push(format!("disconnect {id} {} {}", req.container, req.force));
        Ok(())
    }
    fn networks_prune(&self, filters: Filters) -> EngineResult<Vec<String>> {
        *self.volume_filters.lock().unwrap() = Some(filters);
        Ok(vec!["old-net".into()])
    }
}

pub const FAKE_VOLUME: &str = "fake-vol";
pub const FAKE_NETWORK: &str = "fake-net";

fn fake_volume(name: &str, labels: BTreeMap<String, String>) -> Volume {
    Volume {
        name: name.to_string(),
        driver: "local".into(),
        mountpoint: format!("/fake/volumes/{name}/_data"),
        created_at: "2026-11-22T17:00:00Z".into(),
        labels,
        scope: "local".into(),
        ..Volume::default()
    }
}

/// A server on a temporary unix socket.
pub struct TestServer {
    pub fake: Arc<Fake>,
    pub socket: PathBuf,
    handle: Option<ServerHandle>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub fn start(fake: Fake) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("berth.sock");
        let listener = Listener::bind(&Host::Unix(socket.clone())).expect("bind");
        let fake = Arc::new(fake);
        let engine: Arc<dyn Engine> = fake.clone();
        let handle = Server::new(engine, vec![listener]).spawn().expect("spawn");
        TestServer {
            fake,
            socket,
            handle: Some(handle),
            _dir: dir,
        }
    }

    pub fn connect(&self) -> UnixStream {
        let s = UnixStream::connect(&self.socket).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        s
    }

    /// Sends `raw` (a whole request; `Connection: close` is added) and reads the whole
    /// response.
    pub fn call(&self, method: &str, path: &str, body: Option<&[u8]>) -> Response {
        let mut s = self.connect();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n");
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body.unwrap_or(b""));
        s.write_all(&bytes).expect("write");
        read_response(&mut s)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            drop(h.stop());
        }
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<String> {
        header_in(&self.head, name)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

pub fn header_in(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// Reads a response head byte by byte (so nothing after it is consumed).
pub fn read_head(s: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut b).expect("read head");
        assert!(
            n > 0,
            "connection closed inside the head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(b[0]);
    }
    String::from_utf8(head).expect("utf-8 head")
}

pub fn status_of(head: &str) -> u16 {
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status")
}

/// Reads one chunk of a chunked body; None at the last chunk.
pub fn read_chunk(s: &mut impl Read) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        assert_eq!(
            s.read(&mut b).expect("read chunk size"),
            1,
            "eof in chunk size"
        );
        line.push(b[0]);
    }
    let size = usize::from_str_radix(std::str::from_utf8(&line).expect("utf8").trim(), 16)
        .expect("hex size");
    let mut data = vec![0u8; size + 2];
    s.read_exact(&mut data).expect("chunk data");
    assert_eq!(&data[size..], b"\r\n");
    data.truncate(size);
    (size > 0).then_some(data)
}

pub fn read_response(s: &mut UnixStream) -> Response {
    let head = read_head(s);
    let status = status_of(&head);
    let body = if header_in(&head, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let mut body = Vec::new();
        while let Some(c) = read_chunk(s) {
            body.extend_from_slice(&c);
        }
        body
    } else if let Some(len) = header_in(&head, "content-length") {
        let mut body = vec![0u8; len.parse().expect("length")];
        s.read_exact(&mut body).expect("body");
        body
    } else {
        let mut body = Vec::new();
        let _ = s.read_to_end(&mut body);
        body
    };
    Response { status, head, body }
}

pub fn docker_cli() -> Option<&'static Path> {
    let p = Path::new("/usr/local/bin/docker");
    p.exists().then_some(p)
}
