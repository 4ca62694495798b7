//! Container routes that answer with one JSON document or none: create, list,
//! inspect, top, the lifecycle actions, update, rename, resize, remove, prune; and
//! attach, which hands the connection over to the hijack.

use berth_api_types::container::{
    ContainerCreateRequest, ContainerPathStat, ContainerUpdateRequest,
};
use berth_api_types::Filters;
use berth_engine::api::{AttachOptions, ListOptions};
use serde::Serialize;

use super::{json, Ctx, HandlerResult, Reply};
use crate::error::ApiError;

pub(super) fn filters(ctx: &Ctx<'_>) -> Result<Filters, ApiError> {
    Ok(Filters::from_query(
        ctx.query().get("filters").unwrap_or(""),
    )?)
}

pub fn create(ctx: &mut Ctx<'_>) -> HandlerResult {
    let name = ctx.query().non_empty("name").map(str::to_string);
    let req: ContainerCreateRequest = ctx
        .json_body()?
        .ok_or_else(|| ApiError::bad("config cannot be empty in order to create a container"))?;
    json(201, &ctx.engine.container_create(name.as_deref(), req)?)
}

pub fn list(ctx: &mut Ctx<'_>) -> HandlerResult {
    let q = ctx.query();
    let limit = q
        .number::<i64>("limit")?
        .filter(|&n| n > 0)
        .map(|n| n as usize);
    let opts = ListOptions {
        all: q.bool("all"),
        limit,
        size: q.bool("size"),
        filters: filters(ctx)?,
    };
    json(200, &ctx.engine.container_list(opts)?)
}

pub fn inspect(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    let size = ctx.query().bool("size");
    json(200, &ctx.engine.container_inspect(id, size)?)
}

pub fn top(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    let ps_args = ctx.query().non_empty("ps_args").map(str::to_string);
    json(200, &ctx.engine.container_top(id, ps_args.as_deref())?)
}

/// `POST /containers/{id}/{action}` for the actions without a body of their own.
pub fn action(ctx: &mut Ctx<'_>, id: &str, action: &str) -> HandlerResult {
    let q = ctx.query();
    let signal = q.non_empty("signal").map(str::to_string);
    let e = ctx.engine;
    match action {
        "start" => {
            e.container_start(id)?;
            Ok(Reply::Empty(204))
        }
        "stop" => {
            let t = q.number::<i64>("t")?;
            e.container_stop(id, t, signal.as_deref())?;
            Ok(Reply::Empty(204))
        }
        "restart" => {
            let t = q.number::<i64>("t")?;
            e.container_restart(id, t, signal.as_deref())?;
            Ok(Reply::Empty(204))
        }
        "kill" => {
            e.container_kill(id, signal.as_deref())?;
            Ok(Reply::Empty(204))
        }
        "pause" => {
            e.container_pause(id)?;
            Ok(Reply::Empty(204))
        }
        "unpause" => {
            e.container_unpause(id)?;
            Ok(Reply::Empty(204))
        }
        "rename" => {
            let name = q
                .non_empty("name")
                .ok_or_else(|| ApiError::bad("missing query parameter: name"))?
                .to_string();
            e.container_rename(id, &name)?;
            Ok(Reply::Empty(204))
        }
        "resize" => {
            let (h, w) = size(ctx)?;
            e.container_resize(id, h, w)?;
            Ok(Reply::Empty(200))
        }
        "update" => {
            let req: ContainerUpdateRequest = ctx.json_body()?.unwrap_or_default();
            json(200, &e.container_update(id, req)?)
        }
        _ => Err(ApiError::no_route()),
    }
}

/// The `h` and `w` of a resize; both required.
pub(super) fn size(ctx: &Ctx<'_>) -> Result<(u16, u16), ApiError> {
    let q = ctx.query();
    let h = q
        .number::<u16>("h")?
        .ok_or_else(|| ApiError::bad("missing query parameter: h"))?;
    let w = q
        .number::<u16>("w")?
        .ok_or_else(|| ApiError::bad("missing query parameter: w"))?;
    Ok((h, w))
}

