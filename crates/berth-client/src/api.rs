//! The typed endpoints: containers, exec, images, volumes, networks and system, one method per
//! call the CLI makes, named after the endpoint.

use std::io::Read;

use berth_api_types::container::{
    ContainerCreateRequest, ContainerCreateResponse, ContainerInspect, ContainerPathStat,
    ContainerSummary, ContainerTopResponse, ContainerUpdateRequest, ContainerUpdateResponse,
    ContainerWaitResponse, Stats,
};
use berth_api_types::exec::{ExecConfig, ExecCreateResponse, ExecInspect, ExecStartConfig};
use berth_api_types::image::{
    ImageDeleteResponseItem, ImageHistoryItem, ImageInspect, ImagePruneResponse, ImageSummary,
    JsonMessage,
};
use berth_api_types::network::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkPruneResponse, NetworkResource,
};
use berth_api_types::system::{EventMessage, Info, SystemDf, Version};
use berth_api_types::volume::{
    Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse,
};
use berth_api_types::Filters;
use serde::{Deserialize, Serialize};

use crate::http::{Body, BodyReader};
use crate::stream::{HijackedStream, JsonStream};
use crate::{Client, ClientError, Query, Response};

/// What `GET /_ping` told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ping {
    pub api_version: String,
    pub os_type: String,
    pub experimental: bool,
    pub builder_version: String,
}

/// `GET /containers/json` parameters.
#[derive(Debug, Clone, Default)]
pub struct ListContainersOptions {
    pub all: bool,
    pub limit: Option<i64>,
    pub size: bool,
    pub filters: Filters,
}

/// `GET /containers/{id}/logs` parameters. `since`/`until` are Unix seconds as docker's
/// CLI sends them (`1700000000.000000000`); `tail` is `all` or a number.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub since: String,
    pub until: String,
    pub timestamps: bool,
    pub tail: String,
}

/// `POST /containers/{id}/attach` parameters.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub stream: bool,
    pub logs: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub detach_keys: String,
}

/// `GET /events` parameters (`since`/`until` as docker's CLI sends them).
#[derive(Debug, Clone, Default)]
pub struct EventsOptions {
    pub since: String,
    pub until: String,
    pub filters: Filters,
}

/// `GET /images/json` parameters.
#[derive(Debug, Clone, Default)]
pub struct ListImagesOptions {
    pub all: bool,
    pub digests: bool,
    pub filters: Filters,
}

/// `POST /commit` parameters.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub container: String,
    pub repo: String,
    pub tag: String,
    pub comment: String,
    pub author: String,
    pub pause: bool,
    pub changes: Vec<String>,
}

/// `POST /images/create?fromSrc=-` (import) parameters.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub repo: String,
    pub tag: String,
    /// Dockerfile instructions (`CMD ["sh"]`), one `changes` parameter each.
    pub changes: Vec<String>,
    pub message: String,
    pub platform: String,
}

/// The body of `POST /containers/prune` (`ContainerPruneResponse` is not in
/// berth-api-types yet).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerPruneResponse {
    #[serde(rename = "ContainersDeleted")]
    pub containers_deleted: Option<Vec<String>>,
    #[serde(rename = "SpaceReclaimed")]
    pub space_reclaimed: u64,
}

/// A wait whose request has been accepted (the daemon has sent its head, so the
/// condition is registered) and whose result is still to come.
#[derive(Debug)]
pub struct WaitHandle {
    resp: Response,
}

impl WaitHandle {
    /// Blocks until the container meets the condition.
    pub fn result(self) -> Result<ContainerWaitResponse, ClientError> {
        self.resp.json()
    }
}

fn filters_query(q: &mut Query, filters: &Filters) {
    if !filters.is_empty() {
        q.push("filters", filters.to_json());
    }
}

impl Client {
    /// `GET /_ping`: the daemon's API version and OS.
    pub fn ping(&self) -> Result<Ping, ClientError> {
        let resp = self.send_raw("GET", "/_ping", &[], Body::Empty, false)?;
        let h = |n: &str| resp.header(n).unwrap_or("").to_string();
        let ping = Ping {
            api_version: h("Api-Version"),
            os_type: h("OSType"),
            experimental: h("Docker-Experimental") == "true",
            builder_version: h("Builder-Version"),
        };
        if resp.status() >= 400 {
            return Err(crate::api_error(resp));
        }
        Ok(ping)
    }

