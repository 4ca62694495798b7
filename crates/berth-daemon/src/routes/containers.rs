//! Container routes that answer with one JSON document or none: create, list,
//! inspect, top, the lifecycle actions, update, rename, resize, remove, prune; and
//! attach, which hands the connection over to the hijack.

use berth_api_types::container::{ContainerCreateRequest, ContainerUpdateRequest};
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

pub fn remove(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    let q = ctx.query();
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