pub fn remove_link(ctx: &mut Ctx<'_>, link: &str) -> HandlerResult {
    if !ctx.query().bool("link") {
        return Err(ApiError::new(404, format!("No such container: {link}")));
    }
    ctx.engine.container_remove_link(link)?;
    Ok(Reply::Empty(204))
}

pub fn remove(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    let q = ctx.query();
    if q.bool("link") {
        // `/containers//web/db` without the double slash, or a single-segment name.
        return remove_link(ctx, id);
    }
    ctx.engine
        .container_remove(id, q.bool("force"), q.bool("v"))?;
    Ok(Reply::Empty(204))
}

#[derive(Serialize)]
struct PruneResponse {
    #[serde(rename = "ContainersDeleted")]
    deleted: Vec<String>,
    #[serde(rename = "SpaceReclaimed")]
    space_reclaimed: u64,
}

pub fn prune(ctx: &mut Ctx<'_>) -> HandlerResult {
    let report = ctx.engine.containers_prune(filters(ctx)?)?;
    json(
        200,
        &PruneResponse {
            deleted: report.deleted,
            space_reclaimed: report.space_reclaimed,
        },
    )
}

pub fn attach(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    let q = ctx.query();
    let opts = AttachOptions {
        stdin: q.bool("stdin"),
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        stream: q.bool("stream"),
        logs: q.bool("logs"),
        detach_keys: q.non_empty("detachKeys").map(str::to_string),
    };
    let stream = ctx.engine.container_attach(id, opts)?;
    crate::hijack::hijack(ctx.conn, ctx.req, stream);
    Ok(Reply::Close)
}

/// `GET /containers/{id}/changes`.
pub fn changes(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    json(200, &ctx.engine.container_changes(id)?)
}

/// `GET /containers/{id}/export`: the filesystem as a tar, streamed.
pub fn export(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    // Errors a client can act on (no such container) before the head goes out.
    ctx.engine.container_inspect(id, false)?;
    let Ok(out) = crate::http::chunked(&mut ctx.conn.sock, 200, "application/x-tar", &[]) else {
        return Ok(Reply::Close);
    };
    let mut w = std::io::BufWriter::with_capacity(256 << 10, ChunkWriter(out));
    let res = ctx.engine.container_export(id, &mut w);
    let flushed = std::io::Write::flush(&mut w).is_ok();
    if let Err(e) = &res {
        crate::error!("exporting container {id}: {e}");
    }
    match (res, w.into_inner()) {
        (Ok(()), Ok(ChunkWriter(out))) if flushed => match out.finish() {
            Ok(()) => Ok(Reply::Written),
            Err(_) => Ok(Reply::Close),
        },
        // The body cannot carry an error now: closing it unfinished tells the client.
        _ => Ok(Reply::Close),
    }
}

/// `HEAD /containers/{id}/archive?path=…`: the stat in `X-Docker-Container-Path-Stat`,
/// no body (errors too: a HEAD response never has one).
pub fn archive_stat(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    let path = ctx.query().get("path").unwrap_or_default().to_string();
    let st = ctx.engine.container_stat_path(id, &path)?;
    let header = st.to_header();
    crate::http::send(
        &mut ctx.conn.sock,
        200,
        None,
        b"",
        &[(ContainerPathStat::HEADER, header.as_str())],
        true,
    )
    .map(|()| Reply::Written)
    .or(Ok(Reply::Close))
}