    pub fn version(&self) -> Result<Version, ClientError> {
        self.request("GET", "/version", &Query::new(), Body::Empty)?
            .json()
    }

    pub fn info(&self) -> Result<Info, ClientError> {
        self.request("GET", "/info", &Query::new(), Body::Empty)?
            .json()
    }

    pub fn system_df(&self) -> Result<SystemDf, ClientError> {
        self.request("GET", "/system/df", &Query::new(), Body::Empty)?
            .json()
    }

    /// `GET /events`: events as they happen (until `until`, if given).
    pub fn events(&self, opts: &EventsOptions) -> Result<JsonStream<EventMessage>, ClientError> {
        let mut q = Query::new();
        q.opt("since", &opts.since).opt("until", &opts.until);
        filters_query(&mut q, &opts.filters);
        let resp = self.request("GET", "/events", &q, Body::Empty)?;
        Ok(JsonStream::new(resp.body, "an event".into()))
    }

    // ---- containers ----

    /// `POST /containers/create`.
    pub fn create_container(
        &self,
        name: &str,
        platform: &str,
        body: &ContainerCreateRequest,
    ) -> Result<ContainerCreateResponse, ClientError> {
        let mut q = Query::new();
        q.opt("name", name).opt("platform", platform);
        self.request("POST", "/containers/create", &q, Body::json(body))?
            .json()
    }

    pub fn list_containers(
        &self,
        opts: &ListContainersOptions,
    ) -> Result<Vec<ContainerSummary>, ClientError> {
        let mut q = Query::new();
        q.flag("all", opts.all).flag("size", opts.size);
        if let Some(n) = opts.limit {
            q.push("limit", n);
        }
        filters_query(&mut q, &opts.filters);
        self.request("GET", "/containers/json", &q, Body::Empty)?
            .json()
    }

    pub fn inspect_container(&self, id: &str, size: bool) -> Result<ContainerInspect, ClientError> {
        let mut q = Query::new();
        q.flag("size", size);
        self.request("GET", &format!("/containers/{id}/json"), &q, Body::Empty)?
            .json()
    }

    /// Inspect as the daemon sent it, for templates and `inspect`'s JSON output.
    pub fn inspect_container_raw(
        &self,
        id: &str,
        size: bool,
    ) -> Result<serde_json::Value, ClientError> {
        let mut q = Query::new();
        q.flag("size", size);
        self.request("GET", &format!("/containers/{id}/json"), &q, Body::Empty)?
            .json()
    }

    /// Inspect as the bytes the daemon sent (`inspect` re-indents them, keeping the
    /// daemon's key order).
    pub fn inspect_container_bytes(&self, id: &str, size: bool) -> Result<Vec<u8>, ClientError> {
        let mut q = Query::new();
        q.flag("size", size);
        self.request("GET", &format!("/containers/{id}/json"), &q, Body::Empty)?
            .bytes()
    }

    pub fn start_container(&self, id: &str, detach_keys: &str) -> Result<(), ClientError> {
        let mut q = Query::new();
        q.opt("detachKeys", detach_keys);
        self.request("POST", &format!("/containers/{id}/start"), &q, Body::Empty)?;
        Ok(())
    }

