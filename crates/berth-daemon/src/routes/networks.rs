//! Network routes: create, list, inspect, remove, connect, disconnect, prune.

use berth_api_types::network::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest, NetworkPruneResponse,
};

use super::{containers::filters, json, Ctx, HandlerResult, Reply};
use crate::error::ApiError;

pub fn create(ctx: &mut Ctx<'_>) -> HandlerResult {
    let req: NetworkCreateRequest = ctx
        .json_body()?
        .ok_or_else(|| ApiError::bad("invalid JSON body: a network create request is required"))?;
    json(201, &ctx.engine.network_create(req)?)
}

pub fn list(ctx: &mut Ctx<'_>) -> HandlerResult {
    let f = filters(ctx)?;
    json(200, &ctx.engine.network_list(f)?)
}

/// `verbose` and `scope` change nothing for local networks.
pub fn inspect(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    json(200, &ctx.engine.network_inspect(id)?)
}

pub fn remove(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    ctx.engine.network_remove(id)?;
    Ok(Reply::Empty(204))
}

pub fn connect(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    let req: NetworkConnectRequest = ctx.json_body()?.unwrap_or_default();
    ctx.engine.network_connect(id, req)?;
    Ok(Reply::Empty(200))
}

pub fn disconnect(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    let req: NetworkDisconnectRequest = ctx.json_body()?.unwrap_or_default();
    ctx.engine.network_disconnect(id, req)?;
    Ok(Reply::Empty(200))
}

pub fn prune(ctx: &mut Ctx<'_>) -> HandlerResult {
    let deleted = ctx.engine.networks_prune(filters(ctx)?)?;
    json(
        200,
        &NetworkPruneResponse {
            networks_deleted: deleted,
        },
    )
}