/// `GET /containers/{id}/archive?path=…`: the tar, with the stat in the head.
pub fn archive_get(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    let path = ctx.query().get("path").unwrap_or_default().to_string();
    let out = std::cell::RefCell::new(LateBody::Waiting(&mut ctx.conn.sock));
    let mut started = |st: &ContainerPathStat| out.borrow_mut().start(st);
    let mut body = LateWriter(&out);
    let res = ctx
        .engine
        .container_archive(id, &path, &mut started, &mut body);
    match (res, out.into_inner()) {
        // Nothing went out yet: an ordinary error response.
        (Err(e), LateBody::Waiting(_)) => Err(e.into()),
        (Err(e), _) => {
            crate::error!("archiving {path} of container {id}: {e}");
            Ok(Reply::Close)
        }
        (Ok(()), LateBody::Started(w)) => match w.into_inner() {
            Ok(ChunkWriter(c)) => match c.finish() {
                Ok(()) => Ok(Reply::Written),
                Err(_) => Ok(Reply::Close),
            },
            Err(_) => Ok(Reply::Close),
        },
        (Ok(()), _) => Ok(Reply::Close),
    }
}

/// A response body whose head goes out once the stat is known.
enum LateBody<'a> {
    Waiting(&'a mut crate::http::Socket),
    Started(std::io::BufWriter<ChunkWriter<'a>>),
    Failed,
}

impl<'a> LateBody<'a> {
    fn start(&mut self, st: &ContainerPathStat) -> std::io::Result<()> {
        let LateBody::Waiting(sock) = std::mem::replace(self, LateBody::Failed) else {
            return Err(std::io::Error::other("the response has already started"));
        };
        let header = st.to_header();
        let chunked = crate::http::chunked(
            sock,
            200,
            "application/x-tar",
            &[(ContainerPathStat::HEADER, header.as_str())],
        )?;
        *self = LateBody::Started(std::io::BufWriter::with_capacity(
            256 << 10,
            ChunkWriter(chunked),
        ));
        Ok(())
    }
}

/// `Write` over a [`LateBody`] once it has started.
struct LateWriter<'r, 'a>(&'r std::cell::RefCell<LateBody<'a>>);

impl std::io::Write for LateWriter<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut *self.0.borrow_mut() {
            LateBody::Started(w) => w.write(buf),
            _ => Err(std::io::Error::other("the response has not started")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut *self.0.borrow_mut() {
            LateBody::Started(w) => w.flush(),
            _ => Ok(()),
        }
    }
}

/// `PUT /containers/{id}/archive?path=…&noOverwriteDirNonDir=…&copyUIDGID=…`: the tar
/// body extracted into the directory `path`.
pub fn archive_put(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    let q = ctx.query();
    let path = q.get("path").unwrap_or_default().to_string();
    let opts = berth_engine::api::ExtractOptions {
        no_overwrite_dir_non_dir: q.bool("noOverwriteDirNonDir"),
        copy_uid_gid: q.bool("copyUIDGID"),
    };
    ctx.engine
        .container_extract(id, &path, opts, &mut crate::http::BodyReader(ctx.conn))?;
    Ok(Reply::Empty(200))
}

/// `Write` over a chunked body.
struct ChunkWriter<'a>(crate::http::Chunked<'a>);

impl std::io::Write for ChunkWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.send(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `POST /commit`.
pub fn commit(ctx: &mut Ctx<'_>) -> HandlerResult {
    let q = ctx.query();
    let container = q
        .non_empty("container")
        .ok_or_else(|| {
            ApiError::bad("the container to commit is missing (query parameter container)")
        })?
        .to_string();
    let text = |k: &str| q.non_empty(k).map(str::to_string);
    let opts = berth_engine::api::CommitOptions {
        repo: text("repo"),
        tag: text("tag"),
        comment: text("comment"),
        author: text("author"),
        pause: q.bool_or("pause", true),
        changes: q
            .all("changes")
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect(),
        container,
        config: None,
    };
    // The docker CLI sends the config to merge, possibly `null`.
    let config = ctx
        .json_body::<Option<berth_api_types::container::ContainerConfig>>()?
        .flatten();
    let id = ctx
        .engine
        .commit(berth_engine::api::CommitOptions { config, ..opts })?;
    json(201, &serde_json::json!({ "Id": id }))
}