    /// `timeout` in seconds; `signal` needs API 1.42 and is sent only when given.
    pub fn stop_container(
        &self,
        id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<(), ClientError> {
        let mut q = Query::new();
        if let Some(t) = timeout {
            q.push("t", t);
        }
        if let Some(s) = signal {
            q.push("signal", s);
        }
        self.request("POST", &format!("/containers/{id}/stop"), &q, Body::Empty)?;
        Ok(())
    }

    pub fn restart_container(&self, id: &str, timeout: Option<i64>) -> Result<(), ClientError> {
        let mut q = Query::new();
        if let Some(t) = timeout {
            q.push("t", t);
        }
        self.request(
            "POST",
            &format!("/containers/{id}/restart"),
            &q,
            Body::Empty,
        )?;
        Ok(())
    }

    pub fn kill_container(&self, id: &str, signal: &str) -> Result<(), ClientError> {
        let mut q = Query::new();
        q.opt("signal", signal);
        self.request("POST", &format!("/containers/{id}/kill"), &q, Body::Empty)?;
        Ok(())
    }

    pub fn remove_container(
        &self,
        id: &str,
        force: bool,
        volumes: bool,
    ) -> Result<(), ClientError> {
        let mut q = Query::new();
        q.flag("force", force).flag("v", volumes);
        self.request("DELETE", &format!("/containers/{id}"), &q, Body::Empty)?;
        Ok(())
    }

    /// `DELETE /containers//PARENT/ALIAS?link=1` (`rm --link`).
    pub fn remove_link(&self, link: &str) -> Result<(), ClientError> {
        let mut q = Query::new();
        q.flag("link", true);
        let link = format!("/{}", link.trim_start_matches('/'));
        self.request("DELETE", &format!("/containers/{link}"), &q, Body::Empty)?;
        Ok(())
    }

    /// `GET /containers/{id}/logs`: the raw body (multiplexed unless the container
    /// has a tty; see [`crate::Demux`]).
    pub fn logs(&self, id: &str, opts: &LogsOptions) -> Result<Response, ClientError> {
        let mut q = Query::new();
        q.flag("stdout", opts.stdout)
            .flag("stderr", opts.stderr)
            .flag("follow", opts.follow)
            .flag("timestamps", opts.timestamps)
            .opt("since", &opts.since)
            .opt("until", &opts.until)
            .opt("tail", &opts.tail);
        self.request("GET", &format!("/containers/{id}/logs"), &q, Body::Empty)
    }

    pub fn top(&self, id: &str, ps_args: &str) -> Result<ContainerTopResponse, ClientError> {
        let mut q = Query::new();
        q.opt("ps_args", ps_args);
        self.request("GET", &format!("/containers/{id}/top"), &q, Body::Empty)?
            .json()
    }

    /// `GET /containers/{id}/changes`.
    pub fn changes(
        &self,
        id: &str,
    ) -> Result<Vec<berth_api_types::container::ContainerChange>, ClientError> {
        let v: Option<Vec<_>> = self
            .request(
                "GET",
                &format!("/containers/{id}/changes"),
                &Query::new(),
                Body::Empty,
            )?
            .json()?;
        Ok(v.unwrap_or_default())
    }

    /// `GET /containers/{id}/export`: the tar stream.
    pub fn export(&self, id: &str) -> Result<Response, ClientError> {
        self.request(
            "GET",
            &format!("/containers/{id}/export"),
            &Query::new(),
            Body::Empty,
        )
    }

    /// `HEAD /containers/{id}/archive`: what `path` names in the container.
    pub fn stat_path(&self, id: &str, path: &str) -> Result<ContainerPathStat, ClientError> {
        let mut q = Query::new();
        q.push("path", path);
        let resp = self.request(
            "HEAD",
            &format!("/containers/{id}/archive"),
            &q,
            Body::Empty,
        )?;
        path_stat(&resp)
    }

    /// `GET /containers/{id}/archive`: `path` as a tar stream, with its stat.
    pub fn archive(
        &self,
        id: &str,
        path: &str,
    ) -> Result<(ContainerPathStat, Response), ClientError> {
        let mut q = Query::new();
        q.push("path", path);
        let resp = self.request("GET", &format!("/containers/{id}/archive"), &q, Body::Empty)?;
        Ok((path_stat(&resp)?, resp))
    }

    /// `PUT /containers/{id}/archive`: extracts the tar read from `source` into the
    /// directory `path` of the container.
    pub fn extract(
        &self,
        id: &str,
        path: &str,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
        source: &mut dyn Read,
    ) -> Result<(), ClientError> {
        let mut q = Query::new();
        q.push("path", path);
        if no_overwrite_dir_non_dir {
            q.push("noOverwriteDirNonDir", "true");
        }
        if copy_uid_gid {
            q.push("copyUIDGID", "true");
        }
        let body = Body::Stream {
            reader: source,
            content_type: "application/x-tar",
        };
        self.request("PUT", &format!("/containers/{id}/archive"), &q, body)?
            .bytes()?;
        Ok(())
    }

    /// `POST /commit`: returns the new image's id.
    pub fn commit(&self, o: &CommitOptions) -> Result<String, ClientError> {
        let mut q = Query::new();
        q.opt("container", &o.container)
            .opt("repo", &o.repo)
            .opt("tag", &o.tag)
            .opt("comment", &o.comment)
            .opt("author", &o.author)
            .opt("pause", if o.pause { "1" } else { "0" });
        for c in &o.changes {
            q.opt("changes", c);
        }
        let v: serde_json::Value = self.request("POST", "/commit", &q, Body::Empty)?.json()?;
        Ok(v["Id"].as_str().unwrap_or_default().to_string())
    }

    /// `POST /containers/{id}/attach`, hijacked.
    pub fn attach(&self, id: &str, opts: &AttachOptions) -> Result<HijackedStream, ClientError> {
        let mut q = Query::new();
        q.flag("stream", opts.stream)
            .flag("logs", opts.logs)
            .flag("stdin", opts.stdin)
            .flag("stdout", opts.stdout)
            .flag("stderr", opts.stderr)
            .opt("detachKeys", &opts.detach_keys);
        self.hijack("POST", &format!("/containers/{id}/attach"), &q, Body::Empty)
    }

    pub fn resize_container(&self, id: &str, height: u16, width: u16) -> Result<(), ClientError> {
        let mut q = Query::new();
        q.push("h", height).push("w", width);
        self.request("POST", &format!("/containers/{id}/resize"), &q, Body::Empty)?;
        Ok(())
    }

    /// `POST /containers/{id}/wait`: returns once the daemon has accepted the wait;
    /// [`WaitHandle::result`] blocks for the exit. `condition` is `not-running`,
    /// `next-exit` or `removed` ("" for the daemon's default).
    pub fn wait_container(&self, id: &str, condition: &str) -> Result<WaitHandle, ClientError> {
        let mut q = Query::new();
        q.opt("condition", condition);
        let resp = self.request("POST", &format!("/containers/{id}/wait"), &q, Body::Empty)?;
        Ok(WaitHandle { resp })
    }

    pub fn pause_container(&self, id: &str) -> Result<(), ClientError> {
        self.request(
            "POST",
            &format!("/containers/{id}/pause"),
            &Query::new(),
            Body::Empty,
        )?;
        Ok(())
    }

    pub fn unpause_container(&self, id: &str) -> Result<(), ClientError> {
        self.request(
            "POST",
            &format!("/containers/{id}/unpause"),
            &Query::new(),
            Body::Empty,
        )?;
        Ok(())
    }

    pub fn rename_container(&self, id: &str, new_name: &str) -> Result<(), ClientError> {
        let mut q = Query::new();
        q.push("name", new_name);
        self.request("POST", &format!("/containers/{id}/rename"), &q, Body::Empty)?;
        Ok(())
    }

    pub fn update_container(
        &self,
        id: &str,
        body: &ContainerUpdateRequest,
    ) -> Result<ContainerUpdateResponse, ClientError> {
        self.request(
            "POST",
            &format!("/containers/{id}/update"),
            &Query::new(),
            Body::json(body),
        )?
        .json()
    }

    /// `GET /containers/{id}/stats`: one sample (`stream` false) or one per second.
    pub fn stats(&self, id: &str, stream: bool) -> Result<JsonStream<Stats>, ClientError> {
        let mut q = Query::new();
        q.push("stream", if stream { "1" } else { "0" });
        let resp = self.request("GET", &format!("/containers/{id}/stats"), &q, Body::Empty)?;
        Ok(JsonStream::new(
            resp.body,
            format!("stats of container {id}"),
        ))
    }

    pub fn prune_containers(
        &self,
        filters: &Filters,
    ) -> Result<ContainerPruneResponse, ClientError> {
        let mut q = Query::new();
        filters_query(&mut q, filters);
        self.request("POST", "/containers/prune", &q, Body::Empty)?
            .json()
    }

    // ---- exec ----

    pub fn exec_create(
        &self,
        id: &str,
        cfg: &ExecConfig,
    ) -> Result<ExecCreateResponse, ClientError> {
        self.request(
            "POST",
            &format!("/containers/{id}/exec"),
            &Query::new(),
            Body::json(cfg),
        )?
        .json()
    }

    /// `POST /exec/{id}/start` with `Detach: true`.
    pub fn exec_start_detached(
        &self,
        exec_id: &str,
        cfg: &ExecStartConfig,
    ) -> Result<(), ClientError> {
        self.request(
            "POST",
            &format!("/exec/{exec_id}/start"),
            &Query::new(),
            Body::json(cfg),
        )?;
        Ok(())
    }

    /// `POST /exec/{id}/start`, hijacked.
    pub fn exec_start_attached(
        &self,
        exec_id: &str,
        cfg: &ExecStartConfig,
    ) -> Result<HijackedStream, ClientError> {
        self.hijack(
            "POST",
            &format!("/exec/{exec_id}/start"),
            &Query::new(),
            Body::json(cfg),
        )
    }

    pub fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<(), ClientError> {
        let mut q = Query::new();
        q.push("h", height).push("w", width);
        self.request("POST", &format!("/exec/{exec_id}/resize"), &q, Body::Empty)?;
        Ok(())
    }

    pub fn exec_inspect(&self, exec_id: &str) -> Result<ExecInspect, ClientError> {
        self.request(
            "GET",
            &format!("/exec/{exec_id}/json"),
            &Query::new(),
            Body::Empty,
        )?
        .json()
    }

    // ---- images ----

    pub fn list_images(&self, opts: &ListImagesOptions) -> Result<Vec<ImageSummary>, ClientError> {
        let mut q = Query::new();
        q.flag("all", opts.all).flag("digests", opts.digests);
        filters_query(&mut q, &opts.filters);
        self.request("GET", "/images/json", &q, Body::Empty)?.json()
    }

    pub fn inspect_image(&self, name: &str) -> Result<ImageInspect, ClientError> {
        self.request(
            "GET",
            &format!("/images/{name}/json"),
            &Query::new(),
            Body::Empty,
        )?
        .json()
    }

    pub fn inspect_image_raw(&self, name: &str) -> Result<serde_json::Value, ClientError> {
        self.request(
            "GET",
            &format!("/images/{name}/json"),
            &Query::new(),
            Body::Empty,
        )?
        .json()
    }

    pub fn inspect_image_bytes(&self, name: &str) -> Result<Vec<u8>, ClientError> {
        self.request(
            "GET",
            &format!("/images/{name}/json"),
            &Query::new(),
            Body::Empty,
        )?
        .bytes()
    }

    pub fn image_history(&self, name: &str) -> Result<Vec<ImageHistoryItem>, ClientError> {
        self.request(
            "GET",
            &format!("/images/{name}/history"),
            &Query::new(),
            Body::Empty,
        )?
        .json()
    }

    /// `GET /images/get?names=…`: the `docker save` archive of `names`, streamed. A
    /// daemon that fails part-way ends the body early, and reading it then fails.
    pub fn save_images(&self, names: &[String]) -> Result<BodyReader, ClientError> {
        let mut q = Query::new();
        for n in names {
            q.push("names", n);
        }
        Ok(self.request("GET", "/images/get", &q, Body::Empty)?.body)
    }

    pub fn prune_images(&self, filters: &Filters) -> Result<ImagePruneResponse, ClientError> {
        let mut q = Query::new();
        filters_query(&mut q, filters);
        self.request("POST", "/images/prune", &q, Body::Empty)?
            .json()
    }

    pub fn tag_image(&self, name: &str, repo: &str, tag: &str) -> Result<(), ClientError> {
        let mut q = Query::new();
        q.push("repo", repo).opt("tag", tag);
        self.request("POST", &format!("/images/{name}/tag"), &q, Body::Empty)?;
        Ok(())
    }

    pub fn remove_image(
        &self,
        name: &str,
        force: bool,
        no_prune: bool,
    ) -> Result<Vec<ImageDeleteResponseItem>, ClientError> {
        let mut q = Query::new();
        q.flag("force", force).flag("noprune", no_prune);
        self.request("DELETE", &format!("/images/{name}"), &q, Body::Empty)?
            .json()
    }

    /// `POST /images/create?fromImage=…`: a pull, as progress messages; `auth` is
    /// the `X-Registry-Auth` value to send (the registry's stored credentials).
    pub fn pull_image(
        &self,
        image: &str,
        tag: &str,
        platform: &str,
        auth: Option<&str>,
    ) -> Result<JsonStream<JsonMessage>, ClientError> {
        let mut q = Query::new();
        q.push("fromImage", image)
            .opt("tag", tag)
            .opt("platform", platform);
        let headers: Vec<(&str, String)> = auth
            .map(|a| (berth_api_types::registry::AUTH_HEADER, a.to_string()))
            .into_iter()
            .collect();
        let resp =
            self.request_with_headers("POST", "/images/create", &q, &headers, Body::Empty)?;
        Ok(JsonStream::new(
            resp.body,
            format!("pull progress of {image}"),
        ))
    }

    /// `POST /images/{name}/push?tag=`: pushes a tag (none: every tag of `name`).
    pub fn push_image(
        &self,
        name: &str,
        tag: &str,
        auth: Option<&str>,
    ) -> Result<JsonStream<JsonMessage>, ClientError> {
        let mut q = Query::new();
        q.opt("tag", tag);
        let headers: Vec<(&str, String)> = auth
            .map(|a| (berth_api_types::registry::AUTH_HEADER, a.to_string()))
            .into_iter()
            .collect();
        let resp = self.request_with_headers(
            "POST",
            &format!("/images/{name}/push"),
            &q,
            &headers,
            Body::Empty,
        )?;
        Ok(JsonStream::new(
            resp.body,
            format!("push progress of {name}"),
        ))
    }

    /// `POST /auth`: checks credentials against their registry (the daemon's
    /// `Login Succeeded`, and an identity token when the registry gave one).
    pub fn registry_login(
        &self,
        auth: &berth_api_types::registry::AuthConfig,
    ) -> Result<berth_api_types::registry::AuthenticateOkBody, ClientError> {
        self.request("POST", "/auth", &Query::new(), Body::json(auth))?
            .json()
    }

    /// `GET /images/search?term=&limit=&filters=`.
    pub fn search_images(
        &self,
        term: &str,
        limit: Option<u32>,
        filters: &Filters,
    ) -> Result<Vec<berth_api_types::registry::ImageSearchResult>, ClientError> {
        let mut q = Query::new();
        q.push("term", term);
        if let Some(l) = limit {
            q.push("limit", l);
        }
        filters_query(&mut q, filters);
        self.request("GET", "/images/search", &q, Body::Empty)?
            .json()
    }

    /// `POST /images/create?fromSrc=-`: imports a root filesystem tarball streamed
    /// from `source`.
    pub fn import_image(
        &self,
        source: &mut dyn Read,
        opts: &ImportOptions,
    ) -> Result<JsonStream<JsonMessage>, ClientError> {
        let mut q = Query::new();
        q.push("fromSrc", "-")
            .opt("repo", &opts.repo)
            .opt("tag", &opts.tag)
            .opt("message", &opts.message)
            .opt("platform", &opts.platform);
        for c in &opts.changes {
            q.push("changes", c);
        }
        let body = Body::Stream {
            reader: source,
            content_type: "application/x-tar",
        };
        let resp = self.request("POST", "/images/create", &q, body)?;
        Ok(JsonStream::new(resp.body, "import progress".into()))
    }

    /// `POST /images/load`: loads a `docker save` tarball streamed from `source`.
    pub fn load_images(
        &self,
        source: &mut dyn Read,
        quiet: bool,
    ) -> Result<JsonStream<JsonMessage>, ClientError> {
        let mut q = Query::new();
        q.flag("quiet", quiet);
        let body = Body::Stream {
            reader: source,
            content_type: "application/x-tar",
        };
        let resp = self.request("POST", "/images/load", &q, body)?;
        Ok(JsonStream::new(resp.body, "load progress".into()))
    }

    // ---- volumes ----

    pub fn create_volume(&self, req: &VolumeCreateRequest) -> Result<Volume, ClientError> {
        self.request("POST", "/volumes/create", &Query::new(), Body::json(req))?
            .json()
    }

    pub fn list_volumes(&self, filters: &Filters) -> Result<VolumeListResponse, ClientError> {
        let mut q = Query::new();
        filters_query(&mut q, filters);
        self.request("GET", "/volumes", &q, Body::Empty)?.json()
    }

    pub fn inspect_volume(&self, name: &str) -> Result<Volume, ClientError> {
        self.request(
            "GET",
            &format!("/volumes/{name}"),
            &Query::new(),
            Body::Empty,
        )?
        .json()
    }

    /// The inspect answer as the daemon sent it (for `volume inspect`'s output).
    pub fn inspect_volume_bytes(&self, name: &str) -> Result<Vec<u8>, ClientError> {
        self.request(
            "GET",
            &format!("/volumes/{name}"),
            &Query::new(),
            Body::Empty,
        )?
        .bytes()
    }

    pub fn remove_volume(&self, name: &str, force: bool) -> Result<(), ClientError> {
        let mut q = Query::new();
        q.flag("force", force);
        self.request("DELETE", &format!("/volumes/{name}"), &q, Body::Empty)?;
        Ok(())
    }

    pub fn prune_volumes(&self, filters: &Filters) -> Result<VolumePruneResponse, ClientError> {
        let mut q = Query::new();
        filters_query(&mut q, filters);
        self.request("POST", "/volumes/prune", &q, Body::Empty)?
            .json()
    }

    // ---- networks ----

    pub fn create_network(
        &self,
        req: &NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse, ClientError> {
        self.request("POST", "/networks/create", &Query::new(), Body::json(req))?
            .json()
    }

    pub fn list_networks(&self, filters: &Filters) -> Result<Vec<NetworkResource>, ClientError> {
        let mut q = Query::new();
        filters_query(&mut q, filters);
        self.request("GET", "/networks", &q, Body::Empty)?.json()
    }

    pub fn inspect_network(&self, id: &str) -> Result<NetworkResource, ClientError> {
        self.request(
            "GET",
            &format!("/networks/{id}"),
            &Query::new(),
            Body::Empty,
        )?
        .json()
    }

    /// The inspect answer as the daemon sent it (for `network inspect`'s output).
    pub fn inspect_network_bytes(&self, id: &str, verbose: bool) -> Result<Vec<u8>, ClientError> {
        let mut q = Query::new();
        q.flag("verbose", verbose);
        self.request("GET", &format!("/networks/{id}"), &q, Body::Empty)?
            .bytes()
    }

    pub fn remove_network(&self, id: &str) -> Result<(), ClientError> {
        self.request(
            "DELETE",
            &format!("/networks/{id}"),
            &Query::new(),
            Body::Empty,
        )?;
        Ok(())
    }

    pub fn connect_network(
        &self,
        id: &str,
        req: &NetworkConnectRequest,
    ) -> Result<(), ClientError> {
        self.request(
            "POST",
            &format!("/networks/{id}/connect"),
            &Query::new(),
            Body::json(req),
        )?;
        Ok(())
    }

    pub fn disconnect_network(
        &self,
        id: &str,
        req: &NetworkDisconnectRequest,
    ) -> Result<(), ClientError> {
        self.request(
            "POST",
            &format!("/networks/{id}/disconnect"),
            &Query::new(),
            Body::json(req),
        )?;
        Ok(())
    }

    pub fn prune_networks(&self, filters: &Filters) -> Result<NetworkPruneResponse, ClientError> {
        let mut q = Query::new();
        filters_query(&mut q, filters);
        self.request("POST", "/networks/prune", &q, Body::Empty)?
            .json()
    }
}

/// The stat the archive endpoints send in their head.
fn path_stat(resp: &Response) -> Result<ContainerPathStat, ClientError> {
    let raw = resp.header(ContainerPathStat::HEADER).unwrap_or_default();
    ContainerPathStat::from_header(raw).ok_or_else(|| ClientError::Api {
        status: resp.status(),
        message: format!(
            "the response has no valid {} header",
            ContainerPathStat::HEADER
        ),
    })
}
