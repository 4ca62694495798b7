//! Exec instances: create, start (detached, or hijacked for its stdio), resize,
//! inspect.

use berth_api_types::exec::{ExecConfig, ExecStartConfig};

use super::{json, Ctx, HandlerResult, Reply};
use crate::error::ApiError;

pub fn create(ctx: &mut Ctx<'_>, container: &str) -> HandlerResult {
    let config: ExecConfig = ctx
        .json_body()?
        .ok_or_else(|| ApiError::bad("exec config cannot be empty"))?;
    json(201, &ctx.engine.exec_create(container, config)?)
}

pub fn start(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    let config: ExecStartConfig = ctx.json_body()?.unwrap_or_default();
    let detach = config.detach;
    match ctx.engine.exec_start(id, config)? {
        Some(stream) if !detach => {
            crate::hijack::hijack(ctx.conn, ctx.req, stream);
            Ok(Reply::Close)
        }
        _ => Ok(Reply::Empty(200)),
    }
}

pub fn resize(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    let (h, w) = super::containers::size(ctx)?;
    ctx.engine.exec_resize(id, h, w)?;
    Ok(Reply::Empty(200))
}

pub fn inspect(ctx: &mut Ctx<'_>, id: &str) -> HandlerResult {
    json(200, &ctx.engine.exec_inspect(id)?)
}
